"""Contract checks on mapped call rows, shared by the in-memory and the streaming loader.

Beneath both loaders (``calls.py`` reads whole files, ``_stream.py`` slices): each checks
its rows here, so neither imports the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..contract import ENDED_BY, HANDLED_OUTCOMES, OUTCOMES
from ._build import Problems
from ._mapping import Mapping

__all__ = ["CALL_REASONS", "check_calls", "jitter_note", "line_break_note", "ts_window"]

#: Reasons the contract checks can give (mappings add their own).
CALL_REASONS = {
    "malformed_row": "the line did not split into the header's number of fields",
    "unterminated_quote": "a quote opened on the line and did not close before its end (the "
    "lines it ran over are read again one line each)",
    "missing_call_id": "no call id",
    "duplicate_call_id": "call id seen on an earlier row (the first is kept)",
    "missing_queue": "no queue / service type",
    "missing_arrival_ts": "no arrival time",
    "unparseable_<column>": "a value that cannot be read as the column's type",
    "missing_outcome": "no outcome",
    "unknown_outcome": "outcome not answered / abandoned / transferred after mapping",
    "missing_agent_id": "answered or transferred call without an agent",
    "missing_answer_ts": "answered or transferred call without an answer time",
    "missing_talk_s": "answered or transferred call without talk time",
    "negative_<duration>": "talk_s, hold_s or acw_s below zero",
    "absurd_<duration>": "a duration above checks.max_duration_s (default 24 h)",
    "implausible_<timestamp>": "arrival_ts or answer_ts outside checks.ts_window (default "
    "1990-01-01 to tomorrow): sentinel dates such as 1900-01-01 or 1970-01-01",
    "nul_byte": "a NUL character in a field (binary residue), wherever it is in the file",
    "line_break_in_field": "an id, queue or code field holding a line break: a stray quote "
    "joined the lines up to a later quote into one row (the calls of those lines are in "
    "its text)",
    "answer_before_arrival": "answered earlier than it arrived (beyond checks.clock_tolerance_s)",
    "abandoned_with_answer": "abandoned call that has an answer time",
    "unknown_ended_by": "ended_by not agent / customer / system",
    "csat_out_of_range": "csat outside checks.csat_range (default 1-5)",
    "qa_score_out_of_range": "qa_score outside checks.qa_range (default 0-100)",
}

_DURATIONS = ("talk_s", "hold_s", "acw_s")
#: Text columns that never hold a line break (ids, queue, codes).
_ONE_LINE = ("call_id", "agent_id", "customer_id", "queue", "outcome", "ended_by")
#: Default plausibility window for call times: from this date to tomorrow.
EARLIEST_TS = pd.Timestamp("1990-01-01")


def ts_window(checks: dict) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(earliest, latest)`` call time accepted: ``checks.ts_window`` of the mapping, by
    default 1990-01-01 to the start of the day after tomorrow (local clock), so that
    sentinel dates (1900-01-01, 1970-01-01, 9999-12-31) are quarantined."""
    lo, hi = checks.get("ts_window", (None, None))
    if lo is None:
        lo = EARLIEST_TS
    if hi is None:
        hi = pd.Timestamp.now().normalize() + pd.Timedelta(days=2)
    return pd.Timestamp(lo), pd.Timestamp(hi)


def check_calls(frame: pd.DataFrame, built: dict, problems: Problems, mapping: Mapping,
                *, duplicates: bool = True, stats: dict | None = None) -> list[str]:
    """Contract checks on mapped call rows; adds problems, may fix clock jitter in place.

    Returns notes (one line each) about adjustments made. ``duplicates=False`` leaves the
    duplicate-id check to the caller (the streaming loader checks ids across slices);
    ``stats`` receives ``{"jitter": rows}``.
    """
    notes: list[str] = []
    checks = mapping.checks
    n = len(frame)

    def missing(col: str) -> np.ndarray:
        # missing, but not because the raw value was unparseable or quarantined
        # (both reported under their own reason)
        b = built[col]
        m = frame[col].isna().to_numpy() & ~b.bad
        if b.quarantined is not None:
            m &= ~b.quarantined
        return m

    for col in ("call_id", "queue", "arrival_ts", "outcome"):
        problems.add(f"missing_{col}", missing(col))
    # a stray quote that closes on a later quote joins the lines between into one field
    # of a row the header's width: a row Arrow reads as well formed (16 calls became one
    # valid row with a 16-line call id). No id, queue or code holds a line break.
    joined = np.zeros(n, dtype=bool)
    lines = 0
    for col in _ONE_LINE:
        if col in frame.columns and (frame[col].dtype == object
                                     or pd.api.types.is_string_dtype(frame[col])):
            has = frame[col].astype("string").str.contains(r"[\r\n]", regex=True)
            has = has.fillna(False).to_numpy(dtype=bool)
            if has.any():
                lines = max(lines, int(frame[col][has].astype(str).str.count("\n").sum()))
                joined |= has
    if joined.any():
        problems.add("line_break_in_field", joined)
        if stats is None:
            notes.append(line_break_note(int(joined.sum()), lines))
        else:  # the streaming loader says it once, over every slice
            stats["line_break_rows"] = stats.get("line_break_rows", 0) + int(joined.sum())
            stats["line_breaks"] = stats.get("line_breaks", 0) + lines
    out = frame["outcome"].str.strip().str.lower()
    frame["outcome"] = out
    known = out.isin(OUTCOMES).fillna(False).to_numpy(dtype=bool)
    problems.add("unknown_outcome", out.notna().to_numpy() & ~known)
    handled = out.isin(HANDLED_OUTCOMES).fillna(False).to_numpy(dtype=bool)
    abandoned = out.eq("abandoned").fillna(False).to_numpy(dtype=bool)
    for col in ("agent_id", "answer_ts", "talk_s"):
        problems.add(f"missing_{col}", handled & missing(col))

    max_s = float(checks.get("max_duration_s", 86400))
    for col in _DURATIONS:
        v = frame[col].to_numpy(dtype=float, na_value=np.nan)
        problems.add(f"negative_{col}", v < 0)
        problems.add(f"absurd_{col}", v > max_s)

    lo_ts, hi_ts = ts_window(checks)
    for col in ("arrival_ts", "answer_ts"):
        v = frame[col]
        problems.add(f"implausible_{col}",
                     (v.notna() & ((v < lo_ts) | (v > hi_ts))).to_numpy(dtype=bool))

    arr = frame["arrival_ts"]
    ans = frame["answer_ts"]
    gap = (ans - arr).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    tol = float(checks.get("clock_tolerance_s", 0))
    jitter = (gap < 0) & (gap >= -tol)
    if jitter.any():
        frame.loc[jitter, "answer_ts"] = arr[jitter]
        notes.append(jitter_note(int(jitter.sum()), tol))
    if stats is not None:
        stats["jitter"] = stats.get("jitter", 0) + int(jitter.sum())
    problems.add("answer_before_arrival", gap < -tol)
    problems.add("abandoned_with_answer", abandoned & frame["answer_ts"].notna().to_numpy())

    eb = frame["ended_by"].str.strip().str.lower()
    frame["ended_by"] = eb
    problems.add("unknown_ended_by", eb.notna().to_numpy() & ~eb.isin(ENDED_BY).fillna(False).to_numpy(dtype=bool))
    lo, hi = checks.get("csat_range", (1, 5))
    v = frame["csat"].to_numpy(dtype=float, na_value=np.nan)
    problems.add("csat_out_of_range", (v < lo) | (v > hi))
    lo, hi = checks.get("qa_range", (0, 100))
    v = frame["qa_score"].to_numpy(dtype=float, na_value=np.nan)
    problems.add("qa_score_out_of_range", (v < lo) | (v > hi))

    if duplicates:
        ids = frame["call_id"]
        dup = ids.notna().to_numpy() & ids.duplicated(keep="first").to_numpy()
        problems.add("duplicate_call_id", dup)
        assert len(dup) == n
    return notes


def line_break_note(rows: int, lines: int) -> str:
    """The note on rows quarantined for a line break inside a one-line field."""
    return (f"{rows} row(s) hold a line break inside an id, queue or code field ({lines} "
            "line break(s) in all): a stray quote joined the lines between it and a later "
            "quote into one row; those calls are in the quarantined row's text (reason "
            "line_break_in_field): fix the quote in the export")


def jitter_note(rows: int, tol: float) -> str:
    """The note on answer times moved to the arrival time (clock jitter)."""
    return (f"{rows} answer times up to {tol:g} s before arrival set to the arrival "
            "time (clock jitter; checks.clock_tolerance_s)")
