"""The streaming loader's fast path: one contract-shaped CSV whose every row is plainly valid.

Most files given to ``ccpm validate`` are exports already shaped like the contract
(``ccpm synth``, a previous ``valid.parquet`` turned into CSV, a warehouse dump), and
nearly all of their rows are written in one plain form: ``2026-01-05 07:00:00``, ``128.0``,
``true``, ASCII ids. For such a file the slice-by-slice checks in pandas
(:mod:`._stream`) cost several times what reading and writing the rows costs. Here
DuckDB's own CSV reader (parallel; the dialect the full loader sniffed; strict mode, so a
line that Arrow's reader might split otherwise is an error) feeds one query that, per
row, types every column and decides whether the row is *plain*: every field in a form
whose meaning under the contract mapping is unambiguous, and the row valid under every
contract check (required fields, vocabularies, durations in range, times inside the
window, answer not before arrival, ...). The typed rows are encoded into
``valid.parquet`` by pyarrow in a writer thread, with the slice path's writer, row groups
and metadata (so the same bytes); the row count the metadata needs up front is the line
count taken while the file was checked for UTF-8, and it must equal the rows read. Then
no call id may repeat: the ids' hashes, kept from the pass, are sorted and no two may be
equal (else the ids in the file written are counted).

Only when **every** row is plain, the counts agree and the ids are unique is the result
used: the file's rows are then all valid and the quarantine is its header alone. At the
first batch holding a row that is not plain (an odd spelling, a quarantined row, a
malformed line, a repeated id, a field with a line break...), :func:`fast_contract_csv`
gives up and returns ``None``, and the caller runs the full slice-by-slice loader from
the start, which decides every row as before (and overwrites ``valid.parquet``). The
fast path therefore never decides a row differently: it only accepts rows whose outcome
the full loader is known to give as "valid, unchanged". Its cost: a file whose only odd
row is near its end is read twice. ``CCPM_LOAD_FAST=0`` turns it off.

Why pyarrow writes the file, not DuckDB's ``COPY ... TO`` (2026-12-05, 3 M rows, one
thread each): the checked rows fetched as Arrow took 4.5 s and pyarrow's encoding 0.7 s,
while DuckDB's own Parquet writer over the same query took 6.5 s -- slower, and its bytes
(created_by, encodings, no ``ARROW:schema``) would no longer be the slice path's.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ROW_GROUP_ROWS", "RowGroupWriter", "fast_contract_csv", "is_identity_contract"]

#: Row-group size of valid.parquet: pyarrow's default, so the file is the one
#: ``pyarrow.parquet.write_table`` writes for the same rows.
ROW_GROUP_ROWS = 1024 * 1024
#: Set to ``0`` to turn the fast path off (the full loader then reads every file).
FAST_ENV = "CCPM_LOAD_FAST"


class RowGroupWriter:
    """``valid.parquet`` written in row groups of :data:`ROW_GROUP_ROWS` rows, each handed
    to the writer as one contiguous table (as ``write_table`` gets it from a whole frame:
    where a column's dictionary overflows, and the writer falls back to plain pages,
    depends on the chunks it is handed)."""

    def __init__(self, path, schema: pa.Schema, meta: dict[bytes, bytes]):
        self.meta = meta
        self.schema = schema.remove_metadata()
        self.writer = pq.ParquetWriter(path, schema.with_metadata(meta))
        self.buf: list[pa.Table] = []
        self.n_buf = 0
        self.rows = 0

    def add(self, t: pa.Table) -> None:
        if not t.num_rows:
            return
        self.buf.append(t.cast(self.schema))
        self.n_buf += t.num_rows
        self.rows += t.num_rows
        self._flush(False)

    def _flush(self, force: bool) -> None:
        while self.n_buf >= ROW_GROUP_ROWS or (force and self.n_buf):
            t = pa.concat_tables(self.buf)
            part, rest = t.slice(0, ROW_GROUP_ROWS), t.slice(ROW_GROUP_ROWS)
            part = part.combine_chunks()
            self.writer.write_table(part.replace_schema_metadata(self.meta),
                                    row_group_size=ROW_GROUP_ROWS)
            self.buf, self.n_buf = ([rest] if rest.num_rows else []), rest.num_rows

    def finish(self) -> None:
        self._flush(True)
        if self.rows == 0:
            self.writer.write_table(self.schema.with_metadata(self.meta).empty_table())

    def close(self) -> None:
        self.writer.close()


def default_ts_window() -> tuple[dt.datetime, dt.datetime]:
    """:func:`._checks.ts_window` of a mapping without ``checks`` (the contract's), without
    pandas: 1990-01-01 to the start of the day after tomorrow, local clock."""
    today = dt.datetime.combine(dt.date.today(), dt.time())
    return dt.datetime(1990, 1, 1), today + dt.timedelta(days=2)


def _checks_ts_window(checks: dict):
    from ._checks import ts_window

    return ts_window(checks)


def is_identity_contract(m) -> bool:
    """The contract mapping itself: columns named as in the contract, default missing
    markers, checks, no rules (``ccpm validate`` without ``--mapping``)."""
    return (m.kind == "calls" and not m.columns and not m.rules and not m.checks
            and list(m.missing) == [""] and m.melt is None and not m.dedupe
            and m.scale is None)


# the ASCII spellings of parse_bool (_build._TRUE / _FALSE)
_TRUE = ("true", "t", "yes", "y", "1", "1.0", "true.", "x")
_FALSE = ("false", "f", "no", "n", "0", "0.0")
_TS_FMT = "%Y-%m-%d %H:%M:%S"
_NUM = r"[0-9]{1,15}(\.[0-9]{0,15})?|\.[0-9]{1,15}"
_COLS = ("call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
         "hold_s", "acw_s", "customer_id", "ended_by", "resolved", "csat", "qa_score",
         "complaint")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(words) -> str:
    return ", ".join("'" + w + "'" for w in words)


def _query(lo: str, hi: str, ascii_no_nul: bool = False) -> str:
    """The per-row SELECT over ``raw`` (every column VARCHAR, NULL or '' when empty).

    Plain forms (each chosen so that the full loader reads it to the same value):

    * text: ASCII only (byte length = character length), no NUL, no whitespace or
      control character first or last -- strip, NFKC and zero-width removal leave it as
      it is;
    * times: exactly ``YYYY-MM-DD HH:MM:SS`` (what DuckDB parses prints back the same);
    * numbers: digits with at most one dot (``128``, ``128.0``, ``3.``, ``.5``; at most
      15 digits either side, no sign, no exponent);
    * outcome, ended_by and the booleans: ASCII spellings that the loader lower-cases
      into its vocabulary.

    Cheap string functions (and one short regular expression for numbers): this runs on
    every field. ``ascii_no_nul``: the whole file is known to be ASCII without a NUL byte
    (:attr:`._readers.TextSource.ascii_no_nul`), so no field is checked for either --
    about a fifth of the query's work on a plain file.

    Two forms are cheaper than they read: ``x >= '!'`` is "the first byte of the
    non-empty ``x`` is above 32" (DuckDB compares text byte by byte; a first byte above
    32 is a first character above U+0020 in UTF-8), and a time read with the format above
    (no fraction) and inside the window prints back as ``YYYY-MM-DD HH:MM:SS`` under a
    plain cast to text, as under ``strftime`` with that format."""
    r = {n: f"r.{_q(n)}" for n in _COLS}

    def plain(x):  # x non-empty
        if ascii_no_nul:  # one byte a character: the last character is the last byte
            return f"({x} >= '!' AND substr({x}, strlen({x})) >= '!')"
        return (f"(strlen({x}) = length({x}) AND {x} >= '!' "
                f"AND unicode(right({x}, 1)) > 32 AND NOT contains({x}, chr(0)))")

    def ts_ok(x, v):
        return (f"(CAST({v} AS VARCHAR) = {x} "
                f"AND {v} >= TIMESTAMP '{lo}' AND {v} <= TIMESTAMP '{hi}')")

    def num_ok(x, v, lo_v, hi_v):  # CASE: the regular expression only on non-empty text
        return (f"(CASE WHEN {x} = '' THEN true ELSE regexp_full_match({x}, '{_NUM}') "
                f"AND {v} BETWEEN {lo_v} AND {hi_v} END)")

    def word_ok(x, words):
        lx = f"l_{x[3:-1]}"
        if ascii_no_nul:
            return f"({lx} IN ({_lit(words)}))"
        return f"(strlen({x}) = length({x}) AND {lx} IN ({_lit(words)}))"

    def bool_ok(x):
        return f"({x} = '' OR {word_ok(x, _TRUE + _FALSE)})"

    def bool_v(x):
        return f"CASE WHEN {x} = '' THEN NULL ELSE l_{x[3:-1]} IN ({_lit(_TRUE)}) END"

    def lowered(n, words):
        # lower(x), spared for the usual spellings (already lower case; ~0.05 s CPU a
        # column at 3 M rows)
        x = r[n]
        return f"CASE WHEN {x} IN ({_lit(words)}) THEN {x} ELSE lower({x}) END AS l_{n}"

    handled = "(l_outcome IN ('answered', 'transferred'))"
    ok = " AND ".join([
        f"{r['call_id']} <> '' AND {plain(r['call_id'])}",
        f"{r['queue']} <> '' AND {plain(r['queue'])}",
        word_ok(r["outcome"], ("answered", "abandoned", "transferred")),
        ts_ok(r["arrival_ts"], "v_arr"),
        f"(CASE WHEN {r['agent_id']} = '' THEN NOT {handled} ELSE {plain(r['agent_id'])} END)",
        f"(CASE WHEN {r['answer_ts']} = '' THEN NOT {handled} ELSE {ts_ok(r['answer_ts'], 'v_ans')} "
        "AND v_ans >= v_arr AND l_outcome <> 'abandoned' END)",
        f"(CASE WHEN {r['talk_s']} = '' THEN NOT {handled} "
        f"ELSE {num_ok(r['talk_s'], 'v_talk', 0, 86400)} END)",
        num_ok(r["hold_s"], "v_hold", 0, 86400),
        num_ok(r["acw_s"], "v_acw", 0, 86400),
        f"({r['customer_id']} = '' OR {plain(r['customer_id'])})",
        f"({r['ended_by']} = '' OR {word_ok(r['ended_by'], ('agent', 'customer', 'system'))})",
        bool_ok(r["resolved"]),
        num_ok(r["csat"], "v_csat", 1, 5),
        num_ok(r["qa_score"], "v_qa", 0, 100),
        bool_ok(r["complaint"]),
    ])
    return f"""
        SELECT
            {r['call_id']} AS call_id,
            {r['queue']} AS queue,
            v_arr AS arrival_ts,
            l_outcome AS outcome,
            NULLIF({r['agent_id']}, '') AS agent_id,
            v_ans AS answer_ts,
            v_talk AS talk_s,
            coalesce(v_hold, 0.0) AS hold_s,
            coalesce(v_acw, 0.0) AS acw_s,
            NULLIF({r['customer_id']}, '') AS customer_id,
            NULLIF(l_ended_by, '') AS ended_by,
            {bool_v(r['resolved'])} AS resolved,
            v_csat AS csat,
            v_qa AS qa_score,
            {bool_v(r['complaint'])} AS complaint,
            hash({r['call_id']}) AS __h,
            coalesce({ok}, false) AS __ok
        FROM (
            SELECT r.*,
                CAST(try_strptime({r['arrival_ts']}, '{_TS_FMT}') AS TIMESTAMP) AS v_arr,
                CAST(try_strptime({r['answer_ts']}, '{_TS_FMT}') AS TIMESTAMP) AS v_ans,
                try_cast(NULLIF({r['talk_s']}, '') AS DOUBLE) AS v_talk,
                try_cast(NULLIF({r['hold_s']}, '') AS DOUBLE) AS v_hold,
                try_cast(NULLIF({r['acw_s']}, '') AS DOUBLE) AS v_acw,
                try_cast(NULLIF({r['csat']}, '') AS DOUBLE) AS v_csat,
                try_cast(NULLIF({r['qa_score']}, '') AS DOUBLE) AS v_qa,
                {lowered('outcome', ('answered', 'abandoned', 'transferred'))},
                {lowered('ended_by', ('', 'agent', 'customer', 'system'))},
                {lowered('resolved', ('', 'true', 'false'))},
                {lowered('complaint', ('', 'true', 'false'))}
            FROM (SELECT {", ".join(f"coalesce({_q(n)}, '') AS {_q(n)}" for n in _COLS)}
                  FROM raw) r
        ) r
    """


def _str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_csv_sql(ts_src) -> str:
    """DuckDB's reader over the prepared (UTF-8) CSV, with the dialect the full loader
    reads it in: the sniffed delimiter, ``"`` quotes doubled inside quoted fields, quoted
    newlines, the header line skipped, every field text. ``strict_mode`` makes any line
    that Arrow's reader might split otherwise (a wrong number of fields, text after a
    closing quote, an unclosed quote) an error, and the file then goes to the full loader."""
    cols = ", ".join(f"{_str(n)}: 'VARCHAR'" for n in ts_src.names)
    return (f"read_csv({_str(str(ts_src.path))}, delim = {_str(ts_src.delimiter)}, "
            "quote = '\"', escape = '\"', header = false, skip = 1, all_varchar = true, "
            f"auto_detect = false, columns = {{{cols}}}, strict_mode = true, "
            "null_padding = false, parallel = true)")


def fast_contract_csv(src, m, valid_path, tmpd: Path, meta_for: Callable[[int], dict],
                      schema: pa.Schema) -> int | None:
    """Rows of ``src`` (one prepared CSV source) when every row is plain and valid under
    the contract mapping ``m``, after writing them to ``valid_path``; ``None`` (nothing
    decided, ``valid_path`` possibly half written) otherwise. ``meta_for(rows)`` gives
    the Parquet metadata for that many rows read."""
    if os.environ.get(FAST_ENV, "1") == "0" or valid_path is None or src.kind != "text":
        return None
    if not is_identity_contract(m):
        return None
    ts_src = src.text
    contract = [c.name for c in m.contract_columns]
    if sorted(ts_src.names) != sorted(contract):  # extra or absent columns: full loader
        return None
    if ts_src.skip != 1:  # the header on the first line, nothing before it
        return None
    import queue
    import threading

    import duckdb

    lo, hi = default_ts_window() if not m.checks else _checks_ts_window(m.checks)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = ?", [os.environ.get("CCPM_LOAD_DUCKDB_MEMORY", "512MB")])
        con.execute("SET temp_directory = ?", [str(tmpd / "duckdb")])
        csv_sql = _read_csv_sql(ts_src)
        # the rows first (the writer needs the number for the file's metadata before the
        # first row group): the lines counted when the file was checked for UTF-8, less the
        # header, when no field holds a line break (else the rows read differ from it and
        # the full loader takes over); without that count, DuckDB counts (it only splits
        # lines, it converts nothing)
        if ts_src.lines is not None and ts_src.lines > 1:
            expected = ts_src.lines - 1
        else:
            expected = int(con.execute(f"SELECT count(*) FROM {csv_sql}").fetchall()[0][0])
        if not expected:
            return None
        # the Parquet encoding runs in a thread of its own (pyarrow lets go of the GIL)
        # while DuckDB checks the next rows; the thread also writes the last row group
        # and closes the file, while the ids are checked
        w = RowGroupWriter(valid_path, schema, meta_for(expected))
        todo: queue.Queue = queue.Queue(maxsize=4)
        failed: list[BaseException] = []

        def write() -> None:
            while True:
                t = todo.get()
                if isinstance(t, tuple):  # the end: (every row read and plain,)
                    try:
                        if t[0] and not failed:
                            w.finish()
                    except BaseException as exc:  # noqa: BLE001 - re-raised below
                        failed.append(exc)
                    finally:
                        try:
                            w.close()
                        except BaseException as exc:  # noqa: BLE001 - re-raised below
                            failed.append(exc)
                    return
                if not failed:
                    try:
                        w.add(t)
                    except BaseException as exc:  # noqa: BLE001 - re-raised below
                        failed.append(exc)

        th = threading.Thread(target=write, name="ccpm-fast-writer", daemon=True)
        th.start()
        rows = 0
        complete = False
        repeated = None
        # each row's hash(call_id), copied out of DuckDB's batches: 8 bytes a row
        hashes = np.empty(expected, dtype=np.uint64)
        try:
            con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM {csv_sql}")
            rel = con.sql(_query(lo.strftime("%Y-%m-%d %H:%M:%S.%f"),
                                 hi.strftime("%Y-%m-%d %H:%M:%S.%f"), ts_src.ascii_no_nul))
            for batch in rel.to_arrow_reader(1 << 17):
                okcol = batch.column(batch.num_columns - 1)
                if okcol.null_count or okcol.false_count:
                    break
                rows += batch.num_rows
                if rows > expected or failed:
                    break
                # copied: a column of DuckDB's batch keeps the whole batch's memory alive
                # (read from its buffer: pyarrow's to_numpy imports pandas)
                h = batch.column(batch.num_columns - 2)
                hashes[rows - batch.num_rows:rows] = np.frombuffer(
                    h.buffers()[1], dtype=np.uint64, count=len(h), offset=h.offset * 8)
                todo.put(pa.Table.from_batches([batch]).drop_columns(["__h", "__ok"]))
            else:
                complete = rows == expected
        finally:
            todo.put((complete,))
            try:
                if complete:
                    # any call id twice: the full loader quarantines the later rows. No
                    # two equal hashes proves every id distinct (numbers, not text, and no
                    # second read); two equal ones are a repeated id or, rarely, two ids of
                    # one hash: then the ids in the file written are counted below. Sorted
                    # in place by numpy (SIMD; ~0.03 s for 3 M rows, where DuckDB's
                    # count(DISTINCT) over the same numbers took ~0.2 s CPU)
                    hashes.sort()
                    repeated = bool((hashes[1:] == hashes[:-1]).any())
                    del hashes
            finally:
                th.join()
        if failed:  # e.g. no room left: the full loader writes again and says why
            return None
        if not complete:
            return None
        if repeated:
            dup = con.execute("SELECT count(*) - count(DISTINCT call_id) FROM read_parquet(?)",
                              [str(valid_path)]).fetchall()[0][0]
            if dup:
                return None
    except (duckdb.Error, pa.ArrowException, UnicodeError, OSError):
        return None  # unreadable or unwritable in some way: the full loader gives the reason
    finally:
        con.close()
    return rows
