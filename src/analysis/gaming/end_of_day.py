"""Stretching calls or avoiding new ones near the end of the day (check ``end_of_day_stretch``).

An agent who wants to leave on time (or to avoid a last difficult call)
lengthens the calls of their last hour, or leaves longer idle gaps before
taking the next call. Honest agents may be slower late in the day too
(fatigue, the late call mix), so the null is not "no difference" but the
peers' distribution of the same contrast.

Statistic
---------
For every agent-day (calendar date of ``answer_ts``) whose observed span
(first to last answer) is at least twice the window, a call is *late* when it
is answered within the last ``eod_window_min`` minutes (default 60) before the
agent's last answer that day. Two contrasts per agent x period, pooled over
days:

* **talk**: mean ``log(1 + talk)`` of late calls minus that of the rest of the
  same days (short calls, below ``short_call_s``, left out; talk is centred on
  its queue x period mean first, so a late queue mix does not count);
* **gap**: mean ``log(1 + idle)`` after late calls minus after the others, where
  idle is the time from the end of a call's handling (answer + talk + hold +
  ACW) to the agent's next answer the same day. Each gap is first centred on
  the mean gap of the *other* agents whose next answer fell in the same hour of
  the day (period x hour; the call's own agent left out, or everyone when fewer
  than 30 other gaps share the hour; gaps over 15 minutes, breaks rather than the
  queue's idle, left out of that mean). Idle time follows the center's load at
  that hour, so without this the contrast measured the clock, not the agent: in
  ``ccpm synth`` worlds the early shift (ends 15:00, when three shifts overlap)
  sat about 1.3 log units above the day shift and the late shift (ends at the
  21:00 close) 1.9 below, a three-cluster peer distribution whose robust spread
  fitted the middle cluster and flagged honest early-shift agents at z 4-5
  (issue #13).

Days, not calls, are the units of evidence: the calls of one late hour share
that evening (a rush, a slow system), so each contrast's SE is the larger of
the calls-independent SE and the day-clustered (linearisation) SE, and an
agent x period needs ``eod_min_days`` (default 5) days with a late window.
On ``ccpm synth`` worlds (60 agents, 61 days) the two took honest agent x
periods at p < .001 from 0.15 % to 0 % (messy, seeds 120-129; p < .05: 6.0 % to
4.7 %) and from 0.25 % to 0.08 % (clean, seeds 20-31), with every planted
stretcher's best period still at p < .001 (44 of 44).

Accumulation across periods (option ``eod_pooled``, default on since 2026-12-08). With
more than one period each agent also has a row over the whole window (period ``all``, its
contrasts pooled over every day, the peers' spread fitted on the peers' whole-window
contrasts), which carries half the check's weight in the agent-level decision
(:mod:`._agents`): a habit kept every month builds evidence instead of being tested month
by month, and a burst in one month counts half as much. It was off by default while the
Anonymous Bank logs lost a flag with it (IDIT's one stretching month, March 1999, fell
from an agent p of .0029 to .0062, and MORIAH's q, ranked behind it, rose from .040 to
.060); since the talk trace's reference counts the day-clustered SE as an estimate (below),
IDIT's March is p 2e-4 rather than 3e-5 and neither is flagged with the row or without it,
while on the outside worlds (``benchmarks/worlds_outside.py``, 20 + 20 worlds of 61 days
and 20 + 20 small centers) the row took end-of-day recall from 0.11 to 0.24 and from 0.25
to 0.40 (``benchmarks/results/outside_worlds.md``).

Null model
----------
Each contrast goes through the robust peer test
(:func:`._sigutil.peer_contrast_pvalues`: median / MAD between-agent spread,
parametric-bootstrap p-value, one-sided "longer late"). The day-clustered SE is an
estimate from ``D`` days, and with 5 to 20 days a noisy one: an agent whose late hours fell
on a few slow evenings has a small SE by chance and a large ``z``. So the bootstrap draws
each replicate's own clustered SE, ``se^2 chi2(D - 1) / (D - 1)``, floored as the
observed one is by the calls-independent SE (a Student-t reference for a cluster-robust
SE with ``G - 1`` df: Cameron & Miller 2015). On the outside worlds' honest agent x months
the talk trace's p-values below .0001 went from 3.5x nominal to 1.2x (61 days, 8,458 rows;
1.4x at .001 before and after).

The two traces are two behaviours (stretching the calls, idling before the next one), so
the check's p-value is that of either (``eod_traces=either``, the default: twice the
smaller p-value, Bonferroni). Fisher's sum of the two (``eod_traces=both``, the default
until 2026-12-08) asks both to move: a stretcher whose gap is as the peers' (p .5) and
whose talk trace is at 1e-4 gets 5e-4 (recall on the outside worlds' 61-day centers 0.14 against 0.24
with either); ``eod_traces=talk`` tests the talk trace alone. Calibration is checked on
simulated centers in which every agent slows down late by a different amount.

Columns needed: ``agent_id``, ``answer_ts``, ``talk_s`` (``hold_s``, ``acw_s``
for the idle gap when present), ``queue``.

What it cannot see: avoidance that most agents at an hour share (the centring
on the other agents' gap at that hour removes it); the scheduled shift end (the day's last observed answer
stands in for it: an agent who stops taking calls early moves their own
window); overnight shifts (split at midnight); breaks (long gaps are damped by
the log but a lunch taken in the last hour looks like avoidance).

References
----------
Brown, L. et al. (2005). Statistical analysis of a telephone call center: a
queueing-science perspective. *JASA* 100, 36–50 (agent-level service times).
Rousseeuw, P. J. & Croux, C. (1993). Alternatives to the median absolute
deviation. *JASA* 88, 1273–1283.
Cameron, A. C. & Miller, D. L. (2015). A practitioner's guide to cluster-robust
inference. *J. Human Resources* 50, 317–372 (few clusters: a t on G - 1 df).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import CHECKS, CheckResult, GamingContext, dialect_of
from ._sigutil import (
    HANDLED,
    fisher_combine,
    flag_option,
    make_flags,
    option,
    peer_tails,
    peer_tails_skip,
    peer_test_by_period,
    period_sql,
    seed,
    short_call_s,
    skipped,
)

__all__ = ["check_end_of_day", "day_clustered_contrasts", "end_of_day_contrasts"]

#: Idle gaps longer than this (seconds) are left out of the same-hour centring mean (a
#: break is not the queue's idle); the agent's own gaps all count. On ``ccpm synth``
#: (seed 22) the day shift's breaks, which fall in the early shift's last hour, had put
#: the shifts' median contrasts 3.2 se apart; without them in the mean, 1.0 se (0.8 with
#: the generator's breaks switched off).
_CENTRE_CAP_S = 900.0


def end_of_day_contrasts(
    ctx: GamingContext, *, window_min: float = 60.0, min_late: int = 10, min_rest: int = 30,
    min_other: int = 30, pooled: bool = False,
) -> pd.DataFrame:
    """Per agent x period late-vs-rest contrasts of log talk and log idle gap.

    With ``pooled`` and more than one period, each agent also has a row over the whole
    window (period ``all``).

    Returns
    -------
    DataFrame ``agent_id, period, n_days, n_late_days, n_late, n_rest, d_talk, se_talk,
    d_gap, se_gap`` (``d_*`` = late mean - rest mean on the log scale; NaN
    where a side has too few calls; ``se_*`` the larger of the SE with calls
    independent and the SE with the calls of a day clustered).
    """
    per = period_sql(ctx, "answer_ts")
    hold = "coalesce(hold_s, 0)" if "hold_s" in ctx.columns else "0"
    acw = "coalesce(acw_s, 0)" if "acw_s" in ctx.columns else "0"
    w = float(window_min)
    # calls answered in the same second: a fixed order, or the idle gaps (and p-values)
    # change from run to run
    cid = "call_id, " if "call_id" in ctx.columns else ""
    tie = "talk_s, call_id" if cid else "talk_s"
    dia = dialect_of(ctx)
    big = dia.exact_int

    def us(ts: str) -> str:  # microseconds since the epoch (an exact integer)
        return dia.epoch_us.format(ts=ts)

    def sec(ts: str) -> str:  # seconds since the epoch (a double)
        return dia.epoch_s.format(ts=ts)

    sql = f"""
    WITH h AS (
        SELECT agent_id, queue, {per} AS period, CAST(answer_ts AS DATE) AS day,
               {cid}answer_ts, talk_s, {hold} AS hold, {acw} AS acw
        FROM calls WHERE {HANDLED} AND answer_ts IS NOT NULL AND talk_s >= 0
    ), d0 AS (
        SELECT *,
               max(answer_ts) OVER (PARTITION BY agent_id, day) AS last_ans,
               min(answer_ts) OVER (PARTITION BY agent_id, day) AS first_ans,
               lead(answer_ts) OVER (PARTITION BY agent_id, day
                                     ORDER BY answer_ts, {tie}) AS next_ans,
               CASE WHEN talk_s >= $short THEN ln(1 + talk_s) END AS lt
        FROM h
    ), d AS (
        SELECT *, hour(next_ans) AS hr FROM d0
    ), e AS (
        SELECT agent_id, period, day, hr,
               {us('answer_ts')} >= {us('last_ans')} - CAST($w * 60e6 AS BIGINT) AS late,
               -- sums are exact integer sums of values in units of 1e-12: a float sum
               -- depends on DuckDB's thread order, and so would every output digit
               lt - CAST(sum(CAST(round(lt * 1e12) AS {big})) OVER (PARTITION BY queue, period)
                         AS DOUBLE) / 1e12 / count(lt) OVER (PARTITION BY queue, period) AS y,
               CASE WHEN next_ans IS NOT NULL THEN ln(1 + greatest(
                   {sec('next_ans')} - {sec('answer_ts')} - talk_s - hold - acw, 0)) END AS g
        FROM d
        WHERE {sec('last_ans')} - {sec('first_ans')} >= 2 * $w * 60
    )
    , q0 AS (
        SELECT agent_id, period, day, hr, late,
               CAST(round(y * 1e12) AS {big}) AS yi, CAST(round(g * 1e12) AS {big}) AS g0
        FROM e
    ), q1 AS (
        -- the idle gap is centred on the other agents' mean gap at the same clock hour
        -- (period x hour of day): idle follows the center's load, so without this an
        -- agent whose day ends at a quiet hour looks like an avoider
        -- (gaps over $cap, log(1 + 15 min), are left out of that mean: a break or a lunch
        -- in some agents' hour is an absence, not the queue's idle, and would raise the
        -- hour's mean for everyone else, e.g. the early shift's last hour when the day
        -- shift takes its breaks)
        SELECT *,
               sum(gc) OVER (PARTITION BY period, hr) AS sg_h,
               count(gc) OVER (PARTITION BY period, hr) AS ng_h,
               sum(gc) OVER (PARTITION BY agent_id, period, hr) AS sg_ah,
               count(gc) OVER (PARTITION BY agent_id, period, hr) AS ng_ah
        FROM (SELECT *, CASE WHEN g0 <= $cap THEN g0 END AS gc FROM q0)
    ), q AS (
        SELECT agent_id, period, day, late, yi,
               g0 - CASE WHEN ng_h - ng_ah >= $min_other
                         THEN CAST(round(CAST(sg_h - sg_ah AS DOUBLE) / (ng_h - ng_ah))
                                   AS {big})
                         ELSE CAST(round(CAST(sg_h AS DOUBLE) / nullif(ng_h, 0)) AS {big}) END AS gi
        FROM q1
    )
    SELECT agent_id, period, day, late,
           count(yi) AS ny, CAST(sum(yi) AS DOUBLE) / 1e12 AS sy,
           CAST(sum(yi * yi) AS DOUBLE) / 1e24 AS ssy,
           count(gi) AS ng, CAST(sum(gi) AS DOUBLE) / 1e12 AS sg,
           CAST(sum(gi * gi) AS DOUBLE) / 1e24 AS ssg
    FROM q GROUP BY ALL ORDER BY agent_id, period, day, late
    """
    df = ctx.con.execute(sql, {"short": short_call_s(ctx), "w": w,
                               "min_other": int(min_other),
                               "cap": int(round(np.log1p(_CENTRE_CAP_S) * 1e12))}).df()
    cols = ["agent_id", "period", "n_days", "n_late_days", "n_late", "n_rest", "d_talk",
            "se_talk", "df_talk", "floor_talk", "d_gap", "se_gap", "df_gap", "floor_gap"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    if pooled and df["period"].nunique() > 1:
        # the whole window as one more period: a day belongs to one period, so the
        # agent x day x late rows stay unique (see "Accumulation across periods")
        df = pd.concat([df, df.assign(period="all")], ignore_index=True)
    out = day_clustered_contrasts(df, min_late=min_late, min_rest=min_rest)
    if out.empty:
        return pd.DataFrame(columns=cols)
    # a fixed agent order: the peer test draws random numbers agent by agent
    return out[cols].sort_values(["period", "agent_id"], ignore_index=True)


def day_clustered_contrasts(days: pd.DataFrame, *, min_late: int = 10,
                            min_rest: int = 30) -> pd.DataFrame:
    """Late-minus-rest contrasts per agent x period from per-day sums, with day-clustered SEs.

    Parameters
    ----------
    days
        One row per ``agent_id, period, day, late`` with, for ``p`` in ``y`` (log talk)
        and ``g`` (log idle gap), the count ``n{p}``, sum ``s{p}`` and sum of squares
        ``ss{p}`` of that day's late (or other) calls.

    Returns
    -------
    DataFrame ``agent_id, period, n_days, n_late_days, n_late, n_rest`` and per ``p``
    (``talk`` for ``y``, ``gap`` for ``g``) ``d_*`` (late mean - rest mean; NaN where a
    side has fewer than ``min_late`` / ``min_rest`` calls) and ``se_*``: the larger of the
    SE with calls independent and the day-clustered SE. The latter is the sandwich SE of
    the late dummy's coefficient in the regression of the calls' values on an intercept and
    that dummy, days as clusters, times ``D / (D - 1)`` (per day ``u_d = (S_ld - m_l n_ld)
    / N_l - (S_rd - m_r n_rd) / N_r``, variance ``D / (D - 1) sum u_d^2``). Calls of one
    day share the day (a slow day, a late rush), so with few days the independent SE is
    too small: on ``ccpm synth`` (messy, seed 124) an honest agent's late hours of three
    days gave a gap z of 3.8. Agent x periods without both late and other calls are absent.
    """
    df = days.copy()
    df["agent_id"] = df["agent_id"].astype(str)
    df["period"] = df["period"].astype(str)
    df["late"] = df["late"].astype(bool)
    # per agent x period x day, late and rest side by side (0 where a day has no such call)
    key = ["agent_id", "period", "day"]
    wide = df[~df["late"]].drop(columns="late").merge(
        df[df["late"]].drop(columns="late"), on=key, how="outer", suffixes=("_r", "_l"),
    ).set_index(key).sort_index()
    wide["has_l"], wide["has_r"] = wide["ny_l"].notna(), wide["ny_r"].notna()
    sums = [f"{a}{p}_{s}" for a in ("n", "s", "ss") for p in ("y", "g") for s in ("l", "r")]
    wide[sums] = wide[sums].fillna(0.0)
    grp = wide.groupby(level=["agent_id", "period"], sort=True)
    j = grp[sums].sum()
    j["days_r"] = grp["has_r"].sum()
    j["days_l"] = grp["has_l"].sum()
    # agent x periods with both late and other calls (the rest have no contrast)
    j = j[grp["has_l"].any() & grp["has_r"].any()]
    wide = wide[wide.index.droplevel("day").isin(j.index)]
    idx = wide.index.droplevel("day")

    def contrast(p: str):
        nl, nr = j[f"n{p}_l"].astype(float), j[f"n{p}_r"].astype(float)
        ml, mr = j[f"s{p}_l"] / nl, j[f"s{p}_r"] / nr
        vl = np.maximum(j[f"ss{p}_l"] - nl * ml**2, 0) / np.maximum(nl - 1, 1)
        vr = np.maximum(j[f"ss{p}_r"] - nr * mr**2, 0) / np.maximum(nr - 1, 1)
        ok = (nl >= min_late) & (nr >= min_rest)
        v_iid = vl / nl.clip(lower=1) + vr / nr.clip(lower=1)
        u = ((wide[f"s{p}_l"] - ml.reindex(idx).to_numpy() * wide[f"n{p}_l"])
             / nl.reindex(idx).clip(lower=1).to_numpy()
             - (wide[f"s{p}_r"] - mr.reindex(idx).to_numpy() * wide[f"n{p}_r"])
             / nr.reindex(idx).clip(lower=1).to_numpy())
        used = (wide[f"n{p}_l"] + wide[f"n{p}_r"]) > 0
        g = (u.where(used) ** 2).groupby(level=["agent_id", "period"], sort=True)
        n_d = g.count().reindex(j.index).astype(float)
        v_cl = g.sum().reindex(j.index) * n_d / (n_d - 1).clip(lower=1)
        d = np.where(ok, ml - mr, np.nan)
        se = np.where(ok, np.sqrt(np.fmax(v_iid, v_cl.fillna(0.0))), np.nan)
        # the clustered SE is an estimate from D days (D - 1 degrees of freedom); the
        # calls-independent one rests on many calls and is its floor, taken as known
        dof = np.where(ok & v_cl.notna(), n_d - 1, np.inf)
        return d, se, dof, np.where(ok, np.sqrt(v_iid), np.nan)

    out = pd.DataFrame(index=j.index)
    out["n_days"] = j["days_r"].astype(int)
    out["n_late_days"] = j["days_l"].astype(int)
    out["n_late"] = j["ny_l"].astype(int)
    out["n_rest"] = j["ny_r"].astype(int)
    out["d_talk"], out["se_talk"], out["df_talk"], out["floor_talk"] = contrast("y")
    out["d_gap"], out["se_gap"], out["df_gap"], out["floor_gap"] = contrast("g")
    return out.reset_index()


@CHECKS.register("end_of_day_stretch")
def check_end_of_day(ctx: GamingContext) -> CheckResult:
    """Late-day stretching / avoidance against peers' same contrast (module docstring).

    Options: ``eod_window_min`` (60), ``min_peers`` (8), ``eod_min_late`` (10
    late calls per agent and period), ``eod_min_days`` (5 days with a late window
    per agent and period), ``eod_pooled`` (True: a whole-window row as well),
    ``eod_traces`` (``either``: twice the smaller of the talk and gap p-values; ``both``:
    their Fisher combination; ``talk``: the talk trace alone).

    Returns
    -------
    CheckResult; flags (per period and, with ``eod_pooled`` and more than one period,
    over the whole window: period ``all``) have ``effect`` = percent longer talk in the last window
    than the rest of the day, beyond the peers' median contrast; ``n`` = late
    calls; ``p_value`` = the talk and gap p-values combined as ``eod_traces`` says.
    """
    name = "end_of_day_stretch"
    for c in ("answer_ts", "talk_s", "agent_id"):
        if c not in ctx.columns:
            return skipped(name, f"{c} is missing")
    window = float(option(ctx, "eod_window_min", 60))
    min_peers = int(option(ctx, "min_peers", 8))
    tails = peer_tails(ctx)
    if tails is None:
        return peer_tails_skip(name, ctx)
    tab = end_of_day_contrasts(ctx, window_min=window,
                               pooled=flag_option(ctx, "eod_pooled", True),
                               min_late=int(option(ctx, "eod_min_late", 10)))
    if tab.empty:
        return skipped(name, f"no agent-day spans twice the {window:g}-minute window")
    min_days = int(option(ctx, "eod_min_days", 5))
    few = tab["n_late_days"] < min_days
    pre_notes = []
    if few.any():
        pre_notes.append(f"{int(few.sum())} agent x period(s) with fewer than {min_days} days "
                         "with a late window not tested (the late hour is one stretch a day: "
                         "a few unusual evenings are not a habit)")
        tab = tab[~few]
        if tab.empty:
            return skipped(name, f"no agent x period has {min_days} days with a late window")
    rng = np.random.default_rng(seed(ctx, 31))
    t_in = tab.drop(columns=["d_gap", "se_gap", "df_gap", "floor_gap"]).rename(
        columns={"d_talk": "d", "se_talk": "se", "df_talk": "se_df", "floor_talk": "se_floor"})
    talk, notes = peer_test_by_period(t_in, min_peers=min_peers, rng=rng, tails=tails)
    notes = [f"talk time: {x}" if x.startswith("between-agent") else x for x in notes]
    g_in = tab.rename(columns={"d_gap": "d", "se_gap": "se", "df_gap": "se_df",
                               "floor_gap": "se_floor"})[
        ["agent_id", "period", "d", "se", "se_df", "se_floor"]]
    gap, n_gap = peer_test_by_period(g_in, min_peers=min_peers, rng=rng, tails=tails)
    notes += [f"gap before the last call: {x}" for x in n_gap if x.startswith("between-agent")]
    res = talk.merge(
        gap[["agent_id", "period", "d", "z", "p_value", "center"]],
        on=["agent_id", "period"], how="left", suffixes=("", "_gap"),
    )
    traces = str(option(ctx, "eod_traces", "either")).lower()
    if traces == "talk":
        res["p_comb"] = res["p_value"]
    elif traces == "both":
        res["p_comb"] = fisher_combine(res["p_value"], res["p_value_gap"])
    else:  # either trace: Bonferroni over the two
        res["p_comb"] = np.where(res["p_value_gap"].notna(),
                                 np.minimum(1.0, 2.0 * np.fmin(res["p_value"], res["p_value_gap"])),
                                 res["p_value"])
    rows = []
    for r in res.itertuples(index=False):
        gap_txt = (
            f"idle gap late {100 * (np.exp(r.d_gap - r.center_gap) - 1):+.0f}% vs peers' "
            f"contrast (z {r.z_gap:.2f})" if np.isfinite(r.p_value_gap) else "gap not tested"
        )
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (np.exp(r.d - r.center) - 1.0),
                effect_unit=f"% longer talk in the last {window:g} min of the day than the rest "
                f"of it, beyond peers' same contrast",
                p_value=r.p_comb, n=int(r.n_late), k=None,
                detail=(f"talk late vs rest {100 * (np.exp(r.d) - 1):+.0f}% (peers' median "
                        f"{100 * (np.exp(r.center) - 1):+.0f}%, z {r.z:.2f}, p {r.p_value:.3g}); "
                        f"{gap_txt}; {r.n_days} days"),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=pre_notes + notes)
