"""Shared internals of the gaming-signature checks (helper D2's modules).

* SQL fragments (period label, handled-call filter) so every check groups calls
  the same way;
* :func:`empty_flags` / :func:`make_flags` to build :data:`FLAG_COLUMNS` tables;
* :func:`peer_contrast_pvalues`: the robust "agent against peers" test used by
  the continuous checks (handle inflation, early transfers, end of day, repeat
  and survey contrasts).

The peer test
-------------
Each agent ``i`` has an estimate ``d_i`` (a mean, or a within-agent contrast)
with a sampling standard error ``se_i``. Honest agents differ by more than
sampling noise (skill, tenure, case mix), so the null model is the random-effects
model ``d_i = mu + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` (honest between-agent
spread) and ``e_i ~ N(0, se_i^2)``. ``mu`` is estimated by the median of the
``d_i`` and ``tau^2`` robustly (:func:`robust_center_scale`: the ``tau^2`` at
which the standardised residuals have a scaled median absolute deviation of 1,
a robust Paule-Mandel estimate that weighs precise and noisy agents correctly);
so a few gaming agents move neither.
The agent's score is ``z_i = (d_i - mu) / sqrt(tau^2 + se_i^2)``.

Because ``mu`` and ``tau`` are estimated from a limited number of peers, ``z_i``
is heavier-tailed than N(0, 1) (using the normal tail was anti-conservative
with 20 peers). The p-value therefore comes from a parametric bootstrap of the
whole procedure under the fitted null: draw ``d*_i = u*_i + e*_i``, re-estimate
``mu*``, ``tau*`` and recompute every ``z*_i``; ``p_i`` is the share of all
bootstrap ``z*`` (pooled over agents, they are pivotal) at least ``z_i``.

The honest spread ``u_i`` need not be normal: :func:`peer_spread` chooses, once for
all the peer groups of a test, a Student t for it from the parts of the groups
gamers cannot shape, their lower halves and upper shoulders (:mod:`._peert`; option
``peer_tails``: ``auto`` keeps the normal unless those reject it, ``t``, ``normal``),
and the bootstrap then draws ``u*`` from that
t scaled to the robust ``tau``. Honest agents whose habits are heavy-tailed are then
not scored against a normal tail they were never drawn from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_SEED, DEFAULT_SHORT_CALL_S
from ..escape import sql_string
from ._base import FLAG_COLUMNS, CheckResult, GamingContext, canonical_period, dialect_of
from ._peert import TAILS as PEER_TAILS
from ._peert import choose_peer_nu, draw_spread, spread_note

__all__ = [
    "HANDLED",
    "novice_flags",
    "period_sql",
    "period_folds",
    "fold_note",
    "STUB_SHARE",
    "empty_flags",
    "make_flags",
    "skipped",
    "peer_contrast_pvalues",
    "robust_center_scale",
    "fisher_combine",
    "option",
    "flag_option",
    "has_nonzero",
    "run_cache",
    "cached_df",
    "peer_spread",
    "peer_tails",
    "peer_tails_skip",
    "peer_test_by_period",
    "stratified_peer_test",
    "log_odds_ratio",
    "short_call_s",
    "seed",
]

#: SQL filter for calls an agent handled.
HANDLED = (
    "outcome IN ('answered', 'transferred') AND agent_id IS NOT NULL AND talk_s IS NOT NULL"
)

_MAD = 1.482602218505602  # 1 / Phi^-1(3/4)


def moderated(v, d, v0, d0):
    """Empirical-Bayes moderated variance (Smyth 2004): ``(d0 v0 + d v) / (d0 + d)``, an
    estimate ``v`` on ``d`` degrees of freedom shrunk towards a prior ``v0`` worth ``d0``."""
    return (d0 * v0 + d * v) / (d0 + d)


def option(ctx: Any, name: str, default: Any) -> Any:
    """``ctx.options[name]`` when set (not None), else ``default``."""
    val = (ctx.options or {}).get(name)
    return default if val is None else val


#: The words a yes/no option takes (case-insensitive); the CLI refuses others up front.
TRUE_WORDS = ("true", "yes", "1", "on")
FALSE_WORDS = ("false", "no", "0", "off")


def flag_option(ctx: Any, name: str, default: bool) -> bool:
    """A yes/no option (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`, case-insensitive)."""
    val = option(ctx, name, default)
    if isinstance(val, str):
        low = val.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        from ..errors import ConfigError

        raise ConfigError(f"option {name}: {val!r} is not true or false")
    return bool(val)


def peer_tails(ctx: Any) -> str | None:
    """The ``peer_tails`` option (``auto`` unless given), or None when it is not one of
    :data:`._peert.TAILS` (the check then skips with :func:`peer_tails_skip`)."""
    v = str(option(ctx, "peer_tails", "auto"))
    return v if v in PEER_TAILS else None


def peer_tails_skip(name: str, ctx: Any) -> CheckResult:
    """The skip of a check given a ``peer_tails`` word it does not know."""
    return skipped(name, f"peer_tails must be one of {', '.join(PEER_TAILS)}, not "
                   f"{option(ctx, 'peer_tails', 'auto')!r}")


def short_call_s(ctx: Any) -> float:
    return float(option(ctx, "short_call_s", DEFAULT_SHORT_CALL_S))


def seed(ctx: Any, salt: int = 0) -> int:
    return int(option(ctx, "seed", DEFAULT_SEED)) + salt


#: A first or last period whose calls fall on fewer than this share of the days of the
#: fullest period is a *stub* (data that start or end a few days into a month), and
#: its calls are judged with the neighbouring period's (:func:`period_folds`).
STUB_SHARE = 0.25


def _granularity(ctx: Any) -> str:
    return canonical_period(option(ctx, "period", "month"))


def period_folds(ctx: Any) -> dict[str, tuple[str, int]]:
    """Stub periods at either end of the data: ``{stub label: (neighbour label, days)}``.

    A peer test of a stub judges agents on a day or two of calls, often a quiet one
    (a holiday that starts the month) with a fraction of the agents: the honest
    between-agent spread, estimated from those few calls, drowns in their sampling
    error and comes out near zero, so an agent's ordinary habit (a high transfer rate
    the full months rate as ordinary, p = .05) becomes "significant" on the stub
    (an outside world's 1-day May with 21 agents working: p = 1.6e-7, the agent
    flagged). So the first and the last period, when their calls fall on fewer than
    :data:`STUB_SHARE` of the days of the fullest period, are merged into the next
    (previous) period: the label of the neighbour is used for their calls by every
    check that labels calls with :func:`period_sql`. Periods of ``day``, ``all``, or a
    single period are never folded. The OKR check keeps its own period (the OKR period,
    ``okr_period``, by default the last label even when it is short: a target is judged
    where it ends). Computed once per run (:func:`run_cache`).
    """
    g = _granularity(ctx)
    if g not in ("month", "week", "quarter", "year") or not hasattr(ctx, "con"):
        return {}
    cache = run_cache(ctx)
    key = ("period_folds", g)
    if key in cache:
        return cache[key]
    ts = "coalesce(answer_ts, arrival_ts)"
    df = ctx.con.execute(
        f"SELECT {dialect_of(ctx).period_label(g, ts)} AS per, "
        f"count(DISTINCT CAST({ts} AS DATE)) AS days FROM calls "
        f"WHERE {ts} IS NOT NULL GROUP BY 1 ORDER BY 1").df()
    labels = [str(x) for x in df["per"]]
    days = [int(x) for x in df["days"]]
    folds: dict[str, tuple[str, int]] = {}
    if len(labels) >= 2:
        full = max(days)
        if days[0] < STUB_SHARE * full:
            folds[labels[0]] = (labels[1], days[0])
        if days[-1] < STUB_SHARE * full:
            folds[labels[-1]] = (labels[-2], days[-1])
    cache[key] = folds
    return folds


def fold_note(folds: dict[str, tuple[str, int]]) -> str:
    """One sentence on the stub periods folded into their neighbours (empty if none)."""
    if not folds:
        return ""
    parts = [f"{k} ({d} day{'s' if d != 1 else ''} of data) is counted with {v}"
             for k, (v, d) in folds.items()]
    return ("period " + "; ".join(parts) + ": a period of a few days cannot tell an "
            "agent's habit from those days' noise")


def period_sql(ctx: Any, ts: str = "coalesce(answer_ts, arrival_ts)") -> str:
    """SQL expression for the period label of a call (in the context's SQL dialect).

    ``ctx.options["period"]``: ``month`` (default, ``YYYY-MM``), ``week``
    (ISO ``YYYY-Www``), ``quarter`` (``YYYY-Qn``), ``year``, ``day`` or ``all``.
    A stub first or last period takes its neighbour's label (:func:`period_folds`).
    """
    p = _granularity(ctx)
    if p in ("month", "week", "quarter", "year", "day"):
        lab = dialect_of(ctx).period_label(p, ts)
        folds = period_folds(ctx)
        if not folds:
            return lab
        cases = " ".join(f"WHEN {sql_string(k)} THEN {sql_string(v)}"
                         for k, (v, _) in folds.items())
        return f"(CASE {lab} {cases} ELSE {lab} END)"
    if p == "all":
        return "'all'"
    from ..errors import ConfigError

    raise ConfigError(f"unknown period {p!r} (month, week, quarter, year, day or all)")


def has_nonzero(ctx: Any, column: str) -> bool:
    """True when ``column`` is a contract column with data and some non-zero value."""
    if column not in ctx.columns:
        return False
    # the first such row settles it (no full scan)
    row = ctx.con.execute(
        f"SELECT 1 FROM calls WHERE {HANDLED} AND coalesce({column}, 0) <> 0 LIMIT 1"
    ).fetchone()
    return row is not None


def run_cache(ctx: Any) -> dict:
    """A dict the checks of one run share (a table several checks aggregate alike).

    Every check of a run gets the same ``ctx.options`` dict (the runner gives
    each its own cursor, not its own options); the cache is kept there under
    ``_cache`` (options starting with ``_`` are not reported). Key entries by
    everything that shapes them (e.g. the SQL text). A context without an
    options dict gets a fresh dict: nothing is shared.
    """
    opts = getattr(ctx, "options", None)
    if not isinstance(opts, dict):
        return {}
    return opts.setdefault("_cache", {})


def run_once(ctx: Any, key: tuple, make: Any) -> Any:
    """``make()``, computed once per run under ``key`` in :func:`run_cache`.

    Checks run two at a time (:mod:`.runner`): without a lock, two checks asking for the
    same table together both missed the cache and both computed it (the bunching
    histograms were fetched three or four times a run). Each key has its own lock, so a
    second caller waits for the first one's value; ``make`` may itself ask for other keys
    (never, along any chain, for the one it is making).
    """
    cache = run_cache(ctx)
    if key in cache:
        return cache[key]
    lock = cache.setdefault(("_lock", key), threading.Lock())  # atomic: one lock per key
    with lock:
        if key not in cache:
            cache[key] = make()
    return cache[key]


def cached_df(ctx: Any, sql: str, params=None) -> pd.DataFrame:
    """``ctx.con.execute(sql, params).df()``, run once per run (:func:`run_once`); a copy."""
    key = ("sql", sql, None if params is None else repr(sorted(params.items())
                                                        if isinstance(params, dict) else params))

    def make() -> pd.DataFrame:
        cur = ctx.con.execute(sql, params) if params is not None else ctx.con.execute(sql)
        return cur.df()
    return run_once(ctx, key, make).copy()


def empty_flags() -> pd.DataFrame:
    """A flags table with :data:`FLAG_COLUMNS` and no rows."""
    return make_flags([])


def make_flags(rows: Iterable[dict]) -> pd.DataFrame:
    """Build a flags table from dicts with the :data:`FLAG_COLUMNS` keys."""
    df = pd.DataFrame(list(rows), columns=FLAG_COLUMNS)
    df["agent_id"] = df["agent_id"].astype("string")
    df["period"] = df["period"].astype("string")
    df["check"] = df["check"].astype("string")
    df["effect"] = pd.to_numeric(df["effect"]).astype(float)
    df["effect_unit"] = df["effect_unit"].astype("string")
    df["p_value"] = pd.to_numeric(df["p_value"]).astype(float)
    df["n"] = pd.to_numeric(df["n"]).astype("Int64")
    df["k"] = pd.to_numeric(df["k"]).astype("Int64")
    df["detail"] = df["detail"].astype("string")
    return df.sort_values(["period", "agent_id"], kind="stable").reset_index(drop=True)


def skipped(name: str, reason: str) -> CheckResult:
    """A :class:`CheckResult` for a check that could not run."""
    return CheckResult(name=name, flags=empty_flags(), skipped=reason)


def _weighted_median_above(x: np.ndarray, w: np.ndarray, c: float, *,
                           out: np.ndarray | None = None) -> np.ndarray:
    """``_weighted_median(x, w) > c`` along the last axis (keepdims), without sorting.

    The weighted median exceeds ``c`` when the values at most ``c`` carry less than
    half the weight; when they carry exactly half, the median is the mean of the
    largest of them and the smallest value above ``c`` (the sorted weighted median, as
    ``tests/test_gaming_peer_test.py`` computes it, is the reference).
    Linear in the row length where the median itself needs a sort: the bisection of
    :func:`robust_center_scale` asks only this, 25 times per peer group and bootstrap
    replicate. ``out``: scratch space of ``x``'s shape (the bisection reuses one)."""
    le = x <= c
    half = 0.5 * w.sum(axis=-1, keepdims=True)
    w_le = np.multiply(w, le, out=out).sum(axis=-1, keepdims=True)  # w where x <= c, else 0
    below = w_le < half * (1 - 1e-12)
    hit = np.abs(w_le - half) <= 1e-12 * half
    if not hit.any():
        return below
    lo = np.where(le, x, -np.inf).max(axis=-1, keepdims=True)
    hi = np.where(le, np.inf, x).min(axis=-1, keepdims=True)
    hi = np.where(np.isfinite(hi), hi, lo)  # nothing above c: the median is lo
    return below | (hit & (0.5 * (lo + hi) > c))


def robust_center_scale(d: np.ndarray, se2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and between-agent variance ``tau^2`` along the last axis.

    ``tau^2`` is a robust Paule-Mandel estimate: the value at which the standardised
    residuals ``r_i = (d_i - median) / sqrt(tau^2 + se_i^2)`` have a scaled median
    absolute value of 1, the median weighted by each agent's share of between-agent
    variance ``tau^2 / (tau^2 + se_i^2)`` (at ``tau^2 = 0``: by ``1 / se_i^2``), so the
    agents whose spread says something about ``tau`` decide it. ``tau^2 = 0`` when the
    residuals' scale is below 1 at 0. With equal ``se`` this is ``MAD^2 - se^2``.

    Why: a queue's peer group mixes agents whose main queue it is (small ``se``) with
    agents who take a few of its calls (large ``se``); a short last period does the
    same. The former ``MAD^2 - median(se^2)`` was driven by the noisy agents, came out
    near 0 and scored the precise agents' ordinary habits at z = 5 (150x nominal at .001,
    ``tests/test_gaming_peer_test.py``); an unweighted median of the ``r_i`` still left
    10x at .001 when the noisy agents' ``se`` was twice ``tau``.

    The root is found by bisection on ``[0, MAD^2]``, 24 steps.

    References: Paule, R. C. & Mandel, J. (1982). Consensus values and weighting
    factors. *J. Res. NBS* 87, 377-385; Rousseeuw & Croux (1993) for the MAD.
    """
    d = np.asarray(d, float)
    se2 = np.broadcast_to(np.asarray(se2, float), d.shape)
    mu = np.median(d, axis=-1, keepdims=True)
    dev = np.abs(d - mu)
    hi = (_MAD * np.median(dev, axis=-1, keepdims=True)) ** 2
    lo = np.zeros_like(hi)

    # scratch arrays of d's shape, reused by the 25 steps (the same arithmetic as
    # w = 1 / (t2 + se2); share = where(t2 > 0, t2 * w, w); x = dev * sqrt(w), without
    # allocating a fresh array, and its page faults, for every operation)
    w, x, scratch = np.empty(d.shape), np.empty(d.shape), np.empty(d.shape)

    def scale_above_one(t2: np.ndarray) -> np.ndarray:
        """Is the share-weighted scaled median of the standardised residuals above 1?"""
        np.divide(1.0, np.add(t2, se2, out=w), out=w)
        np.multiply(dev, np.sqrt(w, out=x), out=x)
        share = np.multiply(w, t2, out=w, where=np.broadcast_to(t2 > 0, w.shape))
        return _weighted_median_above(x, share, 1.0 / _MAD, out=scratch)

    positive = scale_above_one(lo)
    if not positive.any():
        return mu, lo
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        above = scale_above_one(mid)
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return mu, np.where(positive, 0.5 * (lo + hi), 0.0)


def peer_contrast_pvalues(
    d: np.ndarray,
    se: np.ndarray,
    *,
    n_boot: int | None = None,
    rng: np.random.Generator | None = None,
    nu: float = np.inf,
    se_df: np.ndarray | None = None,
    se_floor: np.ndarray | None = None,
) -> pd.DataFrame:
    """Robust agent-vs-peers z-scores and parametric-bootstrap p-values (one-sided, greater).

    Parameters
    ----------
    d, se
        Per-agent estimate and its sampling standard error (same length, the
        agents of one peer group, e.g. one period).
    n_boot
        Bootstrap replicates; default so that ``n_boot * len(d) >= 200_000``.
    rng
        Random generator.
    nu
        The honest spread the bootstrap draws: normal with the robust ``tau``
        (``nu = inf``, the default), or a Student t on ``nu`` degrees of freedom
        (:mod:`._peert`, chosen from the peers' lower halves and upper shoulders) scaled to the same
        robust ``tau`` (its quartiles where the normal's would be, which is what
        the robust ``tau`` measures). The score ``z`` is the same either way.
    se_df
        Degrees of freedom of each ``se`` where it is itself an estimate from few
        units (a day-clustered SE from ``D`` days: ``D - 1``); ``inf`` or ``None``:
        known. Each bootstrap replicate then draws its own estimate,
        ``se*^2 = se^2 chi2(df) / df`` (the sampling error itself stays ``N(0, se^2)``),
        and standardises with it, as the observed ``z`` was: the reference of an agent
        whose ``z`` is mostly its own sampling error becomes a Student ``t`` on ``df``
        instead of the normal. The clustered-SE t reference: Cameron, A. C. & Miller,
        D. L. (2015). A practitioner's guide to cluster-robust inference. *J. Human
        Resources* 50, 317-372 (section VI: ``G - 1`` df).
    se_floor
        With ``se_df``: where ``se`` is the larger of an estimate on ``se_df`` df and a
        floor taken as known (the SE with calls independent), the replicate's estimate is
        ``max(se_floor^2, se^2 chi2(df) / df)``, as the observed one was.

    Returns
    -------
    DataFrame with one row per input, columns ``z`` (robust z-score), ``p_value``
    (share of bootstrap ``z*`` >= ``z``), ``center`` (median of ``d``) and
    ``tau`` (estimated honest between-agent SD).
    """
    d = np.asarray(d, float)
    se = np.asarray(se, float)
    m = d.size
    rng = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
    if m == 0:
        return pd.DataFrame({"z": [], "p_value": [], "center": [], "tau": []})
    se2 = np.maximum(se**2, 1e-12)
    mu, tau2 = robust_center_scale(d, se2)
    mu, tau2 = float(mu[0]), float(tau2[0])
    z = (d - mu) / np.sqrt(tau2 + se2)
    if n_boot is None:
        n_boot = int(np.clip(np.ceil(200_000 / m), 500, 20_000))
    # a t's scale whose quartiles are the normal's of sd tau (1 for the normal)
    t_scale = 1.0
    if np.isfinite(nu):
        from scipy import stats

        t_scale = float(stats.norm.ppf(0.75) / stats.t.ppf(0.75, nu))
    # an estimated se (se_df): which agents' se each replicate draws anew, their df, and
    # the known floor every replicate's se keeps
    k = np.broadcast_to(np.asarray(np.inf if se_df is None else se_df, float), (m,))
    drawn = np.isfinite(k) & (k > 0)
    k = k[drawn]
    floor2 = np.maximum(np.broadcast_to(
        np.asarray(0.0 if se_floor is None else se_floor, float), (m,)) ** 2, 1e-12)
    zs = []
    chunk = max(1, 2_000_000 // max(m, 1))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        spread = draw_spread(rng, (b, m), np.sqrt(tau2) * t_scale, nu)
        dstar = spread + rng.standard_normal((b, m)) * np.sqrt(se2)
        se2s = se2[None, :]
        if drawn.any():  # the replicate's own estimate of each such se (see se_df)
            ratio = np.ones((b, m))
            ratio[:, drawn] = rng.chisquare(k, size=(b, k.size)) / k
            se2s = np.maximum(se2s * ratio, floor2[None, :])
        mus, tau2s = robust_center_scale(dstar, se2s)
        zs.append((dstar - mus) / np.sqrt(tau2s + se2s))
        done += b
    zstar = np.concatenate(zs, axis=0)  # (n_boot, m): column j holds agent j's z*
    p = _pooled_tail(z, zstar, tau2 / (tau2 + se2))
    return pd.DataFrame({"z": z, "p_value": p, "center": mu, "tau": np.sqrt(tau2)})


#: Agents whose share of between-agent variance, ``tau^2 / (tau^2 + se^2)``, is within
#: this distance of an agent's share its bootstrap reference pools.
PRECISION_BAND = 0.1


def _pooled_tail(z: np.ndarray, zstar: np.ndarray, share: np.ndarray) -> np.ndarray:
    """p-values ``P(z* >= z_i)`` from the bootstrap ``z*`` of agents of similar precision.

    ``z*`` is not the same for every agent: a precise agent's score depends mostly on
    the estimated ``tau`` (heavy-tailed with few peers), a noisy agent's mostly on its
    own sampling error (nearly normal). Pooling all agents' ``z*`` gave precise agents
    too light a tail (2x nominal at .001 beside noisy peers); pooling only agents whose
    variance share is within :data:`PRECISION_BAND` keeps the fine resolution of a
    pooled reference where agents are alike (all of them, with equal ``se``).
    """
    n_boot, m = zstar.shape
    # Counted, not searched: with the agents in order of share, an agent's pool is a run
    # of neighbours [lo, hi), so its count of z* >= z_i is a difference of two prefix
    # sums (over agents in share order) of a table "replicates of agent j at least the
    # r-th smallest z". The counts are integers: the p-values are exactly those of the
    # agent-by-agent comparison (``tests/test_gaming_peer_test.py`` keeps it as the
    # reference).
    by_z = np.argsort(z, kind="stable")
    rank = np.empty(m, dtype=np.intp)
    rank[by_z] = np.arange(m)
    by_share = np.argsort(share, kind="stable")
    # above[j, b]: how many z_i are at most agent j's b-th z* (z* >= z_i <=> rank_i < above);
    # each agent's z* sorted first, so the search runs through z in order
    above = np.searchsorted(z[by_z], np.sort(zstar.T[by_share], axis=1), side="right")
    acc = np.int32 if n_boot * m < 2**31 else np.int64  # counts up to n_boot * m
    cnt = np.bincount((above + (m + 1) * np.arange(m)[:, None]).ravel(),
                      minlength=(m + 1) * m)
    cnt = cnt.reshape(m, m + 1).T.astype(acc)  # cnt[r, j]: agent j's z* with above == r
    del above
    # pooled[r, j]: replicates of agents 0..j (share order) at least the r-th smallest z
    pooled = np.cumsum(cnt[:0:-1], axis=0, dtype=acc)[::-1]
    del cnt
    np.cumsum(pooled, axis=1, dtype=acc, out=pooled)
    sorted_share = share[by_share]
    band = PRECISION_BAND + 1e-12
    # the pool of agent i: |share_i - share_j| <= band, a run [lo, hi) in share order
    lo = _first_false(lambda i, k: share[i] - sorted_share[k] > band, m)
    hi = _first_false(lambda i, k: sorted_share[k] - share[i] <= band, m)
    upto_hi = pooled[rank, hi - 1].astype(np.int64)
    below_lo = np.where(lo > 0, pooled[rank, np.maximum(lo - 1, 0)], 0)
    return (1.0 + (upto_hi - below_lo)) / (1.0 + n_boot * (hi - lo))


def _first_false(pred, m: int) -> np.ndarray:
    """Per row ``i < m``: the first ``k`` in ``0..m`` with ``pred(i, k)`` false, for a
    predicate true then false along ``k`` (bisection, all rows at once)."""
    rows = np.arange(m)
    lo = np.zeros(m, dtype=np.intp)
    hi = np.full(m, m, dtype=np.intp)
    while (act := lo < hi).any():
        mid = (lo + hi) // 2
        t = pred(rows, np.minimum(mid, m - 1))
        lo = np.where(act & t, mid + 1, lo)
        hi = np.where(act & ~t, mid, hi)
    return lo


def fisher_combine(*ps: np.ndarray) -> np.ndarray:
    """Fisher's combination of independent p-values (NaN entries are left out)."""
    from scipy import stats

    arr = np.vstack([np.asarray(p, float) for p in ps])
    ok = ~np.isnan(arr)
    stat = -2.0 * np.where(ok, np.log(np.clip(arr, 1e-300, 1.0)), 0.0).sum(axis=0)
    dof = 2 * ok.sum(axis=0)
    out = np.full(arr.shape[1], np.nan)
    good = dof > 0
    out[good] = stats.chi2.sf(stat[good], dof[good])
    return out


def peer_spread(groups: list[pd.DataFrame], tails: str = "auto") -> tuple[float, str]:
    """The honest spread's shape for one test's peer groups: ``(nu, note)``.

    One ``nu`` for all the groups, from their lower halves and upper shoulders
    (:func:`._peert.choose_peer_nu`; ``tails``: ``auto``, ``normal`` or ``t``). Each
    group's scale stays its robust ``tau`` (:func:`peer_contrast_pvalues`): a censored
    fit's own scale is too noisy in a queue of a dozen agents (it can
    collapse towards 0 and make the bootstrap's tail lighter than the normal's).
    """
    if not groups:
        return np.inf, spread_note(np.inf, tails)
    d = np.concatenate([g["d"].to_numpy(float) for g in groups])
    se = np.concatenate([g["se"].to_numpy(float) for g in groups])
    grp = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    nu, _ = choose_peer_nu(d, se, grp, tails)
    return nu, spread_note(nu, tails)


def _test_groups(groups: list[pd.DataFrame], rng, tails: str):
    """:func:`peer_contrast_pvalues` in each group (rows indexed as the group's), under
    the one spread :func:`peer_spread` chooses for them all; and that choice's note."""
    nu, note = peer_spread(groups, tails)
    results = []
    for g in groups:
        res = peer_contrast_pvalues(g["d"].to_numpy(), g["se"].to_numpy(), rng=rng, nu=nu,
                                    se_df=g["se_df"].to_numpy(float) if "se_df" in g else None,
                                    se_floor=(g["se_floor"].to_numpy(float)
                                              if "se_floor" in g else None))
        res.index = g.index
        results.append(res)
    return results, [note] if groups else []


def peer_test_by_period(
    df: pd.DataFrame,
    *,
    min_peers: int = 8,
    rng: np.random.Generator | None = None,
    by: str = "period",
    tails: str = "auto",
) -> tuple[pd.DataFrame, list[str]]:
    """Run :func:`peer_contrast_pvalues` within each ``by`` group of ``df``.

    ``df`` needs ``agent_id``, ``by``, ``d`` and ``se`` (and may have ``se_df``, the
    degrees of freedom of an estimated ``se``, and ``se_floor``:
    :func:`peer_contrast_pvalues`). Groups with fewer than
    ``min_peers`` agents are left out (named in the returned notes). The honest
    spread's shape (``tails``) is chosen once for all groups (:func:`peer_spread`).

    Returns
    -------
    (table, notes): ``df``'s rows that were tested plus ``z``, ``p_value``,
    ``center``, ``tau``; and a list of notes.
    """
    rng = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
    notes = []
    ok = np.isfinite(df["d"].to_numpy(float)) & np.isfinite(df["se"].to_numpy(float))
    df = df[ok]
    groups = []
    for key, g in df.groupby(by, sort=True):
        if len(g) < min_peers:
            notes.append(f"{by} {key}: only {len(g)} agents qualify (< {min_peers}); not tested")
            continue
        groups.append(g)
    results, n_spread = _test_groups(groups, rng, tails)
    notes += n_spread
    out = [pd.concat([g, res], axis=1) for g, res in zip(groups, results, strict=True)]
    if not out:
        cols = list(df.columns) + ["z", "p_value", "center", "tau"]
        return pd.DataFrame(columns=cols), notes
    return pd.concat(out), notes


def stratified_peer_test(
    cells: pd.DataFrame,
    *,
    min_peers: int = 8,
    min_cell: int = 30,
    rng: np.random.Generator | None = None,
    tails: str = "auto",
) -> tuple[pd.DataFrame, list[str]]:
    """Agent-vs-peers test within each queue x period, combined over an agent's queues.

    Honest spread between agents differs from queue to queue (hold is rare in
    one queue and routine in another), so each queue x period is its own peer
    group: :func:`peer_contrast_pvalues` on the cells with at least
    ``min_cell`` calls, in queue x period groups of at least ``min_peers``
    agents. The per-queue p-values are turned into normal scores and combined
    over the agent's queues by their call-weighted *mean* (not Stouffer's
    sum / sqrt(k)): an honest agent's habit is shared by all their queues, so
    the queue z-scores are positively correlated and Stouffer would multiply
    one honest trait into strong evidence; the mean is conservative when they
    are not. The honest spread's shape (``tails``) is chosen once for all
    queue x period groups (:func:`peer_spread`).

    Parameters
    ----------
    cells
        One row per ``agent_id, period, queue`` with ``n`` (calls), ``d`` (the
        agent's estimate in that queue) and ``se``.

    Returns
    -------
    (table, notes): per agent x period ``n`` (calls in tested cells),
    ``queues`` (tested), ``d_raw`` (call-weighted deviation from the queue
    medians), ``z`` (combined), ``p_value``.
    """
    from scipy import stats

    rng = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
    cols = ["agent_id", "period", "n", "queues", "d_raw", "z", "p_value"]
    c = cells[(cells["n"] >= min_cell) & np.isfinite(cells["d"]) & np.isfinite(cells["se"])]
    notes = []
    skipped_cells = 0
    groups = []
    for _key, g in c.groupby(["period", "queue"], sort=True):
        if len(g) < min_peers:
            skipped_cells += 1
            continue
        groups.append(g)
    results, n_spread = _test_groups(groups, rng, tails)
    notes += n_spread
    parts = [pd.concat([g[["agent_id", "period", "queue", "n", "d"]], res], axis=1)
             for g, res in zip(groups, results, strict=True)]
    if skipped_cells:
        notes.append(f"{skipped_cells} queue x period group(s) with fewer than {min_peers} "
                     f"agents of {min_cell}+ calls not tested")
    if not parts:
        return pd.DataFrame(columns=cols), notes
    t = pd.concat(parts)
    t["zc"] = stats.norm.isf(t["p_value"].clip(1e-300, 1.0))
    t["w"] = t["n"].astype(float)
    t["wz"] = t["w"] * t["zc"]
    t["wraw"] = t["n"] * (t["d"] - t["center"])
    g = t.groupby(["agent_id", "period"], sort=True).agg(
        n=("n", "sum"), queues=("queue", "size"), wz=("wz", "sum"), wraw=("wraw", "sum"),
        zmin=("zc", "min"), zmax=("zc", "max"),
    )
    g["z"] = g["wz"] / g["n"]
    g["p_value"] = stats.norm.sf(g["z"])
    g["d_raw"] = g["wraw"] / g["n"]
    return g.reset_index()[cols], notes


def log_odds_ratio(a1, n1, a0, n0, *, corr: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio of ``a1/n1`` against ``a0/n0`` and its Woolf standard error.

    Haldane–Anscombe correction: ``corr`` is added to every cell.
    """
    a1, n1, a0, n0 = (np.asarray(x, float) for x in (a1, n1, a0, n0))
    b1, b0 = n1 - a1, n0 - a0
    lor = np.log((a1 + corr) / (b1 + corr)) - np.log((a0 + corr) / (b0 + corr))
    se = np.sqrt(1 / (a1 + corr) + 1 / (b1 + corr) + 1 / (a0 + corr) + 1 / (b0 + corr))
    return lor, se


def novice_flags(ctx: GamingContext, periods: pd.DataFrame, novice_days: float) -> pd.Series | None:
    """``(agent_id, period) -> True`` for agents hired less than ``novice_days`` before the
    period's first call; None without a roster with ``hire_date``.

    ``periods`` has ``agent_id, period, start`` (the period's first day).
    """
    ro = ctx.roster
    if ro is None or len(ro) == 0 or "hire_date" not in ro.columns or "agent_id" not in ro.columns:
        return None
    hire = pd.to_datetime(ro["hire_date"], errors="coerce")
    hire = pd.Series(hire.to_numpy(), index=ro["agent_id"].astype(str)).dropna()
    if hire.empty:
        return None
    hire = hire[~hire.index.duplicated()]
    p = periods.copy()
    p["hire"] = p["agent_id"].map(hire)
    tenure = (pd.to_datetime(p["start"]) - p["hire"]).dt.days
    flag = (tenure < novice_days) & tenure.notna()
    return pd.Series(flag.to_numpy(), index=pd.MultiIndex.from_frame(p[["agent_id", "period"]]))
