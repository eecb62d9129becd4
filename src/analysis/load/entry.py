"""One entry for every command that reads calls: the same rows for panel, gaming, compare.

``ccpm panel``, ``ccpm gaming`` and ``ccpm compare`` accept contract-shaped Parquet
(``valid.parquet`` from ``ccpm validate``, ``calls.parquet`` from ``ccpm synth``, or a file
someone else wrote) and raw exports with ``--mapping``. :func:`open_contract_calls` is the
one door: a single Parquet file that ccpm wrote (the ``ccpm.call_id_unique`` mark and
exactly the contract schema) is read as it is; anything else -- a contract-shaped Parquet
from elsewhere, several files, a raw export -- goes through the loader's rules
(:func:`analysis.load.load_calls`: types, vocabularies, durations, timestamps, duplicate
ids) and its valid rows are spilled to a temporary Parquet file. So a file with infinite
durations or duplicate ids gives one row set to every command, and a file with wrong
types or no rows is refused with one line (exit 2) naming the loader's reasons.

>>> with open_contract_calls("valid.parquet") as cc:      # doctest: +SKIP
...     build_panel(cc.path)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .._paths import glob_files, is_pattern
from ..contract import CALL_ID_UNIQUE_META, CALL_SCHEMA
from ..errors import InputError

__all__ = ["ContractCalls", "open_contract_calls", "is_trusted_calls_file"]


@dataclass
class ContractCalls:
    """Valid contract call rows in one Parquet file, and how they were obtained.

    ``path`` holds only rows that meet the contract (the input itself when ccpm wrote
    it, else the loader's spill). ``checked`` is True when the loader read the rows on
    the way in; then ``rows_read = valid_rows + quarantined`` and ``reason_counts`` gives
    rows per quarantine reason. Keep this object alive (or use it as a context manager)
    while ``path`` is read: a spill is removed by :meth:`cleanup`.
    """

    path: Path
    rows_read: int
    valid_rows: int
    quarantined: int = 0
    reason_counts: dict[str, int] = field(default_factory=dict)
    checked: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)
    _spill: object = field(default=None, repr=False)

    def cleanup(self) -> None:
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None

    def __enter__(self) -> ContractCalls:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def _parquet_files(calls) -> list[Path] | None:
    """Parquet files named by a path, a folder or a glob (the panel's rules); ``None``
    when ``calls`` names something else (a raw export)."""
    s = os.fspath(calls)
    if is_pattern(s):
        files = glob_files(s)
        if not files:
            raise InputError(f"no files match {s}")
    else:
        p = Path(s)
        if p.is_dir():
            for name in ("valid.parquet", "calls.parquet"):
                if (p / name).is_file():
                    return [p / name]
            files = sorted(p.glob("*.parquet"))
            if not files:
                return None
        elif not p.exists():
            raise InputError(f"calls file not found: {p}")
        else:
            files = [p]
    if all(f.suffix.lower() in (".parquet", ".pq") for f in files):
        return files
    return None


def is_trusted_calls_file(path: str | os.PathLike) -> bool:
    """Did ccpm write this Parquet file of valid calls (checked on the way in)?

    True when its schema is exactly :data:`analysis.contract.CALL_SCHEMA` and it carries
    the ``ccpm.call_id_unique`` mark that ``ccpm validate``, the loader's spill and ``ccpm
    synth`` write. A file that cannot be read as Parquet is not trusted (the loader then
    gives the reason)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        return False
    meta = schema.metadata or {}
    if meta.get(CALL_ID_UNIQUE_META) != b"true":
        return False
    return schema.remove_metadata().equals(CALL_SCHEMA)


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def open_contract_calls(calls, *, mapping=None, progress: bool = False) -> ContractCalls:
    """The valid call rows of ``calls`` as one Parquet file, checked on entry.

    Parameters
    ----------
    calls : str or PathLike
        Contract Parquet (a file, a folder holding ``valid.parquet`` / ``calls.parquet``
        or ``*.parquet`` files, a glob), or a raw export (any format the loader reads).
    mapping : None, str, PathLike, dict or Mapping
        Column mapping for a raw export (``None``: contract-shaped columns).
    progress : bool
        Print a line per file read to stderr (raw exports).

    Returns
    -------
    ContractCalls
        ``path`` of a Parquet file with only valid rows and the contract schema.

    Raises
    ------
    InputError
        No such file; no data rows; no row meets the contract (the message gives the
        rows quarantined per reason, e.g. ``unparseable_arrival_ts``).
    """
    files = _parquet_files(calls) if mapping is None else None
    if files is not None and len(files) == 1 and is_trusted_calls_file(files[0]):
        n = _count_rows(files[0])
        if n == 0:
            raise InputError(f"{files[0]}: no call rows")
        return ContractCalls(path=files[0], rows_read=n, valid_rows=n, checked=False,
                             source="contract Parquet written by ccpm")
    from .spill import load_calls_to_parquet

    if files is None:
        source = calls
    else:
        source = str(files[0]) if len(files) == 1 else [str(f) for f in files]
    sp = load_calls_to_parquet(source, mapping, progress=progress)
    if sp.valid_rows == 0:
        sp.cleanup()
        top = sorted(sp.reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        why = ", ".join(f"{r} {k:,}" for r, k in top)
        raise InputError(f"{calls}: no row meets the data contract ({sp.quarantined:,} "
                         f"quarantined: {why}; see ccpm validate)")
    what = "contract Parquet checked by the loader" if files is not None else \
        f"raw export via analysis.load (mapping {mapping or 'none'})"
    return ContractCalls(path=Path(sp.path), rows_read=sp.rows_read, valid_rows=sp.valid_rows,
                         quarantined=sp.quarantined, reason_counts=dict(sp.reason_counts),
                         checked=True, source=what, notes=list(sp.notes), _spill=sp)
