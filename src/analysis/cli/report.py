"""``ccpm report``: the management PDF and slide deck for one center, period and language."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_privacy_arguments, positive, prepare_salt, shown

__all__ = ["register", "run", "add_report_arguments"]


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """The input and rendering options shared by ``ccpm report`` and batch jobs."""
    p.add_argument("--calls", required=True, help="call records (CSV, Parquet, Excel, folder)")
    p.add_argument("--mapping", help="column mapping for the calls export: a built-in name "
                   "(e.g. anonymous-bank) or a YAML file")
    p.add_argument("--ratings", help="360-degree ratings")
    p.add_argument("--okr", help="OKR definitions (YAML)")
    p.add_argument("--roster", help="agent roster")
    p.add_argument("--config", help="model configuration (YAML)")
    p.add_argument("--truth", help="planted truth of synthetic data (truth.csv)")
    p.add_argument("--span", metavar="YYYY[-MM[-DD]]",
                   help="report on the calls of this year, month or day only (models and "
                   "checks then see that span alone; --period in panel/gaming is the "
                   "length of one scoring interval, a different thing)")
    p.add_argument("--short-call-s", type=positive(float), default=None, metavar="SECONDS",
                   help="a handled call with talk time below this is short (default "
                   "20; the Anonymous Bank case study uses 15)")
    p.add_argument("--lang", default="en", choices=["en", "zh-CN"], help="report language")
    add_privacy_arguments(p)
    p.add_argument("--engine", default="auto", choices=["auto", "builtin", "quarto"],
                   help="render engine (auto: quarto when on PATH, else builtin)")
    p.add_argument("--no-deck", action="store_true", help="skip the .pptx deck")
    p.add_argument("--power", nargs="?", const=3, default=0, type=positive(int),
                   metavar="ROUNDS",
                   help="the gaming section also says how many planted gamers the checks "
                        "find in these calls (ccpm gaming --power; default 3 rounds)")
    p.add_argument("--templates", help="folder of notebook templates (default: the four shipped in analysis/report/templates/)")


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="render the management report (PDF) and deck (PPTX)",
        description="Execute the notebook templates with papermill and render a PDF "
        "(KPI, OKR, balanced scorecard, 360 and gaming sections) and a slide deck.",
    )
    add_report_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--results-from", metavar="REPORT_DIR", action="append", default=[],
                   help="an earlier report folder of the same data, e.g. the other "
                   "language's: its prepared inputs and results are reused where they "
                   "match this run (same files, settings and code), so only the "
                   "rendering runs; the previous output in --out is tried as well")
    p.add_argument("--fresh", action="store_true",
                   help="recompute everything; reuse no earlier results")
    p.set_defaults(func=run, staged="folder")  # complete or absent (analysis.outdir)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..report.build import build_report

    prepare_salt(args)  # a missing --salt-file is refused before any work
    for d in args.results_from:
        if not (Path(d).expanduser() / "build" / "results").is_dir():
            raise ConfigError(f"--results-from {d}: not a report folder written by ccpm "
                              "report (it has no build/results/)")
    res = build_report(
        args.calls, out=args.out, mapping=args.mapping, ratings=args.ratings, okr=args.okr,
        roster=args.roster, config=args.config, truth=args.truth, period=args.span,
        short_call_s=args.short_call_s, power_rounds=int(getattr(args, "power", 0) or 0),
        lang=args.lang, pseudonymize=args.pseudonymize, salt_file=args.salt_file,
        engine=args.engine, deck=not args.no_deck, notebooks_dir=args.templates,
        reuse=() if args.fresh else [*args.results_from, getattr(args, "_out", None)],
    )
    print(shown(args, res.pdf))
    if res.deck:
        print(shown(args, res.deck))
    return 0
