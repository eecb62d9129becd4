"""``ccpm gaming``: run every gaming check with FDR control and write the flags."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .._yamltext import yaml_text
from ..config import DEFAULT_ALPHA
from ..engines import DEFAULT_ENGINE, ENGINES
from ..errors import ConfigError, InputError
from . import add_privacy_arguments, name_list, positive, pseudonymizer_from_args, shown

__all__ = ["register", "run"]


def _short(s: str):
    if s.lower() == "auto":
        return "auto"
    return positive(float)(s)


def register(sub) -> None:
    p = sub.add_parser(
        "gaming",
        help="test agents' metrics for gaming (short calls, bunching, ...) with FDR control",
        description=(
            "Run all registered gaming checks on call records, control the false-discovery "
            "rate (Benjamini-Hochberg) across all agents and checks, and write "
            "gaming_flags.csv, changepoints.csv and summary.txt to --out."
        ),
    )
    p.add_argument("--calls", required=True,
                   help="contract Parquet (file/folder/glob) or a raw export with --mapping")
    p.add_argument("--mapping", help="column mapping of a raw export (built-in name or YAML)")
    p.add_argument("--aht-target", type=positive(float), metavar="SECONDS",
                   help="handle-time target for the bunching checks (default: found in the data)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"false-discovery level (default {DEFAULT_ALPHA})")
    p.add_argument("--period", default="month",
                   choices=["month", "week", "quarter", "year", "day", "all"],
                   help="period of the per-period tests (default month)")
    p.add_argument("--short-call-s", type=_short, metavar="SECONDS|auto",
                   help="talk time below which a call is short (default 20; 'auto': from data)")
    p.add_argument("--checks", help="comma-separated check names (default: all)")
    p.add_argument("--ratings", help="360-degree ratings file (for the 360 checks)")
    p.add_argument("--ratings-mapping", help="column mapping of the ratings file")
    p.add_argument("--okr", help="OKR YAML file (for the OKR checks)")
    p.add_argument("--roster", help="agent roster (shift, hire date) file")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a check option (repeatable), e.g. --option bunch_boot=199")
    p.add_argument("--engine", choices=list(ENGINES), default=DEFAULT_ENGINE,
                   help="SQL engine of the checks' counts and sums (default duckdb; spark "
                        "needs pyspark and Java: pip install 'ccpm[spark]'); the statistics "
                        "run on the aggregates, so both give the same flags")
    p.add_argument("--spark-master", metavar="URL", default=None,
                   help="Spark master for --engine spark (default local[2]; e.g. "
                        "spark://host:7077 for a cluster)")
    p.add_argument("--power", nargs="?", const=3, type=positive(int), metavar="ROUNDS",
                   help="also measure detection power on these calls: plant each behaviour "
                        "into 2 unflagged agents from mid-window, rerun the checks, count who "
                        "is found; ROUNDS reruns with other agents (default 3); writes "
                        "detection_power.csv")
    p.add_argument("--out", required=True, help="output folder")
    add_privacy_arguments(p)
    p.set_defaults(func=run, staged="folder")  # complete or absent (analysis.outdir)


def _value(s: str):
    try:
        return json.loads(s)
    except ValueError:
        return s


def _sentinel_agents(calls: str, mapping, keep) -> list[str]:
    """Agents of ``calls`` whose id equals a kept word (``center``): pseudonymized too.

    A kept word never shadows an id: an agent named ``center`` is an agent and gets its
    pseudonym (center-level rows carry ``level == "center"`` and an empty agent_id).
    """
    import duckdb

    from .panel import _is_parquet_input

    words = sorted(keep)
    if not words:
        return []

    def query(source: str) -> list[str]:
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT DISTINCT CAST(agent_id AS VARCHAR) FROM read_parquet(?) "
                "WHERE trim(CAST(agent_id AS VARCHAR)) IN (SELECT unnest(?))",
                [source, words]).fetchall()
        finally:
            con.close()
        return [r[0] for r in rows]

    if not mapping and _is_parquet_input(calls):
        p = Path(calls)
        source = str(p / "*.parquet") if p.is_dir() else str(calls)
        return query(source)
    from ..load import load_calls_to_parquet

    with load_calls_to_parquet(calls, mapping) as sp:
        return query(str(sp.path))


def run(args) -> int:
    import time

    from ..gaming import run_checks
    from ..manifest import write_manifest

    started = time.time()

    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha must be between 0 and 1, got {args.alpha}")
    engine = getattr(args, "engine", DEFAULT_ENGINE)
    engine_options = {}
    if engine == "spark":
        from ..engines.spark import spark_available

        if why := spark_available():  # before the calls are read: a clear, early message
            raise ConfigError(f"--engine spark: {why}")
        if getattr(args, "spark_master", None):
            engine_options["master"] = args.spark_master
    elif getattr(args, "spark_master", None):
        raise ConfigError("--spark-master needs --engine spark")
    pz = pseudonymizer_from_args(args)
    options = {
        "alpha": args.alpha,
        "period": args.period,
        "aht_target": args.aht_target,
        "short_call_s": args.short_call_s,
        "seed": args.seed,
    }
    for kv in args.option:
        if "=" not in kv:
            raise ConfigError(f"--option {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        k = k.strip()
        if k not in CHECK_OPTIONS:
            raise ConfigError(f"--option {k}: unknown check option "
                              f"(known: {', '.join(sorted(CHECK_OPTIONS))})")
        options[k] = _value(v.strip())
        if why := _option_problem(k, options[k]):
            raise ConfigError(f"--option {k}={v.strip()}: {why}")
    ratings = roster = okr = None
    if args.ratings:
        from ..load import load_ratings

        ratings = load_ratings(args.ratings, mapping=args.ratings_mapping).valid
    if args.roster:
        from ..load import load_roster

        roster = load_roster(args.roster).valid
    if args.okr:
        import yaml

        path = Path(args.okr)
        if not path.is_file():
            raise InputError(f"OKR file not found: {path}")
        try:
            okr = yaml.safe_load(yaml_text(path, f"OKR file {path.name}"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path.name}: not valid YAML ({_yaml_problem(exc)})") from None
    checks = name_list(args.checks, "--checks")
    print("ccpm gaming: loading calls ...", file=sys.stderr, flush=True)
    report = run_checks(args.calls, mapping=args.mapping, options=options, ratings=ratings,
                        okr=okr, roster=roster, checks=checks, progress=True,
                        engine=engine, engine_options=engine_options)
    power = None
    if getattr(args, "power", None):
        power = _detection_power(args, report, ratings=ratings, okr=okr, roster=roster,
                                 checks=checks, engine=engine, engine_options=engine_options)
    if pz is not None:
        # ids the texts may name (a 360 partner, an OKR owner) are learned from every
        # input first; the summary is then written from the pseudonymized tables
        pz.learn(ratings, roster, okr)
        pz.known(_sentinel_agents(args.calls, args.mapping, pz.keep))
        report = pz.obj(report)
    paths = report.to_dir(args.out)
    if power is not None:  # counts per behaviour only: no agent is named
        from ..escape import safe_csv  # not at the top: ccpm --help must not load pandas

        paths["power"] = Path(args.out) / "detection_power.csv"
        safe_csv(power.table, paths["power"], index=False)
        with open(paths["summary"], "a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(power.summary_lines()) + "\n")
    n_flag = int(report.flags["flagged"].sum())
    n_agents = report.flagged_agents()
    n_agents = int((n_agents["level"] == "agent").sum()) if len(n_agents) else 0
    write_manifest(args.out, command="gaming", args=args,
                   inputs=[args.calls, args.mapping, args.ratings, args.ratings_mapping,
                           args.okr, args.roster],
                   outputs=list(paths.values()),
                   rows={"tests": len(report.flags), "flagged": n_flag,
                         "flagged_agents": n_agents,
                         **{k: v for k, v in report.info.items()
                            if k not in ("seconds", "options")}},
                   seed=report.info.get("options", {}).get("seed", args.seed),
                   extra={"options": report.info.get("options", {})}, started=started,
                   privacy=pz)
    if note := _set_aside_note(report.info):
        print(f"ccpm gaming: {note}", file=sys.stderr)
    failed = {name: why for name, why in report.skipped.items()
              if str(why).startswith("failed (")}
    for name, why in failed.items():
        print(f"ccpm gaming: check {name} FAILED: {str(why)[len('failed ('):].rstrip(')')}",
              file=sys.stderr)
    if failed:  # a bug or a bad option, not the data: the results are incomplete
        print(f"ccpm gaming: error: {len(failed)} check(s) failed ({', '.join(failed)}); "
              "nothing written (an output missing checks would pass for complete); "
              "--option raise_errors=true gives the traceback", file=sys.stderr)
        return 1
    if not len(report.flags):
        print("ccpm gaming: no check could test these calls (too few calls, days or agents, "
              "or columns missing): summary.txt gives each check's reason", file=sys.stderr)
    print(f"ccpm gaming: {len(report.flags)} tests, {n_flag} flagged "
          f"({n_agents} agents) at FDR {args.alpha:g}; wrote {shown(args, args.out)}",
          file=sys.stderr)
    return 0


def _detection_power(args, report, **run_kwargs):
    """:func:`analysis.detection.detection_power` on the run's valid calls (read again)."""
    from ..detection import detection_power
    from ..load.entry import open_contract_calls

    def say(line: str) -> None:
        print(f"ccpm gaming: {line}", file=sys.stderr, flush=True)

    with open_contract_calls(args.calls, mapping=args.mapping) as cc:
        power = detection_power(cc.path, report, options=report.info.get("options"),
                                rounds=int(args.power), seed=int(args.seed or 0),
                                progress=say, run_kwargs=run_kwargs)
    for line in power.summary_lines():
        say(line.strip())
    return power


def _set_aside_note(info: dict) -> str:
    """One line on the rows the checks did not see (quarantined on load, or excluded for
    breaking the contract), by reason; empty when every row was used. summary.txt has the
    same counts, but a run whose console says only "47 tests, 0 flagged" hid that half its
    rows had an unreadable date."""
    reasons = {**info.get("quarantine_reasons", {}), **info.get("excluded", {})}
    n = info.get("quarantined_by_loader", 0) + sum(info.get("excluded", {}).values())
    if not n:
        return ""
    read = info.get("rows", 0) + info.get("quarantined_by_loader", 0)
    why = ", ".join(f"{r} {c:,}" for r, c in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return (f"{n:,} of {read:,} rows set aside, not tested ({why}); "
            "summary.txt has the counts, ccpm validate writes the rows")


#: Options the checks read from ``ctx.options`` (``--option KEY=VALUE``); a typo must not
#: pass silently. Keep in step with the checks (tests/test_gaming_cli_options.py scans them).
#: Check options whose value is one of a few words: a wrong one stops the run at once
#: (inside a check it would only skip that check, which a scheduled run can miss).
CHOICE_OPTIONS = {
    "short_tails": ("auto", "normal", "logit-t"),
    "transfer_tails": ("auto", "beta", "logit-t"),
    "peer_tails": ("auto", "normal", "t"),
    "bunch_measure": ("auto", "handle", "talk"),
    "agent_fdr": ("BH", "BY"),
    "trend_baseline": ("earlier", "other"),
    "step_null": ("trimmed", "self"),
    "eod_traces": ("either", "both", "talk"),
}

#: Options whose value is a whole number / any number / yes or no: a value of another kind
#: (``--option quick_callback_h=abc``) is refused before any data is read, where a check
#: would otherwise fail on it and the run finish with that check skipped and exit code 0.
INTEGER_OPTIONS = frozenset({
    "bunch_boot", "bunch_min_agent_calls", "min_peers", "check_threads", "min_calls",
    "min_transfers", "eod_min_late", "eod_min_days", "min_short", "min_bad", "recip_n_perm",
    "step_min_days", "step_min_calls", "step_min_peers", "step_null_min",
    "cp_min_segment_days", "cp_max_changes", "cp_min_agent_days",
})
NUMBER_OPTIONS = frozenset({"bunch_target_alpha", "novice_days", "eod_window_min",
                            "repeat_window_h", "quick_callback_h"})
#: Whole-number options that count draws, threads or days: at least 1 (the other whole
#: numbers, minimum counts, at least 0). ``bunch_boot=-1`` ended as a failed check.
COUNT_OPTIONS = frozenset({"bunch_boot", "check_threads", "recip_n_perm",
                           "cp_min_segment_days", "step_min_days", "eod_min_days"})
FLAG_OPTIONS = frozenset({
    "bunch_peer_target", "bunch_periods", "randomized", "short_use_ended_by", "raise_errors",
    "empirical_null", "short_pooled", "own_history", "tenure_adjust", "transfer_predictive",
    "eod_pooled", "step_empirical_null", "cp_agents",
})
#: :data:`analysis.gaming._sigutil.TRUE_WORDS` and ``FALSE_WORDS`` (a copy: the CLI does not
#: import the checks to parse its arguments; the tests hold the two equal)
FLAG_WORDS = ("true", "yes", "1", "on", "false", "no", "0", "off")


def _option_problem(key: str, value) -> str:
    """Why ``value`` is not a value of option ``key`` ('' when it is)."""
    word = str(value).upper() if key == "agent_fdr" else str(value)  # the runner reads BH/bh
    if key in CHOICE_OPTIONS and word not in CHOICE_OPTIONS[key]:
        return f"use one of {', '.join(CHOICE_OPTIONS[key])}"
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    if key in INTEGER_OPTIONS and not (is_num and float(value).is_integer()):
        return "a whole number is expected"
    if key in NUMBER_OPTIONS and not is_num:
        return "a number is expected"
    if key in COUNT_OPTIONS and value < 1:
        return "a whole number >= 1 is expected"
    if key in INTEGER_OPTIONS and value < 0:
        return "a whole number >= 0 is expected"
    if key == "bunch_target_alpha" and not 0 < value < 1:
        return "a level between 0 and 1 is expected"
    if key in NUMBER_OPTIONS and not (value > 0 and value != float("inf")):
        return "a number > 0 is expected"
    if key in FLAG_OPTIONS and str(value).lower() not in FLAG_WORDS:
        return "true or false is expected"
    return ""

CHECK_OPTIONS = frozenset({
    # short calls and bunching
    "bunch_boot", "bunch_measure", "bunch_min_agent_calls", "bunch_target_alpha",
    "bunch_peer_target", "bunch_periods", "min_peers", "randomized", "short_use_ended_by",
    "trend_baseline", "raise_errors",
    # how many checks run at once (DuckDB; results do not depend on it)
    "check_threads",
    # agent-level decision (BH or BY across agents)
    "agent_fdr", "empirical_null", "short_pooled",
    # other signatures
    "min_calls", "own_history", "tenure_adjust", "novice_days", "min_transfers", "transfer_tails",
    "transfer_predictive",
    "short_tails", "peer_tails",
    "eod_window_min", "eod_min_late", "eod_min_days", "eod_pooled", "eod_traces",
    "repeat_window_h", "quick_callback_h", "min_short",
    "min_bad",
    "recip_n_perm", "okr_period",
    # own-history step checks (acw_step, hold_step, transfer_step)
    "step_min_days", "step_min_calls", "step_min_peers", "step_empirical_null", "step_null_min",
    "step_null",
    # change points
    "cp_min_segment_days", "cp_max_changes", "cp_min_agent_days", "cp_agents",
})


def _yaml_problem(exc) -> str:
    """One line from a YAML error: the problem and where it is."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem
