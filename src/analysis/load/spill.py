"""Spill a loaded raw export's valid rows to Parquet, so later steps read them in the engine.

:func:`analysis.load.load_calls` parses and checks a raw export in pandas (the whole
file at once: duplicate call ids and the row accounting need every row). What comes
after loading (the panel, the gaming checks) runs in DuckDB; handing it the valid
rows as a DataFrame would keep a second copy alive for the whole run. Instead
:func:`load_calls_to_parquet` writes them, in slices, to a Parquet file with the
contract schema (what ``ccpm validate`` writes as ``valid.parquet``), drops the
frames, and returns a small :class:`SpilledCalls` holding the path and the counts.

>>> sp = load_calls_to_parquet("exports/", "anonymous-bank")      # doctest: +SKIP
>>> con.execute("SELECT count(*) FROM read_parquet(?)", [str(sp.path)])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ..errors import InputError
from ..workcopy import HOST, PREFIX, raw_tempdir, remove_stale
from ._result import LoadResult, schema_for, to_table, valid_metadata

__all__ = ["SpilledCalls", "spill_valid", "load_calls_to_parquet", "remove_stale_spills"]

#: Prefix of ccpm's working copies (``<TMPDIR>/ccpm-spill-<host>@<pid>-<kind>-<random>``).
_SPILL = PREFIX
_HOST = HOST


def remove_stale_spills() -> list[Path]:
    """Remove the working copies of ccpm processes on this host that no longer run.

    A spill is a copy of the input's valid rows, raw ids and all (``--pseudonymize``
    applies when outputs are written): a run killed outright (SIGKILL, the OOM killer)
    cannot remove its own, so the next run does (:func:`analysis.workcopy.remove_stale`,
    which also removes the loader's other working copies). Returns the paths removed.
    """
    return remove_stale()


#: Rows converted to Arrow at a time (bounds the extra memory of the spill).
CHUNK_ROWS = 500_000
#: Parquet row-group size: small enough for DuckDB to scan on every core.
ROW_GROUP_ROWS = 131_072


def spill_valid(res: LoadResult, path: str | os.PathLike, *, chunk_rows: int = CHUNK_ROWS
                ) -> Path:
    """Write ``res.valid`` to ``path`` as Parquet with the kind's contract schema.

    The frame is converted ``chunk_rows`` rows at a time, so the spill needs only a
    slice's worth of extra memory. The file carries the same ``ccpm.*`` metadata as
    :func:`analysis.load.write_validated`'s ``valid.parquet``.

    Returns
    -------
    Path
        ``path``.
    """
    out = Path(path)
    meta = valid_metadata(res)
    schema = schema_for(res.kind).with_metadata(meta)
    n = len(res.valid)
    try:
        with pq.ParquetWriter(out, schema) as w:
            for lo in range(0, max(n, 1), int(chunk_rows)):
                part = to_table(res.valid.iloc[lo:lo + int(chunk_rows)], res.kind)
                w.write_table(part.replace_schema_metadata(meta), row_group_size=ROW_GROUP_ROWS)
    except OSError as exc:
        raise InputError(f"{out}: cannot write the loaded rows ({exc})") from None
    return out


@dataclass
class SpilledCalls:
    """Valid call rows on disk (``path``) and the loader's accounting, without the rows.

    The temporary folder holding ``path`` (when :func:`load_calls_to_parquet` made
    one) is removed by :meth:`cleanup`, on leaving a ``with`` block, or when this
    object is garbage-collected: keep it alive as long as something reads ``path``.
    """

    path: Path
    rows_read: int
    valid_rows: int
    quarantined: int
    reason_counts: dict[str, int]
    mapping: str
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def cleanup(self) -> None:
        """Remove the temporary folder (if this object made one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SpilledCalls:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def load_calls_to_parquet(path, mapping=None, *, directory: str | os.PathLike | None = None,
                          progress: bool = False) -> SpilledCalls:
    """:func:`analysis.load.load_calls`, with the valid rows streamed to Parquet.

    Parameters
    ----------
    path, mapping, progress
        As for :func:`analysis.load.load_calls`.
    directory : str or PathLike, optional
        Folder for ``valid.parquet``; default a new temporary folder (under
        ``TMPDIR``) removed with the returned object.

    Returns
    -------
    SpilledCalls
        ``path`` (contract Parquet of the valid rows), ``rows_read``, ``valid_rows``,
        ``quarantined`` and ``reason_counts`` (rows per quarantine reason), ``mapping``,
        ``sources``, ``notes``. The quarantined rows themselves are not kept (``ccpm
        validate`` writes them).
    """
    from ._stream import stream_calls

    tmp = None
    if directory is None:
        tmp = raw_tempdir("valid")  # removes the stale copies of dead runs first
        folder = Path(tmp.name)
    else:
        folder = Path(directory)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{folder}: cannot create folder ({exc.strerror})") from None
    try:
        # streamed: the rows are checked in slices and only the valid ones written
        st = stream_calls(path, mapping, valid_path=folder / "valid.parquet", progress=progress)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    counts = {r: k for r, k in zip(*_summary_lists(st), strict=True) if r != "valid"}
    return SpilledCalls(path=folder / "valid.parquet", rows_read=int(st.rows_read),
                        valid_rows=int(st.valid_rows), quarantined=int(st.quarantined),
                        reason_counts=counts, mapping=str(st.mapping), sources=list(st.sources),
                        notes=list(st.notes), _tmp=tmp)


def _summary_lists(st) -> tuple[list[str], list[int]]:
    s = st.summary()
    return list(s["reason"]), [int(k) for k in s["rows"]]
