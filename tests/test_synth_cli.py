"""``ccpm synth`` from the command line: files written, bad input exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from analysis.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", "synth", *args], capture_output=True, text=True
    )


BAD = [
    (["--gaming", "hangup=3@1.5"], "strength"),
    (["--gaming", "teleport=2"], "unknown behaviour"),
    (["--gaming", "reciprocal=3"], "even"),
    (["--agents", "10", "--gaming", "hangup=6,bunching=6"], "plants 12 agents"),
    (["--start", "2026-02-30"], "YYYY-MM-DD"),
    (["--days", "0"], "days"),
    (["--stress", "chaos"], "stress"),
    (["--stress", "messy,weekday=-2"], "weekday"),
]


@pytest.mark.parametrize("args, needle", BAD)
def test_bad_input_is_one_line_and_code_2(tmp_path, capsys, args, needle):
    rc = main(["synth", "--out", str(tmp_path / "o"), "--quiet", *args])
    assert rc == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ccpm synth: error:")
    assert needle in lines[0]
    assert not (tmp_path / "o" / "calls.parquet").exists()


def test_bad_spec_exits_2_in_a_subprocess(tmp_path):
    out = run_cli("--out", str(tmp_path / "o"), "--quiet", "--gaming", "hangup=2,hangup=1")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "twice" in lines[0]
    assert "Traceback" not in out.stderr


def test_cli_default_mix_is_the_library_default():
    from analysis.cli.synth import DEFAULT_GAMING as cli_default
    from analysis.synth import DEFAULT_GAMING

    assert cli_default == DEFAULT_GAMING


def test_writes_the_five_files_and_reports(tmp_path, capsys):
    rc = main(["synth", "--out", str(tmp_path), "--agents", "12", "--days", "8", "--seed", "3",
               "--gaming", "hangup=1@0.3,acw_padding=1:2-5", "--aht-target", "360"])  # fmt: skip
    assert rc == 0
    names = {"calls.parquet", "roster.csv", "ratings_360.csv", "okr.yml", "truth.csv"}
    assert names <= {p.name for p in tmp_path.iterdir()}
    truth = pd.read_csv(tmp_path / "truth.csv")
    row = truth.set_index("behaviour").loc["acw_padding"]
    assert (row.start_day, row.end_day, row.strength) == (2, 5, 0.5)
    err = capsys.readouterr().err
    assert "calls" in err and "12 agents (2 gaming)" in err


def test_help_documents_the_gaming_grammar():
    out = run_cli("--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "behaviour=count[@strength][:start-end]" in text
    for word in ("hangup", "bunching", "acw_padding", "transfer_dumping", "end_of_day_stretch",
                 "sandbagging", "reciprocal", "none", "--aht-target"):  # fmt: skip
        assert word in text


def test_stress_messy_without_ended_by(tmp_path):
    import pyarrow.parquet as pq

    rc = main(["synth", "--out", str(tmp_path), "--agents", "12", "--days", "15", "--quiet",
               "--gaming", "hangup=2", "--stress", "messy,ended_by=false"])
    assert rc == 0
    df = pq.read_table(tmp_path / "calls.parquet").to_pandas()
    assert df.ended_by.isna().all() and df.talk_s.notna().any()
