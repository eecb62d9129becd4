"""The loader's fast path (one DuckDB pass) never decides a row differently (#17.2).

A contract CSV whose every row is plainly valid is loaded by :mod:`analysis.load._fast`;
anything else falls back to the slice-by-slice loader. Here each case is validated twice,
with the fast path on and off (``CCPM_LOAD_FAST=0``): ``valid.parquet``,
``quarantine.csv`` and ``summary.csv`` must be byte-identical, and the fast path must be
taken exactly where expected (a plain file) and refused where a row is not plain.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import analysis.load._stream as stream_mod
from analysis.load import validate_calls

HEADER = ("call_id,queue,arrival_ts,outcome,agent_id,answer_ts,talk_s,hold_s,acw_s,"
          "customer_id,ended_by,resolved,csat,qa_score,complaint")
ROWS = [
    "C1,general,2026-01-05 07:00:00,answered,A1,2026-01-05 07:00:06,128.0,0.0,18.0,K1,customer,true,4.0,,false",
    "C2,tech support,2026-01-05 07:01:00,abandoned,,,,,,K2,,,,,",
    "C3,general,2026-01-05 07:02:00,Answered,A2,2026-01-05 07:02:00,60,5,,K3,AGENT,1,5,99.5,0",
    'C4,"billing, retail",2026-01-05 07:03:00,transferred,A3,2026-01-05 07:03:10,7.25,.5,3.,,System,yes,1,0,no',
    "C5,general,2026-01-05 07:04:00,answered,A1,2026-01-05 07:04:01,86400,0,0,K1,customer,False,,100,TRUE",
]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _write(tmp_path: Path, rows: list[str], header: str = HEADER, nl: str = "\n") -> Path:
    p = tmp_path / "calls.csv"
    p.write_bytes((nl.join([header, *rows]) + nl).encode("utf-8"))
    return p


def _both(tmp_path: Path, csv: Path, monkeypatch) -> tuple[object, dict, dict, list]:
    """Validate with the fast path on, then off; (result, files on, files off, what the
    fast path returned)."""
    seen: list = []
    real = stream_mod.fast_contract_csv

    def spy(*a, **k):
        r = real(*a, **k)
        seen.append(r)
        return r

    monkeypatch.setattr(stream_mod, "fast_contract_csv", spy)
    monkeypatch.setenv("CCPM_LOAD_FAST", "1")
    res, on = validate_calls(csv, None, tmp_path / "on")
    monkeypatch.setenv("CCPM_LOAD_FAST", "0")
    res0, off = validate_calls(csv, None, tmp_path / "off")
    assert res.rows_read == res0.rows_read == len(res.valid) + len(res.quarantine)
    assert res.counts == res0.counts and res.notes == res0.notes
    for k in on:
        assert _sha(on[k]) == _sha(off[k]), k
    return res, on, off, seen


def test_plain_file_takes_fast_path_same_bytes(tmp_path, monkeypatch):
    res, on, _, seen = _both(tmp_path, _write(tmp_path, ROWS), monkeypatch)
    assert seen[0] == len(ROWS)  # the fast path read every row
    assert len(res.valid) == len(ROWS) and len(res.quarantine) == 0


def test_crlf_line_ends_same_bytes(tmp_path, monkeypatch):
    _, _, _, seen = _both(tmp_path, _write(tmp_path, ROWS, nl="\r\n"), monkeypatch)
    assert seen[0] == len(ROWS)


def test_many_rows_several_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr("analysis.load._fast.ROW_GROUP_ROWS", 7)
    rows = [f"X{i},q,2026-01-05 07:00:00,abandoned,,,,,,,,,,," for i in range(40)]
    _, _, _, seen = _both(tmp_path, _write(tmp_path, rows), monkeypatch)
    assert seen[0] == 40


# one row changed: each is a row the full loader quarantines or reads in a way the fast
# path does not copy, so the fast path must give up (and the outputs stay the same)
NOT_PLAIN = {
    "duplicate id": ROWS[0],
    "negative talk": ROWS[0].replace(",128.0,", ",-1,"),
    "absurd talk": ROWS[0].replace(",128.0,", ",86401,"),
    "exponent": ROWS[0].replace(",128.0,", ",1e2,"),
    "comma decimal": ROWS[0].replace(",128.0,", ',"128,5",'),
    "h:mm:ss duration": ROWS[0].replace(",128.0,", ",0:02:08,"),
    "full-width id": ROWS[0].replace("C1,", "Ｃ9,"),
    "padded id": ROWS[0].replace("C1,", " C9,"),
    "zero-width id": ROWS[0].replace("C1,", "C\u200b9,"),
    "offset": ROWS[0].replace("07:00:06,", "07:00:06+01:00,").replace("C1,", "C9,"),
    "iso T": ROWS[0].replace("2026-01-05 07:00:00", "2026-01-05T07:00:00").replace("C1,", "C9,"),
    "sentinel date": ROWS[0].replace("2026-01-05 07:00:00", "1970-01-01 00:00:00").replace("C1,", "C9,"),
    "bad date": ROWS[0].replace("2026-01-05 07:00:00", "2026-02-30 07:00:00").replace("C1,", "C9,"),
    "answer before arrival": ROWS[0].replace("07:00:06", "06:59:59").replace("C1,", "C9,"),
    "abandoned answered": ROWS[1].replace(",,,,,,K2", ",,2026-01-05 07:01:05,,,,K2").replace("C2,", "C9,"),
    "unknown outcome": ROWS[0].replace("answered", "hung up").replace("C1,", "C9,"),
    "no agent": ROWS[0].replace(",A1,", ",,").replace("C1,", "C9,"),
    "csat high": ROWS[0].replace(",4.0,", ",6,").replace("C1,", "C9,"),
    "odd bool": ROWS[0].replace(",true,", ",是,").replace("C1,", "C9,"),
    "unknown ended_by": ROWS[0].replace(",customer,", ",bot,").replace("C1,", "C9,"),
    "nul byte": ROWS[0].replace("general", "gen\x00eral").replace("C1,", "C9,"),
    "nul byte last": ROWS[0].replace("general", "general\x00").replace("C1,", "C9,"),
    "trailing space id": ROWS[0].replace("C1,", "C9 ,"),
    "tab before id": ROWS[0].replace("C1,", "\tC9,"),
    "control char last": ROWS[0].replace(",K1,", ",K1\x1f,").replace("C1,", "C9,"),
    "control char first": ROWS[0].replace(",A1,", ",\x01A1,").replace("C1,", "C9,"),
    "quoted trailing space": ROWS[0].replace("general", '"general "').replace("C1,", "C9,"),
    "extra field": ROWS[0].replace("C1,", "C9,") + ",surplus",
    "missing field": ROWS[0].replace("C1,", "C9,").rsplit(",", 1)[0],
    "text after quote": ROWS[0].replace("general", '"gen"eral').replace("C1,", "C9,"),
    "unclosed quote": ROWS[0].replace("general", '"general').replace("C1,", "C9,"),
}


# a file with a UTF-8 byte-order mark is not all ASCII (a non-ASCII field is never plain,
# so the mark is the one way a plain file is not): the fast path then checks each field
# for ASCII and NUL itself, where for an ASCII file without NUL it need not
def _write_case(tmp_path: Path, rows: list[str], ascii_file: bool) -> Path:
    p = _write(tmp_path, rows)
    if not ascii_file:
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    return p


@pytest.mark.parametrize("ascii_file", [True, False], ids=["ascii", "bom"])
@pytest.mark.parametrize("case", sorted(NOT_PLAIN))
def test_not_plain_falls_back_same_bytes(tmp_path, monkeypatch, case, ascii_file):
    rows = ROWS + [NOT_PLAIN[case]]
    _, _, _, seen = _both(tmp_path, _write_case(tmp_path, rows, ascii_file), monkeypatch)
    assert seen[0] is None, case


def test_bom_file_keeps_fast_path(tmp_path, monkeypatch):
    from analysis.load import _readers

    p = _write_case(tmp_path, ROWS, False)
    got: list[bool] = []
    assert _readers._is_utf8(p, None, got) and got == [False]
    _, _, _, seen = _both(tmp_path, p, monkeypatch)
    assert seen[0] == len(ROWS)


# text forms around the "plain" edge: what the query decides for each must not depend on
# whether the file was already known to be ASCII without NUL
EDGE_TEXT = ["C1", "!", "~", "a b", " a", "a ", "\ta", "a\t", "\x01a", "a\x1f", "a\x7f",
             "\x7fa", "!a!", "0", "A" * 40, "a\x00b"]


def test_ascii_query_decides_as_full_query():
    import duckdb

    from analysis.load._fast import _COLS, _query

    base = dict(zip(_COLS, ROWS[0].split(","), strict=True))
    rows = []
    for text in EDGE_TEXT:
        for col in ("call_id", "queue", "agent_id", "customer_id"):
            rows.append({**base, col: text})
        for col, word in (("outcome", "answered"), ("ended_by", "agent"), ("resolved", "yes")):
            rows.append({**base, col: text + word})
            rows.append({**base, col: word + text})
    con = duckdb.connect()
    cols = ", ".join(f'"{c}" VARCHAR' for c in _COLS)
    con.execute(f"CREATE TABLE raw ({cols})")
    con.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * len(_COLS))})",
                    [[r[c] for c in _COLS] for r in rows])
    lo, hi = "1990-01-01 00:00:00", "2030-01-01 00:00:00"
    full = [r[0] for r in con.execute(f"SELECT __ok FROM ({_query(lo, hi)})").fetchall()]
    fast = [r[0] for r in con.execute(f"SELECT __ok FROM ({_query(lo, hi, True)})").fetchall()]
    ascii_rows = [all(str(v).isascii() and "\x00" not in str(v) for v in r.values())
                  for r in rows]
    assert any(full) and not all(full)
    assert [f for f, a in zip(full, ascii_rows, strict=True) if a] == \
        [f for f, a in zip(fast, ascii_rows, strict=True) if a]


@pytest.mark.parametrize(("data", "plain"), [
    (b"abc\n" * 10, True),
    (b"abc\n" * 10 + b"\x00", False),
    (b"\x00" + b"abc\n" * 10, False),
    ("abc\né\n".encode(), False),
    (b"a\r\n\x7f\x1f\n", True),  # control characters are ASCII: checked per field
])
def test_utf8_check_reports_ascii_without_nul(tmp_path, monkeypatch, data, plain):
    from analysis.load import _readers

    monkeypatch.setattr(_readers, "_COPY_BLOCK", 1)  # blocks of 4 bytes
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    got: list[bool] = []
    assert _readers._is_utf8(p, None, got)
    assert got == [plain]


def test_extra_column_falls_back(tmp_path, monkeypatch):
    rows = [r + ",x" for r in ROWS]
    _, _, _, seen = _both(tmp_path, _write(tmp_path, rows, header=HEADER + ",note"), monkeypatch)
    assert seen[0] is None


def test_blank_and_quoted_lines_same_bytes(tmp_path, monkeypatch):
    rows = [ROWS[0], "", ROWS[1], '"C7","general","2026-01-05 07:09:00","abandoned",,,,,,,,,,,']
    _both(tmp_path, _write(tmp_path, rows), monkeypatch)


@pytest.mark.parametrize(("data", "lines"), [
    (b"ab\ncd\n" + "é\n".encode() * 9 + b"xyz" * 5, 12),       # é split across blocks
    (b"a" * 15 + b"\xc3" + b"b" * 20, None),                    # lead byte, then ASCII block
    (b"a" * 15 + b"\xc3", None),                                # lead byte at the end
    (b"a\n" * 20 + b"\xff" + b"a" * 20, None),                  # invalid byte in a block
    (b"a\n" * 20, 20),
    (b"a\n" * 20 + b"\n\n", 20),                              # blank lines at the end
    (b"a\r\n" * 20 + b"\r\n", 20),
])
def test_utf8_check_and_line_count_across_blocks(tmp_path, monkeypatch, data, lines):
    from analysis.load import _readers

    monkeypatch.setattr(_readers, "_COPY_BLOCK", 4)  # blocks of 16 bytes
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    got: list[int] = []
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert _readers._is_utf8(p, got) is valid
    assert (got[0] if got else None) == lines


def test_blank_lines_at_end_keep_fast_path(tmp_path, monkeypatch):
    p = _write(tmp_path, ROWS)
    p.write_bytes(p.read_bytes() + b"\n\n")
    _, _, _, seen = _both(tmp_path, p, monkeypatch)
    assert seen[0] == len(ROWS)


def test_equal_id_hashes_recount_the_ids(tmp_path, monkeypatch):
    """Every id hashed alike (as two ids of one hash would be): the ids themselves are
    counted in the file written, and a file of distinct ids keeps the fast path."""
    from analysis.load import _fast

    real = _fast._query
    monkeypatch.setattr(_fast, "_query",
                        lambda *a: real(*a).replace("hash(r.", "0 * hash(r.", 1))
    assert "0 * hash(r." in _fast._query("1990-01-01", "2030-01-01")
    _, _, _, seen = _both(tmp_path, _write(tmp_path, ROWS), monkeypatch)
    assert seen[0] == len(ROWS)
    _, _, _, seen = _both(tmp_path, _write(tmp_path, ROWS + [ROWS[0]]), monkeypatch)
    assert seen[0] is None


# ``ccpm validate`` reaches the fast path through analysis.load._quick, without pandas


def test_quick_entry_writes_the_streamed_bytes(tmp_path, monkeypatch):
    """The pandas-free entry writes what validate_calls writes (fast path or not), and
    where the fast path gives up, writes nothing and hands the opened file on."""
    from analysis.load._quick import Handover, validate_calls_fast

    monkeypatch.setenv("CCPM_LOAD_FAST", "1")
    for k, rows in enumerate([ROWS, ROWS * 3]):
        rows = [f"X{i}" + r[r.index(","):] for i, r in enumerate(rows)]  # unique ids
        csv = _write(tmp_path, rows)
        got = validate_calls_fast(csv, None, tmp_path / f"quick{k}")
        assert got is not None
        res, files = got
        ref, ref_files = validate_calls(csv, None, tmp_path / f"ref{k}")
        assert (res.rows_read, len(res.valid), len(res.quarantine), res.notes) == \
            (ref.rows_read, len(ref.valid), len(ref.quarantine), ref.notes)
        assert res.summary().equals(ref.summary())
        for name in ref_files:
            assert _sha(files[name]) == _sha(ref_files[name]), name
    bad = _write(tmp_path, ROWS + [ROWS[0]])  # a repeated id: the full loader decides
    hand = validate_calls_fast(bad, None, tmp_path / "bad")
    assert isinstance(hand, Handover) and hand.tried and hand.source is not None
    assert not (tmp_path / "bad").exists()
    # ... with the file as opened, and the fast path off: the same files as from scratch
    res, files = validate_calls(bad, None, tmp_path / "bad", fast=False, opened=hand.source)
    hand.source.cleanup()
    ref, ref_files = validate_calls(bad, None, tmp_path / "bad_ref")
    assert len(res.quarantine) == len(ref.quarantine) == 1
    for name in ref_files:
        assert _sha(files[name]) == _sha(ref_files[name]), name
    assert validate_calls_fast(tmp_path / "absent.csv", None, tmp_path / "x") == Handover()
    monkeypatch.setenv("CCPM_LOAD_FAST", "0")
    assert validate_calls_fast(_write(tmp_path, ROWS), None, tmp_path / "off") == Handover()


def test_default_ts_window_is_the_checks_default():
    from analysis.load._checks import ts_window
    from analysis.load._fast import default_ts_window

    fmt = "%Y-%m-%d %H:%M:%S.%f"
    assert [t.strftime(fmt) for t in default_ts_window()] == \
        [t.strftime(fmt) for t in ts_window({})]


def test_validate_cli_fast_path_does_not_import_pandas(tmp_path):
    import subprocess
    import sys

    csv = _write(tmp_path, ROWS)
    code = ("import sys; from analysis.cli import main; "
            f"rc = main(['validate', '--calls', {str(csv)!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--quiet']); print('pandas' in sys.modules); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**__import__("os").environ, "CCPM_LOAD_FAST": "1"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "o" / "valid.parquet").exists()
