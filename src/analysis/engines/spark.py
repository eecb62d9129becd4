"""The metric panel on Apache Spark (optional: ``pip install ccpm[spark]`` and Java 17+).

Runs the SQL of :func:`analysis.panel.panel_sql` (``engine="spark"``) with Spark SQL
over the Parquet files, read directly by Spark (a DataFrame input is first written
to a temporary Parquet file). Local mode (``local[2]``) by default; pass a master URL
(``spark://host:7077``, ``yarn``, ``k8s://...``) to run on a cluster, in which case the
Parquet paths must be readable by the executors (shared storage, ``s3a://``, ``hdfs://``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, InputError

__all__ = ["get_spark", "run_panel_queries", "spark_available", "DEFAULT_MASTER"]

DEFAULT_MASTER = "local[2]"
_SESSIONS: dict[str, object] = {}


def spark_available() -> str | None:
    """``None`` when Spark can run here, else the reason it cannot (one line)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'ccpm[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (Spark 4 needs Java 17 or later on PATH or JAVA_HOME)"
    return None


def get_spark(master: str | None = None):
    """A SparkSession for ``master`` (default ``local[2]``), created once per process.

    Settings: UTC session time zone (timestamps are wall-clock times, as in DuckDB),
    Arrow transfer to pandas, UI off; in local mode two shuffle partitions.
    """
    reason = spark_available()
    if reason:
        raise ConfigError(f"engine spark: {reason}")
    master = master or DEFAULT_MASTER
    spark = _SESSIONS.get(master)
    if spark is not None and not spark.sparkContext._jsc.sc().isStopped():
        return spark
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("ccpm-panel")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
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
        return sdf.toPandas()


def run_panel_queries(calls, *, master=None, period, short_call_s, repeat_window_h, data_end):
    """The panel queries on Spark: ``(counts dict, panel frame, queues frame)``.

    Same contract as ``analysis.panel._run_duckdb``: ``panel`` and ``queues`` carry
    period *start* timestamps, labelled by :func:`analysis.panel.build_panel`.
    """
    from ..panel import _accounting, panel_sql, resolve_calls_paths

    spark = get_spark(master)
    tmp = None
    try:
        if isinstance(calls, pd.DataFrame):
            import pyarrow as pa
            import pyarrow.parquet as pq

            tmp = tempfile.mkdtemp(prefix="ccpm_spark_")
            path = str(Path(tmp) / "calls.parquet")
            table = pa.Table.from_pandas(calls, preserve_index=False)
            pq.write_table(table, path)
            files = [path]
        else:
            files = resolve_calls_paths(calls)
        try:
            sdf = spark.read.option("mergeSchema", "true").parquet(*files)
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot read calls Parquet with Spark: {msg}") from None
        view = "ccpm_src"
        sdf.createOrReplaceTempView(view)
        columns = list(sdf.columns)
        sql = panel_sql(columns, source=view, period=period, short_call_s=short_call_s,
                        repeat_window_h=repeat_window_h, engine="spark", data_end=data_end)
        dup = _to_pandas(spark.sql(sql["duplicates"])).iloc[0, 0]
        counts, queues = _accounting(_to_pandas(spark.sql(sql["accounting"])), dup)
        end = counts.get("data_end_ts")
        if data_end is None and "arrival_ts" in columns and end is not None and not pd.isna(end):
            ts = pd.Timestamp(end)
            if ts.tzinfo is not None:
                ts = ts.tz_convert("UTC").tz_localize(None)
            sql = panel_sql(columns, source=view, period=period, short_call_s=short_call_s,
                            repeat_window_h=repeat_window_h, engine="spark",
                            data_end=str(ts))
        spark.sql(sql["calls"]).createOrReplaceTempView("calls")
        panel = _to_pandas(spark.sql(sql["panel"]))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    for frame in (panel, queues):
        if len(frame) and isinstance(frame["period"].dtype, pd.DatetimeTZDtype):
            frame["period"] = frame["period"].dt.tz_convert("UTC").dt.tz_localize(None)
    return counts, panel, queues
