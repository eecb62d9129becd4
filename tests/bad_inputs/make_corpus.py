"""Generate the bad-input corpus (issue 7, part 1) into a folder, at test time.

Nothing here is committed but this script: every file is written by :func:`build` into a
temporary folder. Each case says what ``ccpm validate`` must do with it:

* ``refuse``: exit 2 with one line ``ccpm validate: error: ...`` naming the problem
  (``message``, a substring), and no traceback;
* ``load``: exit 0, ``rows_read == valid + quarantined`` and the quarantined rows'
  reasons, keyed by call id, are exactly ``reasons`` (``valid`` ids listed too).

Run ``python tests/bad_inputs/make_corpus.py DIR`` to look at the files.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
          "hold_s", "acw_s", "customer_id"]


@dataclass
class Case:
    """One corpus file and what validating it must give."""

    name: str
    file: str
    expect: str  # "refuse" or "load"
    message: str = ""  # refuse: substring of the one error line
    mapping: str | None = None  # file name of a mapping beside the data, or a built-in
    reasons: dict[str, str] = field(default_factory=dict)  # load: call_id -> reason
    valid: set[str] = field(default_factory=set)  # load: call ids that must be valid
    talk: dict[str, float] = field(default_factory=dict)  # load: call_id -> talk_s if valid
    xfail: str | None = None  # a known loader bug (reason)
    # load: call_id -> (arrival_ts, answer_ts) as loaded (local wall clock), if valid
    times: dict[str, tuple[str, str]] = field(default_factory=dict)
    id_col: str = "call_id"  # the call id's column in the raw file (quarantine keeps it)


def _csv(header, rows, delimiter=",") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _flip(data: bytes, start: int, n: int = 16) -> bytes:
    b = bytearray(data)
    for i in range(start, start + n):
        b[i] ^= 0xFF
    return bytes(b)


def _parquet(rows, *, checksum: bool = False) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({h: [r[i] for r in rows] for i, h in enumerate(HEADER)})
    buf = io.BytesIO()
    pq.write_table(table, buf, write_page_checksum=checksum, compression="none")
    return buf.getvalue()


def _flip_in_data(data: bytes) -> bytes:
    """Bytes flipped inside the first data page of the last column (headers intact)."""
    import pyarrow.parquet as pq

    md = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    col = md.column(md.num_columns - 1)
    end = (col.dictionary_page_offset or col.data_page_offset) + col.total_compressed_size
    return _flip(data, end - 8, 4)


def _break_page(data: bytes) -> bytes:
    """The first page header of the first column overwritten: footer intact, data not."""
    import pyarrow.parquet as pq

    col = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    start = col.dictionary_page_offset or col.data_page_offset
    return data[:start] + b"\xff" * 16 + data[start + 16:]


def _call(cid, talk="60", *, outcome="answered", arr="2026-01-05 09:00:00",
          ans="2026-01-05 09:00:20", agent="A1", hold="", acw="", queue="sales", cust="K1"):
    if outcome == "abandoned":
        agent, ans, talk = "", "", ""
    return [cid, queue, arr, outcome, agent, ans, talk, hold, acw, cust]


# --- Chinese exports: the same rows in three encodings, with a user mapping -------------
ZH_HEADER = ["话单编号", "技能队列", "进线时间", "呼叫结果", "坐席工号", "接听时间", "通话时长(秒)",
             "保持时长", "话后处理", "客户编号"]
ZH_MAPPING = """\
kind: calls
columns:
  call_id: 话单编号
  queue: 技能队列
  arrival_ts: 进线时间
  outcome:
    from: 呼叫结果
    values: {已接听: answered, 放弃: abandoned, 已转接: transferred}
  agent_id: 坐席工号
  answer_ts: 接听时间
  talk_s: 通话时长(秒)
  hold_s: 保持时长
  acw_s: 话后处理
  customer_id: 客户编号
"""
ZH_ROWS = [
    ["Z1", "信用卡", "2026-01-05 09:00:00", "已接听", "王五", "2026-01-05 09:00:15", "95", "0", "10", "客户1"],
    ["Z2", "信用卡", "2026-01-05 09:01:00", "放弃", "", "", "", "", "", "客户2"],
    ["Z3", "贷款", "2026-01-05 09:02:00", "已转接", "赵六", "2026-01-05 09:02:05", "40", "", "", ""],
    ["Z4", "贷款", "2026-01-05 09:03:00", "挂断", "赵六", "2026-01-05 09:03:05", "40", "", "", ""],
    ["Z5", "贷款", "2026-01-05 09:04:00", "已接听", "赵六", "2026-01-05 09:04:05", "-3", "", "", ""],
]
ZH_REASONS = {"Z4": "unknown_outcome", "Z5": "negative_talk_s"}


def _zh_case(name: str, encoding: str, bom: bool = False, delimiter: str = ",") -> tuple[str, bytes]:
    text = _csv(ZH_HEADER, ZH_ROWS, delimiter)
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    return name, data


def _xlsx_several_sheets(path: Path) -> None:
    """Notes on the first sheet, the calls on the second (named '通话记录')."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    notes = wb.active
    notes.title = "说明"
    notes.append(["本表为 2026 年 1 月话单导出"])
    notes.append(["字段说明见第二页"])
    ws = wb.create_sheet("通话记录")
    ws.append(HEADER)
    for r in [_call("S1"), _call("S2", "-1"), _call("S3", outcome="abandoned")]:
        ws.append(r)
    wb.create_sheet("汇总").append(["total", 3])
    for d in (wb.properties,):
        d.created = d.modified = dt.datetime(2026, 1, 1)
    wb.save(path)


def _xlsx_merged_two_row_header(path: Path) -> None:
    """A report-style sheet: a title, a merged group row over the real header row."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "calls"
    ws.append(["Call detail report"])
    ws.merge_cells("A1:J1")
    ws.append(["Call", None, None, None, "Agent", None, "Durations", None, None, "Customer"])
    ws.merge_cells("A2:D2")
    ws.merge_cells("E2:F2")
    ws.merge_cells("G2:I2")
    ws.append(HEADER)
    for r in [_call("M1", "61"), _call("M2", "abc"), _call("M3", "62", hold="5")]:
        ws.append(r)
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 1, 1)
    wb.save(path)


def build(folder: str | Path) -> list[Case]:
    """Write every corpus file into ``folder``; return the cases."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def text(name: str, data: bytes | str) -> str:
        (d / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return name

    # --- refused -------------------------------------------------------------------
    cases += [
        Case("empty", text("empty.csv", b""), "refuse", "empty"),
        Case("blank_lines", text("blank.csv", "\n\n  \n"), "refuse", "empty"),
        Case("header_only_bom", text("header_only.csv", "\ufeff" + ",".join(HEADER) + "\r\n"),
             "refuse", "no data rows"),
        Case("binary_nul", text("binary.csv", bytes(range(256)) * 64), "refuse",
             "not a text table"),
        Case("png_named_csv", text("image.csv", b"\x89PNG\r\n\x1a\n" + b"\x00\x01IHDR" * 50),
             "refuse", "not a text table"),
        Case("wrong_delimiter", text("hash_delimited.csv",
                                     _csv(HEADER, [_call("W1"), _call("W2")], "#")),
             "refuse", "required column"),
    ]
    _xlsx_several_sheets(d / "several_sheets.xlsx")

    # files damaged on the way (a copy that died, a bad disk): refused, never half-read
    rows = [_call(f"G{i}", str(60 + i % 50)) for i in range(300)]
    gz = gzip.compress(_csv(HEADER, rows).encode(), mtime=0)
    pq_bytes = _parquet(rows)
    cases += [
        Case("gzip_cut_short", text("cut.csv.gz", gz[: len(gz) // 2]), "refuse",
             "damaged gzip file"),
        Case("gzip_corrupted_inside", text("corrupt.csv.gz", _flip(gz, len(gz) // 2)),
             "refuse", "damaged gzip file"),
        Case("parquet_cut_short", text("cut.parquet", pq_bytes[: len(pq_bytes) // 2]),
             "refuse", "not a readable Parquet file"),
        Case("parquet_page_header_broken", text("page.parquet", _break_page(pq_bytes)),
             "refuse", "not a readable Parquet file"),
        # a writer that stores page checksums lets the loader catch flipped data bytes
        Case("parquet_checksum_mismatch", text("crc.parquet",
                                              _flip_in_data(_parquet(rows, checksum=True))),
             "refuse", "checksum verification failed"),
    ]

    # --- loaded, bad rows quarantined ------------------------------------------------
    text("zh.yml", ZH_MAPPING)
    for name, enc, bom in [("zh_utf8_bom.csv", "utf-8", True), ("zh_gbk.csv", "gbk", False),
                           ("zh_gb18030.csv", "gb18030", False)]:
        fname, data = _zh_case(name, enc, bom)
        cases.append(Case(name.removesuffix(".csv"), text(fname, data), "load", mapping="zh.yml",
                          reasons=ZH_REASONS, valid={"Z1", "Z2", "Z3"}, talk={"Z1": 95.0},
                          id_col=ZH_HEADER[0]))
    text("several_sheets.yml", "kind: calls\nread: {format: excel, sheet: 通话记录}\n")
    cases.append(Case("several_sheets_named", "several_sheets.xlsx", "load",
                      mapping="several_sheets.yml", reasons={"S2": "negative_talk_s"},
                      valid={"S1", "S3"}))
    # no sheet named: the one whose header has the contract's columns (not the notes in front)
    cases.append(Case("several_sheets_first_is_notes", "several_sheets.xlsx", "load",
                      reasons={"S2": "negative_talk_s"}, valid={"S1", "S3"}))
    _xlsx_merged_two_row_header(d / "merged_header.xlsx")
    cases.append(Case("merged_two_row_header", "merged_header.xlsx", "load",
                      reasons={"M2": "unparseable_talk_s"}, valid={"M1", "M3"},
                      talk={"M1": 61.0, "M3": 62.0}))

    # durations as text: parsed to the right number of seconds, or quarantined as
    # unparseable -- never a wrong number
    rows = [_call("D1", "1:02:03"), _call("D2", "62s"), _call("D3", "1 min"),
            _call("D4", "00:01:02"), _call("D5", "1,5"), _call("D6", " 62 "),
            _call("D7", "1:75:00"), _call("D8", "PT1M2S")]
    cases.append(Case("durations_as_text", text("durations.csv", _csv(HEADER, rows)), "load",
                      valid={"D1", "D4", "D5", "D6"},
                      talk={"D1": 3723.0, "D2": 62.0, "D3": 60.0, "D4": 62.0, "D5": 1.5,
                            "D6": 62.0, "D8": 62.0},
                      reasons={"D7": "unparseable_talk_s"}))

    rows = [_call("N1", "-1"), _call("N2", "60", hold="-0.5"), _call("N3", "60", acw="1e9"),
            _call("N4", "90000"), _call("N5", "inf"), _call("N6", "86400"), _call("N7", "0"),
            _call("N8", "-0")]
    cases.append(Case("negative_or_absurd", text("absurd.csv", _csv(HEADER, rows)), "load",
                      reasons={"N1": "negative_talk_s", "N2": "negative_hold_s",
                               "N3": "absurd_acw_s", "N4": "absurd_talk_s",
                               "N5": "unparseable_talk_s"},
                      valid={"N6", "N7", "N8"}))

    rows = [_call("B1", ans="2026-01-05 08:00:00"), _call("B2", ans="2026-01-05 09:00:00"),
            _call("B3", arr="2026-01-05 23:59:50", ans="2026-01-05 00:00:10"),
            _call("B4", outcome="abandoned")]
    rows[3][5] = "2026-01-05 09:00:10"  # abandoned, yet an answer time
    cases.append(Case("answer_before_arrival", text("before.csv", _csv(HEADER, rows)), "load",
                      reasons={"B1": "answer_before_arrival", "B3": "answer_before_arrival",
                               "B4": "abandoned_with_answer"},
                      valid={"B2"}))

    rows = [_call("U1", outcome="dropped"), _call("U2", outcome=" ANSWERED "),
            _call("U3", outcome="answered"), _call("U3", outcome="answered"),
            _call("U3", outcome="abandoned"), _call("U4", outcome="已接听"),
            _call("", outcome="answered")]
    cases.append(Case("duplicates_and_unknown_outcomes", text("dups.csv", _csv(HEADER, rows)),
                      "load",
                      reasons={"U1": "unknown_outcome", "U3#2": "duplicate_call_id",
                               "U3#3": "duplicate_call_id", "U4": "unknown_outcome",
                               "": "missing_call_id"},
                      valid={"U2", "U3"}))

    # mixed offsets within one row: the same instant written in two zones. Each row is
    # read in the zone of its arrival (wall clock as written); its answer time is converted
    # to that zone, so every wait is the true 20 s
    rows = [_call("T1", arr="2026-01-05T09:00:00+08:00", ans="2026-01-05T01:00:20Z"),
            _call("T2", arr="2026-01-05T01:00:00+00:00", ans="2026-01-05T09:00:20+08:00"),
            _call("T3", arr="2026-01-05T09:00:00+08:00", ans="2026-01-05T09:00:20+08:00"),
            _call("T4", arr="2026-01-05T09:00:00-05:00", ans="2026-01-05T10:00:20-0400"),
            _call("T5", arr="2026-01-05T09:00:00+08:00", ans="2026-01-05T09:00:20"),
            _call("T6", arr="2026-01-05T09:00:00+08:00", ans="2026-01-05T00:59:50Z")]
    cases.append(Case("offsets_within_a_row", text("offsets.csv", _csv(HEADER, rows)), "load",
                      valid={"T1", "T2", "T3", "T4", "T5"},
                      reasons={"T6": "answer_before_arrival"},  # 10 s before, in any zone
                      times={"T1": ("2026-01-05 09:00:00", "2026-01-05 09:00:20"),
                             "T2": ("2026-01-05 01:00:00", "2026-01-05 01:00:20"),
                             "T3": ("2026-01-05 09:00:00", "2026-01-05 09:00:20"),
                             "T4": ("2026-01-05 09:00:00", "2026-01-05 09:00:20"),
                             # no offset on the answer: read in its row's zone
                             "T5": ("2026-01-05 09:00:00", "2026-01-05 09:00:20")}))

    # a cut-off last line (the export died mid-write): quarantined, the rest kept
    body = _csv(HEADER, [_call("E1"), _call("E2")]) + 'E3,sales,"2026-01-05 09:00'
    cases.append(Case("truncated_last_line", text("truncated.csv", body), "load",
                      valid={"E1", "E2"}, reasons={"E3": "*"}))

    # a stray quote opening a line, never closed: the rest of the file was one field of
    # one malformed row (every call after it lost); now that line is quarantined and the
    # lines after it are read one line each
    lines = _csv(HEADER, [_call(f"Q{i}") for i in range(1, 7)]).splitlines()
    lines[3] = '"' + lines[3]
    cases.append(Case("unterminated_quote", text("stray_quote.csv", "\n".join(lines) + "\n"),
                      "load", valid={"Q1", "Q2", "Q4", "Q5", "Q6"},
                      reasons={lines[3]: "unterminated_quote"}))
    return cases


def write_large(path: str | Path, n: int, *, seed: int = 0) -> int:
    """``n`` good contract rows (numpy + pyarrow's CSV writer: fast) then one bad line
    (answer an hour before arrival); returns the rows written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2026-01-05T08:00:00", "s")
    arr = t0 + rng.integers(0, 60 * 86400, n).astype("timedelta64[s]")
    ans = arr + rng.integers(0, 120, n).astype("timedelta64[s]")
    ids = pc.binary_join_element_wise("L", pa.array(np.arange(n)).cast(pa.string()), "")
    agents = pc.binary_join_element_wise(
        "A", pa.array(rng.integers(1, 200, n)).cast(pa.string()), "")
    table = pa.table({
        "call_id": ids, "queue": pa.array(np.full(n, "sales")), "arrival_ts": pa.array(arr),
        "outcome": pa.array(np.full(n, "answered")), "agent_id": agents,
        "answer_ts": pa.array(ans), "talk_s": pa.array(rng.integers(5, 900, n)),
        "hold_s": pa.array(np.zeros(n, dtype=np.int64)),
        "acw_s": pa.array(np.full(n, 5, dtype=np.int64)),
        "customer_id": pa.nulls(n, pa.string()),
    })
    opts = pacsv.WriteOptions(include_header=True, quoting_style="none")
    pacsv.write_csv(table, str(path), write_options=opts)
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write("LBAD,sales,2026-01-05 09:00:00,answered,A1,2026-01-05 08:00:00,60,0,5,\n")
    return n + 1


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_corpus")
    for c in build(out):
        print(f"{c.expect:6s} {c.name:32s} {out / c.file}")
