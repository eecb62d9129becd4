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


# ----------------------------------------------------------------------------- quotes


def _stray_quote_file(tmp_path: Path, *, pair_at: int | None = None, field: int = 0
                      ) -> tuple[Path, str]:
    """40 calls G1..G40; a stray quote opens field ``field`` of G10's line (and never
    closes: the rest of the file was one field of one malformed row). ``pair_at``: that
    call's queue is a quoted field, on which the stray quote closes (the lines between
    were one row)."""
    lines = [_line(HEADER)]
    for i in range(1, 41):
        f = _call(f"G{i}", i)
        if i == pair_at:
            f[1] = "sa,les"  # quoted by the writer
        if i == 10:
            f[field] = '"' + f[field]
            lines.append(",".join(f))
        else:
            lines.append(_line(f))
    text = "\n".join(lines) + "\n"
    p = tmp_path / "quote.csv"
    p.write_text(text, encoding="utf-8")
    return p, text


@pytest.mark.parametrize(("pair_at", "field"), [(None, 0), (None, 4), (25, 2)])
@pytest.mark.parametrize("chunk_rows", [1, 7, None])
def test_unterminated_quote_does_not_swallow_the_rows_after_it(tmp_path, chunk_rows, pair_at,
                                                               field):
    p, text = _stray_quote_file(tmp_path, pair_at=pair_at, field=field)
    res = load_calls(p, chunk_rows=chunk_rows)
    assert res.rows_read == 40  # was 10: G10's row held G11..G40
    assert set(res.valid["call_id"]) == {f"G{i}" for i in range(1, 41)} - {"G10"}
    q = res.quarantine
    assert q["reason"].tolist() == ["unterminated_quote"]
    assert q["_source_row"].tolist() == [10]
    assert q["call_id"].tolist() == [text.split("\n")[10]]  # the line as it is in the file
    if pair_at:
        assert res.valid.set_index("call_id").loc[f"G{pair_at}", "queue"] == "sa,les"
    note = [n for n in res.notes if "unterminated_quote" in n]
    n = (pair_at or 40) - 10
    assert len(note) == 1 and "row 10" in note[0] and f"the {n} lines after it" in note[0]


@pytest.mark.parametrize(("pair_at", "field"), [(None, 0), (25, 2)])
def test_unterminated_quote_same_in_memory(tmp_path, pair_at, field):
    p, _ = _stray_quote_file(tmp_path, pair_at=pair_at, field=field)
    ref = load_calls_in_memory(p)
    got = load_calls(p, chunk_rows=3)
    pd.testing.assert_frame_equal(got.quarantine, ref.quarantine)
    pd.testing.assert_frame_equal(got.valid, ref.valid)
    assert got.notes == ref.notes


def test_rows_after_a_quote_run_keep_their_numbers(tmp_path):
    """A malformed line after a stray quote's run: numbered past the lines taken apart."""
    p, text = _stray_quote_file(tmp_path, pair_at=25, field=2)
    lines = text.split("\n")
    lines[30] = lines[30] + ",EXTRA"  # G30: a field too many
    p.write_text("\n".join(lines), encoding="utf-8")
    for res in (load_calls(p, chunk_rows=4), load_calls_in_memory(p)):
        got = dict(zip(res.quarantine["_source_row"], res.quarantine["reason"], strict=True))
        assert got == {10: "unterminated_quote", 30: "malformed_row"}
        assert res.rows_read == 40


def test_multiline_field_in_a_malformed_row_stays_one_row(tmp_path):
    """A quoted field with a line break, in a row with a field too many: none of its
    lines looks like a row, so it stays one malformed row (no quote is unterminated)."""
    lines = [_line(HEADER), _line(_call("G1", 1)),
             _line(_call("G2", 2)[:9]) + ',"note\nsecond line",EXTRA',
             _line(_call("G3", 3))]
    p = tmp_path / "multiline.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_calls(p)
    assert res.rows_read == 3
    got = dict(zip(res.quarantine["_source_row"], res.quarantine["reason"], strict=True))
    assert got == {2: "malformed_row"}
    assert not [n for n in res.notes if "unterminated" in n]


def test_validate_says_where_the_quote_opened(tmp_path, capsys):
    p, _ = _stray_quote_file(tmp_path)
    out = tmp_path / "out"
    assert main(["validate", "--calls", str(p), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calls: 40 rows read = 39 valid + 1 quarantined" in printed
    assert "unterminated_quote" in printed
    assert "note: " in printed and "a quote opened in row 10" in printed
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert q[["_source_row", "reason"]].values.tolist() == [["10", "unterminated_quote"]]


@pytest.mark.xfail(strict=True, reason="left: a stray quote that closes on a later quote "
                   "and leaves a record of the header's width (here: G10..G25 one row, "
                   "call_id 16 lines long) is a well-formed row to Arrow; taking it apart "
                   "needs its raw text, which Arrow gives for malformed lines only")
def test_stray_quote_closing_into_a_well_formed_row(tmp_path):
    p, _ = _stray_quote_file(tmp_path, pair_at=25, field=0)
    res = load_calls(p)
    assert res.rows_read == 40


def test_stray_quote_closing_into_a_well_formed_row_is_quarantined_not_valid(tmp_path):
    """Until the joined lines can be taken apart (the xfail above), the row that holds
    them is not a valid call: it is quarantined with the reason and a note that says a
    stray quote joined lines (it was one valid row with a 16-line call id)."""
    p, _ = _stray_quote_file(tmp_path, pair_at=25, field=0)
    res = load_calls(p)
    assert not res.valid["call_id"].astype(str).str.contains("\n").any()
    q = res.quarantine
    assert (q["reason"].astype(str) == "line_break_in_field").sum() == 1
    assert any("stray quote joined" in n for n in res.notes)
    assert res.rows_read == len(res.valid) + len(q)  # every row accounted for
