"""Temporary working copies of raw rows, named so that a killed run's are found and removed.

Reading an export makes raw copies under ``TMPDIR`` (the checked rows spilled to Parquet,
a decompressed or transcoded copy of the input, the quarantine before it is moved into
place, the calls a what-if rebuilds the panel from...). They hold raw ids and are removed
when the command ends; a command killed outright (SIGKILL, the out-of-memory killer) cannot
remove them. So every one is made here, named ``<TMPDIR>/ccpm-spill-<host>@<pid>-<kind>-…``
(a folder of mode 0700 or a file of mode 0600, as :mod:`tempfile` makes them), and
:func:`remove_stale` (run by every ccpm command, and before each new copy is made) removes
those of processes on this host that no longer run. Copies of live processes, of other
hosts (a ``TMPDIR`` shared over the network) and of other users are kept.

The ``@`` ends the host: a host name's slug cannot hold one, so host ``web``'s clean-up
cannot take host ``web-12``'s copies for its own. Until 2026-12-08 a ``-`` ended it
(``ccpm-spill-web-12-345-…`` read, on host ``web``, as process 12's); copies named that
way are still removed when their process is gone, as then.

Light on purpose (standard library only): the command line calls :func:`remove_stale`
before anything else is imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .outdir import _HOST, _alive

__all__ = ["PREFIX", "HOST", "prefix", "raw_tempdir", "raw_mkdtemp", "raw_mkstemp",
           "remove_stale"]

#: Prefix of every working copy (``<TMPDIR>/ccpm-spill-<host>@<pid>-<kind>-<random>``).
PREFIX = "ccpm-spill-"
#: This host as the output folders' temporary names spell it (:func:`analysis.outdir.scratch_path`).
HOST = _HOST


def prefix(kind: str) -> str:
    """``ccpm-spill-<host>@<pid>-<kind>-``: the name of this process's working copies."""
    return f"{PREFIX}{HOST}@{os.getpid()}-{kind}-"


def raw_tempdir(kind: str) -> tempfile.TemporaryDirectory:
    """A private temporary folder for raw rows (removed with the returned object, or on
    leaving its ``with`` block); the stale copies of dead processes are removed first."""
    remove_stale()
    return tempfile.TemporaryDirectory(prefix=prefix(kind), ignore_cleanup_errors=True)


def raw_mkdtemp(kind: str) -> str:
    """:func:`tempfile.mkdtemp` for raw rows (the caller removes it)."""
    remove_stale()
    return tempfile.mkdtemp(prefix=prefix(kind))


def raw_mkstemp(kind: str, suffix: str = "") -> tuple[int, str]:
    """:func:`tempfile.mkstemp` for raw rows (the caller removes it)."""
    remove_stale()
    return tempfile.mkstemp(prefix=prefix(kind), suffix=suffix)


def remove_stale() -> list[Path]:
    """Remove the working copies of ccpm processes on this host that no longer run; return
    them. Only the user's own (owner checked), never through a symbolic link."""
    gone = []
    try:
        tmp = Path(tempfile.gettempdir())
        # this host's, and those named before the "@" (2026-12-08; module docstring)
        entries = [*tmp.glob(f"{PREFIX}{HOST}@*"),
                   *(p for p in tmp.glob(f"{PREFIX}{HOST}-*-*") if "@" not in p.name)]
    except OSError:
        return gone
    for p in entries:
        pid = p.name[len(PREFIX) + len(HOST) + 1:].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            st = p.lstat()
            if st.st_uid != os.getuid():
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()
        except OSError:
            continue
        if not os.path.lexists(p):
            gone.append(p)
    return gone
