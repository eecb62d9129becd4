"""Change points in daily center-level and agent-level rates (check ``changepoints``).

The date when a behaviour starts or stops (a new handle-time target, a
crackdown on hang-ups) is evidence in itself. This module finds shifts in
daily series by binary segmentation:

* :func:`detect_changepoints` for binomial counts per day (``k`` events out of
  ``n`` calls: short-call rate, transfer rate). The split statistic is the
  binomial likelihood-ratio statistic of "two rates" against "one rate".
* :func:`detect_changepoints_mean` for a daily mean (mean handle time). The
  split statistic is the two-sample F statistic of the daily means.

Null model and calibration
--------------------------
The maximum of the split statistic over all candidate days is not chi-square
(it is the maximum of a dependent process), and daily rates in a real center
vary more than binomial noise (weather, campaigns, outages), so a parametric
binomial bootstrap would call every wiggle a change. The p-value is therefore a
**permutation** p-value: the days of the segment are shuffled (each day keeps
its own ``k`` and ``n``), which keeps the day-to-day over-dispersion and
destroys only the order. It is exact when days are exchangeable under "no
change". The number of permutations grows sequentially (Besag & Clifford 1991)
until 10 exceedances or ``max_perm``, so small p-values get the resolution a
Benjamini–Hochberg step needs. Binary segmentation (Scott & Knott 1974; Vostrikova
1981) then tests each side of an accepted change, up to ``max_changes``.

Columns needed: ``answer_ts`` (or ``arrival_ts``), ``talk_s``; ``outcome``
``transferred`` for the transfer rate; ``hold_s``, ``acw_s`` enter handle time.

What it cannot see: a gradual drift (it looks for steps); weekly seasonality or
autocorrelated days break exchangeability (strong autocorrelation makes the
permutation p-value too small: treat the date as a lead, not proof); changes
closer than ``min_segment_days`` to each other or to the ends of the series.

References
----------
Scott, A. J. & Knott, M. (1974). A cluster analysis method for grouping means
in the analysis of variance. *Biometrics* 30, 507–512.
Vostrikova, L. J. (1981). Detecting "disorder" in multidimensional random
processes. *Soviet Math. Dokl.* 24, 55–59.
Besag, J. & Clifford, P. (1991). Sequential Monte Carlo p-values.
*Biometrika* 78, 301–304.
Truong, C., Oudre, L. & Vayatis, N. (2020). Selective review of offline change
point detection methods. *Signal Processing* 167, 107299 (``ruptures``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import xlogy

from ..config import DEFAULT_SEED
from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import HANDLED, empty_flags, option, seed, short_call_s

__all__ = [
    "detect_changepoints",
    "detect_changepoints_mean",
    "binomial_split_lr",
    "center_daily_series",
    "check_changepoints",
    "CHANGEPOINT_COLUMNS",
]

#: Sequential permutation test of the agent series: first batch and cap (p
#: resolution 1e-4 is enough for BH across a few thousand series; the center
#: series get 999 and 19,999, resolution 5e-5).
AGENT_N_PERM, AGENT_MAX_PERM = 499, 9_999

#: Columns of the ``changepoints`` table a check returns.
CHANGEPOINT_COLUMNS = ["scope", "metric", "date", "before", "after", "p_value"]

_DETECT_COLUMNS = [
    "date",
    "before",
    "after",
    "p_value",
    "statistic",
    "n_perm",
    "days_before",
    "days_after",
    "n_before",
    "n_after",
]


# ----------------------------------------------------------------------------- statistics


def _binom_ll(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    return xlogy(k, p) + xlogy(n - k, 1.0 - p)


def binomial_split_lr(k: np.ndarray, n: np.ndarray, min_seg: int = 1) -> np.ndarray:
    """Binomial likelihood-ratio statistic of every split of a series.

    Parameters
    ----------
    k, n
        Events and trials per day, shape ``(T,)`` or ``(B, T)``.
    min_seg
        Minimum days on each side.

    Returns
    -------
    Array ``(..., T - 2*min_seg + 1)``: entry ``j`` is the statistic of the split
    whose second segment starts at day ``min_seg + j``:
    ``2 [l(K1, N1) + l(K2, N2) - l(K, N)]`` with ``l(k, n) = k log(k/n) + (n-k) log(1-k/n)``.
    """
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    ck = np.cumsum(k, axis=-1)
    cn = np.cumsum(n, axis=-1)
    t = k.shape[-1]
    k1 = ck[..., min_seg - 1 : t - min_seg]
    n1 = cn[..., min_seg - 1 : t - min_seg]
    kt = ck[..., -1:]
    nt = cn[..., -1:]
    return 2.0 * (_binom_ll(k1, n1) + _binom_ll(kt - k1, nt - n1) - _binom_ll(kt, nt))


def _mean_split_f(y: np.ndarray, _unused: np.ndarray | None, min_seg: int = 1) -> np.ndarray:
    """Two-sample F statistic of every split of a series of daily means."""
    y = np.asarray(y, float)
    t = y.shape[-1]
    c1 = np.cumsum(y, axis=-1)
    c2 = np.cumsum(y * y, axis=-1)
    s = np.arange(min_seg, t - min_seg + 1, dtype=float)
    s1 = c1[..., min_seg - 1 : t - min_seg]
    q1 = c2[..., min_seg - 1 : t - min_seg]
    st, qt = c1[..., -1:], c2[..., -1:]
    m1 = s1 / s
    m2 = (st - s1) / (t - s)
    ssw = (q1 - s * m1**2) + ((qt - q1) - (t - s) * m2**2)
    ssw = np.maximum(ssw, 1e-12 * np.maximum(qt, 1.0))
    return (s * (t - s) / t) * (m1 - m2) ** 2 / (ssw / max(t - 2, 1))


def _binom_stat(a: np.ndarray, b: np.ndarray, min_seg: int) -> np.ndarray:
    return binomial_split_lr(a, b, min_seg)


# ----------------------------------------------------------------------------- search


def _best_split(stat_fn, a, b, lo, hi, min_seg, rng, n_perm, max_perm):
    """Best split of ``[lo, hi)`` and its sequential permutation p-value."""
    sa = a[lo:hi]
    sb = b[lo:hi] if b is not None else None
    obs = stat_fn(sa, sb, min_seg)
    j = int(np.argmax(obs))
    stat = float(obs[j])
    t = hi - lo
    exceed = 0
    total = 0
    batch = n_perm
    while True:
        order = np.argsort(rng.random((batch, t)), axis=1)
        pa = sa[order]
        pb = sb[order] if sb is not None else None
        mx = stat_fn(pa, pb, min_seg).max(axis=1)
        exceed += int(np.sum(mx >= stat - 1e-9 * max(abs(stat), 1.0)))
        total += batch
        if exceed >= 10 or total >= max_perm:
            break
        batch = min(max(total, n_perm), max_perm - total)
    # Besag & Clifford (1991): stopped at h = 10 exceedances -> h / L.
    p = exceed / total if exceed >= 10 else (1.0 + exceed) / (1.0 + total)
    return lo + min_seg + j, stat, min(p, 1.0), total


def _segment(stat_fn, a, b, *, min_seg, max_changes, alpha, rng, n_perm, max_perm):
    """Binary segmentation; returns accepted (index, statistic, p, n_perm) sorted by index."""
    t = a.shape[0]
    accepted: list[tuple[int, float, float, int]] = []
    pending = [(0, t)]
    cache: dict[tuple[int, int], tuple[int, float, float, int] | None] = {}
    while len(accepted) < max_changes:
        best = None
        for seg in pending:
            if seg not in cache:
                lo, hi = seg
                cache[seg] = (
                    _best_split(stat_fn, a, b, lo, hi, min_seg, rng, n_perm, max_perm)
                    if hi - lo >= 2 * min_seg
                    else None
                )
            cand = cache[seg]
            if cand is None or cand[2] > alpha:
                continue
            if best is None or (cand[2], -cand[1]) < (best[1][2], -best[1][1]):
                best = (seg, cand)
        if best is None:
            break
        seg, cand = best
        accepted.append(cand)
        pending.remove(seg)
        pending += [(seg[0], cand[0]), (cand[0], seg[1])]
    return sorted(accepted)


def _prepare(daily: pd.DataFrame, date_col: str, cols: list[str]) -> pd.DataFrame:
    missing = [c for c in [date_col, *cols] if c not in daily.columns]
    if missing:
        from ..errors import InputError

        raise InputError(f"daily series lacks column(s) {', '.join(missing)}")
    df = daily[[date_col, *cols]].copy()
    df = df.dropna(subset=cols)
    return df.sort_values(date_col, kind="stable").reset_index(drop=True)


def _result(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_DETECT_COLUMNS)


def detect_changepoints(
    daily: pd.DataFrame,
    *,
    date_col: str = "date",
    k_col: str = "k",
    n_col: str = "n",
    min_segment_days: int = 7,
    max_changes: int = 2,
    alpha: float = 0.05,
    n_perm: int = 999,
    max_perm: int = 19_999,
    seed: int | None = None,
) -> pd.DataFrame:
    """Change points in a daily binomial rate (binary segmentation, permutation p-values).

    Parameters
    ----------
    daily
        One row per day: ``date_col``, events ``k_col`` and trials ``n_col``.
        Days are taken in date order; missing days are simply absent.
    min_segment_days
        Minimum number of days (rows) in every segment.
    max_changes
        At most this many change points.
    alpha
        A split is accepted (and its two sides searched further) when its
        permutation p-value is at most ``alpha``. ``alpha=1`` returns the best
        split(s) whatever their p-value.
    n_perm, max_perm
        First batch and cap of the sequential permutation test.
    seed
        Random seed (default: the project seed).

    Returns
    -------
    DataFrame, one row per accepted change, in date order:
    ``date`` (first day of the new segment), ``before`` and ``after`` (pooled
    rate ``sum k / sum n`` of the segments on either side, bounded by the
    neighbouring changes), ``p_value`` (permutation p-value of the split within
    the segment it was found in), ``statistic`` (likelihood-ratio statistic),
    ``n_perm``, ``days_before``, ``days_after``, ``n_before``, ``n_after``
    (trials on either side).

    References
    ----------
    Vostrikova (1981); Besag & Clifford (1991). See the module docstring.
    """
    df = _prepare(daily, date_col, [k_col, n_col])
    df = df[df[n_col] > 0].reset_index(drop=True)
    k = df[k_col].to_numpy(float)
    n = df[n_col].to_numpy(float)
    if np.any(k < 0) or np.any(k > n):
        from ..errors import InputError

        raise InputError(f"{k_col} must lie between 0 and {n_col} on every day")
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    min_seg = max(int(min_segment_days), 1)
    found = _segment(
        _binom_stat, k, n, min_seg=min_seg, max_changes=max_changes, alpha=alpha,
        rng=rng, n_perm=n_perm, max_perm=max_perm,
    )
    bounds = [0] + [f[0] for f in found] + [len(k)]
    rows = []
    for i, (idx, stat, p, nperm) in enumerate(found):
        lo, hi = bounds[i], bounds[i + 2]
        kb, nb = k[lo:idx].sum(), n[lo:idx].sum()
        ka, na = k[idx:hi].sum(), n[idx:hi].sum()
        rows.append(
            dict(
                date=df[date_col].iloc[idx], before=kb / nb, after=ka / na, p_value=p,
                statistic=stat, n_perm=nperm, days_before=idx - lo, days_after=hi - idx,
                n_before=int(nb), n_after=int(na),
            )
        )
    return _result(rows)


def detect_changepoints_mean(
    daily: pd.DataFrame,
    *,
    date_col: str = "date",
    mean_col: str = "mean",
    n_col: str | None = "n",
    min_segment_days: int = 7,
    max_changes: int = 2,
    alpha: float = 0.05,
    n_perm: int = 999,
    max_perm: int = 19_999,
    seed: int | None = None,
) -> pd.DataFrame:
    """Change points in a daily mean (e.g. mean handle time), permutation p-values.

    The split statistic is the two-sample F statistic of the daily means (each
    day weighs the same, which is robust to day-to-day variation that dwarfs
    the within-day sampling error); binary segmentation and the permutation
    null are as in :func:`detect_changepoints`.

    Parameters
    ----------
    daily
        One row per day with ``date_col``, ``mean_col`` and optionally ``n_col``
        (calls that day: used only to weight the reported ``before``/``after``).

    Returns
    -------
    DataFrame with the columns of :func:`detect_changepoints`; ``before`` and
    ``after`` are call-weighted means (day-weighted without ``n_col``),
    ``statistic`` is the F statistic; ``n_before``/``n_after`` are calls (days
    without ``n_col``).
    """
    cols = [mean_col] + ([n_col] if n_col and n_col in daily.columns else [])
    df = _prepare(daily, date_col, cols)
    y = df[mean_col].to_numpy(float)
    w = df[n_col].to_numpy(float) if len(cols) == 2 else np.ones_like(y)
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    min_seg = max(int(min_segment_days), 2)
    found = _segment(
        _mean_split_f, y, None, min_seg=min_seg, max_changes=max_changes, alpha=alpha,
        rng=rng, n_perm=n_perm, max_perm=max_perm,
    )
    bounds = [0] + [f[0] for f in found] + [len(y)]
    rows = []
    for i, (idx, stat, p, nperm) in enumerate(found):
        lo, hi = bounds[i], bounds[i + 2]
        wb, wa = w[lo:idx], w[idx:hi]
        rows.append(
            dict(
                date=df[date_col].iloc[idx],
                before=float(np.average(y[lo:idx], weights=wb)),
                after=float(np.average(y[idx:hi], weights=wa)),
                p_value=p, statistic=stat, n_perm=nperm, days_before=idx - lo,
                days_after=hi - idx, n_before=int(wb.sum()), n_after=int(wa.sum()),
            )
        )
    return _result(rows)


# ----------------------------------------------------------------------------- many series at once
#
# The agent-level test runs the single best split of thousands of short series.
# Every call of detect_changepoints* seeds its own generator, so two series of
# the same length are tested against the same permutations; the functions below
# use that: they draw each length's permutation batches once (the same generator
# calls as _best_split, so the p-values are those of detect_changepoints*) and
# evaluate them for many series at once, in 3-D arrays (series x permutation x
# day), continuing the sequential stage only for series with < 10 exceedances.
# The maximised statistics are cheaper, equivalent forms of the ones above:
#
# * binomial: with X(x) = x log x, the log-likelihood of a split is
#   TK(K1) + TF(F1) - TN(N1), where TK(j) = X(j) + X(K - j) (K events in all; F
#   non-events, N trials likewise) and K1, F1, N1 are the counts before the
#   split: integer cumulative sums, so the statistic is three table look-ups;
# * mean: F = B (t - 2) / (SST - B) increases with the between-segment sum of
#   squares B = t (S1 - s ybar)^2 / (s (t - s)) (S1 the sum of the first s days),
#   so the largest F over splits is that of the largest B.
#
# Exceedances are counted against the observed statistic of the original
# functions (same tolerance); the two forms agree to ~1e-12, far inside it.

#: Elements (series x permutations x days) of one batched array.
_CHUNK_ELEMS = 1 << 18
#: Series evaluated together (their look-up tables are built together).
_BLOCK = 256
#: Series with more trials than this take the one-by-one route (see _best_splits_batch).
_MAX_TABLE_TRIALS = 20_000


class _PermStages:
    """The permutation batches :func:`_best_split` draws for a ``t``-day series, drawn once."""

    def __init__(self, t: int, seed: int, n_perm: int, max_perm: int):
        self.t, self.n_perm, self.max_perm = t, n_perm, max_perm
        self.rng = np.random.default_rng(seed)
        self.orders: list[np.ndarray] = []
        self.total = 0

    def __getitem__(self, i: int) -> np.ndarray | None:
        while len(self.orders) <= i:
            if self.orders and self.total >= self.max_perm:
                return None
            batch = (self.n_perm if not self.orders
                     else min(max(self.total, self.n_perm), self.max_perm - self.total))
            self.orders.append(np.argsort(self.rng.random((batch, self.t)), axis=1))
            self.total += batch
        return self.orders[i]


def _xlogx(nmax: int) -> np.ndarray:
    x = np.arange(nmax + 1, dtype=float)
    return xlogy(x, x)


def _permuted_cumsums(vals: np.ndarray, order: np.ndarray, hi: int, start=None) -> np.ndarray:
    """Cumulative sums over the first ``hi`` permuted days, day-major.

    ``vals`` is (t, R) (series in columns), ``order`` (B, t); returns (hi, B, R)
    with ``[j, b, r] = start[r] + sum(vals[order[b, :j + 1], r])``. The running sum is a
    loop over days of whole (B, R) slabs (NumPy's cumsum along a middle axis
    is several times slower); the additions are those of ``np.cumsum``.
    """
    c = vals[np.ascontiguousarray(order[:, :hi].T)]
    if start is not None:
        c[0] += start
    for j in range(1, hi):
        c[j] += c[j - 1]
    return c


def _binom_batch(k: np.ndarray, n: np.ndarray, min_seg: int):
    """Evaluator of the largest split log-likelihood for the series ``k, n`` (rows).

    Returns ``(fn, thr)``: ``fn(rows, order)`` is the (B, len(rows)) maximum over
    splits of ``l(K1, N1) + l(K2, N2)`` for the permutations ``order`` (B, t);
    ``thr(stat)`` maps observed LR statistics (with ``_best_split``'s tolerance)
    to that scale.
    """
    k = np.asarray(k, np.int64)
    f = np.asarray(n, np.int64) - k
    kt, ft = k.sum(axis=1), f.sum(axis=1)
    nt = kt + ft
    xl = _xlogx(int(nt.max()))
    # per-series tables, concatenated: TK at ok, TF at of, TN at ok + of (so the
    # offsets added to the first permuted day carry into N1 = K1 + F1)
    ok = np.r_[0, np.cumsum(kt + 1)[:-1]]
    of = np.r_[0, np.cumsum(ft + 1)[:-1]]
    tk = np.concatenate([xl[: kk + 1] + xl[kk::-1] for kk in kt])
    tf = np.concatenate([xl[: ff + 1] + xl[ff::-1] for ff in ft])
    tn = np.zeros(int((ok + of + nt).max()) + 1)
    for o, nn in zip(ok + of, nt, strict=True):
        tn[o : o + nn + 1] = xl[: nn + 1] + xl[nn::-1]
    l0 = xl[kt] + xl[ft] - xl[nt]
    kT, fT = np.ascontiguousarray(k.T), np.ascontiguousarray(f.T)
    lo, hi = min_seg - 1, k.shape[1] - min_seg

    def fn(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        ck = _permuted_cumsums(kT[:, rows], order, hi, ok[rows])[lo:]
        cf = _permuted_cumsums(fT[:, rows], order, hi, of[rows])[lo:]
        v = tk.take(ck)
        v += tf.take(cf)
        ck += cf
        v -= tn.take(ck)
        return v.max(axis=0)

    def thr(stat: np.ndarray) -> np.ndarray:
        return l0 + 0.5 * (stat - 1e-9 * np.maximum(np.abs(stat), 1.0))

    return fn, thr


def _mean_batch(y: np.ndarray, min_seg: int):
    """Like :func:`_binom_batch` for daily means (the between-segment sum of squares)."""
    y = np.asarray(y, float)
    t = y.shape[1]
    s = np.arange(min_seg, t - min_seg + 1, dtype=float)
    sy = s[:, None] * (y.sum(axis=1) / t)[None, :]  # (splits, series)
    c = (t / (s * (t - s)))[:, None, None]
    sst = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    yT = np.ascontiguousarray(y.T)
    lo, hi = min_seg - 1, t - min_seg

    def fn(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        cs = _permuted_cumsums(yT[:, rows], order, hi)[lo:]
        cs -= sy[:, None, rows]
        cs *= cs
        cs *= c
        return cs.max(axis=0)

    def thr(stat: np.ndarray) -> np.ndarray:
        f = stat - 1e-9 * np.maximum(np.abs(stat), 1.0)
        return f * sst / (max(t - 2, 1) + f)

    return fn, thr


def _best_splits_batch(kind: str, a: np.ndarray, b: np.ndarray | None, *, min_seg: int,
                       seed: int, n_perm: int, max_perm: int) -> list[tuple]:
    """:func:`_best_split` of the whole series for every row of ``a`` (and ``b``).

    ``kind`` is ``"binom"`` (``a`` events, ``b`` trials) or ``"mean"`` (``a``
    daily means). All rows have the same length. Returns, per row, ``(index,
    statistic, p, n_perm)`` exactly as ``_best_split(..., 0, t, ...)`` would
    with a generator seeded ``seed``.
    """
    m, t = a.shape
    stat_fn = _binom_stat if kind == "binom" else _mean_split_f
    obs = stat_fn(a, b, min_seg)
    j = np.argmax(obs, axis=1)
    stat = obs[np.arange(m), j]
    exact = np.zeros(m, dtype=bool)  # rows for the one-by-one routine
    if kind == "binom":
        # the table form sums terms of size N log N: beyond ~2e4 trials its rounding
        # would no longer be far inside _best_split's tolerance for ties
        exact = b.sum(axis=1) > _MAX_TABLE_TRIALS
    else:
        sst = ((a - a.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        # a split that leaves (almost) no within-segment variance: F is huge and
        # only the original form is safe
        b_obs = stat * sst / (max(t - 2, 1) + stat)
        exact = ~np.isfinite(stat) | ~(sst - b_obs > 1e-6 * sst)
    exceed = np.zeros(m, dtype=np.int64)
    total = np.zeros(m, dtype=np.int64)
    stages = _PermStages(t, seed, n_perm, max_perm)
    todo = np.nonzero(~exact)[0]
    for b0 in range(0, len(todo), _BLOCK):  # blocks bound the look-up tables' memory
        blk = todo[b0 : b0 + _BLOCK]
        if kind == "binom":
            fn, thr = _binom_batch(a[blk], b[blk], min_seg)
        else:
            fn, thr = _mean_batch(a[blk], min_seg)
        lim = thr(stat[blk])
        act = np.arange(len(blk))
        i = 0
        while len(act):
            order = stages[i]
            if order is None:
                break
            step = max(1, _CHUNK_ELEMS // (len(act) * t))
            hits = np.zeros(len(act), dtype=np.int64)
            for p0 in range(0, order.shape[0], step):
                mx = fn(act, order[p0 : p0 + step])
                hits += np.count_nonzero(mx >= lim[None, act], axis=0)
            exceed[blk[act]] += hits
            total[blk[act]] += order.shape[0]
            act = act[(exceed[blk[act]] < 10) & (total[blk[act]] < max_perm)]
            i += 1
    out = []
    for r in range(m):
        if exact[r]:
            rng = np.random.default_rng(seed)
            out.append(_best_split(stat_fn, a[r], None if b is None else b[r], 0, t, min_seg,
                                   rng, n_perm, max_perm))
            continue
        e, tot = int(exceed[r]), int(total[r])
        p = e / tot if e >= 10 else (1.0 + e) / (1.0 + tot)
        out.append((min_seg + int(j[r]), float(stat[r]), min(p, 1.0), tot))
    return out


def _agent_changepoints(agents: pd.DataFrame, specs: list[tuple[str, str]], *, min_seg: int,
                        seed: int, n_perm: int, max_perm: int) -> list[dict]:
    """The single best split of every agent's daily series, by :func:`_best_splits_batch`.

    ``agents``: one row per agent and day (``agent_id``, ``date``, ``n`` and the
    columns named in ``specs`` as ``(metric, k column)``, plus ``mean_handle``).
    Returns the rows ``detect_changepoints`` / ``detect_changepoints_mean``
    (``max_changes=1, alpha=1``) give for each agent's series, agent by agent
    in ``agent_id`` order, metrics in the order of ``specs`` then mean handle time.
    """
    df = agents.sort_values(["agent_id", "date"], kind="stable").reset_index(drop=True)
    ids = df["agent_id"].to_numpy()
    first = np.r_[0, np.nonzero(ids[1:] != ids[:-1])[0] + 1] if len(df) else np.zeros(0, int)
    lens = np.diff(np.r_[first, len(df)])
    n_all = df["n"].to_numpy(float)
    dates = df["date"].to_numpy()
    found: dict[tuple[int, int], dict] = {}
    metrics = [(m, kc, "binom") for m, kc in specs] + [("mean_handle_s", "mean_handle", "mean")]
    for mi, (_metric, col, kind) in enumerate(metrics):
        vals = df[col].to_numpy(float)
        ms = max(min_seg, 1) if kind == "binom" else max(min_seg, 2)
        if kind == "binom":
            has = np.add.reduceat(vals, first) > 0 if len(first) else np.zeros(0, bool)
        else:
            has = np.ones(len(first), dtype=bool)
        for t in np.unique(lens):
            sel = np.nonzero((lens == t) & has)[0]
            if not len(sel) or t < 2 * ms:
                continue
            pos = first[sel, None] + np.arange(t)
            a, w = vals[pos], n_all[pos]
            res = _best_splits_batch(kind, a, w if kind == "binom" else None, min_seg=ms,
                                     seed=seed, n_perm=n_perm, max_perm=max_perm)
            aw = a * w
            for r, (idx, stat, p, nperm) in enumerate(res):
                ar, wr = a[r], w[r]
                nb, na = wr[:idx].sum(), wr[idx:].sum()
                if kind == "binom":
                    before, after = ar[:idx].sum() / nb, ar[idx:].sum() / na
                else:  # np.average's arithmetic
                    before, after = float(aw[r, :idx].sum() / nb), float(aw[r, idx:].sum() / na)
                found[(int(sel[r]), mi)] = dict(
                    date=pd.Timestamp(dates[pos[r, idx]]), before=before, after=after, p_value=p,
                    statistic=stat, n_perm=nperm, days_before=idx, days_after=int(t) - idx,
                    n_before=int(nb), n_after=int(na),
                )
    rows = []
    for g in range(len(first)):
        for mi, (metric, _col, _kind) in enumerate(metrics):
            if (g, mi) in found:
                rows.append(dict(scope=str(ids[first[g]]), metric=metric, **found[(g, mi)]))
    return rows


# ----------------------------------------------------------------------------- the check


def _daily_sql(where_agent: str = "") -> str:
    return f"""
        SELECT {{group}} CAST(coalesce(answer_ts, arrival_ts) AS DATE) AS date,
               count(*) AS n,
               count(*) FILTER (WHERE talk_s < $short) AS k_short,
               count(*) FILTER (WHERE outcome = 'transferred') AS k_transfer,
               avg(talk_s + coalesce(hold_s, 0) + coalesce(acw_s, 0)) AS mean_handle
        FROM calls WHERE {HANDLED} {where_agent}
        GROUP BY ALL ORDER BY ALL
    """


def center_daily_series(con, *, short_s: float, by_agent: bool = False) -> pd.DataFrame:
    """Daily counts behind the change-point check, aggregated in DuckDB.

    Returns
    -------
    DataFrame with ``date``, ``n`` (handled calls), ``k_short`` (talk below
    ``short_s``), ``k_transfer``, ``mean_handle`` (seconds); with
    ``by_agent=True`` also ``agent_id`` (first column).
    """
    sql = _daily_sql().replace("{group}", "agent_id," if by_agent else "")
    return con.execute(sql, {"short": float(short_s)}).df()


def _daily_series_both(con, *, short_s: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``center_daily_series`` and its ``by_agent=True`` version from one scan of the calls."""
    sql = _daily_sql().replace("{group}", "agent_id, GROUPING(agent_id) AS _center,").replace(
        "GROUP BY ALL", "GROUP BY GROUPING SETS ((agent_id, date), (date))"
    )
    df = con.execute(sql, {"short": float(short_s)}).df()
    center = df["_center"].to_numpy() == 1
    center_df = df[center].drop(columns=["agent_id", "_center"]).reset_index(drop=True)
    agents = df[~center].drop(columns="_center").reset_index(drop=True)
    return center_df, agents


def _bh(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


@CHECKS.register("changepoints")
def check_changepoints(ctx: GamingContext) -> CheckResult:
    """Change points in daily short-call rate, transfer rate and mean handle time.

    Center level: binary segmentation (up to ``cp_max_changes``, default 2) at
    level ``alpha``. Agent level (agents with at least ``cp_min_agent_days``
    days, default 40, each with at least 5 calls): the single best split per
    agent and metric, kept when its Benjamini–Hochberg q-value across all
    agent series is at most ``alpha``. Returns no flags, only the
    ``changepoints`` table (``scope`` is ``center`` or the agent id).
    """
    name = "changepoints"
    if "talk_s" not in ctx.columns:
        return CheckResult(name=name, flags=empty_flags(), skipped="talk_s has no data")
    alpha = float(option(ctx, "alpha", 0.05))
    min_seg = int(option(ctx, "cp_min_segment_days", 7))
    max_changes = int(option(ctx, "cp_max_changes", 2))
    min_days = int(option(ctx, "cp_min_agent_days", 40))
    s = short_call_s(ctx)
    rng_seed = seed(ctx, 71)
    # center and agent daily series in one scan; any transfer shows in the center's
    center, agents = _daily_series_both(ctx.con, short_s=s)
    has_transfer = bool(center["k_transfer"].sum())
    notes = []
    if not has_transfer:
        notes.append("no transferred calls: transfer-rate change points not computed")

    specs = [("short_call_rate", "k_short")]
    if has_transfer:
        specs.append(("transfer_rate", "k_transfer"))

    def run(daily: pd.DataFrame, scope: str, *, agent: bool) -> list[dict]:
        out = []
        kw = dict(
            min_segment_days=min_seg,
            max_changes=1 if agent else max_changes,
            alpha=1.0 if agent else alpha,
            seed=rng_seed,
            n_perm=AGENT_N_PERM if agent else 999,
            max_perm=AGENT_MAX_PERM if agent else 19_999,
        )
        for metric, kc in specs:
            if daily[kc].sum() == 0:
                continue
            res = detect_changepoints(daily, k_col=kc, n_col="n", **kw)
            out += [dict(scope=scope, metric=metric, **r) for r in res.to_dict("records")]
        res = detect_changepoints_mean(daily, mean_col="mean_handle", n_col="n", **kw)
        out += [dict(scope=scope, metric="mean_handle_s", **r) for r in res.to_dict("records")]
        return out

    rows = run(center, "center", agent=False) if len(center) >= 2 * min_seg else []
    for r in rows:
        r["q_value"] = np.nan

    agents = agents[agents["n"] >= 5]
    counts = agents.groupby("agent_id").size()
    eligible = counts[counts >= max(min_days, 2 * min_seg)].index
    agents = agents[agents["agent_id"].isin(eligible)]
    cols_used = ["n", "mean_handle"] + [kc for _m, kc in specs]
    # the batched path needs complete series; an agent with a missing value
    # (none in contract data) goes through detect_changepoints* like the center
    gaps = agents.loc[agents[cols_used].isna().any(axis=1), "agent_id"].unique()
    arow = _agent_changepoints(
        agents[~agents["agent_id"].isin(gaps)], specs, min_seg=min_seg, seed=rng_seed,
        n_perm=AGENT_N_PERM, max_perm=AGENT_MAX_PERM,
    )
    if len(gaps):
        for aid in gaps:
            daily = agents[agents["agent_id"] == aid].drop(columns="agent_id")
            arow += run(daily, str(aid), agent=True)
        rank = {str(a): i for i, a in enumerate(eligible)}
        arow.sort(key=lambda r: rank[r["scope"]])  # stable: metrics keep their order
    if arow:
        q = _bh(np.array([r["p_value"] for r in arow]))
        for r, qq in zip(arow, q, strict=True):
            r["q_value"] = qq
        arow = [r for r in arow if r["q_value"] <= alpha]
    cols = CHANGEPOINT_COLUMNS + ["q_value", "statistic", "days_before", "days_after"]
    cp = pd.DataFrame(rows + arow, columns=cols)
    cp["date"] = pd.to_datetime(cp["date"])
    notes.append(
        f"change points: center level tested; {len(eligible)} agents with >= {min_days} "
        f"days of >= 5 calls tested (one split per agent and metric, BH across agents)"
    )
    return CheckResult(name=name, flags=empty_flags(), changepoints=cp, notes=notes)
