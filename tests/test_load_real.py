"""Loaders on the real files (the shipped bank logs; the PwC and honeycomb files in CCPM_SHARED_DATA), checked against independent counts.

The independent counts come from plain ``gzip`` + ``csv`` / ``zipfile`` /
``openpyxl`` passes over the raw files with stdlib Python, not from the loader.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import zipfile
from collections import Counter, defaultdict

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.contract import CALL_SCHEMA, call_column_names
from analysis.load import load_calls, load_ratings, rescale, write_validated

# ----------------------------------------------------------------------------- anonymous bank


def _sec(t: str) -> int:
    h, m, s = (int(x) for x in t.split(":"))
    return h * 3600 + m * 60 + s


@pytest.fixture(scope="module")
def bank_dir(bank_data):
    return bank_data


@pytest.fixture(scope="module")
def bank_raw(bank_dir):
    """Every data row of every month, read with gzip + csv (stdlib only)."""
    rows, headers = [], 0
    for f in sorted(bank_dir.glob("*.txt.gz")):
        with gzip.open(f, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader)
            headers += 1
            assert header[0] == "vru+line" and len(header) == 17
            for r in reader:
                if r:
                    rows.append(dict(zip(header, r, strict=True)))
    return rows


@pytest.fixture(scope="module")
def bank(bank_dir):
    res = load_calls(bank_dir, "anonymous-bank")
    print("\nanonymous-bank:", res)
    print(res.summary().to_string(index=False))
    for note in res.notes:
        print("note:", note)
    return res


@pytest.fixture(scope="module")
def bank_expected(bank_raw):
    """Reason counts computed row by row from the documentation's rules."""
    c = Counter()
    jitter = 0
    for r in bank_raw:
        out, q0, s0 = r["outcome"], r["q_start"] == "0:00:00", r["ser_start"] == "0:00:00"
        no_server = r["server"] == "NO_SERVER"
        c[out] += 1
        if out == "PHANTOM":
            c["phantom"] += 1
        if out == "HANG" and q0:
            c["abandoned_in_vru"] += 1
        if out == "HANG" and not no_server:
            c["hang_with_server"] += 1
        if out == "AGENT" and no_server:
            c["missing_agent_id"] += 1
        if out == "AGENT" and s0:
            c["missing_answer_ts"] += 1
        if out != "HANG" and not s0:
            # arrival: q_start, else (went straight to an agent) ser_start; times after
            # midnight roll over against vru_entry
            entry = _sec(r["vru_entry"])

            def roll(t, entry=entry):
                return t + 86400 if t - entry < -12 * 3600 else t

            ans = roll(_sec(r["ser_start"]))
            arr = roll(_sec(r["q_start"])) if not q0 else ans
            if ans < arr - 2:
                c["answer_before_arrival"] += 1
            elif ans < arr:
                jitter += 1
    c["_jitter"] = jitter
    return c


def test_bank_every_row_accounted_for(bank, bank_raw):
    assert bank.rows_read == len(bank_raw) == 318_286
    assert len(bank.valid) + len(bank.quarantine) == bank.rows_read
    assert bank.quarantine["reason"].str.len().gt(0).all()


def test_bank_reason_counts_match_independent_pass(bank, bank_expected):
    got = bank.reason_counts()
    for reason in ("phantom", "abandoned_in_vru", "hang_with_server", "missing_agent_id",
                   "missing_answer_ts", "answer_before_arrival"):
        assert got.get(reason, 0) == bank_expected[reason], reason
    assert set(got) <= {"phantom", "abandoned_in_vru", "hang_with_server", "missing_agent_id",
                        "missing_answer_ts", "answer_before_arrival"}
    assert bank_expected["phantom"] == bank_expected["PHANTOM"] > 0
    jitter_note = [n for n in bank.notes if "clock jitter" in n]
    assert jitter_note and jitter_note[0].startswith(f"{bank_expected['_jitter']} ")


def test_bank_valid_outcomes_match_raw(bank, bank_expected):
    v = bank.valid
    counts = v["outcome"].value_counts()
    abandoned = bank_expected["HANG"] - bank_expected["abandoned_in_vru"] - bank_expected["hang_with_server"]
    assert counts["abandoned"] == abandoned
    q = bank.quarantine
    agent_bad = q["outcome"].eq("AGENT").sum()
    assert counts["answered"] == bank_expected["AGENT"] - agent_bad
    assert set(counts.index) == {"answered", "abandoned"}


def test_bank_valid_rows_are_sane(bank):
    v = bank.valid
    assert list(v.columns) == call_column_names()
    assert v["call_id"].is_unique
    assert v["call_id"].str.fullmatch(r"AA\d{4}-\d+").all()
    handled = v["outcome"].eq("answered")
    wait = (v["answer_ts"] - v["arrival_ts"]).dt.total_seconds()[handled]
    assert wait.min() >= 0 and wait.max() < 86400
    assert v.loc[handled, "agent_id"].notna().all()
    assert not v["agent_id"].eq("NO_SERVER").any()
    assert v.loc[~handled, "answer_ts"].isna().all()
    assert v["arrival_ts"].min() >= pd.Timestamp("1999-01-01")
    assert v["arrival_ts"].max() < pd.Timestamp("1999-11-01")
    assert (v["hold_s"] == 0).all() and (v["acw_s"] == 0).all()
    # ids stay strings: no float-ification, no '0' customers, no spreadsheet exponents
    cust = v["customer_id"].dropna()
    assert cust.str.fullmatch(r"[1-9]\d*").all()
    assert pd.api.types.is_string_dtype(v["agent_id"]) and pd.api.types.is_string_dtype(cust)


def test_bank_talk_and_times_match_raw_row(bank, bank_raw):
    v = bank.valid.set_index("call_id")
    # a direct call (no queue) answered after midnight: rolled to the next day
    raw = next(r for r in bank_raw if r["vru_entry"] == "23:59:54" and r["ser_start"] == "0:00:26")
    row = v.loc[f"{raw['vru+line']}-{raw['call_id']}"]
    day = dt.datetime.strptime(raw["date"], "%y%m%d")
    assert row["answer_ts"] == day + dt.timedelta(days=1, seconds=26)
    assert row["talk_s"] == float(raw["ser_time"])
    assert row["agent_id"] == raw["server"]
    # a queued call: arrival is q_start of that date
    raw = next(r for r in bank_raw if r["outcome"] == "AGENT" and r["q_start"] != "0:00:00"
               and r["server"] != "NO_SERVER" and r["customer_id"] != "0"
               and _sec(r["ser_start"]) - _sec(r["q_start"]) > 30)
    row = v.loc[f"{raw['vru+line']}-{raw['call_id']}"]
    day = dt.datetime.strptime(raw["date"], "%y%m%d")
    assert row["arrival_ts"] == day + dt.timedelta(seconds=_sec(raw["q_start"]))
    assert row["customer_id"] == raw["customer_id"]


def test_bank_write_validated(bank, tmp_path):
    paths = write_validated(bank, tmp_path)
    table = pq.read_table(paths["valid"])
    assert table.schema.remove_metadata().equals(CALL_SCHEMA)
    assert table.num_rows == len(bank.valid)
    q = pd.read_csv(paths["quarantine"], dtype=str, keep_default_na=False)
    assert len(q) == len(bank.quarantine)
    assert list(q.columns[:17]) == list(bank.quarantine.columns[:17])
    assert q.columns[-1] == "reason"
    # the original row as read, e.g. the raw customer id and server text
    assert q["server"].eq("NO_SERVER").sum() > 0


# ----------------------------------------------------------------------------- PwC Excel


def test_pwc_excel(shared_dataset):
    from openpyxl import load_workbook

    path = shared_dataset("pwc_call_centre/call_center_dataset.xlsx")
    res = load_calls(path, "pwc-excel")
    print("\npwc-excel:", res)
    ws = load_workbook(path, read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header, body = rows[0], [r for r in rows[1:] if any(v is not None for v in r)]
    assert res.rows_read == len(body) == 5000
    assert len(res.valid) + len(res.quarantine) == 5000
    i = {h: k for k, h in enumerate(header)}
    n_no = sum(r[i["Answered (Y/N)"]] == "N" for r in body)
    v = res.valid.set_index("call_id")
    assert (v["outcome"] == "abandoned").sum() == n_no
    first = body[0]
    row = v.loc[first[i["Call Id"]]]
    arrival = dt.datetime.combine(dt.date.fromisoformat(first[i["Date"]]), first[i["Time"]])
    assert row["arrival_ts"] == arrival
    assert row["answer_ts"] == arrival + dt.timedelta(seconds=first[i["Speed of answer in seconds"]])
    t = first[i["AvgTalkDuration"]]
    assert row["talk_s"] == t.hour * 3600 + t.minute * 60 + t.second
    assert row["csat"] == first[i["Satisfaction rating"]]
    assert v["csat"].dropna().between(1, 5).all()
    assert v.loc[v["outcome"] == "abandoned", "answer_ts"].isna().all()
    assert v["resolved"].notna().all()


# ----------------------------------------------------------------------------- honeycomb 360


def test_honeycomb_360(shared_dataset):
    path = shared_dataset("feedback360_honeycomb/honeycomb_test_data.csv.zip")
    res = load_ratings(path, "honeycomb-360")
    print("\nhoneycomb-360:", res)
    print(res.summary().to_string(index=False))
    # independent pass: zipfile + csv, dict grouping
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".csv") and not n.startswith("__MACOSX"))
        text = io.TextIOWrapper(zf.open(name), encoding="utf-8", newline="")
        reader = csv.reader(text)
        header = next(reader)
        rows = [tuple(r) for r in reader]
    h = {c: k for k, c in enumerate(header)}
    seen, firsts = set(), []
    for r in rows:
        if r not in seen:
            seen.add(r)
            firsts.append(r)
    n_dup = len(rows) - len(firsts)
    n_missing = sum(r[h["value"]] == "null" for r in firsts)
    groups = defaultdict(list)
    for r in firsts:
        if r[h["value"]] != "null":
            key = (r[h["reviewer_id"]], r[h["user_id"]], r[h["review_id"]], r[h["behaviour_title"]],
                   r[h["completed_at"]][:7])
            groups[key].append(r)
    n_conflict = sum(len(g) for g in groups.values() if len(g) > 1)
    n_valid = sum(len(g) for g in groups.values() if len(g) == 1)
    n_self = sum(g[0][h["self_review"]] == "TRUE" for g in groups.values() if len(g) == 1)

    assert res.rows_read == len(rows) == 96_400
    counts = res.reason_counts()
    assert counts == {"duplicate_row": n_dup, "missing_score": n_missing,
                      "conflicting_scores": n_conflict}
    assert len(res.valid) == n_valid
    v = res.valid
    assert (v["rater_group"] == "self").sum() == n_self
    assert set(v["rater_group"]) <= {"self", "peer", "supervisor", "direct_report"}
    assert v["score"].between(1, 10).all()
    assert v["period"].str.fullmatch(r"2021-\d\d").all()
    assert v["competency"].nunique() <= 46 and not v["competency"].str.endswith(" ").any()
    assert res.meta == {"scale_min": 1.0, "scale_max": 10.0}
    assert rescale(v["score"], source=(1, 10)).between(1, 5).all()
    assert rescale(10, source=(1, 10)) == 5.0 and rescale(1, source=(1, 10)) == 1.0


def test_shipped_bank_logs_are_the_originals(bank_data):
    """The shipped copy matches its SHA256SUMS (and the shared original, where that is at hand)."""
    import hashlib

    from analysis.config import SHARED_DATA_DIR

    sums = dict(
        reversed(line.split()) for line in (bank_data / "SHA256SUMS").read_text().splitlines() if line
    )
    assert len([n for n in sums if n.endswith(".txt.gz")]) == 9
    for name, digest in sums.items():
        assert hashlib.sha256((bank_data / name).read_bytes()).hexdigest() == digest, name
        original = SHARED_DATA_DIR / "anonymous_bank_1999" / name
        if original.is_file():
            assert original.read_bytes() == (bank_data / name).read_bytes(), name
