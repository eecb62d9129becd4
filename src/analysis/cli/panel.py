"""``ccpm panel``: the agent x period metric panel (DuckDB, or Spark, over Parquet)."""

from __future__ import annotations

import sys
from pathlib import Path

from .._paths import is_pattern
from ..config import DEFAULT_SHORT_CALL_S, REPEAT_WINDOW_H
from ..engines import DEFAULT_ENGINE, ENGINES
from ..errors import ConfigError
from . import add_privacy_arguments, positive, pseudonymizer_from_args, shown

__all__ = ["register", "run", "add_panel_arguments", "panel_from_args"]


def add_panel_arguments(p) -> None:
    """Arguments shared by ``ccpm panel`` and ``ccpm compare``."""
    p.add_argument("--calls", required=True, metavar="PATH",
                   help="contract-shaped Parquet (valid.parquet, calls.parquet), a folder or "
                        "glob of them, or a raw export with --mapping")
    p.add_argument("--mapping", metavar="M",
                   help="column mapping (built-in name or YAML) for a raw export")
    p.add_argument("--period", choices=["month", "week", "day"], default="month",
                   help="panel period of answer_ts (default month, YYYY-MM)")
    p.add_argument("--engine", choices=list(ENGINES), default=DEFAULT_ENGINE,
                   help="SQL engine (default duckdb; spark needs pyspark and Java: "
                        "pip install 'ccpm[spark]')")
    p.add_argument("--spark-master", metavar="URL", default=None,
                   help="Spark master for --engine spark (default local[2]; e.g. "
                        "spark://host:7077 for a cluster)")
    p.add_argument("--short-call-s", type=positive(float), default=DEFAULT_SHORT_CALL_S,
                   help=f"talk time below this is a short call (default {DEFAULT_SHORT_CALL_S:g})")
    p.add_argument("--repeat-window-h", type=positive(float), default=REPEAT_WINDOW_H,
                   help=f"repeat-call window in hours (default {REPEAT_WINDOW_H})")


def _is_parquet_input(path: str) -> bool:
    p = Path(path)
    if is_pattern(path):
        return path.lower().endswith((".parquet", ".pq"))
    if p.is_dir():
        return (p / "valid.parquet").is_file() or (p / "calls.parquet").is_file() or any(
            p.glob("*.parquet"))
    return p.suffix.lower() in (".parquet", ".pq")


def panel_from_args(args, pseudonymizer=None):
    """Build the panel from parsed arguments; print row accounting to stderr.

    ``pseudonymizer`` (with ``--pseudonymize``): agent ids inside queue names are
    replaced before the names become column names (see :func:`analysis.panel.build_panel`).
    """
    from ..panel import build_panel

    kw = dict(period=args.period, short_call_s=args.short_call_s,
              repeat_window_h=args.repeat_window_h, engine=args.engine)
    if pseudonymizer is not None:
        kw["pseudonymizer"] = pseudonymizer
    if args.engine == "spark":
        kw["spark_master"] = getattr(args, "spark_master", None)
    elif getattr(args, "spark_master", None):
        raise ConfigError("--spark-master needs --engine spark")
    from ..load import open_contract_calls

    # one entry check for panel, gaming and compare: ccpm's own contract Parquet as it is,
    # anything else through the loader's rules (same row set for every command)
    with open_contract_calls(args.calls, mapping=args.mapping) as cc:
        quarantined = cc.quarantined
        print(f"ccpm: building the {args.period} panel from {args.calls} ({args.engine}; "
              f"{cc.source})", file=sys.stderr)
        panel = build_panel(str(cc.path), **kw)
    if cc.checked:
        panel.attrs["ccpm_panel"]["rows_read"] = int(cc.rows_read)
        panel.attrs["ccpm_panel"]["quarantined_on_load"] = int(quarantined)
    info = panel.attrs["ccpm_panel"]
    excluded = info.get("invalid_handled", 0) + info.get("unknown_outcome", 0)
    print(
        f"ccpm: {info.get('rows_read', 0):,} rows read, {quarantined:,} quarantined on load, "
        f"{info.get('handled_rows', 0):,} handled, {info.get('abandoned_rows', 0):,} abandoned, "
        f"{excluded:,} excluded for breaking the contract "
        f"({info.get('invalid_handled', 0):,} invalid handled, "
        f"{info.get('unknown_outcome', 0):,} unknown outcome), "
        f"{info.get('duplicate_call_id', 0):,} duplicate call_id; "
        f"{len(panel):,} agent-periods",
        file=sys.stderr,
    )
    if info.get("not_recorded"):
        print(f"ccpm: {', '.join(info['not_recorded'])}: zero on every handled call, so the "
              "source does not record them; left empty in the panel (not scored as zero)",
              file=sys.stderr)
    return panel


def run(args) -> int:
    import json
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..manifest import write_manifest

    started = time.time()
    pz = pseudonymizer_from_args(args)
    panel = panel_from_args(args, pseudonymizer=pz)
    if pz is not None:  # at write time: the numbers are the raw run's, only ids differ
        pz.learn(panel)  # the panel's ids are the input's: none is a sentinel
        panel = pz.frame(panel)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(panel, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"ccpm_panel"] = json.dumps(panel.attrs.get("ccpm_panel", {})).encode()
    pq.write_table(table.replace_schema_metadata(meta), out)
    write_manifest(out.parent, name=f"{out.name}.manifest.json", command="panel", args=args,
                   inputs=[args.calls, args.mapping], outputs=[out],
                   rows=panel.attrs.get("ccpm_panel"), started=started, privacy=pz)
    print(f"ccpm: wrote {shown(args, out)} (and {out.name}.manifest.json)", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("panel", help="agent x period metric panel (DuckDB or Spark over Parquet)",
                       description="One row per agent and period with every metric of "
                                   "analysis.metrics (python -c 'import analysis.metrics as m; "
                                   "print(m.describe())' lists them).")
    add_panel_arguments(p)
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="output Parquet file")
    add_privacy_arguments(p)
    p.set_defaults(func=run, staged="file")  # complete or absent (analysis.outdir)
