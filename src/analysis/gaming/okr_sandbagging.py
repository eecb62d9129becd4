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

from ..panel import panel_sql
from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import (
    fisher_combine,
    make_flags,
    option,
    peer_test_by_period,
    seed,
    short_call_s,
    skipped,
)

__all__ = ["check_okr_sandbagging", "okr_projections", "METRIC_EXPR"]

#: Per-call value of each supported metric, over :func:`analysis.panel.panel_sql`'s relation.
METRIC_EXPR = {
    "aht_s": "handle_s",
    "talk_s": "talk_s",
    "hold_s": "hold_s",
    "acw_s": "acw_s",
    "short_call_rate": "CASE WHEN talk_s < {short} THEN 1.0 ELSE 0.0 END",
    "transfer_rate": "CAST(is_transfer AS DOUBLE)",
    "repeat_call_rate": "CAST(is_repeat AS DOUBLE)",
    "resolved_rate": "CAST(resolved_i AS DOUBLE)",
    "csat_mean": "csat",
    "qa_mean": "qa_score",
}


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
    actual, n_actual``; ``period`` is the OKR period label used.
    """
    cols = [r[0] for r in ctx.con.execute("DESCRIBE calls").fetchall()]
    sql = panel_sql(cols, source="calls", period="day",
                    short_call_s=short_call_s(ctx))["calls"]
    expr = METRIC_EXPR[metric].format(short=short_call_s(ctx))
    gran = str(option(ctx, "period", "month")).lower()
    fmt = {"month": "%Y-%m", "week": "%G-W%V", "day": "%Y-%m-%d"}.get(gran, "%Y-%m")
    base = f"""
        SELECT agent_id, CAST(period AS DATE) AS day,
               strftime(CAST(period AS DATE), '{fmt}') AS per, {expr} AS y
        FROM ({sql}) c
    """
    if period is None:
        period = ctx.con.execute(f"SELECT max(per) FROM ({base})").fetchone()[0]
    rng = ctx.con.execute(
        f"SELECT min(day), max(day) FROM ({base}) WHERE per = $p", {"p": period}
    ).fetchone()
    if rng[0] is None:
        return pd.DataFrame(), str(period)
    start, end = rng
    x0 = (pd.Timestamp(end) - pd.Timestamp(start)).days
    df = ctx.con.execute(
        f"""
        WITH b AS (
            SELECT agent_id, y, date_diff('day', $start, day) AS x, per FROM ({base})
            WHERE y IS NOT NULL
        )
        SELECT agent_id,
               count(*) FILTER (WHERE x < 0) AS n,
               sum(x) FILTER (WHERE x < 0) AS sx, sum(y) FILTER (WHERE x < 0) AS sy,
               sum(x * x) FILTER (WHERE x < 0) AS sxx, sum(x * y) FILTER (WHERE x < 0) AS sxy,
               sum(y * y) FILTER (WHERE x < 0) AS syy,
               count(DISTINCT x) FILTER (WHERE x < 0) AS days,
               avg(y) FILTER (WHERE per = $p) AS actual,
               count(*) FILTER (WHERE per = $p) AS n_actual
        FROM b GROUP BY agent_id
        """,
        {"start": start, "p": period},
    ).df()
    df["agent_id"] = df["agent_id"].astype(str)
    n = df["n"].astype(float)
    mx, my = df["sx"] / n, df["sy"] / n
    sxx = df["sxx"] - n * mx**2
    sxy = df["sxy"] - n * mx * my
    syy = df["syy"] - n * my**2
    ok_slope = (sxx > 1e-9) & (df["days"] >= 3)
    slope = np.where(ok_slope, sxy / sxx.where(sxx > 1e-9, 1.0), 0.0)
    resid = np.maximum(syy - slope * sxy, 0.0)
    s2 = resid / np.maximum(n - 2, 1)
    proj = my + slope * (x0 - mx)
    se = np.sqrt(s2 * (1.0 / n + np.where(ok_slope, (x0 - mx) ** 2 / sxx.where(sxx > 1e-9, 1.0),
                                                0.0)))
    lo, hi = my - clip * my.abs(), my + clip * my.abs()
    proj = np.clip(proj, lo, hi)
    out = pd.DataFrame(
        {"agent_id": df["agent_id"], "n_hist": df["n"], "hist_mean": my, "projection": proj,
         "se_proj": se, "actual": df["actual"], "n_actual": df["n_actual"]}
    )
    return out[out["n_hist"] > 0].reset_index(drop=True), str(period)


@CHECKS.register("okr_sandbagging")
def check_okr_sandbagging(ctx: GamingContext) -> CheckResult:
    """Own OKR targets easier than the agent's own trend, against peers (module docstring).

    Options: ``okr_period`` (default the last period), ``min_calls`` (30 calls
    of history per agent and key result), ``min_peers`` (8).

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
    per_opt = option(ctx, "okr_period", None)
    rng = np.random.default_rng(seed(ctx, 81))
    notes: list[str] = []
    tested = []
    period = per_opt
    for kr_id, kr in krs.items():
        metric = str(kr.get("metric", ""))
        direction = str(kr.get("direction", "lower")).lower()
        if metric not in METRIC_EXPR:
            notes.append(f"key result {kr_id}: metric {metric!r} not tested for sandbagging")
            continue
        rows = []
        for aid, entry in agents.items():
            t = (entry or {}).get(kr_id)
            if isinstance(t, dict) and t.get("target") is not None:
                rows.append(dict(agent_id=str(aid), target=float(t["target"]),
                                 baseline=float(t.get("baseline", np.nan))))
        if not rows:
            continue
        proj, period = okr_projections(ctx, metric, period=per_opt)
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
        res, n2 = peer_test_by_period(t, min_peers=min_peers, rng=rng)
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
    rows = []
    for (aid, per), g in allr.groupby(["agent_id", "period"], sort=True):
        p = fisher_combine(*[np.array([v]) for v in g["p_value"]])[0]
        parts = [
            f"{r.kr}: target {r.target:g} vs own projection {r.projection:.4g} "
            f"(slack {100 * r.d:+.1f}%, peers' median {100 * r.center:+.1f}%, z {r.z:.2f}; "
            f"attainment {r.attain:.2f})"
            for r in g.itertuples(index=False)
        ]
        a = g["attain"].to_numpy(float)
        rows.append(
            dict(
                agent_id=aid, period=per, check=name,
                effect=100.0 * float((g["d"] - g["center"]).mean()),
                effect_unit="% easier targets than the agent's own trend, beyond peers' median",
                p_value=p, n=len(g), k=int(np.sum((a >= 1.0) & (a < 1.1))),
                detail="; ".join(parts),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
