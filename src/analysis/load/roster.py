"""Load the agent roster (optional input): one row per agent."""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ._build import Problems, build_columns
from ._mapping import resolve_mapping
from ._result import LoadResult, apply_rules, finish, read_raw

__all__ = ["load_roster", "ROSTER_REASONS"]

ROSTER_REASONS = {
    "malformed_row": "the line did not split into the header's number of fields",
    "unterminated_quote": "a quote opened on the line and did not close before its end (the "
    "lines it ran over are read again one line each)",
    "nul_byte": "a NUL character in a field (binary residue), wherever it is in the file",
    "missing_agent_id": "no agent id",
    "duplicate_agent_id": "agent id seen on an earlier row (the first is kept)",
    "unparseable_<column>": "a date that cannot be read",
    "termination_before_hire": "termination_date earlier than hire_date",
}


def load_roster(path: str | os.PathLike, mapping=None, *, progress: bool = False) -> LoadResult:
    """Read an agent roster and check every row.

    Parameters
    ----------
    path : str or PathLike
        A file, folder or glob (same formats as :func:`analysis.load.load_calls`).
    mapping : None, str, PathLike, dict or Mapping
        ``None`` for contract-shaped columns, a built-in name or a YAML file
        (``kind: roster``).

    Returns
    -------
    LoadResult
        ``valid`` columns: agent_id, team, supervisor_id, hire_date,
        termination_date (``datetime64`` at midnight; empty while employed),
        shift, site. ``quarantine``: rows as read + ``reason``.
    """
    m = resolve_mapping(mapping, kind="roster")
    raw, sources, notes = read_raw(path, m, progress=progress)
    if len(raw) == 0:
        raise InputError(f"{path}: no data rows (header only?)")
    problems = Problems(len(raw))
    apply_rules(raw, m, problems)
    frame, built = build_columns(raw, m, problems)
    problems.add("missing_agent_id", frame["agent_id"].isna().to_numpy())
    ids = frame["agent_id"]
    problems.add("duplicate_agent_id", ids.notna().to_numpy() & ids.duplicated().to_numpy())
    hire = frame["hire_date"]
    term = frame["termination_date"]
    problems.add("termination_before_hire",
                 np.asarray((term < hire).fillna(False), dtype=bool))
    return finish("roster", m, raw, frame, problems, sources, notes)
