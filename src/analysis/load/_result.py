"""LoadResult, the shared pipeline steps, and writing validated output."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, InputError
from ..escape import safe_csv
from ._build import Problems
from ._mapping import KIND_COLUMNS, Mapping
from ._meta import read_options, schema_for, valid_meta
from ._readers import READER_REASONS, SOURCE_COLUMNS, expand_paths, read_many

__all__ = ["LoadResult", "write_validated", "read_raw", "apply_rules", "finish", "schema_for"]


@dataclass
class LoadResult:
    """Rows that meet the contract, rows set aside, and how many were read.

    Attributes
    ----------
    valid : DataFrame
        Exactly the contract columns of ``kind``, typed (timestamps naive local
        ``datetime64[us]``, floats, nullable booleans, strings).
    quarantine : DataFrame
        The rejected rows as read (all columns as strings; a source column called
        ``reason`` is kept as ``reason_raw``), then ``_source_file``,
        ``_source_row`` (1-based data row in that file, every record after the header
        counted, malformed ones too, blank lines not; the spreadsheet row number for
        Excel) and ``reason``
        (several problems joined with ``;``).
    rows_read : int
        Data rows read; always ``len(valid) + len(quarantine)``.
    """

    kind: str
    mapping: str
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.valid) + len(self.quarantine) != self.rows_read:  # pragma: no cover
            raise AssertionError(
                f"row accounting broken: {len(self.valid)} valid + {len(self.quarantine)} "
                f"quarantined != {self.rows_read} read"
            )

    def summary(self) -> pd.DataFrame:
        """Rows per reason, most frequent first, plus a ``valid`` line.

        Returns
        -------
        DataFrame
            ``reason`` (str), ``rows`` (int), ``share`` (rows / rows_read).
            A row with several problems counts under each of them, so the
            reason lines can sum to more than the number quarantined.
        """
        per = {}
        if len(self.quarantine):
            vc = self.quarantine["reason"].str.split(";").explode().value_counts()
            per = {str(r): int(k) for r, k in vc.items()}
        return summary_frame(len(self.valid), per, self.rows_read)

    def reason_counts(self) -> dict[str, int]:
        """``{reason: rows}`` for quarantined rows (a row counts under each reason)."""
        s = self.summary()
        return {r: int(k) for r, k in zip(s["reason"], s["rows"], strict=True) if r != "valid"}

    def __repr__(self) -> str:
        return (f"LoadResult(kind={self.kind!r}, mapping={self.mapping!r}, rows_read={self.rows_read}, "
                f"valid={len(self.valid)}, quarantined={len(self.quarantine)})")


def summary_frame(valid_rows: int, reason_counts: dict[str, int], rows_read: int
                  ) -> pd.DataFrame:
    """``reason`` / ``rows`` / ``share`` lines: ``valid`` and each quarantine reason, most
    frequent first (ties by reason)."""
    counts: dict[str, int] = {"valid": int(valid_rows)}
    for r, k in reason_counts.items():
        counts[str(r)] = int(k)
    out = pd.DataFrame({"reason": list(counts), "rows": list(counts.values())})
    out = out.sort_values(["rows", "reason"], ascending=[False, True], kind="stable")
    out["share"] = out["rows"] / max(rows_read, 1)
    return out.reset_index(drop=True)





def read_raw(path, mapping: Mapping, *, progress: bool = False
             ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Read every file of ``path`` with the mapping's read options -> (raw, sources, notes).

    ``progress``: a line per file on stderr (several files); a callable shows each file
    name as it returns (``Pseudonymizer.file_name``: per-agent files name people)."""
    paths = expand_paths(path)
    opts = read_options(mapping)
    cb = None
    if progress and len(paths) > 1:
        total = len(paths)
        counter = iter(range(1, total + 1))

        def cb(p):
            name = progress(p.name) if callable(progress) else p.name  # e.g. a pseudonym
            print(f"reading {next(counter)}/{total}: {name}", file=sys.stderr, flush=True)

    try:
        raw, notes = read_many(paths, opts, progress=cb)
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory on this machine (split the "
                         "export, or validate it on a machine with more memory)") from None
    raw = raw.reset_index(drop=True)
    raw.attrs.clear()
    return raw, [str(p) for p in paths], notes


def nul_rows(raw: pd.DataFrame) -> np.ndarray:
    """Rows with a NUL character in any text cell (one rule wherever it is in the file)."""
    hit = np.zeros(len(raw), dtype=bool)
    for c in raw.columns:
        if c in SOURCE_COLUMNS:
            continue
        s = raw[c]
        if s.dtype == "str" or s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            hit |= s.astype("str").str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    return hit


def apply_rules(raw: pd.DataFrame, mapping: Mapping, problems: Problems) -> None:
    """Rows holding a NUL byte (``nul_byte``), then source-specific reasons: each rule's SQL
    condition, evaluated by DuckDB on raw columns."""
    problems.add("nul_byte", nul_rows(raw))
    if not mapping.rules:
        return
    import duckdb

    con = duckdb.connect()
    try:
        view = raw.drop(columns=[c for c in SOURCE_COLUMNS if c in raw.columns])
        con.register("raw", view)
        for i, (reason, when) in enumerate(mapping.rules):
            try:
                res = con.execute(f"SELECT coalesce(({when}), false) AS hit FROM raw").fetchnumpy()
            except duckdb.Error as exc:
                msg = str(exc).splitlines()[0][:200]
                raise ConfigError(f"mapping key 'rules[{i}].when' ({reason}): {msg}") from None
            hit = np.asarray(res["hit"], dtype=bool)
            if len(hit) != len(raw):  # pragma: no cover - DuckDB keeps insertion order
                raise ConfigError(f"mapping key 'rules[{i}].when': condition changed the row count")
            problems.add(reason, hit)
    finally:
        con.close()


def quarantine_frame(raw: pd.DataFrame, bad: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
    """The quarantine's rows: the raw rows under ``bad`` as text, then ``_source_file``,
    ``_source_row`` and ``reason`` (a source column with one of those names gets ``_raw``)."""
    q = raw.loc[bad]
    data_cols = [c for c in q.columns if c not in SOURCE_COLUMNS]
    out = {}
    reserved = {"_source_file", "_source_row", "reason"}
    for c in data_cols:
        s = q[c]
        name = str(c)
        while name in reserved or name in out:  # never overwrite a source column
            name = f"{name}_raw"
        if s.dtype == "str" or isinstance(s.dtype, pd.StringDtype):
            out[name] = s.fillna("").astype("str")
        else:
            na = s.isna()
            txt = s.astype("str")
            out[name] = txt.mask(na, "").astype("str")
    out["_source_file"] = q["_source_file"].astype("str") if "_source_file" in q else ""
    out["_source_row"] = q["_source_row"].astype("int64") if "_source_row" in q else 0
    out["reason"] = pd.Series(reasons, index=q.index, dtype="str")
    return pd.DataFrame(out, index=q.index).reset_index(drop=True)


def reader_verdicts(raw: pd.DataFrame, problems: Problems) -> np.ndarray:
    """The text reader's verdicts (``_bad``: a line that did not split right, a line
    where a quote opened and never closed) as the rows' only problems -- their other
    "problems" are misaligned fields. Returns the mask of those rows."""
    bad = raw["_bad"].fillna("").astype("str").to_numpy(dtype=object)
    mal = np.zeros(len(raw), dtype=bool)
    masks = []
    for reason in READER_REASONS:
        m = bad == reason
        if m.any():
            masks.append((reason, m))
            mal |= m
    if mal.any():
        problems.items = [(r, m & ~mal) for r, m in problems.items if (m & ~mal).any()]
        for reason, m in masks:
            problems.add(reason, m)
    return mal


def finish(kind: str, mapping: Mapping, raw: pd.DataFrame, frame: pd.DataFrame,
           problems: Problems, sources: list[str], notes: list[str] | None = None,
           meta: dict | None = None) -> LoadResult:
    """Split ``frame`` into valid / quarantine using ``problems``; type the valid part."""
    if "_bad" in raw.columns:
        reader_verdicts(raw, problems)
    bad, reasons = problems.reasons()
    valid = frame.loc[~bad].reset_index(drop=True)
    cols = [c.name for c in KIND_COLUMNS[kind]]
    valid = valid[cols]
    # round-trip through Arrow so dtypes are exactly what valid.parquet holds
    valid = to_table(valid, kind).to_pandas(types_mapper=_types_mapper, date_as_object=False)
    quarantine = quarantine_frame(raw, bad, reasons)
    return LoadResult(kind=kind, mapping=mapping.name, valid=valid, quarantine=quarantine,
                      rows_read=len(raw), sources=sources, notes=list(notes or []),
                      meta=dict(meta or {}))


def to_table(valid: pd.DataFrame, kind: str) -> pa.Table:
    """Contract frame -> Arrow table with exactly the kind's schema."""
    schema = schema_for(kind)
    arrays = []
    for f in schema:
        col = valid[f.name]
        if pa.types.is_date32(f.type):
            arr = pa.array(col.astype("datetime64[us]"), type=pa.timestamp("us")).cast(f.type)
        else:
            arr = pa.array(col, from_pandas=True)
            if arr.type != f.type:
                arr = arr.cast(f.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _types_mapper(t: pa.DataType):
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    return None


def valid_metadata(res: LoadResult) -> dict[bytes, bytes]:
    """The ``ccpm.*`` Parquet metadata of a file of ``res``'s valid rows: mapping, rows
    read, the loader's notes, and for calls the unique-id mark (duplicate call ids were
    quarantined)."""
    return valid_meta(res.kind, res.mapping, res.rows_read, res.meta)


def write_validated(res: LoadResult, out_dir, *, prefix: str | None = None) -> dict[str, Path]:
    """Write ``valid.parquet``, ``quarantine.csv`` and ``summary.csv`` to ``out_dir``.

    Calls keep the bare names; roster and ratings get a ``roster_`` / ``ratings_``
    prefix unless ``prefix`` is given. ``valid.parquet`` has exactly the kind's
    Arrow schema (``analysis.contract.CALL_SCHEMA`` for calls).

    Returns
    -------
    dict
        ``{"valid": Path, "quarantine": Path, "summary": Path}``
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create output folder ({exc.strerror})") from None
    if prefix is None:
        prefix = "" if res.kind == "calls" else f"{res.kind}_"
    paths = {
        "valid": out / f"{prefix}valid.parquet",
        "quarantine": out / f"{prefix}quarantine.csv",
        "summary": out / f"{prefix}summary.csv",
    }
    table = to_table(res.valid, res.kind)
    pq.write_table(table.replace_schema_metadata(valid_metadata(res)), paths["valid"])
    safe_csv(res.quarantine, paths["quarantine"], index=False, encoding="utf-8")
    safe_csv(res.summary(), paths["summary"], index=False)
    return paths
