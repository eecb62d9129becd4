"""Column mappings: YAML that turns a site's export into contract columns.

A mapping file looks like::

    kind: calls                 # calls | roster | ratings
    description: free text
    read:                       # all optional; detected when absent
      format: csv               # csv | parquet | excel
      delimiter: "\\t"
      encoding: gb18030
      header_row: 0             # 0-based, after blank lines; detected when absent
      sheet: Sheet1             # Excel: name or 0-based number (default: the first sheet
                                # whose header has the mapping's columns, else the first)
      member: calls.csv         # file inside a zip
    missing: ["", "NULL"]       # raw values meaning "missing" in every column
    columns:                    # contract column -> field spec
      call_id: Call Id          # a source column (shorthand for {from: ...})
      queue: {const: main}      # a constant
      outcome: {from: Status, values: {AGENT: answered, HANG: abandoned},
                quarantine: {PHANTOM: phantom}}
      arrival_ts: {date: date, time: q_start, date_format: YYMMDD,
                   rollover_after: vru_entry, missing: ["0:00:00"]}
      answer_ts: {date: Date, time: Time, plus_seconds: Speed}
      talk_s: {from: Talk, unit: hms}
      call_id: {concat: [line, id], sep: "-"}
      agent_id: {coalesce: [{from: a}, {from: b}]}
    rules:                      # source-specific reasons (DuckDB SQL over raw columns)
      - {reason: abandoned_in_vru, when: "outcome = 'HANG' AND q_start = '0:00:00'"}
    checks:
      clock_tolerance_s: 2      # answer up to this much before arrival -> set to arrival
      max_duration_s: 86400     # longer durations are quarantined as absurd
      ts_window: [1990-01-01, null]   # times outside are implausible (null: default end)
    scale: {min: 1, max: 10}    # ratings: the instrument's scale
    melt: {id_columns: [...], value_columns: [...]}   # ratings given wide
    dedupe: {exact_rows: true, conflicts: quarantine_all, key: [review_id]}   # ratings

Contract columns the mapping does not name are taken from a same-named source
column when there is one (so contract-shaped files need no mapping at all).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import MAPPINGS_DIR
from ..contract import CALL_COLUMNS, RATINGS_COLUMNS, ROSTER_COLUMNS, Column
from ..errors import ConfigError, InputError

__all__ = [
    "FieldSpec",
    "Mapping",
    "resolve_mapping",
    "builtin_mappings",
    "KIND_COLUMNS",
    "DATE_FORMATS",
]

KIND_COLUMNS: dict[str, tuple[Column, ...]] = {
    "calls": CALL_COLUMNS,
    "roster": ROSTER_COLUMNS,
    "ratings": RATINGS_COLUMNS,
}

#: Friendly date-format names -> strptime formats.
DATE_FORMATS = {
    "YYMMDD": "%y%m%d",
    "YYYYMMDD": "%Y%m%d",
    "YYYY-MM-DD": "%Y-%m-%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
    "YYYY/MM/DD": "%Y/%m/%d",
    "ISO": "ISO8601",
}

_SOURCE_KEYS = ("from", "const", "concat", "date", "coalesce")
_FIELD_KEYS = {
    "from",
    "const",
    "concat",
    "sep",
    "date",
    "time",
    "date_format",
    "format",
    "rollover_after",
    "plus_seconds",
    "coalesce",
    "missing",
    "missing_pattern",
    "missing_if",
    "values",
    "quarantine",
    "unit",
    "optional",
    "strip",
    "period",
    "self_flag",
    "unmapped",
}
_TOP_KEYS = {
    "name",
    "kind",
    "description",
    "read",
    "missing",
    "columns",
    "rules",
    "checks",
    "scale",
    "melt",
    "dedupe",
}
_READ_KEYS = {"format", "delimiter", "encoding", "header_row", "sheet", "member"}
_CHECK_KEYS = {"clock_tolerance_s", "max_duration_s", "csat_range", "qa_range", "ts_window"}
_UNITS = {"s": 1.0, "seconds": 1.0, "ms": 0.001, "min": 60.0, "minutes": 60.0, "h": 3600.0,
          "hms": None}


@dataclass
class FieldSpec:
    """How one contract column is built from raw columns (see module docstring)."""

    key: str  # "columns.<name>" for messages
    source: str  # from | const | concat | date | coalesce
    column: str | None = None
    const: Any = None
    concat: list[str] = field(default_factory=list)
    sep: str = ""
    time: str | None = None
    date_format: str | None = None
    rollover_after: str | None = None
    plus_seconds: str | None = None
    coalesce: list[FieldSpec] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    missing_pattern: re.Pattern | None = None
    values: dict[str, Any] | None = None
    quarantine: dict[str, str] = field(default_factory=dict)
    unit: str | None = None
    optional: bool = False
    strip: bool = True
    period: str | None = None
    missing_if: dict[str, list[str]] = field(default_factory=dict)
    self_flag: str | None = None
    unmapped: str = "keep"  # raw values not in `values`: keep (checked later) | missing

    def raw_columns(self) -> list[str]:
        """Source columns this spec reads."""
        cols: list[str] = []
        if self.source == "from":
            cols.append(self.column)
        elif self.source == "concat":
            cols.extend(self.concat)
        elif self.source == "date":
            cols.append(self.column)
            if self.time:
                cols.append(self.time)
        elif self.source == "coalesce":
            for s in self.coalesce:
                cols.extend(s.raw_columns())
        for extra in (self.rollover_after, self.plus_seconds, self.self_flag):
            if extra:
                cols.append(extra)
        cols.extend(self.missing_if)
        return cols


@dataclass
class Mapping:
    """A validated mapping; build with :func:`resolve_mapping`."""

    name: str
    kind: str = "calls"
    description: str = ""
    read: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=lambda: [""])
    columns: dict[str, FieldSpec] = field(default_factory=dict)
    rules: list[tuple[str, str]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    scale: tuple[float, float] | None = None
    melt: dict[str, Any] | None = None
    dedupe: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def contract_columns(self) -> tuple[Column, ...]:
        return KIND_COLUMNS[self.kind]

    @property
    def declared_reasons(self) -> set[str]:
        """Quarantine reasons the mapping itself sets (its ``rules`` and the ``quarantine``
        values of its columns): rows out of scope by design (a call abandoned in the voice
        menu, a phantom record), not rows that broke the contract."""
        return ({reason for reason, _ in self.rules}
                | {r for spec in self.columns.values() for r in spec.quarantine.values()})

    def expected_source_columns(self) -> set[str]:
        cols: set[str] = set()
        for spec in self.columns.values():
            cols.update(spec.raw_columns())
        if self.melt:
            cols.update(self.melt.get("id_columns", []))
        return cols


def _fail(key: str, msg: str) -> ConfigError:
    return ConfigError(f"mapping key '{key}': {msg}")


def _str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return [str(v) for v in value]
    raise _fail(key, "expected a column name or a list of them / of values")


def _parse_field(key: str, spec: Any, col: Column) -> FieldSpec:
    if isinstance(spec, str):
        return FieldSpec(key=key, source="from", column=spec)
    if not isinstance(spec, dict):
        raise _fail(key, "expected a source column name or a mapping of options")
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise _fail(f"{key}.{sorted(unknown)[0]}", f"unknown option (known: {', '.join(sorted(_FIELD_KEYS))})")
    sources = [k for k in _SOURCE_KEYS if k in spec]
    if len(sources) != 1:
        raise _fail(key, "needs exactly one of: from, const, concat, date, coalesce")
    src = sources[0]
    fs = FieldSpec(key=key, source=src)
    if src == "from":
        if not isinstance(spec["from"], str | int):
            raise _fail(f"{key}.from", "expected a column name")
        fs.column = str(spec["from"])
    elif src == "const":
        fs.const = spec["const"]
    elif src == "concat":
        fs.concat = _str_list(spec["concat"], f"{key}.concat")
        fs.sep = str(spec.get("sep", ""))
    elif src == "date":
        fs.column = str(spec["date"])
        if "time" in spec:
            fs.time = str(spec["time"])
    elif src == "coalesce":
        items = spec["coalesce"]
        if not isinstance(items, list) or not items:
            raise _fail(f"{key}.coalesce", "expected a non-empty list of field specs")
        fs.coalesce = [_parse_field(f"{key}.coalesce[{i}]", s, col) for i, s in enumerate(items)]
    fmt = spec.get("date_format", spec.get("format"))
    if fmt is not None:
        fmt = str(fmt)
        fmt = DATE_FORMATS.get(fmt.upper(), fmt)
        if fmt != "ISO8601" and "%" not in fmt:
            raise _fail(f"{key}.date_format", f"{fmt!r} is neither a strptime format nor one of {', '.join(DATE_FORMATS)}")
        fs.date_format = fmt
    for opt in ("rollover_after", "plus_seconds", "self_flag"):
        if opt in spec:
            if not isinstance(spec[opt], str | int):
                raise _fail(f"{key}.{opt}", "expected a column name")
            setattr(fs, opt, str(spec[opt]))
    if "missing" in spec:
        fs.missing = _str_list(spec["missing"], f"{key}.missing")
    if "missing_pattern" in spec:
        try:
            fs.missing_pattern = re.compile(str(spec["missing_pattern"]))
        except re.error as exc:
            raise _fail(f"{key}.missing_pattern", f"bad regular expression ({exc})") from None
    if "missing_if" in spec:
        mi = spec["missing_if"]
        if not isinstance(mi, dict) or not mi:
            raise _fail(f"{key}.missing_if", "expected a mapping source column -> list of values")
        fs.missing_if = {str(c): _str_list(v, f"{key}.missing_if.{c}") for c, v in mi.items()}
    if "values" in spec:
        vals = spec["values"]
        if not isinstance(vals, dict) or not vals:
            raise _fail(f"{key}.values", "expected a mapping raw value -> contract value")
        fs.values = {_yaml_key(k): v for k, v in vals.items()}
    if "quarantine" in spec:
        q = spec["quarantine"]
        if not isinstance(q, dict) or not all(isinstance(v, str) and v for v in q.values()):
            raise _fail(f"{key}.quarantine", "expected a mapping raw value -> reason")
        for reason in q.values():
            _check_reason(reason, f"{key}.quarantine")
        fs.quarantine = {_yaml_key(k): v for k, v in q.items()}
    if "unit" in spec:
        unit = str(spec["unit"])
        if unit not in _UNITS:
            raise _fail(f"{key}.unit", f"{unit!r} unknown (known: {', '.join(_UNITS)})")
        fs.unit = unit
    if "period" in spec:
        if spec["period"] not in ("month", "quarter", "year", "week"):
            raise _fail(f"{key}.period", "expected month, quarter, year or week")
        fs.period = spec["period"]
    if "unmapped" in spec:
        if spec["unmapped"] not in ("keep", "missing"):
            raise _fail(f"{key}.unmapped", "expected keep or missing")
        fs.unmapped = spec["unmapped"]
    fs.optional = bool(spec.get("optional", False))
    fs.strip = bool(spec.get("strip", True))
    return fs


def _yaml_key(k: Any) -> str:
    # YAML reads Y/N/yes/no unquoted as booleans and 1 as int: key by their text
    if isinstance(k, bool):
        return "TRUE" if k else "FALSE"
    return str(k)


def _check_reason(reason: str, key: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", reason):
        raise _fail(key, f"reason {reason!r} must be lower_snake_case")


def parse_mapping(data: Any, *, name: str = "custom", path: Path | None = None,
                  kind: str | None = None) -> Mapping:
    """Validate a mapping given as a dict (parsed YAML)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"mapping {name}: expected a YAML mapping at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(sorted(unknown)[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    mkind = data.get("kind", kind or "calls")
    if mkind not in KIND_COLUMNS:
        raise _fail("kind", f"{mkind!r} unknown (known: {', '.join(KIND_COLUMNS)})")
    if kind is not None and mkind != kind:
        raise _fail("kind", f"mapping {name} is for {mkind}, not {kind}")
    m = Mapping(name=str(data.get("name", name)), kind=mkind, path=path,
                description=str(data.get("description", "")))
    read = data.get("read") or {}
    if not isinstance(read, dict):
        raise _fail("read", "expected a mapping")
    for k in read:
        if k not in _READ_KEYS:
            raise _fail(f"read.{k}", f"unknown option (known: {', '.join(sorted(_READ_KEYS))})")
    if "format" in read and read["format"] not in ("csv", "parquet", "excel"):
        raise _fail("read.format", "expected csv, parquet or excel")
    if "delimiter" in read and (not isinstance(read["delimiter"], str) or len(read["delimiter"]) != 1):
        raise _fail("read.delimiter", "expected one character")
    if "encoding" in read:
        import codecs

        try:
            codecs.lookup(str(read["encoding"]))
        except LookupError:
            raise _fail("read.encoding", f"unknown encoding {read['encoding']!r}") from None
    if "header_row" in read and (not isinstance(read["header_row"], int) or read["header_row"] < 0):
        raise _fail("read.header_row", "expected a row number >= 0")
    m.read = dict(read)
    if "missing" in data:
        m.missing = _str_list(data["missing"], "missing")
    cols = data.get("columns") or {}
    if not isinstance(cols, dict):
        raise _fail("columns", "expected a mapping contract column -> field spec")
    by_name = {c.name: c for c in m.contract_columns}
    for cname, spec in cols.items():
        if cname not in by_name:
            raise _fail(f"columns.{cname}", f"not a {mkind} contract column (known: {', '.join(by_name)})")
        m.columns[cname] = _parse_field(f"columns.{cname}", spec, by_name[cname])
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise _fail("rules", "expected a list of {reason, when}")
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or set(r) != {"reason", "when"}:
            raise _fail(f"rules[{i}]", "expected exactly the keys reason and when")
        _check_reason(str(r["reason"]), f"rules[{i}].reason")
        if not isinstance(r["when"], str) or not r["when"].strip():
            raise _fail(f"rules[{i}].when", "expected an SQL condition over the raw columns")
        m.rules.append((str(r["reason"]), r["when"]))
    checks = data.get("checks") or {}
    if not isinstance(checks, dict):
        raise _fail("checks", "expected a mapping")
    for k, v in checks.items():
        if k not in _CHECK_KEYS:
            raise _fail(f"checks.{k}", f"unknown check (known: {', '.join(sorted(_CHECK_KEYS))})")
        if k == "ts_window":
            checks[k] = _ts_window(v)
            continue
        if k.endswith("_range"):
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v)):
                raise _fail(f"checks.{k}", "expected [low, high]")
        elif not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise _fail(f"checks.{k}", "expected a number >= 0")
    m.checks = dict(checks)
    if "scale" in data:
        sc = data["scale"]
        if not (isinstance(sc, dict) and set(sc) == {"min", "max"}
                and all(isinstance(x, int | float) for x in sc.values()) and sc["min"] < sc["max"]):
            raise _fail("scale", "expected {min: low, max: high} with low < high")
        m.scale = (float(sc["min"]), float(sc["max"]))
    if "melt" in data:
        mt = data["melt"]
        if not isinstance(mt, dict) or "id_columns" not in mt or not (
            "value_columns" in mt or "value_pattern" in mt
        ):
            raise _fail("melt", "expected id_columns and value_columns (or value_pattern)")
        extra = set(mt) - {"id_columns", "value_columns", "value_pattern"}
        if extra:
            raise _fail(f"melt.{sorted(extra)[0]}", "unknown option")
        m.melt = {
            "id_columns": _str_list(mt["id_columns"], "melt.id_columns"),
            "value_columns": _str_list(mt["value_columns"], "melt.value_columns")
            if "value_columns" in mt else None,
            "value_pattern": str(mt["value_pattern"]) if "value_pattern" in mt else None,
        }
        if m.kind != "ratings":
            raise _fail("melt", "only ratings mappings can melt a wide table")
    dd = data.get("dedupe") or {}
    if not isinstance(dd, dict) or set(dd) - {"exact_rows", "key", "conflicts"}:
        raise _fail("dedupe", "expected {exact_rows: true|false, key: [columns], "
                              "conflicts: quarantine_all|first}")
    if dd.get("conflicts", "quarantine_all") not in ("quarantine_all", "first"):
        raise _fail("dedupe.conflicts", "expected quarantine_all or first")
    if "key" in dd:
        dd["key"] = _str_list(dd["key"], "dedupe.key")
    m.dedupe = dict(dd)
    return m


def _ts_window(v: Any) -> tuple[Any, Any]:
    """``checks.ts_window: [earliest, latest]`` (ISO dates or times; ``null`` keeps the
    default of that end) -> a pair of ``pandas.Timestamp`` / ``None``."""
    import pandas as pd

    if not (isinstance(v, list) and len(v) == 2):
        raise _fail("checks.ts_window", "expected [earliest, latest] (ISO dates; null for "
                                        "the default end)")
    out = []
    for x in v:
        if x is None:
            out.append(None)
            continue
        try:
            ts = pd.Timestamp(str(x))
        except (ValueError, TypeError):
            ts = pd.NaT
        if ts is pd.NaT or ts.tzinfo is not None:
            raise _fail("checks.ts_window", f"{x!r} is not an ISO date like 1990-01-01")
        out.append(ts)
    if out[0] is not None and out[1] is not None and out[0] >= out[1]:
        raise _fail("checks.ts_window", "earliest must be before latest")
    return out[0], out[1]


def builtin_mappings() -> dict[str, Path]:
    """Built-in mapping names -> YAML files in :data:`analysis.config.MAPPINGS_DIR`."""
    if not MAPPINGS_DIR.is_dir():
        return {}
    out = {}
    for p in sorted(MAPPINGS_DIR.iterdir()):
        if p.suffix in (".yml", ".yaml"):
            out[p.stem] = p
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (yes/no/on/off/Y/N stay text:
    they are common raw values in exports, e.g. ``values: {yes: true, no: false}``)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
for _first in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


def _load_yaml(path: Path) -> Any:
    try:
        from .._yamltext import yaml_text

        text = yaml_text(path, f"mapping {path}")
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"mapping {path}: not valid YAML{where}") from None
    except OSError as exc:
        raise ConfigError(f"mapping {path}: cannot be read ({exc.strerror})") from None


def resolve_mapping(mapping: str | os.PathLike | dict | Mapping | None = None, *,
                    kind: str = "calls") -> Mapping:
    """Turn ``None`` / a built-in name / a YAML path / a dict into a validated :class:`Mapping`.

    ``None`` means the identity mapping (columns already named as in the contract).
    Raises :class:`~analysis.errors.ConfigError` naming the offending key, or for an
    unknown name.
    """
    if isinstance(mapping, Mapping):
        if mapping.kind != kind:
            raise ConfigError(f"mapping {mapping.name} is for {mapping.kind}, not {kind}")
        return mapping
    if mapping is None or (isinstance(mapping, str) and mapping == "contract"):
        # identity, for any kind: columns already named as in the contract
        return parse_mapping({"kind": kind}, name="contract", kind=kind)
    if isinstance(mapping, dict):
        return parse_mapping(mapping, kind=kind)
    text = os.fspath(mapping)
    builtins = builtin_mappings()
    if text in builtins:
        return parse_mapping(_load_yaml(builtins[text]), name=text, path=builtins[text], kind=kind)
    p = Path(text)
    if p.is_dir():
        raise ConfigError(f"mapping {text} is a folder, not a YAML file (or a built-in "
                          f"name: {', '.join(builtins) or 'none'})")
    if p.suffix in (".yml", ".yaml") or os.sep in text or "/" in text:
        if not p.is_file():
            raise InputError(f"mapping file {text}: no such file")
        return parse_mapping(_load_yaml(p), name=p.stem, path=p, kind=kind)
    known = ", ".join(builtins) or "none"
    raise ConfigError(f"unknown mapping {text!r} (built-in: {known}; or give a .yml path)")
