"""``ccpm validate``: check raw exports against the data contract.

Writes the rows that meet the contract to ``DIR/valid.parquet`` and the rest to
``DIR/quarantine.csv`` (each with its reason), and prints counts by reason. With
``--pseudonymize`` every id is written as its salted pseudonym: the contract id columns,
the raw columns of the quarantine that the mapping reads them from, and any person id
seen in the run inside other quarantined cells (customer numbers too), the input file
names; every cell of a malformed line (whose fields cannot be told apart) becomes an
``X-`` pseudonym. ``valid.parquet`` records the salt's fingerprint in its metadata:
``panel``/``gaming``/``compare``/``report --pseudonymize`` with the same salt pass its
pseudonyms through (another salt is refused).
"""

from __future__ import annotations

import argparse
import sys

from . import add_privacy_arguments, pseudonymizer_from_args, shown

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
    p.set_defaults(func=run, staged="folder")  # complete or absent (analysis.outdir)


def _spec_columns(spec) -> list[str]:
    """Raw columns a mapping field takes its value from (not its helper columns)."""
    if spec.source == "from":
        return [spec.column]
    if spec.source == "concat":
        return list(spec.concat)
    if spec.source == "coalesce":
        return [c for s in spec.coalesce for c in _spec_columns(s)]
    return []


def _raw_column(q, name: str, m):
    """The quarantine column the loader reads mapping column ``name`` from: found with
    the loader's own header matching (``Agent_ID``, ``Customer_ID `` with a trailing
    space), else by :func:`analysis.privacy.header_key`; None when absent."""
    from ..errors import InputError
    from ..load._build import find_column
    from ..privacy import header_key

    try:
        return find_column(q, name, "columns", m)
    except InputError:
        key = header_key(name)
        return next((c for c in q.columns if header_key(c) == key), None)


def _pseudonymize_result(res, mapping, pz):
    """``res`` with its valid rows, quarantine, notes and metadata pseudonymized.

    In the quarantine (rows as read, all text), the raw columns that the mapping turns
    into id columns (found as the loader finds them, whatever their spelling) are
    pseudonymized too (ids normalised as the loader does, the mapping's missing-value
    markers such as ``NO_SERVER`` kept), every cell of a malformed line (whose fields
    cannot be told apart) is replaced by an ``X-`` pseudonym, the source file names by
    their ``F-`` pseudonyms, and every other cell loses the person and customer ids
    seen anywhere in the run. The valid rows' Parquet metadata records the salt's
    fingerprint, so later commands recognise the file as pseudonymized.
    """
    import dataclasses
    import json

    import pandas as pd

    from ..load import resolve_mapping
    from ..privacy import ID_PREFIXES, normalize_id

    m = resolve_mapping(mapping, kind=res.kind)
    q = res.quarantine
    if "_source_file" in q.columns:  # a per-agent file name (alice.csv) names a person
        names = {v: pz.file_name(v) for v in pd.unique(q["_source_file"].dropna()) if v}
        q = q.assign(_source_file=q["_source_file"].map(lambda v: names.get(v, v)))
    raw_ids: dict[str, tuple[str, set]] = {}
    for name, spec in m.columns.items():
        if name in ID_PREFIXES:
            for col in _spec_columns(spec):
                found = _raw_column(q, col, m) if len(q.columns) else None
                if found is not None:
                    raw_ids.setdefault(found, (ID_PREFIXES[name], {*m.missing, *spec.missing}))
    pz.learn(res.valid)  # the run's ids: also looked for in the quarantine's text
    if res.kind == "calls":  # typed contract fields: text only where a name can stand
        valid = pz.frame(res.valid, text=False)
        for col in ("queue", "call_id"):
            # a queue named after an agent ("VIP desk of Dana_Cohen_8855"), a call id
            # holding one (CALLID_Dana_Cohen_8855_0): the run's ids are replaced inside
            # them, as ccpm report does (about 2 us a call id)
            if col in valid.columns:
                valid[col] = pz.text_column(valid[col])
    else:  # roster, ratings: every free-text cell (a team named after its supervisor)
        valid = pz.frame(res.valid)
    meta_cols = ("_source_file", "_source_row", "reason")
    bad = pd.Series(False, index=q.index)
    if len(q) and "reason" in q.columns:
        bad = q["reason"].astype("str").str.split(";").map(
            lambda r: "malformed_row" in r or "unterminated_quote" in r)
    ok = q[~bad].copy()
    done = [c for c in raw_ids if c in ok.columns]
    for col in done:  # first learn every raw id, so other cells lose them too
        prefix, missing = raw_ids[col]
        raw = ok[col].astype("str").map(normalize_id)
        is_missing = raw.isin(missing) | ok[col].isna()
        ok[col] = pz.ids(raw.where(~is_missing), prefix).where(~is_missing, ok[col])
    # other id columns, then every other cell's text (customer numbers included)
    ok = pz.frame(ok.reset_index(drop=True), done=done,
                  customers_in_text=True).set_axis(ok.index)
    if bad.any():
        # a malformed line's fields cannot be told apart: any cell may hold an id
        mal = q[bad].copy()
        for col in mal.columns:
            if col not in meta_cols:
                cells = mal[col].astype("str")
                mal[col] = pz.ids(cells, "X-", learn=False).where(cells.str.len() > 0, cells)
        ok = pd.concat([ok, mal]).loc[q.index]
    q = ok.reset_index(drop=True)
    meta = {**pz.obj(res.meta), "privacy": json.dumps(pz.record(), sort_keys=True)}
    return dataclasses.replace(res, valid=valid, quarantine=q, notes=pz.obj(res.notes),
                               meta=meta)


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

    from ..manifest import hash_ahead, write_manifest

    started = time.time()
    # the manifest's input hashes, on another core while the loader imports and reads
    hash_ahead([args.calls, args.roster, args.ratings])

    from .. import load
    from ..errors import InputError

    pz = pseudonymizer_from_args(args, keep=())  # no sentinels: every id is replaced

    # loaders by name: analysis.load imports each (and pandas) on first use only
    jobs = [
        ("calls", args.calls, args.mapping, "load_calls"),
        ("roster", args.roster, args.roster_mapping, "load_roster"),
        ("ratings", args.ratings, args.ratings_mapping, "load_ratings"),
    ]
    jobs = [j for j in jobs if j[1]]
    if not jobs:
        raise InputError("nothing to validate: give --calls, --roster and/or --ratings")
    outputs, rows = [], {}
    loaded = []

    def done(label, res, paths):
        _report(label, res, {k: shown(args, v) for k, v in paths.items()}, args.quiet)
        outputs.extend(paths.values())
        rows[label] = {"rows_read": int(res.rows_read), "valid": len(res.valid),
                       "quarantined": len(res.quarantine), "mapping": res.mapping}
    # progress: none with --quiet; with --pseudonymize file names as their pseudonyms
    # (per-agent files are named after people)
    progress = False if args.quiet else (pz.file_name if pz is not None else True)
    for label, path, mapping, loader in jobs:
        if not args.quiet:
            shown_path = pz.text(str(path)) if pz is not None else path
            print(f"validating {label}: {shown_path}", file=sys.stderr, flush=True)
        if label == "calls" and pz is None:  # streamed: flat memory whatever the size
            # a contract CSV whose every row is plainly valid: the fast path, no pandas
            from ..load._quick import Handover, validate_calls_fast

            got = validate_calls_fast(path, mapping, args.out)
            if isinstance(got, Handover):  # every row checked by the streaming loader
                hand = got
                try:
                    got = load.validate_calls(path, mapping, args.out, progress=progress,
                                              fast=not hand.tried, opened=hand.source)
                finally:
                    if hand.source is not None:
                        hand.source.cleanup()
            res, paths = got
        elif pz is not None:  # written below, once every input's ids are known
            loaded.append((label, mapping, getattr(load, loader)(path, mapping,
                                                                 progress=progress)))
            continue
        else:
            res = getattr(load, loader)(path, mapping, progress=progress)
            paths = load.write_validated(res, args.out)
        done(label, res, paths)
    # with --pseudonymize: every input's ids are learned first, so that an id of one
    # input inside another's text (a roster's supervisor in a queue name) is replaced
    for _, _, res in loaded:
        pz.learn(res.valid)
    for label, mapping, res in loaded:
        res = _pseudonymize_result(res, mapping, pz)
        done(label, res, load.write_validated(res, args.out))
    write_manifest(args.out, command="validate", args=args,
                   inputs=[j[1] for j in jobs], outputs=outputs, rows=rows, started=started,
                   privacy=pz)
    return 0
