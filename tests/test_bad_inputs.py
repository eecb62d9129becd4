"""Broken and hostile inputs through ``ccpm validate`` (issue 7, part 1).

The corpus is generated at test time by ``tests/bad_inputs/make_corpus.py`` (see its
docstring for what each case must give). Every case is either refused -- exit 2, exactly
one ``ccpm validate: error:`` line naming the problem, no traceback, no output files -- or
loaded with every row accounted for: ``rows read == valid + quarantined`` in the printed
totals, in ``valid.parquet`` + ``quarantine.csv`` and in the manifest, and the quarantined
rows carry exactly the expected reasons. ``tests/test_load_*.py`` cover the loader
functions directly; this file covers the command a user runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.cli import main

_HERE = Path(__file__).resolve().parent / "bad_inputs"
_spec = importlib.util.spec_from_file_location("make_corpus", _HERE / "make_corpus.py")
mc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_corpus", mc)  # dataclasses look their module up there
_spec.loader.exec_module(mc)

_TOTALS = re.compile(r"calls: (\d+) rows read = (\d+) valid \+ (\d+) quarantined")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_inputs")
    return d, {c.name: c for c in mc.build(d)}


def _case_params(expect: str):
    # the case list is static: build it once into a throwaway folder only to read names
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        cases = [c for c in mc.build(t) if c.expect == expect]
    return [pytest.param(c.name, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
            if c.xfail else c.name for c in cases]


def _argv(case, d: Path, out: Path) -> list[str]:
    argv = ["validate", "--calls", str(d / case.file), "--out", str(out)]
    if case.mapping:
        m = d / case.mapping
        argv += ["--mapping", str(m) if m.is_file() else case.mapping]
    return argv


def _one_error_line(stderr: str, message: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("ccpm validate: error:"), errors[0]
    assert message in errors[0], errors[0]
    assert stderr.rstrip().splitlines()[-1] == errors[0], stderr  # nothing spills over


def _check_loaded(case, out: Path, stdout: str) -> None:
    m = _TOTALS.search(stdout)
    assert m, stdout
    read, n_valid, n_quar = map(int, m.groups())
    assert read == n_valid + n_quar
    valid = pq.read_table(out / "valid.parquet").to_pandas()
    quar = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert (len(valid), len(quar)) == (n_valid, n_quar)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["calls"] == {"rows_read": read, "valid": n_valid,
                                         "quarantined": n_quar,
                                         "mapping": manifest["rows"]["calls"]["mapping"]}
    # reasons keyed by call id; the k-th repeat of an id is keyed "<id>#k"
    got, seen = {}, {}
    for cid in valid["call_id"]:
        seen[cid] = 1
    for cid, reason in zip(quar[case.id_col], quar["reason"], strict=True):
        k = seen.get(cid, 0) + 1
        seen[cid] = k
        got[cid if k == 1 else f"{cid}#{k}"] = reason
    want = dict(case.reasons)
    for key, reason in want.items():
        if reason == "*":  # any one-line reason will do
            assert got.get(key), (key, got)
            want[key] = got[key]
    assert set(valid["call_id"]) == case.valid, (set(valid["call_id"]), got)
    # ids neither listed valid nor with a reason must still be accounted for: either
    # valid with the right value (``talk``), or quarantined as unparseable
    for cid, talk in case.talk.items():
        if cid in case.valid:
            v = valid.loc[valid["call_id"] == cid, "talk_s"].item()
            assert v == pytest.approx(talk), (cid, v)
        elif cid not in want:
            assert got.get(cid) == "unparseable_talk_s", (cid, got.get(cid))
            want[cid] = got[cid]
    assert got == want
    for cid, (arrival, answer) in case.times.items():
        row = valid.loc[valid["call_id"] == cid].iloc[0]
        assert (row["arrival_ts"], row["answer_ts"]) == (pd.Timestamp(arrival),
                                                         pd.Timestamp(answer)), cid
    assert quar["reason"].str.len().gt(0).all()
    assert read == len(case.valid) + len(want)


@pytest.mark.parametrize("name", _case_params("refuse"))
def test_refused_in_process(corpus, tmp_path, capsys, name):
    d, cases = corpus
    case = cases[name]
    out = tmp_path / "out"
    assert main(_argv(case, d, out)) == 2
    _one_error_line(capsys.readouterr().err, case.message)
    assert not (out / "valid.parquet").exists()
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("name", _case_params("load"))
def test_loaded_in_process(corpus, tmp_path, capsys, name):
    d, cases = corpus
    case = cases[name]
    out = tmp_path / "out"
    assert main(_argv(case, d, out)) == 0
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    _check_loaded(case, out, cap.out)


@pytest.mark.parametrize("name", ["binary_nul", "several_sheets_first_is_notes",
                                  "zh_utf8_bom", "duplicates_and_unknown_outcomes"])
def test_python_m_analysis_validate(corpus, tmp_path, name):
    """The same through ``python -m analysis validate`` in a fresh process."""
    d, cases = corpus
    case = cases[name]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("CCPM_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "analysis", *_argv(case, d, out)],
                       capture_output=True, text=True, encoding="utf-8", env=env, timeout=120,
                       check=False)
    if case.expect == "refuse":
        assert r.returncode == 2, r.stderr
        _one_error_line(r.stderr, case.message)
        assert r.stdout == ""
    else:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        _check_loaded(case, out, r.stdout)


def test_corpus_generator_is_deterministic(tmp_path):
    a = {c.file: (tmp_path / "a" / c.file) for c in mc.build(tmp_path / "a")}
    b = {c.file: (tmp_path / "b" / c.file) for c in mc.build(tmp_path / "b")}
    text = [f for f in a if not f.endswith(".xlsx")]
    assert text and all(a[f].read_bytes() == b[f].read_bytes() for f in text)


@pytest.mark.slow
def test_million_good_rows_and_one_bad_line(tmp_path, capsys):
    """1,000,000 good rows then one bad line at the very end: all read, one quarantined."""
    n = 1_000_000
    path = tmp_path / "large.csv"
    rows = mc.write_large(path, n)
    out = tmp_path / "out"
    assert main(["validate", "--calls", str(path), "--out", str(out), "--quiet"]) == 0
    m = _TOTALS.search(capsys.readouterr().out)
    assert m and tuple(map(int, m.groups())) == (rows, n, 1)
    quar = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert quar["call_id"].tolist() == ["LBAD"]
    assert quar["reason"].tolist() == ["answer_before_arrival"]
    assert quar["_source_row"].tolist() == [str(rows)]  # the data row number of the last line
    assert pq.read_metadata(out / "valid.parquet").num_rows == n
