"""Named check aggregations (:data:`analysis.metrics.AGGREGATIONS`) on any engine."""

from __future__ import annotations

import pandas as pd

from .. import metrics as _metrics
from ..config import DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from . import DEFAULT_ENGINE, get_engine

__all__ = ["data_end_literal", "run_aggregation"]


def data_end_literal(session) -> str | None:
    """The last ``arrival_ts`` of the session's calls as a timestamp literal.

    ``None`` without ``arrival_ts``, without rows, or for a time-zone-aware column
    (the relation then compares with the engine's own scalar subquery).
    """
    if "arrival_ts" not in session.columns:
        return None
    end = session.query(f"SELECT MAX(arrival_ts) AS e FROM {session.source}").iloc[0, 0]
    if end is None or pd.isna(end) or getattr(end, "tzinfo", None) is not None:
        return None
    return str(pd.Timestamp(end))


def run_aggregation(calls, aggregation: str, *, engine: str = DEFAULT_ENGINE,
                    period: str = "day", engine_options: dict | None = None,
                    short_call_s: float = DEFAULT_SHORT_CALL_S,
                    repeat_window_h: float = REPEAT_WINDOW_H,
                    data_end: str | None = None) -> pd.DataFrame:
    """A named per-call aggregation of the calls, computed on ``engine``.

    The per-call relation (:func:`analysis.metrics.relation_sql`: handled calls that
    keep the contract, with the panel's handle time and censored repeat-call window)
    is built on the engine, and the aggregation's portable SQL runs over it; only the
    aggregated table reaches pandas, so a check's statistics can start from the same
    table whichever engine counted.

    Parameters
    ----------
    calls : str, Path, list or DataFrame
        Contract-shaped calls (Parquet file, folder or glob; or a DataFrame).
    aggregation : str
        A key of :data:`analysis.metrics.AGGREGATIONS`.
    engine : str
        An engine of :data:`analysis.engines.ENGINES`.
    period : {"day", "week", "month"}
        ``period`` column: the start of this period of ``answer_ts`` (naive timestamp).
    engine_options : dict, optional
        Passed to the engine's ``session`` (e.g. ``{"master": "spark://h:7077"}``).
    short_call_s, repeat_window_h : float
        Short-call threshold (s) and repeat window (h).
    data_end : str, optional
        End of the observation window; default the last ``arrival_ts``.

    Returns
    -------
    DataFrame
        The aggregation's keys and values, sorted by the keys; counts as ``int64``
        (``float64`` where a count is missing), sums as ``float64``.

    Raises
    ------
    KeyError
        Unknown aggregation.
    ConfigError
        Unknown engine or period, or the engine cannot run here.
    """
    agg = _metrics.AGGREGATIONS.get(aggregation)
    if agg is None:
        raise KeyError(f"unknown aggregation {aggregation!r} "
                       f"(known: {', '.join(_metrics.AGGREGATIONS)})")
    eng = get_engine(engine)
    with eng.session(calls, **(engine_options or {})) as s:
        end = data_end or data_end_literal(s)
        sql = _metrics.relation_sql(s.columns, dialect=eng.DIALECT, source=s.source,
                                    period=period, short_call_s=short_call_s,
                                    repeat_window_h=repeat_window_h, data_end=end)
        s.create_view("calls", sql["calls"])
        out = s.query(agg.sql("calls", short_call_s=float(short_call_s)))
    out = out.sort_values(list(agg.keys), ignore_index=True)
    for key in agg.keys:
        if key == "period":
            out[key] = pd.to_datetime(out[key]).astype("datetime64[us]")
        else:
            out[key] = out[key].astype(object).where(out[key].notna(), None)
    for name, expr in agg.values:
        col = pd.to_numeric(out[name], errors="coerce").astype("float64")
        if "AS BIGINT" in expr and col.notna().all():
            col = col.astype("int64")
        out[name] = col
    return out
