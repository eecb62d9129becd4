"""Padding and transfer dumping: level checks alone vs level + own-history step checks.

Writes ``benchmarks/results/gaming_padding.md``. Run:
``.venv/bin/python benchmarks/bench_gaming_padding.py [--worlds 3] [--agents 200] [--days 61]``.

Worlds: :func:`analysis.gaming._sigsim.simulate_calls`, clean and ``messy=True``, 4
agents each of after-call-work padding (x1.3), hold padding (x1.4) and transfer
dumping (x1.8), starting on day one (``onset`` 0) or on day 30 of 61. Decision as
:mod:`analysis.gaming._agents` makes it (ACAT per agent over the checks run, BH
across agents at 0.05, scope ``all``), with the period checks only (``acw_inflation``,
``hold_inflation``, evidence only since 2026-12-07, ``acw_change``, ``hold_change``,
``transfer_dumping``) and with the step checks added
(``acw_step``, ``hold_step``, ``transfer_step``). Honest agents flagged: share of
the 188 honest agents of a world, mean and worst world; plus null worlds (no
gaming) of each kind.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.gaming import run_checks
from analysis.gaming._agents import agent_table
from analysis.gaming._sigsim import simulate_calls

OUT = Path(__file__).resolve().parent / "results" / "gaming_padding.md"
LEVEL = ["acw_inflation", "hold_inflation", "acw_change", "hold_change", "transfer_dumping"]
STEP = ["acw_step", "hold_step", "transfer_step"]
KINDS = [("acw", {"acw": 1.3}), ("hold", {"hold": 1.4}), ("transfer", {"transfer": 1.8})]


def _effects(onset: int):
    eff, truth = {}, {}
    for j, (k, e) in enumerate(KINDS):
        for i in range(4):
            a = f"A{j * 4 + i:03d}"
            eff[a], truth[a] = dict(e, onset=onset), k
    return eff, truth


def _world(messy: bool, onset: int | None, seed: int, agents: int, days: int):
    eff, truth = _effects(onset) if onset is not None else ({}, {})
    df = simulate_calls(n_agents=agents, days=days, seed=seed, messy=messy, effects=eff)
    rep = run_checks(df, checks=LEVEL + STEP, options={"raise_errors": True, "seed": seed})
    f = rep.flags[rep.flags["level"] == "agent"]
    rows = []
    for label, checks in (("level only", LEVEL), ("level + step", LEVEL + STEP)):
        a, _ = agent_table(f[f["check"].isin(checks)], alpha=0.05)
        a = a[a["scope"] == "all"].set_index("agent_id")
        flagged = a["flagged"].reindex([f"A{i:03d}" for i in range(agents)]).fillna(False)
        honest = [x for x in flagged.index if x not in truth]
        row = dict(checks=label, honest_flagged=float(flagged[honest].mean()))
        for k, _e in KINDS:
            ids = [x for x, t in truth.items() if t == k]
            row[f"recall_{k}"] = float(flagged[ids].mean()) if ids else np.nan
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", type=int, default=3)
    ap.add_argument("--null-worlds", type=int, default=2)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--days", type=int, default=61)
    ap.add_argument("--onset", type=int, default=30)
    args = ap.parse_args()
    t0 = time.time()
    rows = []
    for messy in (False, True):
        for onset, n, seed0 in ((0, args.worlds, 400), (args.onset, args.worlds, 400),
                                (None, args.null_worlds, 100)):
            for i in range(n):
                for r in _world(messy, onset, seed0 + i, args.agents, args.days):
                    rows.append(dict(world="messy" if messy else "clean",
                                     gaming=("none (null)" if onset is None
                                             else f"from day {onset}"), seed=seed0 + i, **r))
                print(f"{time.time() - t0:.0f}s {rows[-1]}", flush=True)
    d = pd.DataFrame(rows)
    rec = [c for c in d.columns if c.startswith("recall_")]
    g = d.groupby(["world", "gaming", "checks"], sort=False)
    tab = g[rec].mean().round(2)
    tab.insert(0, "worlds", g.size())
    tab["honest_flagged_mean"] = g["honest_flagged"].mean().round(4)
    tab["honest_flagged_worst"] = g["honest_flagged"].max().round(4)
    tab["worlds_with_honest_flag"] = g["honest_flagged"].apply(
        lambda s: f"{int((s > 0).sum())}/{len(s)}")
    tab = tab.reset_index()
    null = tab["gaming"].str.startswith("none")
    tab.loc[null, rec] = np.nan
    text = [
        "# Padding and transfer dumping: level checks vs level + own-history step checks",
        "",
        f"Produced by `benchmarks/bench_gaming_padding.py --worlds {args.worlds} "
        f"--null-worlds {args.null_worlds} --agents {args.agents} --days {args.days} "
        f"--onset {args.onset}` ({time.time() - t0:.0f} s on a shared 2-core machine).",
        "",
        f"{args.agents} agents, {args.days} days (`_sigsim.simulate_calls`, clean and "
        "`messy=True`). Gamed worlds: 4 agents each of after-call-work padding (x1.3), "
        "hold padding (x1.4) and transfer dumping (x1.8), from day one or from day "
        f"{args.onset}; seeds 400+. Null worlds: no gaming; seeds 100+. Decision as "
        "`_agents.agent_table` makes it: ACAT per agent over the checks listed, BH across "
        "agents at 0.05, scope `all`. `honest_flagged`: share of honest agents flagged "
        "(mean over worlds and the worst world).",
        "",
        tab.to_markdown(index=False),
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(text))
    print(OUT)


if __name__ == "__main__":
    main()
