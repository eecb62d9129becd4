"""Own-history step checks: padding or dumping that *starts* in the window
(checks ``acw_step``, ``hold_step`` and ``transfer_step``).

Why
---
The level checks (``acw_inflation``, ``hold_inflation``, ``transfer_dumping``)
compare an agent with same-queue peers. In real centers honest agents differ
by more than a 1.3x padding, so a padder whose honest habit is average is lost
among them (``benchmarks/results/gaming_calibration.md``: agent-level recall ~0
on messy worlds). Padding that starts *during* the window (an agent reacting to
a new handle-time target) leaves a step in the agent's own series relative to
the peers' same-day level; a center-wide drift, a weekday cycle or a busy day
moves the peers too and cancels.

Statistic
---------
Per agent x queue x day ``y = log(1 + mean seconds)`` (ACW; hold: see below) or the
empirical log transfer rate ``log((k + 1/2) / (n + 1/2))``, minus the median
``y`` of the queue's agents that day (cells with at least ``step_min_calls``
calls, default 5; a queue-day needs at least ``step_min_peers`` agents,
default 5). The agent's daily contrast ``x_t`` is the call-weighted mean over
their queues. Then, on the agent's ``T`` working days, a one-sided scan for a
single upward step:

``Z_k = (mean(x_{k+1..T}) - mean(x_{1..k})) / (s sqrt(1/k + 1/(T-k)))``,
``Z = max_k Z_k`` over splits with at least ``step_min_days`` days (default 7)
on each side: the likelihood-ratio (standardised CUSUM) scan of a mean shift
in Gaussian noise (Sen & Srivastava 1975; Worsley 1979).

Hold has two parts. A call is put on hold or not, and a hold lasts some time; padding
can raise either (hold more calls, or hold them longer), and one series of
``log(1 + mean seconds)`` mixes the rare long holds' noise into both. So ``hold_step`` scans
two daily series, each against the queue-day peers' median: the log-odds of a call being
held, ``log((h + 1/2) / (n - h + 1/2))``, and the mean log length of the held calls (cells
with 2 held calls, weighted by them); each gets its own scale, p-value and empirical
null, and the agent's p-value is their Cauchy combination (ACAT: valid whatever their
dependence; the row describes the part that stepped more clearly). On the outside worlds
(``benchmarks/worlds_outside.py``: half the hold padders multiply the probability of a
hold, half its length, by 1.4-2.0; 8 worlds, 14 padders starting mid-window) the share
below .001 rose from 17 % to 50 % (.01: 43 % -> 64 %), honest agents 0.66 / 0.64 / 0 x
nominal at .05 / .01 / .001; on a ``_sigsim`` world where three agents hold 1.3x as many
calls, p ~ 1e-4 against .01-.02 for the single series (``tests/test_gaming_ownhistory.py``).

Robustness. ``s`` is the MAD of the day-to-day differences divided by
``sqrt 2`` (a single step moves one difference only; a slow relative trend
barely moves any), moderated towards the median ``s`` of all agents with a
prior weight of ``D0 = 10`` degrees of freedom (Smyth 2004), so a short or
lucky-quiet series does not give a huge ``Z``. Days more than 3 ``s`` from the
agent's median are pulled in to that bound (Huber) before the scan, so one
wild day cannot make a step.

p-value (theoretical). The scan is studentised: ``Z`` is mapped to the normal
scale through a Student ``t`` with the moderated scale's degrees of freedom
(``D0`` plus 0.31 (T - 1): the MAD of differences' equivalent degrees of
freedom, by simulation). Its tail, below .02, is the
Siegmund approximation for the maximum of the standardised two-sample
statistic with the discrete-time overshoot correction ``nu`` (James, James &
Siegmund 1987; Siegmund & Yakir 2007, ch. 3):

``P(max Z_k > b) ~ b phi(b) / 2 * sum_k T / (k (T - k)) nu(b sqrt(T / (k (T - k))))``;

above .02, a Gaussian Monte Carlo of the same scan (4,000 series of the same
length, fixed seed; the approximation is poor in the bulk). Chosen over a
permutation of days because permutation p-values bottom out at ``1/B`` where
an FDR step across hundreds of agents needs 1e-4 and below, and over a block
bootstrap because with 61 days there are only ~9 weekly blocks.

p-value (reported). Real agent-day noise is heavier-tailed and may be
autocorrelated, which makes the theoretical null too narrow. So the scan's
z-scores across all agents are checked against their empirical null (Efron
2004, :mod:`._empnull`: location, scale and tail weight from the bulk, where
gamers are few; a heavy tail only when the bootstrap's 20th percentile of the
tail ratio exceeds a normal's) and each p-value is the larger of the theoretical and
empirical-null one (option ``step_empirical_null``, default True; needs
``step_null_min`` agents, default 50, else the theoretical p-value is used and
a note says so). The null is fitted to the scans it does not itself put below .01
(refitted until stable from a normal start; option ``step_null``, default ``trimmed``):
when many agents start padding at once (a new target; 10 % of the agents) they would
otherwise be the 95th percentile the tail weight is read from, and the heavy tail they
made would hide them all (an outside world with 10 % of its agents padding wrap-up by
1.4x from mid-window: none below .001 with the null fitted to every scan, 0.67
trimmed).

One row per agent, period ``all`` (a step is about the whole window), with the
step date, the size (after over before, relative to same-day peers) and a
change point (interface B: the level relative to the peers', 1 before the step) for
agents whose step survives Benjamini-Hochberg across the agents at alpha. In the agent-level
decision each step check is its own *signature* (:mod:`._agents`): were it
pooled with the level check by Stouffer's sum, a strong step (z = 5) and a
neutral level (z = 0) would give z = 3.5; as its own signature it enters the
equal-weight Cauchy combination across signatures undiluted.

What it cannot see: padding in place from the first day (no step; the level
checks are the only chance, and honest slow agents look the same); padding
that starts in the first or last ``step_min_days`` days; a gradual ramp (the
scan catches part of it, at lower power); padding adopted by a whole queue on
the same day (the peers' median moves with it: see :mod:`.changepoints` for
center-level steps); an agent who moves to slower work (a new queue, harder
cases) mid-window looks like a padder: read ``detail``.

References
----------
Sen, A. & Srivastava, M. S. (1975). On tests for detecting change in mean.
*Ann. Statist.* 3(1), 98-108.
Worsley, K. J. (1979). On the likelihood ratio test for a shift in location of
normal populations. *JASA* 74, 365-367.
James, B., James, K. L. & Siegmund, D. (1987). Tests for a change-point.
*Biometrika* 74(1), 71-83.
Siegmund, D. & Yakir, B. (2007). *The Statistics of Gene Mapping*. Springer
(the ``nu`` function).
Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing
differential expression in microarray experiments. *SAGMB* 3(1), art. 3.
Efron, B. (2004). Large-scale simultaneous hypothesis testing: the choice of a
null hypothesis. *JASA* 99(465), 96-104.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigError
from ._base import CHECKS, CheckResult, GamingContext
from ._combine import strongest_with_acat
from ._empnull import calibrate_pvalues, fit_empirical_null
from ._fdr import bh_qvalues
from ._sigutil import HANDLED, cached_df, flag_option, make_flags, moderated, option, skipped

__all__ = ["check_acw_step", "check_hold_step", "check_transfer_step", "daily_contrasts",
           "step_scan", "scan_pvalue", "siegmund_tail", "StepScan", "D0"]

#: prior degrees of freedom of the pooled daily scale (moderated per-agent scale)
D0 = 10.0
#: equivalent degrees of freedom per day of the MAD-of-differences scale: its SD on 61
#: Gaussian days is 0.163 (simulation), that of a chi-square scale with 0.31 x 60 df
_MAD_EFF = 0.31
_HUBER = 3.0
_N_MC = 4000
_SIEG_BELOW = 0.02
#: bootstrap quantile of the tail ratio for the empirical null's tail weight: a heavy
#: tail is used only when the 20th percentile says so (with ~200 agents the median let
#: sampling noise fit t with 3 df in clean worlds and cut recall at p < .001 by half,
#: while location and scale, which the messy worlds need, are unaffected)
_NULL_LEVEL = 0.2

#: fewest calls put on hold in an agent x queue x day cell of the hold-length series
_MIN_HELD = 2

_METRIC = {
    "acw_step": ("acw", "after-call work", "acw_s"),
    "hold_step": ("hold", "hold", "hold_s"),
    "transfer_step": ("transfer", "transfer rate", None),
}


def daily_contrasts(ctx: GamingContext, metric: str, *, min_calls: int = 5,
                    min_peers: int = 5) -> pd.DataFrame:
    """Each agent's daily contrast with the same-queue peers' same-day median.

    Parameters
    ----------
    metric
        ``"acw"``, ``"hold"`` (``log(1 + mean seconds)``), ``"transfer"``
        (``log((k + 1/2) / (n + 1/2))``), ``"hold_share"`` (the log-odds of a call being
        put on hold, ``log((h + 1/2) / (n - h + 1/2))``) or ``"hold_length"`` (the mean
        log seconds of the calls put on hold; cells need 2 such calls, weighted by them).
    min_calls, min_peers
        Fewest calls in an agent x queue x day cell; fewest such agents in a queue-day.

    Returns
    -------
    DataFrame ``agent_id, day, x, n``: ``x`` the call-weighted mean over the agent's
    queues of (agent's value - queue-day median), ``n`` the calls; sorted by agent, day.
    """
    # one portable scan (standard SQL) shared by the three checks of a run
    raw = cached_df(
        ctx,
        f"""
        SELECT agent_id, queue, CAST(answer_ts AS DATE) AS day, count(*) AS n,
               sum(CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END) AS k,
               CAST(sum(CAST(round(CASE WHEN acw_s > 0 THEN acw_s ELSE 0 END * 1000)
                             AS BIGINT)) AS DOUBLE) / 1000 AS acw,
               CAST(sum(CAST(round(CASE WHEN hold_s > 0 THEN hold_s ELSE 0 END * 1000)
                             AS BIGINT)) AS DOUBLE) / 1000 AS hold,
               sum(CASE WHEN hold_s > 0 THEN 1 ELSE 0 END) AS nh,
               CAST(sum(CAST(round(CASE WHEN hold_s > 0 THEN ln(greatest(hold_s, 1.0))
                                        ELSE 0 END * 1000000) AS BIGINT)) AS DOUBLE)
                   / 1000000 AS lh
        FROM calls
        WHERE {HANDLED} AND answer_ts IS NOT NULL
        GROUP BY agent_id, queue, CAST(answer_ts AS DATE)
        ORDER BY agent_id, queue, day
        """,
    )
    cols = ["agent_id", "day", "x", "n"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    raw["agent_id"] = raw["agent_id"].astype(str)
    raw["queue"] = raw["queue"].astype(str)
    raw["day"] = pd.to_datetime(raw["day"])
    n = raw["n"].astype(float)
    nh = raw["nh"].astype(float)
    keep = n >= min_calls
    if metric == "transfer":
        y = np.log((raw["k"].astype(float) + 0.5) / (n + 0.5))
    elif metric == "hold_share":
        y = np.log((nh + 0.5) / (n - nh + 0.5))
    elif metric == "hold_length":
        # the calls put on hold are this series' units: they weigh and qualify the cell
        y = raw["lh"].astype(float) / nh.where(nh > 0)
        n, keep = nh, nh >= _MIN_HELD
    else:
        y = np.log1p(raw[metric].astype(float) / n)
    c = raw[["agent_id", "queue", "day"]].assign(n=n, y=y)
    c = c[keep.to_numpy()]
    g = c.groupby(["queue", "day"])["y"]
    c = c.assign(med=g.transform("median"), peers=g.transform("size"))
    c = c[c["peers"] >= min_peers]
    if c.empty:
        return pd.DataFrame(columns=cols)
    c = c.assign(wx=(c["y"] - c["med"]) * c["n"])
    out = c.groupby(["agent_id", "day"], as_index=False)[["wx", "n"]].sum()
    out["x"] = out["wx"] / out["n"]
    return out[cols].sort_values(["agent_id", "day"], ignore_index=True)


def _mad_scale(v: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def diff_scale(x: np.ndarray) -> float:
    """Robust daily SD: MAD of the day-to-day differences / sqrt(2)."""
    return _mad_scale(np.diff(x)) / np.sqrt(2.0)


@dataclass(frozen=True)
class StepScan:
    """Result of :func:`step_scan`: ``z`` max scan statistic, ``k`` days before the step,
    ``size`` after-minus-before mean of the (Huberized) series, ``z_path`` all ``Z_k``
    (index ``i`` is split ``k = min_days + i``)."""

    z: float
    k: int
    size: float
    z_path: np.ndarray


def step_scan(x, scale: float, min_days: int) -> StepScan:
    """One-sided scan for an upward mean shift: ``max_k Z_k`` (see the module docstring).

    ``x`` is used as given (Huberize first); ``scale`` is the daily SD.
    """
    x = np.asarray(x, float)
    t = x.size
    ks = np.arange(min_days, t - min_days + 1)
    if ks.size == 0 or not scale > 0:
        return StepScan(np.nan, -1, np.nan, np.array([]))
    cs = np.concatenate([[0.0], np.cumsum(x)])
    before = cs[ks] / ks
    after = (cs[t] - cs[ks]) / (t - ks)
    z = (after - before) / (scale * np.sqrt(1.0 / ks + 1.0 / (t - ks)))
    i = int(np.argmax(z))
    return StepScan(float(z[i]), int(ks[i]), float(after[i] - before[i]), z)


def _nu(x: np.ndarray) -> np.ndarray:
    """Siegmund's overshoot correction nu(x) (Siegmund & Yakir 2007, eq. 3.15 approx.)."""
    x = np.maximum(np.asarray(x, float), 1e-12)
    h = x / 2.0
    return (2.0 / x) * (stats.norm.cdf(h) - 0.5) / (h * stats.norm.cdf(h) + stats.norm.pdf(h))


def siegmund_tail(b: float, t: int, min_days: int) -> float:
    """Siegmund approximation of ``P(max_k Z_k > b)`` for iid N(0, 1) noise, known scale."""
    ks = np.arange(min_days, t - min_days + 1, dtype=float)
    if ks.size == 0 or not np.isfinite(b):
        return float("nan")
    w = t / (ks * (t - ks))
    return float(min(1.0, b * stats.norm.pdf(b) / 2.0 * np.sum(w * _nu(b * np.sqrt(w)))))


@lru_cache(maxsize=256)
def _mc_null(t: int, min_days: int) -> np.ndarray:
    """Sorted max scan statistics of ``_N_MC`` iid N(0, 1) series (known scale 1)."""
    rng = np.random.default_rng(20240613 + 1000 * t + min_days)
    x = rng.standard_normal((_N_MC, t))
    ks = np.arange(min_days, t - min_days + 1)
    cs = np.concatenate([np.zeros((_N_MC, 1)), np.cumsum(x, axis=1)], axis=1)
    z = ((cs[:, [t]] - cs[:, ks]) / (t - ks) - cs[:, ks] / ks) / np.sqrt(1.0 / ks + 1.0 / (t - ks))
    return np.sort(z.max(axis=1))


def scan_pvalue(z: float, t: int, min_days: int, df: float = np.inf) -> float:
    """Theoretical p-value of a max scan statistic ``z`` on ``t`` days.

    ``z`` is first mapped to the normal scale through Student ``t`` with ``df`` (the
    scale was estimated); then Monte Carlo (4,000 Gaussian series) above .02, the
    Siegmund approximation (:func:`siegmund_tail`) below.
    """
    if not np.isfinite(z):
        return float("nan")
    b = z if np.isinf(df) else float(stats.norm.isf(stats.t.sf(z, df)))
    null = _mc_null(int(t), int(min_days))
    p_mc = (1.0 + null.size - np.searchsorted(null, b, side="left")) / (null.size + 1.0)
    if p_mc >= _SIEG_BELOW:
        return float(p_mc)
    return float(min(siegmund_tail(b, int(t), int(min_days)), _SIEG_BELOW))


def _fmt_day(d) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def step_check(ctx: GamingContext, name: str) -> CheckResult:
    """Own-history step check ``name`` (``acw_step``, ``hold_step``, ``transfer_step``).

    Options: ``step_min_days`` (7: days before and after a split), ``step_min_calls``
    (5 calls per agent x queue x day), ``step_min_peers`` (5 agents per queue-day),
    ``step_empirical_null`` (True), ``step_null`` (``trimmed``: the empirical null is
    fitted without the scans it calls extreme; ``self``: to every scan) and
    ``step_null_min`` (50 agents).

    Returns
    -------
    CheckResult with one flag row per agent (period ``all``): ``effect`` = percent step
    up (after over before, relative to same-day peers; on ``1 + mean seconds`` or the
    transfer rate), ``n`` = calls in the tested days, ``k`` = days after the step; and
    ``changepoints`` (interface B) for rows whose BH q-value across agents is below alpha.
    """
    metric, label, column = _METRIC[name]
    if column is not None and column not in ctx.columns:
        return skipped(name, f"{column} is missing: no {label} times in the data")
    if column is None and "outcome" not in ctx.columns:
        return skipped(name, "outcome is missing: transfers cannot be counted")
    min_days = max(int(option(ctx, "step_min_days", 7)), 2)
    kw = dict(min_calls=int(option(ctx, "step_min_calls", 5)),
              min_peers=int(option(ctx, "step_min_peers", 5)))
    d = daily_contrasts(ctx, metric, **kw)
    if d.empty:
        return skipped(name, "no queue-day with enough agents and calls")
    if metric == "transfer":
        if cached_df(ctx, f"SELECT count(*) AS k FROM calls WHERE {HANDLED} "
                          "AND outcome = 'transferred'")["k"].iloc[0] == 0:
            return skipped(name, "no call is transferred")
    elif float(d["x"].abs().sum()) == 0.0:
        return skipped(name, f"{column} is zero on every handled call")
    if metric != "hold":
        res, notes = _scan_agents(ctx, d, min_days)
        if isinstance(res, str):
            return skipped(name, res)
        res["part"] = ""
    else:
        res, notes = _hold_parts(ctx, min_days, kw)
        if isinstance(res, str):
            return skipped(name, res)
    alpha = float(ctx.options.get("alpha", 0.05) or 0.05)
    # a step is listed as a change point only when it survives BH across the agents (the
    # change-point check lists its agent-level steps the same way)
    res["q"] = bh_qvalues(res["p"].to_numpy(float))
    flags, cps = [], []
    unit = (f"% step up in {label} relative to same-queue peers' same-day level"
            + (" (the share of calls put on hold, as odds, or the length of the holds, "
               "whichever stepped more clearly)" if metric == "hold" else ""))
    for r in res.itertuples(index=False):
        pct = 100.0 * (np.exp(r.size) - 1.0)
        what = f" in the {HOLD_PARTS[r.part]}" if r.part else ""
        both = "; p combines both parts (Cauchy)" if r.part else ""
        flags.append(dict(
            agent_id=r.agent_id, period="all", check=name, effect=pct,
            effect_unit=unit,
            p_value=r.p, n=r.n, k=int(r.t - r.k),
            detail=(f"step {pct:+.0f}%{what} from {_fmt_day(r.day)} (about {_fmt_day(r.lo)} to "
                    f"{_fmt_day(r.hi)}); {r.k} working days before, {r.t - r.k} after "
                    f"({_fmt_day(r.first)} to {_fmt_day(r.last)}); scan z {r.z:.2f} with "
                    f"robust daily SD {r.s:.3f}; theoretical p {r.p_theory:.2g}{both}"),
        ))
        if r.q < alpha and r.size > 0:
            # levels relative to the same-queue peers' same-day level: 1 before, the ratio after
            cps.append(dict(level="agent", agent_id=r.agent_id, metric=name,
                            date=pd.Timestamp(r.day), date_lo=pd.Timestamp(r.lo),
                            date_hi=pd.Timestamp(r.hi), before=1.0,
                            after=float(np.exp(r.size)),
                            p_value=r.p, source=name))
    cp = pd.DataFrame(cps, columns=["level", "agent_id", "metric", "date", "date_lo", "date_hi",
                                    "before", "after", "p_value", "source"])
    return CheckResult(name=name, flags=make_flags(flags), notes=notes,
                       changepoints=cp if len(cp) else None)


def _scan_agents(ctx: GamingContext, d: pd.DataFrame, min_days: int):
    """Each agent's step scan on the daily series ``d`` (:func:`daily_contrasts`), with the
    empirical-null tail calibration across agents: ``(table, notes)``, or ``(why, [])``."""
    groups = [(a, g) for a, g in d.groupby("agent_id", sort=True) if len(g) >= 2 * min_days]
    if not groups:
        return f"no agent with {2 * min_days} or more days of data", []
    raw_s = np.array([diff_scale(g["x"].to_numpy(float)) for _, g in groups])
    pool = float(np.median(raw_s[raw_s > 0])) if (raw_s > 0).any() else 0.0
    rows = []
    for (aid, g), s_a in zip(groups, raw_s, strict=True):
        x = g["x"].to_numpy(float)
        t = x.size
        d_a = _MAD_EFF * (t - 1)
        s = float(np.sqrt(moderated(s_a**2, d_a, pool**2, D0)))
        if not s > 0:
            continue
        med = float(np.median(x))
        xh = np.clip(x, med - _HUBER * s, med + _HUBER * s)
        sc = step_scan(xh, s, min_days)
        p = scan_pvalue(sc.z, t, min_days, D0 + d_a)
        days = g["day"].to_numpy()
        # approximate interval: splits whose scan is within the 95% chi-square(1) bound
        near = np.flatnonzero(sc.z_path**2 >= sc.z**2 - 3.84) + min_days if sc.z > 0 else [sc.k]
        rows.append(dict(
            agent_id=str(aid), t=t, z=sc.z, k=sc.k, size=sc.size, p=p, s=s,
            day=days[sc.k], lo=days[int(np.min(near))], hi=days[int(np.max(near))],
            n=int(g["n"].sum()), first=days[0], last=days[-1],
        ))
    if not rows:
        return "no agent with a positive daily scale", []
    res = pd.DataFrame(rows)
    notes = [f"own-history step scan over {len(res)} agent(s); daily contrast with the "
             f"same-queue peers' same-day median; pooled robust daily SD {pool:.3f}"]
    res["p_theory"] = res["p"]
    if flag_option(ctx, "step_empirical_null", True):
        res["p"], more = _calibrate(ctx, res)
        notes += more
    return res, notes


#: null p-value below which a scan is left out of its empirical null's fit (``trimmed``)
STEP_NULL_TRIM = 0.01


def _calibrate(ctx: GamingContext, res: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The scan p-values raised to the empirical null's where it is wider: ``(p, notes)``.

    ``step_null = "trimmed"`` (default): the null is fitted to the scans it does not
    itself call extreme (null p-value above :data:`STEP_NULL_TRIM`, refitted until
    stable from a normal start; :func:`._empnull.fit_empirical_null`), so agents who
    stepped do not set the tail they are judged against. ``"self"``: fitted to every
    scan (before 2026-12-07): with 10 % of the agents padding after-call work by 1.4x
    from mid-window, the steppers were the 95th percentile the tail weight is read from,
    the null became t with 1.5 df and none of them stayed below .001 (with 3 %: half).
    """
    nmin = int(option(ctx, "step_null_min", 50))
    how = str(option(ctx, "step_null", "trimmed")).lower()
    if how not in ("trimmed", "self"):
        raise ConfigError(f"step_null must be trimmed or self, got {how!r}")
    p = res["p"].to_numpy(float)
    null = fit_empirical_null(p, min_n=nmin, level=_NULL_LEVEL,
                              trim=STEP_NULL_TRIM if how == "trimmed" else None)
    if null is None:
        return p, [f"empirical null not used (fewer than {nmin} agents or too lumpy): "
                   "theoretical p-values"]
    out = calibrate_pvalues(p, null)
    return out, [f"tail calibration: {null.describe()}; "
                 f"{int((out > p * 1.0000001).sum())} p-value(s) raised to the empirical "
                 "null's (Efron 2004)"]


#: The two parts of hold the hold step scans: how often a call is put on hold, and how long.
HOLD_PARTS = {"hold_share": "share of calls put on hold (odds)",
              "hold_length": "length of the holds"}


def _hold_parts(ctx: GamingContext, min_days: int, kw: dict):
    """The hold step: a scan on each part of hold (:data:`HOLD_PARTS`), combined per agent
    by the Cauchy combination (ACAT, valid whatever their dependence); the row describes
    the part with the smaller p-value. ``(table, notes)`` or ``(why, [])``."""
    parts, notes, why = [], [], []
    for part, what in HOLD_PARTS.items():
        res, n_p = _scan_agents(ctx, daily_contrasts(ctx, part, **kw), min_days)
        if isinstance(res, str):
            why.append(f"{what}: {res}")
            continue
        parts.append(res.assign(part=part))
        notes += [f"{what}: {x}" for x in n_p]
    if not parts:
        return "; ".join(why) or "no queue-day with enough agents and calls", []
    tab = pd.concat(parts, ignore_index=True)
    tab = strongest_with_acat(tab, p="p")
    # n: the calls of the tested days, which the share series counts (the length series
    # counts the calls put on hold)
    share = [t for t in parts if t["part"].iloc[0] == "hold_share"]
    if share:
        n_all = share[0].set_index("agent_id")["n"]
        tab["n"] = tab["agent_id"].map(n_all).fillna(tab["n"]).astype(int).to_numpy()
    return tab.reset_index(drop=True), notes + [f"not scanned: {w}" for w in why]


@CHECKS.register("acw_step")
def check_acw_step(ctx: GamingContext) -> CheckResult:
    """A step up in the agent's after-call work against same-day peers (module docstring)."""
    return step_check(ctx, "acw_step")


@CHECKS.register("hold_step")
def check_hold_step(ctx: GamingContext) -> CheckResult:
    """A step up in the agent's hold time against same-day peers (module docstring)."""
    return step_check(ctx, "hold_step")


@CHECKS.register("transfer_step")
def check_transfer_step(ctx: GamingContext) -> CheckResult:
    """A step up in the agent's transfer rate against same-day peers (module docstring)."""
    return step_check(ctx, "transfer_step")
