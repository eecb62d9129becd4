"""Honest agents flagged on ``ccpm synth`` worlds (the generator of the sample report).

Run: ``.venv/bin/python benchmarks/bench_gaming_synth_honest.py --seeds 20 32 [--stress messy]
[--days 61] [--agents 60] [--gaming SPEC] [--option KEY=VALUE]``. Each world (by default): 60 agents, 61 days,
roster, 360 ratings and OKRs, the default gaming mix; the whole battery and the runner's agent-level decision (scope ``all``). Prints per world the
honest agents flagged (honest, novice and hard-queue agents are honest), the mean and worst
share, recall per planted behaviour and which checks carried honest agents' flags.
"""

from __future__ import annotations

import argparse

import pandas as pd

from analysis.gaming import run_checks
from analysis.synth import generate_center

HONEST = ("honest", "novice", "hard_queue")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs=2, type=int, default=[20, 32])
    ap.add_argument("--stress", default=None,
                    help="e.g. messy or messy,ended_by=false (default: a clean world)")
    ap.add_argument("--days", type=int, default=61)
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--gaming", default=None, help="a --gaming spec (default: the default mix)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a gaming option for run_checks (repeatable), e.g. short_tails=logit-t")
    ap.add_argument("--save", default=None,
                    help="write every world's agent and flag tables (with truth) to this pickle")
    a = ap.parse_args()
    flags, agents = [], []
    for s in range(*a.seeds):
        c = generate_center(agents=a.agents, days=a.days, seed=s, stress=a.stress,
                            gaming=a.gaming)
        rep = run_checks(c.calls, roster=c.roster, ratings=c.ratings, okr=c.okr,
                         options=dict(o.split("=", 1) for o in a.option))
        t = c.truth[["agent_id", "behaviour"]]
        flags.append(rep.flags.merge(t, on="agent_id", how="left").assign(seed=s))
        agents.append(rep.agents.merge(t, on="agent_id", how="left").assign(seed=s))
        print(f"world {s} done", flush=True)
    ag = pd.concat(agents)
    ag = ag[ag["scope"] == "all"]
    hon = ag["behaviour"].isin(HONEST)
    w = ag[hon].groupby("seed")["flagged"].agg(["sum", "count"])
    print("honest flagged per world:", w["sum"].tolist())
    print(f"honest flagged: mean {w['sum'].sum() / w['count'].sum():.4f}, "
          f"worst world {(w['sum'] / w['count']).max():.3f}")
    print("recall:", ag[~hon].groupby("behaviour")["flagged"].mean().round(2).to_dict())
    fl = pd.concat(flags)
    if a.save:
        pd.to_pickle({"agents": ag, "flags": fl}, a.save)
    fl = fl[fl["flagged"] & fl["behaviour"].isin(HONEST) & (fl["level"] == "agent")]
    print("checks behind honest agents' flags (rows):", fl.groupby("check").size().to_dict())


if __name__ == "__main__":
    main()
