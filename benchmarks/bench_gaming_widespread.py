"""Widespread gaming: when many agents start padding at once (a new target).

Writes ``benchmarks/results/gaming_widespread.md``. Run:
``.venv/bin/python benchmarks/bench_gaming_widespread.py [--seeds 3] [--jobs 2]``.

Worlds: the outside worlds' null worlds (``benchmarks/worlds_outside.py``, 120 agents, 61
days, seeds 1000 + i; written without reading ccpm's checks), in which a share of the
agents (3 %, 10 % or 20 %, drawn at random) start one behaviour on day 30: after-call work
x1.4, hold length x1.6 (the held calls' hold seconds), or transfers x2 (answered calls
turned into transfers until the agent's transfer share has doubled). The battery runs
with default options, as a user runs ``ccpm gaming``, once with the step checks' default
empirical null (``step_null=trimmed``: fitted without the scans it calls extreme) and
once with the former one (``self``: fitted to every scan, the steppers' too).

Per row: the share of the planted agents whose step check is below .001 and whose
agent-level decision flags them (BH at .05 across agents), and the share of the other
agents flagged (honest as far as the planted behaviour goes; the world's own mess is
there too).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _notes import write_keeping_notes  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gaming_widespread.md"
SHARES = (0.03, 0.10, 0.20)
BEHAVIOURS = {"acw": "acw_step", "hold": "hold_step", "transfer": "transfer_step"}
ONSET_DAY = 30
#: Everything after this line of the results file is written by hand and kept on a rerun.
HAND = "<!-- written by hand below this line: bench_gaming_widespread.py keeps it on a rerun -->"


def _plant(calls: pd.DataFrame, agents, kind: str, rng) -> pd.DataFrame:
    calls = calls.copy()
    t0 = calls["arrival_ts"].min().normalize() + pd.Timedelta(days=ONSET_DAY)
    late = calls["agent_id"].isin(agents) & (calls["answer_ts"] >= t0)
    if kind == "acw":
        calls.loc[late, "acw_s"] = np.round(calls.loc[late, "acw_s"] * 1.4)
    elif kind == "hold":
        held = late & (calls["hold_s"] > 0)
        calls.loc[held, "hold_s"] = np.round(calls.loc[held, "hold_s"] * 1.6)
    else:
        for a in agents:
            m = late & (calls["agent_id"] == a)
            share = float((calls.loc[m, "outcome"] == "transferred").mean())
            ans = m & (calls["outcome"] == "answered")
            # turn answered calls into transfers until the transfer share has doubled
            prob = min(1.0, share / max(1e-9, 1.0 - share))
            flip = ans & (rng.random(len(calls)) < prob)
            calls.loc[flip, "outcome"] = "transferred"
    return calls


def run_one(args: tuple) -> list[dict]:
    from worlds_outside import simulate

    from analysis.gaming import run_checks

    seed, kind, share = args
    calls, truth = simulate(seed=seed, n_agents=120, days=61, gaming=False, ended_by=True)
    rng = np.random.default_rng(seed + int(share * 1000))
    ids = truth["agent_id"].to_numpy()
    planted = set(rng.choice(ids, max(1, int(round(share * ids.size))), replace=False))
    calls = _plant(calls, planted, kind, rng)
    rows = []
    for how in ("trimmed", "self"):
        rep = run_checks(calls, options={"step_null": how, "seed": seed})
        f = rep.flags[(rep.flags["check"] == BEHAVIOURS[kind])].set_index("agent_id")
        p = f["p_value"].reindex(ids)
        ag = rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")["flagged"]
        flagged = ag.reindex(ids).fillna(False).astype(bool)
        is_p = np.isin(ids, list(planted))
        rows.append(dict(behaviour=kind, share=share, null=how, seed=seed,
                         planted=int(is_p.sum()),
                         step_below_001=float((p[is_p] < 1e-3).mean()),
                         flagged=float(flagged[is_p].mean()),
                         others_flagged=float(flagged[~is_p].mean())))
    print(f"  seed {seed} {kind} {share:.0%}: "
          + "; ".join(f"{r['null']} step<.001 {r['step_below_001']:.2f} flagged "
                      f"{r['flagged']:.2f}" for r in rows), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    jobs = [(1000 + i, k, s) for i in range(a.seeds) for k in BEHAVIOURS for s in SHARES]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = [r for rs in ex.map(run_one, jobs) for r in rs]
    wall = time.perf_counter() - t0
    d = pd.DataFrame(rows)
    tab = (d.groupby(["behaviour", "share", "null"], sort=False)
           .agg(worlds=("seed", "size"), planted=("planted", "sum"),
                step_below_001=("step_below_001", "mean"), flagged=("flagged", "mean"),
                others_flagged=("others_flagged", "mean"))
           .reset_index())
    tab["share"] = (100 * tab["share"]).round().astype(int).astype(str) + " %"
    for c in ("step_below_001", "flagged"):
        tab[c] = tab[c].round(2)
    tab["others_flagged"] = (100 * tab["others_flagged"]).round(1).astype(str) + " %"
    lines = [
        "# Widespread gaming: many agents start padding on the same day",
        "",
        f"Produced by `benchmarks/bench_gaming_widespread.py --seeds {a.seeds}` "
        f"({wall / 60:.0f} min on 2 cores). Method: the module docstring.",
        "",
        tab.to_markdown(index=False),
        "",
    ]
    write_keeping_notes(OUT, lines, HAND)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
