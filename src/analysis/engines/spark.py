"""The Apache Spark engine (optional: ``pip install ccpm[spark]`` and Java 17+).

Spark SQL reads the Parquet files directly (a DataFrame input is first written to a
temporary Parquet file). Local mode (``local[2]``) by default; pass a master URL
(``spark://host:7077``, ``yarn``, ``k8s://...``) to run on a cluster, in which case the
Parquet paths must be readable by the executors (shared storage, ``s3a://``, ``hdfs://``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, InputError
from ..workcopy import raw_mkdtemp
from . import Dialect
from ._files import resolve_calls_paths

__all__ = ["DEFAULT_MASTER", "DIALECT", "SparkSQLSession", "available", "get_spark", "session",
           "spark_available"]

DEFAULT_MASTER = "local[2]"
_SESSIONS: dict[str, object] = {}

DIALECT = Dialect(
    name="spark",
    period={
        "month": "date_trunc('MONTH', {ts})",
        "week": "date_trunc('WEEK', {ts})",  # Spark's WEEK starts on Monday
        "day": "date_trunc('DAY', {ts})",
    },
    interval="INTERVAL '{minutes}' MINUTE",
    string="STRING",  # Spark has no bare VARCHAR
    nulls_last="NULLS LAST",
    label={
        "month": "date_format({ts}, 'yyyy-MM')",
        # ISO year and week (Spark's week-based year and weekofyear are ISO 8601's)
        "week": "concat(CAST(extract(YEAROFWEEK FROM {ts}) AS STRING), '-W', "
                "lpad(CAST(weekofyear({ts}) AS STRING), 2, '0'))",
        "quarter": "(CAST(year({ts}) AS STRING) || '-Q' || CAST(quarter({ts}) AS STRING))",
        "year": "date_format({ts}, 'yyyy')",
        "day": "date_format({ts}, 'yyyy-MM-dd')",
    },
    exact_int="DECIMAL(38, 0)",  # Spark has no 128-bit integer; sums stay exact
    epoch_us="unix_micros({ts})",
    epoch_s="(unix_micros({ts}) / 1e6)",
    day_diff="datediff({end}, {start})",
    quantiles="percentile({x}, array({qs}))",  # exact, interpolated: quantile_cont's
    quote="`{name}`",
)


def spark_available() -> str | None:
    """``None`` when Spark can run here, else the reason it cannot (one line)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'ccpm[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (Spark 4 needs Java 17 or later on PATH or JAVA_HOME)"
    return None


def available() -> str | None:
    """``None`` when Spark can run here, else the reason it cannot."""
    return spark_available()


def get_spark(master: str | None = None):
    """A SparkSession for ``master`` (default ``local[2]``), created once per process.

    Settings: UTC session time zone (timestamps are wall-clock times, as in DuckDB),
    Arrow transfer to pandas, UI off, the (unused) warehouse folder in the temporary
    directory rather than the working directory; in local mode two shuffle partitions.
    """
    reason = spark_available()
    if reason:
        raise ConfigError(f"engine spark: {reason}")
    master = master or DEFAULT_MASTER
    spark = _SESSIONS.get(master)
    if spark is not None and not spark.sparkContext._jsc.sc().isStopped():
        return spark
    from pyspark.sql import SparkSession as _Builder

    builder = (
        _Builder.builder.master(master)
        .appName("ccpm")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # ccpm writes no tables: keep Spark's empty spark-warehouse/ out of the user's folder
        .config("spark.sql.warehouse.dir",
                str(Path(tempfile.gettempdir()) / f"ccpm-spark-warehouse-{os.getpid()}"))
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "2").config(
            "spark.driver.bindAddress", "127.0.0.1")
    try:
        with warnings.catch_warnings():  # pyspark's "pandas >= 3 not fully supported"
            warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
            warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
            spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or too old, bad master URL
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"engine spark: cannot start Spark on {master}: {msg}") from None
    spark.sparkContext.setLogLevel("ERROR")
    _SESSIONS[master] = spark
    return spark


def _to_pandas(sdf) -> pd.DataFrame:
    with warnings.catch_warnings():
        # pyspark warns that it does not fully support pandas 3; these are small,
        # plainly typed aggregate tables (checked against DuckDB in tests/test_panel_spark.py)
        warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
        warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
        df = sdf.toPandas()
    for col in df.columns:  # wall-clock times, as DuckDB gives them
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df[col] = df[col].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


class SparkSQLSession:
    """Spark SQL over the calls, with view ``ccpm_src`` (see :class:`~analysis.engines.Session`)."""

    def __init__(self, calls, *, master: str | None = None) -> None:
        self.spark = get_spark(master)
        self._tmp = None
        try:
            if isinstance(calls, pd.DataFrame):
                import pyarrow as pa
                import pyarrow.parquet as pq

                self._tmp = raw_mkdtemp("spark")
                path = str(Path(self._tmp) / "calls.parquet")
                pq.write_table(pa.Table.from_pandas(calls, preserve_index=False), path)
                self.files = []  # the calls came as a DataFrame
                paths = [path]
            else:
                self.files = paths = resolve_calls_paths(calls)
            try:
                sdf = self.spark.read.option("mergeSchema", "true").parquet(*paths)
            except Exception as exc:
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"cannot read calls Parquet with Spark: {msg}") from None
            self.source = "ccpm_src"
            sdf.createOrReplaceTempView(self.source)
            self.columns = list(sdf.columns)
        except BaseException:
            self.close()
            raise

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` with Spark SQL; its result as a DataFrame (timestamps naive UTC)."""
        return _to_pandas(self.spark.sql(sql))

    def create_view(self, name: str, sql: str) -> None:
        """Create or replace temporary view ``name``."""
        self.spark.sql(sql).createOrReplaceTempView(name)

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@contextmanager
def session(calls, *, master: str | None = None):
    """A :class:`SparkSQLSession` over ``calls`` on ``master`` (default ``local[2]``).

    The Spark session itself is kept for the process (starting one takes seconds);
    the temporary files of a DataFrame input go on exit.
    """
    s = SparkSQLSession(calls, master=master)
    try:
        yield s
    finally:
        s.close()
