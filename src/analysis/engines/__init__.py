"""SQL engines: run SQL over the calls and hand back small pandas tables.

Layers, bottom up:

1. :mod:`analysis.metrics` -- the SQL *text*: every metric, the per-call relation and
   the named check aggregations, written once in portable SQL. It never names an
   engine; the few spellings that differ between engines come from a :class:`Dialect`.
2. this package -- one module per engine (:mod:`.duckdb`, :mod:`.spark`), side by side
   behind the small protocol below; each holds its :class:`Dialect` (period starts,
   intervals, the string type) and opens a :class:`Session` over the calls.
3. :mod:`analysis.panel` and the checks -- above: they render SQL for an engine, run
   it on a session and work on the (small, aggregated) results. The gaming checks
   spell their aggregations with the context's :class:`Dialect` and run them on
   ``ctx.con``: a DuckDB connection, or on Spark a
   :class:`analysis.gaming._engine.SparkConnection` over this package's Spark session.

An engine module provides ``DIALECT`` (a :class:`Dialect`), ``available() -> str |
None`` (``None``, or why the engine cannot run here) and ``session(calls, **options)``,
a context manager yielding a :class:`Session`. Engines are the package's public
modules, found by name, so a third engine is one more module here (helpers start
with an underscore).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError
from ._files import ids_checked_unique, resolve_calls_paths

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    import pandas as pd

__all__ = ["DEFAULT_ENGINE", "Dialect", "ENGINES", "Session", "engine_names", "get_engine",
           "ids_checked_unique", "resolve_calls_paths", "run_aggregation"]

#: The engine used unless another is named.
DEFAULT_ENGINE = "duckdb"


@dataclass(frozen=True)
class Dialect:
    """The few SQL spellings that differ between engines.

    Attributes
    ----------
    name : str
        The engine's name.
    period : dict
        Period (``month``, ``week``, ``day``) -> SQL expression of ``{ts}`` giving the
        period's *start* as a timestamp (ISO weeks start on Monday).
    interval : str
        An interval of ``{minutes}`` minutes.
    string : str
        The name of the string type in ``CAST``.
    nulls_last : str
        The suffix that puts NULLs last in an ascending window order.
    label : dict
        Period (``month``, ``week``, ``quarter``, ``year``, ``day``) -> SQL expression of
        ``{ts}`` giving the period's *label* as text (``2026-03``, ISO ``2026-W09``,
        ``2026-Q1``, ``2026``, ``2026-03-02``), as the gaming checks group calls.
    exact_int : str
        An integer type wide enough for exact sums of values scaled by 1e12 (and of
        their squares): sums that do not depend on the engine's thread order.
    epoch_us : str
        Microseconds since the epoch (an integer) of timestamp ``{ts}``.
    epoch_s : str
        Seconds since the epoch (a double) of timestamp ``{ts}``.
    day_diff : str
        Whole days from date ``{start}`` to date ``{end}``.
    quantiles : str
        A list of the (interpolated) quantiles ``{qs}`` (comma-separated) of ``{x}``.
    quote : str
        A quoted identifier ``{name}``.
    """

    name: str
    period: dict = field(default_factory=dict)
    interval: str = "INTERVAL '{minutes}' MINUTE"
    string: str = "VARCHAR"
    nulls_last: str = "NULLS LAST"
    label: dict = field(default_factory=dict)
    exact_int: str = "HUGEINT"
    epoch_us: str = "epoch_us({ts})"
    epoch_s: str = "epoch({ts})"
    day_diff: str = "date_diff('day', {start}, {end})"
    quantiles: str = "quantile_cont({x}, [{qs}])"
    quote: str = '"{name}"'

    def period_start(self, period: str, ts: str = "answer_ts") -> str:
        """SQL for the start of the ``period`` holding timestamp expression ``ts``."""
        try:
            return self.period[period].format(ts=ts)
        except KeyError:
            known = ", ".join(self.period)
            raise ConfigError(f"period: {period!r} is not one of {known}") from None

    def period_label(self, period: str, ts: str) -> str:
        """SQL for the text label of the ``period`` holding timestamp expression ``ts``."""
        try:
            return self.label[period].format(ts=ts)
        except KeyError:
            known = ", ".join(self.label)
            raise ConfigError(f"period: {period!r} is not one of {known}") from None

    def quantiles_of(self, x: str, qs) -> str:
        """SQL for the list of the interpolated quantiles ``qs`` of expression ``x``."""
        return self.quantiles.format(x=x, qs=", ".join(repr(float(q)) for q in qs))

    def ident(self, name: str) -> str:
        """``name`` as a quoted identifier."""
        return self.quote.format(name=name)

    def interval_hours(self, hours: float) -> str:
        """SQL interval of ``hours`` hours (to the minute)."""
        return self.interval.format(minutes=int(round(float(hours) * 60)))


class Session(Protocol):
    """An engine's connection with a view over the calls (see the engine modules).

    Attributes
    ----------
    source : str
        Name of the view over the calls as read (contract columns, every row).
    columns : list of str
        Its column names.
    files : list of str
        The Parquet files behind it (empty when the calls came as a DataFrame that the
        engine reads in place).
    """

    source: str
    columns: list[str]
    files: list[str]

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and return its (small) result; timestamps are naive (UTC)."""

    def create_view(self, name: str, sql: str) -> None:
        """Create or replace temporary view ``name`` as ``sql``."""


def engine_names() -> tuple[str, ...]:
    """Names of the engines (the default first), found without importing them."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return tuple(sorted(names, key=lambda n: n != DEFAULT_ENGINE))


#: Engines known to this installation (``--engine`` choices).
ENGINES = engine_names()


def get_engine(name: str) -> ModuleType:
    """The engine module called ``name`` (``DIALECT``, ``available``, ``session``).

    Raises
    ------
    ConfigError
        No such engine.
    """
    if name not in ENGINES:
        raise ConfigError(f"engine: {name!r} is not one of {', '.join(ENGINES)}")
    return importlib.import_module(f"{__name__}.{name}")


def run_aggregation(calls, aggregation: str, *, engine: str = DEFAULT_ENGINE,
                    period: str = "day", engine_options: dict | None = None,
                    **params) -> pd.DataFrame:
    """A named check aggregation over the per-call relation, run on ``engine``.

    See :func:`analysis.engines._aggregate.run_aggregation` (imported on first use, so
    that listing the engines costs no heavy import).
    """
    from ._aggregate import run_aggregation as _run

    return _run(calls, aggregation, engine=engine, period=period,
                engine_options=engine_options, **params)
