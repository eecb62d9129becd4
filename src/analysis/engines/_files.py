"""Where the calls are: Parquet paths from a file, folder or glob (shared by every engine)."""

from __future__ import annotations

from pathlib import Path

from .._paths import glob_files, is_pattern
from ..errors import InputError

__all__ = ["ids_checked_unique", "resolve_calls_paths"]


def resolve_calls_paths(calls) -> list[str]:
    """Parquet files named by a path, a folder or a glob (or a list of those).

    A folder holding ``valid.parquet`` (from ``ccpm validate``) or ``calls.parquet``
    (from ``ccpm synth``) means that file; any other folder means all its
    ``*.parquet`` files.

    Raises
    ------
    InputError
        Nothing matches, the file is missing, or it is not Parquet.
    """
    if isinstance(calls, (list, tuple)):
        out: list[str] = []
        for c in calls:
            out.extend(resolve_calls_paths(c))
        return out
    s = str(calls)
    if is_pattern(s):
        files = [str(f) for f in glob_files(s)]
        if not files:
            raise InputError(f"no files match {s}")
        return files
    p = Path(s)
    if p.is_dir():
        for name in ("valid.parquet", "calls.parquet"):
            if (p / name).is_file():
                return [str(p / name)]
        files = sorted(str(f) for f in p.glob("*.parquet"))
        if not files:
            raise InputError(f"no Parquet files in folder {p}")
        return files
    if not p.exists():
        raise InputError(f"calls file not found: {p}")
    if p.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(
            f"{p.name} is not Parquet: validate it first (ccpm validate) or pass --mapping"
        )
    return [str(p)]


def ids_checked_unique(files: list[str]) -> bool:
    """True for one Parquet file that ccpm wrote with unique call ids.

    ``ccpm validate`` (and the loader's spill) quarantine duplicate call ids and
    ``ccpm synth`` makes unique ones; they mark the file with
    :data:`~analysis.contract.CALL_ID_UNIQUE_META`, so the exact recount (a hash
    aggregate over every id: about 2.7 s of CPU at 10 M calls) can be skipped. Several
    files are never taken as checked: ids unique within each may repeat across them.
    """
    if len(files) != 1:
        return False
    import pyarrow.parquet as pq

    from ..contract import CALL_ID_UNIQUE_META

    try:
        meta = pq.read_schema(files[0]).metadata or {}
    except (OSError, ValueError):
        return False
    return meta.get(CALL_ID_UNIQUE_META) == b"true"
