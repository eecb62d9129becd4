"""A file or folder whose name holds glob characters is read as the name it is (#16).

``calls[1].parquet`` used to be expanded as the pattern ``calls1.parquet`` and refused
("no files match"); a path that exists is now always literal, and only a path that names
nothing is a pattern.
"""

from __future__ import annotations

import shutil

import pytest

from analysis._paths import glob_files, is_pattern
from analysis.cli import main


def test_is_pattern_rule(tmp_path):
    f = tmp_path / "calls[1].parquet"
    f.write_bytes(b"x")
    assert not is_pattern(f)  # exists: a name
    assert is_pattern(tmp_path / "calls[12].parquet")  # names nothing: a pattern
    assert is_pattern(tmp_path / "*.parquet")
    assert not is_pattern(tmp_path / "plain.parquet")  # no glob characters
    (tmp_path / "calls1.parquet").write_bytes(b"y")
    assert glob_files(tmp_path / "calls[12].parquet") == [tmp_path / "calls1.parquet"]


@pytest.fixture(scope="module")
def odd_names(synth_center, tmp_path_factory):
    root = tmp_path_factory.mktemp("odd")
    f = root / "calls[1].parquet"
    shutil.copy(synth_center["calls"], f)
    d = root / "exports [March]"
    d.mkdir()
    shutil.copy(synth_center["calls"], d / "calls.parquet")
    csv = root / "raw[?].csv"
    import pandas as pd

    pd.read_parquet(synth_center["calls"]).head(500).to_csv(csv, index=False)
    return root, f, d, csv


@pytest.mark.parametrize("which", ["file", "folder"])
def test_panel_reads_names_with_brackets(odd_names, which, capsys):
    root, f, d, _ = odd_names
    src = f if which == "file" else d
    out = root / f"panel-{which}.parquet"
    assert main(["panel", "--calls", str(src), "--out", str(out)]) == 0, capsys.readouterr().err
    assert out.is_file()


def test_validate_and_gaming_read_names_with_brackets(odd_names, capsys):
    root, f, _, csv = odd_names
    out = root / "v"
    assert main(["validate", "--calls", str(csv), "--out", str(out)]) == 0, \
        capsys.readouterr().err
    assert (out / "valid.parquet").is_file()
    g = root / "g"
    assert main(["gaming", "--calls", str(f), "--out", str(g),
                 "--checks", "short_calls_peer"]) == 0, capsys.readouterr().err
    assert (g / "gaming_flags.csv").is_file()


def test_pattern_that_matches_nothing_is_one_line(odd_names, capsys):
    root, *_ = odd_names
    code = main(["panel", "--calls", str(root / "nothing[0-9].parquet"),
                 "--out", str(root / "x.parquet")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nothing[0-9].parquet" in err[0]
