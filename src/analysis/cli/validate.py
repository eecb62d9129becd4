"""``ccpm validate``: check raw exports against the data contract.

Writes the rows that meet the contract to ``DIR/valid.parquet`` and the rest to
``DIR/quarantine.csv`` (each with its reason), and prints counts by reason. With
``--pseudonymize`` every id is written as its salted pseudonym: the contract id columns,
the raw columns of the quarantine that the mapping reads them from, and any person id
seen in the run inside other quarantined cells; every cell of a malformed line (whose
fields cannot be told apart) becomes an ``X-`` pseudonym.
"""

from __future__ import annotations

import argparse
import sys

from . import add_privacy_arguments, pseudonymizer_from_args

__all__ = ["register", "run"]

_EPILOG = """\
inputs (give at least one; each is a file, a folder of files or a quoted glob):
  --calls PATH    call records        -> DIR/valid.parquet, quarantine.csv, summary.csv
  --roster PATH   agent roster        -> DIR/roster_valid.parquet, roster_quarantine.csv, ...
  --ratings PATH  360-degree ratings  -> DIR/ratings_valid.parquet, ratings_quarantine.csv, ...

Formats: CSV/TSV (comma, semicolon, tab or pipe; UTF-8 with or without BOM,
GB18030/GBK and other encodings detected), .gz, a .zip holding one table,
Parquet, Excel .xlsx. --mapping / --roster-mapping / --ratings-mapping take a
built-in name or a YAML file; built-in mappings: {builtins}.

Exit status: 0 when the input was read (even with rows quarantined; nothing is
dropped: rows read = valid + quarantined); 2 with a one-line reason when the
input or the mapping cannot be used.

examples:
  ccpm validate --calls exports/ --mapping anonymous-bank --out out/
  ccpm validate --calls calls.xlsx --mapping my-site.yml --out out/
  ccpm validate --ratings ratings.csv.zip --ratings-mapping honeycomb-360 --out out/
  ccpm validate --calls exports/ --mapping anonymous-bank --out out/ --pseudonymize
"""


def _builtin_names() -> list[str]:
    # the mapping folder, listed without importing analysis.load (pandas/pyarrow):
    # building the parser must stay cheap, it runs for every ``ccpm`` call
    from ..config import MAPPINGS_DIR

    if not MAPPINGS_DIR.is_dir():
        return []
    return sorted(p.stem for p in MAPPINGS_DIR.iterdir() if p.suffix in (".yml", ".yaml"))


def register(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check raw exports against the data contract (valid.parquet + quarantine.csv)",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=_EPILOG.format(builtins=", ".join(_builtin_names()) or "none"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--calls", metavar="PATH", help="call records: a file, a folder or a glob")
    p.add_argument("--mapping", metavar="NAME|FILE", default=None,
                   help="column mapping for --calls (default: contract-shaped columns)")
    p.add_argument("--roster", metavar="PATH", help="agent roster")
    p.add_argument("--roster-mapping", metavar="NAME|FILE", default=None,
                   help="column mapping for --roster (default: contract-shaped columns)")
    p.add_argument("--ratings", metavar="PATH", help="360-degree ratings")
    p.add_argument("--ratings-mapping", metavar="NAME|FILE", default=None,
                   help="column mapping for --ratings (default: contract-shaped columns)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="print only the totals line")
    add_privacy_arguments(p)
    p.set_defaults(func=run)


def _spec_columns(spec) -> list[str]:
    """Raw columns a mapping field takes its value from (not its helper columns)."""
    if spec.source == "from":
        return [spec.column]
    if spec.source == "concat":
        return list(spec.concat)
    if spec.source == "coalesce":
        return [c for s in spec.coalesce for c in _spec_columns(s)]
    return []


def _pseudonymize_result(res, mapping, pz):
    """``res`` with its valid rows, quarantine, notes and metadata pseudonymized.

    In the quarantine (rows as read, all text), the raw columns that the mapping turns
    into id columns are pseudonymized too (whitespace stripped as the loader does, the
    mapping's missing-value markers such as ``NO_SERVER`` kept), every cell of a
    malformed line (whose fields cannot be told apart) is replaced by an ``X-``
    pseudonym, and every other cell loses the ids seen anywhere in the run.
    """
    import dataclasses

    import pandas as pd

    from ..load import resolve_mapping
    from ..privacy import ID_PREFIXES

    m = resolve_mapping(mapping, kind=res.kind)
    raw_ids: dict[str, tuple[str, set]] = {}
    for name, spec in m.columns.items():
        if name in ID_PREFIXES:
            for col in _spec_columns(spec):
                raw_ids.setdefault(col, (ID_PREFIXES[name], {*m.missing, *spec.missing}))
    valid = pz.frame(res.valid, text=False)
    q = res.quarantine
    meta_cols = ("_source_file", "_source_row", "reason")
    bad = pd.Series(False, index=q.index)
    if len(q) and "reason" in q.columns:
        bad = q["reason"].astype("str").str.split(";").map(lambda r: "malformed_row" in r)
    ok = q[~bad].copy()
    done = [c for c in raw_ids if c in ok.columns]
    for col in done:
        prefix, missing = raw_ids[col]
        raw = ok[col].astype("str").str.strip()
        is_missing = raw.isin(missing)
        ok[col] = pz.ids(raw.where(~is_missing), prefix).where(~is_missing, raw)
    # other id columns, then every other cell's text
    ok = pz.frame(ok.reset_index(drop=True), done=done).set_axis(ok.index)
    if bad.any():
        # a malformed line's fields cannot be told apart: any cell may hold an id
        mal = q[bad].copy()
        for col in mal.columns:
            if col not in meta_cols:
                cells = mal[col].astype("str")
                mal[col] = pz.ids(cells, "X-", learn=False).where(cells.str.len() > 0, cells)
        ok = pd.concat([ok, mal]).loc[q.index]
    q = ok.reset_index(drop=True)
    return dataclasses.replace(res, valid=valid, quarantine=q, notes=pz.obj(res.notes),
                               meta=pz.obj(res.meta))


def _report(label: str, res, paths: dict, quiet: bool) -> None:
    q = len(res.quarantine)
    print(f"{label}: {res.rows_read} rows read = {len(res.valid)} valid + {q} quarantined "
          f"(mapping {res.mapping})")
    if quiet:
        return
    summary = res.summary()
    width = max(len(r) for r in summary["reason"])
    for reason, rows, share in zip(summary["reason"], summary["rows"], summary["share"],
                                   strict=True):
        print(f"  {reason:<{width}}  {rows:>10,d}  {share:7.2%}")
    for note in res.notes:
        print(f"  note: {note}")
    for kind, path in paths.items():
        print(f"  wrote {kind}: {path}")


def run(args) -> int:
    import time

    from ..errors import InputError
    from ..load import load_calls, load_ratings, load_roster, validate_calls, write_validated
    from ..manifest import write_manifest

    started = time.time()
    pz = pseudonymizer_from_args(args)

    jobs = [
        ("calls", args.calls, args.mapping, load_calls),
        ("roster", args.roster, args.roster_mapping, load_roster),
        ("ratings", args.ratings, args.ratings_mapping, load_ratings),
    ]
    jobs = [j for j in jobs if j[1]]
    if not jobs:
        raise InputError("nothing to validate: give --calls, --roster and/or --ratings")
    outputs, rows = [], {}
    for label, path, mapping, loader in jobs:
        print(f"validating {label}: {path}", file=sys.stderr, flush=True)
        if label == "calls" and pz is None:  # streamed: flat memory whatever the size
            res, paths = validate_calls(path, mapping, args.out, progress=True)
        else:
            res = loader(path, mapping, progress=True)
            if pz is not None:
                res = _pseudonymize_result(res, mapping, pz)
            paths = write_validated(res, args.out)
        _report(label, res, paths, args.quiet)
        outputs += list(paths.values())
        rows[label] = {"rows_read": int(res.rows_read), "valid": len(res.valid),
                       "quarantined": len(res.quarantine), "mapping": res.mapping}
    write_manifest(args.out, command="validate", args=args,
                   inputs=[j[1] for j in jobs], outputs=outputs, rows=rows, started=started,
                   privacy=pz)
    return 0
