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
    has_transfer = bool(
        ctx.con.execute(
            f"SELECT count(*) FILTER (WHERE outcome = 'transferred') FROM calls WHERE {HANDLED}"
        ).fetchone()[0]
    )
    notes = []
    if not has_transfer:
        notes.append("no transferred calls: transfer-rate change points not computed")

    def run(daily: pd.DataFrame, scope: str, *, agent: bool) -> list[dict]:
        out = []
        specs = [("short_call_rate", "k_short")]
        if has_transfer:
            specs.append(("transfer_rate", "k_transfer"))
        kw = dict(
            min_segment_days=min_seg,
            max_changes=1 if agent else max_changes,
            alpha=1.0 if agent else alpha,
            seed=rng_seed,
            # agent series: fewer permutations (p resolution 1e-4 is enough for BH
            # across a few hundred series; the center series get 5e-5)
            n_perm=499 if agent else 999,
            max_perm=9_999 if agent else 19_999,
        )
        for metric, kc in specs:
            if daily[kc].sum() == 0:
                continue
            res = detect_changepoints(daily, k_col=kc, n_col="n", **kw)
            out += [dict(scope=scope, metric=metric, **r) for r in res.to_dict("records")]
        res = detect_changepoints_mean(daily, mean_col="mean_handle", n_col="n", **kw)
        out += [dict(scope=scope, metric="mean_handle_s", **r) for r in res.to_dict("records")]
        return out

    center = center_daily_series(ctx.con, short_s=s)
    rows = run(center, "center", agent=False) if len(center) >= 2 * min_seg else []
    for r in rows:
        r["q_value"] = np.nan

    agents = center_daily_series(ctx.con, short_s=s, by_agent=True)
    agents = agents[agents["n"] >= 5]
    counts = agents.groupby("agent_id").size()
    eligible = counts[counts >= max(min_days, 2 * min_seg)].index
    arow: list[dict] = []
    for aid in eligible:
        daily = agents[agents["agent_id"] == aid].drop(columns="agent_id")
        arow += run(daily, str(aid), agent=True)
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
