"""Load call records: read, map, check every row against the contract."""

from __future__ import annotations

import os

import pandas as pd

from ..contract import HANDLED_OUTCOMES
from ..errors import InputError
from ._build import Problems, build_columns
from ._checks import CALL_REASONS, check_calls, jitter_note, ts_window  # noqa: F401
from ._mapping import resolve_mapping
from ._result import LoadResult, apply_rules, finish, read_raw

__all__ = ["load_calls", "check_calls", "CALL_REASONS"]


def load_calls(path: str | os.PathLike, mapping=None, *, progress: bool = False,
               chunk_rows: int | None = None) -> LoadResult:
    """Read call records and check every row against the data contract.

    The rows are read and checked in slices by the streaming loader
    (:func:`analysis.load.stream_calls`); this function then holds the results in
    memory. ``ccpm validate`` and the other commands stream to files instead.

    Parameters
    ----------
    path : str or PathLike
        A file, a folder of files or a glob. CSV/TSV in any common delimiter and
        encoding (UTF-8 with or without BOM, GB18030/GBK, ... detected), gzipped
        text, a zip holding one table, Parquet, Excel (.xlsx).
    mapping : None, str, PathLike, dict or Mapping
        ``None`` (columns already named as in the contract), a built-in mapping
        name (``analysis.load.builtin_mappings()``), a YAML file, or a parsed dict.
    progress : bool
        Print a line per file read to stderr.
    chunk_rows : int, optional
        Rows checked at a time (default ``analysis.load._stream.CHUNK_ROWS``); the
        result does not depend on it.

    Returns
    -------
    LoadResult
        ``valid`` has exactly the contract call columns typed as
        ``analysis.contract.CALL_SCHEMA``; ``quarantine`` the rejected rows as read
        plus ``_source_file``, ``_source_row`` and ``reason``;
        ``rows_read == len(valid) + len(quarantine)``.

    Raises
    ------
    InputError
        No such file, empty, not a table, or a required column missing after mapping.
    ConfigError
        A bad mapping (the message names the offending key) or an unknown mapping name.
    """
    import pyarrow.parquet as pq

    from ..workcopy import raw_tempdir
    from ._result import _types_mapper
    from ._stream import stream_calls

    parts: list[pd.DataFrame] = []
    with raw_tempdir("load") as d:
        vp = os.path.join(d, "valid.parquet")
        st = stream_calls(path, mapping, valid_path=vp, quarantine_sink=parts.append,
                          progress=progress, chunk_rows=chunk_rows)
        valid = pq.read_table(vp).to_pandas(types_mapper=_types_mapper, date_as_object=False)
    quarantine = parts[0] if len(parts) == 1 else pd.concat(parts[1:], ignore_index=True)
    return LoadResult(kind="calls", mapping=st.mapping, valid=valid, quarantine=quarantine,
                      rows_read=st.rows_read, sources=st.sources, notes=st.notes)


def load_calls_in_memory(path: str | os.PathLike, mapping=None, *, progress: bool = False
                         ) -> LoadResult:
    """The loader before streaming: every row in pandas at once (kept as the reference
    the streaming loader is tested against; same results)."""
    m = resolve_mapping(mapping, kind="calls")
    raw, sources, read_notes = read_raw(path, m, progress=progress)
    if len(raw) == 0:
        raise InputError(f"{path}: no data rows (header only?)")
    problems = Problems(len(raw))
    apply_rules(raw, m, problems)
    frame, built = build_columns(raw, m, problems)
    absent = frame.attrs.pop("absent_handled", [])
    build_notes = frame.attrs.pop("notes", [])
    if absent:
        handled = frame["outcome"].str.strip().str.lower().isin(HANDLED_OUTCOMES)
        if handled.any():
            shown = [c for c in raw.columns if not str(c).startswith("_source") and c != "_bad"]
            listing = ", ".join(map(str, shown[:25])) + (" ..." if len(shown) > 25 else "")
            raise InputError(
                f"required column {absent[0]!r} missing after mapping {m.name} (needed for "
                f"{int(handled.sum())} answered/transferred calls; input columns: {listing})"
            )
    notes = read_notes + build_notes + check_calls(frame, built, problems, m)
    return finish("calls", m, raw, frame, problems, sources, notes)
