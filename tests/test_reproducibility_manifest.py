"""``analysis.manifest``: hashes checked against hashlib, times kept apart, atomic write."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from importlib import metadata

import pytest

from analysis.manifest import (
    MANIFEST_NAME,
    VOLATILE_KEYS,
    build_manifest,
    file_sha256,
    stable_view,
    write_manifest,
)


def test_manifest_records_inputs_outputs_and_parameters(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_bytes(b"x,y\n1,2\n")
    (src / "b.csv").write_bytes(b"\x00" * 3000)
    (src / ".hidden").write_bytes(b"skip me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.csv").write_text("k\n1\n", encoding="utf-8")
    args = argparse.Namespace(command="demo", func=print, calls=str(src), seed=9,
                              engine="duckdb", out=str(out))
    t0 = time.time()
    path = write_manifest(out, command="demo", args=args, inputs=[src, None, src / "a.csv"],
                          outputs=[out / "r.csv"], rows={"rows_read": 2}, started=t0)
    assert path == out / MANIFEST_NAME
    assert not (out / (MANIFEST_NAME + ".part")).exists()
    m = json.loads(path.read_text(encoding="utf-8"))
    # inputs: the folder expanded (hidden files skipped), duplicates once, hashes by hashlib
    assert [r["file"] for r in m["inputs"]] == [str((src / n).resolve()) for n in ("a.csv", "b.csv")]
    for r in m["inputs"]:
        data = open(r["file"], "rb").read()
        assert r["sha256"] == hashlib.sha256(data).hexdigest()
        assert r["bytes"] == len(data)
    assert m["outputs"] == [{"file": "r.csv", "bytes": 4,
                             "sha256": hashlib.sha256(b"k\n1\n").hexdigest()}]
    assert m["parameters"] == {"calls": str(src), "seed": 9, "engine": "duckdb", "out": str(out)}
    assert (m["command"], m["seed"], m["engine"], m["rows"]) == ("demo", 9, "duckdb",
                                                                  {"rows_read": 2})
    assert m["packages"]["numpy"] == metadata.version("numpy")
    assert m["started_utc"] <= m["finished_utc"] and m["elapsed_s"] >= 0


def test_stable_view_drops_only_times(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    a = build_manifest(command="c", args={"p": 1}, inputs=[f], started=1.0)
    b = build_manifest(command="c", args={"p": 1}, inputs=[f], started=2.0)
    assert a != b
    assert stable_view(a) == stable_view(b)
    assert set(a) - set(stable_view(a)) == set(VOLATILE_KEYS)
    f.write_bytes(b"abd")  # one byte changed: the manifest sees it
    c = build_manifest(command="c", args={"p": 1}, inputs=[f], started=1.0)
    assert stable_view(c) != stable_view(a)


def test_file_sha256_large_file_in_chunks(tmp_path):
    f = tmp_path / "big.bin"
    data = bytes(range(256)) * 10_000  # 2.5 MB: several 1 MiB chunks
    f.write_bytes(data)
    assert file_sha256(f) == hashlib.sha256(data).hexdigest()
    assert file_sha256(f, chunk=7) == hashlib.sha256(data).hexdigest()


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_hash_ahead_gives_the_same_records_and_notices_a_change(tmp_path, monkeypatch):
    import os
    import threading

    from analysis import manifest as man

    a, b = tmp_path / "a.csv", tmp_path / "d"
    a.write_bytes(b"x,y\n1,2\n" * 1000)
    b.mkdir()
    (b / "one.csv").write_bytes(b"q\n1\n")
    want = man.file_records([a, b])
    hashed_by = []
    real = man.file_sha256

    def spy(path, *args, **kw):
        hashed_by.append(threading.current_thread().name)
        return real(path, *args, **kw)

    monkeypatch.setattr(man, "file_sha256", spy)
    man.hash_ahead([a, b, None])
    # read at once, while the thread may still be hashing: the reader waits for it
    assert man.file_records([a, b]) == want
    assert hashed_by == ["ccpm-hash-ahead"] * 2  # digests taken from the thread, not redone
    monkeypatch.setattr(man, "file_sha256", real)
    assert not any(k[0] in (str(a.resolve()), str((b / "one.csv").resolve()))
                   for k in man._AHEAD)  # each used once
    man.hash_ahead([a])
    for slot in list(man._AHEAD.values()):
        slot[0].join()
    a.write_bytes(b"x,y\n3,4\n" * 1000)  # same size, changed after it was hashed
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rec = man.file_records([a])[0]
    assert rec["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()
    man._AHEAD.clear()
