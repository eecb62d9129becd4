"""Apply a mapping: raw columns -> typed contract columns, plus problem masks.

Everything is vectorised (pandas / numpy); no per-row Python.

Times and UTC offsets
---------------------
Contract timestamps are naive, in the center's local time. A time written with a UTC
offset (``+08:00``, ``+0800``, ``-5``, ``Z``, ``UTC``, ``GMT``) is read as follows:

* **Across rows**, the wall-clock time of each row is kept and the offset dropped: a center
  on daylight saving time writes ``-05:00`` in winter and ``-04:00`` in summer, and 09:00 is
  09:00 in both (converting to one offset would move half a year's calls by an hour in
  every time-of-day analysis). When a column carries more than one offset, the load
  summary says so in a note, with the offsets found.
* **Within a row**, the times are placed in the zone of the row's first timestamp
  (``arrival_ts``): a later time (``answer_ts``) whose offset differs from its arrival's
  is converted to the arrival's offset, so that waits and other durations computed across
  columns are right (``09:00:00+08:00`` answered ``01:00:20Z`` is a 20 s wait, not a
  negative one; a call spanning a DST change keeps its true length). The note counts the
  rows converted. A time without an offset is read in its row's zone (wall clock, as
  written); nothing is converted when either time lacks an offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ._ids import ID_COLUMNS, normalize_id_series
from ._mapping import _UNITS, FieldSpec, Mapping

__all__ = ["Problems", "build_columns", "parse_seconds", "parse_bool", "find_column",
           "offset_seconds", "timestamp_offsets"]

_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "对", "true.", "x"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否", "不", "错"}
# a UTC offset after a time of day (never after a bare date like 2026-01-05)
_TZ = r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{1,2}(?::?\d\d)?)$"


@dataclass
class Problems:
    """Row problems: a list of (reason, boolean mask) pairs, composed at the end."""

    n: int
    items: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def add(self, reason: str, mask) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.n,):  # pragma: no cover - programming error
            raise ValueError(f"mask for {reason} has shape {m.shape}, expected {(self.n,)}")
        if m.any():
            self.items.append((reason, m))

    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for _, m in self.items:
            out |= m
        return out

    def reasons(self) -> tuple[np.ndarray, np.ndarray]:
        """(bad-row mask, reason strings for the bad rows, in row order)."""
        bad = self.any()
        idx = np.flatnonzero(bad)
        parts: list[list[str]] = [[] for _ in range(len(idx))]
        seen: list[set[str]] = [set() for _ in range(len(idx))]
        for reason, m in self.items:
            for j in np.flatnonzero(m[idx]):
                if reason not in seen[j]:
                    parts[j].append(reason)
                    seen[j].add(reason)
        return bad, np.array([";".join(p) for p in parts], dtype=object)


def find_column(raw: pd.DataFrame, name: str, key: str, mapping: Mapping) -> str:
    """The raw column called ``name`` (exact, then case/space-insensitive)."""
    if name in raw.columns:
        return name
    want = name.strip().lower()
    for c in raw.columns:
        if str(c).strip().lower() == want:
            return c
    shown = [c for c in raw.columns if not str(c).startswith("_source") and c != "_bad"]
    listing = ", ".join(map(str, shown[:25])) + (" ..." if len(shown) > 25 else "")
    raise InputError(
        f"column {name!r} named by mapping {mapping.name} ({key}) is not in the input "
        f"(columns: {listing})"
    )


# ----------------------------------------------------------------------------- scalar parsers


def _as_text(s: pd.Series, strip: bool = True) -> pd.Series:
    """Any column -> pandas str Series with NA for missing."""
    if isinstance(s.dtype, pd.StringDtype) or s.dtype == object or s.dtype == "str":
        out = s.astype("str")
    else:
        na = s.isna()
        if pd.api.types.is_float_dtype(s.dtype):
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            integral = np.isfinite(vals) & (np.mod(vals, 1) == 0) & (np.abs(vals) < 1e15)
            txt = np.where(integral, np.char.mod("%d", np.nan_to_num(vals).astype(np.int64)),
                           s.astype("str").to_numpy())
            out = pd.Series(txt, index=s.index, dtype="str")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out = s.dt.strftime("%Y-%m-%d %H:%M:%S").astype("str")
        else:
            out = s.astype("str")
        out = out.mask(na)
    if strip:
        out = out.str.strip()
    return out


def _arrow(txt: pd.Series) -> pa.Array:
    arr = pa.Array.from_pandas(txt)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    return arr


def _num(arr: pa.Array) -> np.ndarray:
    """Arrow strings that are plain numbers -> float64 (NaN elsewhere), in C++."""
    arr = pc.utf8_trim_whitespace(arr)
    ok = pc.match_substring_regex(arr, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
    vals = pc.cast(pc.if_else(ok, arr, pa.scalar(None, arr.type)), pa.float64())
    return vals.to_numpy(zero_copy_only=False)


def _extract(txt: pd.Series, pattern: str) -> dict[str, np.ndarray] | None:
    """Named groups of a RE2 pattern -> {name: float array}; '' and no-match are NaN."""
    arr = _arrow(txt)
    res = pc.extract_regex(arr, pattern)
    valid = res.is_valid().to_numpy(zero_copy_only=False)
    out = {}
    for i in range(res.type.num_fields):
        name = res.type.field(i).name
        child = pc.struct_field(res, [i])
        if name in ("ap", "sign"):
            out[name] = pc.fill_null(pc.utf8_lower(child), "").to_numpy(zero_copy_only=False)
        else:
            v = _num(pc.fill_null(child, ""))
            out[name] = np.where(valid, v, np.nan)
    out["_valid"] = valid
    return out


_HMS_RE2 = r"^\s*(?:(?P<d>\d+)\s+days?,?\s*)?(?P<sign>-?)(?P<h>\d+):(?P<m>\d{1,2})(?::(?P<s>\d{1,2}(?:\.\d*)?))?\s*$"
_TOD_RE2 = r"^\s*(?:\S*[ T])?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d*)?))?\s*(?P<ap>[AaPp]?)\.?[Mm]?\.?\s*$"


def parse_seconds(s: pd.Series, unit: str | None = None) -> pd.Series:
    """Durations -> float seconds. Numbers (times ``unit``) or ``[D days] H:MM[:SS]`` text."""
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds()
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        factor = _UNITS.get(unit or "s") or 1.0
        return s.astype(float) * factor
    txt = _as_text(s)
    if unit == "hms":
        out = np.full(len(txt), np.nan)
    else:
        arr = _arrow(txt)
        arr = pc.replace_substring_regex(arr, r"^(-?\d+),(\d+)$", r"\1.\2")
        out = _num(arr) * (_UNITS.get(unit or "s") or 1.0)
    todo = np.isnan(out) & txt.str.contains(":", regex=False).fillna(False).to_numpy(dtype=bool)
    if todo.any():
        g = _extract(txt[todo], _HMS_RE2)
        total = np.nan_to_num(g["d"]) * 86400 + g["h"] * 3600 + g["m"] * 60 + np.nan_to_num(g["s"])
        total = np.where(g["m"] < 60, total, np.nan)
        total = np.where(g["sign"] == "-", -total, total)
        out[todo] = total
    return pd.Series(out, index=s.index, dtype=float)


def _time_of_day(txt: pd.Series) -> pd.Series:
    """'H:MM[:SS][ AM/PM]' (or a datetime's time part) -> seconds since midnight (NaN if bad)."""
    arr = _arrow(txt)
    n = len(arr)
    h, m, sec = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    ap = np.full(n, "", dtype=object)
    # fast path for plain H:MM:SS (what most exports hold): split, no regex extraction
    plain = pc.fill_null(pc.match_substring_regex(arr, r"^\d{1,2}:\d\d:\d\d$"), False)
    plain_np = plain.to_numpy(zero_copy_only=False)
    if plain_np.any():
        parts = pc.list_flatten(pc.split_pattern(pc.filter(arr, plain), ":"))
        hms = pc.cast(parts, pa.float64()).to_numpy(zero_copy_only=False).reshape(-1, 3)
        h[plain_np], m[plain_np], sec[plain_np] = hms[:, 0], hms[:, 1], hms[:, 2]
    rest = ~plain_np & txt.notna().to_numpy()
    if rest.any():
        g = _extract(txt[rest], _TOD_RE2)
        h[rest], m[rest], sec[rest], ap[rest] = g["h"], g["m"], np.nan_to_num(g["s"]), g["ap"]
    h = np.where((ap == "p") & (h < 12), h + 12, h)
    h = np.where((ap == "a") & (h == 12), 0, h)
    ok = (h <= 23) & (m <= 59) & (sec < 61)
    return pd.Series(np.where(ok, h * 3600 + m * 60 + sec, np.nan), index=txt.index, dtype=float)


# a superset of the rows _TZ can match (a time, then a zone letter or a signed digit),
# found in C++ (RE2, Unicode digits, dot matches newline) so that Python's regex only
# runs on the few rows that carry an offset
_TZ_MAYBE = r"(?s)\p{Nd}:\p{Nd}\p{Nd}.*(?:Z|UTC|GMT|[+-]\p{Nd})"


def _drop_offsets(txt: pd.Series) -> pd.Series:
    """``txt`` with a UTC offset after the time removed (``_TZ``; wall clock kept)."""
    maybe = pc.fill_null(pc.match_substring_regex(_arrow(txt), _TZ_MAYBE), False)
    hit = maybe.to_numpy(zero_copy_only=False)
    if not hit.any():
        return txt
    out = txt.copy()
    out[hit] = txt[hit].str.replace(_TZ, r"\1", regex=True)
    return out


def parse_timestamp(s: pd.Series, fmt: str | None = None) -> pd.Series:
    """Timestamps -> naive datetime64[us]; an explicit offset is dropped (wall clock kept).

    The offsets are read apart by :func:`offset_seconds`; :func:`build_columns` uses them
    to place a row's times in one zone (see the module docstring)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[us]")
    txt = _as_text(s)
    if fmt is None or fmt == "ISO8601":
        txt = _drop_offsets(txt)
        fmt = "ISO8601"
    try:
        out = pd.to_datetime(txt, format=fmt, errors="coerce")
    except (ValueError, TypeError):  # offsets pandas still sees (garbage): compare in UTC
        out = pd.to_datetime(txt, format=fmt, errors="coerce", utc=True)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[us]")


_OFFSET_RE2 = (r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*"
               r"(?:(?P<z>Z|UTC|GMT)|(?P<sign>[+-])(?P<hh>\d{1,2}?):?(?P<mm>\d\d)?)$")


def offset_seconds(s: pd.Series) -> np.ndarray | None:
    """The UTC offset written after each time of ``s``, in seconds east of UTC (NaN where
    none); ``None`` when no row carries one (naive typed timestamps, text without offsets).
    A zone-aware typed column (Parquet ``timestamp[tz=...]``) gives each row's offset in its
    zone."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is None:
            return None
        wall = s.dt.tz_localize(None)
        utc = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return (wall - utc).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    arr = _arrow(_as_text(s))
    has = pc.fill_null(pc.match_substring_regex(arr, r"\d:\d\d.*[Z+\-GU]"), False)
    if not pc.any(has).as_py():
        return None
    g = pc.extract_regex(arr, _OFFSET_RE2)
    valid = pc.fill_null(g.is_valid(), False).to_numpy(zero_copy_only=False)
    if not valid.any():
        return None
    field_ = lambda name: pc.struct_field(g, [g.type.get_field_index(name)])  # noqa: E731
    utc = pc.fill_null(pc.not_equal(field_("z"), ""), False).to_numpy(zero_copy_only=False)
    hh = _num(pc.fill_null(field_("hh"), ""))
    mm = np.nan_to_num(_num(pc.fill_null(field_("mm"), "")))
    sign = np.where(pc.fill_null(field_("sign"), "").to_numpy(zero_copy_only=False) == "-",
                    -1.0, 1.0)
    out = np.where(utc, 0.0, sign * (hh * 3600 + mm * 60))
    return np.where(valid, out, np.nan)


def _offset_text(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = int(round(abs(seconds))) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def timestamp_offsets(s: pd.Series) -> list[str]:
    """The distinct UTC offsets written after the times of ``s`` (``Z``/``UTC``/``GMT`` =
    ``+00:00``), sorted; empty for naive typed timestamps or text without offsets."""
    off = offset_seconds(s)
    if off is None:
        return []
    return sorted({_offset_text(v) for v in np.unique(off[np.isfinite(off)])})


def parse_bool(txt: pd.Series) -> pd.Series:
    """Common yes/no spellings -> pandas boolean (NA where not recognised)."""
    if pd.api.types.is_bool_dtype(txt.dtype):
        return txt.astype("boolean")
    low = _as_text(txt).str.lower()
    out = pd.Series(pd.NA, index=txt.index, dtype="boolean")
    out[low.isin(_TRUE).fillna(False).astype(bool)] = True
    out[low.isin(_FALSE).fillna(False).astype(bool)] = False
    return out


# ----------------------------------------------------------------------------- field specs


@dataclass
class Built:
    """One built contract column."""

    values: pd.Series
    present: np.ndarray  # raw value present (not missing)
    bad: np.ndarray  # raw value present but could not be converted
    quarantined: np.ndarray | None = None  # raw value listed under the spec's `quarantine`
    notes: list[str] = field(default_factory=list)  # one line each, shown with the counts
    offset_s: np.ndarray | None = None  # timestamps: UTC offset written per row (s, NaN: none)


def _missing_mask(txt: pd.Series, spec: FieldSpec, mapping: Mapping) -> np.ndarray:
    miss = txt.isna().to_numpy().copy()
    markers = set(mapping.missing) | set(spec.missing)
    if markers:
        miss |= txt.isin(list(markers)).fillna(False).to_numpy(dtype=bool)
    if spec.missing_pattern is not None:
        miss |= txt.str.contains(spec.missing_pattern, regex=True).fillna(False).to_numpy(dtype=bool)
    return miss


def _build(raw: pd.DataFrame, spec: FieldSpec, ctype: pa.DataType, cname: str,
           mapping: Mapping, problems: Problems) -> Built:
    """Build one contract column from its spec (then `quarantine` / `missing_if`)."""
    b = _build_inner(raw, spec, ctype, cname, mapping, problems)
    n = len(raw)
    col = lambda name, k=spec.key: raw[find_column(raw, name, k, mapping)]  # noqa: E731
    q = np.zeros(n, dtype=bool)
    if spec.source == "coalesce":
        for sub in spec.coalesce:
            if sub.quarantine and sub.source == "from":
                q |= _as_text(col(sub.column), sub.strip).isin(list(sub.quarantine)).fillna(False).to_numpy(dtype=bool)
    elif spec.quarantine and spec.source == "from":
        q |= _as_text(col(spec.column), spec.strip).isin(list(spec.quarantine)).fillna(False).to_numpy(dtype=bool)
    b.quarantined = q
    if spec.missing_if:
        drop = np.zeros(n, dtype=bool)
        for cname_, values in spec.missing_if.items():
            t = _as_text(col(cname_, f"{spec.key}.missing_if"))
            drop |= t.isin(values).fillna(False).to_numpy(dtype=bool)
        if drop.any():
            keep = pd.Series(~drop, index=b.values.index)
            b = Built(b.values.where(keep), b.present & ~drop, b.bad & ~drop, q, b.notes,
                      b.offset_s)
    return b


def _build_inner(raw: pd.DataFrame, spec: FieldSpec, ctype: pa.DataType, cname: str,
                 mapping: Mapping, problems: Problems) -> Built:
    n = len(raw)
    col = lambda name, k=spec.key: raw[find_column(raw, name, k, mapping)]  # noqa: E731

    if spec.source == "coalesce":
        parts = [_build_inner(raw, sub, ctype, cname, mapping, problems) for sub in spec.coalesce]
        vals = parts[0].values.copy()
        present = parts[0].present.copy()
        bad = parts[0].bad.copy()
        nan = np.full(n, np.nan)
        offsets = [p.offset_s for p in parts]
        off = offsets[0] if offsets[0] is not None else nan
        for p in parts[1:]:
            take = ~present & ~bad
            vals = vals.where(~take, p.values)
            present |= take & p.present
            bad = np.where(take, p.bad, bad)
            off = np.where(take, p.offset_s if p.offset_s is not None else nan, off)
        has_off = any(o is not None for o in offsets)
        return Built(vals, present, bad, notes=[nt for p in parts for nt in p.notes],
                     offset_s=off if has_off else None)

    if spec.source == "date":
        dtxt = _as_text(col(spec.column), spec.strip)
        dmiss = _missing_mask(dtxt, spec, mapping)
        if spec.time:
            ttxt = _as_text(col(spec.time, f"{spec.key}.time"), spec.strip)
            tmiss = _missing_mask(ttxt, spec, mapping)
            dpart = dtxt.str.replace(r"[ T].*$", "", regex=True)
            day = parse_timestamp(dpart, spec.date_format)
            tod = _time_of_day(ttxt)
            if spec.rollover_after:
                anchor = _time_of_day(_as_text(col(spec.rollover_after, f"{spec.key}.rollover_after")))
                roll = (tod - anchor) < -12 * 3600
                tod = tod + np.where(roll.fillna(False).to_numpy(dtype=bool), 86400.0, 0.0)
            ts = day + pd.to_timedelta(tod, unit="s")
            present = ~dmiss & ~tmiss
            bad = present & ts.isna().to_numpy()
            off = None
        else:
            ts = parse_timestamp(dtxt.where(~pd.Series(dmiss, index=dtxt.index)), spec.date_format)
            present = ~dmiss
            bad = present & ts.isna().to_numpy()
            off = offset_seconds(dtxt)
        if spec.plus_seconds:
            add = parse_seconds(col(spec.plus_seconds, f"{spec.key}.plus_seconds"))
            addtxt = _as_text(col(spec.plus_seconds, f"{spec.key}.plus_seconds"))
            add_miss = _missing_mask(addtxt, spec, mapping)
            bad = bad | (present & ~add_miss & add.isna().to_numpy())
            present = present & ~add_miss
            ts = ts + pd.to_timedelta(add, unit="s")
        ts = ts.where(pd.Series(present & ~bad, index=ts.index))
        return Built(ts.astype("datetime64[us]"), present, bad, offset_s=off)

    # from / const / concat -> raw text (or typed) series
    if spec.source == "const":
        if spec.const is None:
            rawv = pd.Series(pd.NA, index=raw.index, dtype="str")
        else:
            rawv = pd.Series([spec.const] * n, index=raw.index)
            if isinstance(spec.const, bool):
                rawv = rawv.astype("boolean")
            elif isinstance(spec.const, int | float):
                rawv = rawv.astype(float)
            else:
                rawv = rawv.astype("str")
    elif spec.source == "concat":
        texts = [_as_text(col(c, f"{spec.key}.concat"), spec.strip) for c in spec.concat]
        anymiss = np.zeros(n, dtype=bool)
        for t in texts:
            anymiss |= _missing_mask(t, spec, mapping)
        out = texts[0].fillna("")
        for t in texts[1:]:
            out = out + spec.sep + t.fillna("")
        rawv = out.mask(pd.Series(anymiss, index=out.index))
    else:
        rawv = col(spec.column)

    # typed columns (Parquet) are used as they are, unless the spec works on raw text
    typed_input = (
        (pd.api.types.is_numeric_dtype(rawv.dtype) or pd.api.types.is_bool_dtype(rawv.dtype)
         or pd.api.types.is_datetime64_any_dtype(rawv.dtype)
         or pd.api.types.is_timedelta64_dtype(rawv.dtype))
        and not isinstance(rawv.dtype, pd.CategoricalDtype)
        and spec.values is None and not spec.quarantine and not spec.missing
        and spec.missing_pattern is None and spec.source != "const"
    )
    txt = _as_text(rawv, spec.strip) if not typed_input else None
    if txt is not None:
        for value, reason in spec.quarantine.items():
            problems.add(reason, txt.eq(value).fillna(False).to_numpy(dtype=bool))
        miss = _missing_mask(txt, spec, mapping)
        if spec.quarantine:
            miss |= txt.isin(list(spec.quarantine)).fillna(False).to_numpy(dtype=bool)
        txt = txt.mask(pd.Series(miss, index=txt.index))
        if spec.values is not None:
            mapped = txt.map(spec.values)
            hit = txt.isin(list(spec.values)).fillna(False).to_numpy(dtype=bool)
            if spec.unmapped == "missing":
                miss |= ~hit
                txt = txt.mask(~pd.Series(hit, index=txt.index))
            if pa.types.is_boolean(ctype):
                bools = mapped.where(pd.Series(hit, index=txt.index))
                other = parse_bool(txt)
                vals = pd.Series(np.where(hit, bools, other), index=txt.index).astype("boolean")
                bad = ~miss & vals.isna().to_numpy()
                return Built(vals, ~miss, bad)
            txt = pd.Series(np.where(hit, mapped.astype("str"), txt), index=txt.index,
                            dtype="str").mask(pd.Series(miss, index=txt.index))
        source = txt
    else:
        miss = rawv.isna().to_numpy()
        source = rawv

    if pa.types.is_string(ctype):
        if spec.self_flag:
            flag = parse_bool(col(spec.self_flag, f"{spec.key}.self_flag"))
            is_self = flag.fillna(False).to_numpy(dtype=bool)
            source = _as_text(source).mask(pd.Series(is_self, index=source.index), "self")
            miss = miss & ~is_self
        vals = _as_text(source, spec.strip) if txt is None else source
        if spec.period:
            ts = parse_timestamp(vals, spec.date_format)
            freq = {"month": "M", "quarter": "Q", "year": "Y", "week": "W"}[spec.period]
            per = ts.dt.to_period(freq).astype("str").where(ts.notna())
            bad = ~miss & ts.isna().to_numpy()
            return Built(per.astype("str"), ~miss, bad)
        return Built(vals.astype("str"), ~miss, np.zeros(n, dtype=bool))
    if pa.types.is_timestamp(ctype):
        vals = parse_timestamp(source, spec.date_format)
        bad = ~miss & vals.isna().to_numpy()
        return Built(vals, ~miss, bad, offset_s=offset_seconds(source))
    if pa.types.is_floating(ctype):
        if cname.endswith("_s"):
            vals = parse_seconds(source, spec.unit)
        elif typed_input:
            vals = pd.to_numeric(source, errors="coerce").astype(float)
        else:
            arr = pc.replace_substring_regex(_arrow(source), r"^\s*(-?\d+),(\d+)\s*$", r"\1.\2")
            vals = pd.Series(_num(arr), index=source.index, dtype=float)
        vals = vals.where(~pd.Series(miss, index=vals.index))
        bad = ~miss & vals.isna().to_numpy()
        return Built(vals.astype(float), ~miss, bad)
    if pa.types.is_boolean(ctype):
        vals = parse_bool(source)
        bad = ~miss & vals.isna().to_numpy()
        return Built(vals, ~miss, bad)
    if pa.types.is_date32(ctype):
        vals = parse_timestamp(source, spec.date_format).dt.normalize()
        bad = ~miss & vals.isna().to_numpy()
        return Built(vals, ~miss, bad)
    raise NotImplementedError(f"contract type {ctype}")  # pragma: no cover


def _empty(ctype: pa.DataType, n: int, index, default=None) -> pd.Series:
    if pa.types.is_string(ctype):
        return pd.Series(default if default is not None else pd.NA, index=index, dtype="str")
    if pa.types.is_timestamp(ctype) or pa.types.is_date32(ctype):
        return pd.Series(pd.NaT, index=index, dtype="datetime64[us]")
    if pa.types.is_floating(ctype):
        return pd.Series(np.nan if default is None else float(default), index=index, dtype=float)
    if pa.types.is_boolean(ctype):
        return pd.Series(pd.NA if default is None else bool(default), index=index, dtype="boolean")
    raise NotImplementedError(str(ctype))  # pragma: no cover


def build_columns(raw: pd.DataFrame, mapping: Mapping, problems: Problems
                  ) -> tuple[pd.DataFrame, dict[str, Built]]:
    """Contract-typed frame (same index as ``raw``) + per-column build details.

    Adds ``unparseable_<column>`` problems; raises InputError when a required
    contract column has no source. Columns required only on handled calls
    (agent_id, answer_ts, talk_s) are listed in ``frame.attrs["absent_handled"]``
    instead: the caller decides once outcomes are known.

    Timestamps written with UTC offsets keep each row's wall clock; a row's later times
    whose offset differs from its first timestamp's (``arrival_ts``) are converted to that
    offset, so durations across columns are right. Both are reported in
    ``frame.attrs["notes"]`` (see the module docstring).
    """
    out: dict[str, pd.Series] = {}
    built: dict[str, Built] = {}
    n = len(raw)
    absent_handled: list[str] = []
    for c in mapping.contract_columns:
        spec = mapping.columns.get(c.name)
        if spec is None:
            try:
                src = find_column(raw, c.name, f"columns.{c.name}", mapping)
            except InputError:
                src = None
            if src is not None:
                spec = FieldSpec(key=f"columns.{c.name}", source="from", column=src)
            elif c.required == "handled":
                absent_handled.append(c.name)
            elif c.required != "no":
                shown = [x for x in raw.columns if not str(x).startswith("_source") and x != "_bad"]
                listing = ", ".join(map(str, shown[:25])) + (" ..." if len(shown) > 25 else "")
                raise InputError(
                    f"required column {c.name!r} missing after mapping {mapping.name} "
                    f"(input columns: {listing})"
                )
        if spec is None or (spec.optional and not all(
            _has(raw, r) for r in spec.raw_columns()
        )):
            out[c.name] = _empty(c.type, n, raw.index, c.default)
            built[c.name] = Built(out[c.name], np.zeros(n, bool), np.zeros(n, bool))
            continue
        b = _build(raw, spec, c.type, c.name, mapping, problems)
        vals = b.values
        if c.default is not None:
            vals = vals.where(pd.Series(b.present | b.bad, index=vals.index), c.default)
        problems.add(f"unparseable_{c.name}", b.bad)
        if c.name in ID_COLUMNS and pa.types.is_string(c.type):
            # one spelling per id before duplicate checks (NFKC, zero-width removed)
            vals = normalize_id_series(vals)
        out[c.name] = vals
        built[c.name] = b
    notes = [note for b in built.values() for note in b.notes]
    offset_stats: dict = {}
    notes += _place_offsets(mapping, out, built, offset_stats)
    frame = pd.DataFrame(out, index=raw.index)
    frame.attrs["absent_handled"] = absent_handled
    frame.attrs["notes"] = notes
    frame.attrs["offset_stats"] = offset_stats
    return frame, built


def _place_offsets(mapping: Mapping, out: dict[str, pd.Series], built: dict[str, Built],
                   stats: dict | None = None) -> list[str]:
    """Note mixed offsets; convert a row's later times to the offset of its first one.

    ``stats`` (when given) receives ``{"mixed": {column: set of offsets}, "converted":
    {column: rows}, "anchor": column}`` so that a reader working in slices can add them
    up and give the same notes (:func:`offset_notes`)."""
    stats = {} if stats is None else stats
    stats.setdefault("mixed", {})
    stats.setdefault("converted", {})
    ts_cols = [c.name for c in mapping.contract_columns
               if pa.types.is_timestamp(c.type) and c.name in built]
    for name in ts_cols:
        off = built[name].offset_s
        if off is not None:
            stats["mixed"].setdefault(name, set()).update(
                _offset_text(v) for v in np.unique(off[np.isfinite(off)]))
    if ts_cols and built[ts_cols[0]].offset_s is not None:
        anchor = ts_cols[0]
        stats["anchor"] = anchor
        a_off = built[anchor].offset_s
        for name in ts_cols[1:]:
            off = built[name].offset_s
            if off is None:
                continue
            shift = a_off - off
            fix = np.isfinite(shift) & (shift != 0) & out[name].notna().to_numpy()
            if not fix.any():
                continue
            vals = out[name] + pd.to_timedelta(np.where(fix, shift, 0.0), unit="s")
            out[name] = vals.astype("datetime64[us]")
            built[name].values = out[name]
            stats["converted"][name] = stats["converted"].get(name, 0) + int(fix.sum())
    return offset_notes(mapping, stats)


def merge_offset_stats(total: dict, part: dict) -> dict:
    """Add one slice's offset statistics (from :func:`build_columns`) to ``total``."""
    for name, offs in part.get("mixed", {}).items():
        total.setdefault("mixed", {}).setdefault(name, set()).update(offs)
    for name, k in part.get("converted", {}).items():
        total.setdefault("converted", {})[name] = total.get("converted", {}).get(name, 0) + k
    if "anchor" in part:
        total["anchor"] = part["anchor"]
    return total


def offset_notes(mapping: Mapping, stats: dict) -> list[str]:
    """The notes about UTC offsets for (possibly summed) offset statistics."""
    notes = []
    ts_cols = [c.name for c in mapping.contract_columns if pa.types.is_timestamp(c.type)]
    for name in ts_cols:
        offsets = sorted(stats.get("mixed", {}).get(name, ()))
        if len(offsets) > 1:
            notes.append(
                f"{name}: times carry {len(offsets)} different UTC offsets "
                f"({', '.join(offsets)}); the wall-clock time of each row is kept as the "
                "center's local time and the offsets are dropped (convert to one zone first "
                "if the rows come from different zones)"
            )
    anchor = stats.get("anchor")
    for name in ts_cols:
        k = stats.get("converted", {}).get(name, 0)
        if anchor is not None and name != anchor and k:
            notes.append(
                f"{name}: {k} rows written with a UTC offset other than their "
                f"{anchor}'s converted to the {anchor}'s offset (durations across the two "
                "columns kept right)"
            )
    return notes


def _has(raw: pd.DataFrame, name: str) -> bool:
    want = name.strip().lower()
    return name in raw.columns or any(str(c).strip().lower() == want for c in raw.columns)
