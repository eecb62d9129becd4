"""Satisfaction-survey selection (check ``survey_selection``).

Where agents can decide which callers reach the post-call survey (by
transferring to the IVR survey or not), a gamer sends the happy ones and
keeps the bad calls out, so their satisfaction score rises while nothing
improves. The signature is a survey coverage skewed toward good calls.

Statistic
---------
A handled call is *bad* when it is short (talk below ``short_call_s``) or,
where ``resolved`` is recorded, not resolved; a call is *surveyed* when it has
a ``csat`` value. Per agent x period the log odds ratio of being surveyed,
good calls against bad calls (Haldane-corrected, Woolf SE): positive when bad
calls are surveyed less.

Null model
----------
Honest coverage differs between good and bad calls too (a caller who hung up
is not surveyed), and by how much varies between agents. The null is the
peers' distribution of the same log odds ratio: robust peer test with a
parametric-bootstrap p-value (:func:`._sigutil.peer_contrast_pvalues`),
one-sided. Agents need ``min_bad`` bad calls (default 10).

Columns needed: ``csat`` (with some calls unsurveyed), ``talk_s``; ``resolved``
sharpens "bad". Skipped without ``csat`` or when every call has a score.

What it cannot see: selection that does not track short or unresolved calls
(e.g. by the caller's mood); surveys sent by the system at random (then there
is nothing to game and the check should find nothing); score tampering.

References
----------
Woolf, B. (1955). On estimating the relation between blood group and disease.
*Annals of Human Genetics* 19, 251–253.
Heckman, J. J. (1979). Sample selection bias as a specification error.
*Econometrica* 47, 153–161 (selection into the observed sample).
"""

from __future__ import annotations

import numpy as np

from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import (
    HANDLED,
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

__all__ = ["check_survey_selection"]


@CHECKS.register("survey_selection")
def check_survey_selection(ctx: GamingContext) -> CheckResult:
    """Survey coverage of bad vs good calls against peers (module docstring).

    Options: ``min_bad`` (10), ``min_peers`` (8).

    Returns
    -------
    CheckResult; flags have ``effect`` = survey rate of good calls minus that
    of bad calls (percentage points), ``n`` = bad calls, ``k`` = bad calls surveyed.
    """
    name = "survey_selection"
    if "csat" not in ctx.columns:
        return skipped(name, "csat is missing: no survey scores")
    tails = peer_tails(ctx)
    if tails is None:
        return peer_tails_skip(name, ctx)
    has_res = "resolved" in ctx.columns
    bad = "(talk_s < $short" + (" OR resolved = false)" if has_res else ")")
    per = period_sql(ctx)
    tab = ctx.con.execute(
        f"""
        SELECT agent_id, {per} AS period,
               count(*) FILTER (WHERE {bad}) AS n_bad,
               count(csat) FILTER (WHERE {bad}) AS k_bad,
               count(*) FILTER (WHERE NOT {bad}) AS n_good,
               count(csat) FILTER (WHERE NOT {bad}) AS k_good
        FROM calls WHERE {HANDLED}
        GROUP BY ALL ORDER BY agent_id, period
        """,
        {"short": short_call_s(ctx)},
    ).df()
    tot = tab[["k_bad", "k_good"]].to_numpy().sum() / max(tab[["n_bad", "n_good"]].to_numpy().sum(), 1)
    if tot >= 0.99:
        return skipped(name, "csat is present on (nearly) every call: no survey selection "
                       "to detect")
    min_bad = int(option(ctx, "min_bad", 10))
    tab["agent_id"] = tab["agent_id"].astype(str)
    tab["period"] = tab["period"].astype(str)
    tab = tab[(tab["n_bad"] >= min_bad) & (tab["n_good"] >= min_bad)].copy()
    if tab.empty:
        return skipped(name, f"no agent has {min_bad} short/unresolved calls")
    tab["d"], tab["se"] = log_odds_ratio(tab["k_good"], tab["n_good"], tab["k_bad"], tab["n_bad"])
    res, notes = peer_test_by_period(tab, min_peers=int(option(ctx, "min_peers", 8)),
                                     rng=np.random.default_rng(seed(ctx, 51)), tails=tails)
    what = "short or unresolved" if has_res else "short"
    rows = []
    for r in res.itertuples(index=False):
        rb, rg = r.k_bad / r.n_bad, r.k_good / r.n_good
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (rg - rb),
                effect_unit=f"percentage points higher survey rate on good calls than on "
                f"{what} calls",
                p_value=r.p_value, n=int(r.n_bad), k=int(r.k_bad),
                detail=(f"surveyed: good calls {100 * rg:.0f}%, {what} calls {100 * rb:.0f}%; "
                        f"odds ratio {np.exp(r.d):.2f} vs peers' median {np.exp(r.center):.2f} "
                        f"(z {r.z:.2f})"),
            )
        )
    notes.append(f"survey selection: bad = {what} (talk < {short_call_s(ctx):g} s"
                 + (" or resolved = false)" if has_res else ")"))
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
