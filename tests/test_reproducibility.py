"""Same inputs, parameters and seed -> byte-identical CSV and Parquet outputs (issue 7, part 3).

Each command runs twice, in process, into two different output folders, from the same
inputs; every CSV/Parquet/JSON output is compared byte for byte. Parquet files must not
carry timestamps or machine paths in their metadata (else a re-run elsewhere differs).
Manifests (``manifest.json``) are compared without their run-time keys.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.manifest import VOLATILE_KEYS, file_sha256, stable_view

pytestmark = pytest.mark.slow  # five commands run twice: ~40 s on 2 cores

_COMPARED = (".csv", ".parquet", ".json", ".txt", ".yml")
_ISO = re.compile(rb"20\d\d-\d\d-\d\dT\d\d:\d\d")


def _run(argv: list[str]) -> None:
    rc = main(argv)
    assert rc == 0, f"ccpm {' '.join(argv)} exited {rc}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run synth, validate, panel, compare and gaming twice (folders ``a`` and ``b``)."""
    root = tmp_path_factory.mktemp("repro")
    out = {}
    for tag in ("a", "b"):
        d = root / tag
        _run(["synth", "--out", str(d / "synth"), "--agents", "24", "--days", "31",
              "--seed", "5", "--quiet"])
        out[tag] = d
    src = root / "a" / "synth"  # every later command reads the same input files
    for tag in ("a", "b"):
        d = root / tag
        _run(["validate", "--calls", str(src / "calls.parquet"), "--roster",
              str(src / "roster.csv"), "--ratings", str(src / "ratings_360.csv"),
              "--out", str(d / "validate"), "--quiet"])
        _run(["panel", "--calls", str(src / "calls.parquet"), "--out",
              str(d / "panel" / "panel.parquet")])
        _run(["gaming", "--calls", str(src / "calls.parquet"), "--seed", "3",
              "--okr", str(src / "okr.yml"), "--ratings", str(src / "ratings_360.csv"),
              "--roster", str(src / "roster.csv"), "--out", str(d / "gaming")])
        _run(["compare", "--calls", str(src / "calls.parquet"), "--ratings",
              str(src / "ratings_360.csv"), "--okr", str(src / "okr.yml"), "--truth",
              str(src / "truth.csv"), "--n-boot", "40", "--no-figures",
              "--out", str(d / "compare")])
    return root


def _files(d: Path) -> dict[str, Path]:
    return {str(p.relative_to(d)): p for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix in _COMPARED and not p.name.endswith("manifest.json")}


@pytest.mark.parametrize("command", ["synth", "validate", "panel", "gaming", "compare"])
def test_outputs_byte_identical(runs, command):
    a, b = _files(runs / "a" / command), _files(runs / "b" / command)
    assert a, f"{command} wrote nothing to compare"
    assert sorted(a) == sorted(b)
    assert any(k.endswith((".csv", ".parquet")) for k in a)
    differ = [k for k in a if file_sha256(a[k]) != file_sha256(b[k])]
    assert not differ, f"{command}: outputs differ between identical runs: {differ}"


@pytest.mark.parametrize("command", ["synth", "validate", "panel"])
def test_parquet_metadata_has_no_paths_or_times(runs, command):
    d = runs / "a" / command
    files = sorted(d.rglob("*.parquet"))
    assert files
    today = _dt.date.today().isoformat().encode()
    for f in files:
        md = pq.read_metadata(f)
        meta = dict(md.metadata or {})
        blobs = [k + b"=" + v for k, v in meta.items()]
        if b"ARROW:schema" in meta:  # the serialized schema repeats the metadata, base64
            blobs.append(base64.b64decode(meta[b"ARROW:schema"]))
        blobs.append((md.created_by or "").encode())
        for blob in blobs:
            assert str(runs).encode() not in blob, f"{f.name}: metadata embeds a path: {blob!r}"
            assert b"/tmp" not in blob and os.sep.encode() + b"home" not in blob, blob[:200]
            assert not _ISO.search(blob) or today not in blob, \
                f"{f.name}: metadata embeds a timestamp: {blob[:200]!r}"


@pytest.mark.parametrize("command, name", [
    ("synth", "manifest.json"), ("validate", "manifest.json"), ("gaming", "manifest.json"),
    ("compare", "manifest.json"), ("panel", "panel.parquet.manifest.json"),
])
def test_manifest_written_and_stable(runs, command, name):
    ma = json.loads((runs / "a" / command / name).read_text(encoding="utf-8"))
    mb = json.loads((runs / "b" / command / name).read_text(encoding="utf-8"))
    for key in ("ccpm_version", "command", "parameters", "inputs", "outputs", "rows",
                "packages", "engine", "seed", *VOLATILE_KEYS):
        assert key in ma, key
    assert ma["command"] == command
    assert {"pandas", "numpy", "duckdb", "pyarrow", "python"} <= set(ma["packages"])
    # outputs: every file written beside the manifest, with its true size and hash
    listed = {r["file"]: r for r in ma["outputs"]}
    on_disk = _files(runs / "a" / command)
    assert set(listed) == set(on_disk)
    for name, p in on_disk.items():
        assert listed[name]["sha256"] == file_sha256(p)
        assert listed[name]["bytes"] == p.stat().st_size
    for r in ma["inputs"]:
        assert r["sha256"] == file_sha256(r["file"])
    # two runs: equal apart from the times and the output folder typed on the command line
    sa, sb = stable_view(ma), stable_view(mb)
    sa["parameters"].pop("out"), sb["parameters"].pop("out")
    assert sa == sb
    assert ma["started_utc"] <= ma["finished_utc"]


def test_manifest_rows_match_outputs(runs):
    m = json.loads((runs / "a" / "validate" / "manifest.json").read_text(encoding="utf-8"))
    valid = pq.read_metadata(runs / "a" / "validate" / "valid.parquet").num_rows
    assert m["rows"]["calls"]["valid"] == valid
    assert m["rows"]["calls"]["rows_read"] == valid + m["rows"]["calls"]["quarantined"]
    s = json.loads((runs / "a" / "synth" / "manifest.json").read_text(encoding="utf-8"))
    assert s["seed"] == 5
    assert s["rows"]["calls"] == pq.read_metadata(
        runs / "a" / "synth" / "calls.parquet").num_rows


def test_gaming_identical_across_hash_seeds(runs, tmp_path):
    """Set/dict iteration order differs between processes with different PYTHONHASHSEED;
    the flags must not depend on it."""
    src = runs / "a" / "synth"
    digests = []
    for hs in ("1", "2"):
        out = tmp_path / f"g{hs}"
        env = {**os.environ, "PYTHONHASHSEED": hs}
        r = subprocess.run([sys.executable, "-m", "analysis", "gaming", "--calls",
                            str(src / "calls.parquet"), "--seed", "3", "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append({k: file_sha256(p) for k, p in _files(out).items()})
    assert digests[0] == digests[1]


@pytest.mark.parametrize("module", ["analysis.panel", "analysis.gaming._context"])
def test_same_numbers_whatever_duckdb_threads(runs, monkeypatch, module):
    """Parallel float sums can depend on the thread count; the outputs must not."""
    import importlib

    import duckdb
    import pandas as pd

    mod = importlib.import_module(module)
    real = duckdb.connect
    src = runs / "a" / "synth" / "calls.parquet"
    results = []
    for threads in (1, 8):
        def connect(*a, _n=threads, **kw):
            con = real(*a, **kw)
            con.execute(f"SET threads = {_n}")
            return con

        monkeypatch.setattr(duckdb, "connect", connect)  # wherever the module connects
        if module == "analysis.panel":
            results.append(mod.build_panel(str(src)))
        else:
            from analysis.gaming import run_checks

            results.append(run_checks(str(src), options={"seed": 3}).flags)
        monkeypatch.setattr(duckdb, "connect", real)
    pd.testing.assert_frame_equal(results[0], results[1], check_exact=True)
