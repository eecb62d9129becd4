"""The agent-level decision beside the planted truth of a synthetic center.

``gaming_checks.ipynb`` section 4 shows the decision, section 5 crosses it with the truth
``ccpm synth`` planted: :func:`agent_decision` and :func:`truth_recovery` do that work so
the notebook only calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["agent_decision", "truth_recovery", "Recovery", "planted"]


def planted(truth: pd.DataFrame) -> pd.Series | None:
    """Per row of a planted truth, whether the agent games: its ``gaming`` column (true /
    1 / yes), else its ``behaviour`` (``behavior``) not an honest one
    (:data:`analysis.synth._spec.HONEST_BEHAVIOURS`: a truth file written by another
    simulator may carry only behaviours); None when it has neither. The report's count of
    planted gamers found is read the same way."""
    if "gaming" in truth.columns:
        v = truth["gaming"]
        if v.dtype == bool:
            return v
        return v.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    col = next((c for c in ("behaviour", "behavior") if c in truth.columns), None)
    if col is None:
        return None
    from ..synth._spec import HONEST_BEHAVIOURS

    return ~truth[col].astype(str).isin(HONEST_BEHAVIOURS)


def _truth_frame(truth) -> pd.DataFrame | None:
    if truth is None:
        return None
    if not isinstance(truth, pd.DataFrame):
        truth = pd.read_csv(truth, dtype={"agent_id": str})
    t = truth.copy()
    t["agent_id"] = t["agent_id"].astype(str)
    gaming = planted(t)
    t["gaming"] = False if gaming is None else gaming.to_numpy(bool)
    if "behaviour" not in t:
        t["behaviour"] = t["gaming"].map({True: "gaming", False: "honest"})
    return t


def agent_decision(report, truth=None) -> pd.DataFrame:
    """One row per agent tested: the agent-level decision over the whole window (scope
    ``all`` of ``report.agents``: ``agent_id, p_value, q_value, flagged, behaviours, ...``)
    and, given the planted ``truth`` (a ``truth.csv`` path or frame), its ``behaviour`` and
    ``gaming`` (agents not in the truth: ``behaviour`` NaN, ``gaming`` False). Sorted by
    q-value, strongest first."""
    a = report.agents
    d = a[a["scope"] == "all"].copy()
    d["agent_id"] = d["agent_id"].astype(str)
    t = _truth_frame(truth)
    if t is not None:
        d = d.merge(t[["agent_id", "behaviour", "gaming"]], on="agent_id", how="left")
        d["gaming"] = d["gaming"].astype("boolean").fillna(False).astype(bool)
    return d.sort_values("q_value", kind="stable").reset_index(drop=True)


@dataclass
class Recovery:
    """``table``: planted behaviour x decision (agents tested); ``found`` of ``planted``
    gamers flagged; ``honest_flagged``; ``text`` in words (or why there is nothing)."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    found: int = 0
    planted: int = 0
    honest_flagged: int = 0
    flagged: int = 0
    text: str = ""


def truth_recovery(decision: pd.DataFrame, truth=None) -> Recovery:
    """Cross the decision (from :func:`agent_decision`) with the planted truth: how many
    planted gamers were flagged, how many honest agents were. A planted gamer who was not
    tested at all counts as missed. With no truth (real data) the result says so."""
    t = _truth_frame(truth)
    if t is None:
        return Recovery(text="No planted truth (real data): nothing to recover.")
    d = decision.copy()
    if "gaming" not in d:
        d = d.merge(t[["agent_id", "behaviour", "gaming"]], on="agent_id", how="left")
    gaming = d["gaming"].astype("boolean").fillna(False).astype(bool)
    flagged = d["flagged"].astype(bool)
    table = pd.crosstab(d["behaviour"].fillna("(not in truth)"),
                        flagged.map({True: "flagged", False: "not flagged"}))
    found, planted = int((gaming & flagged).sum()), int(t["gaming"].sum())
    honest = int((flagged & ~gaming).sum())
    n = int(flagged.sum())
    share = f" ({honest / n:.0%} of the {n} flagged)" if n else ""
    return Recovery(table=table, found=found, planted=planted, honest_flagged=honest,
                    flagged=n, text=f"found {found} of {planted} planted gamers; {honest} "
                                    f"honest agents flagged{share}")
