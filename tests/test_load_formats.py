"""Reading: delimiters, encodings, compression, Excel, folders and globs, broken files."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.load import load_calls, load_ratings, load_roster, write_validated

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

CONTRACT_FILES = [
    "calls_basic.csv",
    "calls_semicolon_bom.csv",
    "calls_pipe.txt",
    "calls_tab.tsv.gz",
    "calls_preamble.csv",
]


def _reasons_by_id(res, id_col="call_id") -> dict[str, str]:
    """call id -> reason; a quarantined repeat of a kept id is keyed ``<id>#2``."""
    out = {}
    for cid, reason in zip(res.quarantine[id_col], res.quarantine["reason"], strict=True):
        out[f"{cid}#2" if "duplicate_call_id" in reason else cid] = reason
    return out


def test_committed_text_fixtures_match_generator():
    for name, data in fx.text_fixtures().items():
        assert (DATA / name).read_bytes() == data, f"{name}: run tests/data/make_fixtures.py"


@pytest.mark.parametrize("name", CONTRACT_FILES)
def test_contract_files_every_delimiter_and_compression(name):
    res = load_calls(DATA / name)
    assert res.rows_read == len(fx.CALL_ROWS)
    assert len(res.valid) + len(res.quarantine) == res.rows_read
    assert _reasons_by_id(res) == fx.EXPECTED_REASONS
    assert sorted(res.valid["call_id"]) == ["C1", "C2", "C3", "C4"]
    # quarantine holds the row exactly as read (strings), e.g. the bad timestamp text
    q = res.quarantine.set_index("call_id")
    assert q.loc["C9", "arrival_ts"] == "yesterday noon"
    assert q.loc["C6", "talk_s"] == "-5"
    assert list(res.quarantine.columns) == fx.CALL_HEADER + ["_source_file", "_source_row", "reason"]


def test_valid_values_typed_and_converted():
    v = load_calls(DATA / "calls_basic.csv").valid.set_index("call_id")
    assert v.loc["C1", "customer_id"] == "007"  # leading zeros kept: ids are strings
    assert v.loc["C4", "talk_s"] == 3723.0  # H:MM:SS text -> seconds
    assert v.loc["C2", "hold_s"] == 0.0 and v.loc["C2", "acw_s"] == 0.0  # contract default
    assert pd.isna(v.loc["C2", "talk_s"])
    assert v.loc["C3", "answer_ts"] == pd.Timestamp("2026-01-06 00:00:10")
    assert str(v["arrival_ts"].dtype) == "datetime64[us]"
    assert v["resolved"].isna().all() and str(v["resolved"].dtype) == "boolean"


@pytest.mark.parametrize("name", ["calls_zh_gbk.csv", "calls_zh_gb18030.tsv"])
def test_chinese_exports_detected_encoding(name):
    res = load_calls(DATA / name, DATA / "calls_zh.yml")
    assert res.rows_read == 12
    v = res.valid.set_index("call_id")
    assert v.loc["C2", "queue"] == "销售"
    assert v.loc["C3", "queue"] == "客服"
    assert v.loc["C3", "outcome"] == "transferred"
    expected_agent = "张㐀" if name.endswith(".tsv") else "张三"
    assert v.loc["C1", "agent_id"] == expected_agent
    assert pd.isna(v.loc["C2", "customer_id"])  # "0" means missing in this mapping
    reasons = _reasons_by_id(res, "呼叫编号")
    assert reasons["C5"] == "unknown_outcome"
    assert reasons["C1#2"] == "duplicate_call_id"
    q = res.quarantine.set_index("呼叫编号")
    assert q.loc["C5", "结果"] == "未知"  # original text, decoded


def test_malformed_lines_are_quarantined_not_dropped():
    res = load_calls(DATA / "calls_malformed.csv")
    assert res.rows_read == 14
    q = res.quarantine.set_index("call_id")
    assert q.loc["C13", "reason"] == "malformed_row"
    assert q.loc["C14", "reason"] == "malformed_row"
    assert q.loc["C14", "qa_score"] == "8,9,10"  # surplus fields kept in the last column
    assert q.loc["C13", "_source_row"] == 13  # its data row, as every quarantined row's
    assert q.loc["C14", "_source_row"] == 14


def test_excel_merged_title_row_and_named_sheet():
    res = load_calls(DATA / "calls_merged_header.xlsx", DATA / "calls_excel.yml")
    assert res.rows_read == 4
    v = res.valid.set_index("call_id")
    assert v.loc["X1", "arrival_ts"] == pd.Timestamp("2026-01-05 09:00:00")
    assert v.loc["X1", "talk_s"] == 123.0  # an Excel time as a duration
    assert v.loc["X3", "talk_s"] == 75.0  # a number of seconds
    assert v.loc["X2", "outcome"] == "abandoned" and pd.isna(v.loc["X2", "answer_ts"])
    assert res.quarantine.set_index("Call Id").loc["X4", "reason"] == "missing_agent_id"
    assert res.quarantine["_source_row"].tolist() == [7]  # spreadsheet row number


def test_excel_without_a_named_sheet_reads_the_sheet_with_the_calls(tmp_path):
    """A README (or a pivot) in front of the calls: read from the first sheet, the workbook
    failed with "required column 'call_id' missing". The sheet whose header has the
    mapping's columns is read; a sheet named in the mapping still wins."""
    calls = load_calls(DATA / "calls_basic.csv").valid.astype(str)
    book = tmp_path / "export.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["exported from the ACD", "see sheet 2"]}).to_excel(
            w, sheet_name="README", index=False)
        calls.to_excel(w, sheet_name="calls", index=False)
        calls.head(1).to_excel(w, sheet_name="sample", index=False)
    res = load_calls(book, "contract")
    assert res.rows_read == len(calls) and len(res.valid) == len(calls)
    assert any("read sheet 'calls'" in n and "README" in n for n in res.notes)  # said
    named = tmp_path / "named.yml"
    named.write_text("name: named\nkind: calls\nread: {sheet: sample}\ncolumns: {}\n")
    assert load_calls(book, named).rows_read == 1
    with pd.ExcelWriter(only_notes := tmp_path / "notes.xlsx") as w:
        pd.DataFrame({"note": ["a"]}).to_excel(w, sheet_name="one", index=False)
        pd.DataFrame({"other": ["b"]}).to_excel(w, sheet_name="two", index=False)
    with pytest.raises(InputError, match="note"):  # none has the columns: the first is read
        load_calls(only_notes, "contract")


def test_parquet_round_trip_and_zip(tmp_path):
    res = load_calls(DATA / "calls_basic.csv")
    paths = write_validated(res, tmp_path / "out")
    again = load_calls(paths["valid"], "contract")
    assert again.rows_read == 4 and len(again.quarantine) == 0
    pd.testing.assert_frame_equal(again.valid, res.valid)
    z = tmp_path / "calls.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(DATA / "calls_basic.csv", "export/calls.csv")
        zf.writestr("__MACOSX/export/._calls.csv", b"\x00\x05\x16\x07")
    assert load_calls(z).rows_read == 12


def test_typed_parquet_columns(tmp_path):
    df = pd.DataFrame({
        "call_id": [101, 102, 103],
        "queue": pd.Categorical(["a", "b", "a"]),
        "arrival_ts": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 10:01", "2026-01-05 10:02"]),
        "outcome": pd.Categorical(["answered", "abandoned", "ANSWERED"]),
        "agent_id": [7, None, 9],
        "answer_ts": pd.to_datetime(["2026-01-05 10:00:20", None, "2026-01-05 10:02:30"]),
        "talk_s": pd.to_timedelta([60, None, 30], unit="s"),
        "resolved": [True, False, True],
        "csat": [5, None, 4],
    })
    p = tmp_path / "calls.parquet"
    df.to_parquet(p)
    res = load_calls(p)
    assert res.rows_read == 3 and len(res.valid) == 3, res.quarantine
    v = res.valid.set_index("call_id")
    assert v.loc["101", "agent_id"] == "7" and v.loc["103", "outcome"] == "answered"
    assert v.loc["103", "talk_s"] == 30.0 and v.loc["101", "resolved"]


def test_folder_and_glob_stack_files(tmp_path):
    for i in range(3):
        text = (DATA / "calls_basic.csv").read_text().replace("C", f"M{i}C")
        (tmp_path / f"m{i}.csv").write_text(text)
    (tmp_path / "notes.md").write_text("not a table")
    res = load_calls(tmp_path)
    assert res.rows_read == 36 and len(res.valid) == 12
    assert set(res.quarantine["_source_file"]) == {"m0.csv", "m1.csv", "m2.csv"}
    assert load_calls(tmp_path / "m[01].csv").rows_read == 24


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "empty"),
        ("binary.csv", "not a text table"),
        ("header_only.csv", "no data rows"),
        ("does_not_exist.csv", "no such file"),
    ],
)
def test_unreadable_inputs_raise_input_error(name, message):
    with pytest.raises(InputError, match=message):
        load_calls(DATA / name)


def test_required_column_missing_after_mapping(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("call_id,queue,outcome\n1,a,answered\n")
    with pytest.raises(InputError, match="required column 'arrival_ts' missing"):
        load_calls(p)


def test_wrong_delimiter_detected_or_reported(tmp_path):
    # auto-detection reads a semicolon file whatever its extension says
    assert load_calls(DATA / "calls_semicolon_bom.csv").rows_read == 12
    # a mapping that insists on commas sees one column: the required columns are missing
    mapping = {"read": {"delimiter": ","}}
    with pytest.raises(InputError, match="missing after mapping"):
        load_calls(DATA / "calls_semicolon_bom.csv", mapping)


def test_empty_folder_and_damaged_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no table files"):
        load_calls(tmp_path / "empty")
    bad_gz = tmp_path / "x.csv.gz"
    bad_gz.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match="gzip"):
        load_calls(bad_gz)
    bad_xlsx = tmp_path / "x.xlsx"
    shutil.copy(DATA / "binary.csv", bad_xlsx)
    with pytest.raises(InputError):
        load_calls(bad_xlsx)
    with pytest.raises(InputError, match="no file matches"):
        load_calls(tmp_path / "*.parquet")


def test_roster_checks():
    res = load_roster(DATA / "roster_basic.csv")
    assert res.rows_read == 6
    reasons = dict(zip(res.quarantine["_source_row"], res.quarantine["reason"], strict=True))
    assert reasons == {
        3: "termination_before_hire",
        4: "duplicate_agent_id",
        5: "missing_agent_id",
        6: "unparseable_hire_date",
    }
    v = res.valid.set_index("agent_id")
    assert v.loc["A02", "termination_date"] == pd.Timestamp("2025-12-31")
    assert pd.isna(v.loc["A01", "termination_date"])


def test_wide_ratings_are_melted():
    res = load_ratings(DATA / "ratings_wide.csv", DATA / "ratings_wide.yml")
    assert res.rows_read == 12  # 4 wide rows x 3 items
    counts = res.reason_counts()
    assert counts == {"duplicate_row": 3, "missing_score": 1, "score_out_of_range": 1}
    v = res.valid
    assert len(v) == 7
    assert set(v["competency"]) == {"empathy", "knowledge", "teamwork"}
    assert v.set_index(["ratee_id", "rater_id", "competency"]).loc[("A01", "A01", "empathy"), "rater_group"] == "self"


def test_stray_bytes_and_latin1(tmp_path):
    good = (DATA / "calls_basic.csv").read_bytes().replace(b"sales", "ventes-é".encode())
    p = tmp_path / "stray.csv"
    p.write_bytes(good.replace(b"A01", b"A\xff1", 1))  # one byte that is not UTF-8
    res = load_calls(p)
    assert res.rows_read == 12
    assert any("not valid" in n for n in res.notes)
    assert (res.valid["queue"] == "ventes-é").sum() == 2  # the rest still read as UTF-8
    p = tmp_path / "latin.csv"
    p.write_bytes((DATA / "calls_basic.csv").read_text().replace("sales", "Pédiatrie générale")
                  .encode("cp1252"))
    v = load_calls(p).valid
    assert (v["queue"] == "Pédiatrie générale").sum() == 2
