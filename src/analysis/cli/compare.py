"""``ccpm compare``: run the KPI, OKR, balanced-scorecard and 360 models side by side."""

from __future__ import annotations

import sys
from pathlib import Path

from .._paths import is_pattern
from ..errors import ConfigError, InputError
from . import add_privacy_arguments, name_list, pseudonymizer_from_args, shown
from .panel import add_panel_arguments, panel_from_args

__all__ = ["register", "run", "read_ratings", "merge_roster", "write_json"]


def read_ratings(path: str, mapping=None):
    """360 ratings from a file/folder/glob (``analysis.load.load_ratings``, which sets bad
    rows aside with reasons), optionally through a column mapping."""
    import pandas as pd

    p = Path(path)
    if not p.exists() and not is_pattern(path):
        raise InputError(f"ratings file not found: {p}")
    try:
        from ..load import load_ratings  # helper A's loader (quarantines bad rows)
    except (ImportError, AttributeError):
        load_ratings = None
    if load_ratings is not None:
        res = load_ratings(path, mapping)
        if len(res.quarantine):
            print(f"ccpm: {len(res.quarantine):,} rating row(s) quarantined on load",
                  file=sys.stderr)
        return res.valid
    if mapping:
        raise InputError("--ratings-mapping needs analysis.load.load_ratings")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype={"period": str, "ratee_id": str, "rater_id": str})
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read ratings {p.name}: {exc}") from None


def merge_roster(panel, path: str):
    """Add the roster's ``shift``, ``team`` and ``site`` to the panel (by agent_id)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(f"roster file not found: {p}")
    roster = pd.read_csv(p, dtype=str) if p.suffix.lower() != ".parquet" else pd.read_parquet(p)
    if "agent_id" not in roster.columns:
        raise InputError(f"{p.name}: no agent_id column")
    cols = [c for c in ("shift", "team", "site") if c in roster.columns]
    r = roster[["agent_id", *cols]].drop_duplicates("agent_id").astype(str)
    attrs = panel.attrs
    out = panel.drop(columns=[c for c in cols if c in panel.columns]).merge(r, on="agent_id",
                                                                            how="left")
    out.attrs = attrs
    return out


def _save_fig(name: str, out: Path, **kw) -> Path:
    import matplotlib.pyplot as plt

    from .. import figures as fg

    fig = {"recommendation": lambda: fg.plot_recommendation(kw["rec"]),
           "whatif": lambda: fg.plot_rank_changes(kw["models"])}[name]()
    p = out / f"{name}.png"
    fig.savefig(p, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return p


def _check_whatif_flags(args, flags) -> None:
    if flags is None or not args.flags:
        raise InputError("--whatif needs --flags gaming_flags.csv (from ccpm gaming)")
    if "check" not in flags.columns:
        raise InputError(f"{Path(args.flags).name}: no 'check' column; --whatif needs the "
                         "gaming_flags.csv written by ccpm gaming")


def _run_whatif(args, comp, ratings, okr, flags, pz, calls, rec) -> list[Path]:
    from ..whatif import whatif

    _check_whatif_flags(args, flags)
    w = whatif(comp, calls, flags, ratings=ratings, okr=okr, progress=True, gaming_from=rec)
    if pz is not None:
        w = pz.obj(w)
    paths = w.to_dir(args.out)
    if not args.no_figures:
        paths.append(_save_fig("whatif", Path(args.out), models=w.models))
    print(w.text("en"), file=sys.stderr)
    return paths


def _read_flags(path: str, pz):
    """A flags/truth CSV; pseudonyms of this run's agents (same salt) turned back to ids."""
    from ..compare import read_flags
    from ..privacy import looks_pseudonymized

    flags = read_flags(path)
    if pz is not None:
        flags["agent_id"] = pz.unmask(flags["agent_id"])
    left = sum(bool(looks_pseudonymized(v)) for v in flags["agent_id"])
    if left:
        hint = ("pseudonymized with another salt, or agents not in --calls" if pz is not None
                else "pseudonymized: give --pseudonymize with the salt that wrote it")
        print(f"ccpm: {left} agent id(s) in {Path(path).name} look {hint}; they match no "
              "agent", file=sys.stderr)
    return flags


def write_json(obj, path: Path) -> Path:
    import json

    path.write_text(json.dumps(obj, indent=2, allow_nan=False, ensure_ascii=False),
                    encoding="utf-8")
    return path


def run(args) -> int:
    import time

    from ..compare import compare_models
    from ..manifest import write_manifest
    from ..models.config import load_model_config

    started = time.time()

    override = {}
    if args.n_boot is not None:  # validated as the config's n_boot is (an integer >= 0)
        override = {"compare": {"n_boot": args.n_boot},
                    "recommendation": {"n_boot": args.n_boot}}
    try:
        config = load_model_config(args.config, override=override)
    except ConfigError as exc:
        if args.n_boot is not None and ".n_boot" in str(exc):
            raise ConfigError(f"--n-boot {args.n_boot}: expected an integer >= 0") from None
        raise
    if args.priorities is not None:
        from ..criteria import parse_priorities

        parse_priorities(args.priorities, key="--priorities")
    if args.models is not None:
        config["models"] = name_list(args.models, "--models")
    if args.hybrids:
        config["models"] = list(dict.fromkeys(config["models"] + list(config.get("hybrids")
                                                                        or {})))
    pz = pseudonymizer_from_args(args, keep=("center", *config["models"]))
    from ..compare import read_flags

    for path in (args.truth, args.flags):  # a wrong file stops the run before the panel
        if path:
            read_flags(path)
    panel = panel_from_args(args)
    if args.roster:
        panel = merge_roster(panel, args.roster)
    ratings = read_ratings(args.ratings, args.ratings_mapping) if args.ratings else None
    okr = None
    if args.okr:
        from ..models.okr import load_okr

        okr = load_okr(args.okr)
    if pz is not None:  # every id the inputs hold, so that texts lose them too
        pz.learn(panel, ratings, okr)
    flagged = flags = None
    if args.truth:
        flagged = _read_flags(args.truth, pz)
    if args.flags:
        flagged = flags = _read_flags(args.flags, pz)
    print(f"ccpm: running models {', '.join(config['models'])}", file=sys.stderr)
    comp = compare_models(panel, config=config, ratings=ratings, okr=okr, flagged=flagged)
    # pseudonymized at write time: the numbers are those of the raw run
    paths = (comp if pz is None else pz.obj(comp)).to_dir(args.out,
                                                          figures=not args.no_figures)
    from ..recommend import recommend

    print("ccpm: ranking the models for this center (recommendation.json): planting "
          "gaming behaviours into honest agents' calls, SMAA-2 over the criteria",
          file=sys.stderr)
    from ..load import open_contract_calls

    spill = open_contract_calls(args.calls, mapping=args.mapping)  # the rows panel/gaming see
    calls = str(spill.path)
    try:
        rec = recommend(comp, calls=calls, priorities=args.priorities)
        if args.whatif:
            whatif_paths = _run_whatif(args, comp, ratings, okr, flags.copy() if flags is
                                       not None else None, pz, calls, rec)
    finally:
        spill.cleanup()
    if pz is not None:
        rec = pz.obj(rec)
    paths.append(write_json(rec.to_dict(), Path(args.out) / "recommendation.json"))
    print(rec.text("en"), file=sys.stderr)
    if not args.no_figures:
        paths.append(_save_fig("recommendation", Path(args.out), rec=rec))
    if args.whatif:
        paths += whatif_paths
    for name, m in comp.summary["models"].items():
        state = "ok" if m["computable"] else f"not computable: {m['reason']}"
        print(f"ccpm: model {name}: {state}", file=sys.stderr)
    paths.append(write_manifest(
        args.out, command="compare", args=args, outputs=paths, started=started, privacy=pz,
        inputs=[args.calls, args.mapping, args.ratings, args.okr, args.config, args.roster,
                args.truth, args.flags]))
    print(f"ccpm: wrote {', '.join(p.name for p in paths)} to {shown(args, args.out)}",
          file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "compare", help="compare KPI, OKR, balanced scorecard and 360 on the same agents",
        description="Writes scores.csv (agent_id, period, model, score, rank), agreement.csv "
                    "(Kendall tau-b per pair), summary.json (Kendall's W; per model: stability, "
                    "validity, gaming sensitivity, fairness), components.csv, "
                    "recommendation.json (the models ranked for this center, with evidence "
                    "and uncertainty) and PNG figures.")
    add_panel_arguments(p)
    p.add_argument("--ratings", metavar="PATH", help="360 ratings (CSV/Parquet, contract form)")
    p.add_argument("--ratings-mapping", metavar="M",
                   help="column mapping for a raw ratings export (e.g. honeycomb-360)")
    p.add_argument("--okr", metavar="FILE", help="OKR file (okr.yml)")
    p.add_argument("--config", metavar="FILE", help="model configuration YAML (overrides the "
                                                    "defaults)")
    p.add_argument("--roster", metavar="PATH", help="roster CSV (adds shift/team/site, e.g. for "
                                                    "fairness by shift)")
    p.add_argument("--truth", metavar="FILE", help="truth.csv from ccpm synth (column gaming)")
    p.add_argument("--flags", metavar="FILE", help="gaming flags CSV: agent_id, flagged")
    p.add_argument("--models", metavar="LIST", help="comma-separated models (default: config)")
    p.add_argument("--whatif", action="store_true",
                   help="also re-score after removing the calls the gaming checks flagged "
                        "(needs --flags gaming_flags.csv): writes whatif.csv (per model: "
                        "overall score and rank before/after), whatif_agents.csv, "
                        "whatif_removed.csv (what was removed) and recommendation_whatif.json")
    p.add_argument("--hybrids", action="store_true",
                   help="also compare every hybrid of the configuration (hybrids:, e.g. "
                        "kpi_okr, bsc_360)")
    p.add_argument("--priorities", metavar="SPEC",
                   help="the center's priorities among the criteria (validity, stability, "
                        "gaming_resistance, fairness, agreement, coverage): an order "
                        "'validity>gaming_resistance' and/or ranges 'coverage=0:0.1', "
                        "comma-separated (default: config recommendation.priorities, else "
                        "every weighting equally admissible)")
    p.add_argument("--n-boot", type=int, metavar="N",
                   help="bootstrap replicates of the comparison's intervals and of the "
                        "recommendation (default: config, 1000 and 200)")
    p.add_argument("--no-figures", action="store_true", help="do not write PNG figures")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_privacy_arguments(p)
    p.set_defaults(func=run, staged="folder")  # complete or absent (analysis.outdir)
