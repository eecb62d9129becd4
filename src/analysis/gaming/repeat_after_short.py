"""Repeat calls after an agent's short calls (check ``repeat_after_short``).

A call cut short by the agent (a hang-up, a brush-off) leaves the customer's
problem unsolved, so the customer calls again. If an agent's short calls are
followed by repeat calls much more often than their other calls are, and more
than peers' short calls are, the short calls were likely not the customer's
doing.

Statistic
---------
A handled call is a *repeat source* when the same ``customer_id`` calls again
within ``repeat_window_h`` hours (default :data:`analysis.config.REPEAT_WINDOW_H`,
72) of the answer, as in :mod:`analysis.panel`; calls whose window runs past
the end of the data are censored (left out). Per agent x period the log odds
ratio of "repeat" between the agent's short calls (talk below
``short_call_s``) and their other calls (Haldane-corrected, Woolf SE).

Null model
----------
Short calls are followed by repeats more often for every agent (dropped lines,
wrong numbers), and by how much varies between agents. The null is the peers'
distribution of the same log odds ratio: robust peer test with a
parametric-bootstrap p-value (:func:`._sigutil.peer_contrast_pvalues`),
one-sided (more repeats after short calls). Agents need ``min_short`` short
calls (default 10) with an observed window.

Columns needed: ``customer_id`` (calls without one, or with ``0``, are not
linked), ``answer_ts``, ``talk_s``, ``arrival_ts`` (without it the answer time
stands in, as in the panel). Skipped without ``customer_id``.

What it cannot see: repeats through other channels (chat, e-mail, branch);
customers not identified; a gamer whose customers give up. A high rate after
*all* of an agent's calls (poor resolution) is not this check's signal (see
the panel's ``repeat_call_rate``).

References
----------
SQM Group. First call resolution: definition and measurement (repeat-call proxy).
Woolf, B. (1955). On estimating the relation between blood group and disease.
*Annals of Human Genetics* 19, 251–253 (SE of the log odds ratio).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import REPEAT_WINDOW_H
from ..metrics import per_call_sql
from ._base import CHECKS, CheckResult, GamingContext
from ._context import panel_relation
from ._sigutil import (
    log_odds_ratio,
    make_flags,
    option,
    peer_test_by_period,
    period_sql,
    seed,
    short_call_s,
    skipped,
)

__all__ = ["check_repeat_after_short", "repeat_counts"]


def repeat_counts(ctx: GamingContext, *, window_h: float = REPEAT_WINDOW_H) -> pd.DataFrame:
    """Per agent x period: repeat sources among short and other calls (censored windows out).

    The repeat flag, its window and censoring are the panel's (``is_repeat`` of
    :func:`analysis.panel.panel_sql`'s per-call relation) and "short" is the
    ``short_call_rate`` metric's per-call value, over the calls of linked customers
    (``customer_id`` not empty or ``0``; the end of the data is their last arrival).

    Returns
    -------
    DataFrame ``agent_id, period, n_short, k_short, n_other, k_other, censored``.
    """
    rel = panel_relation(
        ctx, where="customer_id IS NOT NULL AND CAST(customer_id AS STRING) NOT IN ('', '0')",
        repeat_window_h=float(window_h))
    short = f"({per_call_sql('short_call_rate', short_call_s=short_call_s(ctx))}) = 1"
    sql = f"""
    SELECT agent_id, {period_sql(ctx, "period")} AS period,
           count(*) FILTER (WHERE is_repeat IS NOT NULL AND short) AS n_short,
           count(*) FILTER (WHERE is_repeat = 1 AND short) AS k_short,
           count(*) FILTER (WHERE is_repeat IS NOT NULL AND NOT short) AS n_other,
           count(*) FILTER (WHERE is_repeat = 1 AND NOT short) AS k_other,
           count(*) FILTER (WHERE is_repeat IS NULL) AS censored
    FROM (SELECT agent_id, period, is_repeat, {short} AS short FROM ({rel}) c)
    GROUP BY ALL ORDER BY agent_id, period
    """
    df = ctx.con.execute(sql).df()
    df["agent_id"] = df["agent_id"].astype(str)
    df["period"] = df["period"].astype(str)
    return df


@CHECKS.register("repeat_after_short")
def check_repeat_after_short(ctx: GamingContext) -> CheckResult:
    """Repeat calls after short calls vs after other calls, against peers (module docstring).

    Options: ``repeat_window_h`` (72), ``min_short`` (10), ``min_peers`` (8).

    Returns
    -------
    CheckResult; flags have ``effect`` = repeat rate after short calls minus
    after other calls (percentage points), ``n`` = short calls with an observed
    window, ``k`` = those followed by a repeat.
    """
    name = "repeat_after_short"
    if "customer_id" not in ctx.columns:
        return skipped(name, "customer_id is missing: repeat calls cannot be linked")
    window = float(option(ctx, "repeat_window_h", REPEAT_WINDOW_H))
    min_short = int(option(ctx, "min_short", 10))
    tab = repeat_counts(ctx, window_h=window)
    tab = tab[(tab["n_short"] >= min_short) & (tab["n_other"] >= min_short)].copy()
    if tab.empty:
        return skipped(name, f"no agent has {min_short} short calls with an observed "
                       f"{window:g}-hour window")
    tab["d"], tab["se"] = log_odds_ratio(tab["k_short"], tab["n_short"], tab["k_other"],
                                         tab["n_other"])
    res, notes = peer_test_by_period(tab, min_peers=int(option(ctx, "min_peers", 8)),
                                     rng=np.random.default_rng(seed(ctx, 41)))
    rows = []
    for r in res.itertuples(index=False):
        rs, ro = r.k_short / r.n_short, r.k_other / r.n_other
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (rs - ro),
                effect_unit=f"percentage points more repeat calls (within {window:g} h) after "
                "short calls than after the agent's other calls",
                p_value=r.p_value, n=int(r.n_short), k=int(r.k_short),
                detail=(f"repeats after short calls {100 * rs:.0f}% vs other calls "
                        f"{100 * ro:.0f}%; odds ratio {np.exp(r.d):.2f} vs peers' median "
                        f"{np.exp(r.center):.2f} (z {r.z:.2f}); {r.censored} calls censored"),
            )
        )
    notes.append(f"repeat window {window:g} h from the answer; calls whose window passes the "
                 "end of the data are censored")
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
