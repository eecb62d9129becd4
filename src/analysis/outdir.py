"""Complete-or-absent outputs, and never deleting what ccpm did not write.

Every command that writes a folder (``validate``, ``gaming``, ``compare``, ``report``,
each ``batch`` job) writes it through :func:`staged_output`::

    with staged_output(args.out) as tmp:
        ...write every file into tmp, the manifest last...

The files go into a temporary sibling folder (``.<out>.tmp-<host>-<pid>``, same file
system), are flushed to disk (fsync, the manifest last) and the folder is then renamed into
place: the previous output is renamed aside, the new one renamed in, and the previous one
removed. Whatever stops the command before the rename (an exception, a full disk,
Ctrl-C) removes the temporary folder and leaves the previous complete output, or nothing;
a killed process leaves a temporary folder that the next run beside it removes
(:func:`clean_stale`). ``panel`` writes a single file and its ``.manifest.json`` the same
way through :func:`staged_file`.

Every folder ccpm writes holds a marker, :data:`MARKER` (``.ccpm-output``), listing the
files it wrote. An output path is refused (:class:`OutputError`, one line, exit 2) when
replacing it could delete something ccpm did not write (:func:`check_output_path`): the
current folder, a folder above it, the home folder, the file-system root or the ccpm
checkout; an existing file where a folder is wanted (or the reverse); an existing folder
that holds files but no marker; a marked folder holding files its marker does not list
(a user's notes put into an output folder), unless they are single-file outputs of ccpm
(``X`` beside ``X.manifest.json``, as ``ccpm panel --out out/panel.parquet`` writes); an
output file changed after ccpm wrote it (its size or SHA-256 differs from the manifest's:
:func:`edited_files`); a folder or file that holds one of the run's inputs
(:func:`check_inputs_outside`).
An output written by a ccpm version before the marker counts as ccpm's when its
``manifest.json`` (a ccpm manifest) accounts for every file in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from .errors import CcpmError

__all__ = ["MARKER", "OutputError", "staged_output", "staged_file", "check_output_path",
           "check_output_file", "check_inputs_outside", "edited_files", "clean_stale", "foreign_files",
           "other_writers", "sync_tree", "fsync_path",
           "scratch_path", "write_marker"]

#: Marker file in every folder ccpm writes: JSON ``{"written_by": "ccpm", "files": [...]}``.
MARKER = ".ccpm-output"
#: Names that are ccpm's wherever they are in a marked folder (the batch stamp).
_ALWAYS_OURS = frozenset({MARKER, ".ccpm-stamp.json"})
_SIDE_MANIFEST = ".manifest.json"


class OutputError(CcpmError):
    """An output path that ccpm will not write to (it could delete a user's files)."""


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text)).strip("-")


_HOST = _slug(socket.gethostname()) or "host"


def scratch_path(out: Path, kind: str, pid: int | None = None) -> Path:
    """``.<out>.<kind>-<host>-<pid>`` beside ``out`` (kind: ``tmp`` or ``old``)."""
    return out.with_name(f".{out.name}.{kind}-{_HOST}-{pid or os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def clean_stale(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders beside ``out`` left by killed runs on this host (their
    process is gone); return them. Folders of live processes or other hosts are kept."""
    out = Path(out)
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        prefix = f".{out.name}.{kind}-"
        for p in out.parent.iterdir():
            if not p.name.startswith(prefix):
                continue
            host, _, pid = p.name[len(prefix):].rpartition("-")
            if not pid.isdigit() or (host and host != _HOST) or _alive(int(pid)):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            if not p.exists():
                removed.append(p)
    return removed


def other_writers(out: str | os.PathLike) -> list[int]:
    """Live processes on this host writing ``out`` now: the pids of their temporary
    folders beside it (:func:`scratch_path`), this process's left out."""
    out = Path(out)
    prefix = f".{out.name}.tmp-{_HOST}-"
    if not out.parent.is_dir():
        return []
    pids = []
    for p in out.parent.iterdir():
        pid = p.name[len(prefix):] if p.name.startswith(prefix) else ""
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            pids.append(int(pid))
    return sorted(pids)


def _claim(final: Path, tmp: Path) -> None:
    """Make ``tmp`` (this run's temporary folder for ``final``), then refuse if another
    live run on this host is writing ``final`` too: two runs into one output each moved
    theirs into place and the last silently replaced the first (with its manifest). Made
    first, checked after: of two runs starting together one refuses, or both; never
    neither."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    others = other_writers(final)
    if others:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(
            f"{final}: another ccpm run (process {others[0]}) is writing this output now; "
            "wait for it to finish or choose another output")


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to disk; an error names the path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    finally:
        os.close(fd)


def _is_manifest(name: str) -> bool:
    return name == "manifest.json" or name.endswith(_SIDE_MANIFEST)


def sync_tree(root: Path) -> dict[str, int]:
    """fsync every file and folder under ``root`` (manifests last); return
    ``{relative path: size}``."""
    sizes = {}
    later = []
    for dirpath, _dirs, filenames in os.walk(root):
        d = Path(dirpath)
        for name in sorted(filenames):
            f = d / name
            if f.is_symlink():
                continue
            if _is_manifest(name):
                later.append(f)
                continue
            fsync_path(f)
            sizes[f.relative_to(root).as_posix()] = f.stat().st_size
    for f in later:
        fsync_path(f)
        sizes[f.relative_to(root).as_posix()] = f.stat().st_size
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        fsync_path(Path(dirpath))
    return dict(sorted(sizes.items()))


def write_marker(folder: Path, files: list[str] | None = None) -> Path:
    """Write :data:`MARKER` in ``folder``; ``files`` (relative paths) are those ccpm wrote
    there (None: the folder is being built, everything in it is ccpm's)."""
    body: dict = {"written_by": "ccpm"}
    if files is not None:
        body["files"] = sorted(f for f in files if f != MARKER)
    path = folder / MARKER
    path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    return path


def _marker_files(path: Path) -> set[str] | None:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        files = body.get("files")
    except (OSError, ValueError, AttributeError):
        return set()  # unreadable: nothing listed, so every file counts as foreign
    return None if files is None else {str(f) for f in files}


#: Folders a report writes whose files its manifest does not list one by one.
_REPORT_DIRS = ("build/", "notebooks/", "tables/", "inputs/")


def _legacy_listing(folder: Path) -> set[str] | None:
    """What an output written before the marker existed (a ``manifest.json`` of ccpm
    naming its outputs) says ccpm wrote there; None when it is not such an output."""
    try:
        man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(man, dict) or not ({"ccpm_version", "ccpm_report"} & set(man)):
        return None
    listed = {"manifest.json", "report.log"}
    for rec in man.get("outputs") or []:
        if isinstance(rec, dict) and isinstance(rec.get("file"), str):
            listed.add(rec["file"])
    if "ccpm_report" in man:
        listed.update(_REPORT_DIRS)
    return listed


def _listed(rel: str, allowed: set[str]) -> bool:
    return rel in allowed or any(rel.startswith(a) for a in allowed if a.endswith("/"))


def foreign_files(folder: str | os.PathLike, *, limit: int = 5) -> list[Path]:
    """Files under ``folder`` that ccpm did not write (at most ``limit``).

    A file is ccpm's when the marker of its nearest marked folder lists it (or lists
    nothing: a folder being built), when its name is a ccpm name (the marker, a batch
    stamp), or when it is a single-file output beside its ``.manifest.json`` (or that
    manifest). Without any marker above it, every file is foreign.
    """
    found: list[Path] = []

    def visit(d: Path, owner: Path | None, allowed: set[str] | None) -> None:
        if (d / MARKER).is_file():
            owner, allowed = d, _marker_files(d / MARKER)
        elif owner is None and (legacy := _legacy_listing(d)) is not None:
            owner, allowed = d, legacy  # written by ccpm before the marker existed
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            entries = []
        for e in entries:
            if len(found) >= limit:
                return
            p = Path(e.path)
            if e.is_dir(follow_symlinks=False):
                visit(p, owner, allowed)
                continue
            if owner is not None:
                rel = p.relative_to(owner).as_posix()
                if allowed is None or _listed(rel, allowed) or e.name in _ALWAYS_OURS:
                    continue
                if (d / (e.name + _SIDE_MANIFEST)).is_file() or (
                        e.name.endswith(_SIDE_MANIFEST)
                        and (d / e.name[: -len(_SIDE_MANIFEST)]).exists()):
                    continue
            found.append(p)

    visit(Path(folder), None, None)
    return found


def _protected(out: Path) -> str | None:
    """Why ``out`` may never be replaced, or None."""
    from .config import REPO_ROOT

    places = {os.getcwd: "the current folder", Path.home: "the home folder",
              lambda: Path(out.anchor or "/"): "the file-system root",
              lambda: REPO_ROOT: "the ccpm checkout"}
    for where, what in places.items():
        try:
            place = Path(where()).resolve()
        except (OSError, RuntimeError, KeyError):  # no cwd, no home: nothing to protect
            continue
        if out == place:
            return f"is {what}"
        if out in place.parents:
            return f"holds {what}"
    return None


def _real(out: str | os.PathLike) -> Path:
    p = Path(os.path.expanduser(os.fspath(out)))
    return Path(os.path.abspath(p)).resolve()


def check_output_path(out: str | os.PathLike) -> Path:
    """The absolute output folder ``out``, or :class:`OutputError` when writing it could
    delete what ccpm did not write (see the module docstring)."""
    if os.fspath(out) in ("", ".", "..") or str(out).rstrip("/") in ("", ".", ".."):
        raise OutputError(f"output folder {str(out)!r} is the current folder or above it: "
                          "give a folder of its own (ccpm replaces the whole folder)")
    p = _real(out)
    why = _protected(p)
    if why:
        raise OutputError(f"output folder {out} {why}: give a folder of its own "
                          "(ccpm replaces the whole folder)")
    if p.exists() and not p.is_dir():
        raise OutputError(f"output folder {out} is a file: give a folder")
    if p.is_dir():
        if not (p / MARKER).is_file() and _legacy_listing(p) is None:
            first = next(iter(sorted(os.listdir(p))), None)
            if first is not None:
                raise OutputError(f"output folder {out} is not empty and was not written by "
                                  f"ccpm (it holds {first}, and no {MARKER} marker): give a "
                                  "new or empty folder (ccpm replaces the whole folder)")
        foreign = foreign_files(p, limit=1)
        if foreign:
            rel = foreign[0].relative_to(p).as_posix()
            raise OutputError(f"output folder {out} holds a file ccpm did not write ({rel}): "
                              "move it away or give another folder (ccpm replaces the "
                              "whole folder)")
        edited = edited_files(p, limit=1)
        if edited:
            raise OutputError(f"output folder {out}: {edited[0]} was changed after ccpm wrote "
                              "it (its checksum differs from the manifest's): move it away or "
                              "give another folder (ccpm replaces the whole folder)")
    return p


#: Output files larger than this are compared by size only (hashing a large Parquet file
#: at every rerun would cost seconds; an edit by hand is of a table or a text).
_HASH_LIMIT = 64 * 2**20


def edited_files(folder: str | os.PathLike, *, limit: int = 5) -> list[str]:
    """Files of ``folder``'s ``manifest.json`` outputs that changed after ccpm wrote them.

    A user who corrects a row of ``gaming_agents.csv`` made it theirs: rerunning into the
    folder replaced it without a word. Files whose size differs from the manifest's, or
    (up to :data:`_HASH_LIMIT` bytes) whose SHA-256 does; missing files are not edits.
    """
    from .manifest import file_sha256

    folder = Path(folder)
    try:
        doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for rec in doc.get("outputs") or [] if isinstance(doc, dict) else []:
        if not isinstance(rec, dict) or not rec.get("file") or not rec.get("sha256"):
            continue
        f = folder / str(rec["file"])
        try:
            if not f.is_file() or folder.resolve() not in f.resolve().parents:
                continue
            size = f.stat().st_size
            if rec.get("bytes") is not None and int(rec["bytes"]) != size:
                out.append(str(rec["file"]))
            elif size <= _HASH_LIMIT and file_sha256(f) != str(rec["sha256"]):
                out.append(str(rec["file"]))
        except (OSError, ValueError):
            continue
        if len(out) >= limit:
            break
    return out


def check_inputs_outside(out: str | os.PathLike, inputs: dict[str, object]) -> None:
    """:class:`OutputError` when an input of the run lies in the output ``out`` (or is it).

    ``inputs`` maps an option (``--calls``) to the path given; names that are not existing
    paths (a built-in mapping name, a glob) are skipped. ccpm replaces the whole output
    folder, so ``ccpm gaming --calls out/valid.parquet --out out`` deleted the validated
    calls and their quarantine (the only record of the bad rows), and ``--out`` a synthetic
    center's folder replaced the center.
    """
    dest = _real(out)
    for option, value in inputs.items():
        if value is None or value == "":
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            try:
                src = _real(os.fspath(v))
            except (TypeError, OSError, RuntimeError):
                continue
            if not src.exists():
                continue
            if src == dest or dest in src.parents:
                raise OutputError(f"output {out} holds this run's input ({option} {v}): ccpm "
                                  "replaces the whole output, which would delete it; give "
                                  "another --out")


def check_output_file(out: str | os.PathLike) -> Path:
    """The absolute output file ``out``, or :class:`OutputError` when it is a folder or
    an existing file ccpm did not write (no ``<out>.manifest.json`` beside it)."""
    p = _real(out)
    if p.is_dir():
        raise OutputError(f"output {out} is a folder: give a file name (e.g. "
                          f"{Path(out) / 'panel.parquet'})")
    if p.exists() and not p.with_name(p.name + _SIDE_MANIFEST).is_file():
        raise OutputError(f"output file {out} exists and was not written by ccpm (no "
                          f"{p.name}{_SIDE_MANIFEST} beside it): remove it or give another "
                          "name")
    return p


@contextlib.contextmanager
def staged_output(out: str | os.PathLike) -> Iterator[Path]:
    """Write a folder output completely or not at all.

    Parameters
    ----------
    out : path
        The output folder. Checked by :func:`check_output_path` first.

    Yields
    ------
    Path
        A new, empty temporary folder beside ``out`` (same file system) holding the
        marker; write every output there, the manifest last.

    Notes
    -----
    On leaving the block without an exception every file is flushed (manifests last),
    the marker rewritten with the list of files, and the folder renamed into place (the
    previous output renamed aside, then removed). On an exception (including
    KeyboardInterrupt) the temporary folder is removed and ``out`` is as it was.

    Raises
    ------
    OutputError
        ``out`` may not be written (see :func:`check_output_path`).
    """
    final = check_output_path(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final)
    tmp = scratch_path(final, "tmp")
    _claim(final, tmp)
    old = None
    try:
        write_marker(tmp)
        yield tmp
        files = sync_tree(tmp)
        write_marker(tmp, list(files))
        fsync_path(tmp / MARKER)
        fsync_path(tmp)
        check_output_path(out)  # again: the folder may have changed while we worked
        if final.exists():
            old = scratch_path(final, "old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        tmp = None
        fsync_path(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            old = None
    finally:
        if old is not None and not final.exists():  # the swap did not finish: put it back
            with contextlib.suppress(OSError):
                os.replace(old, final)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_file(out: str | os.PathLike) -> Iterator[Path]:
    """Write a single-file output and its ``<name>.manifest.json`` completely or not at all.

    Yields a temporary folder beside ``out``: write ``<name>`` and ``<name>.manifest.json``
    there. On success both are flushed and renamed into place (the previous pair renamed
    aside first, restored if the renames fail); on an exception nothing of the run stays.
    """
    final = check_output_file(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final)
    clean_stale(final.with_name(final.name + _SIDE_MANIFEST))
    tmp = scratch_path(final, "tmp")
    _claim(final, tmp)
    moved: list[tuple[Path, Path]] = []   # (old aside, its place)
    placed: list[Path] = []
    try:
        yield tmp
        names = sorted(sync_tree(tmp), key=_is_manifest)  # the manifest goes in last
        check_output_file(out)
        for name in names:
            dest = final.parent / name
            if dest.exists():
                aside = scratch_path(dest, "old")
                os.replace(dest, aside)
                moved.append((aside, dest))
        for name in names:
            os.replace(tmp / name, final.parent / name)
            placed.append(final.parent / name)
        fsync_path(final.parent)
        for aside, _ in moved:
            aside.unlink(missing_ok=True)
        moved = []
    except BaseException:
        for p in placed:
            with contextlib.suppress(OSError):
                p.unlink()
        for aside, dest in moved:
            with contextlib.suppress(OSError):
                os.replace(aside, dest)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
