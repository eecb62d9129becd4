"""Registry and shared types of the gaming checks.

A check is registered by name with :data:`CHECKS` and is a callable
``check(ctx: GamingContext) -> CheckResult``. Modules in
:mod:`analysis.gaming` (not starting with ``_``) are imported on first lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._registry import Registry

__all__ = ["CHECKS", "GamingContext", "CheckResult", "FLAG_COLUMNS", "CENTER_LEVEL_CHECKS",
           "dialect_of", "canonical_period"]

CHECKS: Registry = Registry("gaming check", "analysis.gaming")

#: Columns of a check's ``flags`` table (before q-values are added across checks).
#: ``effect`` is a size a manager can read, explained by ``effect_unit``
#: (e.g. "excess short calls per 100 calls"); ``n`` and ``k`` are the counts behind it.
#: Checks whose rows are about the whole center, not an agent (``level == "center"`` in
#: ``gaming_flags.csv``, agent_id empty). A check that adds center-level rows is listed here.
CENTER_LEVEL_CHECKS = frozenset({"bunching_center"})

#: Other spellings of the ``period`` option's values.
_PERIOD_ALIAS = {"m": "month", "monthly": "month", "w": "week", "weekly": "week",
                 "q": "quarter", "quarterly": "quarter", "y": "year", "yearly": "year",
                 "d": "day", "daily": "day", "none": "all", "": "all"}


def canonical_period(period: Any) -> str:
    """The ``period`` option as one of month, week, quarter, year, day, all (``None``:
    month); an unknown value is returned lower-cased, for the caller to reject."""
    p = "month" if period is None else str(period).strip().lower()
    return _PERIOD_ALIAS.get(p, p)


FLAG_COLUMNS = ["agent_id", "period", "check", "effect", "effect_unit", "p_value", "n", "k", "detail"]


@dataclass
class GamingContext:
    """Everything a check may use.

    ``con`` is a DuckDB connection on which a view ``calls`` holds the
    contract-shaped calls (valid rows only). Checks aggregate in the engine and
    pull only small tables into pandas. ``columns`` lists the contract columns
    that carry data (not all missing). ``ratings`` and ``okr`` are optional
    inputs; ``options`` holds run settings (aht_target, short_call_s, alpha,
    period, seed, ...). ``resources`` keeps alive what the view reads (e.g. the
    temporary Parquet file of a raw export's valid rows) as long as the context is.
    ``dialect`` is the engine's :class:`analysis.engines.Dialect` (``None``: DuckDB's):
    checks spell the few engine-specific bits of their SQL with it, so the same
    aggregations run on DuckDB or, through :class:`analysis.gaming._engine.SparkConnection`
    (a connection with DuckDB's ``execute(...).df()`` surface), on Spark.
    """

    con: Any
    columns: frozenset[str]
    options: dict[str, Any] = field(default_factory=dict)
    ratings: pd.DataFrame | None = None
    okr: dict | None = None
    roster: pd.DataFrame | None = None
    resources: tuple = field(default=(), repr=False, compare=False)
    dialect: Any = field(default=None, repr=False, compare=False)


def dialect_of(ctx: Any):
    """The SQL dialect of a context's engine (DuckDB's when it names none)."""
    d = getattr(ctx, "dialect", None)
    if d is None:
        from ..engines.duckdb import DIALECT as d
    return d


@dataclass
class CheckResult:
    """One check's output.

    ``flags`` has :data:`FLAG_COLUMNS`; ``skipped`` is a reason string when the
    check could not run (missing column or input), else ``""``;
    ``changepoints`` optionally has the columns of interface B
    (:data:`analysis.gaming.changepoints.CHANGEPOINT_COLUMNS`).
    """

    name: str
    flags: pd.DataFrame
    skipped: str = ""
    changepoints: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
