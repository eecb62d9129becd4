"""Build a :class:`GamingContext` (view ``calls``, on DuckDB or Spark) from a path or a DataFrame.

Internals of :mod:`analysis.gaming.runner`; also the SQL fragments the core
checks share (period label, handled-call filter, the panel's per-call relation)
and the data-driven short-call threshold.

Checks aggregate in the engine and fetch only per-agent tables. :func:`count_fetches`
proves it: inside its block, contexts are built on a :class:`CountingConnection`
that logs the number of rows of every result fetched into Python (and costs
nothing when not used).
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..config import DEFAULT_ALPHA, DEFAULT_SEED, DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from ..contract import CALL_COLUMNS, HANDLED_OUTCOMES, OUTCOMES
from ..errors import ConfigError, InputError
from ..escape import sql_quote_path
from ._base import GamingContext, canonical_period, dialect_of

__all__ = [
    "DEFAULT_OPTIONS",
    "HANDLED_SQL",
    "build_context",
    "period_expr",
    "opt",
    "auto_short_call_s",
    "panel_relation",
    "count_fetches",
    "FetchLog",
    "CountingConnection",
]

#: Run settings and their defaults (``options`` overrides them).
DEFAULT_OPTIONS: dict[str, Any] = {
    "alpha": DEFAULT_ALPHA,
    "period": "month",
    "short_call_s": DEFAULT_SHORT_CALL_S,  # a number, or "auto" (from the data)
    "aht_target": None,  # seconds; None: scan round numbers
    "seed": DEFAULT_SEED,
    "min_calls": 30,  # fewest handled calls for an agent x period test
    "raise_errors": False,  # True: a failing check raises instead of being reported
}

#: SQL filter: calls an agent handled.
HANDLED_SQL = (
    "outcome IN ('answered', 'transferred') AND agent_id IS NOT NULL AND talk_s IS NOT NULL"
)

_SQL_TYPES = {"double": "DOUBLE", "bool": "BOOLEAN"}


def _sql_type(col, dialect) -> str:
    """The SQL type of a contract column (``dialect.string`` for text)."""
    t = str(col.type)
    if t.startswith("timestamp"):
        return "TIMESTAMP"
    return _SQL_TYPES.get(t, dialect.string)


def opt(ctx: GamingContext, name: str) -> Any:
    """An option of the run (the context's value, else the default)."""
    val = (ctx.options or {}).get(name)
    return DEFAULT_OPTIONS.get(name) if val is None else val


def period_expr(period: str, ts: str = "coalesce(answer_ts, arrival_ts)",
                dialect=None) -> str:
    """SQL for a call's period label: ``month`` (YYYY-MM), ``week``, ``quarter``,
    ``year``, ``day`` or ``all`` (same labels as the other gaming checks).

    ``dialect`` (an :class:`analysis.engines.Dialect`, default DuckDB's) spells it.
    """
    p = canonical_period(period)
    if p == "all":
        return "'all'"
    if p not in ("month", "week", "quarter", "year", "day"):
        raise ConfigError(
            f"period: {period!r} is not one of month, week, quarter, year, day, all "
            "(or monthly, weekly, quarterly, yearly, daily)")
    if dialect is None:
        from ..engines.duckdb import DIALECT as dialect
    return dialect.period_label(p, ts)


def _source_from_path(con, calls, mapping, info) -> Any:
    """Create view ``_src`` over the valid rows of ``calls`` (analysis.load's entry check).

    Returns the :class:`analysis.load.ContractCalls` behind the view (keep it alive while
    the view is read).
    """
    cc = _checked_calls(calls, mapping, info)
    con.execute(f"CREATE VIEW _src AS SELECT * FROM read_parquet({sql_quote_path(cc.path)})")
    return cc


def _checked_calls(calls, mapping, info) -> Any:
    """The contract rows of a path (:func:`analysis.load.open_contract_calls`), noted in ``info``.

    The same entry check as panel and compare, on either engine: one row set for one file.
    """
    from ..load import open_contract_calls

    cc = open_contract_calls(calls, mapping=mapping)
    if cc.checked:
        info["quarantined_by_loader"] = int(cc.quarantined)
        info["quarantine_reasons"] = {str(k): int(v) for k, v in cc.reason_counts.items()}
    info["source"] = cc.source
    return cc


def build_context(
    calls,
    *,
    mapping=None,
    options: dict | None = None,
    ratings: pd.DataFrame | None = None,
    okr: dict | None = None,
    roster: pd.DataFrame | None = None,
    engine: str = "duckdb",
    engine_options: dict | None = None,
) -> tuple[GamingContext, dict]:
    """A connection with a view ``calls`` over the valid contract rows.

    Rows that break the contract (unknown outcome, handled without agent or
    talk time, negative durations) are not in the view; their number per
    reason is returned in ``info["excluded"]`` and printed in every summary.

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        Where the checks' aggregations run: an in-process DuckDB connection, or Spark
        SQL (:class:`._engine.SparkConnection`; ``engine_options`` such as
        ``{"master": "spark://host:7077"}`` go to its session).

    Returns
    -------
    (GamingContext, info dict)
    """
    from ..engines import get_engine

    eng = get_engine(engine)
    dialect = eng.DIALECT
    duck = dialect.name == "duckdb"
    if not duck and (why := eng.available()):
        raise ConfigError(f"engine {engine}: {why}")
    info: dict[str, Any] = {"excluded": {}}
    keep: tuple = ()
    if not isinstance(calls, (pd.DataFrame, str, Path)):
        raise InputError(f"calls must be a path or a DataFrame, not {type(calls).__name__}")
    if duck:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")  # it would print to stdout
        log = _FETCH_LOG.get()
        if log is not None:
            con = CountingConnection(con, log)
        if isinstance(calls, pd.DataFrame):
            # a table, not a registered view: checks run on their own cursors,
            # which see the database's tables but not a connection's registrations
            con.register("_src_df", calls)
            con.execute("CREATE TABLE _src AS SELECT * FROM _src_df")
            con.unregister("_src_df")
            info["source"] = f"DataFrame ({len(calls)} rows)"
        else:
            spilled = _source_from_path(con, calls, mapping, info)
            keep = (spilled,) if spilled is not None else ()
    else:
        con, keep = _spark_source(eng, calls, mapping, info, engine_options or {})
    try:
        return _finish_context(con, info, keep, dialect, options=options, ratings=ratings,
                               okr=okr, roster=roster)
    except BaseException:
        if not duck:
            con.release()
        raise


def _finish_context(con, info, keep, dialect, *, options, ratings, okr, roster):
    """The views ``_typed`` and ``calls`` over ``_src``, the row accounting and the options."""
    duck = dialect.name == "duckdb"
    # Spark: temporary views of the session (a plain view would go to the catalog)
    view = "CREATE VIEW" if duck else "CREATE OR REPLACE TEMP VIEW"
    have = {r[0] for r in con.execute("DESCRIBE _src").fetchall()}
    missing = [c for c in ("queue", "outcome", "agent_id", "talk_s") if c not in have]
    if "answer_ts" not in have and "arrival_ts" not in have:
        missing.append("answer_ts or arrival_ts")
    if missing:
        raise InputError(f"calls lack required column(s): {', '.join(missing)}")
    sel = []
    for c in CALL_COLUMNS:
        typ = _sql_type(c, dialect)
        expr = (f"CAST({dialect.ident(c.name)} AS {typ})" if c.name in have
                else f"CAST(NULL AS {typ})")
        sel.append(f"{expr} AS {c.name}")
    con.execute(f"{view} _typed AS SELECT {', '.join(sel)} FROM _src")
    outs = ", ".join(f"'{o}'" for o in OUTCOMES)
    handled = ", ".join(f"'{o}'" for o in HANDLED_OUTCOMES)
    reasons = {
        "unknown outcome": f"outcome IS NULL OR outcome NOT IN ({outs})",
        "handled call without agent_id": f"outcome IN ({handled}) AND agent_id IS NULL",
        "handled call without talk_s": f"outcome IN ({handled}) AND talk_s IS NULL",
        "negative duration": "talk_s < 0 OR hold_s < 0 OR acw_s < 0",
        "no timestamp": "answer_ts IS NULL AND arrival_ts IS NULL",
    }
    bad = " OR ".join(f"coalesce({w}, false)" for w in reasons.values())
    con.execute(f"{view} calls AS SELECT * FROM _typed WHERE NOT ({bad})")
    counts = con.execute(
        "SELECT count(*), "
        + ", ".join(f"count(*) FILTER (WHERE coalesce({w}, false))" for w in reasons.values())
        + " FROM _typed"
    ).fetchone()
    info["rows"] = int(counts[0])
    info["excluded"] = {r: int(c) for r, c in zip(reasons, counts[1:], strict=True) if c}
    info["valid_rows"] = int(con.execute("SELECT count(*) FROM calls").fetchone()[0])
    if info["valid_rows"] == 0:
        raise InputError("no valid call rows to test")
    nn = con.execute(
        "SELECT " + ", ".join(f"count({c.name})" for c in CALL_COLUMNS) + " FROM calls"
    ).fetchone()
    columns = frozenset(c.name for c, v in zip(CALL_COLUMNS, nn, strict=True) if v)
    opts = dict(DEFAULT_OPTIONS)
    opts.update({k: v for k, v in (options or {}).items() if v is not None})
    period_expr(opts["period"])  # validate early
    if str(opts["short_call_s"]).lower() == "auto":
        thr, why = auto_short_call_s(con)
        opts["short_call_s"] = thr
        info["short_call_s_auto"] = why
    else:
        try:
            opts["short_call_s"] = float(opts["short_call_s"])
        except (TypeError, ValueError):
            raise ConfigError(
                f"short_call_s: {opts['short_call_s']!r} is neither seconds nor 'auto'"
            ) from None
    info["engine"] = dialect.name
    ctx = GamingContext(
        con=con, columns=columns, options=opts, ratings=ratings, okr=okr, roster=roster,
        resources=keep, dialect=None if duck else dialect,
    )
    return ctx, info


def _spark_source(eng, calls, mapping, info: dict, engine_options: dict):
    """A :class:`._engine.SparkConnection` with view ``_src`` over ``calls``.

    A path goes through the same entry check as on DuckDB (:func:`_source_from_path`'s
    :func:`analysis.load.open_contract_calls`: one row set for one file); Spark then
    reads the checked Parquet file. Returns the connection and what to keep alive.
    """
    from ._engine import SparkConnection

    keep: tuple = ()
    if isinstance(calls, pd.DataFrame):
        src = calls
        info["source"] = f"DataFrame ({len(calls)} rows)"
    else:
        cc = _checked_calls(calls, mapping, info)
        src = str(cc.path)
        keep = (cc,)
    session = eng.SparkSQLSession(src, **engine_options)
    con = SparkConnection(session)
    con.create_view("_src", f"SELECT * FROM {session.source}")
    return con, keep + (con,)


def auto_short_call_s(con, *, max_s: int = 60) -> tuple[float, str]:
    """A short-call threshold read from the talk-time histogram.

    Where hang-ups or instant disconnects exist, the talk-time density has a
    spike near zero, a valley, then the body of real conversations. The
    threshold is the valley (first minimum of the 1-second histogram smoothed
    over 5 s, searched below ``max_s`` and below the median); with no spike the
    default :data:`~analysis.config.DEFAULT_SHORT_CALL_S` is kept.

    Returns
    -------
    (seconds, explanation)
    """
    h = con.execute(
        f"SELECT CAST(floor(talk_s) AS INTEGER) AS s, count(*) AS n FROM calls "
        f"WHERE {HANDLED_SQL} "
        f"AND talk_s < {int(max_s)} GROUP BY 1 ORDER BY 1"
    ).df()
    med = con.execute(f"SELECT median(talk_s) FROM calls WHERE {HANDLED_SQL}").fetchone()[0]
    counts = np.zeros(max_s)
    counts[h["s"].to_numpy()] = h["n"].to_numpy()
    sm = np.convolve(counts, np.ones(5) / 5, mode="same")
    top = int(min(max_s, med or max_s))
    if top < 8 or sm[:top].sum() == 0:
        return DEFAULT_SHORT_CALL_S, f"no spike of very short talk times: default {DEFAULT_SHORT_CALL_S:g} s"
    peak = int(np.argmax(sm[: min(15, top)]))
    valley = peak + int(np.argmin(sm[peak:top]))
    if valley <= peak + 2 or sm[valley] > 0.8 * sm[peak] or valley >= top - 1:
        return (
            DEFAULT_SHORT_CALL_S,
            f"no spike of very short talk times: default {DEFAULT_SHORT_CALL_S:g} s",
        )
    return (
        float(valley),
        f"talk times show a spike at {peak} s and a valley at {valley} s: "
        f"calls under {valley} s count as short",
    )


# ----------------------------------------------------------------- the panel's relation

_PANEL_REQUIRED = ("outcome", "agent_id", "answer_ts", "talk_s", "queue")


def panel_relation(
    ctx: GamingContext,
    *,
    where: str | None = None,
    repeat_window_h: float = REPEAT_WINDOW_H,
) -> str:
    """SQL of the panel's per-call relation over the context's ``calls`` view.

    The relation of :func:`analysis.panel.panel_sql` (``calls``): one row per handled
    call with ``agent_id, period, queue, talk_s, hold_s, acw_s, handle_s,
    is_transfer, is_repeat, resolved_i, csat, qa_score, complaint_i,
    agent_ended_i``, so checks use the panel's definitions (handle time, the
    repeat-call window and its censoring) instead of restating them. ``period`` is
    the *day* start of ``answer_ts``: ``period_expr(...)`` / ``period_sql(ctx,
    "period")`` of it gives the gaming period label.

    Parameters
    ----------
    where : str, optional
        SQL condition on ``calls`` rows that form the source (e.g. only calls with a
        linked customer); the repeat window and the end of the data (last arrival)
        are then those of that subset.
    repeat_window_h : float
        Repeat-call window in hours.
    """
    from ..panel import panel_sql

    dialect = dialect_of(ctx)
    described = [r[0] for r in ctx.con.execute("DESCRIBE calls").fetchall()]
    # columns with no data are left out, so the panel's own fallbacks apply (no
    # arrival_ts: the answer time stands in, as in ``ccpm panel``)
    cols = [c for c in described if c in ctx.columns or c in _PANEL_REQUIRED]
    source = "calls" if where is None else f"(SELECT * FROM calls WHERE {where})"
    arrival = "arrival_ts" if "arrival_ts" in cols else "answer_ts"
    # the end of the data, once per run for each source (repeat_after_short and
    # quick_callback_after_short read the same one)
    from ._sigutil import run_cache

    cache = run_cache(ctx)
    key = ("data_end", source, arrival)
    if key not in cache:
        cache[key] = ctx.con.execute(f"SELECT max({arrival}) FROM {source}").fetchone()[0]
    end = cache[key]
    data_end = None
    if end is not None and getattr(end, "tzinfo", None) is None:
        # a literal is far cheaper for the engine than the scalar subquery per row
        data_end = str(pd.Timestamp(end))
    return panel_sql(cols, source=source, period="day", short_call_s=float(opt(ctx, "short_call_s")),
                     repeat_window_h=float(repeat_window_h), engine=dialect.name,
                     data_end=data_end)["calls"]


# ----------------------------------------------------------------- counting fetches

#: Rows fetched per call, while :func:`count_fetches` is active (else None).
_FETCH_LOG: contextvars.ContextVar[FetchLog | None] = contextvars.ContextVar(
    "ccpm_fetch_log", default=None)

#: Methods (of connections, cursors and relations) that bring a result into Python.
_FETCHERS = frozenset({"df", "fetchdf", "fetch_df", "fetch_df_chunk", "to_df", "fetchall",
                       "fetchmany", "fetchone", "fetchnumpy", "arrow", "fetch_arrow_table",
                       "to_arrow_table", "pl", "to_dicts", "torch", "tf"})
#: ... and those that stream it (Arrow record-batch readers; a row iterator).
_READERS = frozenset({"fetch_record_batch", "fetch_arrow_reader", "to_arrow_reader"})


class FetchLog(list):
    """``(method, rows, sql)`` for every result fetched from the engine into Python."""

    @property
    def max_rows(self) -> int:
        """The most rows any single fetch returned (0 when nothing was fetched)."""
        return max((r for _, r, _ in self), default=0)

    @property
    def total_rows(self) -> int:
        """Rows fetched in all (a loop of small fetches adds up here)."""
        return sum(r for _, r, _ in self)

    def largest(self, k: int = 5) -> list[tuple[str, int, str]]:
        """The ``k`` fetches with the most rows, largest first."""
        return sorted(self, key=lambda e: -e[1])[:k]


def _rows(obj) -> int:
    if obj is None:
        return 0
    if isinstance(obj, tuple):  # fetchone
        return 1
    if isinstance(obj, dict):  # fetchnumpy, torch, tf: column -> array
        return len(next(iter(obj.values()))) if obj else 0
    n = getattr(obj, "num_rows", None)  # Arrow
    if n is not None:
        return int(n)
    if hasattr(obj, "height"):  # polars
        return int(obj.height)
    return len(obj)


class _Counting:
    """A DuckDB connection, cursor or relation whose fetches are logged."""

    __slots__ = ("_inner", "_log", "_sql")

    def __init__(self, inner, log: FetchLog, sql: str = "") -> None:
        self._inner = inner
        self._log = log
        self._sql = sql

    def _note(self, method: str, rows: int) -> None:
        self._log.append((method, int(rows), " ".join(str(self._sql).split())[:300]))

    def _reader(self, method: str, reader):
        import pyarrow as pa

        def batches():
            n = 0
            try:
                for b in reader:
                    n += b.num_rows
                    yield b
            finally:
                self._note(method, n)

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def _rows_iter(self, it):
        n = 0
        try:
            for row in it:
                n += 1
                yield row
        finally:
            self._note("iter_rows", n)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        if name in _FETCHERS:
            def fetch(*a, **k):
                res = attr(*a, **k)
                self._note(name, _rows(res))
                return res
            return fetch
        if name in _READERS:
            return lambda *a, **k: self._reader(name, attr(*a, **k))
        if name == "iter_rows":
            return lambda *a, **k: self._rows_iter(attr(*a, **k))

        def call(*a, **k):  # a relation made from this one is counted too
            res = attr(*a, **k)
            if isinstance(res, duckdb.DuckDBPyRelation):
                return _Counting(res, self._log, f"{self._sql} -> {name}")
            return res
        return call

    def __iter__(self):
        return self._rows_iter(iter(self._inner))


class CountingConnection(_Counting):
    """A DuckDB connection (or cursor) that logs the rows of every fetched result.

    Behaves as the wrapped connection: ``execute`` returns the wrapper (as DuckDB
    returns the connection), ``cursor()`` a counting cursor, ``sql``/``query`` (any
    method returning a relation) a counting relation; every ``df``/``fetch*``/Arrow
    call appends ``(method, rows, sql)`` to the :class:`FetchLog`.
    """

    __slots__ = ()

    def execute(self, query, *args, **kwargs):
        self._inner.execute(query, *args, **kwargs)
        self._sql = query
        return self

    def executemany(self, query, *args, **kwargs):
        self._inner.executemany(query, *args, **kwargs)
        self._sql = query
        return self

    def cursor(self):
        return CountingConnection(self._inner.cursor(), self._log)

    def sql(self, query, *args, **kwargs):
        return _Counting(self._inner.sql(query, *args, **kwargs), self._log, query)

    query = sql

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._inner.close()


@contextlib.contextmanager
def count_fetches():
    """Log every result fetched from the contexts :func:`build_context` makes in the block.

    >>> with count_fetches() as log:                 # doctest: +SKIP
    ...     run_checks("calls.parquet")
    >>> log.max_rows                                 # doctest: +SKIP
    2143

    Yields
    ------
    FetchLog
        ``(method, rows, sql)`` per fetch; ``max_rows`` the largest.
    """
    log = FetchLog()
    token = _FETCH_LOG.set(log)
    try:
        yield log
    finally:
        _FETCH_LOG.reset(token)
