"""Timestamps with UTC offsets: each row's wall clock kept; a mix of offsets is reported,
not silent; a row's times written in different zones are placed in its arrival's zone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import load_calls
from analysis.load._build import offset_seconds, timestamp_offsets


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


def test_offset_seconds_per_row():
    s = pd.Series(["2024-01-02T09:00:00+08:00", "2024-01-02 09:00:00Z", "2024-01-02 09:00:00",
                   "2024-01-02T09:00:00+0530", "2024-01-02 09:00 -5", None, "09:00:00 UTC"])
    got = offset_seconds(s)
    want = [8 * 3600, 0, np.nan, 5.5 * 3600, -5 * 3600, np.nan, 0]
    np.testing.assert_array_equal(got, want)
    assert offset_seconds(pd.Series(["2024-01-02 09:00:00", None])) is None
    assert offset_seconds(pd.Series(pd.to_datetime(["2024-01-02 09:00"]))) is None


def _pair_calls(tmp_path, pairs):
    df = pd.DataFrame({
        "call_id": [f"c{i}" for i in range(len(pairs))], "queue": "q",
        "arrival_ts": [a for a, _ in pairs], "outcome": "answered", "agent_id": "a",
        "answer_ts": [b for _, b in pairs], "talk_s": 60,
    })
    path = tmp_path / "calls.csv"
    df.to_csv(path, index=False)
    return path


def test_a_rows_times_are_placed_in_its_arrivals_zone(tmp_path):
    """Mixed offsets within a row: the answer is converted to the arrival's offset, so the
    wait is the true one; the arrival's wall clock is kept (DST-safe across rows)."""
    path = _pair_calls(tmp_path, [
        ("2024-01-02T09:00:00+08:00", "2024-01-02T01:00:20Z"),        # Z vs +08: 20 s
        ("2024-11-03T01:59:50-04:00", "2024-11-03T01:00:10-05:00"),   # across a DST change
        ("2024-07-01T09:00:00-04:00", "2024-07-01T09:00:30-04:00"),   # summer, one offset
        ("2024-01-02T09:00:00+08:00", "2024-01-02T09:00:40"),         # no offset: wall clock
    ])
    res = load_calls(path)
    assert res.rows_read == 4 and len(res.valid) == 4, res.quarantine
    v = res.valid.set_index("call_id")
    wait = (v["answer_ts"] - v["arrival_ts"]).dt.total_seconds()
    assert wait.to_dict() == {"c0": 20.0, "c1": 20.0, "c2": 30.0, "c3": 40.0}
    assert v.loc["c1", "arrival_ts"] == pd.Timestamp("2024-11-03 01:59:50")
    assert v.loc["c2", "arrival_ts"] == pd.Timestamp("2024-07-01 09:00:00")
    notes = [n for n in res.notes if n.startswith("answer_ts: 2 rows")]
    assert len(notes) == 1 and "arrival_ts's offset" in notes[0], res.notes


def test_same_instant_in_two_zones_is_not_quarantined_nor_negative(tmp_path):
    # the old behaviour (offsets dropped) made this a -8 h wait: answer_before_arrival
    path = _pair_calls(tmp_path, [("2024-01-02T09:00:00+08:00", "2024-01-02T01:00:00Z")])
    res = load_calls(path)
    assert len(res.valid) == 1 and len(res.quarantine) == 0
    assert res.valid["answer_ts"].iloc[0] == res.valid["arrival_ts"].iloc[0]


def test_zone_aware_parquet_columns_in_different_zones(tmp_path):
    arr = pd.Series(pd.to_datetime(["2024-01-02 09:00:00", "2024-07-02 09:00:00"])
                    ).dt.tz_localize("Asia/Shanghai")
    ans = (arr + pd.Timedelta(seconds=25)).dt.tz_convert("UTC")
    df = pd.DataFrame({"call_id": ["p1", "p2"], "queue": "q", "arrival_ts": arr,
                       "outcome": "answered", "agent_id": "a", "answer_ts": ans,
                       "talk_s": 60.0})
    path = tmp_path / "calls.parquet"
    df.to_parquet(path)
    res = load_calls(path)
    v = res.valid.set_index("call_id")
    assert (v["arrival_ts"].dt.hour == 9).all()  # Shanghai wall clock kept
    assert ((v["answer_ts"] - v["arrival_ts"]).dt.total_seconds() == 25).all()
