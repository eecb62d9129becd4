"""``ccpm validate``: outputs, exit codes, one-line errors (in a subprocess, as users run it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.contract import CALL_SCHEMA

DATA = Path(__file__).resolve().parent / "data"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "validate", *args],
                          capture_output=True, text=True, timeout=120)


def test_validate_writes_outputs_and_prints_counts(tmp_path):
    out = _run("--calls", str(DATA / "calls_basic.csv"), "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "12 rows read = 4 valid + 8 quarantined" in out.stdout
    assert "duplicate_call_id" in out.stdout
    table = pq.read_table(tmp_path / "valid.parquet")
    assert table.schema.remove_metadata().equals(CALL_SCHEMA) and table.num_rows == 4
    q = pd.read_csv(tmp_path / "quarantine.csv", dtype=str, keep_default_na=False)
    assert len(q) == 8 and q.columns[-1] == "reason"
    assert "Traceback" not in out.stderr


CASES = [
    (["--calls", "no/such/file.csv"], "no such file"),
    (["--calls", str(DATA / "empty.csv")], "empty"),
    (["--calls", str(DATA / "binary.csv")], "not a text table"),
    (["--calls", str(DATA / "header_only.csv")], "no data rows"),
    (["--calls", str(DATA / "calls_basic.csv"), "--mapping", "no-such-mapping"], "unknown mapping"),
    (["--calls", str(DATA / "roster_basic.csv")], "required column"),
    (["--calls", str(DATA / "calls_basic.csv"), "--mapping", str(DATA / "nope.yml")], "no such file"),
]


def _one_error_line(stderr: str, message: str) -> None:
    errors = [ln for ln in stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and message in errors[0], stderr
    assert errors[0].startswith("ccpm validate: error:")
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("args", "message"), [CASES[0], CASES[2]])
def test_unreadable_input_exits_2_in_subprocess(tmp_path, args, message):
    out = _run(*args, "--out", str(tmp_path))
    assert out.returncode == 2
    _one_error_line(out.stderr, message)


@pytest.mark.parametrize(("args", "message"), CASES)
def test_unreadable_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    assert main(["validate", *args, "--out", str(tmp_path)]) == 2
    _one_error_line(capsys.readouterr().err, message)


def test_roster_and_ratings_flags(tmp_path, capsys):
    code = main(["validate", "--roster", str(DATA / "roster_basic.csv"),
                 "--ratings", str(DATA / "ratings_wide.csv"),
                 "--ratings-mapping", str(DATA / "ratings_wide.yml"), "--out", str(tmp_path)])
    assert code == 0
    text = capsys.readouterr().out
    assert "roster: 6 rows read = 2 valid + 4 quarantined" in text
    assert "ratings: 12 rows read = 7 valid + 5 quarantined" in text
    assert pq.read_table(tmp_path / "roster_valid.parquet").num_rows == 2
    assert pq.read_table(tmp_path / "ratings_valid.parquet").num_rows == 7
    assert (tmp_path / "ratings_quarantine.csv").exists()


def test_nothing_to_validate_exits_2(tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path)]) == 2
    assert "nothing to validate" in capsys.readouterr().err


def test_help_documents_inputs(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--calls", "--roster", "--ratings", "--mapping", "anonymous-bank", "honeycomb-360"):
        assert flag in text
