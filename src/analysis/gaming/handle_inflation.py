"""After-call-work and hold against peers and against the agent's own past (checks
``acw_inflation``, ``hold_inflation``, ``acw_change``, ``hold_change``).

An agent who pads wrap-up (after-call work, ACW) or parks callers on hold
buys idle time while the handle-time figures blame the calls. ``*_inflation``
compares each agent's typical ACW (or hold) per call with same-queue peers in
the same period (the *level*); ``*_change`` compares its change since the
previous period with the same-queue peers' changes (*own history*).

Level: evidence, not a decision. Honest habits differ by more than padding does, so a
level far above the peers names an unusual agent, not a gamer: of the 1.3-1.6x padders
from day one in ``benchmarks/results/``, a level found none in ccpm's clean, messy and
heavy-habit worlds and one of 80 in the outside worlds (``benchmarks/worlds_outside.py``),
while there 15 of the 19 honest agents flagged were wrap-up or hold habits 3.7-43x the
center median, flagged on their level alone. The level rows are kept, with
their p-values, for whoever reads an agent's evidence, but the agent-level decision does
not combine them (:data:`._agents.EVIDENCE_ONLY`); padding is decided on by the change
test here and the step checks of :mod:`.own_history`. Until 2026-12-07 one row per agent
and period carried ``2 min(p_level, p_change)``.

Statistic
---------
Per agent x queue x period ``d = log(1 + mean seconds)``: padding, and the
honest habits it hides among, act as *factors* on the time (or on the share of
calls put on hold), and the log of the mean turns a factor into a shift. (The
mean of ``log(1 + seconds)`` was tried first: it is not additive in a factor
on the hold *probability*, so honest agents with a high hold habit had
right-skewed scores and were flagged.) ``se`` by the delta method,
``sd / ((1 + mean) sqrt(n))``.

Null model
----------
Honest agents differ in ACW and hold habits by more than sampling noise, and
the size of that spread differs between queues (hold is rare in one queue and
routine in another: pooling queues flagged honest agents of the high-spread
queue). So each queue x period is its own peer group, with a random-effects
null ``d_i = mu + u_i + e_i`` whose honest between-agent SD ``tau`` is
estimated robustly (median of the agents' means, and the robust Paule-Mandel
``tau`` of :func:`._sigutil.robust_center_scale`, which weighs main-queue agents
against the noisier agents who take a few of the queue's calls). The p-value of the robust z-score is a parametric
bootstrap of that whole procedure under the fitted null (see
:func:`._sigutil.peer_contrast_pvalues`; it accounts for estimating ``tau``
from a dozen peers), one-sided (more time than peers). An agent's queues are
combined by their call-weighted mean z-score (an agent's habit is shared by
all their queues, so the queue scores are not independent:
:func:`._sigutil.stratified_peer_test`).
Honest habits can be heavier-tailed than a normal spread (a few agents wrap up
twice as long as their peers for reasons of their own): the spread's shape is
chosen from the queue x period groups' lower halves and upper shoulders
(below their 90th percentiles), where a few padders cannot reach (option
``peer_tails``, :mod:`._peert`; ``auto`` keeps the normal unless those reject
it). On messy worlds whose honest after-call work and hold carry a further
Student-t3 factor, honest agents flagged fell from 1.75 % to 0.25 %
(``benchmarks/results/gaming_calibration.md``).
Calibration is verified on simulated centers where honest agents differ by
skill, tenure and queue (``tests/test_gaming_handle_inflation.py``).

Tenure
------
New hires wrap up and hold more while they learn, so without tenure a novice
looks like a padder. When ``ctx.roster`` has ``hire_date``, agents hired
less than ``novice_days`` (default 90) before the period are compared after
removing the novices' typical excess (median deviation of novices minus that
of the others, pooled over queues, per period; option ``tenure_adjust``).

Own history
-----------
Padding that *starts* (after a new handle-time target, say) hides among
honest habits in a cross-section but stands out against the agent's own
past. So ``*_change`` tests the change of the agent's queue mean since the
previous period, against the same-queue peers' changes (same robust
machinery; honest period-to-period changes are small, so this has far more
power for an onset), on unadjusted values (tenure cancels within an agent). The first
period, and agents without the queue the period before, have no change row; with one
period, or option ``own_history`` off, the change checks are skipped.

Columns needed: ``acw_s`` (or ``hold_s``), ``queue``, ``agent_id``,
``answer_ts``. The check is skipped when the column is missing or zero on
every handled call (e.g. Anonymous Bank 1999 records service time only).

What it cannot see: a padder whose honest habit is fast (the cross-section
cannot tell them from an average honest agent; the own-history test can if
the padding started within the data); padding shared by the whole queue (the peer median moves
with it: compare periods or use change points); an agent who pads only a few
calls by a lot (the log mean moves little); the reason for the extra time
(complex cases routed to one agent look the same: read ``detail``).

References
----------
Rousseeuw, P. J. & Croux, C. (1993). Alternatives to the median absolute
deviation. *JASA* 88, 1273–1283 (MAD scale).
DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical trials.
*Controlled Clinical Trials* 7, 177–188 (between-unit variance tau^2).
Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*
(parametric bootstrap).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import CHECKS, CheckResult, GamingContext, dialect_of
from ._sigutil import (
    HANDLED,
    cached_df,
    flag_option,
    has_nonzero,
    make_flags,
    novice_flags,
    option,
    peer_tails,
    peer_tails_skip,
    period_sql,
    run_once,
    seed,
    skipped,
    stratified_peer_test,
)

__all__ = ["check_acw_change", "check_acw_inflation", "check_hold_change", "check_hold_inflation",
           "duration_change", "duration_inflation"]

_LABEL = {"acw_s": "after-call work", "hold_s": "hold"}


def _inflation_table(ctx: GamingContext, column: str, name: str):
    """Level and change tests of a per-call duration ``column`` (both checks of a metric).

    Returns ``(table, notes, None)`` or ``(None, None, skipped CheckResult)``, ``notes`` a
    dict ``{"level": [...], "change": [...]}`` (each check reports its own); the table has
    per agent x period the level test (``p_value``, ``z``, ``d_raw``, ...) and, where the
    agent had the queue the period before, the change test (``p_change``, ``z_change``,
    ``d_change``, ``n_change``). Computed once per run and metric.

    Agent-vs-same-queue-peers test of a per-call duration ``column``.

    Options: ``min_calls`` (default 30 handled calls per agent, queue and
    period), ``min_peers`` (default 8 agents per queue and period),
    ``own_history`` (default True: also test the change since the previous
    period), ``tenure_adjust`` (True) and ``novice_days`` (90) when a roster
    with ``hire_date`` is given, ``peer_tails`` (``auto``, ``normal`` or ``t``:
    the honest spread's shape, :func:`._sigutil.peer_spread`).

    """
    if column not in ctx.columns:
        return None, None, skipped(name, f"{column} is missing: no {_LABEL[column]} times "
                                   "in the data")
    if not has_nonzero(ctx, column):
        return None, None, skipped(
            name, f"{column} is zero on every handled call (the source records no "
            f"{_LABEL[column]} split)"
        )
    tails = peer_tails(ctx)
    if tails is None:
        return None, None, peer_tails_skip(name, ctx)
    res, notes = run_once(ctx, ("inflation_table", column),
                          lambda: _compute_inflation_table(ctx, column, tails))
    if res is None:
        return None, None, skipped(name, "no handled calls")
    return res.copy(), {k: list(v) for k, v in notes.items()}, None


def _compute_inflation_table(ctx: GamingContext, column: str, tails: str):
    """:func:`_inflation_table`'s ``(table, {"level": notes, "change": notes})``, computed
    (``(None, None)``: no calls)."""
    min_calls = int(option(ctx, "min_calls", 30))  # per agent x queue x period
    min_peers = int(option(ctx, "min_peers", 8))
    per = period_sql(ctx)
    big = dialect_of(ctx).exact_int
    # both checks (ACW and hold) and the periods' first days from one scan per run
    allcells = cached_df(
        ctx,
        f"""
        SELECT agent_id, {per} AS period, queue,
               count(*) AS n,
               -- exact integer sums (milliseconds): float sums depend on thread order
               CAST(sum(acw) AS DOUBLE) / 1e3 AS secs_acw_s,
               CAST(sum(acw * acw) AS DOUBLE) / 1e6 AS ss_acw_s,
               CAST(sum(hold) AS DOUBLE) / 1e3 AS secs_hold_s,
               CAST(sum(hold * hold) AS DOUBLE) / 1e6 AS ss_hold_s,
               min(CAST(answer_ts AS DATE)) AS first_day
        FROM (SELECT agent_id, queue, answer_ts, arrival_ts,
                     CAST(round(greatest(coalesce(acw_s, 0), 0) * 1e3) AS {big}) AS acw,
                     CAST(round(greatest(coalesce(hold_s, 0), 0) * 1e3) AS {big}) AS hold
              FROM calls WHERE {HANDLED})
        GROUP BY ALL ORDER BY agent_id, period, queue
        """,
    )
    if allcells.empty:
        return None, None
    cells = allcells[["agent_id", "period", "queue", "n"]].assign(
        secs=allcells[f"secs_{column}"], ss=allcells[f"ss_{column}"])
    cells["agent_id"] = cells["agent_id"].astype(str)
    cells["period"] = cells["period"].astype(str)
    mean = cells["secs"] / cells["n"]
    var = np.maximum(cells["ss"] - cells["n"] * mean**2, 0) / np.maximum(cells["n"] - 1, 1)
    cells["d"] = np.log1p(mean)
    cells["se"] = np.sqrt(var / cells["n"]) / (1.0 + mean)
    notes: list[str] = []
    change_notes: list[str] = []
    raw_cells = cells  # the change test uses unadjusted values (tenure cancels within agent)
    shift = pd.Series(0.0, index=pd.MultiIndex.from_frame(
        cells[["agent_id", "period"]].drop_duplicates()))
    if flag_option(ctx, "tenure_adjust", True):
        starts = cells.groupby("period", as_index=False).size()[["period"]]
        first = allcells.assign(period=allcells["period"].astype(str)).groupby("period")[
            "first_day"].min()
        starts["start"] = first.reindex(starts["period"].astype(str)).to_numpy()
        ap = cells[["agent_id", "period"]].drop_duplicates().merge(starts, on="period")
        novice = novice_flags(ctx, ap, float(option(ctx, "novice_days", 90)))
        if novice is not None:
            cells = _tenure_adjust(cells, novice, min_calls)
            shift = cells.groupby(["agent_id", "period"])["shift"].first()
            notes.append(
                "tenure: agents hired < "
                f"{float(option(ctx, 'novice_days', 90)):g} days before the period are "
                "compared after removing the novices' typical excess (roster hire_date)"
            )
    level, n1 = stratified_peer_test(
        cells, min_peers=min_peers, min_cell=min_calls,
        rng=np.random.default_rng(seed(ctx, 11 if column == "acw_s" else 12)), tails=tails,
    )
    notes += n1
    res = level
    res["shift"] = shift.reindex(pd.MultiIndex.from_frame(res[["agent_id", "period"]])).fillna(
        0.0).to_numpy()
    tot = cells.groupby(["agent_id", "period"])[["secs", "n"]].sum()
    res = res.join(tot.rename(columns={"n": "n_all"}), on=["agent_id", "period"])
    # own history: change since the previous period, against peers' changes
    res["p_change"] = np.nan
    res["z_change"] = np.nan
    res["d_change"] = np.nan
    res["n_change"] = np.nan
    if flag_option(ctx, "own_history", True):
        periods = sorted(raw_cells["period"].unique())
        prev_of = dict(zip(periods[1:], periods[:-1], strict=True))
        prev = raw_cells.assign(
            period=raw_cells["period"].map({v: k for k, v in prev_of.items()}))
        ch = raw_cells.merge(prev.dropna(subset=["period"]), on=["agent_id", "period", "queue"],
                             suffixes=("", "_prev"))
        if len(ch):
            ch = ch.assign(
                d=ch["d"] - ch["d_prev"], se=np.sqrt(ch["se"] ** 2 + ch["se_prev"] ** 2),
                n=np.minimum(ch["n"], ch["n_prev"]),
            )
            chg, n2 = stratified_peer_test(
                ch, min_peers=min_peers, min_cell=min_calls,
                rng=np.random.default_rng(seed(ctx, 13 if column == "acw_s" else 14)),
                tails=tails,
            )
            change_notes += n2
            chg = chg.set_index(["agent_id", "period"])
            key = pd.MultiIndex.from_frame(res[["agent_id", "period"]])
            res["p_change"] = chg["p_value"].reindex(key).to_numpy()
            res["z_change"] = chg["z"].reindex(key).to_numpy()
            res["d_change"] = chg["d_raw"].reindex(key).to_numpy()
            res["n_change"] = chg["n"].reindex(key).to_numpy()
    return res, {"level": notes, "change": change_notes}


def duration_inflation(ctx: GamingContext, column: str, name: str) -> CheckResult:
    """The level test: each agent's mean ``column`` against same-queue peers, per period.

    Options: ``min_calls`` (default 30 handled calls per agent, queue and period),
    ``min_peers`` (default 8 agents per queue and period), ``tenure_adjust`` (True) and
    ``novice_days`` (90) when a roster with ``hire_date`` is given, ``peer_tails``
    (``auto``, ``normal`` or ``t``: the honest spread's shape,
    :func:`._sigutil.peer_spread`).

    Returns
    -------
    CheckResult whose flags have ``effect`` = percent more seconds per call
    than the same-queue median agent (on ``1 + mean seconds``), ``n`` = handled
    calls in the tested queues, ``k`` empty. Evidence only: these rows do not enter the
    agent-level decision (:data:`._agents.EVIDENCE_ONLY`; module docstring).
    """
    res, notes, skip = _inflation_table(ctx, column, name)
    if skip is not None:
        return skip
    notes = notes["level"]
    rows = []
    for r in res.itertuples(index=False):
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (np.exp(r.d_raw) - 1.0),
                effect_unit=f"% more {_LABEL[column]} per call than the same-queue "
                f"median agent (1 + mean seconds)",
                p_value=r.p_value, n=int(r.n), k=None,
                detail=(
                    f"mean {_LABEL[column]} {r.secs / r.n_all:.0f} s/call; level z "
                    f"{r.z:.2f} over {r.queues} queue(s) against same-queue peers"
                    + (f" (novice: typical novice excess {100 * (np.exp(r.shift) - 1):+.0f}% "
                       "removed first)" if r.shift else "")
                ),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)


def duration_change(ctx: GamingContext, column: str, name: str) -> CheckResult:
    """The own-history test: the change of each agent's mean ``column`` since the previous
    period, against the same-queue peers' changes (module docstring, "Own history").

    Options as :func:`duration_inflation` (``own_history`` False skips it).

    Returns
    -------
    CheckResult whose flags (periods with a previous one) have ``effect`` = percent change
    of ``1 + mean seconds`` since the previous period, ``n`` = the smaller of the two
    periods' calls in the tested queues, ``k`` empty.
    """
    if not flag_option(ctx, "own_history", True):
        return skipped(name, "option own_history is off")
    res, notes, skip = _inflation_table(ctx, column, name)
    if skip is not None:
        return skip
    res = res[res["p_change"].notna()]
    if res.empty:
        return skipped(name, "no agent has the same queue in two consecutive periods "
                       "(one period, or too few calls)")
    notes = notes["change"]
    rows = []
    for r in res.itertuples(index=False):
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (np.exp(r.d_change) - 1.0),
                effect_unit=f"% more {_LABEL[column]} per call than the period before, "
                "beyond same-queue peers' change",
                p_value=r.p_change, n=int(r.n_change), k=None,
                detail=(
                    f"mean {_LABEL[column]} {r.secs / r.n_all:.0f} s/call; change since the "
                    f"previous period {100 * (np.exp(r.d_change) - 1):+.0f}% (z "
                    f"{r.z_change:.2f} against same-queue peers' changes); level z {r.z:.2f}"
                ),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)


def _tenure_adjust(cells: pd.DataFrame, novice: pd.Series, min_calls: int) -> pd.DataFrame:
    """Subtract the novices' typical excess (per period) from novices' ``d``.

    Within each queue x period the deviations from the queue median are
    pooled over queues; the shift is median(novices) - median(others), used
    when each side has at least 3 agent-queue cells, else 0.
    """
    c = cells.copy()
    key = pd.MultiIndex.from_frame(c[["agent_id", "period"]])
    c["novice"] = novice.reindex(key).fillna(False).astype(bool).to_numpy()
    ok = c["n"] >= min_calls
    c["dev"] = c["d"] - c[ok].groupby(["period", "queue"])["d"].transform("median")
    c["shift"] = 0.0
    for per, g in c[ok].groupby("period"):
        nov, rest = g.loc[g["novice"], "dev"], g.loc[~g["novice"], "dev"]
        if len(nov) >= 3 and len(rest) >= 3:
            c.loc[(c["period"] == per) & c["novice"], "shift"] = float(nov.median() - rest.median())
    c["d"] = c["d"] - c["shift"]
    return c.drop(columns=["dev"])


@CHECKS.register("acw_inflation")
def check_acw_inflation(ctx: GamingContext) -> CheckResult:
    """After-call-work inflation against same-queue peers (see the module docstring)."""
    return duration_inflation(ctx, "acw_s", "acw_inflation")


@CHECKS.register("hold_inflation")
def check_hold_inflation(ctx: GamingContext) -> CheckResult:
    """Hold inflation against same-queue peers (see the module docstring)."""
    return duration_inflation(ctx, "hold_s", "hold_inflation")


@CHECKS.register("acw_change")
def check_acw_change(ctx: GamingContext) -> CheckResult:
    """After-call work up since the previous period, against peers' changes (module docstring)."""
    return duration_change(ctx, "acw_s", "acw_change")


@CHECKS.register("hold_change")
def check_hold_change(ctx: GamingContext) -> CheckResult:
    """Hold up since the previous period, against peers' changes (module docstring)."""
    return duration_change(ctx, "hold_s", "hold_change")
