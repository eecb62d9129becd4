"""After-call-work and hold inflation (checks ``acw_inflation`` and ``hold_inflation``).

An agent who pads wrap-up (after-call work, ACW) or parks callers on hold
buys idle time while the handle-time figures blame the calls. The check
compares each agent's typical ACW (or hold) per call with same-queue peers in
the same period.

Statistic
---------
Per call ``y = log(1 + seconds)`` (the durations are right-skewed; the log
makes a padding factor additive). Per agent x queue x period the mean of
``y``; each queue x period's centre is the median of its agents' means, and
the agent's estimate ``d`` is the call-weighted mean of (own queue mean -
queue centre): conditioning on queue mix without a mixed model. ``se`` comes
from the pooled within-queue variance.

Null model
----------
Honest agents differ in ACW habits by more than sampling noise, so the null is
a random-effects model ``d_i = mu + u_i + e_i`` with an honest between-agent
SD ``tau`` estimated robustly (median / MAD of the ``d_i``, minus the median
sampling variance). The p-value of the robust z-score is a parametric
bootstrap of that whole procedure under the fitted null (see
:func:`._sigutil.peer_contrast_pvalues`), one-sided (more time than peers).
Calibration is verified on simulated centers where honest agents differ by
skill, tenure and queue (``tests/test_gaming_handle_inflation.py``).

Columns needed: ``acw_s`` (or ``hold_s``), ``queue``, ``agent_id``,
``answer_ts``. The check is skipped when the column is missing or zero on
every handled call (e.g. Anonymous Bank 1999 records service time only).

What it cannot see: padding shared by the whole queue (the peer median moves
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

from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import (
    HANDLED,
    has_nonzero,
    make_flags,
    option,
    peer_test_by_period,
    period_sql,
    queue_adjusted_means,
    seed,
    skipped,
)

__all__ = ["check_acw_inflation", "check_hold_inflation", "duration_inflation"]

_LABEL = {"acw_s": "after-call work", "hold_s": "hold"}


def duration_inflation(ctx: GamingContext, column: str, name: str) -> CheckResult:
    """Agent-vs-same-queue-peers test of a per-call duration ``column``.

    Options: ``min_calls`` (default 30 handled calls per agent and period),
    ``min_peers`` (default 8 agents per period).

    Returns
    -------
    CheckResult whose flags have ``effect`` = percent longer than same-queue
    peers (geometric mean of 1 + seconds), ``n`` = handled calls, ``k`` empty.
    """
    if column not in ctx.columns:
        return skipped(name, f"{column} is missing: no {_LABEL[column]} times in the data")
    if not has_nonzero(ctx, column):
        return skipped(
            name, f"{column} is zero on every handled call (the source records no "
            f"{_LABEL[column]} split)"
        )
    min_calls = int(option(ctx, "min_calls", 30))
    min_peers = int(option(ctx, "min_peers", 8))
    per = period_sql(ctx)
    cells = ctx.con.execute(
        f"""
        SELECT agent_id, {per} AS period, queue,
               count(*) AS n,
               sum(ln(1 + greatest(coalesce({column}, 0), 0))) AS s,
               sum(ln(1 + greatest(coalesce({column}, 0), 0)) ^ 2) AS ss,
               sum(coalesce({column}, 0)) AS secs
        FROM calls WHERE {HANDLED}
        GROUP BY ALL
        """
    ).df()
    if cells.empty:
        return skipped(name, "no handled calls")
    cells["agent_id"] = cells["agent_id"].astype(str)
    cells["period"] = cells["period"].astype(str)
    tab = queue_adjusted_means(cells)
    secs = cells.groupby(["agent_id", "period"])["secs"].sum()
    tab = tab.join(secs, on=["agent_id", "period"])
    tab = tab[tab["n"] >= min_calls]
    res, notes = peer_test_by_period(
        tab, min_peers=min_peers, rng=np.random.default_rng(seed(ctx, 11 if column == "acw_s" else 12))
    )
    rows = []
    for r in res.itertuples(index=False):
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (np.exp(r.d - r.center) - 1.0),
                effect_unit=f"% more {_LABEL[column]} per call than same-queue peers "
                f"(geometric mean of 1+s)",
                p_value=r.p_value, n=int(r.n), k=None,
                detail=(
                    f"mean {_LABEL[column]} {r.secs / r.n:.0f} s/call; robust z {r.z:.2f} "
                    f"against {int((res['period'] == r.period).sum())} agents "
                    f"(honest spread tau {r.tau:.3f} log units)"
                ),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)


@CHECKS.register("acw_inflation")
def check_acw_inflation(ctx: GamingContext) -> CheckResult:
    """After-call-work inflation against same-queue peers (see the module docstring)."""
    return duration_inflation(ctx, "acw_s", "acw_inflation")


@CHECKS.register("hold_inflation")
def check_hold_inflation(ctx: GamingContext) -> CheckResult:
    """Hold inflation against same-queue peers (see the module docstring)."""
    return duration_inflation(ctx, "hold_s", "hold_inflation")
