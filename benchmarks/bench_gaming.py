"""Gaming checks: power tables per behaviour and the cost on 10 million calls.

Writes ``benchmarks/results/gaming_power.md``. Run:
``.venv/bin/python benchmarks/bench_gaming.py [--quick] [--rows 10000000]``.

Power: recall (share of planted gamer x period tests with BH q < 0.05 across
all agents, periods and checks of the world) at several strengths, per
behaviour (hang-ups against peers / against own history; bunching under a
target). Speed: the core checks on a contract Parquet of ``--rows`` calls, as a
ratio to a plain DuckDB group-by (agent x month counts) over the same file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.gaming import run_checks
from analysis.gaming._coresim import simulate_calls, simulate_counts
from analysis.gaming._fdr import bh_qvalues
from analysis.gaming.short_calls import short_calls_peer_table, short_calls_trend_table

OUT = Path(__file__).resolve().parent / "results" / "gaming_power.md"


def hangup_power(strengths, reps, rng):
    rows = []
    for h in strengths:
        hit_p = hit_t = tot = false = honest = 0
        for w in range(reps):
            gam = {i: (h, 1) for i in range(3)}  # three gamers from month 2 on
            c = simulate_counts(rng, n_agents=40, n_queues=2, months=3, calls=(800, 2200),
                                hangup=gam).drop(columns="gamer")
            p = short_calls_peer_table(c, seed=w).assign(check="peer")
            t = short_calls_trend_table(c, seed=w).assign(check="trend")
            allp = pd.concat([p, t], ignore_index=True)
            allp["q"] = bh_qvalues(allp["p_value"].to_numpy())
            g = allp["agent_id"].isin([f"A{i:03d}" for i in range(3)]) & (
                allp["period"] >= "2024-02")
            tot += int((g & (allp["check"] == "peer")).sum())
            hit_p += int((g & (allp["check"] == "peer") & (allp["q"] < 0.05)).sum())
            hit_t += int((g & (allp["check"] == "trend") & (allp["q"] < 0.05)).sum())
            hon = ~allp["agent_id"].isin([f"A{i:03d}" for i in range(3)])
            honest += int(allp.loc[hon, "agent_id"].nunique())
            false += int(allp.loc[hon & (allp["q"] < 0.05), "agent_id"].nunique())
        rows.append(dict(hangup_share=h, recall_peer=hit_p / tot, recall_trend=hit_t / tot,
                         recall_either=None, honest_flagged=false / max(honest, 1)))
    return pd.DataFrame(rows).drop(columns="recall_either")


def bunching_power(strengths, reps):
    rows = []
    for b in strengths:
        hits = tot = false = hon = 0
        for w in range(reps):
            calls, _ = simulate_calls(n_agents=30, months=2, bunch={0: b, 1: b}, seed=500 + w,
                                      ended_by=False)
            rep = run_checks(calls, checks=["bunching_agent", "bunching_center"],
                             options={"aht_target": 300, "bunch_boot": 99})
            f = rep.flags[rep.flags["check"] == "bunching_agent"]
            g = f["agent_id"].isin(["A000", "A001"])
            tot += int(g.sum())
            hits += int((g & f["flagged"]).sum())
            hon += int((~g).sum())
            false += int((~g & f["flagged"]).sum())
        rows.append(dict(bunch_share=b, recall_agent=hits / max(tot, 1),
                         honest_flagged=false / max(hon, 1)))
    return pd.DataFrame(rows)


def speed(rows: int, tmp: Path):
    n_agents = 500
    months = 12
    per = max(rows // (n_agents * months), 1)
    path = tmp / "calls10m.parquet"
    if not path.exists():
        con = duckdb.connect()
        con.execute(f"""
            COPY (
              SELECT 'C' || i AS call_id,
                     'Q' || (i % 3) AS queue,
                     TIMESTAMP '2024-01-01' + to_seconds(
                         ((i // {n_agents}) % {months}) * 2592000 + (i * 7919) % 2500000)
                         AS arrival_ts,
                     'answered' AS outcome,
                     'A' || (i % {n_agents}) AS agent_id,
                     TIMESTAMP '2024-01-01' + to_seconds(
                         ((i // {n_agents}) % {months}) * 2592000 + (i * 7919) % 2500000 + 20)
                         AS answer_ts,
                     CASE WHEN random() < 0.03 + 0.0001 * (i % {n_agents}) THEN random() * 15
                          ELSE exp(5.2 + 0.5 * sqrt(-2 * ln(random())) * cos(6.283 * random()))
                     END AS talk_s,
                     0.0 AS hold_s, 30.0 AS acw_s
              FROM range({n_agents * months * per}) t(i)
            ) TO '{path}' (FORMAT parquet)""")
    t0 = time.perf_counter()
    duckdb.connect().execute(
        f"SELECT agent_id, strftime(answer_ts, '%Y-%m') m, queue, count(*), "
        f"count(*) FILTER (WHERE talk_s < 20) FROM read_parquet('{path}') GROUP BY ALL"
    ).df()
    ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = run_checks(str(path), options={"aht_target": 300, "bunch_boot": 199},
                     checks=["short_calls_peer", "short_calls_trend", "bunching_center",
                             "bunching_agent"])
    core = time.perf_counter() - t0
    return dict(rows=n_agents * months * per, reference_s=ref, checks_s=core,
                ratio=core / ref, per_check=rep.info["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--tmp", default="/tmp/ccpm_bench_gaming")
    ap.add_argument("--only", choices=["all", "hangups"], default="all",
                    help="hangups: rerun the hang-up rows only and replace that table in "
                    "the results file (the other tables are kept)")
    a = ap.parse_args()
    rng = np.random.default_rng(20261126)
    reps = 3 if a.quick else 10
    hp = hangup_power([0.01, 0.02, 0.05, 0.10, 0.15], reps, rng)
    if a.only == "hangups":
        table = hp.to_markdown(index=False, floatfmt=".3f")
        print(table)
        old = OUT.read_text().split("\n\n")
        i = next(j for j, b in enumerate(old) if b.startswith("|   hangup_share"))
        old[i] = table
        OUT.write_text("\n\n".join(old))
        return
    bp = bunching_power([0.1, 0.3, 0.6], 2 if a.quick else 5)
    tmp = Path(a.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    sp = speed(a.rows, tmp)
    md = ["# Gaming checks: power and cost", "",
          f"Hang-ups (40 agents, 2 queues, 800-2,200 calls a month, 3 months; 3 gamers from "
          f"month 2; honest agents differ in natural short-call odds (SD 0.45) and drift; "
          f"{reps} worlds per row). Recall = gamer x month tests with BH q < 0.05 across all "
          "tests of the world; honest_flagged = share of honest agents with any q < 0.05.", "",
          hp.to_markdown(index=False, floatfmt=".3f"), "",
          "Bunching under a 300 s target (30 agents, 2 bunch a share of the calls that would "
          "end in [300, 390) s to just under 300 s; own-density agent test, BH across the "
          "world's tests).", "",
          bp.to_markdown(index=False, floatfmt=".3f"), "",
          f"Cost on {sp['rows']:,} calls (Parquet, 500 agents, 12 months, 3 queues): core "
          f"checks {sp['checks_s']:.1f} s vs a plain DuckDB agent x month x queue group-by "
          f"{sp['reference_s']:.1f} s: ratio {sp['ratio']:.1f}. Per check (s): "
          f"{sp['per_check']}.", ""]
    text = "\n".join(md)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
