"""The data contract (v1): column names, types and vocabularies.

This module only *describes* the contract (see ``../shared/spec/data-contract.md``);
checking rows against it lives in :mod:`analysis.load`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "CALL_ID_UNIQUE_META",
    "Column",
    "CALL_COLUMNS",
    "CALL_SCHEMA",
    "OUTCOMES",
    "HANDLED_OUTCOMES",
    "ENDED_BY",
    "RATER_GROUPS",
    "ROSTER_COLUMNS",
    "RATINGS_COLUMNS",
    "call_column_names",
    "required_call_columns",
]

OUTCOMES = ("answered", "abandoned", "transferred")
#: Outcomes in which an agent handled the call.
HANDLED_OUTCOMES = ("answered", "transferred")
ENDED_BY = ("agent", "customer", "system")
RATER_GROUPS = ("self", "supervisor", "peer", "customer", "direct_report")


@dataclass(frozen=True)
class Column:
    """One contract column.

    ``required`` is one of ``"always"``, ``"handled"`` (required when the outcome
    is answered or transferred) or ``"no"``. ``default`` fills an optional
    column that a source lacks (``None``: left missing).
    """

    name: str
    type: pa.DataType
    required: str
    meaning: str
    default: object = None


CALL_COLUMNS: tuple[Column, ...] = (
    Column("call_id", pa.string(), "always", "unique per row"),
    Column("queue", pa.string(), "always", "queue / skill / service type"),
    Column("arrival_ts", pa.timestamp("us"), "always", "entered the agent queue (local time)"),
    Column("outcome", pa.string(), "always", "answered | abandoned | transferred"),
    Column("agent_id", pa.string(), "handled", "the agent who answered"),
    Column("answer_ts", pa.timestamp("us"), "handled", "when the agent answered"),
    Column("talk_s", pa.float64(), "handled", "conversation seconds"),
    Column("hold_s", pa.float64(), "no", "hold seconds", 0.0),
    Column("acw_s", pa.float64(), "no", "after-call work seconds", 0.0),
    Column("customer_id", pa.string(), "no", "the caller"),
    Column("ended_by", pa.string(), "no", "agent | customer | system"),
    Column("resolved", pa.bool_(), "no", "resolved on this call"),
    Column("csat", pa.float64(), "no", "post-call survey 1-5"),
    Column("qa_score", pa.float64(), "no", "quality-monitoring score 0-100"),
    Column("complaint", pa.bool_(), "no", "the call led to a complaint"),
)

#: Arrow schema of ``valid.parquet`` and of ``calls.parquet`` from ``ccpm synth``.
CALL_SCHEMA = pa.schema([pa.field(c.name, c.type) for c in CALL_COLUMNS])

#: Parquet key-value metadata written by ccpm (``validate``, the loader's spill, ``synth``)
#: on a calls file whose call ids were checked unique when it was written; the panel
#: then skips its own exact recount of duplicate ids for that single file.
CALL_ID_UNIQUE_META = b"ccpm.call_id_unique"


def call_column_names() -> list[str]:
    """Names of all call-record columns, in contract order."""
    return [c.name for c in CALL_COLUMNS]


def required_call_columns() -> list[str]:
    """Columns a source must provide (directly or through its mapping)."""
    return [c.name for c in CALL_COLUMNS if c.required != "no"]


#: Agent roster: agent_id, team, supervisor_id, hire_date, termination_date, shift, site.
ROSTER_COLUMNS: tuple[Column, ...] = (
    Column("agent_id", pa.string(), "always", "the agent"),
    Column("team", pa.string(), "no", "team"),
    Column("supervisor_id", pa.string(), "no", "supervisor"),
    Column("hire_date", pa.date32(), "no", "hire date"),
    Column("termination_date", pa.date32(), "no", "empty while employed"),
    Column("shift", pa.string(), "no", "shift (free text)"),
    Column("site", pa.string(), "no", "site"),
)

#: 360-degree ratings, one row per rater x ratee x competency x period.
RATINGS_COLUMNS: tuple[Column, ...] = (
    Column("period", pa.string(), "always", "YYYY-MM or the run's period label"),
    Column("ratee_id", pa.string(), "always", "the agent rated"),
    Column("rater_id", pa.string(), "always", "pseudonymous rater id"),
    Column("rater_group", pa.string(), "always", "self | supervisor | peer | customer | direct_report"),
    Column("competency", pa.string(), "always", "e.g. empathy"),
    Column("score", pa.float64(), "always", "score on the instrument's scale"),
)
