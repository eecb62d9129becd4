"""Timestamps with UTC offsets: wall clock kept; a mix of offsets is reported, not silent."""

from __future__ import annotations

import pandas as pd

from analysis.load import load_calls
from analysis.load._build import timestamp_offsets


def _calls(tmp_path, arrivals):
    n = len(arrivals)
    df = pd.DataFrame({
        "call_id": [f"c{i}" for i in range(n)], "queue": "q", "arrival_ts": arrivals,
        "outcome": "answered", "agent_id": "a", "answer_ts": arrivals, "talk_s": 60,
    })
    path = tmp_path / "calls.csv"
    df.to_csv(path, index=False)
    return path


def test_offsets_listed_and_normalised():
    s = pd.Series(["2024-01-02T09:00:00+08:00", "2024-01-02 09:00:00Z", "2024-01-02 09:00:00",
                   "2024-01-02T09:00:00+0800", "2024-01-02 09:00 -5", None])
    assert timestamp_offsets(s) == ["+00:00", "+08:00", "-05:00"]
    assert timestamp_offsets(pd.Series(["2024-01-02", "2024-01-02 09:00:00"])) == []


def test_mixed_offsets_give_a_note_and_keep_every_row(tmp_path):
    path = _calls(tmp_path, ["2024-01-02T09:00:00+08:00", "2024-01-02T09:00:00+00:00",
                             "2024-01-02T09:00:00Z", "2024-01-02T09:00:00"])
    res = load_calls(path)
    assert res.rows_read == 4 and len(res.valid) == 4
    assert (res.valid["arrival_ts"] == pd.Timestamp("2024-01-02 09:00:00")).all()
    notes = [n for n in res.notes if "UTC offsets" in n]
    assert any(n.startswith("arrival_ts:") and "+00:00, +08:00" in n for n in notes), res.notes


def test_one_offset_needs_no_note(tmp_path):
    path = _calls(tmp_path, ["2024-01-02T09:00:00+08:00", "2024-01-02T10:00:00+08:00"])
    res = load_calls(path)
    assert not [n for n in res.notes if "UTC offsets" in n]
