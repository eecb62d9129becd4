"""Property: whatever the CSV, rows read == valid + quarantined, and nothing else happens."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.load import load_calls, write_validated

HEADER = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
          "hold_s", "csat", "qa_score", "customer_id"]

_messy = st.one_of(
    st.sampled_from(["", " ", "NULL", "0", "-1", "1e9", "abc", "1:02:03", "99:99",
                     "2026-01-05 10:00:00", "2026-13-45 25:61", "answered", "abandoned",
                     "transferred", "ANSWERED", "3", "6", "101", "日本語", "a;b", "x,y", '"q"',
                     "2026-01-05T10:00:30+08:00"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
)
_row = st.lists(_messy, min_size=len(HEADER) - 2, max_size=len(HEADER) + 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=25), delim=st.sampled_from([",", ";", "\t", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_rows_read_equals_valid_plus_quarantined(tmp_path_factory, rows, delim, encoding):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)
    text = buf.getvalue()
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path_factory.mktemp("p") / "calls.csv"
    path.write_bytes(data)
    try:
        res = load_calls(path)
    except InputError:
        return  # an unreadable file is reported, not half-read
    assert len(res.valid) + len(res.quarantine) == res.rows_read
    assert res.rows_read >= 1
    assert res.quarantine["reason"].str.len().gt(0).all() if len(res.quarantine) else True
    s = res.summary()
    assert s.loc[s["reason"] == "valid", "rows"].item() == len(res.valid)
    if len(res.valid):
        assert res.valid["outcome"].isin(["answered", "abandoned", "transferred"]).all()
        assert res.valid["call_id"].is_unique
        out = write_validated(res, path.parent / "out")
        assert pd.read_parquet(out["valid"]).shape[0] == len(res.valid)
