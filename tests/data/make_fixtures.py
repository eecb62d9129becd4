"""Write the small hand-made loader fixtures in this folder (deterministic).

Run ``python tests/data/make_fixtures.py`` after changing it; ``tests/test_load_formats.py``
checks that the committed text fixtures are what this script writes.

Each call file holds the same 12 rows (see ``CALL_ROWS``): 4 clean calls and 8 that
break the contract in one known way each, noted in ``EXPECTED_REASONS``.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent

CALL_HEADER = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts",
               "talk_s", "hold_s", "acw_s", "customer_id", "csat", "qa_score"]

CALL_ROWS = [
    # clean
    ["C1", "sales", "2026-01-05 09:00:00", "answered", "A01", "2026-01-05 09:00:30", "120", "10", "15", "007", "5", "90"],
    ["C2", "sales", "2026-01-05 09:01:00", "abandoned", "", "", "", "", "", "", "", ""],
    ["C3", "care", "2026-01-05 23:59:50", "transferred", "A02", "2026-01-06 00:00:10", "60", "0", "5", "", "", ""],
    ["C4", "care", "2026-01-05 10:00:00", "answered", "A01", "2026-01-05 10:00:05", "1:02:03", "", "", "8", "1", "0"],
    # broken, one reason each
    ["C5", "sales", "2026-01-05 11:00:00", "dropped", "A01", "", "", "", "", "", "", ""],
    ["C6", "sales", "2026-01-05 11:01:00", "answered", "A01", "2026-01-05 11:01:10", "-5", "", "", "", "", ""],
    ["C7", "sales", "2026-01-05 11:02:00", "answered", "", "2026-01-05 11:02:10", "30", "", "", "", "", ""],
    ["C8", "sales", "2026-01-05 11:03:00", "answered", "A02", "2026-01-05 11:02:00", "30", "", "", "", "", ""],
    ["C9", "sales", "yesterday noon", "abandoned", "", "", "", "", "", "", "", ""],
    ["C1", "sales", "2026-01-05 11:05:00", "answered", "A02", "2026-01-05 11:05:10", "30", "", "", "", "", ""],
    ["C11", "care", "2026-01-05 11:06:00", "answered", "A02", "2026-01-05 11:06:10", "100000", "", "", "", "7", ""],
    ["C12", "care", "2026-01-05 11:07:00", "answered", "A02", "2026-01-05 11:07:10", "40", "", "", "", "", "150"],
]

#: call_id -> reason(s) the contract checks must give (``;``-joined, in check order).
EXPECTED_REASONS = {
    "C5": "unknown_outcome",
    "C6": "negative_talk_s",
    "C7": "missing_agent_id",
    "C8": "answer_before_arrival",
    "C9": "unparseable_arrival_ts",
    "C1#2": "duplicate_call_id",
    "C11": "absurd_talk_s;csat_out_of_range",
    "C12": "qa_score_out_of_range",
}

# The same calls as a Chinese ACD export: Chinese headers and outcome words.
ZH_HEADER = ["呼叫编号", "技能组", "进线时间", "结果", "坐席工号", "应答时间", "通话时长", "客户号"]
ZH_OUTCOME = {"answered": "接通", "abandoned": "放弃", "transferred": "转接", "dropped": "未知"}
ZH_MAPPING = """\
kind: calls
description: A Chinese ACD export (test fixture)
columns:
  call_id: 呼叫编号
  queue: 技能组
  arrival_ts: 进线时间
  outcome:
    from: 结果
    values: {接通: answered, 放弃: abandoned, 转接: transferred}
  agent_id: 坐席工号
  answer_ts: 应答时间
  talk_s: 通话时长
  customer_id: {from: 客户号, missing: ["0"]}
"""


def _zh_rows() -> list[list[str]]:
    rows = []
    for r in CALL_ROWS:
        d = dict(zip(CALL_HEADER, r, strict=True))
        rows.append([d["call_id"], {"sales": "销售", "care": "客服"}[d["queue"]], d["arrival_ts"],
                     ZH_OUTCOME[d["outcome"]], d["agent_id"], d["answer_ts"], d["talk_s"],
                     d["customer_id"] or "0"])
    rows[1][4] = ""
    rows[0][4] = "张㐀"  # U+3400: in GB18030, not in GBK
    return rows


def _csv_text(header, rows, delimiter=",") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def text_fixtures() -> dict[str, bytes]:
    """File name -> bytes for every text fixture."""
    base = _csv_text(CALL_HEADER, CALL_ROWS)
    zh_rows = _zh_rows()
    zh_gbk_rows = [list(r) for r in zh_rows]
    zh_gbk_rows[0][4] = "张三"
    malformed = base + "C13,sales,2026-01-05 12:00:00,answered,A01\nC14,x,y,z,1,2,3,4,5,6,7,8,9,10\n"
    return {
        "calls_basic.csv": base.encode("utf-8"),
        "calls_semicolon_bom.csv": ("\ufeff" + _csv_text(CALL_HEADER, CALL_ROWS, ";")).encode("utf-8"),
        "calls_pipe.txt": _csv_text(CALL_HEADER, CALL_ROWS, "|").encode("utf-8"),
        "calls_malformed.csv": malformed.encode("utf-8"),
        "calls_preamble.csv": ("Call export\nrun 2026-01-06\n\n" + base).encode("utf-8"),
        "calls_zh_gbk.csv": _csv_text(ZH_HEADER, zh_gbk_rows).encode("gbk"),
        "calls_zh_gb18030.tsv": _csv_text(ZH_HEADER, zh_rows, "\t").encode("gb18030"),
        "calls_zh.yml": ZH_MAPPING.encode("utf-8"),
        "header_only.csv": (",".join(CALL_HEADER) + "\n").encode("utf-8"),
        "empty.csv": b"",
        "binary.csv": bytes(range(256)) * 4,
        "roster_basic.csv": (
            b"agent_id,team,supervisor_id,hire_date,termination_date,shift,site\n"
            b"A01,T1,S1,2024-01-15,,day,north\n"
            b"A02,T1,S1,2025-03-01,2025-12-31,late,north\n"
            b"A03,T2,S2,2025-06-01,2025-05-01,day,south\n"
            b"A01,T2,S2,2024-02-01,,day,south\n"
            b",T2,S2,2024-02-01,,day,south\n"
            b"A05,T2,S2,first of May,,day,south\n"
        ),
        "ratings_wide.csv": (
            b"month,agent,rater,relation,empathy,knowledge,teamwork\n"
            b"2026-01,A01,R1,Manager,4,5,3\n"
            b"2026-01,A01,A01,Self,5,5,\n"
            b"2026-01,A02,R2,Peer,2,9,3\n"
            b"2026-01,A02,R2,Peer,2,9,3\n"
        ),
        "ratings_wide.yml": (
            b"kind: ratings\n"
            b"scale: {min: 1, max: 5}\n"
            b"melt: {id_columns: [month, agent, rater, relation], value_columns: [empathy, knowledge, teamwork]}\n"
            b"columns:\n"
            b"  period: month\n"
            b"  ratee_id: agent\n"
            b"  rater_id: rater\n"
            b"  rater_group: {from: relation, values: {Manager: supervisor, Self: self, Peer: peer}}\n"
            b"  competency: item\n"
            b"  score: value\n"
        ),
    }


def write_gzip(path: Path) -> None:
    data = _csv_text(CALL_HEADER, CALL_ROWS, "\t").encode("utf-8")
    with open(path, "wb") as fh:  # mtime 0: the same bytes on every run
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)


def write_xlsx(path: Path) -> None:
    """An Excel export with a merged title row above the header, real dates and times."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Calls"
    ws.append(["Call report, January 2026"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    ws.append(["Call Id", "Agent", "Date", "Time", "Answered (Y/N)", "Talk"])
    ws.append(["X1", "Ann", dt.datetime(2026, 1, 5), dt.time(9, 0, 0), "Y", dt.time(0, 2, 3)])
    ws.append(["X2", "Bob", dt.datetime(2026, 1, 5), dt.time(9, 5, 0), "N", None])
    ws.append([None] * 6)  # a blank row: not a data row, but row numbers must stay true
    ws.append(["X3", "Ann", dt.datetime(2026, 1, 5), dt.time(9, 7, 30), "Y", 75])
    ws.append(["X4", None, dt.datetime(2026, 1, 5), dt.time(9, 9, 0), "Y", dt.time(0, 0, 40)])
    second = wb.create_sheet("Other")
    second.append(["nothing", "here"])
    wb.properties.created = dt.datetime(2026, 1, 1)
    wb.properties.modified = dt.datetime(2026, 1, 1)
    wb.save(path)


XLSX_MAPPING = """\
kind: calls
read: {format: excel, sheet: Calls}
columns:
  call_id: Call Id
  agent_id: Agent
  queue: {const: main}
  arrival_ts: {date: Date, time: Time}
  answer_ts: {date: Date, time: Time, missing_if: {Answered (Y/N): [N]}}
  outcome: {from: Answered (Y/N), values: {Y: answered, N: abandoned}}
  talk_s: Talk
"""


def main() -> None:
    for name, data in text_fixtures().items():
        (HERE / name).write_bytes(data)
    (HERE / "calls_excel.yml").write_text(XLSX_MAPPING, encoding="utf-8")
    write_gzip(HERE / "calls_tab.tsv.gz")
    write_xlsx(HERE / "calls_merged_header.xlsx")


if __name__ == "__main__":
    main()
