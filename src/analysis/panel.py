"""The agent x period metric panel, computed by an SQL engine over contract-shaped calls.

The per-call relation (one row per handled call, with the repeat-call flag
computed by a window over each customer's calls) and every metric are SQL
(:mod:`analysis.metrics`); an engine of :mod:`analysis.engines` (DuckDB by default,
or Spark) runs it, and only the agent x period result reaches pandas, so ten
million calls cost what ten thousand do.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from . import metrics as _metrics
from .config import DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from .engines import ENGINES, get_engine, ids_checked_unique, resolve_calls_paths
from .errors import ConfigError, InputError

__all__ = ["build_panel", "with_roster", "calls_view", "resolve_calls_paths", "ENGINES",
           "PERIODS", "QUEUE_PREFIX", "panel_sql", "period_label", "UNRECORDED_IF_ZERO",
           "unrecorded_metrics"]

#: Period granularities and their labels.
PERIODS = {"month": "YYYY-MM", "week": "YYYY-Www (ISO week)", "day": "YYYY-MM-DD"}
#: Prefix of the queue-mix columns: ``queue_share__<queue>`` = share of the
#: agent's handled calls in that period offered to ``<queue>``.
QUEUE_PREFIX = "queue_share__"


def calls_view(con, calls, name: str) -> list[str]:
    """Create DuckDB view ``name`` over ``calls`` (see :func:`analysis.engines.duckdb.calls_view`)."""
    from .engines.duckdb import calls_view as _calls_view

    return _calls_view(con, calls, name)


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
    """The SQL of the panel for ``engine``: ``calls`` (per-call relation), ``panel``, ...

    :func:`analysis.metrics.relation_sql` with the engine's dialect (see there for the
    queries). ``calls.period`` and the ``period`` of ``panel`` and ``queues`` are period
    *start* timestamps (:func:`period_label` turns them into labels).
    """
    if period not in PERIODS:
        raise ConfigError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    dialect = get_engine(engine).DIALECT
    return _metrics.relation_sql(columns, dialect=dialect, source=source, period=period,
                                 short_call_s=short_call_s, repeat_window_h=repeat_window_h,
                                 data_end=data_end)


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
    pseudonymizer=None,
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
    engine : str
        An engine of :data:`analysis.engines.ENGINES` (``duckdb``, ``spark``). All run
        the same metric SQL (:mod:`analysis.metrics`); ``spark`` needs the optional ``pyspark`` and Java (``pip install ccpm[spark]``)
        and reads the Parquet files directly.
    data_end : str, optional
        End of the observation window (ISO timestamp); default the last ``arrival_ts``.
    spark_master : str, optional
        Spark master URL for ``engine="spark"`` (default ``local[2]``; a cluster URL such
        as ``spark://host:7077`` in production). Ignored by DuckDB.
    pseudonymizer : analysis.privacy.Pseudonymizer, optional
        With ``--pseudonymize``: it learns the panel's agent ids and replaces them inside
        queue names (:meth:`~analysis.privacy.Pseudonymizer.text`) *before* the names
        become ``main_queue`` values and ``queue_share__`` column names, where ``_``
        joins their words (``VIP desk of Dana_Cohen`` would otherwise become a column
        ``queue_share__VIP_desk_of_Dana_Cohen``). The ids themselves are left raw: the
        caller pseudonymizes the whole panel at write time.

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
    eng = get_engine(engine)
    if period not in PERIODS:
        raise ConfigError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    options = {"master": spark_master} if engine == "spark" else {}
    counts, panel, queues = _run_queries(eng, calls, options, period=period,
                                         short_call_s=short_call_s,
                                         repeat_window_h=repeat_window_h, data_end=data_end)
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
    if pseudonymizer is not None and len(queues):
        pseudonymizer.learn(panel[["agent_id"]])
        queues["queue"] = pseudonymizer.text_column(queues["queue"])
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
    not_recorded = unrecorded_metrics(panel)
    panel[not_recorded] = np.nan
    info = {k: (None if pd.isna(v) else (str(v) if k.endswith("_ts") else int(v)))
            for k, v in counts.items()}
    info.update(period=period, short_call_s=float(short_call_s),
                repeat_window_h=float(repeat_window_h), engine=engine,
                not_recorded=not_recorded)
    panel.attrs["ccpm_panel"] = info
    return panel


#: Metrics whose source field has a default instead of a value when the export lacks it
#: (the contract's hold_s = acw_s = 0; "transferred" is an outcome an export may never
#: use): zero for every agent and period means the source does not record them.
UNRECORDED_IF_ZERO = ("hold_s", "acw_s", "transfer_rate")


def unrecorded_metrics(panel: pd.DataFrame) -> list[str]:
    """The metrics of :data:`UNRECORDED_IF_ZERO` that are zero for every agent and period.

    Zero hold, wrap-up or transfers on every handled call of a whole export is a field the
    source does not have (the Anonymous Bank logs: service time only, no transfer
    outcome), not a center where nobody ever holds or transfers: the panel gives them no
    value (NaN) rather than a measured zero that models would reward and coverage would
    count, and lists them in ``attrs["ccpm_panel"]["not_recorded"]``.
    """
    out = []
    for m in UNRECORDED_IF_ZERO:
        if m in panel and len(panel) and bool((panel[m].fillna(0) == 0).all()):
            out.append(m)
    return out


def _run_queries(eng, calls, options: dict, *, period, short_call_s, repeat_window_h,
                 data_end):
    """The panel queries on engine module ``eng``: ``(counts dict, panel, queues)``.

    ``panel`` and ``queues`` carry period *start* timestamps. Three passes at most:
    the exact duplicate-id recount (skipped for a file ccpm marked unique, see
    :func:`analysis.engines.ids_checked_unique`), one narrow accounting scan (row
    counts, queue mix, first and last arrival) and the panel itself, whose repeat
    window then compares with the last arrival as a literal (the panel is two queries
    of that pass: see ``panel_window`` in :func:`analysis.metrics.relation_sql`).
    """
    kw = dict(period=period, short_call_s=short_call_s, repeat_window_h=repeat_window_h)
    with eng.session(calls, **options) as s:
        sql = panel_sql(s.columns, source=s.source, engine=eng.DIALECT.name,
                        data_end=data_end, **kw)
        if ids_checked_unique(s.files):
            duplicates = 0  # checked when the file was written
        else:
            duplicates = s.query(sql["duplicates"]).iloc[0, 0]
        counts, queues = _accounting(s.query(sql["accounting"]), duplicates)
        if data_end is None and "arrival_ts" in s.columns:
            # a literal is far cheaper for the engine than a scalar subquery per row
            end = counts.get("data_end_ts")
            if end is not None and not pd.isna(end) and getattr(end, "tzinfo", None) is None:
                sql = panel_sql(s.columns, source=s.source, engine=eng.DIALECT.name,
                                data_end=str(pd.Timestamp(end)), **kw)
        # the panel in two parts (see analysis.metrics.relation_sql): the repeat-call
        # metrics over a narrow window, the others over a plain aggregate
        plain = s.query(sql["panel_plain"])
        windowed = s.query(sql["panel_window"])
    keys = ["agent_id", "period"]
    panel = plain.merge(windowed, on=keys, how="outer", validate="one_to_one")
    if not (len(panel) == len(plain) == len(windowed)):  # same rows by construction
        raise RuntimeError("panel parts disagree on the agent-periods")
    return counts, panel[keys + _metrics.metric_names()], queues


def with_roster(panel: pd.DataFrame, roster, columns=("team", "shift", "site")) -> pd.DataFrame:
    """The panel with the roster's ``team``, ``shift`` and ``site`` per agent (the columns
    the roster has), so that fairness can be measured by them; ``roster`` is a frame (e.g.
    ``analysis.load.load_roster(path).valid``) or ``None`` (the panel as it is). An agent
    listed twice keeps its first row; agents not in the roster get NaN. The panel's
    ``attrs`` (row accounting) are kept."""
    if roster is None:
        return panel
    cols = [c for c in columns if c in roster.columns]
    r = roster[["agent_id", *cols]].drop_duplicates("agent_id").copy()
    r["agent_id"] = r["agent_id"].astype(str)
    out = panel.drop(columns=[c for c in cols if c in panel.columns])
    out = out.assign(agent_id=out["agent_id"].astype(str)).merge(r, on="agent_id", how="left")
    out.attrs = panel.attrs
    return out
