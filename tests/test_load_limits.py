"""Limits and one-line reasons in the loader (issue 16, item 4).

Decompression bombs stop at a stated limit; Western text in cp1252 is read as cp1252 and
the choice is noted; NUL bytes are one rule wherever they are; sentinel timestamps are
quarantined; ids are normalised before duplicate checks.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.errors import ConfigError, InputError
from analysis.load import load_calls, load_roster, normalize_id, write_validated
from analysis.load._readers import _expand, max_expanded_bytes

HEADER = "call_id,queue,arrival_ts,outcome,agent_id,answer_ts,talk_s\n"


def _row(cid: str, agent: str = "A1", arrival: str = "2026-01-05 09:00:00",
         answer: str = "2026-01-05 09:00:10") -> str:
    return f"{cid},sales,{arrival},answered,{agent},{answer},60\n"


def _reasons(res) -> dict[str, str]:
    return dict(zip(res.quarantine["call_id"], res.quarantine["reason"], strict=True))


# ----------------------------------------------------------------------------- decompression


class _Endless(io.RawIOBase):
    """A stream of zeros that never ends (counts what was read)."""

    def __init__(self):
        self.read_bytes = 0

    def read(self, n=-1):
        n = 1 << 20 if n is None or n < 0 else n
        self.read_bytes += n
        return b"0" * n


def test_expansion_is_streamed_and_stops_at_the_limit(monkeypatch):
    monkeypatch.setenv("CCPM_MAX_EXPANDED_GB", "0.01")
    src = _Endless()
    with pytest.raises(InputError, match=r"expands to more than 0\.01 GB.*CCPM_MAX_EXPANDED_GB"):
        _expand(src, "bomb.gz", "gzip file")
    # it stopped soon after the limit (it would never end if it read the stream whole)
    assert 10_000_000 < src.read_bytes < 20_000_000


def _big_csv(rows: int) -> bytes:
    return (HEADER + "".join(_row(f"C{i}") for i in range(rows))).encode()


def test_gzip_and_zip_bombs_refused_with_the_limit_in_one_line(tmp_path, monkeypatch, capsys):
    data = _big_csv(40_000)  # ~3 MB expanded, a few KB compressed
    gz = tmp_path / "bomb.csv.gz"
    gz.write_bytes(gzip.compress(data))
    zp = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("calls.csv", data)
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("calls.csv.gz", gzip.compress(data))
    monkeypatch.setenv("CCPM_MAX_EXPANDED_GB", "0.001")
    for path in (gz, zp, nested):
        assert main(["validate", "--calls", str(path), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if "error" in ln]
        assert "Traceback" not in err and len(lines) == 1, err
        assert lines[0].startswith("ccpm validate: error:"), lines
        assert "expands to more than 0.001 GB" in lines[0], lines
    assert not (tmp_path / "o" / "valid.parquet").exists()
    # under the limit the same files load whole
    monkeypatch.setenv("CCPM_MAX_EXPANDED_GB", "1")
    for path in (gz, zp, nested):
        assert len(load_calls(path).valid) == 40_000


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_bad_limit_setting_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("CCPM_MAX_EXPANDED_GB", value)
    with pytest.raises(ConfigError, match="CCPM_MAX_EXPANDED_GB"):
        max_expanded_bytes()


def test_default_limit_is_20_gb(monkeypatch):
    monkeypatch.delenv("CCPM_MAX_EXPANDED_GB", raising=False)
    assert max_expanded_bytes() == 20 * 10**9


# ----------------------------------------------------------------------------- encodings


def test_cp1252_western_names_are_not_read_as_central_european(tmp_path):
    names = ["José Muñoz", "Françoise Lefèvre", "Jürgen Groß", "Íñigo Ñúñez", "Ana Peña"]
    text = HEADER + "".join(_row(f"C{i}", agent=n) for i, n in enumerate(names))
    p = tmp_path / "cp1252.csv"
    p.write_bytes(text.encode("cp1252"))
    res = load_calls(p)
    assert sorted(res.valid["agent_id"]) == sorted(names)
    assert any("read as cp1252" in n for n in res.notes), res.notes


def test_encoding_choice_is_printed_by_validate(tmp_path, capsys):
    p = tmp_path / "cp1252.csv"
    p.write_bytes((HEADER + _row("C1", agent="José Muñoz")).encode("cp1252"))
    assert main(["validate", "--calls", str(p), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "read as cp1252" in out
    assert pq.read_table(tmp_path / "o" / "valid.parquet")["agent_id"].to_pylist() == ["José Muñoz"]


def test_utf8_files_get_no_encoding_note():
    from pathlib import Path

    res = load_calls(Path(__file__).parent / "data" / "calls_basic.csv")
    assert not any("read as" in n for n in res.notes)


# ----------------------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize("pad_rows", [0, 6000])  # NUL in the first 256 KB, and far after it
def test_nul_bytes_quarantine_the_row_wherever_they_are(tmp_path, pad_rows):
    body = "".join(_row(f"P{i}") for i in range(pad_rows))
    text = HEADER + _row("N1", agent="A\x001") + body + _row("N2", agent="A\x002") + _row("OK")
    p = tmp_path / "nul.csv"
    p.write_bytes(text.encode())
    assert p.stat().st_size > 256 * 1024 or pad_rows == 0
    res = load_calls(p)
    assert res.rows_read == pad_rows + 3
    reasons = _reasons(res)
    assert reasons == {"N1": "nul_byte", "N2": "nul_byte"}
    assert not res.valid.apply(lambda c: c.astype("str").str.contains("\x00")).any().any()
    out = write_validated(res, tmp_path / "o")
    assert not pd.read_parquet(out["valid"])["agent_id"].str.contains("\x00").any()


def test_nul_rule_applies_to_the_roster_too(tmp_path):
    p = tmp_path / "roster.csv"
    p.write_bytes(b"agent_id,team\nA1,x\nA\x002,y\n")
    res = load_roster(p)
    assert res.quarantine["reason"].tolist() == ["nul_byte"]


def test_mostly_binary_files_are_still_refused(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(HEADER.encode() + bytes(range(32)) * 400)
    with pytest.raises(InputError, match="not a text table"):
        load_calls(p)


# ----------------------------------------------------------------------------- timestamps


def test_sentinel_dates_are_quarantined_with_a_plain_reason(tmp_path):
    text = HEADER + _row("OK") + _row("S1900", arrival="1900-01-01 00:00:00",
                                      answer="1900-01-01 00:00:10") \
        + _row("S1970", arrival="1970-01-01 00:00:00", answer="2026-01-05 09:00:10") \
        + _row("FUT", arrival="2999-01-01 00:00:00", answer="2999-01-01 00:00:10")
    p = tmp_path / "sentinel.csv"
    p.write_text(text)
    res = load_calls(p)
    assert list(res.valid["call_id"]) == ["OK"]
    assert _reasons(res) == {
        "S1900": "implausible_arrival_ts;implausible_answer_ts",
        "S1970": "implausible_arrival_ts",
        "FUT": "implausible_arrival_ts;implausible_answer_ts",
    }


def test_timestamp_window_is_configurable(tmp_path):
    text = HEADER + _row("OLD", arrival="1985-06-01 10:00:00", answer="1985-06-01 10:00:09") \
        + _row("NEW", arrival="2026-01-05 09:00:00")
    p = tmp_path / "old.csv"
    p.write_text(text)
    assert _reasons(load_calls(p)) == {"OLD": "implausible_arrival_ts;implausible_answer_ts"}
    res = load_calls(p, {"checks": {"ts_window": ["1980-01-01", "2025-12-31"]}})
    assert _reasons(res) == {"NEW": "implausible_arrival_ts;implausible_answer_ts"}
    with pytest.raises(ConfigError, match="ts_window"):
        load_calls(p, {"checks": {"ts_window": ["soon", None]}})


# ----------------------------------------------------------------------------- ids


def test_normalize_id_folds_invisible_and_compatibility_forms():
    assert normalize_id("K\u200b1") == normalize_id("Ｋ1") == normalize_id(" K1\ufeff") == "K1"
    assert normalize_id("张三") == "张三"
    assert normalize_id("\u200b") is None and normalize_id(None) is None


def test_id_spellings_are_one_id_before_duplicate_checks(tmp_path):
    text = HEADER + _row("K1", agent="Ａ7") + _row("K\u200b1") + _row("Ｋ1") + _row("\u200b")
    p = tmp_path / "ids.csv"
    p.write_text(text, encoding="utf-8")
    res = load_calls(p)
    assert res.valid["call_id"].tolist() == ["K1"]
    assert res.valid["agent_id"].tolist() == ["A7"]  # agent ids are normalised too
    assert res.quarantine["reason"].tolist() == ["duplicate_call_id", "duplicate_call_id",
                                                 "missing_call_id"]
    # the quarantine keeps the rows as read
    assert res.quarantine["call_id"].tolist() == ["K\u200b1", "Ｋ1", "\u200b"]
