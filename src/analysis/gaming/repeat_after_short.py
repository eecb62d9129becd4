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
    peer_tails,
    peer_tails_skip,
    peer_test_by_period,
    period_sql,
    seed,
    short_call_s,
    skipped,
)

__all__ = ["check_repeat_after_short", "repeat_counts", "check_repeated_short_calls",
           "repeated_short_counts"]


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
    tails = peer_tails(ctx)
    if tails is None:
        return peer_tails_skip(name, ctx)
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
                                     rng=np.random.default_rng(seed(ctx, 41)), tails=tails)
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


#: Name of the study check :func:`check_repeated_short_calls` (not registered).
REPEATED_SHORT = "repeated_short_calls"


def repeated_short_counts(ctx: GamingContext, *,
                          window_h: float = REPEAT_WINDOW_H) -> pd.DataFrame:
    """Per agent x period x queue: calls with an observed repeat window (``n``) and, among
    them, short calls followed by a repeat call of the same customer (``k``).

    Same definitions as :func:`repeat_counts` (the panel's repeat flag, window and
    censoring; ``short_call_rate``'s per-call "short"), split by queue so the peer null
    of :func:`.short_calls.short_calls_peer_table` compares an agent with the same queue.

    Returns
    -------
    DataFrame ``agent_id, period, queue, n, k`` (integers), sorted.
    """
    rel = panel_relation(
        ctx, where="customer_id IS NOT NULL AND CAST(customer_id AS VARCHAR) NOT IN ('', '0')",
        repeat_window_h=float(window_h))
    short = f"({per_call_sql('short_call_rate', short_call_s=short_call_s(ctx))}) = 1"
    sql = f"""
    SELECT CAST(agent_id AS VARCHAR) AS agent_id, {period_sql(ctx, "period")} AS period,
           CAST(queue AS VARCHAR) AS queue,
           count(*) FILTER (WHERE is_repeat IS NOT NULL) AS n,
           count(*) FILTER (WHERE is_repeat = 1 AND {short}) AS k
    FROM ({rel}) c
    GROUP BY ALL ORDER BY agent_id, period, queue
    """
    df = ctx.con.execute(sql).df()
    for c in ("agent_id", "period", "queue"):
        df[c] = df[c].astype(str)
    df["n"] = df["n"].astype(int)
    df["k"] = df["k"].astype(int)
    return df[df["n"] > 0].reset_index(drop=True)


def check_repeated_short_calls(ctx: GamingContext) -> CheckResult:
    """Short calls whose customer rang back, per handled call, against peers in the queue.

    Study check, *not registered* in the default battery (call it directly): wired into
    the hang-up signature as a face with ``repeat_after_short`` it changed no 20-day
    decision and on 61-day messy worlds lowered hang-up recall from 0.85 to 0.80 and
    raised the worst world's honest agents flagged from 1.7% to 2.2%
    (``benchmarks/results/gaming_calibration.md``, notes). Its model p-values share
    ``short_calls_peer``'s heavy tail on messy worlds (10x nominal at .001).

    Assumption (holds wherever a hang-up is a call the agent ends early on a customer
    whose problem is not solved): a hang-up is *both* a short call *and* more often
    followed by a repeat call of the same customer than a natural short call (a wrong
    number, a caller who had what they needed). The count that carries both traces
    is the number of the agent's short calls followed by a repeat within the window,
    per handled call with an observed window: ``e = P(short and repeat)``. For an
    honest agent it is (natural short rate) x (repeat rate after natural short
    calls); a hang-up adds (hang-up rate) x (repeat rate after hang-ups). In our
    simulator (``_sigsim``; 5% hang-ups, 3% natural short calls, repeats after 60%
    of hang-ups and ~25% of natural short calls) ``e`` grows about fivefold while
    the short-call share grows under threefold, so ``e`` separates better against
    heterogeneous honest peers: with the agents' *true* propensities known, a
    threshold at the honest agents' 98th centile catches 0.75 of the hang-up agents
    on ``e`` and 0.25 on the short-call share; on 20 observed days 0.5-0.6 and
    0.2-0.3 (``benchmarks/results/gaming_calibration.md``, notes). It needs no
    ``ended_by`` and does not care how long a hang-up lasts (any talk under the
    short-call threshold).

    Null model: the one of ``short_calls_peer`` (:func:`.short_calls.short_calls_peer_table`):
    agent ``i``'s rate in queue ``q`` is ``expit(m_q + s_q z_i)``, a random-intercept
    logistic model with ``m_q`` from the leave-one-out pooled rate of the queue's other
    agents in the period and ``s_q`` the between-agent spread fitted by maximum
    likelihood, extreme peers trimmed, several queues of an agent integrated over one
    latent. It therefore absorbs honest agents who differ in *both* their natural
    short-call rate and how often their short calls are followed by repeats, and queue
    differences in either. One-sided (more repeated short calls than peers). A pooled
    whole-window row (period ``all``) is added when there are several periods, as for
    ``short_calls_peer``.

    What it cannot see: hang-ups whose customers do not call back (or not within the
    window, or through another channel); unlinked customers; a short call the customer
    ended (``ended_by`` is not used: the check is meant for data without it).

    Options: ``repeat_window_h`` (72), ``min_calls`` (30), ``min_peers`` (5), ``randomized``.

    Returns
    -------
    CheckResult; flags have ``effect`` = repeated short calls per 100 calls above the
    peers' expectation, ``n`` = calls with an observed window, ``k`` = short calls
    followed by a repeat.

    References
    ----------
    Breslow, N. E. & Clayton, D. G. (1993). Approximate inference in generalized linear
    mixed models. *JASA* 88(421), 9-25 (random-intercept logistic model).
    SQM Group. First call resolution (repeat-call proxy).
    """
    from ._base import FLAG_COLUMNS
    from ._context import opt
    from .short_calls import _flags, short_calls_peer_table

    name = REPEATED_SHORT
    if "customer_id" not in ctx.columns:
        return skipped(name, "customer_id is missing: repeat calls cannot be linked")
    window = float(option(ctx, "repeat_window_h", REPEAT_WINDOW_H))
    counts = repeated_short_counts(ctx, window_h=window)
    kw = dict(min_calls=int(opt(ctx, "min_calls")), min_peers=int(ctx.options.get("min_peers", 5)),
              randomized=bool(ctx.options.get("randomized", False)))
    tab = short_calls_peer_table(counts, seed=seed(ctx, 43), **kw)
    if counts["period"].nunique() > 1:
        pooled = (counts.assign(period="all")
                  .groupby(["agent_id", "period", "queue"], as_index=False, sort=True)[["n", "k"]]
                  .sum())
        tab_all = short_calls_peer_table(pooled, seed=seed(ctx, 44), **kw)
        if len(tab_all):
            tab = pd.concat([tab, tab_all], ignore_index=True)
    if tab.empty:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="no agent x period with enough linked calls and peers")

    def detail(r) -> str:
        return (f"{r.k} of {r.n} calls ({100 * r.k / r.n:.1f}%) were short and followed by a "
                f"repeat within {window:g} h vs {100 * r.expected / r.n:.1f}% expected from "
                f"peers (queue {r.queues}; >= {r.peers} peers)")

    flags = _flags(tab, name, "more short calls followed by a repeat call, per 100 calls "
                   "(vs peers)", detail)
    return CheckResult(name, flags, notes=[
        f"short calls followed by a repeat of the same customer within {window:g} h, per "
        "call with an observed window, against peers in the queue (random-intercept "
        "logistic null, as short_calls_peer)"])
