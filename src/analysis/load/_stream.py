"""Streaming call loader: every row checked, memory flat as files grow.

The raw export is read in slices of :data:`CHUNK_ROWS` rows (Arrow's streaming CSV
reader over a UTF-8 file -- the input itself, or a copy transcoded / decompressed in a
stream --, Parquet row batches, an Excel sheet whole). Each slice goes through exactly the
checks of the in-memory loader (mapping, type coercion, contract checks, the mapping's
rules; all row-local), and only three narrow things are kept, on disk:

* the slice's valid rows, typed (Parquet, with the row's number in the input);
* the numbers and reasons of its quarantined rows;
* its call ids (row number, id) and, when the quarantine is wanted, its raw rows.

Duplicate call ids are the one check that needs every row: once all slices are read,
DuckDB finds every id's first row over the id file (a GROUP BY that spills to disk) and
the later rows are quarantined as ``duplicate_call_id`` -- the first is kept, as before.
The valid rows are then copied to ``valid.parquet`` in row groups of 1,048,576 rows
(what ``pyarrow.parquet.write_table`` writes) and the quarantine is assembled in row
order, slice by slice, so ``valid.parquet``, ``quarantine.csv`` and ``summary.csv`` are
byte for byte those of the in-memory loader, and rows read = valid + quarantined.

A single contract-shaped CSV is first offered to the fast path (:mod:`._fast`): one DuckDB
pass that accepts the file only when every row is plainly valid, and writes the same
``valid.parquet``; at the first row that is not, the file is read here as above.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..contract import HANDLED_OUTCOMES
from ..errors import InputError
from ..escape import safe_csv
from ..workcopy import raw_tempdir
from ._build import Problems, build_columns, merge_offset_stats, offset_notes
from ._checks import check_calls, jitter_note, line_break_note
from ._fast import ROW_GROUP_ROWS, RowGroupWriter, fast_contract_csv
from ._mapping import KIND_COLUMNS, Mapping, resolve_mapping
from ._meta import WrittenRows, move_outputs
from ._readers import (
    SOURCE_COLUMNS,
    BadLines,
    ReadOptions,
    Source,
    _read_excel,
    csv_options,
    expand_paths,
    open_source,
)
from ._result import (
    apply_rules,
    quarantine_frame,
    read_options,
    reader_verdicts,
    schema_for,
    summary_frame,
    valid_meta,
)

__all__ = ["CHUNK_ROWS", "ROW_GROUP_ROWS", "StreamStats", "stream_calls", "read_options",
           "validate_calls"]

#: Rows per slice (bounds the memory of the checks: ~0.2 GB per 250,000 rows of 15 columns).
CHUNK_ROWS = int(os.environ.get("CCPM_LOAD_CHUNK_ROWS", 250_000))
_ROWNUM = "__ccpm_row"
_SRCROW = "__ccpm_source_row"


@dataclass
class StreamStats:
    """What a streaming load found (the rows themselves are in the files it wrote)."""

    kind: str
    mapping: str
    rows_read: int
    valid_rows: int
    quarantined: int
    reason_counts: dict[str, int]
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Rows per reason plus ``valid`` (as :meth:`analysis.load.LoadResult.summary`)."""
        return summary_frame(self.valid_rows, self.reason_counts, self.rows_read)


# ----------------------------------------------------------------------------- reading slices


def _parquet_error(where: str, exc: Exception) -> InputError:
    msg = " ".join(str(exc).split())
    return InputError(f"{where}: not a readable Parquet file ({msg[:160]})")


def _parquet_float_ints(pf: pq.ParquetFile) -> list[str]:
    """Integer columns holding a null anywhere in the file: pandas reads those as float
    for the whole file, so every slice is cast the same way."""
    out = []
    schema = pf.schema_arrow
    md = pf.metadata
    for i, f in enumerate(schema):
        if not pa.types.is_integer(f.type):
            continue
        nulls = 0
        known = True
        for rg in range(md.num_row_groups):
            col = None
            for j in range(md.num_columns):
                if md.row_group(rg).column(j).path_in_schema == f.name:
                    col = md.row_group(rg).column(j)
                    break
            st = col.statistics if col is not None else None
            if st is None or not st.has_null_count:
                known = False
                break
            nulls += st.null_count
        if not known:
            nulls = pf.read(columns=[f.name])[f.name].null_count
        if nulls:
            out.append(f.name)
        del i
    return out


def _slices(src: Source, opts: ReadOptions, chunk_rows: int
            ) -> Iterator[tuple[pd.DataFrame, pa.Table]]:
    """(raw frame with ``_source_row`` and ``_bad``, raw Arrow table) per slice."""
    if src.kind == "excel":
        df = _read_excel(src.path, src.where, opts)
        data = df[[c for c in df.columns if c not in SOURCE_COLUMNS]]
        yield df, pa.Table.from_pandas(data, preserve_index=False)
        return
    if src.kind == "parquet":
        try:
            pf = pq.ParquetFile(src.path, page_checksum_verification=True, pre_buffer=False)
            floats = _parquet_float_ints(pf)
            batches = pf.iter_batches(batch_size=chunk_rows)
            start = 0
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                table = pa.Table.from_batches([batch])
                for name in floats:
                    i = table.schema.get_field_index(name)
                    table = table.set_column(i, name, table[name].cast(pa.float64()))
                df = table.to_pandas()
                df["_source_row"] = np.arange(start + 1, start + len(df) + 1)
                df["_bad"] = ""
                start += len(df)
                yield df, table
        except (pa.ArrowInvalid, OSError) as exc:
            raise _parquet_error(src.where, exc) from None
        return
    ts = src.text
    bad = BadLines(ts)

    def fail(exc) -> InputError:
        msg = str(exc).splitlines()[0][:160]
        return InputError(f"{ts.where}: cannot be read as a {ts.delimiter!r}-delimited table "
                          f"({msg})")

    try:
        # serial: Arrow then numbers the lines it cannot split (the streaming reader
        # parses one block at a time either way)
        reader = pacsv.open_csv(ts.path, **csv_options(ts, bad, serial=True))
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as exc:
        raise fail(exc) from None
    start = 0
    pending: list[pa.RecordBatch] = []
    n_pending = 0
    done = False
    while not done:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            done = True
        except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as exc:
            raise fail(exc) from None
        else:
            pending.append(batch)
            n_pending += batch.num_rows
        while n_pending and (n_pending >= chunk_rows or done):
            table = pa.Table.from_batches(pending, schema=reader.schema)
            rest = table.slice(chunk_rows)
            table = table.slice(0, chunk_rows)
            pending, n_pending = rest.to_batches(), rest.num_rows
            df = table.to_pandas()
            df["_source_row"] = bad.numbers(start, len(df))
            df["_bad"] = ""
            start += len(df)
            yield df, table
    if len(bad):
        ts.notes.extend(n for n in bad.notes() if n not in ts.notes)  # read again: once
        df = bad.frame()
        data = df[ts.names]
        yield df, pa.Table.from_pandas(data, preserve_index=False).cast(reader.schema)


# ----------------------------------------------------------------------------- the load


class _Writer:
    """A Parquet file written slice by slice (created on the first slice)."""

    def __init__(self, path: Path):
        self.path = path
        self.w: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.w is None:
            # scratch files: no compression, dictionary or statistics (written once, read once)
            self.w = pq.ParquetWriter(self.path, table.schema, compression="none",
                                      use_dictionary=False, write_statistics=False)
        self.w.write_table(table)

    def close(self) -> bool:
        if self.w is None:
            return False
        self.w.close()
        return True


def _union_columns(sources: list[Source], excel: dict[int, pd.DataFrame], opts) -> list[str]:
    cols: list[str] = []
    seen: set[str] = set()
    for i, src in enumerate(sources):
        if src.kind == "text":
            names = src.text.names
        elif src.kind == "parquet":
            try:
                names = pq.read_schema(src.path).names
            except (pa.ArrowInvalid, OSError) as exc:
                raise _parquet_error(src.where, exc) from None
        else:
            df = _read_excel(src.path, src.where, opts)
            excel[i] = df
            src.sheet_notes = list(df.attrs.get("notes", []))
            names = [c for c in df.columns if c not in SOURCE_COLUMNS]
        for n in names:
            if n not in seen:
                seen.add(n)
                cols.append(n)
    return cols


def stream_calls(path, mapping=None, *, valid_path: str | os.PathLike | None = None,
                 quarantine_sink: Callable[[pd.DataFrame], None] | None = None,
                 progress: bool = False, chunk_rows: int | None = None,
                 fast: bool = True, opened: Source | None = None) -> StreamStats:
    """Load call records slice by slice (see the module docstring).

    Parameters
    ----------
    path, mapping, progress
        As for :func:`analysis.load.load_calls`.
    valid_path : path, optional
        Where to write the valid rows (contract Parquet with the ``ccpm.*`` metadata).
    quarantine_sink : callable, optional
        Called with the quarantine's (empty) header frame, then with each slice of
        quarantined rows in row order (the columns of
        :attr:`analysis.load.LoadResult.quarantine`). Without it the raw rows are not
        kept at all (only counted per reason).
    chunk_rows : int, optional
        Rows per slice (default :data:`CHUNK_ROWS`).
    fast : bool
        Offer a single contract CSV to the fast path first (``False``: the caller already
        did, :mod:`._quick`).
    opened : Source, optional
        The single input file, already opened by the caller (:mod:`._quick`) with this
        mapping's read options: not decompressed, transcoded or scanned again (removed
        with the others at the end).

    Returns
    -------
    StreamStats
    """

    m = resolve_mapping(mapping, kind="calls")
    chunk_rows = int(chunk_rows or CHUNK_ROWS)
    paths = expand_paths(path)
    opts = read_options(m)
    cols = [c.name for c in KIND_COLUMNS["calls"]]
    valid_schema = schema_for("calls")
    keep_raw = quarantine_sink is not None
    sources: list[Source] = []
    with raw_tempdir("stream") as tmp:
        tmpd = Path(tmp)
        try:
            total = len(paths)
            for k, p in enumerate(paths, start=1):
                if progress and total > 1:
                    name = progress(p.name) if callable(progress) else p.name
                    print(f"reading {k}/{total}: {name}", file=sys.stderr, flush=True)
                if opened is not None and total == 1:
                    sources.append(opened)
                else:
                    sources.append(open_source(p, opts))
            excel: dict[int, pd.DataFrame] = {}
            union = _union_columns(sources, excel, opts)
            read_notes = [n for s in sources for n in s.notes]
            if fast and len(sources) == 1 and not excel:
                # a contract CSV whose every row is plainly valid: one DuckDB pass
                n_fast = fast_contract_csv(
                    sources[0], m, valid_path, tmpd,
                    lambda k: valid_meta("calls", m.name, k, {}), valid_schema)
                if n_fast is not None:
                    if quarantine_sink is not None:
                        _quarantine_header(union, quarantine_sink)
                    return StreamStats(kind="calls", mapping=m.name, rows_read=n_fast,
                                       valid_rows=n_fast, quarantined=0, reason_counts={},
                                       sources=[str(p) for p in paths],
                                       notes=list(read_notes) + offset_notes(m, {}))
            cand = _Writer(tmpd / "cand.parquet")
            bad_w = _Writer(tmpd / "bad.parquet")
            ids_w = _Writer(tmpd / "ids.parquet")
            raw_ws: list[_Writer] = []
            ranges: list[tuple[int, int]] = []
            rownum = 0
            stats: dict = {}
            offset_stats: dict = {}
            absent: list[str] = []
            absent_handled = 0
            for i, src in enumerate(sources):
                raw_w = _Writer(tmpd / f"raw{i}.parquet")
                raw_ws.append(raw_w)
                first = rownum
                if src.kind == "excel":
                    df = excel.pop(i)
                    slices = iter([(df, pa.Table.from_pandas(
                        df[[c for c in df.columns if c not in SOURCE_COLUMNS]],
                        preserve_index=False))])
                else:
                    slices = _slices(src, opts, chunk_rows)
                for raw, table in slices:
                    n = len(raw)
                    if n == 0:
                        continue
                    raw["_source_file"] = src.name
                    missing = [c for c in union if c not in raw.columns]
                    if missing:
                        for c in missing:
                            raw[c] = pd.Series(pd.NA, index=raw.index, dtype="str")
                        raw = raw[union + [c for c in raw.columns if c not in union]]
                    rows = np.arange(rownum, rownum + n, dtype=np.int64)
                    problems = Problems(n)
                    apply_rules(raw, m, problems)
                    frame, built = build_columns(raw, m, problems)
                    absent = frame.attrs.pop("absent_handled", [])
                    frame.attrs.pop("notes", None)
                    merge_offset_stats(offset_stats, frame.attrs.pop("offset_stats", {}))
                    if absent:
                        absent_handled += int(frame["outcome"].str.strip().str.lower()
                                              .isin(HANDLED_OUTCOMES).sum())
                    check_calls(frame, built, problems, m, duplicates=False, stats=stats)
                    mal = reader_verdicts(raw, problems)
                    bad, reasons = problems.reasons()
                    ok = frame.loc[~bad, cols].reset_index(drop=True)
                    if len(ok):
                        from ._result import to_table

                        t = to_table(ok, "calls")
                        cand.write(t.append_column(_ROWNUM, pa.array(rows[~bad])))
                    if bad.any():
                        bad_w.write(pa.table({_ROWNUM: pa.array(rows[bad]),
                                              "reason": pa.array(reasons, pa.string())}))
                    cid = frame["call_id"]
                    has = cid.notna().to_numpy()
                    if has.any():
                        ids_w.write(pa.table({
                            _ROWNUM: pa.array(rows[has]),
                            "call_id": pa.array(cid[has].to_numpy(dtype=object), pa.string()),
                            "malformed": pa.array(mal[has]),
                        }))
                    if keep_raw and bad.any():
                        # the quarantined rows as read (a later duplicate of an id is
                        # fetched at the end by reading that file again)
                        keep = pa.array(bad)
                        t = table.filter(keep).append_column(_SRCROW, pa.array(
                            raw["_source_row"].to_numpy(dtype=np.int64)[bad]))
                        raw_w.write(t.append_column(_ROWNUM, pa.array(rows[bad])))
                    rownum += n
                    del raw, frame, built, problems, table
                ranges.append((first, rownum))
            for w in (cand, bad_w, ids_w, *raw_ws):
                w.close()
            if rownum == 0:
                raise InputError(f"{path}: no data rows (header only?)")
            if absent and absent_handled:
                listing = ", ".join(map(str, union[:25])) + (" ..." if len(union) > 25 else "")
                raise InputError(
                    f"required column {absent[0]!r} missing after mapping {m.name} (needed for "
                    f"{absent_handled} answered/transferred calls; input columns: {listing})"
                )
            # the readers' notes again: reading may have added some (unterminated quotes)
            notes = [n for s in sources for n in s.notes] + offset_notes(m, offset_stats)
            if stats.get("jitter"):
                tol = float(m.checks.get("clock_tolerance_s", 0))
                notes.append(jitter_note(int(stats["jitter"]), tol))
            if stats.get("line_break_rows"):
                notes.append(line_break_note(int(stats["line_break_rows"]),
                                             int(stats["line_breaks"])))
            dups = _duplicates(ids_w, tmpd)
            n_valid = _write_valid(cand, dups, valid_path, m, rownum, valid_schema)
            def reread(i: int) -> Iterator[tuple[pa.Table, np.ndarray]]:
                src = sources[i]
                if src.kind == "excel":
                    df = _read_excel(src.path, src.where, opts)
                    data = df[[c for c in df.columns if c not in SOURCE_COLUMNS]]
                    yield (pa.Table.from_pandas(data, preserve_index=False),
                           df["_source_row"].to_numpy(dtype=np.int64))
                    return
                for df, table in _slices(src, opts, chunk_rows):
                    yield table, df["_source_row"].to_numpy(dtype=np.int64)

            counts, n_quar = _quarantine(bad_w, dups, sources, ranges, raw_ws, union,
                                         quarantine_sink, reread)
        finally:
            for s in sources:
                s.cleanup()
    if n_valid + n_quar != rownum:  # pragma: no cover - a bug, never bad input
        raise AssertionError(f"row accounting broken: {n_valid} valid + {n_quar} quarantined "
                             f"!= {rownum} read")
    return StreamStats(kind="calls", mapping=m.name, rows_read=rownum, valid_rows=n_valid,
                       quarantined=n_quar, reason_counts=counts,
                       sources=[str(p) for p in paths], notes=notes)


def _duplicates(ids_w: _Writer, tmpd: Path) -> np.ndarray:
    """Row numbers of every later row of a call id (malformed lines excepted), sorted."""
    if ids_w.w is None:
        return np.zeros(0, dtype=np.int64)
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET threads = 2")
        con.execute("SET temp_directory = ?", [str(tmpd / "duckdb")])
        con.execute("SET memory_limit = ?", [os.environ.get("CCPM_LOAD_DUCKDB_MEMORY", "512MB")])
        ids = str(ids_w.path)
        res = con.execute(
            f"""
            WITH first AS (
                SELECT call_id, min({_ROWNUM}) AS r0 FROM read_parquet(?)
                GROUP BY call_id HAVING count(*) > 1)
            SELECT i.{_ROWNUM} AS r FROM read_parquet(?) i JOIN first f USING (call_id)
            WHERE i.{_ROWNUM} > f.r0 AND NOT i.malformed ORDER BY r
            """, [ids, ids]).fetchnumpy()
    finally:
        con.close()
    return np.asarray(res["r"], dtype=np.int64)


def _in(sorted_arr: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_arr) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_arr, values)
    pos[pos == len(sorted_arr)] = 0
    return sorted_arr[pos] == values


def _write_valid(cand: _Writer, dups: np.ndarray, valid_path, m: Mapping, rows_read: int,
                 schema: pa.Schema) -> int:
    meta = valid_meta("calls", m.name, rows_read, {})
    n = 0
    writer = None
    try:
        if valid_path is not None:
            writer = RowGroupWriter(valid_path, schema, meta)
        if cand.w is not None:
            pf = pq.ParquetFile(cand.path, pre_buffer=False)  # else it buffers the whole file
            for batch in pf.iter_batches(batch_size=65536):
                r = batch.column(_ROWNUM).to_numpy()
                keep = ~_in(dups, r)
                t = pa.Table.from_batches([batch]).drop_columns([_ROWNUM])
                if not keep.all():
                    t = t.filter(pa.array(keep))
                n += t.num_rows
                if writer is not None:
                    writer.add(t)
        if writer is not None:
            writer.finish()
    except OSError as exc:
        raise InputError(f"{valid_path}: cannot write the valid rows ({exc})") from None
    finally:
        if writer is not None:
            writer.close()
    return n


def _quarantine_header(union: list[str], sink) -> None:
    """The quarantine's header (its empty frame) to ``sink``."""
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in union})
    empty["_source_file"] = pd.Series([], dtype="str")
    empty["_source_row"] = pd.Series([], dtype="int64")
    sink(quarantine_frame(empty, np.zeros(0, dtype=bool), np.zeros(0, dtype=object)))


def _quarantine(bad_w: _Writer, dups: np.ndarray, sources: list[Source],
                ranges: list[tuple[int, int]], raw_ws: list[_Writer], union: list[str],
                sink, reread) -> tuple[dict[str, int], int]:
    """Reasons of every quarantined row (+ the rows, to ``sink``) in row order."""
    # all (row, reason) pairs, in row order: the rows' own problems, then later ids;
    # reasons as codes into a short list of distinct reason strings
    words: list[str] = []
    if bad_w.w is not None:
        bt = pq.read_table(bad_w.path)
        brows = bt.column(_ROWNUM).to_numpy()
        enc = bt.column("reason").combine_chunks().dictionary_encode()
        codes = enc.indices.to_numpy().astype(np.int64)
        words = enc.dictionary.to_pylist()
        del bt, enc
    else:
        brows = np.zeros(0, dtype=np.int64)
        codes = np.zeros(0, dtype=np.int64)
    index = {w: i for i, w in enumerate(words)}

    def code(word: str) -> int:
        if word not in index:
            index[word] = len(words)
            words.append(word)
        return index[word]

    also = _in(dups, brows)
    if also.any():
        remap = {int(c): code(words[int(c)] + ";duplicate_call_id") for c in np.unique(codes[also])}
        codes = codes.copy()
        codes[also] = np.array([remap[int(c)] for c in codes[also]], dtype=np.int64) \
            if len(remap) > 1 else next(iter(remap.values()))
    only = dups[~_in(brows, dups)] if len(dups) else dups
    rows = np.concatenate([brows, only])
    codes = np.concatenate([codes, np.full(len(only), code("duplicate_call_id") if len(only)
                                           else 0, dtype=np.int64)])
    order = np.argsort(rows, kind="stable")
    rows, codes = rows[order], codes[order]
    counts: Counter = Counter()
    for c, k in enumerate(np.bincount(codes, minlength=len(words)) if len(codes) else []):
        if k:
            for part in words[c].split(";"):
                counts[part] += int(k)
    text = np.array(words, dtype=object)
    if sink is not None:
        _quarantine_header(union, sink)
        only_set = only
        for i, (src, (lo, hi), w) in enumerate(zip(sources, ranges, raw_ws, strict=True)):
            a, b = np.searchsorted(rows, [lo, hi])
            if a == b:
                continue
            x0, x1 = np.searchsorted(only_set, [lo, hi])
            if x0 == x1:
                # every quarantined row of this file was kept when it was checked
                pf = pq.ParquetFile(w.path, pre_buffer=False)
                pos = a
                for batch in pf.iter_batches(batch_size=65536):
                    t = pa.Table.from_batches([batch])
                    k = t.num_rows
                    df = t.drop_columns([_ROWNUM, _SRCROW]).to_pandas()
                    df["_source_row"] = t.column(_SRCROW).to_numpy()
                    sink(_qframe(df, src.name, union, text[codes[pos:pos + k]]))
                    pos += k
                continue
            # later rows of an id that were otherwise valid: read the file again for them
            start = lo
            for table, srcrow in reread(i):
                k = table.num_rows
                x, y = np.searchsorted(rows, [start, start + k])
                if x < y:
                    take = rows[x:y] - start
                    t = table.take(pa.array(take))
                    df = t.to_pandas()
                    df["_source_row"] = srcrow[take]
                    sink(_qframe(df, src.name, union, text[codes[x:y]]))
                start += k
    return dict(counts), int(len(rows))


@dataclass
class StreamedResult:
    """What ``ccpm validate`` prints about a streamed load: the counts and notes of a
    :class:`analysis.load.LoadResult` without its rows (``len(valid)`` and
    ``len(quarantine)`` work; the rows are in the files written)."""

    kind: str
    mapping: str
    rows_read: int
    valid: WrittenRows
    quarantine: WrittenRows
    sources: list[str]
    notes: list[str]
    counts: dict[str, int]

    def summary(self) -> pd.DataFrame:
        return summary_frame(len(self.valid), self.counts, self.rows_read)

    def reason_counts(self) -> dict[str, int]:
        s = self.summary()
        return {r: int(k) for r, k in zip(s["reason"], s["rows"], strict=True) if r != "valid"}


def validate_calls(path, mapping, out_dir, *, progress: bool = False,
                   chunk_rows: int | None = None, fast: bool = True,
                   opened: Source | None = None) -> tuple[StreamedResult, dict[str, Path]]:
    """``valid.parquet``, ``quarantine.csv`` and ``summary.csv`` of call records in
    ``out_dir``, streamed (the same files :func:`analysis.load.write_validated` writes for
    :func:`analysis.load.load_calls`, byte for byte, in flat memory).

    Returns
    -------
    (StreamedResult, {"valid": Path, "quarantine": Path, "summary": Path})
    """

    out = Path(out_dir)
    paths = {"valid": out / "valid.parquet", "quarantine": out / "quarantine.csv",
             "summary": out / "summary.csv"}
    with raw_tempdir("validate") as tmp:
        # written aside, moved into the output folder only once the load succeeded
        tv, tq = Path(tmp) / "valid.parquet", Path(tmp) / "quarantine.csv"
        try:
            with open(tq, "w", encoding="utf-8", newline="") as fh:
                first = [True]

                def sink(df: pd.DataFrame) -> None:
                    # spreadsheet formulas neutralised, as write_validated does
                    safe_csv(df, fh, index=False, header=first[0])
                    first[0] = False

                st = stream_calls(path, mapping, valid_path=tv, quarantine_sink=sink,
                                  progress=progress, chunk_rows=chunk_rows, fast=fast,
                                  opened=opened)
        except OSError as exc:
            raise InputError(f"{tq}: cannot write the quarantine ({exc.strerror})") from None
        res = StreamedResult(kind="calls", mapping=st.mapping, rows_read=st.rows_read,
                             valid=WrittenRows(st.valid_rows), quarantine=WrittenRows(st.quarantined),
                             sources=st.sources, notes=st.notes, counts=st.reason_counts)
        move_outputs(out, tv, tq, paths["valid"], paths["quarantine"])
    safe_csv(res.summary(), paths["summary"], index=False)
    return res, paths


def _qframe(df: pd.DataFrame, name: str, union: list[str], reasons: np.ndarray) -> pd.DataFrame:
    """Quarantine rows of one file (its raw columns + ``_source_row``) in the layout of
    :func:`analysis.load._result.quarantine_frame` over all files' columns."""
    df["_source_file"] = name
    for c in union:
        if c not in df.columns:
            df[c] = pd.Series(pd.NA, index=df.index, dtype="str")
    df = df[union + ["_source_file", "_source_row"]]
    return quarantine_frame(df, np.ones(len(df), dtype=bool), reasons)
