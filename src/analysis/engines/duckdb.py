"""The DuckDB engine (the default): in-process, over Parquet files or a DataFrame."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
import pandas as pd

from ..errors import InputError
from ..escape import sql_path_list
from . import Dialect
from ._files import resolve_calls_paths

__all__ = ["DIALECT", "DuckDBSession", "available", "calls_view", "session"]

DIALECT = Dialect(
    name="duckdb",
    period={
        "month": "date_trunc('month', {ts})",
        "week": "date_trunc('week', {ts})",  # ISO week: starts on Monday
        "day": "date_trunc('day', {ts})",
    },
    interval="INTERVAL '{minutes}' MINUTE",
    string="VARCHAR",
    nulls_last="NULLS LAST",
    label={
        "month": "strftime({ts}, '%Y-%m')",
        "week": "strftime({ts}, '%G-W%V')",  # ISO year and week
        "quarter": "(CAST(year({ts}) AS VARCHAR) || '-Q' || CAST(quarter({ts}) AS VARCHAR))",
        "year": "strftime({ts}, '%Y')",
        "day": "strftime({ts}, '%Y-%m-%d')",
    },
    exact_int="HUGEINT",
    epoch_us="epoch_us({ts})",
    epoch_s="epoch({ts})",
    day_diff="date_diff('day', {start}, {end})",
    quantiles="quantile_cont({x}, [{qs}])",
    quote='"{name}"',
)


def available() -> str | None:
    """DuckDB is a dependency of ccpm: always available."""
    return None


def calls_view(con: duckdb.DuckDBPyConnection, calls, name: str) -> list[str]:
    """Create view ``name`` over ``calls`` (a DataFrame, or Parquet file/folder/glob).

    Returns
    -------
    list of str
        The Parquet files read (empty for a DataFrame).
    """
    if isinstance(calls, pd.DataFrame):
        con.register(f"{name}_df", calls)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_df")
        return []
    files = resolve_calls_paths(calls)
    try:
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet({sql_path_list(files)}, "
            "union_by_name=true)"
        )
    except duckdb.Error as exc:
        raise InputError(f"cannot read calls Parquet: {exc}".splitlines()[0]) from None
    return files


class DuckDBSession:
    """A DuckDB connection with view ``src`` over the calls (see :class:`~analysis.engines.Session`)."""

    def __init__(self, calls, *, threads: int | None = None) -> None:
        self.con = duckdb.connect()
        try:
            self.con.execute("SET enable_progress_bar = false")  # it writes to stdout
            # window sorts keep the input order otherwise: a needless cost for aggregates
            self.con.execute("SET preserve_insertion_order = false")
            if threads:
                self.con.execute(f"SET threads = {int(threads)}")
            self.source = "src"
            self.files = calls_view(self.con, calls, self.source)
            self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {self.source}").fetchall()]
        except BaseException:
            self.con.close()
            raise

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql``; its result as a DataFrame."""
        return self.con.execute(sql).fetchdf()

    def create_view(self, name: str, sql: str) -> None:
        """Create or replace temporary view ``name``."""
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def close(self) -> None:
        self.con.close()


@contextmanager
def session(calls, *, threads: int | None = None):
    """A :class:`DuckDBSession` over ``calls``, closed on exit.

    Parameters
    ----------
    calls : str, Path, list or DataFrame
        Parquet file, folder or glob (see :func:`~analysis.engines.resolve_calls_paths`),
        or a DataFrame with contract columns (read in place).
    threads : int, optional
        DuckDB worker threads (default: DuckDB's, one per core).
    """
    s = DuckDBSession(calls, threads=threads)
    try:
        yield s
    finally:
        s.close()
