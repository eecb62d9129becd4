"""The valid table's Arrow schema and Parquet metadata, and the mapping's read options:
light helpers (no pandas) shared by the loaders and the fast path's entry (:mod:`._quick`)."""

from __future__ import annotations

import pyarrow as pa

from ..contract import CALL_ID_UNIQUE_META
from ._mapping import KIND_COLUMNS, Mapping
from ._readers import ReadOptions

__all__ = ["WrittenRows", "move_outputs", "read_options", "schema_for", "valid_meta"]


def schema_for(kind: str) -> pa.Schema:
    """Arrow schema of the valid table of a kind (calls: ``CALL_SCHEMA``)."""
    return pa.schema([pa.field(c.name, c.type) for c in KIND_COLUMNS[kind]])


def valid_meta(kind: str, mapping: str, rows_read: int, extra: dict) -> dict[bytes, bytes]:
    """:func:`valid_metadata` from its parts (the streaming loader has no LoadResult)."""
    meta = {b"ccpm.mapping": str(mapping).encode(),
            b"ccpm.rows_read": str(rows_read).encode()}
    for k, v in extra.items():
        meta[f"ccpm.{k}".encode()] = str(v).encode()
    if kind == "calls":
        meta[CALL_ID_UNIQUE_META] = b"true"
    return meta


def read_options(mapping: Mapping) -> ReadOptions:
    """The mapping's ``read`` section as :class:`ReadOptions` (the in-memory and streamed
    loaders read with the same options)."""
    r = mapping.read
    return ReadOptions(
        format=r.get("format"),
        delimiter=r.get("delimiter"),
        encoding=r.get("encoding"),
        header_row=r.get("header_row"),
        sheet=r.get("sheet"),
        member=r.get("member"),
        expected=mapping.expected_source_columns() | {c.name for c in mapping.contract_columns},
    )


class WrittenRows:
    """Stands for a table that was written, not kept: only its length."""

    def __init__(self, n: int):
        self.n = int(n)

    def __len__(self) -> int:
        return self.n


def move_outputs(out, valid_tmp, quarantine_tmp, valid_path, quarantine_path) -> None:
    """Move the finished valid and quarantine files into ``out`` (created if needed);
    an OS error becomes an :class:`analysis.errors.InputError` naming the folder."""
    import shutil
    from pathlib import Path

    from ..errors import InputError

    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.move(valid_tmp, valid_path)
        shutil.move(quarantine_tmp, quarantine_path)
    except OSError as exc:
        raise InputError(f"{out}: cannot write the outputs ({exc.strerror})") from None
