"""Lines of a CSV that do not split into the header's fields: each is kept, where it was.

A quarantined row's ``_source_row`` is its data row in the file (every record after the
header counts, well-formed or not; blank lines do not), in both loaders (the streaming
``load_calls`` at any slice size and the in-memory reference) and in ``ccpm validate``'s
``quarantine.csv``. Malformed lines were all numbered 0, and every well-formed row after
one was numbered one row too high per malformed line above it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.load import load_calls
from analysis.load.calls import load_calls_in_memory

HEADER = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
          "hold_s", "acw_s", "customer_id"]


def _call(cid: str, minute: int = 0) -> list[str]:
    return [cid, "sales", f"2026-01-05 09:{minute:02d}:00", "answered", "A1",
            f"2026-01-05 09:{minute:02d}:10", "60", "0", "5", ""]


def _line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _data_rows(text: str) -> dict[int, str]:
    """Data row -> first field, as a reader of the file counts rows (header not a row,
    blank lines not rows)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return {k: ln.split(",", 1)[0].strip('"') for k, ln in enumerate(lines[1:], start=1)}


def _malformed_file(tmp_path: Path) -> tuple[Path, str]:
    lines = [_line(HEADER)]
    lines += [_line(_call(f"G{i}", i)) for i in range(1, 6)]
    lines.append(_line(_call("M1", 6)) + ",EXTRA,FIELDS")  # too many fields
    lines.append(",".join(_call("M2", 7)[:5]))  # too few
    lines.append("")  # blank: no row
    lines += [_line(_call(f"G{i}", i)) for i in range(8, 12)]
    bad = _call("B1", 12)
    bad[5] = "2026-01-05 08:00:00"  # answered before it arrived: a well-formed bad row
    lines.append(_line(bad))
    lines.append(",".join(_call("M3", 13)[:3]))  # too few again
    lines += [_line(_call(f"G{i}", i)) for i in range(14, 18)]
    lines.append(_line(_call("G1", 18)))  # repeats G1's id
    text = "\n".join(lines) + "\n"
    p = tmp_path / "malformed.csv"
    p.write_text(text, encoding="utf-8")
    return p, text


def _check_numbers(q: pd.DataFrame, text: str) -> None:
    rows = _data_rows(text)
    got = {str(cid): int(r) for cid, r in zip(q["call_id"], q["_source_row"], strict=True)}
    assert 0 not in got.values(), got
    for cid, r in got.items():
        assert rows[r] == cid.split(",")[0], (cid, r, rows[r])
    assert set(got) == {"M1", "M2", "M3", "B1", "G1"}


@pytest.mark.parametrize("chunk_rows", [1, 3, None])
def test_malformed_lines_keep_their_row_numbers_streaming(tmp_path, chunk_rows):
    p, text = _malformed_file(tmp_path)
    res = load_calls(p, chunk_rows=chunk_rows)
    assert res.rows_read == 18  # 19 lines after the header, one blank
    _check_numbers(res.quarantine, text)
    reasons = dict(zip(res.quarantine["call_id"], res.quarantine["reason"], strict=True))
    assert reasons["M1"] == reasons["M2"] == reasons["M3"] == "malformed_row"
    assert reasons["G1"] == "duplicate_call_id"
    assert reasons["B1"] == "answer_before_arrival"


def test_malformed_lines_keep_their_row_numbers_in_memory(tmp_path):
    p, text = _malformed_file(tmp_path)
    ref = load_calls_in_memory(p)
    _check_numbers(ref.quarantine, text)
    got = load_calls(p, chunk_rows=2)
    pd.testing.assert_frame_equal(got.quarantine, ref.quarantine)
    pd.testing.assert_frame_equal(got.valid, ref.valid)


def test_validate_quarantine_names_each_malformed_row(tmp_path, capsys):
    p, text = _malformed_file(tmp_path)
    out = tmp_path / "out"
    assert main(["validate", "--calls", str(p), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    _check_numbers(q.assign(_source_row=q["_source_row"].astype(int)), text)
