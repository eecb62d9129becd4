"""Gaming battery: calibration and power on clean and messy worlds, per test and per agent.

Writes the tables of ``benchmarks/results/gaming_calibration.md`` (the notes below its
hand-written marker, :data:`HAND`, are kept). Run:
``.venv/bin/python benchmarks/bench_gaming_calibration.py [--worlds 8] [--agents 200] [--days 61]``.

Worlds: :func:`analysis.gaming._sigsim.simulate_calls`, clean (``messy=False``) and
messy (``messy=True``: Student-t agent propensities shared across queues and
behaviours, agent-day random effects, a 12% center-wide drift, a weekday cycle,
new hires' learning curve). Null worlds have no gaming; gamed worlds plant 4
agents each of hang-ups (5% of calls), transfer dumping (x1.8), after-call-work
padding (x1.3), hold padding (x1.4) and end-of-day stretching (x1.3).

20-day worlds: messy, without ``ended_by`` (issue #13's short worlds: the hang-up
checks must work from talk time and callbacks alone), null and gamed as above.

Heavy-habit worlds: messy, and every agent's after-call work and hold carry a further
``exp(0.8 T / sqrt 3)``, ``T`` Student t3 (``simulate_calls(habit_tail=0.8)``): honest
habits heavier-tailed than the messy worlds' own, null and gamed (61 days).

Per test: pooled null p-values of every agent x period per check, rejection rate
divided by nominal at .05, .001 and .0001, model p-values and tail-calibrated
(``analysis.gaming._empnull``). Per agent: the runner's decision (ACAT per agent,
BH across agents at 0.05): share of honest agents flagged, worlds with any honest
agent flagged, recall per planted behaviour. Study checks (:data:`STUDY_CHECKS`, not in the
default battery) appear in the per-test table only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _notes import write_keeping_notes

from analysis.gaming import run_checks
from analysis.gaming._agents import agent_table
from analysis.gaming._empnull import calibrate_pvalues, fit_empirical_null
from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.repeat_after_short import check_repeated_short_calls
from analysis.gaming.runner import TAIL_CALIBRATED, TAIL_NULL_TRIM

OUT = Path(__file__).resolve().parent / "results" / "gaming_calibration.md"
#: Everything after this line of the results file is written by hand and kept on a rerun.
HAND = "<!-- written by hand below this line: bench_gaming_calibration.py keeps it on a rerun -->"
CHECKS = ["short_calls_peer", "short_calls_trend", "short_calls_change", "repeat_after_short",
          "quick_callback_after_short", "transfer_dumping", "acw_inflation", "hold_inflation",
          "acw_change", "hold_change", "end_of_day_stretch", "survey_selection", "bunching_agent"]
#: Study checks (not in the default battery): their p-values are computed and shown in the
#: per-test calibration table, but they take no part in the agent-level decisions.
STUDY_CHECKS = ["repeated_short_calls"]
#: The heavy-habit worlds' label (module docstring).
HEAVY = "messy, heavy-tailed ACW/hold habits"
KINDS = [("hangup", {"hangup": 0.05}), ("transfer", {"transfer": 1.8}), ("acw", {"acw": 1.3}),
         ("hold", {"hold": 1.4}), ("eod", {"eod": 1.3})]


def _effects():
    eff, truth = {}, {}
    for j, (k, e) in enumerate(KINDS):
        for i in range(4):
            a = f"A{j * 4 + i:03d}"
            eff[a], truth[a] = e, k
    return eff, truth


def _pvalues(messy: bool, gamed: bool, worlds: int, agents: int, days: int, seed0: int,
             ended_by: bool = True, habit_tail: float = 0.0):
    eff, _ = _effects() if gamed else ({}, {})
    out = []
    for i in range(worlds):
        df = simulate_calls(n_agents=agents, days=days, seed=seed0 + i, messy=messy,
                            effects=eff, habit_tail=habit_tail)
        if not ended_by:
            df["ended_by"] = None
        rep = run_checks(df, checks=CHECKS, options={"raise_errors": True, "seed": i,
                                                     "aht_target": 300,
                                                     "empirical_null": False})
        f = rep.flags[rep.flags["agent_id"] != "center"].assign(world=i)
        out.append(f[["world", "agent_id", "period", "check", "p_value"]])
        study = check_repeated_short_calls(make_context(df, options={"seed": i})).flags
        out.append(study.assign(world=i)[["world", "agent_id", "period", "check", "p_value"]])
        print(f"  {'messy' if messy else 'clean'} {'gamed' if gamed else 'null'} world {i}",
              flush=True)
    return pd.concat(out, ignore_index=True)


def _calibrate(g: pd.DataFrame) -> pd.DataFrame:
    g = g.copy()
    for c in (*TAIL_CALIBRATED, *STUDY_CHECKS):
        for part in (False, True):
            sel = ((g["check"] == c) & ((g["period"] == "all") == part)).to_numpy()
            if sel.any():
                p = g.loc[sel, "p_value"].to_numpy()
                g.loc[sel, "p_value"] = calibrate_pvalues(
                    p, fit_empirical_null(p, trim=TAIL_NULL_TRIM))
    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", type=int, default=8)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--days", type=int, default=61)
    ap.add_argument("--short-worlds", type=int, default=8,
                    help="20-day messy worlds without ended_by, per kind (null, gamed)")
    ap.add_argument("--short-days", type=int, default=20)
    ap.add_argument("--heavy-worlds", type=int, default=5,
                    help="messy worlds with heavy-tailed after-call work and hold habits, per kind")
    ap.add_argument("--cache", help="pickle of the p-values: read if it exists, else written")
    a = ap.parse_args()
    if a.cache and Path(a.cache).is_file():
        data = pd.read_pickle(a.cache)
    else:
        data = _all_pvalues(a)
        if a.cache:
            pd.to_pickle(data, a.cache)
    _write(a, data)


def _all_pvalues(a) -> dict:
    data = {}
    for messy in (False, True):
        for gamed in (False, True):
            data[(messy, gamed)] = _pvalues(messy, gamed, a.worlds, a.agents, a.days,
                                            400 if gamed else 100)
    short = f"{a.short_days}-day messy, no ended_by"
    for gamed in (False, True):
        if a.short_worlds:
            data[(short, gamed)] = _pvalues(True, gamed, a.short_worlds, a.agents, a.short_days,
                                            600 if gamed else 300, ended_by=False)
    for gamed in (False, True):
        if getattr(a, "heavy_worlds", 0):
            data[(HEAVY, gamed)] = _pvalues(True, gamed, a.heavy_worlds, a.agents, a.days,
                                            900 if gamed else 800, habit_tail=0.8)
    return data


def _write(a, data: dict) -> None:
    short = f"{a.short_days}-day messy, no ended_by"
    lines = ["# Gaming battery: calibration and power, clean vs messy worlds", "",
             f"{a.worlds} worlds per row ({a.days} days), {a.short_worlds} worlds per row "
             f"({short}) and {getattr(a, 'heavy_worlds', 0)} ({HEAVY}, {a.days} days), "
             f"{a.agents} agents "
             "(`benchmarks/bench_gaming_calibration.py`; module docstring for the worlds).", ""]
    rows = []
    for messy in (False, True, short, HEAVY):
        if (messy, False) not in data:
            continue
        d = data[(messy, False)]
        dc = pd.concat([_calibrate(g) for _, g in d.groupby("world")])
        for c in sorted(d["check"].unique()):
            for mode, dd in (("model", d), ("tail-calibrated", dc)):
                p = dd.loc[dd["check"] == c, "p_value"].dropna().to_numpy()
                world = messy if isinstance(messy, str) else ("messy" if messy else "clean")
                rows.append(dict(check=c, world=world, p_values=mode,
                                 n=len(p), **{f"at {x:g}": round(float(np.mean(p < x) / x), 2)
                                              for x in (0.05, 0.001, 0.0001)}))
    lines += ["## Per-test null calibration (rejection rate / nominal)", "",
              pd.DataFrame(rows).sort_values(["check", "p_values", "world"]).to_markdown(
                  index=False), ""]
    _, truth = _effects()
    rows = []
    for (messy, gamed), d in data.items():
        for mode in ("model", "tail-calibrated"):
            rec = {k: [] for k, _ in KINDS}
            hon, anyh = [], []
            for _, g in d[~d["check"].isin(STUDY_CHECKS)].groupby("world"):
                g = _calibrate(g) if mode != "model" else g.copy()
                g["effect"], g["effect_unit"] = 0.0, ""
                ag, _ = agent_table(g, alpha=0.05)
                ag = ag[ag["scope"] == "all"].set_index("agent_id")
                h = ag.loc[~ag.index.isin(list(truth))] if gamed else ag
                hon.append(h["flagged"].mean())
                anyh.append(bool(h["flagged"].any()))
                if gamed:
                    for aid, k in truth.items():
                        rec[k].append(bool(ag["flagged"].get(aid, False)))
            kind = messy if isinstance(messy, str) else ("messy" if messy else "clean")
            r = dict(world=f"{kind} {'gamed' if gamed else 'null'}",
                     p_values=mode, worlds=len(hon), honest_flagged=round(float(np.mean(hon)), 4),
                     honest_worst=round(float(np.max(hon)), 4),
                     worlds_with_an_honest_flag=f"{sum(anyh)}/{len(anyh)}")
            if gamed:
                r.update({f"recall_{k}": round(float(np.mean(v)), 2) for k, v in rec.items()})
            rows.append(r)
    lines += ["## Agent-level decisions (ACAT per agent, BH across agents at 0.05)", "",
              pd.DataFrame(rows).to_markdown(index=False), ""]
    write_keeping_notes(OUT, lines, HAND)
    print(f"wrote {OUT} (the notes below its hand-written marker kept)")


if __name__ == "__main__":
    main()
