"""The checks' connection on Spark: DuckDB's ``execute(sql, params).df()`` surface over Spark SQL.

The checks aggregate with SQL on ``ctx.con`` and fetch small tables. On DuckDB that
is a DuckDB connection; on Spark it is a :class:`SparkConnection` over an
:class:`analysis.engines.spark.SparkSQLSession`, so the same aggregation SQL (its few
engine-specific spellings from the context's :class:`~analysis.engines.Dialect`) runs
on Spark and the statistics run on the same aggregated pandas tables.

Only what the checks use is provided: ``execute`` (named ``$name`` parameters, as
DuckDB spells them, become Spark's ``:name``; positional ``?`` are passed as they
are), ``df``/``fetchdf``, ``fetchone``, ``fetchall``, ``register`` (a small pandas
table as a temporary view), ``cursor`` (the connection itself: Spark runs one query
at a time per call anyway) and ``close``.

Temporary views live in the process's Spark session: one gaming run at a time per
process on Spark (views of a second concurrent run would replace the first's).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
import warnings

import pandas as pd

__all__ = ["SparkConnection"]

_NAMED = re.compile(r"\$([A-Za-z_]\w*)")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Spark's pandas result with DuckDB's column types (dates, decimals, floats)."""
    for col in df.columns:
        s = df[col]
        if s.dtype != object or s.isna().all():
            continue
        first = s.dropna().iloc[0]
        if isinstance(first, _dt.date) and not isinstance(first, _dt.datetime):
            df[col] = pd.to_datetime(s).astype("datetime64[us]")
        elif isinstance(first, decimal.Decimal):
            df[col] = pd.to_numeric(s.map(lambda v: None if v is None else float(v)))
    return df


class SparkConnection:
    """A Spark SQL session behind the part of DuckDB's connection API the checks use.

    Parameters
    ----------
    session : analysis.engines.spark.SparkSQLSession
        The session over the calls (its view ``session.source``).
    """

    def __init__(self, session) -> None:
        self.session = session
        self.spark = session.spark
        self._sdf = None
        self._sql = ""

    # ---------------------------------------------------------------- running SQL
    def execute(self, sql: str, params=None) -> SparkConnection:
        """Run ``sql`` (lazily: the result is computed when fetched); returns ``self``."""
        if isinstance(params, dict):
            sql = _NAMED.sub(lambda m: f":{m.group(1)}" if m.group(1) in params else m.group(0),
                             sql)
            args = {k: _arg(v) for k, v in params.items()}
        elif params is not None:
            args = [_arg(v) for v in params]
        else:
            args = None
        self._sql = sql
        self._sdf = self.spark.sql(sql, args=args) if args else self.spark.sql(sql)
        return self

    sql = execute

    def df(self) -> pd.DataFrame:
        """The last result as a DataFrame (timestamps naive UTC, dates as datetimes)."""
        from ..engines.spark import _to_pandas

        if self._sdf is None:
            raise RuntimeError("no query was run")
        return _plain(_to_pandas(self._sdf))

    fetchdf = df

    def fetchall(self) -> list[tuple]:
        """The last result's rows as tuples."""
        return list(self.df().itertuples(index=False, name=None))

    def fetchone(self) -> tuple | None:
        """The last result's first row (``None`` without rows)."""
        rows = self.df().head(1)
        return next(rows.itertuples(index=False, name=None), None)

    # ---------------------------------------------------------------- views
    def register(self, name: str, df: pd.DataFrame) -> None:
        """A (small) pandas table as temporary view ``name``."""
        with warnings.catch_warnings():  # pyspark's "pandas >= 3 not fully supported"
            warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
            warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
            self.spark.createDataFrame(df).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def create_view(self, name: str, sql: str) -> None:
        """Create or replace temporary view ``name`` as ``sql``."""
        self.spark.sql(sql).createOrReplaceTempView(name)

    # ---------------------------------------------------------------- life
    def cursor(self) -> SparkConnection:
        """The connection itself (the runner gives each check a cursor)."""
        return self

    def close(self) -> None:
        """Nothing to do per check; :meth:`release` ends the session."""

    def release(self) -> None:
        """Remove the session's temporary files (a DataFrame input's Parquet copy)."""
        self.session.close()


def _arg(v):
    """A parameter as a literal Spark accepts (pandas timestamps as datetimes)."""
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v
