"""Read raw exports into a DataFrame of the source's own columns.

Formats: delimited text (comma, semicolon, tab, pipe; any common encoding,
detected), gzipped text, a zip holding one table, Parquet and Excel (.xlsx).
Delimited text is read with every column as a string so that the quarantine
file can show each rejected row exactly as it was read; Parquet keeps its
types; Excel cells are normalised to text (dates as ISO, times as H:MM:SS).

Every physical data row ends up as a row of the returned frame: a line that
does not split into the header's number of fields is kept too, with its raw
text in the first column and ``_bad`` set to ``malformed_row``.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import glob as _glob
import gzip
import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError

__all__ = ["ReadOptions", "expand_paths", "read_table", "read_many", "SOURCE_COLUMNS"]

#: Internal columns added to every raw frame (provenance and reader verdicts).
SOURCE_COLUMNS = ("_source_file", "_source_row", "_bad")

TEXT_EXT = (".csv", ".tsv", ".txt", ".dat", ".psv", ".gz", ".zip")
TABLE_EXT = TEXT_EXT + (".parquet", ".pq", ".xlsx", ".xlsm")
DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 256 * 1024
_HEADER_SCAN_ROWS = 20


@dataclass
class ReadOptions:
    """How to read a source; every field ``None`` means "detect"."""

    format: str | None = None  # csv | parquet | excel
    delimiter: str | None = None
    encoding: str | None = None
    header_row: int | None = None  # 0-based row of the header; None = detect
    sheet: str | int | None = None
    member: str | None = None  # file inside a zip archive
    expected: set[str] = field(default_factory=set)  # column names the mapping wants


def expand_paths(path: str | os.PathLike) -> list[Path]:
    """A file, a folder (its table files, sorted) or a glob -> list of files."""
    text = os.fspath(path)
    p = Path(text)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(
            f
            for f in p.iterdir()
            if f.is_file()
            and not f.name.startswith((".", "~$"))
            and f.name.lower().endswith(TABLE_EXT)
        )
        if not files:
            raise InputError(f"{text}: folder holds no table files ({', '.join(TABLE_EXT)})")
        return files
    if any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in _glob.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise InputError(f"{text}: no file matches")
        return files
    raise InputError(f"{text}: no such file or folder")


# ----------------------------------------------------------------------------- sniffing


def _sniff_kind(head: bytes) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return "text"


def _detect_encoding(sample: bytes, where: str) -> str:
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a character cut by the sample's end
            return "utf-8"
    # mostly valid UTF-8 with a few stray bytes: UTF-8 (the stray bytes become U+FFFD)
    text = sample.decode("utf-8", errors="replace")
    n_bad = text.count("\ufffd")
    n_multi = len(_NON_ASCII.findall(text)) - n_bad
    if n_multi > 0 and n_bad * 5 <= n_multi:
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InputError(f"{where}: not a text table (binary content or unknown encoding)")
    enc = best.encoding.lower().replace("-", "_")
    if enc in {"gb2312", "gbk", "gb18030", "hz", "cp936"}:
        return "gb18030"  # superset of GB2312 and GBK: what Chinese ACD exports use
    return best.encoding


_NON_ASCII = re.compile("[^\x00-\x7f]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")


def _looks_binary(sample: bytes, encoding: str) -> bool:
    if encoding.startswith("utf-16"):
        return False
    if b"\x00" in sample:
        return True
    text = sample.decode(encoding, errors="replace")
    if not text:
        return False
    bad = len(_CONTROL.findall(text))
    return bad / len(text) > 0.02


def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", (-1, -1)
    for d in DELIMITERS:
        counts = [len(r) - 1 for r in csv.reader(lines, delimiter=d)]
        counts = [c for c in counts if c >= 0]
        if not counts or max(counts) == 0:
            continue
        mode = max(set(counts), key=counts.count)
        agree = sum(c == mode for c in counts)
        score = (agree, mode)
        if mode > 0 and score > best_score:
            best, best_score = d, score
    return best


def _norm(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").lower()


def _pick_header(rows: list[list[str]], expected: set[str]) -> int:
    """Index of the header among the first rows (a title or merged row may sit above)."""
    rows = rows[:_HEADER_SCAN_ROWS]
    if not rows:
        return 0
    exp = {_norm(e) for e in expected}
    if exp:
        scores = [sum(_norm(c) in exp for c in r if str(c).strip()) for r in rows]
        if max(scores) > 0:
            return scores.index(max(scores))
    widths = [sum(bool(str(c).strip()) for c in r) for r in rows]
    top = max(widths)
    for i, w in enumerate(widths):
        if w == top:
            return i
    return 0  # pragma: no cover


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = str(n).strip().lstrip("\ufeff") or f"column_{i + 1}"
        if n in seen:
            seen[n] += 1
            n = f"{n}.{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


# ----------------------------------------------------------------------------- text tables


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _to_utf8(data: bytes, encoding: str, where: str) -> tuple[bytes, int]:
    """Bytes in ``encoding`` -> UTF-8 bytes (BOM dropped), and how many bytes were undecodable."""
    enc = codecs.lookup(encoding).name
    if enc == "utf-8":
        try:
            data.decode("utf-8")
            return data, 0
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode(enc, errors="replace")
    except LookupError:  # pragma: no cover - checked when the mapping is read
        raise InputError(f"{where}: unknown encoding {encoding!r}") from None
    bad = text.count("\ufffd") - data.decode(enc, errors="ignore").count("\ufffd")
    return text.lstrip("\ufeff").encode("utf-8"), bad


def _read_text(data: bytes | Path, where: str, opts: ReadOptions) -> pd.DataFrame:
    """Delimited text -> all-string frame (malformed lines kept, flagged)."""
    if isinstance(data, Path):
        data = data.read_bytes()
    sample = data[:_SNIFF_BYTES]
    if not sample.strip():
        raise InputError(f"{where}: file is empty")
    encoding = opts.encoding or _detect_encoding(sample, where)
    if _looks_binary(sample, encoding):
        raise InputError(f"{where}: not a text table (binary content)")
    data, undecodable = _to_utf8(data, encoding, where)
    sample = data[:_SNIFF_BYTES]
    text = sample.decode("utf-8", errors="replace").lstrip("\ufeff")
    all_lines = _NEWLINE.split(text)
    if len(sample) == _SNIFF_BYTES and len(all_lines) > 1:
        all_lines = all_lines[:-1]  # the last line may be cut
    lines = [ln for ln in all_lines if ln.strip()][:200]
    if not lines:
        raise InputError(f"{where}: file is empty")
    delim = opts.delimiter or _sniff_delimiter(lines[:50])
    parsed = list(csv.reader(lines[:_HEADER_SCAN_ROWS], delimiter=delim))
    hdr = opts.header_row if opts.header_row is not None else _pick_header(parsed, opts.expected)
    if hdr >= len(parsed):
        raise InputError(f"{where}: header row {hdr} not found")
    names = _dedupe(parsed[hdr])
    # physical lines to skip (Arrow's skip_rows counts blank lines too), header included
    skip = 0
    seen = -1
    for ln in all_lines:
        skip += 1
        if ln.strip():
            seen += 1
            if seen == hdr:
                break
    bad: list[str] = []

    def on_bad(row) -> str:
        bad.append(row.text)
        return "skip"

    src = io.BytesIO(data)
    try:
        table = pacsv.read_csv(
            src,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=skip, encoding="utf8", block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=True, invalid_row_handler=on_bad
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as exc:
        msg = str(exc).splitlines()[0][:160]
        raise InputError(f"{where}: cannot be read as a {delim!r}-delimited table ({msg})") from None
    df = table.to_pandas()
    df["_source_row"] = np.arange(1, len(df) + 1)
    df["_bad"] = ""
    if bad:
        rows = []
        for t in bad:
            fields = next(csv.reader([t], delimiter=delim), [t])
            if len(fields) > len(names):
                fields = fields[: len(names) - 1] + [delim.join(fields[len(names) - 1 :])]
            fields = fields + [""] * (len(names) - len(fields))
            rows.append(fields)
        extra = pd.DataFrame(rows, columns=names, dtype="str")
        extra["_source_row"] = 0
        extra["_bad"] = "malformed_row"
        df = pd.concat([df, extra], ignore_index=True)
    if undecodable:
        df.attrs["notes"] = [f"{where}: {undecodable} bytes not valid {encoding} were read as U+FFFD"]
    return df


# ----------------------------------------------------------------------------- Excel


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, bool | np.bool_):
        return "TRUE" if v else "FALSE"
    if isinstance(v, pd.Timestamp | dt.datetime):
        if v is pd.NaT:
            return ""
        if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0):
            return v.strftime("%Y-%m-%d")
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, dt.timedelta | pd.Timedelta):
        s = int(pd.Timedelta(v).total_seconds())
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return str(v)


def _read_excel(path: Path, where: str, opts: ReadOptions) -> pd.DataFrame:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover
        raise InputError("reading .xlsx needs openpyxl") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
        raise InputError(f"{where}: not a readable Excel workbook ({type(exc).__name__})") from None
    try:
        sheet = opts.sheet
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if sheet >= len(wb.worksheets):
                raise InputError(f"{where}: no sheet number {sheet}")
            ws = wb.worksheets[sheet]
        else:
            if sheet not in wb.sheetnames:
                raise InputError(f"{where}: no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
            ws = wb[sheet]
        rows, numbers = [], []
        for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in r]
            if any(c.strip() for c in cells):  # blank spreadsheet rows are not data rows
                rows.append(cells)
                numbers.append(i)
    finally:
        wb.close()
    if not rows:
        raise InputError(f"{where}: sheet is empty")
    hdr = opts.header_row if opts.header_row is not None else _pick_header(rows, opts.expected)
    header = rows[hdr]
    # trailing empty header cells with no data under them are not columns
    width = max(len(r) for r in rows)
    header = header + [""] * (width - len(header))
    body = [r + [""] * (width - len(r)) for r in rows[hdr + 1 :]]
    keep = [i for i in range(width) if header[i].strip() or any(r[i].strip() for r in body)]
    names = _dedupe([header[i] for i in keep])
    df = pd.DataFrame([[r[i] for i in keep] for r in body], columns=names, dtype="str")
    if df.empty:
        df = pd.DataFrame({n: pd.Series([], dtype="str") for n in names})
    df["_source_row"] = np.asarray(numbers[hdr + 1 :], dtype=np.int64)  # spreadsheet row numbers
    df["_bad"] = ""
    return df


# ----------------------------------------------------------------------------- dispatch


def _read_parquet(src: Path | bytes, where: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        # page checksums, where the writer stored them, catch flipped bytes in the data
        table = pq.read_table(io.BytesIO(src) if isinstance(src, bytes) else src,
                              page_checksum_verification=True)
    except (pa.ArrowInvalid, OSError) as exc:
        msg = " ".join(str(exc).split())  # pyarrow's messages span lines: one line here
        raise InputError(f"{where}: not a readable Parquet file ({msg[:160]})") from None
    df = table.to_pandas()
    df["_source_row"] = np.arange(1, len(df) + 1)
    df["_bad"] = ""
    return df


def read_table(path: Path, opts: ReadOptions | None = None) -> pd.DataFrame:
    """Read one file; adds ``_source_file``, ``_source_row`` and ``_bad`` columns."""
    opts = opts or ReadOptions()
    where = str(path)
    if not path.exists():
        raise InputError(f"{where}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{where}: file is empty")
    with open(path, "rb") as fh:
        head = fh.read(8)
    kind = opts.format or _sniff_kind(head)
    if kind in ("csv", "tsv", "text"):
        kind = _sniff_kind(head) if _sniff_kind(head) in ("gzip", "zip") else "text"
    if kind == "xls":
        raise InputError(f"{where}: legacy .xls is not supported; save the sheet as .xlsx or CSV")
    if kind == "parquet":
        df = _read_parquet(path, where)
    elif kind in ("excel", "xlsx"):
        df = _read_excel(path, where, opts)
    elif kind == "zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise InputError(f"{where}: damaged zip file") from None
        with zf:
            names = zf.namelist()
            if "xl/workbook.xml" in names or "[Content_Types].xml" in names:
                df = _read_excel(path, where, opts)
            else:
                members = [
                    n
                    for n in names
                    if not n.endswith("/")
                    and not n.startswith("__MACOSX/")
                    and not Path(n).name.startswith(".")
                ]
                if opts.member is not None:
                    if opts.member not in names:
                        raise InputError(f"{where}: no member {opts.member!r} in the zip")
                    members = [opts.member]
                if len(members) != 1:
                    raise InputError(
                        f"{where}: zip holds {len(members)} files; name one with read.member"
                    )
                data = zf.read(members[0])
                where = f"{where}!{members[0]}"
                if data[:4] == b"PAR1":
                    df = _read_parquet(data, where)
                else:
                    if data[:2] == b"\x1f\x8b":
                        try:
                            data = gzip.decompress(data)
                        except (OSError, EOFError, zlib.error) as exc:
                            raise InputError(f"{where}: damaged gzip file ({exc})") from None
                    df = _read_text(data, where, opts)
    elif kind == "gzip":
        try:
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        except (OSError, EOFError, zlib.error) as exc:  # zlib.error: corrupt deflate data
            raise InputError(f"{where}: damaged gzip file ({exc})") from None
        if not data.strip():
            raise InputError(f"{where}: file is empty")
        if data[:4] == b"PAR1":
            df = _read_parquet(data, where)
        else:
            df = _read_text(data, where, opts)
    else:
        df = _read_text(path, where, opts)
    df["_source_file"] = path.name
    return df


def read_many(paths: list[Path], opts: ReadOptions | None = None, *, progress=None
              ) -> tuple[pd.DataFrame, list[str]]:
    """Read and stack several files (columns united by name); also the readers' notes."""
    frames, notes = [], []
    for p in paths:
        if progress is not None:
            progress(p)
        df = read_table(p, opts)
        notes.extend(df.attrs.pop("notes", []))
        frames.append(df)
    if len(frames) == 1:
        return frames[0], notes
    return pd.concat(frames, ignore_index=True, sort=False), notes
