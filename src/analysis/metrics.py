"""Agent metrics, each defined once, as portable SQL over a per-call relation.

Every metric is an aggregate expression over the per-call relation that
:mod:`analysis.panel` builds (one row per *handled* call: outcome answered or
transferred). The relation has these columns, whatever the engine:

``agent_id, period, queue, talk_s, hold_s, acw_s, handle_s, is_transfer (0/1),
is_repeat (0/1, NULL when censored or no customer_id), resolved_i (0/1/NULL),
csat, qa_score, complaint_i (0/1/NULL), agent_ended_i (0/1/NULL)``

The expressions are ANSI SQL (``COUNT``, ``AVG``, ``SUM``, ``CASE``), so the
same definitions run on DuckDB and on Spark SQL. Shares average an explicit
``CAST(... AS DOUBLE)``: a bare ``1.0`` is a DECIMAL literal in Spark, whose
``AVG`` keeps only a few decimals. ``{short_call_s}`` is filled
in from the run's parameters.

Definitions follow common contact-center practice: AHT = (talk + hold + after-
call work) / handled calls (COPC; ICMI). First-contact resolution has no
direct log measure; its usual proxy (SQM) is the share of calls *not*
followed by a repeat call from the same customer within a window, here
``REPEAT_WINDOW_H`` hours after the call was answered; calls whose window runs
past the end of the data are censored (left out of the denominator).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["Metric", "METRICS", "get_metric", "metric_names", "describe", "DIRECTIONS",
           "per_call_sql"]

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
