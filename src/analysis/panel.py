"""The agent x period metric panel, computed in DuckDB over contract-shaped calls.

The per-call relation (one row per handled call, with the repeat-call flag
computed by a window over each customer's calls) and every metric are SQL; only
the agent x period result reaches pandas, so ten million calls cost what ten
thousand do. Metric definitions live in :mod:`analysis.metrics`.
"""

from __future__ import annotations

import glob as _glob
import re
from pathlib import Path

import duckdb
import pandas as pd

from . import metrics as _metrics
from .config import DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from .contract import CALL_ID_UNIQUE_META
from .errors import ConfigError, InputError
from .escape import sql_path_list

__all__ = ["build_panel", "calls_view", "resolve_calls_paths", "PERIODS", "QUEUE_PREFIX", "panel_sql",
           "period_label"]

#: Period granularities and their labels.
PERIODS = {"month": "YYYY-MM", "week": "YYYY-Www (ISO week)", "day": "YYYY-MM-DD"}
#: Prefix of the queue-mix columns: ``queue_share__<queue>`` = share of the
#: agent's handled calls in that period offered to ``<queue>``.
QUEUE_PREFIX = "queue_share__"

# Engine-specific pieces, side by side (the metric SQL of analysis.metrics is shared).
# ``period``: the period *start* of answer_ts (a timestamp; grouping on it is far cheaper
# than formatting a label per call; labels are made from the few distinct starts, see
# :func:`period_label`). ``interval``: n minutes as an interval literal. ``string``: the
# name of the string type. ``order_nulls_last``: suffix for ascending window orders.
_ENGINE_SQL = {
    "duckdb": {
        "period": {
            "month": "date_trunc('month', answer_ts)",
            "week": "date_trunc('week', answer_ts)",  # ISO week: starts on Monday
            "day": "date_trunc('day', answer_ts)",
        },
        "interval": "INTERVAL '{minutes}' MINUTE",
        "string": "VARCHAR",
        "nulls_last": "NULLS LAST",
    },
    "spark": {
        "period": {
            "month": "date_trunc('MONTH', answer_ts)",
            "week": "date_trunc('WEEK', answer_ts)",  # Spark's WEEK starts on Monday
            "day": "date_trunc('DAY', answer_ts)",
        },
        "interval": "INTERVAL '{minutes}' MINUTE",
        "string": "STRING",
        "nulls_last": "NULLS LAST",
    },
}
#: Engines :func:`build_panel` runs on.
ENGINES = tuple(_ENGINE_SQL)
# Kept for callers of the old name: per-engine period expressions.
_PERIOD_SQL = {e: v["period"] for e, v in _ENGINE_SQL.items()}

_REQUIRED = ("outcome", "agent_id", "answer_ts", "talk_s", "queue")
_OPTIONAL_TYPES = {
    "call_id": "VARCHAR",
    "arrival_ts": "TIMESTAMP",
    "hold_s": "DOUBLE",
    "acw_s": "DOUBLE",
    "customer_id": "VARCHAR",
    "ended_by": "VARCHAR",
    "resolved": "BOOLEAN",
    "csat": "DOUBLE",
    "qa_score": "DOUBLE",
    "complaint": "BOOLEAN",
}


def resolve_calls_paths(calls: str | Path | list) -> list[str]:
    """Parquet files named by a path, a folder or a glob.

    A folder holding ``valid.parquet`` (from ``ccpm validate``) or ``calls.parquet``
    (from ``ccpm synth``) means that file; any other folder means all its
    ``*.parquet`` files.
    """
    if isinstance(calls, (list, tuple)):
        out: list[str] = []
        for c in calls:
            out.extend(resolve_calls_paths(c))
        return out
    s = str(calls)
    if any(ch in s for ch in "*?["):
        files = sorted(_glob.glob(s))
        if not files:
            raise InputError(f"no files match {s}")
        return files
    p = Path(s)
    if p.is_dir():
        for name in ("valid.parquet", "calls.parquet"):
            if (p / name).is_file():
                return [str(p / name)]
        files = sorted(str(f) for f in p.glob("*.parquet"))
        if not files:
            raise InputError(f"no Parquet files in folder {p}")
        return files
    if not p.exists():
        raise InputError(f"calls file not found: {p}")
    if p.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(
            f"{p.name} is not Parquet: validate it first (ccpm validate) or pass --mapping"
        )
    return [str(p)]


def _interval_hours(h: float, engine: str = "duckdb") -> str:
    return _ENGINE_SQL[engine]["interval"].format(minutes=int(round(float(h) * 60)))


def panel_sql(
    columns: list[str],
    *,
    source: str = "src",
    period: str = "month",
    short_call_s: float = DEFAULT_SHORT_CALL_S,
    repeat_window_h: float = REPEAT_WINDOW_H,
    engine: str = "duckdb",
    data_end: str | None = None,
) -> dict[str, str]:
    """The SQL of the panel: ``calls`` (per-call relation) and ``panel``, ``queues``, ``counts``.

    ``columns`` are the source's column names (missing optional ones become NULL).
    ``calls.period`` and the ``period`` of ``panel`` and ``queues`` are period *start*
    timestamps (:func:`period_label` turns them into labels). ``panel`` reads the
    ``calls`` relation (register it as a view called ``calls``); ``queues`` and
    ``counts`` read ``source`` directly, so the repeat-call window (a sort of every call
    by customer) is computed once.
    """
    if period not in PERIODS:
        raise ConfigError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    if engine not in _ENGINE_SQL:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(_ENGINE_SQL)}")
    eng = _ENGINE_SQL[engine]
    string = eng["string"]
    cols = set(columns)
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise InputError(f"calls lack required column(s): {', '.join(missing)}")

    def col(name: str) -> str:
        if name in cols:
            return name
        if name == "arrival_ts":
            return "answer_ts"
        typ = _OPTIONAL_TYPES[name]
        return f"CAST(NULL AS {string if typ == 'VARCHAR' else typ})"

    hold = f"COALESCE({col('hold_s')}, 0.0)" if "hold_s" in cols else "0.0"
    acw = f"COALESCE({col('acw_s')}, 0.0)" if "acw_s" in cols else "0.0"
    window = _interval_hours(repeat_window_h, engine)
    end = (f"TIMESTAMP '{data_end}'" if data_end
           else f"(SELECT MAX({col('arrival_ts')}) FROM {source})")
    handled = "outcome IN ('answered', 'transferred')"
    valid = (
        "agent_id IS NOT NULL AND answer_ts IS NOT NULL AND talk_s IS NOT NULL "
        "AND talk_s >= 0 AND hold_s >= 0 AND acw_s >= 0"
    )
    base = f"""
        SELECT CAST({col('call_id')} AS {string}) AS call_id,
               CAST(outcome AS {string}) AS outcome,
               CAST(agent_id AS {string}) AS agent_id, CAST(queue AS {string}) AS queue,
               {col('arrival_ts')} AS arrival_ts, answer_ts,
               CAST(talk_s AS DOUBLE) AS talk_s, CAST({hold} AS DOUBLE) AS hold_s,
               CAST({acw} AS DOUBLE) AS acw_s,
               CAST({col('customer_id')} AS {string}) AS customer_id,
               CAST({col('ended_by')} AS {string}) AS ended_by, {col('resolved')} AS resolved,
               CAST({col('csat')} AS DOUBLE) AS csat, CAST({col('qa_score')} AS DOUBLE) AS qa_score,
               {col('complaint')} AS complaint
        FROM {source}"""
    nl = eng["nulls_last"]
    seq = f"""
        SELECT b.*,
               LEAD(arrival_ts) OVER (PARTITION BY customer_id
                                      ORDER BY arrival_ts ASC {nl}, call_id ASC {nl})
                   AS next_arrival_ts,
               {end} AS data_end_ts
        FROM ({base}) b"""
    per = eng["period"][period]
    calls = f"""
        SELECT agent_id, {per} AS period, queue, talk_s, hold_s, acw_s,
               talk_s + hold_s + acw_s AS handle_s,
               CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END AS is_transfer,
               CASE WHEN customer_id IS NULL THEN NULL
                    WHEN answer_ts + {window} > data_end_ts THEN NULL
                    WHEN next_arrival_ts IS NOT NULL
                         AND next_arrival_ts <= answer_ts + {window} THEN 1
                    ELSE 0 END AS is_repeat,
               CASE WHEN resolved THEN 1 WHEN NOT resolved THEN 0 END AS resolved_i,
               csat, qa_score,
               CASE WHEN complaint THEN 1 WHEN NOT complaint THEN 0 END AS complaint_i,
               CASE WHEN ended_by IS NULL THEN NULL
                    WHEN ended_by = 'agent' THEN 1 ELSE 0 END AS agent_ended_i
        FROM ({seq}) s
        WHERE {handled} AND {valid}"""
    params = {"short_call_s": float(short_call_s)}
    aggs = ",\n               ".join(
        f"{m.render(**params)} AS {m.name}" for m in _metrics.METRICS
    )
    panel = f"""
        SELECT agent_id, period,
               {aggs}
        FROM calls
        GROUP BY agent_id, period"""
    queues = f"""
        SELECT agent_id, period, queue, COUNT(*) AS n
        FROM (SELECT agent_id, {per} AS period, queue FROM ({base}) b
              WHERE {handled} AND {valid}) q
        GROUP BY agent_id, period, queue"""
    counts = f"""
        SELECT COUNT(*) AS rows_read,
               SUM(CASE WHEN {handled} THEN 1 ELSE 0 END) AS handled_rows,
               SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned_rows,
               SUM(CASE WHEN outcome IS NULL OR outcome NOT IN
                        ('answered', 'transferred', 'abandoned') THEN 1 ELSE 0 END)
                   AS unknown_outcome,
               SUM(CASE WHEN {handled} AND NOT COALESCE(({valid}), FALSE) THEN 1 ELSE 0 END)
                   AS invalid_handled,
               COUNT(call_id) - COUNT(DISTINCT call_id) AS duplicate_call_id,
               MIN(arrival_ts) AS data_start_ts,
               MAX(arrival_ts) AS data_end_ts
        FROM ({base}) b"""
    # one narrow scan for the row accounting and the queue mix together (build_panel)
    accounting = f"""
        SELECT agent_id, period, queue, kind, ok, COUNT(*) AS n,
               MIN(arrival_ts) AS first_ts, MAX(arrival_ts) AS last_ts
        FROM (SELECT CASE WHEN ok THEN agent_id END AS agent_id,
                     CASE WHEN ok THEN {per} END AS period,
                     CASE WHEN ok THEN queue END AS queue, kind, ok, arrival_ts
              FROM (SELECT b.*,
                           CASE WHEN {handled} THEN 'handled'
                                WHEN outcome = 'abandoned' THEN 'abandoned'
                                ELSE 'unknown' END AS kind,
                           COALESCE(({handled}) AND ({valid}), FALSE) AS ok
                    FROM ({base}) b) k) a
        GROUP BY agent_id, period, queue, kind, ok"""
    duplicates = f"""
        SELECT COUNT(call_id) - COUNT(DISTINCT call_id) AS duplicate_call_id
        FROM ({base}) b"""
    return {"calls": calls, "panel": panel, "queues": queues, "counts": counts,
            "accounting": accounting, "duplicates": duplicates}


def _accounting(acc: pd.DataFrame, duplicates) -> tuple[dict, pd.DataFrame]:
    """Row counts (``counts`` of :func:`panel_sql`) and the queue table from ``accounting``."""
    n = acc["n"].astype("int64")
    handled = acc["kind"] == "handled"
    ok = acc["ok"].astype(bool)
    first = acc["first_ts"].dropna()
    last = acc["last_ts"].dropna()
    counts = {
        "rows_read": int(n.sum()),
        "handled_rows": int(n[handled].sum()),
        "abandoned_rows": int(n[acc["kind"] == "abandoned"].sum()),
        "unknown_outcome": int(n[acc["kind"] == "unknown"].sum()),
        "invalid_handled": int(n[handled & ~ok].sum()),
        "duplicate_call_id": 0 if duplicates is None or pd.isna(duplicates) else int(duplicates),
        "data_start_ts": first.min() if len(first) else None,
        "data_end_ts": last.max() if len(last) else None,
    }
    queues = acc.loc[ok, ["agent_id", "period", "queue", "n"]].reset_index(drop=True)
    return counts, queues


def period_label(ts, period: str = "month") -> str:
    """The panel's label of the period holding timestamp ``ts`` (same as the SQL's)."""
    t = pd.Timestamp(ts)
    if period == "month":
        return t.strftime("%Y-%m")
    if period == "week":
        y, w, _ = t.isocalendar()
        return f"{y}-W{w:02d}"
    if period == "day":
        return t.strftime("%Y-%m-%d")
    raise ConfigError(f"period: {period!r} is not one of {', '.join(PERIODS)}")


def _slug(q: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]+", "_", str(q)).strip("_")
    return s or "unknown"


def build_panel(
    calls,
    *,
    period: str = "month",
    short_call_s: float = DEFAULT_SHORT_CALL_S,
    repeat_window_h: float = REPEAT_WINDOW_H,
    engine: str = "duckdb",
    data_end: str | None = None,
    spark_master: str | None = None,
) -> pd.DataFrame:
    """One row per agent and period with every metric of :mod:`analysis.metrics`.

    Parameters
    ----------
    calls : str, Path, list or DataFrame
        Contract-shaped calls: a Parquet file (``valid.parquet``, ``calls.parquet``),
        a folder or glob of them, or a DataFrame with contract columns.
    period : {"month", "week", "day"}
        Calendar month (``YYYY-MM``), ISO week (``YYYY-Www``) or day (``YYYY-MM-DD``)
        of ``answer_ts``.
    short_call_s : float
        Talk time below this is a short call.
    repeat_window_h : float
        A call is a repeat source when the same customer calls again within this many
        hours of its answer; calls whose window ends after ``data_end`` are censored.
    engine : {"duckdb", "spark"}
        The SQL engine. Both run the same metric SQL (:mod:`analysis.metrics`);
        ``spark`` needs the optional ``pyspark`` and Java (``pip install ccpm[spark]``)
        and reads the Parquet files directly.
    data_end : str, optional
        End of the observation window (ISO timestamp); default the last ``arrival_ts``.
    spark_master : str, optional
        Spark master URL for ``engine="spark"`` (default ``local[2]``; a cluster URL such
        as ``spark://host:7077`` in production). Ignored by DuckDB.

    Returns
    -------
    DataFrame
        ``agent_id, period`` and one column per metric (``calls, aht_s, talk_s,
        hold_s, acw_s, short_call_rate, transfer_rate, repeat_call_rate,
        repeat_calls_observed, resolved_rate, csat_mean, csat_responses, qa_mean,
        complaint_rate, agent_hangup_rate``), then ``main_queue`` (the queue with the
        most of the agent's calls that period; ties: first by name) and
        ``queue_share__<queue>`` (share of the agent's handled calls per queue; queue
        names reduced to ``[0-9A-Za-z_]``). ``attrs["ccpm_panel"]`` holds the row
        counts: ``rows_read, handled_rows, abandoned_rows, unknown_outcome,
        invalid_handled`` (handled rows excluded for breaking the contract: no
        agent, answer time or talk time, or a negative duration),
        ``duplicate_call_id``, ``data_start_ts``, ``data_end_ts`` and the parameters.

    References
    ----------
    COPC Inc. (2019). *COPC CX Standard*, Release 7 (AHT; FCR).
    SQM Group. *First call resolution: definition and measurement* (repeat-call proxy).
    """
    if engine not in _ENGINE_SQL:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(_ENGINE_SQL)}")
    if period not in PERIODS:
        raise ConfigError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    kw = dict(period=period, short_call_s=short_call_s, repeat_window_h=repeat_window_h,
              data_end=data_end)
    if engine == "spark":
        from .engines.spark import run_panel_queries

        counts, panel, queues = run_panel_queries(calls, master=spark_master, **kw)
    else:
        counts, panel, queues = _run_duckdb(calls, **kw)
    if panel.empty:
        raise InputError("no handled calls (outcome answered/transferred) with valid fields")
    # period starts -> labels (a handful of distinct values)
    starts = pd.concat([panel["period"], queues["period"]]).drop_duplicates()
    labels = {t: period_label(t, period) for t in starts}
    panel["period"] = panel["period"].map(labels)
    queues["period"] = queues["period"].map(labels)
    panel["agent_id"] = panel["agent_id"].astype(str)
    panel["period"] = panel["period"].astype(str)
    for m in _metrics.METRICS:
        if m.unit in ("calls", "responses"):
            panel[m.name] = panel[m.name].astype("int64")
        else:
            panel[m.name] = pd.to_numeric(panel[m.name], errors="coerce").astype("float64")
    # queue mix (small: agent x period x queue)
    queues["share"] = queues["n"] / queues.groupby(["agent_id", "period"])["n"].transform("sum")
    queues = queues.sort_values(["agent_id", "period", "n", "queue"],
                                ascending=[True, True, False, True])
    main = queues.drop_duplicates(["agent_id", "period"])[["agent_id", "period", "queue"]]
    main = main.rename(columns={"queue": "main_queue"})
    queues["col"] = QUEUE_PREFIX + queues["queue"].map(_slug)
    wide = queues.pivot_table(index=["agent_id", "period"], columns="col", values="share",
                              aggfunc="sum", fill_value=0.0).reset_index()
    wide.columns.name = None
    panel = panel.merge(main, on=["agent_id", "period"], how="left")
    panel = panel.merge(wide, on=["agent_id", "period"], how="left")
    panel = panel.sort_values(["agent_id", "period"], ignore_index=True)
    info = {k: (None if pd.isna(v) else (str(v) if k.endswith("_ts") else int(v)))
            for k, v in counts.items()}
    info.update(period=period, short_call_s=float(short_call_s),
                repeat_window_h=float(repeat_window_h), engine=engine)
    panel.attrs["ccpm_panel"] = info
    return panel


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


def _ids_checked_unique(files: list[str]) -> bool:
    """True for one Parquet file that ccpm wrote with unique call ids.

    ``ccpm validate`` (and the loader's spill) quarantine duplicate call ids and
    ``ccpm synth`` makes unique ones; they mark the file with
    :data:`~analysis.contract.CALL_ID_UNIQUE_META`, and the exact recount (a hash
    aggregate over every id: about 1.8 s at 10 M calls) is skipped. Several files are
    always recounted: ids unique within each may repeat across them.
    """
    if len(files) != 1:
        return False
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(files[0]).metadata or {}
    except (OSError, ValueError):
        return False
    return meta.get(CALL_ID_UNIQUE_META) == b"true"


def _run_duckdb(calls, *, period, short_call_s, repeat_window_h, data_end):
    """The panel queries on DuckDB: ``(counts dict, panel frame, queues frame)``."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # progress goes to stdout otherwise
        # the window's sort keeps the input order otherwise: a needless cost here
        con.execute("SET preserve_insertion_order = false")
        files = calls_view(con, calls, "src")
        columns = [r[0] for r in con.execute("DESCRIBE src").fetchall()]
        sql = panel_sql(columns, period=period, short_call_s=short_call_s,
                        repeat_window_h=repeat_window_h, engine="duckdb", data_end=data_end)
        if _ids_checked_unique(files):
            duplicates = 0  # checked when the file was written (see _ids_checked_unique)
        else:
            duplicates = con.execute(sql["duplicates"]).fetchone()[0]
        counts, queues = _accounting(con.execute(sql["accounting"]).fetchdf(), duplicates)
        if data_end is None and "arrival_ts" in columns:
            # a literal is far cheaper for the engine than a scalar subquery per row
            end = counts.get("data_end_ts")
            if end is not None and not pd.isna(end) and getattr(end, "tzinfo", None) is None:
                sql = panel_sql(columns, period=period, short_call_s=short_call_s,
                                repeat_window_h=repeat_window_h, engine="duckdb",
                                data_end=str(pd.Timestamp(end)))
        con.execute(f"CREATE TEMP VIEW calls AS {sql['calls']}")
        panel = con.execute(sql["panel"]).fetchdf()
    finally:
        con.close()
    return counts, panel, queues
