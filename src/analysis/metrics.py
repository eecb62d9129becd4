"""Agent metrics, each defined once, as portable SQL over a per-call relation.

Every metric is an aggregate expression over the per-call relation that
:func:`relation_sql` writes (one row per *handled* call: outcome answered or
transferred). The relation has these columns, whatever the engine:

``agent_id, period, queue, talk_s, hold_s, acw_s, handle_s, is_transfer (0/1),
is_repeat (0/1, NULL when censored or no customer_id), resolved_i (0/1/NULL),
csat, qa_score, complaint_i (0/1/NULL), agent_ended_i (0/1/NULL)``

The expressions are ANSI SQL (``COUNT``, ``AVG``, ``SUM``, ``CASE``), so the
same definitions run on DuckDB and on Spark SQL. Shares average an explicit
``CAST(... AS DOUBLE)``: a bare ``1.0`` is a DECIMAL literal in Spark, whose
``AVG`` keeps only a few decimals. ``{short_call_s}`` is filled
in from the run's parameters.

This module is the bottom layer of the SQL: it names no engine. The few spellings
that differ between engines (period starts, intervals, the string type) come from the
:class:`~analysis.engines.Dialect` handed to :func:`relation_sql`; the engines in
:mod:`analysis.engines` run the SQL; the panel and the checks sit above them.
:data:`AGGREGATIONS` are named per-call aggregations (the counts and sums the gaming
statistics start from) in the same portable SQL over the same relation.

Definitions follow common contact-center practice: AHT = (talk + hold + after-
call work) / handled calls (COPC; ICMI). First-contact resolution has no
direct log measure; its usual proxy (SQM) is the share of calls *not*
followed by a repeat call from the same customer within a window, here
``REPEAT_WINDOW_H`` hours after the call was answered; calls whose window runs
past the end of the data are censored (left out of the denominator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .config import DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from .errors import InputError

__all__ = ["Metric", "METRICS", "get_metric", "metric_names", "describe", "DIRECTIONS",
           "per_call_sql", "relation_sql", "Aggregation", "AGGREGATIONS", "aggregation_sql",
           "REQUIRED_COLUMNS"]

DIRECTIONS = ("higher", "lower", "neutral")


@dataclass(frozen=True)
class Metric:
    """One agent-period metric.

    Attributes
    ----------
    name : str
        Column name in the panel.
    sql : str
        Aggregate SQL expression over the per-call relation (ANSI; may contain
        ``{short_call_s}``).
    description : str
        Plain-words definition for reports.
    direction : str
        ``higher`` or ``lower`` is better, or ``neutral`` (volumes, counts).
    unit : str
        Unit of the value (``s``, ``share``, ``calls``, ``1-5``, ``0-100``).
    """

    name: str
    sql: str
    description: str
    direction: str
    unit: str

    def render(self, **params: object) -> str:
        """The SQL expression with its parameters filled in."""
        return self.sql.format(**params)


METRICS: tuple[Metric, ...] = (
    Metric(
        "calls",
        "COUNT(*)",
        "Calls the agent handled (answered, including those transferred out).",
        "neutral",
        "calls",
    ),
    Metric(
        "aht_s",
        "AVG(handle_s)",
        "Average handle time: mean of talk + hold + after-call work per handled call.",
        "lower",
        "s",
    ),
    Metric("talk_s", "AVG(talk_s)", "Mean talk (conversation) time per handled call.", "lower", "s"),
    Metric("hold_s", "AVG(hold_s)", "Mean hold time per handled call.", "lower", "s"),
    Metric("acw_s", "AVG(acw_s)", "Mean after-call work (wrap-up) per handled call.", "lower", "s"),
    Metric(
        "short_call_rate",
        "AVG(CAST(CASE WHEN talk_s < {short_call_s} THEN 1 ELSE 0 END AS DOUBLE))",
        "Share of handled calls with talk time below the short-call threshold.",
        "lower",
        "share",
    ),
    Metric(
        "transfer_rate",
        "AVG(CAST(is_transfer AS DOUBLE))",
        "Share of handled calls the agent transferred out.",
        "lower",
        "share",
    ),
    Metric(
        "repeat_call_rate",
        "AVG(CAST(is_repeat AS DOUBLE))",
        "Share of handled calls after which the same customer called again within the "
        "repeat window (from the answer); calls whose window is not fully observed are "
        "left out. Missing without customer_id. 1 - this is the usual log proxy of FCR.",
        "lower",
        "share",
    ),
    Metric(
        "repeat_calls_observed",
        "COUNT(is_repeat)",
        "Handled calls whose repeat window was fully observed (denominator of "
        "repeat_call_rate).",
        "neutral",
        "calls",
    ),
    Metric(
        "resolved_rate",
        "AVG(CAST(resolved_i AS DOUBLE))",
        "Share of handled calls the agent marked resolved (calls without a disposition "
        "are left out).",
        "higher",
        "share",
    ),
    Metric("csat_mean", "AVG(csat)", "Mean post-call survey score.", "higher", "1-5"),
    Metric("csat_responses", "COUNT(csat)", "Number of post-call survey responses.", "neutral",
           "responses"),
    Metric("qa_mean", "AVG(qa_score)", "Mean quality-monitoring score.", "higher", "0-100"),
    Metric(
        "complaint_rate",
        "AVG(CAST(complaint_i AS DOUBLE))",
        "Share of handled calls that led to a complaint.",
        "lower",
        "share",
    ),
    Metric(
        "agent_hangup_rate",
        "AVG(CAST(agent_ended_i AS DOUBLE))",
        "Share of handled calls the agent disconnected (missing without ended_by).",
        "neutral",
        "share",
    ),
)

_BY_NAME = {m.name: m for m in METRICS}


def metric_names() -> list[str]:
    """Names of all metrics, in panel column order."""
    return [m.name for m in METRICS]


def get_metric(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (KeyError with the known names otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r} (known: {', '.join(_BY_NAME)})") from None


def per_call_sql(name: str, **params: object) -> str:
    """The per-call value whose mean is metric ``name``, as SQL over the per-call relation.

    For a metric defined as ``AVG(<expr>)`` this is ``<expr>`` with its parameters
    filled in, taken from the metric's own definition (so a trend or a projection of
    the metric call by call uses the same SQL as the panel, not a second copy).

    Raises
    ------
    KeyError
        Unknown metric.
    ValueError
        The metric is not the mean of a per-call value (``calls``, counts).
    """
    m = get_metric(name)
    s = m.sql.strip()
    inner = s[4:-1] if s[:4].upper() == "AVG(" and s.endswith(")") else None
    depth = 0
    for ch in inner or "":
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:  # e.g. "AVG(a) / AVG(b)": not one AVG around the whole
            inner = None
            break
    if inner is None or depth != 0:
        raise ValueError(f"metric {name!r} is not the mean of a per-call value ({m.sql})")
    return inner.format(**params)


def describe() -> pd.DataFrame:
    """The metric definitions, for reports.

    Returns
    -------
    DataFrame
        ``name, description, direction, unit, sql`` — one row per metric.
    """
    return pd.DataFrame(
        [
            {
                "name": m.name,
                "description": m.description,
                "direction": m.direction,
                "unit": m.unit,
                "sql": m.sql,
            }
            for m in METRICS
        ]
    )


# ------------------------------------------------------------------ per-call relation

#: Columns the per-call relation cannot do without.
REQUIRED_COLUMNS = ("outcome", "agent_id", "answer_ts", "talk_s", "queue")
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


def relation_sql(
    columns: list[str],
    *,
    dialect,
    source: str = "src",
    period: str = "month",
    short_call_s: float = DEFAULT_SHORT_CALL_S,
    repeat_window_h: float = REPEAT_WINDOW_H,
    data_end: str | None = None,
) -> dict[str, str]:
    """The SQL of the per-call relation and of the panel, for one engine's dialect.

    Parameters
    ----------
    columns : list of str
        The source's column names (missing optional ones become NULL; without
        ``arrival_ts`` the answer time stands in).
    dialect : analysis.engines.Dialect
        The engine's spellings of period starts, intervals and the string type.
    source : str
        The relation (view) holding the calls as read.
    period : {"month", "week", "day"}
        ``period`` is the *start* timestamp of this period of ``answer_ts``.
    short_call_s, repeat_window_h : float
        Short-call threshold (s) and repeat-call window (h).
    data_end : str, optional
        End of the observation window (a timestamp literal); default the last
        ``arrival_ts`` of ``source`` as a scalar subquery (a literal is cheaper).

    Returns
    -------
    dict
        ``calls`` (the per-call relation over handled, valid calls: the columns of
        this module's docstring), ``panel`` (every metric by agent and period, over a
        view named ``calls``), ``queues`` and ``counts`` (over ``source``),
        ``accounting`` (one narrow scan: row counts by kind and validity with the
        queue mix and first/last arrival) and ``duplicates`` (repeated call ids).

    Raises
    ------
    InputError
        A required column is missing.
    ConfigError
        Unknown period.
    """
    string = dialect.string
    per = dialect.period_start(period, "answer_ts")
    cols = set(columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
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
    window = dialect.interval_hours(repeat_window_h)
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
    nl = dialect.nulls_last
    # the per-call columns, as expressions over a row of ``base`` (plus, for is_repeat,
    # the next arrival of the same customer and the data end)
    ok = f"COALESCE(({handled}) AND ({valid}), FALSE)"
    exprs = {
        "agent_id": "agent_id",
        "period": per,
        "queue": "queue",
        "talk_s": "talk_s",
        "hold_s": "hold_s",
        "acw_s": "acw_s",
        "handle_s": "talk_s + hold_s + acw_s",
        "is_transfer": "CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END",
        "is_repeat": f"""CASE WHEN customer_id IS NULL THEN NULL
                    WHEN answer_ts + {window} > data_end_ts THEN NULL
                    WHEN next_arrival_ts IS NOT NULL
                         AND next_arrival_ts <= answer_ts + {window} THEN 1
                    ELSE 0 END""",
        "resolved_i": "CASE WHEN resolved THEN 1 WHEN NOT resolved THEN 0 END",
        "csat": "csat",
        "qa_score": "qa_score",
        "complaint_i": "CASE WHEN complaint THEN 1 WHEN NOT complaint THEN 0 END",
        "agent_ended_i": """CASE WHEN ended_by IS NULL THEN NULL
                    WHEN ended_by = 'agent' THEN 1 ELSE 0 END""",
    }
    # base columns each per-call column reads
    reads = {"period": ("answer_ts",), "handle_s": ("talk_s", "hold_s", "acw_s"),
             "is_transfer": ("outcome",), "is_repeat": ("customer_id", "answer_ts"),
             "resolved_i": ("resolved",), "complaint_i": ("complaint",),
             "agent_ended_i": ("ended_by",)}

    def select(names) -> str:
        return ",\n               ".join(f"{exprs[n]} AS {n}" for n in names)

    nl = dialect.nulls_last
    lead = (f"LEAD(arrival_ts) OVER (PARTITION BY customer_id ORDER BY arrival_ts ASC {nl}, "
            f"call_id ASC {nl})")
    calls = f"""
        SELECT {select(exprs)}
        FROM (SELECT b.*, {lead} AS next_arrival_ts, {end} AS data_end_ts
              FROM ({base}) b) s
        WHERE {handled} AND {valid}"""
    params = {"short_call_s": float(short_call_s)}
    aggs = ",\n               ".join(f"{m.render(**params)} AS {m.name}" for m in METRICS)
    panel = f"""
        SELECT agent_id, period,
               {aggs}
        FROM calls
        GROUP BY agent_id, period"""
    # The same panel in two parts: the metrics of the repeat-call window over a window
    # whose sort carries only the columns they read (the sort of every call by customer
    # is most of the cost, and its cost grows with each column carried), and the rest
    # in a plain aggregate with no window at all. Same rows, same groups.
    windowed = [m for m in METRICS if re.search(r"\bis_repeat\b", m.sql)]
    plain = [m for m in METRICS if m not in windowed]
    used = sorted({c for m in windowed for c in exprs if re.search(rf"\b{c}\b", m.sql)}
                  | {"agent_id", "period", "is_repeat"}, key=list(exprs).index)
    carried = sorted({"agent_id", *(r for c in used for r in reads.get(c, (c,)))}
                     - {"customer_id", "arrival_ts", "call_id"})
    narrow = ", ".join(["customer_id", "arrival_ts", "call_id", *carried])
    panel_window = f"""
        SELECT agent_id, period,
               {", ".join(f"{m.render(**params)} AS {m.name}" for m in windowed)}
        FROM (SELECT {select(used)}
              FROM (SELECT w.*, {lead} AS next_arrival_ts, {end} AS data_end_ts
                    FROM (SELECT {narrow}, {ok} AS ok FROM ({base}) b) w) s
              WHERE ok) c
        GROUP BY agent_id, period"""
    panel_plain = f"""
        SELECT agent_id, period,
               {", ".join(f"{m.render(**params)} AS {m.name}" for m in plain)}
        FROM (SELECT {select(n for n in exprs if n != "is_repeat")}
              FROM ({base}) b
              WHERE {handled} AND {valid}) c
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
    # one narrow scan for the row accounting and the queue mix together
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
    return {"calls": calls, "panel": panel, "panel_window": panel_window,
            "panel_plain": panel_plain, "queues": queues, "counts": counts,
            "accounting": accounting, "duplicates": duplicates}


# ------------------------------------------------------------ named check aggregations


@dataclass(frozen=True)
class Aggregation:
    """A named per-call aggregation: the counts and sums a check's statistic starts from.

    Attributes
    ----------
    name : str
        Its name (:data:`AGGREGATIONS` key).
    keys : tuple of str
        Group keys, columns of the per-call relation (``period`` is a period start).
    values : tuple of (str, str)
        ``(column, aggregate SQL)``; portable SQL over the per-call relation that may
        contain ``{short_call_s}``. Counts are ``BIGINT`` on every engine.
    description : str
        What the table holds, for the check that reads it.
    """

    name: str
    keys: tuple[str, ...]
    values: tuple[tuple[str, str], ...]
    description: str

    def sql(self, source: str = "calls", **params: object) -> str:
        """``SELECT keys, aggregates FROM source GROUP BY keys`` with parameters filled in."""
        keys = ", ".join(self.keys)
        vals = ",\n               ".join(f"{expr.format(**params)} AS {name}"
                                         for name, expr in self.values)
        return f"""
        SELECT {keys},
               {vals}
        FROM {source}
        GROUP BY {keys}"""


_SHORT = "CASE WHEN talk_s < {short_call_s} THEN 1 ELSE 0 END"

AGGREGATIONS: dict[str, Aggregation] = {a.name: a for a in (
    Aggregation(
        "short_calls",
        ("agent_id", "queue", "period"),
        (("calls", "CAST(COUNT(*) AS BIGINT)"),
         ("short_calls", f"CAST(SUM({_SHORT}) AS BIGINT)"),
         ("agent_ended", "CAST(SUM(agent_ended_i) AS BIGINT)"),
         ("ended_known", "CAST(COUNT(agent_ended_i) AS BIGINT)"),
         ("short_agent_ended",
          f"CAST(SUM(CASE WHEN {_SHORT} = 1 AND agent_ended_i = 1 THEN 1 ELSE 0 END) "
          "AS BIGINT)")),
        "Handled calls, short calls (talk below the threshold) and agent hang-ups per "
        "agent, queue and period: the counts of the short-call and hang-up checks.",
    ),
    Aggregation(
        "handle_time",
        ("agent_id", "queue", "period"),
        (("calls", "CAST(COUNT(*) AS BIGINT)"),
         ("handle_sum_s", "SUM(handle_s)"),
         ("handle_sumsq_s2", "SUM(handle_s * handle_s)"),
         ("acw_sum_s", "SUM(acw_s)"),
         ("hold_sum_s", "SUM(hold_s)"),
         ("transfers", "CAST(SUM(is_transfer) AS BIGINT)")),
        "Sums (s) and sums of squares (s^2) of handle time, after-call work and hold, "
        "and transfers per agent, queue and period: means and variances of the "
        "handle-inflation and transfer checks.",
    ),
    Aggregation(
        "repeat_after_short",
        ("agent_id", "period"),
        (("observed", "CAST(COUNT(is_repeat) AS BIGINT)"),
         ("repeats", "CAST(SUM(is_repeat) AS BIGINT)"),
         ("short_observed",
          f"CAST(SUM(CASE WHEN {_SHORT} = 1 AND is_repeat IS NOT NULL THEN 1 ELSE 0 END) "
          "AS BIGINT)"),
         ("short_repeats",
          f"CAST(SUM(CASE WHEN {_SHORT} = 1 AND is_repeat = 1 THEN 1 ELSE 0 END) AS BIGINT)")),
        "Calls with an observed repeat window and repeats among them, overall and among "
        "short calls, per agent and period (the repeat-after-short check's 2x2 counts).",
    ),
)}


def aggregation_sql(name: str, source: str = "calls", **params: object) -> str:
    """The SQL of aggregation ``name`` over ``source`` (KeyError naming the known ones)."""
    try:
        agg = AGGREGATIONS[name]
    except KeyError:
        raise KeyError(f"unknown aggregation {name!r} (known: {', '.join(AGGREGATIONS)})") \
            from None
    return agg.sql(source, **params)
