"""The registered gaming checks in words: one row per check, from the registry itself.

:func:`describe_checks` lists every check of :data:`~analysis.gaming.CHECKS` with the
behaviour it is evidence of (:data:`~analysis.gaming._agents.BEHAVIOUR_OF`, the key the
agent-level decision reports in ``behaviours``), its role in the decision and the first
line of its docstring, so a table of the checks (``gaming_checks.ipynb`` section 1) cannot
fall behind the checks that run: a new check module shows up the moment it registers.
"""

from __future__ import annotations

import re

import pandas as pd

from ._agents import BEHAVIOUR_OF, EVIDENCE_ONLY
from ._base import CENTER_LEVEL_CHECKS, CHECKS

__all__ = ["describe_checks", "CHECK_TABLE_COLUMNS"]

CHECK_TABLE_COLUMNS = ["behaviour", "check", "role", "description"]

#: the checks that add no flags, only dated steps (``GamingReport.changepoints``)
_TIMING = frozenset({"changepoints"})

_POINTER = re.compile(r"\s*\((?:see )?the module docstring\)|\s*\(module docstring\)")


def _first_line(obj) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    line = doc.splitlines()[0].strip() if doc else ""
    return _POINTER.sub("", line)


def _role(name: str) -> str:
    if name in _TIMING:
        return "timing: dates steps, flags no one"
    if name in EVIDENCE_ONLY:
        return "evidence only (shown, decides nothing)"
    if name in CENTER_LEVEL_CHECKS:
        return "center level"
    return "agent decision"


def describe_checks() -> pd.DataFrame:
    """Every registered gaming check: ``behaviour, check, role, description``.

    ``behaviour`` is the key of :data:`BEHAVIOUR_OF` (``timing`` for change points, the
    check's own name for a check not listed there); ``role`` says whether the check's
    p-values enter the agent-level decision, are evidence only, are about the whole center
    or only date steps; ``description`` is the first line of the check's docstring.
    Grouped by behaviour (in the order of :data:`BEHAVIOUR_OF`), then by check name.
    """
    order = {b: i for i, b in enumerate(dict.fromkeys(BEHAVIOUR_OF.values()))}
    rows = []
    for name in CHECKS.names():
        behaviour = "timing" if name in _TIMING else BEHAVIOUR_OF.get(name, name)
        rows.append({"behaviour": behaviour, "check": name, "role": _role(name),
                     "description": _first_line(CHECKS.get(name)) or "(no description)"})
    out = pd.DataFrame(rows, columns=CHECK_TABLE_COLUMNS)
    key = out["behaviour"].map(lambda b: order.get(b, len(order)))
    return (out.assign(_k=key).sort_values(["_k", "behaviour", "check"])
            .drop(columns="_k").reset_index(drop=True))
