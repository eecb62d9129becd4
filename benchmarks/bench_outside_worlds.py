"""The gaming battery on worlds ccpm's authors did not write (``worlds_outside.py``).

Writes ``benchmarks/results/outside_worlds.md`` (the notes below its hand-written
marker are kept). Run:
``.venv/bin/python benchmarks/bench_outside_worlds.py [--worlds 20] [--short-worlds 20]
[--small-worlds 20] [--jobs 2]``.

Why: every other calibration and power table runs on ccpm's own simulators
(``analysis.synth``, ``analysis.gaming._sigsim``), written by the people who wrote the
tests, so they share the tests' assumptions. ``worlds_outside.py`` was written from the
data contract alone by someone who did not read the toolkit (its module docstring
describes the world): five queues with mixture talk times, multi-skilled agents whose
traits come from a correlated multivariate t (df 5) with outliers, part-timers, new hires
with learning curves, leavers, queue-mix switches, holidays and Easter, bad days, drift,
frequent callers, callbacks routed to whoever is free, and a center-wide IVR change on
one day that raises every agent's short-call and transfer rates (a real step that is not
gaming). Gamed worlds plant 3-4 agents per behaviour (hang-ups on 4-10 % of calls, 35 %
of them disguised as customer-ended; after-call work x1.3-1.6; hold x1.4-2.0 in length
or frequency; transfers x1.8-2.5; talk x1.3-1.5 in the shift's last hour; 35-60 % of the
calls whose *talk* would end in 300-400 s cut to 270-299 s), about half from the first
day and half from a day 30-60 % into the window.

The battery runs as a user runs it: ``run_checks`` with the default options (no
``aht_target``: the bunching target is searched for). Per world kind: honest agents
flagged (agent-level decision, BH at .05 across agents), worlds with any honest flag,
recall per behaviour (and for gaming that starts mid-window), per-check null calibration
(honest agents' p-values in the null worlds, rejection rate / nominal), and change points:
agent-level steps on honest agents present from the first days to the last, the IVR step
dated within 3 days at the center level, and center steps elsewhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _notes import write_keeping_notes  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "outside_worlds.md"
#: Everything after this line of the results file is written by hand and kept on a rerun.
HAND = "<!-- written by hand below this line: bench_outside_worlds.py keeps it on a rerun -->"
AGENTS = 120
#: (label, days, ended_by, agents) of the world kinds; null seeds 1000 + i, gamed seeds
#: 2000 + i (+500 for 20 days, +7000 for small centers).
KINDS = [("61 days, with ended_by", 61, True, AGENTS), ("20 days, no ended_by", 20, False, AGENTS),
         ("61 days, 30 agents, with ended_by", 61, True, 30)]
#: A center step within this many days of the IVR change counts as dating it.
IVR_TOL_DAYS = 3


def run_world(kind: tuple, gamed: bool, i: int, options: dict | None = None) -> dict:
    """One world through the battery (default options unless given); what the tables need."""
    from worlds_outside import simulate

    from analysis.gaming import run_checks

    label, days, ended, agents = (*kind, AGENTS)[:4]
    seed = ((2000 if gamed else 1000) + i + (500 if days < 61 else 0)
            + (7000 if agents < AGENTS else 0))
    calls, truth = simulate(seed=seed, n_agents=agents, days=days, gaming=gamed,
                            ended_by=ended)
    rep = run_checks(calls, options=dict(options or {}))
    ag = rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")["flagged"]
    flagged = ag.reindex(truth["agent_id"]).fillna(False).astype(bool).to_numpy()
    f = rep.flags[rep.flags["level"] == "agent"]  # the center's rows have no agent
    cp = rep.changepoints
    center = (cp[cp["level"].astype(str) == "center"][["metric", "date", "p_value"]]
              if cp is not None and len(cp) else pd.DataFrame(columns=["metric", "date",
                                                                       "p_value"]))
    # agent-level steps (the changepoints check's own, not the dating of flagged agents)
    # on experienced agents: on the roster from the first days to the last (no new hire,
    # no leaver; the step check needs cp_min_agent_days, 40, so 61-day worlds only)
    h = calls[calls["answer_ts"].notna()]
    day = (h["answer_ts"] - pd.Timestamp(calls["arrival_ts"].min()).normalize()).dt.days
    span = day.groupby(h["agent_id"]).agg(["min", "max"])
    experienced = set(span.index[(span["min"] <= 2) & (span["max"] >= days - 3)])
    steps = (set(cp.loc[(cp["level"].astype(str) == "agent")
                        & (cp["source"].astype(str) == "changepoints"), "agent_id"].astype(str))
             if cp is not None and len(cp) else set())
    ivr = truth.attrs["ivr_date"]
    truth = truth.assign(experienced=truth["agent_id"].isin(experienced),
                         agent_step=truth["agent_id"].isin(steps))
    print(f"  {label} {'gamed' if gamed else 'null'} world {i}: "
          f"{int(flagged[truth['behaviour'].to_numpy() == 'honest'].sum())} honest flagged",
          flush=True)
    return dict(kind=label, gamed=gamed, world=i, truth=truth.assign(flagged=flagged),
                ivr=ivr, center=center,
                pvals=f[["agent_id", "period", "check", "p_value"]].copy())


def _tables(res: list[dict]) -> list[str]:
    lines = []
    rows, rec_rows = [], []
    for (kind, gamed), grp in pd.DataFrame(res).groupby(["kind", "gamed"], sort=False):
        hon = [float(t.loc[t["behaviour"] == "honest", "flagged"].mean()) for t in grp["truth"]]
        anyh = sum(bool(t.loc[t["behaviour"] == "honest", "flagged"].any()) for t in grp["truth"])
        rows.append({"world": kind, "gaming": "gamed" if gamed else "null",
                     "worlds": len(grp), "honest flagged, mean": f"{100 * np.mean(hon):.1f} %",
                     "worst world": f"{100 * np.max(hon):.1f} %",
                     "worlds with an honest flag": f"{anyh}/{len(grp)}"})
        if gamed:
            t = pd.concat(list(grp["truth"]), ignore_index=True)
            t = t[t["behaviour"] != "honest"]
            for b, tb in t.groupby("behaviour"):
                late = tb["start_day"] > 0
                rec_rows.append({"world": kind, "behaviour": b, "agents": len(tb),
                                 "recall": round(float(tb["flagged"].mean()), 2),
                                 "from day one": f"{int(tb.loc[~late, 'flagged'].sum())}/"
                                                 f"{int((~late).sum())}",
                                 "starting mid-window": f"{int(tb.loc[late, 'flagged'].sum())}/"
                                                        f"{int(late.sum())}"})
    lines += ["## Agent-level decisions (default battery, BH at .05 across agents)", "",
              pd.DataFrame(rows).to_markdown(index=False), "",
              "## Recall per planted behaviour", "", pd.DataFrame(rec_rows).to_markdown(index=False),
              ""]
    cal = []
    for r in res:
        if r["gamed"]:
            continue
        p = r["pvals"]
        cal.append(p[p["agent_id"].astype(str) != ""].assign(kind=r["kind"]))
    if cal:
        c = pd.concat(cal, ignore_index=True).dropna(subset=["p_value"])
        rows = []
        for (kind, chk), g in c.groupby(["kind", "check"], sort=True):
            p = g["p_value"].to_numpy(float)
            rows.append({"world": kind, "check": chk, "p-values": len(p),
                         **{f"at {x:g}": round(float(np.mean(p < x) / x), 2)
                            for x in (0.05, 0.001, 0.0001)}})
        lines += ["## Per-check null calibration (null worlds; rejection rate / nominal)", "",
                  pd.DataFrame(rows).to_markdown(index=False), ""]
    rows = []
    for (kind, gamed), grp in pd.DataFrame(res).groupby(["kind", "gamed"], sort=False):
        dated, other01, other05, worlds_other01 = 0, 0, 0, 0
        for r in grp.itertuples():
            c = r.center
            lag = (pd.to_datetime(c["date"]) - pd.Timestamp(r.ivr)).dt.days.abs()
            near = lag <= IVR_TOL_DAYS
            dated += bool((near & (c["metric"] == "short_call_rate")).any())
            far = c[~near]
            other01 += int((far["p_value"] < 0.01).sum())
            other05 += int((far["p_value"] < 0.05).sum())
            worlds_other01 += bool((far["p_value"] < 0.01).any())
        t = pd.concat(list(grp["truth"]), ignore_index=True)
        he = t[(t["behaviour"] == "honest") & t.get("experienced", False)]
        steps = (f"{int(he['agent_step'].sum())} of {len(he)}" if "agent_step" in he and len(he)
                 else "-")
        rows.append({"world": kind, "gaming": "gamed" if gamed else "null", "worlds": len(grp),
                     "honest experienced agents with an agent-level step": steps,
                     "IVR change dated (short-call rate, within 3 days)": f"{dated}/{len(grp)}",
                     "other center steps at p < .05": other05,
                     "at p < .01": other01,
                     "worlds with one at p < .01": f"{worlds_other01}/{len(grp)}"})
    lines += ["## Change points", "", pd.DataFrame(rows).to_markdown(index=False), ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worlds", type=int, default=20, help="61-day worlds per kind")
    ap.add_argument("--short-worlds", type=int, default=20, help="20-day worlds per kind")
    ap.add_argument("--small-worlds", type=int, default=20,
                    help="worlds of a small center (30 agents, 61 days) per kind")
    ap.add_argument("--jobs", type=int, default=1, help="worlds run at once (processes)")
    ap.add_argument("--cache", help="pickle of the per-world results: read if it exists")
    ap.add_argument("--options", default="{}",
                    help="JSON options for run_checks (a variant; the default is none)")
    ap.add_argument("--out", default=str(OUT), help="results file (default: %(default)s)")
    a = ap.parse_args()
    if a.cache and Path(a.cache).is_file():
        res = pd.read_pickle(a.cache)
    else:
        opts = json.loads(a.options)
        todo = [(k, g, i, opts) for k in KINDS for g in (False, True)
                for i in range(a.small_worlds if k[3] < AGENTS
                               else a.worlds if k[1] >= 61 else a.short_worlds)]
        with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as ex:
            res = list(ex.map(run_world, *zip(*todo, strict=True)))
        if a.cache:
            pd.to_pickle(res, a.cache)
    lines = ["# The gaming battery on outside worlds (not written by ccpm's authors)", "",
             f"{a.worlds} + {a.worlds} worlds of 61 days and {a.short_worlds} + "
             f"{a.short_worlds} of 20 days (null + gamed), {AGENTS} agents, and "
             f"{a.small_worlds} + {a.small_worlds} small centers (30 agents, 61 days; one "
             "honest flag there is 3.3 % of the honest agents), "
             "`benchmarks/worlds_outside.py` (module docstrings for the worlds and the "
             "method). "
             + (f"Options `{a.options}`." if json.loads(a.options)
                else "Default options, as a user runs `ccpm gaming`."), ""] + _tables(res)
    write_keeping_notes(Path(a.out), lines, HAND)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
