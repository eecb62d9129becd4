"""Does detection power measured on a center's own calls predict what the checks find there?

``ccpm gaming --power`` (:mod:`analysis.detection`) plants behaviours into a center's own
unflagged agents and counts how many the rerun flags. This bench asks whether that number
means anything: on the outside worlds (``worlds_outside.py``, not written by ccpm's authors),
whose gamers were planted by their generator, the detection rate ccpm measures by planting
its own is set beside the recall of the generator's gamers who start mid-window (the
scenario ccpm plants), per world kind and behaviour. The doses differ in detail (the
generator's ranges against ccpm's fixed midpoints; half its hold padders hold more calls,
ccpm's hold them longer), so agreement within the noise of a few dozen agents is what to expect, not equality.

Writes ``benchmarks/results/detection_power.md``. Run:
``.venv/bin/python benchmarks/bench_detection_power.py [--worlds 6] [--rounds 2] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _notes import write_keeping_notes  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "detection_power.md"
HAND = "<!-- written by hand below this line: bench_detection_power.py keeps it on a rerun -->"
#: (label, days, ended_by, agents), as bench_outside_worlds.KINDS; gamed seeds 2000 + i
#: (+500 for 20 days, +7000 for small centers)
KINDS = [("61 days, with ended_by", 61, True, 120), ("20 days, no ended_by", 20, False, 120),
         ("61 days, 30 agents, with ended_by", 61, True, 30)]
#: generator behaviour -> ccpm's planted behaviour
SAME = {"hangup": "hangups", "acw_padding": "acw_padding", "hold_padding": "hold_padding",
        "transfer_dumping": "transfer_dumping", "end_of_day_stretch": "end_of_day_stretch",
        "bunching": "bunching"}


def one(args) -> dict:
    kind, i, rounds = args
    from worlds_outside import simulate

    from analysis.detection import detection_power
    from analysis.gaming import run_checks

    label, days, ended, agents = kind
    seed = 2000 + i + (500 if days < 61 else 0) + (7000 if agents < 120 else 0)
    calls, truth = simulate(seed=seed, n_agents=agents, days=days, gaming=True,
                            ended_by=ended)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.parquet"
        calls.to_parquet(path)
        rep = run_checks(str(path))
        dp = detection_power(str(path), rep, options=rep.info["options"], rounds=rounds,
                             seed=i)
    ag = rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")["flagged"]
    t = truth.assign(flagged=truth["agent_id"].map(ag).fillna(False).astype(bool))
    print(f"  {label} world {i}: measured "
          + ", ".join(f"{r.behaviour} {r.found}/{r.planted}" for r in dp.table.itertuples()),
          flush=True)
    return dict(kind=label, world=i, truth=t, power=dp.table)


def tables(res: list[dict]) -> list[str]:
    rows = []
    for kind in dict.fromkeys(r["kind"] for r in res):
        rr = [r for r in res if r["kind"] == kind]
        power = pd.concat([r["power"] for r in rr]).groupby("behaviour")[["planted", "found"]].sum()
        truth = pd.concat([r["truth"] for r in rr])
        for beh, ours in SAME.items():
            g = truth[truth["behaviour"] == beh]
            mid, day1 = g[g["start_day"] > 0], g[g["start_day"] == 0]
            p = power.loc[ours] if ours in power.index else None
            rows.append({
                "world": kind, "behaviour": ours,
                "measured by planting (mid-window)": (f"{p['found'] / p['planted']:.2f} "
                                                      f"({int(p['found'])}/{int(p['planted'])})"
                                                      if p is not None else "not planted"),
                "generator's gamers, mid-window": (f"{mid['flagged'].mean():.2f} "
                                                   f"({int(mid['flagged'].sum())}/{len(mid)})"
                                                   if len(mid) else "none"),
                "from day one": (f"{day1['flagged'].mean():.2f} "
                                 f"({int(day1['flagged'].sum())}/{len(day1)})"
                                 if len(day1) else "none"),
            })
    return [pd.DataFrame(rows).to_markdown(index=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=6, help="gamed worlds per kind")
    ap.add_argument("--rounds", type=int, default=2, help="planting rounds per world")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", help="pickle of the per-world results: read if it exists")
    a = ap.parse_args()
    if a.cache and Path(a.cache).is_file():
        res = pd.read_pickle(a.cache)
    else:
        work = [(k, i, a.rounds) for k in KINDS for i in range(a.worlds)]
        with ProcessPoolExecutor(a.jobs) as ex:
            res = list(ex.map(one, work))
        if a.cache:
            pd.to_pickle(res, a.cache)
    head = [
        "# Detection power measured by planting, against the recall of an outside generator's gamers",
        "",
        f"{a.worlds} gamed outside worlds per kind (`benchmarks/worlds_outside.py`, seeds as in "
        "`bench_outside_worlds.py`), default options. *Measured by planting*: "
        f"`analysis.detection.detection_power` ({a.rounds} rounds of 2 agents per behaviour, "
        "planted from mid-window at ccpm's doses), summed over the worlds. *Generator's "
        "gamers*: the share of the world's own planted agents that the same run flags, those "
        "who start mid-window (the scenario ccpm plants) and those from day one.",
        "",
    ]
    write_keeping_notes(OUT, head + tables(res), HAND)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
