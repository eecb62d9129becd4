"""Change points in daily center-level and agent-level rates (check ``changepoints``).

The date when a behaviour starts or stops (a new handle-time target, a
crackdown on hang-ups) is evidence in itself. The check dates steps in the
center's daily short-call rate, transfer rate and mean handle time, and in each
agent's series against the peers' series of the same days.

Method (:func:`detect_steps`, used by the check)
------------------------------------------------
A step is judged against a null that has what a real center has without one:
a smooth trend (restricted cubic spline) and weekday effects in a segmented
GLM (logit for daily counts with quasi-binomial dispersion, identity for a daily
mean). A gate (the largest single-step score statistic against the most
flexible trend, by parametric bootstrap) keeps a drift from being called a step;
candidates come from PELT with a BIC-type penalty (``ruptures``); each is tested
within the interval between its neighbours by a parametric bootstrap that refits
the trend, the weekday effects and the dispersion in every replicate; Holm's
adjustment runs across the candidates (and, in the check, across the center's
series), and each date gets a 90 % bootstrap interval. Agents are tested against
the peers' daily series (a logit offset of the peers' rate, or the difference
from their mean handle time), so a center-wide change or drift cancels;
Benjamini-Hochberg runs across the agent series (:func:`agent_steps`). Only
steps at ``p_value <= alpha`` are listed. Details and references in
:func:`detect_steps` and :func:`check_changepoints`.

What it cannot see: a change closer than ``min_segment_days`` to another or to
the ends of the series; a change that follows the trend's shape (a slow ramp is
a trend, not a step); on an agent's series, a change that every agent makes on
the same day (it cancels against the peers).

Legacy detectors
----------------
:func:`detect_changepoints` (binomial likelihood ratio) and
:func:`detect_changepoints_mean` (two-sample F) find steps by binary
segmentation with **permutation** p-values (days shuffled, each keeping its
counts; sequential, Besag & Clifford 1991). They assume exchangeable days: a
trend, a weekly cycle or autocorrelation rejects their null, so a smooth drift
reads as dated steps (issue #13). They are kept for series where days are
exchangeable and are not used by the check.

Columns needed: ``answer_ts`` (or ``arrival_ts``), ``talk_s``; ``outcome``
``transferred`` for the transfer rate; ``hold_s``, ``acw_s`` enter handle time.

References
----------
Killick, R., Fearnhead, P. & Eckley, I. A. (2012). Optimal detection of
changepoints with a linear computational cost. *JASA* 107, 1590-1598.
Muggeo, V. M. R. (2003). Estimating regression models with unknown
break-points. *Statistics in Medicine* 22, 3055-3071.
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
import ruptures as rpt
from ruptures.base import BaseCost
from scipy.special import xlogy

from ..config import DEFAULT_SEED
from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import HANDLED, empty_flags, flag_option, option, seed, short_call_s

__all__ = [
    "detect_steps",
    "agent_steps",
    "null_design",
    "locate_step",
    "choose_trend",
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

#: Columns of the ``changepoints`` table (interface B): ``level`` is ``center`` or
#: ``agent``; ``agent_id`` is empty for center rows; ``date`` is the first day of the
#: new regime, ``date_lo``/``date_hi`` a 90 % interval for it; ``before``/``after``
#: the metric's level either side (a rate in [0, 1], or seconds); ``p_value`` after
#: the procedure's own multiplicity control; ``source`` the check or function.
CHANGEPOINT_COLUMNS = ["level", "agent_id", "metric", "date", "date_lo", "date_hi", "before",
                       "after", "p_value", "source"]

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
    Vostrikova (1981); Besag & Clifford (1991). See the module docstring ("Legacy detectors").
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



# ----------------------------------------------------------------------------- steps against a smooth null
#
# The model-based detector behind the check (``detect_steps``). A daily series
# (binomial counts k_t of n_t, or a daily mean y_t) is modelled as
#
#     g(mu_t) = offset_t + X_t beta + sum_j delta_j 1[t >= tau_j]
#
# with X = intercept + weekday effects + a restricted cubic spline in time (the
# smooth trend), g = logit (binomial, dispersion phi >= 1 by Pearson) or the
# identity (daily means, variance phi). Arrays carry a leading replicate axis B
# so the parametric bootstrap refits and rescans all replicates at once.


def _rcs_basis(x: np.ndarray, df: int) -> np.ndarray:
    """Restricted (natural) cubic spline basis with ``df`` columns (linear first).

    Harrell's truncated-power form with ``df + 1`` knots at quantiles of ``x``
    (Harrell 2001, sec. 2.4.5); ``df = 1`` is a straight line. Columns are
    scaled to unit range for a well-conditioned design.
    """
    x = np.asarray(x, float)
    span = float(x.max() - x.min()) or 1.0
    u = (x - x.min()) / span
    cols = [u]
    if df >= 2:
        nk = df + 1
        probs = {3: [0.1, 0.5, 0.9], 4: [0.05, 0.35, 0.65, 0.95],
                 5: [0.05, 0.275, 0.5, 0.725, 0.95]}.get(
            nk, list(np.linspace(0.025, 0.975, nk)))
        k = np.quantile(u, probs)
        k = np.unique(k)
        if len(k) >= 3:
            d = (k[-1] - k[0]) ** 2
            last, prev = k[-1], k[-2]
            for kj in k[:-2]:
                c = (np.maximum(u - kj, 0) ** 3
                     - np.maximum(u - prev, 0) ** 3 * (last - kj) / (last - prev)
                     + np.maximum(u - last, 0) ** 3 * (prev - kj) / (last - prev)) / d
                rng = float(c.max() - c.min()) or 1.0
                cols.append(c / rng)
    return np.column_stack(cols)


def trend_df_for(days: float) -> int:
    """Default spline degrees of freedom of the trend: 1 + one per 45 days (2 for 61 days)."""
    return int(1 + max(days, 1) // 30)


def null_design(dates, *, trend_df: int | None = None, weekday: bool = True) -> np.ndarray:
    """Design of the null model: intercept, weekday effects, smooth trend in time.

    Parameters
    ----------
    dates
        The days of the series (datetime-like, sorted).
    trend_df
        Spline degrees of freedom (0: no trend); default :func:`trend_df_for`.
    weekday
        Add a dummy for each weekday present on at least 3 days (the most
        frequent is the reference).

    Returns
    -------
    ndarray ``(T, p)``, first column the intercept.
    """
    d = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    t = ((d - d.iloc[0]).dt.days.to_numpy(float)) if len(d) else np.zeros(0)
    cols = [np.ones(len(d))]
    if weekday and len(d):
        wd = d.dt.day_of_week.to_numpy()
        counts = np.bincount(wd, minlength=7)
        ref = int(np.argmax(counts))
        for w in range(7):
            if w != ref and counts[w] >= 3:
                cols.append((wd == w).astype(float))
    span = float(t.max() - t.min()) if len(t) else 0.0
    df = trend_df_for(span + 1) if trend_df is None else int(trend_df)
    df = min(df, max(len(d) // 10, 0))
    if df >= 1 and span > 0:
        cols.extend(_rcs_basis(t, df).T)
    return np.column_stack(cols)


def _expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _Model:
    """One daily series and its null design; batched fits, score scans, simulation."""

    def __init__(self, kind: str, y: np.ndarray, n: np.ndarray, X0: np.ndarray,
                 offset: np.ndarray | None = None):
        self.kind = kind  # "binom" or "gauss"
        self.y = np.asarray(y, float)
        self.n = np.asarray(n, float)
        self.X0 = np.asarray(X0, float)
        self.T = len(self.y)
        self.off = np.zeros(self.T) if offset is None else np.asarray(offset, float)

    def design(self, steps) -> np.ndarray:
        t = np.arange(self.T)
        cols = [self.X0] + [(t >= s).astype(float)[:, None] for s in sorted(steps)]
        return np.column_stack(cols)

    # -- fits ---------------------------------------------------------------------------
    def fit(self, Y: np.ndarray, X: np.ndarray):
        """Fit every row of ``Y`` (B, T); returns (mu, w, resid, phi, eta, Minv)."""
        B, T = Y.shape
        p = X.shape[1]
        if self.kind == "gauss":
            G = X.T @ X
            Minv = np.linalg.pinv(G)
            beta = Y @ X @ Minv  # (B, p)
            mu = beta @ X.T
            r = Y - mu
            phi = (r * r).sum(axis=1) / max(T - p, 1)
            w = np.ones((B, T))
            return mu, w, r, np.maximum(phi, 1e-12), mu, np.broadcast_to(Minv, (B, p, p))
        n = self.n
        ybar = np.clip(Y.sum(axis=1) / n.sum(), 1e-6, 1 - 1e-6)
        if p == 1:
            return self._fit_one(Y, X[:, 0], ybar)
        beta = np.zeros((B, p))
        beta[:, 0] = np.log(ybar / (1 - ybar)) - float(np.mean(self.off))
        for _ in range(25):
            eta = beta @ X.T + self.off
            pr = np.clip(_expit(eta), 1e-10, 1 - 1e-10)
            w = n * pr * (1 - pr)
            z = eta - self.off + (Y - n * pr) / w
            M = np.einsum("tp,bt,tq->bpq", X, w, X)
            M += 1e-10 * np.eye(p)
            rhs = np.einsum("tp,bt->bp", X, w * z)
            new = np.linalg.solve(M, rhs[..., None])[..., 0]
            new = np.clip(new, -1e4, 1e4)
            done = np.max(np.abs(new - beta)) < 1e-8
            beta = new
            if done:
                break
        eta = beta @ X.T + self.off
        pr = np.clip(_expit(eta), 1e-10, 1 - 1e-10)
        mu = n * pr
        w = n * pr * (1 - pr)
        r = Y - mu
        phi = np.maximum((r * r / w).sum(axis=1) / max(T - p, 1), 1.0)
        M = np.einsum("tp,bt,tq->bpq", X, w, X) + 1e-10 * np.eye(p)
        return mu, w, r, phi, eta, np.linalg.inv(M)

    def _fit_one(self, Y: np.ndarray, x: np.ndarray, ybar: np.ndarray):
        """:meth:`fit` of a one-column binomial design (an agent against the peers'
        offset): the same IRLS with the 1 x 1 systems as divisions and no einsum,
        which is most of the per-agent gate's time."""
        n, off = self.n, self.off
        T = Y.shape[1]
        xx = x * x
        beta = np.log(ybar / (1 - ybar)) - float(np.mean(off))
        for _ in range(25):
            eta = beta[:, None] * x + off
            pr = np.clip(_expit(eta), 1e-10, 1 - 1e-10)
            w = n * pr * (1 - pr)
            z = eta - off + (Y - n * pr) / w
            new = np.clip((w * x * z).sum(axis=1) / ((w * xx).sum(axis=1) + 1e-10), -1e4, 1e4)
            done = np.max(np.abs(new - beta)) < 1e-8
            beta = new
            if done:
                break
        eta = beta[:, None] * x + off
        pr = np.clip(_expit(eta), 1e-10, 1 - 1e-10)
        mu = n * pr
        w = n * pr * (1 - pr)
        r = Y - mu
        phi = np.maximum((r * r / w).sum(axis=1) / max(T - 1, 1), 1.0)
        Minv = (1.0 / ((w * xx).sum(axis=1) + 1e-10))[:, None, None]
        return mu, w, r, phi, eta, Minv

    # -- the scan -----------------------------------------------------------------------
    def scan(self, fitres, X: np.ndarray, lo: int, hi: int, min_seg: int) -> np.ndarray:
        """Score statistic (chi-square 1 df scale, divided by phi) of a step at each
        day of ``[lo + min_seg, hi - min_seg]``; ``-inf`` elsewhere. Shape (B, T)."""
        mu, w, r, phi, _eta, Minv = fitres
        B, T = r.shape
        out = np.full((B, T), -np.inf)
        a, b = lo + min_seg, hi - min_seg
        if b < a:
            return out
        U = np.cumsum(r[:, ::-1], axis=1)[:, ::-1]
        S = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]
        C = np.cumsum((w[:, :, None] * X[None, :, :])[:, ::-1, :], axis=1)[:, ::-1, :]
        sl = slice(a, b + 1)
        Cs = C[:, sl, :]
        if X.shape[1] == 1:
            V = S[:, sl] - Cs[:, :, 0] ** 2 * Minv[:, 0, 0][:, None]
        else:
            V = S[:, sl] - np.einsum("btp,bpq,btq->bt", Cs, Minv, Cs)
        V = np.maximum(V, 1e-12 * np.maximum(S[:, sl], 1e-12))
        out[:, sl] = U[:, sl] ** 2 / (phi[:, None] * V)
        return out

    # -- simulation ---------------------------------------------------------------------
    def simulate(self, rng: np.random.Generator, mu: np.ndarray, phi: float, B: int):
        if self.kind == "gauss":
            return mu[None, :] + np.sqrt(phi) * rng.standard_normal((B, self.T))
        n = self.n
        pr = np.clip(mu / n, 1e-10, 1 - 1e-10)
        nbar = float(n.mean())
        rho = min(max(phi - 1.0, 0.0) / max(nbar - 1.0, 1.0), 0.5)
        if rho <= 1e-12:
            return rng.binomial(n.astype(np.int64)[None, :].repeat(B, 0), pr[None, :])
        c = 1.0 / rho - 1.0
        pb = rng.beta(pr * c, (1 - pr) * c, size=(B, self.T))
        return rng.binomial(n.astype(np.int64)[None, :].repeat(B, 0), pb)

    # -- tests --------------------------------------------------------------------------
    def local(self, steps, lo: int, hi: int, min_seg: int):
        """Best step in ``[lo, hi)`` given the other ``steps``: (index, statistic, fit, X)."""
        X = self.design(steps)
        fr = self.fit(self.y[None, :], X)
        z = self.scan(fr, X, lo, hi, min_seg)[0]
        j = int(np.argmax(z))
        return j, float(z[j]), fr, X

    def boot_max(self, rng, mu, phi, X, lo, hi, min_seg, B) -> np.ndarray:
        Ys = self.simulate(rng, mu, phi, B)
        fr = self.fit(Ys.astype(float), X)
        return self.scan(fr, X, lo, hi, min_seg).max(axis=1)

    def boot_argmax(self, rng, mu, phi, X, lo, hi, min_seg, B) -> np.ndarray:
        Ys = self.simulate(rng, mu, phi, B)
        fr = self.fit(Ys.astype(float), X)
        return np.argmax(self.scan(fr, X, lo, hi, min_seg), axis=1)


#: Replicates per batch of the parametric bootstrap (bounds B x T x p arrays).
_BOOT_BATCH = 400


def _seq_pvalue(draw, stat: float, n_boot: int, max_boot: int) -> tuple[float, int]:
    """Sequential Monte Carlo p-value (Besag & Clifford 1991): stop at 10 exceedances."""
    exceed = total = 0
    target = n_boot
    while True:
        while total < target:
            b = min(_BOOT_BATCH, target - total)
            mx = draw(b)
            exceed += int(np.sum(mx >= stat - 1e-9 * max(abs(stat), 1.0)))
            total += b
        if exceed >= 10 or total >= max_boot:
            break
        target = min(max_boot, total * 4)
    p = exceed / total if exceed >= 10 else (1.0 + exceed) / (1.0 + total)
    return min(p, 1.0), total


class _WeightedL2(BaseCost):
    """ruptures cost: weighted sum of squares around the segment's weighted mean."""

    model = "weighted_l2"
    min_size = 2

    def __init__(self, weights: np.ndarray, min_size: int = 2):
        self.w = np.asarray(weights, float)
        self.min_size = int(min_size)

    def fit(self, signal):
        z = np.asarray(signal, float).reshape(-1)
        self.signal = z.reshape(-1, 1)
        w = self.w
        self._cw = np.r_[0.0, np.cumsum(w)]
        self._cwz = np.r_[0.0, np.cumsum(w * z)]
        self._cwzz = np.r_[0.0, np.cumsum(w * z * z)]
        return self

    def error(self, start, end):
        sw = self._cw[end] - self._cw[start]
        swz = self._cwz[end] - self._cwz[start]
        return float(self._cwzz[end] - self._cwzz[start] - (swz * swz / sw if sw > 0 else 0.0))


def _pelt(z: np.ndarray, v: np.ndarray, pen: float, min_seg: int) -> list[int]:
    """Change positions (first index of each new segment) by PELT (ruptures)."""
    T = len(z)
    if T < 2 * min_seg:
        return []
    algo = rpt.Pelt(custom_cost=_WeightedL2(v, min_size=min_seg), min_size=min_seg, jump=1)
    bkps = algo.fit(z).predict(pen=pen)
    return [int(b) for b in bkps[:-1]]


def _candidates(m: _Model, *, min_seg: int, max_changes: int, pen: float) -> list[int]:
    """Candidate steps: PELT on working residuals, refitted with the trend (backfitting).

    The first pass fits intercept and weekday effects only (a trend would absorb
    part of a step), so PELT sees steps and drift as a staircase; later passes fit
    the trend together with the current steps and run PELT on the steps' effects
    plus the working residuals, until the set is stable. With no PELT candidate,
    the best single step is a candidate when its score statistic exceeds the
    penalty.
    """
    def pelt_on(X, steps, cap):
        mu, w, r, phi, eta, _ = m.fit(m.y[None, :], X)
        w, r, phi, eta = w[0], r[0], float(phi[0]), eta[0]
        k_null = X.shape[1] - len(steps)
        step_part = np.zeros(m.T)
        if steps:
            beta, *_ = np.linalg.lstsq(X, eta - m.off, rcond=None)
            step_part = X[:, k_null:] @ beta[k_null:]
        z = step_part + r / w
        p = pen
        for _ in range(40):
            found = _pelt(z, w / phi, p, min_seg)
            if len(found) <= cap:
                return found
            p *= 1.5
        return []

    n_null = 1 + int(np.sum(np.all(np.isin(m.X0[:, 1:], (0.0, 1.0)), axis=0)))
    steps = pelt_on(np.column_stack([m.X0[:, :n_null]]), [], max_changes + 3)
    for _ in range(8):
        new = pelt_on(m.design(steps), steps, max_changes)
        if new == steps:
            break
        steps = new
    return steps


def _holm(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


_STEP_COLUMNS = ["index", "date", "date_lo", "date_hi", "before", "after", "statistic",
                 "p_local", "p_value", "n_boot", "days_before", "days_after"]


def _steps(m: _Model, dates: np.ndarray, *, min_seg: int, max_changes: int, alpha: float,
           rng: np.random.Generator, n_boot: int, max_boot: int, ci_level: float,
           n_ci: int, pen: float | None, level_fn, gate=None) -> pd.DataFrame:
    """Candidates by PELT, each tested by a local scan against the parametric bootstrap,
    Holm across the series' steps, the least significant removed until all pass;
    an interval for each date by a bootstrap of the fitted step model."""
    T = m.T
    pen = 2.0 * np.log(max(T, 2)) if pen is None else float(pen)
    # gate: the best single step over the whole series against "no step at all"
    if gate is None:
        g_idx, _g_stat, g_p, _g_nb = _global_scan_pvalue(m, min_seg=min_seg, rng=rng,
                                                         n_boot=n_boot, max_boot=max_boot)
    else:  # (index, p) of a gate the caller computed (e.g. BH across agents)
        g_idx, g_p = gate
    if g_p > alpha:
        return pd.DataFrame(columns=_STEP_COLUMNS)
    steps = _candidates(m, min_seg=min_seg, max_changes=max_changes, pen=pen) or [g_idx]
    while True:
        res = []
        for j, s in enumerate(steps):
            lo = steps[j - 1] if j > 0 else 0
            hi = steps[j + 1] if j + 1 < len(steps) else T
            others = [x for x in steps if x != s]
            idx, stat, fr, X = m.local(others, lo, hi, min_seg)
            mu0, phi0 = fr[0][0], float(fr[3][0])

            def draw(b, mu0=mu0, phi0=phi0, X=X, lo=lo, hi=hi):
                return m.boot_max(rng, mu0, phi0, X, lo, hi, min_seg, b)

            p, nb = _seq_pvalue(draw, stat, n_boot, max_boot)
            res.append([idx, stat, p, nb, lo, hi])
        if not res:
            return pd.DataFrame(columns=_STEP_COLUMNS)
        padj = np.maximum(_holm(np.array([r[2] for r in res])), g_p)
        worst = int(np.argmax(padj))
        if padj[worst] <= alpha:
            break
        steps = [s for j, s in enumerate(steps) if j != worst]
        if not steps:
            return pd.DataFrame(columns=_STEP_COLUMNS)
    steps = [r[0] for r in res]
    rows = []
    q = (1 - ci_level) / 2
    Xfull = m.design(steps)
    full = m.fit(m.y[None, :], Xfull)
    mu_full, phi_full = full[0][0], float(full[3][0])
    for j, (idx, stat, p, nb, lo, hi) in enumerate(res):
        others = [x for x in steps if x != idx]
        X = m.design(others)
        taus = np.concatenate([
            m.boot_argmax(rng, mu_full, phi_full, X, lo, hi, min_seg, min(_BOOT_BATCH, n_ci - b0))
            for b0 in range(0, n_ci, _BOOT_BATCH)])
        t_lo, t_hi = np.quantile(taus, [q, 1 - q], method="inverted_cdf")
        t_lo, t_hi = int(min(t_lo, idx)), int(max(t_hi, idx))
        before, after = level_fn(lo, idx), level_fn(idx, hi)
        rows.append(dict(index=idx, date=dates[idx], date_lo=dates[t_lo], date_hi=dates[t_hi],
                         before=before, after=after, statistic=stat, p_local=p,
                         p_value=float(padj[j]), n_boot=nb, days_before=idx - lo,
                         days_after=hi - idx))
    return pd.DataFrame(rows, columns=_STEP_COLUMNS)


def _global_scan_pvalue(m: _Model, *, min_seg: int, rng, n_boot: int, max_boot: int):
    """The best single step of the whole series and its bootstrap p-value."""
    idx, stat, fr, X = m.local([], 0, m.T, min_seg)
    mu0, phi0 = fr[0][0], float(fr[3][0])
    p, nb = _seq_pvalue(lambda b: m.boot_max(rng, mu0, phi0, X, 0, m.T, min_seg, b),
                        stat, n_boot, max_boot)
    return idx, stat, p, nb


def _deviance(m: _Model, X: np.ndarray) -> tuple[float, float]:
    """Deviance (binomial) or residual sum of squares (means) of a fit, and its dispersion."""
    mu, w, r, phi, _eta, _ = m.fit(m.y[None, :], X)
    mu, phi = mu[0], float(phi[0])
    if m.kind == "gauss":
        return float((r[0] ** 2).sum()), phi
    k, n = m.y, m.n
    dev = 2.0 * (xlogy(k, k / np.maximum(mu, 1e-300)).sum()
                 + xlogy(n - k, (n - k) / np.maximum(n - mu, 1e-300)).sum())
    return float(dev), phi


def choose_trend(kind: str, y, n, dates, *, offset=None, weekday: bool = True,
                 min_segment_days: int = 7, max_changes: int = 3,
                 max_df: int | None = None) -> tuple[int, list[int]]:
    """Trend flexibility and steps chosen together by a BIC-type criterion.

    A smooth spline trend with enough degrees of freedom mimics a step (and
    hides it); too few, and a smooth drift looks like steps. For each trend
    ``df`` from 0 (no trend) to ``max_df`` (default one per 30 days plus one)
    the steps are found as in :func:`detect_steps` (PELT, backfitted), and
    the pair minimising ``D / phi + log(T) (p_trend + 2 n_steps)`` is kept
    (``D`` the deviance, ``phi`` the dispersion of the richest model; a step
    costs a location and a level; Schwarz 1978, Yao 1988).

    Returns
    -------
    (df, steps): the trend's degrees of freedom and the candidate step indices.
    """
    dates = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    T = len(dates)
    span = float((dates.iloc[-1] - dates.iloc[0]).days) + 1 if T else 1.0
    dmax = trend_df_for(span) if max_df is None else int(max_df)
    dmax = min(dmax, max(T // 10, 0))
    pen = 2.0 * np.log(max(T, 2))
    min_seg = max(int(min_segment_days), 2)
    fits = []
    grid = sorted({d for d in (0, 1, 2, 3, 4, 6, 8, 11, 15, 20) if d < dmax} | {dmax})
    for df in grid:
        X0 = null_design(dates, trend_df=df, weekday=weekday)
        m = _Model(kind, y, n, X0, offset)
        steps = _candidates(m, min_seg=min_seg, max_changes=max_changes, pen=pen)
        dev, phi = _deviance(m, m.design(steps))
        fits.append((df, steps, dev, phi, X0.shape[1]))
    phi_ref = max(fits[-1][3], 1e-12)
    best = min(fits, key=lambda f: f[2] / phi_ref + np.log(max(T, 2)) * (f[4] + 2 * len(f[1])))
    return best[0], best[1]


def detect_steps(
    daily: pd.DataFrame,
    *,
    kind: str = "binom",
    date_col: str = "date",
    k_col: str = "k",
    n_col: str = "n",
    mean_col: str = "mean",
    offset: np.ndarray | None = None,
    trend_df: int | None = None,
    weekday: bool = True,
    min_segment_days: int = 7,
    max_changes: int = 3,
    alpha: float = 0.05,
    penalty: float | None = None,
    n_boot: int = 499,
    max_boot: int = 9_999,
    ci_level: float = 0.9,
    n_ci: int = 199,
    seed: int | None = None,
) -> pd.DataFrame:
    """Steps in a daily series against a null with a smooth trend and weekday effects.

    Model: ``g(E y_t) = offset_t + weekday_t + f(t) + sum_j delta_j 1[t >= tau_j]``
    with ``f`` a restricted cubic spline with ``trend_df`` degrees of freedom
    (default: chosen with the steps by :func:`choose_trend`, at most one per
    30 days plus one) and ``g`` the logit for daily counts
    ``k`` of ``n`` (``kind="binom"``; quasi-binomial dispersion ``phi >= 1``
    from the Pearson statistic) or the identity for a daily mean
    (``kind="gauss"``, each day weighs the same).

    Procedure:

    0. Gate: the largest score statistic of a single step over all days,
       against the null with the most flexible trend (``1 + days // 30``
       degrees of freedom), by parametric bootstrap; nothing is listed unless
       it is at most ``alpha`` (so a smooth drift, however shaped, is rarely
       called a step). The trend used for dating is then chosen together with
       the steps (:func:`choose_trend`), since a flexible trend absorbs part of
       a real step and blurs its date.
    1. Candidates: PELT (Killick, Fearnhead & Eckley 2012; ``ruptures``) on
       the working residuals of the null fit plus the current steps' effects,
       weighted by ``w_t / phi``, with a BIC-type penalty ``2 log T`` per
       change (a location and a level; Yao 1988), refitted until the set of
       steps is stable (backfitting), at most ``max_changes``.
    2. Each candidate is re-estimated and tested within the interval between
       its neighbours, given the trend, the weekday effects and the other
       steps: the statistic is the largest score statistic of a step over the
       interval's days (the segmented-GLM score test, divided by ``phi``),
       its p-value a parametric bootstrap of that maximum under the fitted
       model without the step (beta-binomial with the fitted dispersion, or
       normal), refitting the trend, weekday effects and the dispersion in
       every replicate, so the choice of the date and the estimated
       dispersion are both accounted for. Replicates grow sequentially
       (Besag & Clifford 1991) to ``max_boot``.
    3. Holm's step-down adjustment across the series' candidates; the least
       significant is dropped and the rest re-tested until all adjusted
       p-values are at most ``alpha``.
    4. An interval for each date: the ``ci_level`` percentile interval of the
       re-estimated date over ``n_ci`` parametric bootstrap series drawn from
       the fitted model with all steps.

    Parameters
    ----------
    daily
        One row per day (``date_col`` and ``k_col``, ``n_col`` or ``mean_col``).
    offset
        Known part of the linear predictor per day (e.g. the logit of the
        peers' rate that day), aligned with ``daily`` sorted by date.
    min_segment_days
        Minimum days of each segment.

    Returns
    -------
    DataFrame, one row per significant step in date order: ``index``,
    ``date`` (first day of the new regime), ``date_lo``, ``date_hi``,
    ``before``, ``after`` (pooled rate ``sum k / sum n``, or the ``n``-weighted
    mean, of the neighbouring segments), ``statistic``, ``p_local`` (bootstrap
    p-value of the step in its interval), ``p_value`` (Holm-adjusted),
    ``n_boot``, ``days_before``, ``days_after``.

    References
    ----------
    Killick, R., Fearnhead, P. & Eckley, I. A. (2012). Optimal detection of
    changepoints with a linear computational cost. *JASA* 107, 1590-1598.
    Yao, Y.-C. (1988). Estimating the number of change-points via Schwarz'
    criterion. *Statist. Probab. Lett.* 6, 181-189.
    Hinkley, D. V. (1970). Inference about the change-point in a sequence of
    random variables. *Biometrika* 57, 1-17.
    Muggeo, V. M. R. (2003). Estimating regression models with unknown
    break-points. *Statistics in Medicine* 22, 3055-3071.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scand. J. Statist.* 6, 65-70.
    Besag, J. & Clifford, P. (1991). Sequential Monte Carlo p-values.
    *Biometrika* 78, 301-304.
    Harrell, F. E. (2001). *Regression Modeling Strategies*. Springer.
    """
    if kind not in ("binom", "gauss"):
        raise ValueError(f"kind must be 'binom' or 'gauss', not {kind!r}")
    cols = [k_col, n_col] if kind == "binom" else [mean_col]
    if kind == "gauss" and n_col in daily.columns:
        cols.append(n_col)
    df = _prepare(daily, date_col, cols)
    off = None
    if offset is not None:
        off = np.asarray(offset, float)
        if len(off) != len(daily):
            raise ValueError("offset must have one value per row of daily")
        order = daily[date_col].reset_index(drop=True).sort_values(kind="stable").index
        off = off[order.to_numpy()]
    if kind == "binom":
        keep = df[n_col].to_numpy(float) > 0
        df = df[keep].reset_index(drop=True)
        off = off[keep] if off is not None else None
        k = df[k_col].to_numpy(float)
        n = df[n_col].to_numpy(float)
        if np.any(k < 0) or np.any(k > n):
            from ..errors import InputError

            raise InputError(f"{k_col} must lie between 0 and {n_col} on every day")
        y = k
    else:
        y = df[mean_col].to_numpy(float)
        n = df[n_col].to_numpy(float) if n_col in df.columns else np.ones(len(y))
    T = len(y)
    min_seg = max(int(min_segment_days), 2)
    if T < 2 * min_seg + 2 or (kind == "binom" and y.sum() == 0):
        return pd.DataFrame(columns=_STEP_COLUMNS)
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    gate = None
    if trend_df is None:
        # gate against the most flexible smooth trend (calibrated under any smooth
        # drift); the steps are then dated with the trend chosen together with them
        flex = _Model(kind, y, n, null_design(df[date_col], weekday=weekday), off)
        g_idx, _st, g_p, _nb = _global_scan_pvalue(flex, min_seg=min_seg, rng=rng,
                                                   n_boot=int(n_boot), max_boot=int(max_boot))
        if g_p > alpha:
            return pd.DataFrame(columns=_STEP_COLUMNS)
        gate = (g_idx, g_p)
        trend_df, _ = choose_trend(kind, y, n, df[date_col], offset=off, weekday=weekday,
                                   min_segment_days=min_seg, max_changes=int(max_changes))
    X0 = null_design(df[date_col], trend_df=trend_df, weekday=weekday)
    m = _Model(kind, y, n, X0, off)
    dates = pd.to_datetime(df[date_col]).to_numpy()

    if kind == "binom":
        def level(a, b):
            return float(k[a:b].sum() / n[a:b].sum())
    else:
        def level(a, b):
            return float(np.average(y[a:b], weights=n[a:b]))
    res = _steps(m, dates, min_seg=min_seg, max_changes=int(max_changes), alpha=float(alpha),
                 rng=rng, n_boot=int(n_boot), max_boot=int(max_boot),
                 ci_level=float(ci_level), n_ci=int(n_ci), pen=penalty, level_fn=level,
                 gate=gate)
    res.attrs["trend_df"] = int(trend_df)
    return res

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


def locate_step(daily: pd.DataFrame, window: tuple, *, fixed: list = (), date_col: str = "date",
                k_col: str = "k", n_col: str = "n", trend_df: int | None = None,
                weekday: bool = True, min_segment_days: int = 7):
    """Most likely date of one step of a daily binomial rate within ``window``.

    The argmax of the score statistic of a step (the scan of :func:`detect_steps`)
    over the days in ``window = (first, last)`` (dates, inclusive), given the
    smooth trend, weekday effects and steps at the ``fixed`` dates. Used to date
    a change on other agents than those tested at it. Returns a Timestamp, or
    None when no day of the window can be a step.
    """
    df = _prepare(daily, date_col, [k_col, n_col])
    df = df[df[n_col] > 0].reset_index(drop=True)
    if len(df) < 4 or df[k_col].sum() == 0:
        return None
    dates = pd.to_datetime(df[date_col])
    kk, nn = df[k_col].to_numpy(float), df[n_col].to_numpy(float)
    if trend_df is None:
        trend_df, _ = choose_trend("binom", kk, nn, dates, weekday=weekday,
                                   min_segment_days=min_segment_days)
    m = _Model("binom", kk, nn, null_design(dates, trend_df=trend_df, weekday=weekday))
    lo_d, hi_d = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    idx = [int(np.searchsorted(dates.to_numpy(), np.datetime64(pd.Timestamp(f)))) for f in fixed]
    steps = sorted({i for i in idx if 0 < i < m.T})
    X = m.design(steps)
    fr = m.fit(m.y[None, :], X)
    z = m.scan(fr, X, 0, m.T, max(int(min_segment_days), 2))[0]
    inside = ((dates >= lo_d) & (dates <= hi_d)).to_numpy()
    z = np.where(inside, z, -np.inf)
    if not np.isfinite(z).any():
        return None
    return pd.Timestamp(dates.iloc[int(np.argmax(z))])


# ----------------------------------------------------------------------------- agents against peers


def _peer_models(agents: pd.DataFrame, center: pd.DataFrame, metric: str, col: str):
    """Per agent: the series of ``metric`` against the peers' daily series.

    Rates: counts ``k`` of ``n`` with offset ``logit(peer rate that day)``, the
    peers being all other agents that day (so a center-wide drift, weekday
    cycle or campaign cancels); mean handle time: the agent's daily mean minus
    the peers' daily mean. Yields ``(agent_id, _Model, dates, level_fn)``.
    """
    # the day's center totals beside each agent-day, joined once (a lookup per agent was
    # half of this check's time at 10 M calls)
    handle = metric == "mean_handle_s"
    tot = center[["date", "n", "mean_handle" if handle else col]].drop_duplicates("date")
    tot.columns = ["date", "_N", "_MH" if handle else "_K"]
    df = agents.merge(tot, on="date", how="left", validate="many_to_one")
    if df["_N"].isna().any():  # as the former .loc lookup: every agent-day has its day
        raise KeyError("agent-days without a center total")
    df = df.sort_values(["agent_id", "date"], kind="stable")
    # each agent's rows are a slice of the sorted columns (a pandas group per agent was
    # most of this loop's cost, at thousands of agents)
    ids = df["agent_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else []
    ends = np.r_[starts[1:], len(ids)] if len(ids) else []
    date_all = df["date"].to_numpy()
    N_all = df["_N"].to_numpy(float)
    n_all = df["n"].to_numpy(float)
    if handle:
        mh_all = df["mean_handle"].to_numpy(float)
        S_all = (df["_N"] * df["_MH"]).to_numpy(float)
    else:
        K_all = df["_K"].to_numpy(float)
        k_all = df[col].to_numpy(float)
    for lo, hi in zip(starts, ends, strict=True):
        aid = ids[lo]
        d = date_all[lo:hi]
        N = N_all[lo:hi]
        n = n_all[lo:hi]
        if handle:
            S = S_all[lo:hi]
            s_own = n * mh_all[lo:hi]
            peer_n = N - n
            ok = peer_n > 0
            if ok.sum() < 2:
                continue
            y = mh_all[lo:hi][ok] - (S - s_own)[ok] / peer_n[ok]
            own = mh_all[lo:hi][ok]
            nn = n[ok]
            # a straight line in the null: the agent's call mix (transfers, short
            # calls) drifts with the center's rates and moves their mean handle time
            # against the peers' smoothly
            t = (pd.to_datetime(d[ok]) - pd.to_datetime(d[ok][0])).days.to_numpy(float)
            t = t / max(float(t.max()), 1.0)
            m = _Model("gauss", y, nn, np.column_stack([np.ones(len(y)), t]))

            def level(a, b, own=own, nn=nn):
                return float(np.average(own[a:b], weights=nn[a:b]))

            yield str(aid), m, d[ok], level
            continue
        K = K_all[lo:hi]
        k = k_all[lo:hi]
        pk, pn = K - k, N - n
        ok = pn > 0
        if ok.sum() < 2 or k[ok].sum() == 0:
            continue
        rate = np.clip((pk[ok] + 0.5) / (pn[ok] + 1.0), 1e-6, 1 - 1e-6)
        off = np.log(rate / (1 - rate))
        kk, nn = k[ok], n[ok]
        m = _Model("binom", kk, nn, np.ones((int(ok.sum()), 1)), off)

        def level(a, b, kk=kk, nn=nn):
            return float(kk[a:b].sum() / nn[a:b].sum())

        yield str(aid), m, d[ok], level


def _agent_rows(models: list, *, metric_of, min_seg: int, alpha: float, rng, n_boot: int,
                max_boot: int, max_changes: int, n_ci: int, bh: bool, source: str) -> list[dict]:
    """Gate every agent series (best single step, bootstrap p), BH across them when
    ``bh``, then date the steps of the series that pass (``_steps``)."""
    gates = []
    for aid, metric, m, dates, level in models:
        if m.T < 2 * min_seg + 2:
            continue
        idx, stat, p, nb = _global_scan_pvalue(m, min_seg=min_seg, rng=rng, n_boot=n_boot,
                                               max_boot=max_boot)
        gates.append((aid, metric, m, dates, level, idx, p))
    if not gates:
        return []
    p = np.array([g[6] for g in gates])
    q = _bh(p) if bh else p
    rows = []
    for (aid, metric, m, dates, level, idx, _p), qq in zip(gates, q, strict=True):
        if qq > alpha:
            continue
        res = _steps(m, dates, min_seg=min_seg, max_changes=max_changes, alpha=alpha, rng=rng,
                     n_boot=n_boot, max_boot=max_boot, ci_level=0.9, n_ci=n_ci, pen=None,
                     level_fn=level, gate=(idx, float(qq)))
        for r in res.to_dict("records"):
            rows.append(dict(level="agent", agent_id=aid, metric=metric, date=r["date"],
                             date_lo=r["date_lo"], date_hi=r["date_hi"], before=r["before"],
                             after=r["after"], p_value=r["p_value"], source=source))
    return rows


def _cp_frame(rows: list[dict]) -> pd.DataFrame:
    cp = pd.DataFrame(rows, columns=CHANGEPOINT_COLUMNS)
    for c in ("date", "date_lo", "date_hi"):
        cp[c] = pd.to_datetime(cp[c])
    cp["agent_id"] = cp["agent_id"].astype(object).fillna("")
    return cp


def agent_steps(ctx: GamingContext, agents: list[str]) -> pd.DataFrame:
    """Dated steps in the daily short-call rate of the given agents, against their peers.

    For each agent with at least 14 days of calls: the series of their daily
    short calls (``talk_s < short_call_s``; only those the agent ended where
    ``ended_by`` has data and ``short_use_ended_by`` is not False) is modelled
    with the logit of the peers' rate that day as offset (so a center-wide
    drift, weekday cycle or crackdown cancels), and its steps are found and
    tested by the procedure of :func:`detect_steps` (gate: the agent's best
    single step; PELT candidates; local bootstrap tests; Holm; 90 % intervals
    for the dates). No correction across agents: the caller chose them (e.g.
    agents flagged for short calls) and wants to know *when*.

    Returns
    -------
    DataFrame with :data:`CHANGEPOINT_COLUMNS` (``level = "agent"``), only the
    steps with ``p_value <= alpha``.
    """
    if not agents:
        return _cp_frame([])
    s = float(short_call_s(ctx))
    use_eb = "ended_by" in ctx.columns and ctx.options.get("short_use_ended_by") is not False
    cond = f"talk_s < {s!r}" + (" AND ended_by = 'agent'" if use_eb else "")
    df = ctx.con.execute(
        f"""SELECT CAST(agent_id AS STRING) AS agent_id,
                   CAST(coalesce(answer_ts, arrival_ts) AS DATE) AS date,
                   count(*) AS n, count(*) FILTER (WHERE {cond}) AS k_short,
                   avg(talk_s + coalesce(hold_s, 0) + coalesce(acw_s, 0)) AS mean_handle
            FROM calls WHERE {HANDLED} GROUP BY ALL ORDER BY ALL"""
    ).df()
    if df.empty:
        return _cp_frame([])
    df["date"] = pd.to_datetime(df["date"])
    center = df.groupby("date", as_index=False).agg(n=("n", "sum"), k_short=("k_short", "sum"))
    want = {str(a) for a in agents}
    sub = df[df["agent_id"].isin(want)]
    days = sub.groupby("agent_id").size()
    sub = sub[sub["agent_id"].isin(days[days >= 14].index)]
    min_seg = int(option(ctx, "cp_min_segment_days", 7))
    models = [(aid, "short_call_rate", m, d, lv)
              for aid, m, d, lv in _peer_models(sub, center, "short_call_rate", "k_short")]
    rows = _agent_rows(models, metric_of=None, min_seg=min_seg,
                       alpha=float(option(ctx, "alpha", 0.05)),
                       rng=np.random.default_rng(seed(ctx, 29)), n_boot=199, max_boot=9_999,
                       max_changes=2, n_ci=199, bh=False, source="agent_steps")
    return _cp_frame(rows)


# ----------------------------------------------------------------------------- the check

_METRICS = [("short_call_rate", "k_short"), ("transfer_rate", "k_transfer")]


@CHECKS.register("changepoints")
def check_changepoints(ctx: GamingContext) -> CheckResult:
    """Dated steps in daily short-call rate, transfer rate and mean handle time.

    Center level: :func:`detect_steps` on the center's daily series, with a
    smooth trend (restricted cubic spline, one degree of freedom per 30 days
    plus one) and weekday effects in the null, so a gradual drift, a learning
    curve or a weekly cycle is not a step; Holm across the steps of all
    metrics. Agent level (agents with at least ``cp_min_agent_days`` days,
    default 40, of at least 5 calls): each agent's daily series against the
    peers' series that day (logit offset of the peers' rate, or the difference
    from the peers' mean handle time), so a center-wide change cancels; the
    best single step's bootstrap p-value per agent and metric, Benjamini-
    Hochberg across all agent series, then the steps of the series that pass
    (``p_value`` = the larger of the BH q-value and the Holm-adjusted local
    p-value). Only steps with ``p_value <= alpha`` are listed, each with a
    90 % interval for its date. Returns no flags, only the ``changepoints``
    table (:data:`CHANGEPOINT_COLUMNS`).

    Options: ``alpha``, ``cp_min_segment_days`` (7), ``cp_max_changes`` (3),
    ``cp_min_agent_days`` (40), ``cp_agents`` (True: agent-level steps), ``seed``.
    """
    name = "changepoints"
    if "talk_s" not in ctx.columns:
        return CheckResult(name=name, flags=empty_flags(), skipped="talk_s has no data")
    alpha = float(option(ctx, "alpha", 0.05))
    min_seg = int(option(ctx, "cp_min_segment_days", 7))
    max_changes = int(option(ctx, "cp_max_changes", 3))
    min_days = int(option(ctx, "cp_min_agent_days", 40))
    s = short_call_s(ctx)
    rng = np.random.default_rng(seed(ctx, 71))
    center, agents = _daily_series_both(ctx.con, short_s=s)
    center["date"] = pd.to_datetime(center["date"])
    agents["date"] = pd.to_datetime(agents["date"])
    agents["agent_id"] = agents["agent_id"].astype(str)
    has_transfer = bool(center["k_transfer"].sum())
    notes = []
    if not has_transfer:
        notes.append("no transferred calls: transfer-rate change points not computed")
    specs = [(m, c) for m, c in _METRICS if c != "k_transfer" or has_transfer]

    rows: list[dict] = []
    for metric, kc in specs + [("mean_handle_s", None)]:
        draw = int(rng.integers(2**31))  # drawn for every series: the others' seeds stay
        if kc == "k_short":
            # short_calls_change's seed for the same series (short_calls
            # .center_short_changepoints): its note and this list give one 90 % interval
            # (two bootstrap runs differed by a day on the Anonymous Bank's crackdown)
            draw = seed(ctx, 31)
        if kc is not None:
            res = detect_steps(center, kind="binom", k_col=kc, n_col="n",
                               min_segment_days=min_seg, max_changes=max_changes, alpha=alpha,
                               seed=draw)
        else:
            res = detect_steps(center, kind="gauss", mean_col="mean_handle", n_col="n",
                               min_segment_days=min_seg, max_changes=max_changes, alpha=alpha,
                               seed=draw)
        for r in res.to_dict("records"):
            rows.append(dict(level="center", agent_id="", metric=metric, date=r["date"],
                             date_lo=r["date_lo"], date_hi=r["date_hi"], before=r["before"],
                             after=r["after"], p_value=r["p_value"], source=name))
    if rows:  # Holm across the center's steps of all metrics
        adj = _holm(np.array([r["p_value"] for r in rows]))
        for r, a in zip(rows, adj, strict=True):
            r["p_value"] = float(a)
        rows = [r for r in rows if r["p_value"] <= alpha]

    n_tested = 0
    if flag_option(ctx, "cp_agents", True):
        ok = agents[agents["n"] >= 5]
        counts = ok.groupby("agent_id").size()
        eligible = counts[counts >= max(min_days, 2 * min_seg + 2)].index
        sub = agents[agents["agent_id"].isin(eligible)].dropna(subset=["mean_handle"])
        models = []
        for metric, kc in specs + [("mean_handle_s", "mean_handle")]:
            for aid, m, d, lv in _peer_models(sub, center, metric, kc):
                models.append((aid, metric, m, d, lv))
        n_tested = len(eligible)
        rows += _agent_rows(models, metric_of=None, min_seg=min_seg, alpha=alpha, rng=rng,
                            n_boot=99, max_boot=9_999, max_changes=2, n_ci=199, bh=True,
                            source=name)
    cp = _cp_frame(rows)
    notes.append(
        f"change points: center series tested against a smooth trend and weekday effects; "
        f"{n_tested} agents with >= {min_days} days of >= 5 calls tested against their "
        f"peers' daily series (BH across agent series); only steps at p <= {alpha:g} listed"
    )
    return CheckResult(name=name, flags=empty_flags(), changepoints=cp, notes=notes)
