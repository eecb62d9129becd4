"""Run manifests: what a command read, with which parameters and software, and what it wrote.

Every command that writes outputs puts a ``manifest.json`` beside them::

    from analysis.manifest import write_manifest
    write_manifest(out_dir, command="panel", args=args, inputs=[args.calls],
                   outputs=[out_file], rows={"rows_read": n}, started=t0)

The manifest holds the ccpm version, the command and its parameters, each input file with
its size and SHA-256, each output file with its size and SHA-256, row counts where known,
the versions of the key libraries, the engine, the seed, the start/finish times (UTC) and
under ``privacy`` whether ids in the outputs are pseudonymized (``--pseudonymize``: the
method and a fingerprint of the salt, never the salt or a raw id; the parameters, row
counts and extra entries then pass through the same pseudonymizer as the outputs).
Only ``started_utc``, ``finished_utc`` and ``elapsed_s`` (see :data:`VOLATILE_KEYS`) change
between two runs of the same command on the same inputs; :func:`stable_view` drops them, so
two manifests can be compared for equality.

The file is written atomically (``manifest.json.part`` then :func:`os.replace`), so a run
that dies before the end never leaves a manifest that looks complete.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from ._paths import glob_files, is_pattern

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "VOLATILE_KEYS",
    "KEY_PACKAGES",
    "file_sha256",
    "file_records",
    "hash_ahead",
    "package_versions",
    "build_manifest",
    "write_manifest",
    "stable_view",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
#: Keys whose values differ from run to run (times); excluded from any identity comparison.
VOLATILE_KEYS = ("started_utc", "finished_utc", "elapsed_s")
#: The libraries whose versions decide the numbers a run produces.
KEY_PACKAGES = (
    "ccpm", "pandas", "numpy", "scipy", "statsmodels", "pingouin", "duckdb", "pyarrow",
    "ruptures",
)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


#: Hashes started ahead (:func:`hash_ahead`): (path, size, mtime_ns) -> [thread, digest]
_AHEAD: dict[tuple[str, int, int], list] = {}


def _stat_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


def hash_ahead(paths: Iterable[str | os.PathLike | None]) -> None:
    """Start hashing these input files (folders and globs expanded) in a background
    thread, so that the manifest written at the end need not read them again then: a
    command calls this first, and the SHA-256 (which lets go of the GIL) runs on another
    core while the command imports its libraries and reads the files itself.
    :func:`file_records` takes a digest from here only when the file's size and
    modification time are still those seen before and after it was hashed; else (or
    if hashing failed) it hashes the file as before."""
    import threading

    files = []
    for p in paths:
        if p is None or p == "":
            continue
        for f in _expand(p):
            key = _stat_key(f.resolve())
            if key is not None and key not in _AHEAD:
                files.append(key)
    if not files:
        return

    def run() -> None:
        # the thread fills its own slots: the reader may already have taken a slot out
        # of _AHEAD (and be waiting on this thread for its digest)
        for key, slot in slots.items():
            try:
                digest = file_sha256(key[0], chunk=1 << 23)  # few GIL hand-overs
            except OSError:
                continue
            if _stat_key(Path(key[0])) == key:
                slot[1] = digest

    th = threading.Thread(target=run, name="ccpm-hash-ahead", daemon=True)
    slots = {key: [th, None] for key in files}
    _AHEAD.update(slots)
    th.start()


def _sha256_of(r: Path) -> str:
    key = _stat_key(r)
    slot = _AHEAD.pop(key, None) if key is not None else None
    if slot is not None:
        slot[0].join()
        if slot[1] is not None and _stat_key(r) == key:
            return slot[1]
    return file_sha256(r)


def _expand(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    if is_pattern(path):
        return glob_files(path)
    return [p] if p.is_file() else []


def file_records(paths: Iterable[str | os.PathLike | None], *,
                 base: str | os.PathLike | None = None) -> list[dict]:
    """One record per file (folders and globs expanded): name, size and SHA-256.

    Parameters
    ----------
    paths : iterable of path-like or None
        Files, folders or globs; ``None`` entries and missing files are skipped.
    base : path-like, optional
        Files under ``base`` are named relative to it (outputs); others by their
        absolute path (inputs).

    Returns
    -------
    list of dict
        ``{"file", "bytes", "sha256"}`` in the order given (folders sorted).
    """
    out, seen = [], set()
    base_p = Path(base).resolve() if base is not None else None
    for p in paths:
        if p is None or p == "":
            continue
        for f in _expand(p):
            r = f.resolve()
            if r in seen:
                continue
            seen.add(r)
            name = str(r)
            if base_p is not None and r.is_relative_to(base_p):
                name = str(r.relative_to(base_p))
            out.append({"file": name, "bytes": r.stat().st_size, "sha256": _sha256_of(r)})
    return out


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str]:
    """Versions of Python and of the installed packages among ``names``."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    return repr(v) if callable(v) else str(v)


def _utc(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_manifest(*, command: str, args: argparse.Namespace | Mapping | None = None,
                   inputs: Iterable[str | os.PathLike | None] = (),
                   outputs: Iterable[str | os.PathLike | None] = (),
                   out_dir: str | os.PathLike | None = None,
                   rows: Mapping | None = None, engine: str | None = None,
                   seed: int | None = None, started: float | None = None,
                   extra: Mapping | None = None, privacy=None) -> dict:
    """The manifest of one run as a dict (see the module docstring).

    Parameters
    ----------
    command : str
        The subcommand (``"validate"``, ``"panel"``, ...).
    args : argparse.Namespace or mapping, optional
        Parameters; a Namespace's ``func`` is dropped. Kept as given (paths as typed).
    inputs, outputs : iterable of path-like
        Files read and written (folders and globs expanded). Outputs are named relative
        to ``out_dir`` when under it.
    rows : mapping, optional
        Row counts where known (``rows_read``, ``valid``, ``quarantined``, ...).
    engine : str, optional
        SQL engine; default ``args.engine`` if present, else ``"duckdb"``.
    seed : int, optional
        Random seed; default ``args.seed`` if present.
    started : float, optional
        ``time.time()`` when the run began (default: now).
    extra : mapping, optional
        Further command-specific entries.
    privacy : analysis.privacy.Pseudonymizer, optional
        The run's pseudonymizer when outputs are pseudonymized: recorded (its
        ``record()``) and applied to ``parameters``, ``inputs`` (file names), ``rows``
        and ``extra``. Without it
        the manifest says ``privacy: {"pseudonymized": false}``.

    Returns
    -------
    dict
        ``manifest_version, ccpm_version, command, parameters, engine, seed, inputs,
        outputs, rows, privacy, packages, started_utc, finished_utc, elapsed_s``
        (+ ``extra``).
    """
    from . import __version__

    if isinstance(args, argparse.Namespace):
        params = {k: v for k, v in vars(args).items()
                  if k not in ("func", "command", "staged") and not k.startswith("_")}
        if getattr(args, "_out", None) is not None:  # staged output: the path as typed
            params["out"] = args._out
    else:
        params = dict(args or {})
    params = _jsonable(params)
    if engine is None:
        engine = params.get("engine") or "duckdb"
    if seed is None:
        seed = params.get("seed")
    now = time.time()
    started = now if started is None else started
    man = {
        "manifest_version": MANIFEST_VERSION,
        "ccpm_version": __version__,
        "command": command,
        "parameters": params,
        "engine": engine,
        "seed": seed,
        "inputs": file_records(inputs),
        "outputs": file_records(outputs, base=out_dir),
        "rows": _jsonable(dict(rows or {})),
        "privacy": {"pseudonymized": False},
        "packages": package_versions(),
        "started_utc": _utc(started),
        "finished_utc": _utc(now),
        "elapsed_s": round(now - started, 3),
    }
    if extra:
        man.update(_jsonable(dict(extra)))
    if privacy is not None:
        for k in ("parameters", "inputs", "rows", *(extra or {})):
            man[k] = privacy.obj(man[k])  # ids and input file names (``alice.csv``)
        man["privacy"] = privacy.record()
    return man


def write_manifest(out_dir: str | os.PathLike, *, name: str = MANIFEST_NAME, **kw) -> Path:
    """Build a manifest (keywords of :func:`build_manifest`) and write ``out_dir/<name>``
    (``manifest.json`` unless a command writing a single file names its own, e.g.
    ``panel.parquet.manifest.json``).

    Atomic: written to ``<name>.part`` and renamed. Returns the path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kw.setdefault("out_dir", out)
    man = build_manifest(**kw)
    path = out / name
    tmp = path.with_name(name + ".part")
    tmp.write_text(json.dumps(man, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def stable_view(manifest: Mapping) -> dict:
    """The manifest without its run-time keys (:data:`VOLATILE_KEYS`), for comparisons."""
    return {k: v for k, v in manifest.items() if k not in VOLATILE_KEYS}
