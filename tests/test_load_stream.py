"""The streaming loader gives the in-memory loader's results, whatever the slice size (#17.2).

``load_calls`` (and ``ccpm validate``) check rows in slices; duplicate ids are found across
slices by DuckDB. The in-memory loader it replaced is kept as
``analysis.load.calls.load_calls_in_memory``: every case here must give the same valid
rows, the same quarantine (rows, order, reasons) and byte-identical files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.load import load_calls, load_calls_to_parquet, stream_calls, write_validated
from analysis.load.calls import load_calls_in_memory

DATA = Path(__file__).resolve().parent / "data"
_spec = importlib.util.spec_from_file_location("make_corpus",
                                               DATA.parent / "bad_inputs" / "make_corpus.py")
mc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_corpus", mc)
_spec.loader.exec_module(mc)

FIXTURES = [
    ("calls_basic.csv", None), ("calls_semicolon_bom.csv", None), ("calls_pipe.txt", None),
    ("calls_tab.tsv.gz", None), ("calls_preamble.csv", None), ("calls_malformed.csv", None),
    ("calls_zh_gbk.csv", "calls_zh.yml"), ("calls_zh_gb18030.tsv", "calls_zh.yml"),
    ("calls_merged_header.xlsx", "calls_excel.yml"),
]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _same(path, mapping, tmp_path, chunk_rows: int) -> None:
    ref = load_calls_in_memory(path, mapping)
    got = load_calls(path, mapping, chunk_rows=chunk_rows)
    assert got.rows_read == ref.rows_read == len(got.valid) + len(got.quarantine)
    pd.testing.assert_frame_equal(got.valid, ref.valid)
    pd.testing.assert_frame_equal(got.quarantine, ref.quarantine)
    assert got.notes == ref.notes
    a = write_validated(ref, tmp_path / "ref")
    b = write_validated(got, tmp_path / "got")
    for k in a:
        assert _sha(a[k]) == _sha(b[k]), k


@pytest.mark.parametrize(("name", "mapping"), FIXTURES)
@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_fixtures_same_as_in_memory(tmp_path, name, mapping, chunk_rows):
    _same(DATA / name, DATA / mapping if mapping else None, tmp_path, chunk_rows)


def test_bad_input_corpus_same_as_in_memory(tmp_path):
    d = tmp_path / "corpus"
    for case in mc.build(d):
        if case.expect != "load":
            continue
        m = d / case.mapping if case.mapping else None
        mapping = str(m) if m is not None and m.is_file() else case.mapping
        _same(d / case.file, mapping, tmp_path / case.name, chunk_rows=2)


def _dups_world(tmp_path) -> Path:
    """Two files; ids repeat within a slice, across slices and across files; a malformed
    line's id is the first of its kind; a repeat also carries another problem."""
    head = "call_id,queue,arrival_ts,outcome,agent_id,answer_ts,talk_s\n"

    def row(cid, outcome="answered"):
        return f"{cid},q,2026-01-05 09:00:00,{outcome},A1,2026-01-05 09:00:05,30\n"

    a = head + "".join(row(f"C{i}") for i in range(10)) + row("C3") + row("C9", "bogus") \
        + "M1,too,few\n" + row("C0")
    b = head + row("M1") + row("C5") + row("N1") + row("N1") + row("C11")
    (tmp_path / "a.csv").write_text(a)
    (tmp_path / "b.csv").write_text(b)
    return tmp_path


@pytest.mark.parametrize("chunk_rows", [1, 4, 100])
def test_duplicates_across_slices_and_files(tmp_path, chunk_rows):
    d = _dups_world(tmp_path)
    _same(d, None, tmp_path / "cmp", chunk_rows)
    res = load_calls(d, chunk_rows=chunk_rows)
    q = dict(zip(res.quarantine["call_id"] + "@" + res.quarantine["_source_file"],
                 res.quarantine["reason"], strict=False))
    assert q["C9@a.csv"] == "unknown_outcome;duplicate_call_id"
    assert q["M1@a.csv"] == "malformed_row"
    assert q["M1@b.csv"] == "duplicate_call_id"  # the malformed line came first
    assert q["C5@b.csv"] == "duplicate_call_id" and q["N1@b.csv"] == "duplicate_call_id"
    assert res.valid["call_id"].is_unique


def test_typed_parquet_with_nulls_same_as_in_memory(tmp_path):
    n = 50
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "call_id": np.arange(n) % 45,  # five repeats
        "queue": pd.Categorical(rng.choice(["a", "b"], n)),
        "arrival_ts": pd.Timestamp("2026-01-05") + pd.to_timedelta(np.arange(n), unit="min"),
        "outcome": rng.choice(["answered", "abandoned", "weird"], n),
        "agent_id": pd.array([7 if i % 9 else None for i in range(n)], dtype="Int64"),
        "answer_ts": pd.Timestamp("2026-01-05") + pd.to_timedelta(np.arange(n) + 0.1, unit="min"),
        "talk_s": rng.integers(-5, 500, n).astype(float),
        "csat": pd.array([None if i % 4 == 0 else 3 for i in range(n)], dtype="Int64"),
    })
    p = tmp_path / "typed.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p, row_group_size=16)
    for chunk in (5, 16, 1000):
        _same(p, None, tmp_path / f"c{chunk}", chunk)


def test_rows_are_checked_in_slices(tmp_path, monkeypatch):
    """No slice larger than chunk_rows reaches the checks (memory is bounded by it)."""
    import analysis.load._stream as st

    sizes = []
    real = st.build_columns

    def spy(raw, m, problems):
        sizes.append(len(raw))
        return real(raw, m, problems)

    monkeypatch.setattr(st, "build_columns", spy)
    path = tmp_path / "big.csv"
    mc.write_large(path, 2_000)
    res = stream_calls(path, None, chunk_rows=300)
    assert res.rows_read == sum(sizes) == 2_001
    assert max(sizes) <= 300 and len(sizes) >= 7


def test_validate_streams_the_same_files(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    d = _dups_world(tmp_path / "in")
    assert main(["validate", "--calls", str(d), "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    ref = write_validated(load_calls_in_memory(d), tmp_path / "mem")
    for k, p in ref.items():
        assert _sha(tmp_path / "cli" / p.name) == _sha(p), k
    res = load_calls_in_memory(d)
    assert (f"calls: {res.rows_read} rows read = {len(res.valid)} valid + "
            f"{len(res.quarantine)} quarantined") in out


def test_spill_counts_without_keeping_rows(tmp_path):
    d = _dups_world(tmp_path)
    with load_calls_to_parquet(d) as sp:
        ref = load_calls_in_memory(d)
        assert (sp.rows_read, sp.valid_rows, sp.quarantined) == (
            ref.rows_read, len(ref.valid), len(ref.quarantine))
        assert sp.reason_counts == ref.reason_counts()
        pd.testing.assert_frame_equal(
            pq.read_table(sp.path).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get),
            ref.valid)
