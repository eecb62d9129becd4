"""OKR sandbagging (check ``okr_sandbagging``).

An agent who sets (or negotiates) their own key-result targets can make them
easy: a target their own trend would reach anyway. Then the attainment piles
up just above 1.0 (enough to be green, no more).

Statistic
---------
For every agent and key result with a per-agent target
(``ctx.okr["agents"][agent_id][kr_id] = {baseline, target}``), the agent's
own level is projected from their history: a least-squares line of the
metric's per-call values on the day, fitted to the calls *before* the OKR
period (``okr_period`` option; default the last period in the data) and
evaluated at the period's last day (clipped to +-30 % of the history mean,
against wild extrapolation). The *slack* is how much easier the target is
than that projection, relative to it: ``(target - projection) / projection``
when lower is better, ``(projection - target) / projection`` when higher is
better.

Null model
----------
Honest agents' targets also scatter around their trend (optimism, noise in
the trend itself), so each key result's slacks go through the robust peer
test (:func:`._sigutil.peer_contrast_pvalues`: median / MAD spread,
parametric-bootstrap p-value, one-sided "easier"); an agent's key results are
combined by Fisher's method.

Tenure. A new hire's targets are set while they are still learning, so by the
OKR period their own trend may have run ahead of the target and an honest novice
can look like a sandbagger (``benchmarks/results/gaming_calibration.md``: on
``ccpm synth`` worlds the novices flagged were outliers among novices, whose
typical slack was close to the others'; this adjustment removes a group-wide
excess only). When
``ctx.roster`` has ``hire_date``, agents hired less than ``novice_days``
(default 90) before the OKR period are compared after removing the novices'
typical excess slack (median slack of the novices minus that of the others, per
key result, when each side has at least 3 agents and the difference is positive;
option ``tenure_adjust``), as :mod:`.handle_inflation` does for after-call work and
hold. One-sided: where novices' targets are typically *harder*, nothing is shifted, so
the adjustment never makes a novice look worse. A novice who
sandbags beyond the other novices is still found; a center whose novices all
sandbag is not.

Piling of attainment: attainment = progress from baseline toward target in the
OKR period (``(baseline - actual) / (baseline - target)`` when lower is
better). Across all agents and key results, the counts in ``[1.0, 1.1)`` and
``[0.9, 1.0)`` are compared by a one-sided binomial test (a smooth density
puts about as much just above as just below 1.0); the result is a note, and
each agent's attainments are in ``detail``.

Metrics (computed from the calls as in :mod:`analysis.metrics`): ``aht_s,
talk_s, hold_s, acw_s, short_call_rate, transfer_rate, repeat_call_rate,
resolved_rate, csat_mean, qa_mean``. Input: ``ctx.okr`` in the OKR YAML format
(objectives with key results ``id, metric, direction``; ``agents``).

What it cannot see: targets set by managers (then slack is the manager's);
an agent who games the metric itself to reach the target (see the other
checks); a trend that changes for a reason the agent knew about.

References
----------
Doerr, J. (2018). *Measure What Matters*. Portfolio (OKR grading, 0.6–0.7 sweet spot).
Chow, C. W., Cooper, J. C. & Waller, W. S. (1988). Participative budgeting:
effects of a truth-inducing pay scheme and information asymmetry on slack and
performance. *The Accounting Review* 63, 111–122 (budget slack).
Kleven, H. J. (2016). Bunching. *Annual Review of Economics* 8, 435–464.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..metrics import per_call_sql
from ._base import CHECKS, CheckResult, GamingContext, dialect_of
from ._context import panel_relation
from ._sigutil import (
    fisher_combine,
    flag_option,
    make_flags,
    novice_flags,
    option,
    peer_tails,
    peer_tails_skip,
    peer_test_by_period,
    seed,
    short_call_s,
    skipped,
)

__all__ = ["check_okr_sandbagging", "okr_projections", "okr_projections_many",
           "PROJECTED_METRICS"]

#: Metrics whose trend is projected: each the mean of a per-call value, taken from its
#: definition in :mod:`analysis.metrics` (:func:`analysis.metrics.per_call_sql`) over
#: the panel's per-call relation.
PROJECTED_METRICS = ("aht_s", "talk_s", "hold_s", "acw_s", "short_call_rate", "transfer_rate",
                     "repeat_call_rate", "resolved_rate", "csat_mean", "qa_mean")


def _key_results(okr: dict) -> dict[str, dict]:
    out = {}
    for obj in okr.get("objectives") or []:
        for kr in obj.get("key_results") or []:
            if isinstance(kr, dict) and "id" in kr:
                out[str(kr["id"])] = kr
    return out


def okr_projections(
    ctx: GamingContext, metric: str, *, period: str | None = None, clip: float = 0.3
) -> tuple[pd.DataFrame, str]:
    """Per agent: trend projection of ``metric`` to the end of the OKR period, and actual.

    Returns
    -------
    (table, period): table ``agent_id, n_hist, hist_mean, projection, se_proj,
    actual, n_actual, period_start``; ``period`` is the OKR period label used.
    """
    tabs, period = okr_projections_many(ctx, [metric], period=period, clip=clip)
    return tabs[metric], period


def okr_projections_many(
    ctx: GamingContext, metrics, *, period: str | None = None, clip: float = 0.3
) -> tuple[dict[str, pd.DataFrame], str]:
    """:func:`okr_projections` of several metrics from one pass over the calls.

    The engine returns per agent the sums behind each metric's least-squares line
    (calls before the OKR period) and its mean in the period; the lines are solved
    here.

    Returns
    -------
    (tables, period): ``{metric: table}`` (tables as :func:`okr_projections`; empty
    when the period has no calls) and the OKR period label.
    """
    metrics = list(dict.fromkeys(metrics))
    unknown = [m for m in metrics if m not in PROJECTED_METRICS]
    if unknown:
        raise KeyError(f"metric(s) not projected: {', '.join(unknown)} "
                       f"(known: {', '.join(PROJECTED_METRICS)})")
    rel = panel_relation(ctx)  # period: the day of answer_ts
    gran = str(option(ctx, "period", "month")).lower()
    dia = dialect_of(ctx)
    label = dia.period_label(gran if gran in ("month", "week", "day") else "month",
                             "CAST(period AS DATE)")
    days = ctx.con.execute(
        f"SELECT DISTINCT CAST(period AS DATE) AS day, {label} AS per FROM ({rel}) c"
    ).df()
    if period is None:
        period = days["per"].max() if len(days) else None
    cur = days.loc[days["per"] == period, "day"]
    if cur.empty:
        return {m: pd.DataFrame() for m in metrics}, str(period)
    start, end = pd.Timestamp(cur.min()), pd.Timestamp(cur.max())
    x0 = (end - start).days
    params = {"short_call_s": short_call_s(ctx)}
    ys = ", ".join(f"{per_call_sql(m, **params)} AS y{i}" for i, m in enumerate(metrics))
    aggs = []
    for i in range(len(metrics)):
        h = f"x < 0 AND y{i} IS NOT NULL"
        aggs.append(
            f"count(y{i}) FILTER (WHERE x < 0) AS n{i}, sum(x) FILTER (WHERE {h}) AS sx{i}, "
            f"sum(y{i}) FILTER (WHERE x < 0) AS sy{i}, "
            f"sum(x * x) FILTER (WHERE {h}) AS sxx{i}, "
            f"sum(x * y{i}) FILTER (WHERE x < 0) AS sxy{i}, "
            f"sum(y{i} * y{i}) FILTER (WHERE x < 0) AS syy{i}, "
            f"count(DISTINCT x) FILTER (WHERE {h}) AS days{i}, "
            f"avg(y{i}) FILTER (WHERE cur) AS actual{i}, "
            f"count(y{i}) FILTER (WHERE cur) AS n_actual{i}"
        )
    df = ctx.con.execute(
        f"""
        WITH b AS (
            SELECT agent_id, {dia.day_diff.format(start="$start", end="CAST(period AS DATE)")}
                       AS x,
                   {label} = $p AS cur, {ys}
            FROM ({rel}) c
        )
        SELECT agent_id, {", ".join(aggs)}
        FROM b GROUP BY agent_id ORDER BY agent_id
        """,
        {"start": start.date(), "p": period},
    ).df()
    agent = df["agent_id"].astype(str)
    out = {}
    for i, m in enumerate(metrics):
        n = df[f"n{i}"].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, my = df[f"sx{i}"] / n, df[f"sy{i}"] / n
        sxx = df[f"sxx{i}"] - n * mx**2
        sxy = df[f"sxy{i}"] - n * mx * my
        syy = df[f"syy{i}"] - n * my**2
        ok_slope = (sxx > 1e-9) & (df[f"days{i}"] >= 3)
        slope = np.where(ok_slope, sxy / sxx.where(sxx > 1e-9, 1.0), 0.0)
        resid = np.maximum(syy - slope * sxy, 0.0)
        s2 = resid / np.maximum(n - 2, 1)
        proj = my + slope * (x0 - mx)
        se = np.sqrt(s2 * (1.0 / n + np.where(ok_slope,
                                                (x0 - mx) ** 2 / sxx.where(sxx > 1e-9, 1.0),
                                                0.0)))
        lo, hi = my - clip * my.abs(), my + clip * my.abs()
        proj = np.clip(proj, lo, hi)
        t = pd.DataFrame(
            {"agent_id": agent, "n_hist": df[f"n{i}"], "hist_mean": my, "projection": proj,
             "se_proj": se, "actual": df[f"actual{i}"], "n_actual": df[f"n_actual{i}"],
             "period_start": start}
        )
        out[m] = t[t["n_hist"] > 0].reset_index(drop=True)
    return out, str(period)


@CHECKS.register("okr_sandbagging")
def check_okr_sandbagging(ctx: GamingContext) -> CheckResult:
    """Own OKR targets easier than the agent's own trend, against peers (module docstring).

    Options: ``okr_period`` (default the last period), ``min_calls`` (30 calls
    of history per agent and key result), ``min_peers`` (8); with a roster with
    ``hire_date``, ``tenure_adjust`` (True) and ``novice_days`` (90).

    Returns
    -------
    CheckResult; flags have ``effect`` = mean slack of the agent's targets
    (percent easier than their own projection) minus the peers' median, ``n``
    = key results tested, ``k`` = key results attained in ``[1.0, 1.1)``.
    """
    name = "okr_sandbagging"
    okr = ctx.okr
    if not okr:
        return skipped(name, "no OKR configuration given")
    agents = okr.get("agents") or {}
    if not agents:
        return skipped(name, "the OKR configuration has no per-agent targets (agents:)")
    krs = _key_results(okr)
    min_calls = int(option(ctx, "min_calls", 30))
    min_peers = int(option(ctx, "min_peers", 8))
    tails = peer_tails(ctx)
    if tails is None:
        return peer_tails_skip(name, ctx)
    per_opt = option(ctx, "okr_period", None)
    rng = np.random.default_rng(seed(ctx, 81))
    notes: list[str] = []
    tested = []
    period = per_opt
    todo = []  # (key result id, metric, direction, per-agent targets)
    for kr_id, kr in krs.items():
        metric = str(kr.get("metric", ""))
        direction = str(kr.get("direction", "lower")).lower()
        if metric not in PROJECTED_METRICS:
            notes.append(f"key result {kr_id}: metric {metric!r} not tested for sandbagging")
            continue
        rows = []
        for aid, entry in agents.items():
            t = (entry or {}).get(kr_id)
            if isinstance(t, dict) and t.get("target") is not None:
                rows.append(dict(agent_id=str(aid), target=float(t["target"]),
                                 baseline=float(t.get("baseline", np.nan))))
        if rows:
            todo.append((kr_id, metric, direction, rows))
    adjust = flag_option(ctx, "tenure_adjust", True)
    novice_days = float(option(ctx, "novice_days", 90))
    if todo:  # every metric's projection from one pass over the calls
        projections, period = okr_projections_many(ctx, [m for _, m, _, _ in todo],
                                                    period=per_opt)
    for kr_id, metric, direction, rows in todo:
        proj = projections[metric]
        if proj.empty:
            continue
        t = pd.DataFrame(rows).merge(proj, on="agent_id")
        t = t[(t["n_hist"] >= min_calls) & (t["projection"].abs() > 1e-12)].copy()
        if t.empty:
            notes.append(f"key result {kr_id}: no agent with {min_calls} calls of history")
            continue
        sign = 1.0 if direction == "lower" else -1.0
        t["d"] = sign * (t["target"] - t["projection"]) / t["projection"].abs()
        t["se"] = t["se_proj"] / t["projection"].abs()
        gap = sign * (t["baseline"] - t["target"])
        t["attain"] = np.where(gap.abs() > 1e-12, sign * (t["baseline"] - t["actual"]) /
                               gap.where(gap.abs() > 1e-12, 1.0), np.nan)
        t["kr"] = kr_id
        t["period"] = period
        t["novice_shift"] = 0.0
        if adjust:
            t, note = _tenure_adjust(ctx, t, novice_days)
            if note:
                notes.append(f"key result {kr_id}: {note}")
        res, n2 = peer_test_by_period(t, min_peers=min_peers, rng=rng, tails=tails)
        notes += [f"key result {kr_id}: {x}" for x in n2]
        tested.append(res)
    if not tested or all(len(x) == 0 for x in tested):
        return CheckResult(name=name, flags=make_flags([]),
                           skipped="no key result with per-agent targets could be tested",
                           notes=notes)
    allr = pd.concat([x for x in tested if len(x)], ignore_index=True)
    att = allr["attain"].to_numpy(float)
    above = int(np.sum((att >= 1.0) & (att < 1.1)))
    below = int(np.sum((att >= 0.9) & (att < 1.0)))
    if above + below:
        pb = stats.binomtest(above, above + below, 0.5, alternative="greater").pvalue
        notes.append(f"attainment piling: {above} key results in [1.0, 1.1) vs {below} in "
                     f"[0.9, 1.0) (one-sided binomial p {pb:.3g})")
    # one flag per agent x period; plain lists and group positions (a pandas sub-frame per
    # agent costs seconds with thousands of agents)
    parts = [
        f"{kr}: target {tg:g} vs own projection {pr:.4g} "
        f"(slack {100 * (d + sh):+.1f}%"
        + (f", novices' typical {100 * sh:+.1f}% removed" if sh else "")
        + f", peers' median {100 * c:+.1f}%, z {z:.2f}; attainment {a:.2f})"
        for kr, tg, pr, d, c, z, a, sh in zip(
            *(allr[col].tolist() for col in ("kr", "target", "projection", "d", "center", "z",
                                             "attain", "novice_shift")), strict=True)
    ]
    excess = (allr["d"] - allr["center"]).to_numpy(float)
    pv = allr["p_value"].to_numpy(float)
    groups = allr.groupby(["agent_id", "period"], sort=True).indices
    rows = []
    for aid, per in sorted(groups):
        idx = groups[(aid, per)]
        a = att[idx]
        rows.append(
            dict(
                agent_id=aid, period=per, check=name,
                effect=100.0 * float(pd.Series(excess[idx]).mean()),
                effect_unit="% easier targets than the agent's own trend, beyond peers' median",
                p_value=fisher_combine(*[np.array([v]) for v in pv[idx]])[0], n=len(idx),
                k=int(np.sum((a >= 1.0) & (a < 1.1))),
                detail="; ".join(parts[i] for i in idx),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)


def _tenure_adjust(ctx: GamingContext, t: pd.DataFrame,
                   novice_days: float) -> tuple[pd.DataFrame, str]:
    """Remove the novices' typical excess slack from novices' ``d`` (module docstring).

    Returns the table (``d`` adjusted, ``novice_shift`` the amount removed) and a note
    ("" when no roster with ``hire_date`` or too few novices or others).
    """
    per = t[["agent_id", "period"]].assign(start=t["period_start"])
    novice = novice_flags(ctx, per, novice_days)
    if novice is None:
        return t, ""
    key = pd.MultiIndex.from_frame(t[["agent_id", "period"]])
    nov = novice.reindex(key).fillna(False).astype(bool).to_numpy()
    if nov.sum() < 3 or (~nov).sum() < 3:
        return t, ""
    d = t["d"].to_numpy(float)
    # one-sided: the adjustment gives novices the benefit of their learning and never makes
    # a novice look worse (on ccpm synth worlds whose novices' targets were typically
    # *harder*, a symmetric shift pushed two honest novices over the bar)
    shift = max(0.0, float(np.median(d[nov]) - np.median(d[~nov])))
    if shift == 0.0:
        return t, ""
    t = t.copy()
    t["novice_shift"] = np.where(nov, shift, 0.0)
    t["d"] = d - t["novice_shift"].to_numpy()
    return t, (f"{int(nov.sum())} agents hired < {novice_days:g} days before the OKR period: "
               f"the novices' typical slack ({100 * shift:+.1f}% beyond the others') removed "
               "first (roster hire_date)")
