"""``ccpm validate --calls`` of one contract-shaped CSV by the fast path alone, without pandas.

:func:`analysis.load.validate_calls` offers a single contract CSV to the fast path
(:mod:`._fast`) first; when every row is plainly valid, nothing of pandas is used: the
quarantine is its header line and the summary one line. pandas costs ~0.17 s of CPU to
import (of ~0.4 s of start-up), serial before the file is read, so this entry does the
same steps with the light modules only (:mod:`._mapping`, :mod:`._readers`,
:mod:`._meta`, :mod:`._fast`), writes the same three files byte for byte (the header and
the summary as ``pandas.DataFrame.to_csv`` writes them, for the contract's column names),
and otherwise hands the file, as opened (not decompressed, transcoded or scanned twice),
to :func:`analysis.load.validate_calls`, with the fast path off when it was tried here (it
would only decide the same again), which reads and checks every row as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..workcopy import raw_tempdir
from ._fast import FAST_ENV, fast_contract_csv, is_identity_contract
from ._mapping import resolve_mapping
from ._meta import WrittenRows, move_outputs, read_options, schema_for, valid_meta
from ._readers import Source, expand_paths, open_source

__all__ = ["Handover", "QuickResult", "validate_calls_fast"]

#: column names written as they are by ``to_csv`` and left alone by
#: :func:`analysis.escape.neutralize_cell` (no quoting, no leading ``=+-@``)
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = ("_source_file", "_source_row", "reason")


@dataclass
class Handover:
    """Not decided here: what :func:`analysis.load.validate_calls` gets to go on with.
    ``source``: the input already opened (decompressed, transcoded, scanned), or None;
    ``tried``: the fast path read it and gave up (so ``fast=False``)."""

    source: Source | None = None
    tried: bool = False


@dataclass
class QuickResult:
    """What ``ccpm validate`` prints about the load (as :class:`._stream.StreamedResult`):
    every row valid, none quarantined."""

    kind: str
    mapping: str
    rows_read: int
    valid: WrittenRows
    quarantine: WrittenRows
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self):
        from ._result import summary_frame

        return summary_frame(len(self.valid), self.counts, self.rows_read)

    def reason_counts(self) -> dict[str, int]:
        return {}


def validate_calls_fast(path, mapping, out_dir
                        ) -> tuple[QuickResult, dict[str, Path]] | Handover:
    """``valid.parquet``, ``quarantine.csv`` and ``summary.csv`` in ``out_dir`` when the
    fast path decides ``path`` (one contract CSV, every row plainly valid); else a
    :class:`Handover` for :func:`analysis.load.validate_calls` and nothing written there
    (also when the input cannot be read: the full loader then says why)."""
    if os.environ.get(FAST_ENV, "1") == "0":
        return Handover()
    try:
        m = resolve_mapping(mapping, kind="calls")
        if not is_identity_contract(m):
            return Handover()
        paths = expand_paths(path)
        if len(paths) != 1:
            return Handover()
        src = open_source(paths[0], read_options(m))
    except Exception:  # noqa: BLE001 - the full loader meets it again and says why
        return Handover()
    handed = False
    try:
        names = list(src.text.names) if src.kind == "text" else []
        if src.kind != "text" or not all(
                _PLAIN_NAME.fullmatch(n) and n not in _RESERVED for n in names):
            # not for this entry (a header line to_csv would write otherwise: not the
            # contract's): the streaming loader goes on with the file as opened
            handed = True
            return Handover(src)
        out = Path(out_dir)
        files = {"valid": out / "valid.parquet", "quarantine": out / "quarantine.csv",
                 "summary": out / "summary.csv"}
        with raw_tempdir("validate") as tmp:
            tv, tq = Path(tmp) / "valid.parquet", Path(tmp) / "quarantine.csv"
            n = fast_contract_csv(src, m, tv, Path(tmp),
                                  lambda k: valid_meta("calls", m.name, k, {}),
                                  schema_for("calls"))
            if n is None or n <= 0:  # not every row plain: every row checked, as opened
                handed = True
                return Handover(src, tried=True)
            _write_header(tq, names)
            move_outputs(out, tv, tq, files["valid"], files["quarantine"])
        # summary_frame of all rows valid, as to_csv writes it (share n / n = 1.0)
        files["summary"].write_text(f"reason,rows,share\nvalid,{n},1.0\n", encoding="utf-8")
        # the notes of the streamed load: the reader's (an encoding guessed, ...); the UTC
        # offset notes are none (no offsets seen on this path)
        res = QuickResult(kind="calls", mapping=m.name, rows_read=n, valid=WrittenRows(n),
                          quarantine=WrittenRows(0), sources=[str(p) for p in paths],
                          notes=list(src.notes))
        return res, files
    finally:
        if not handed:
            src.cleanup()


def _write_header(path: Path, names: list[str]) -> None:
    """The quarantine's header line (its empty frame, as :func:`._stream.validate_calls`
    writes it through :func:`analysis.escape.safe_csv`) for plain column names."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join([*names, *_RESERVED]) + "\n")
