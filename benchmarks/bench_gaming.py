"""Gaming checks: power tables per behaviour and the cost of the whole battery.

Writes ``benchmarks/results/gaming_power.md``. Run:
``.venv/bin/python benchmarks/bench_gaming.py [--quick] [--rows 10000000] [--only speed]``.

Power: recall (share of planted gamer x period tests with BH q < 0.05 across
all agents, periods and checks of the world) at several strengths, per
behaviour (hang-ups against peers / against own history; bunching under a
target).

Speed: every registered check through ``run_checks`` (with the roster, the 360
ratings and the OKRs) on a synthetic center of about ``--rows`` calls
(``analysis.synth``: 3,560 agents per 10 M calls, 61 days, seed 7; generated
once and cached in ``--tmp``, by default ``$CCPM_BENCH_CACHE`` or
``<tmp>/ccpm_bench_cache``, the folder ``benchmarks/bench_panel.py`` uses, so
both benchmarks share a center). The battery runs in a fresh process (its peak
RSS is its own), with the default two checks at a time and again one at a time
(``check_threads: 1``, the per-check seconds and the same flags); the reference is a plain DuckDB group-by scan of the same
Parquet (agent x month x queue counts and short calls), best of three fresh
processes. Target: the whole battery within 120 s on this 2-core machine
(issue #4). ``--only speed`` reruns this part alone and replaces its section of
the results file (the power tables are kept); ``--only hangups`` reruns the
hang-up table alone. Exit 1 when the speed target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.gaming import run_checks
from analysis.gaming._coresim import simulate_calls, simulate_counts
from analysis.gaming._fdr import bh_qvalues
from analysis.gaming.short_calls import short_calls_peer_table, short_calls_trend_table

OUT = Path(__file__).resolve().parent / "results" / "gaming_power.md"
CACHE = Path(os.environ.get("CCPM_BENCH_CACHE", Path(tempfile.gettempdir()) / "ccpm_bench_cache"))
TARGET_S = 120.0  # the whole battery on 10 M calls (issue #4)
DAYS = 61
AGENTS_PER_10M = 3560  # bench_panel's 10 M center: 3,560 agents x 61 days
OPTIONS = {"aht_target": 300}
SPEED_HEADING = "## Speed: the whole battery"

# One battery run; prints one JSON line.
BATTERY_CHILD = r"""
import json, os, resource, sys, time
import yaml
from analysis.gaming import CHECKS, run_checks
from analysis.load import load_ratings, load_roster
folder, options = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
roster = load_roster(os.path.join(folder, "roster.csv")).valid
ratings = load_ratings(os.path.join(folder, "ratings_360.csv")).valid
with open(os.path.join(folder, "okr.yml"), encoding="utf-8") as fh:
    okr = yaml.safe_load(fh)
t1 = time.perf_counter()
c1 = time.process_time()
rep = run_checks(os.path.join(folder, "calls.parquet"), options=options, roster=roster,
                 ratings=ratings, okr=okr)
t2 = time.perf_counter()
print(json.dumps({
    "inputs_s": t1 - t0, "wall_s": t2 - t1, "cpu_s": time.process_time() - c1,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "seconds": rep.info["seconds"], "checks": CHECKS.names(), "ran": rep.ran,
    "skipped": rep.skipped, "rows": rep.info.get("rows"), "tests": len(rep.flags),
    "flagged": int(rep.flags["flagged"].sum()),
}))
"""

# The reference: a plain DuckDB group-by scan of the same Parquet; prints one JSON line.
REFERENCE_CHILD = r"""
import json, resource, sys, time
import duckdb
path = sys.argv[1].replace("'", "''")
t0, c0 = time.perf_counter(), time.process_time()
duckdb.connect().execute(
    "SELECT agent_id, strftime(answer_ts, '%Y-%m') AS m, queue, count(*) AS n, "
    "count(*) FILTER (WHERE talk_s < 20) AS k "
    f"FROM read_parquet('{path}') GROUP BY ALL").fetchall()
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


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


def ensure_center(rows: int, cache: Path) -> Path:
    """The cached synthetic center of about ``rows`` calls (generated on first use).

    Same recipe and folder names as ``benchmarks/bench_panel.py`` (``10M_a3560_d61_s7``
    for the default), so the two benchmarks share their centers.
    """
    agents = max(20, round(rows * AGENTS_PER_10M / 10_000_000))
    label = f"{rows / 1e6:g}M"
    folder = cache / f"{label}_a{agents}_d{DAYS}_s7"
    need = ("calls.parquet", "roster.csv", "ratings_360.csv", "okr.yml")
    if not all((folder / f).is_file() for f in need):
        from analysis.synth import generate_center, write_center

        print(f"bench_gaming: generating a {agents}-agent center in {folder} (cached) ...",
              file=sys.stderr, flush=True)
        tmp = folder.with_name(folder.name + ".partial")
        write_center(generate_center(agents=agents, days=DAYS, seed=7), tmp)
        folder.mkdir(parents=True, exist_ok=True)  # an incomplete cache is completed
        for f in tmp.iterdir():
            f.replace(folder / f.name)
        tmp.rmdir()
    return folder


def _child(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def speed(rows: int, cache: Path) -> dict:
    """The whole battery and the reference scan on the cached center of ``rows`` calls."""
    folder = ensure_center(rows, cache)
    load0 = os.getloadavg()[0]
    ref = [_child(REFERENCE_CHILD, str(folder / "calls.parquet")) for _ in range(3)]
    print("bench_gaming: the whole battery ...", file=sys.stderr, flush=True)
    bat = _child(BATTERY_CHILD, str(folder), json.dumps(OPTIONS))
    print("bench_gaming: the whole battery, one check at a time ...", file=sys.stderr,
          flush=True)
    seq = _child(BATTERY_CHILD, str(folder), json.dumps({**OPTIONS, "check_threads": 1}))
    load1 = os.getloadavg()[0]
    best = min(ref, key=lambda r: r["wall_s"])
    return dict(folder=folder, battery=bat, sequential=seq, reference=best, load0=load0,
                load1=load1)


def speed_section(sp: dict) -> list[str]:
    """The results file's speed section (markdown lines)."""
    b, ref, seq = sp["battery"], sp["reference"], sp["sequential"]
    # the per-check seconds of the one-at-a-time run (two at a time they overlap)
    secs = seq["seconds"]
    checks = [c for c in seq["checks"] if c in secs]
    context = seq["wall_s"] - sum(secs.values())
    ok = b["wall_s"] <= TARGET_S
    same = (b["tests"], b["flagged"]) == (seq["tests"], seq["flagged"])
    lines = [
        f"{SPEED_HEADING} on {b['rows']:,} calls", "",
        f"Synthetic center `{sp['folder'].name}` (`analysis.synth`, seed 7, {DAYS} days) with "
        "its roster, 360 ratings and OKRs; all "
        f"{len(b['checks'])} registered checks through `run_checks` (options {OPTIONS}), in a "
        f"fresh process, with the default two checks at a time and again one at a time "
        f"(`check_threads: 1`). Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {sp['load0']:.1f} at the start, "
        f"{sp['load1']:.1f} at the end (other processes slow every number down). "
        f"{b['tests']:,} tests, {b['flagged']} flagged (one at a time: {seq['tests']:,} "
        f"tests, {seq['flagged']} flagged{'' if same else ': DIFFERENT'}).", "",
        "| step (one check at a time) | seconds |", "|---|---:|",
    ]
    for c in checks:
        note = " (skipped: " + seq["skipped"][c] + ")" if c in seq["skipped"] else ""
        lines.append(f"| {c}{note} | {secs[c]:.1f} |")
    for c, v in secs.items():
        if c not in checks:
            lines.append(f"| {c} | {v:.1f} |")
    lines += [
        f"| the rest: the DuckDB view and its row accounting, importing the check modules, "
        f"BH across all tests | {context:.1f} |",
        f"| whole battery, one check at a time (`run_checks` wall) | {seq['wall_s']:.1f} |",
        f"| **whole battery, two checks at a time (the default)** | **{b['wall_s']:.1f}** |",
        "",
        f"- Target: the whole battery within {TARGET_S:.0f} s: "
        f"**{'met' if ok else 'NOT met'}** ({b['wall_s']:.1f} s; one check at a time "
        f"{seq['wall_s']:.1f} s, ratio {b['wall_s'] / seq['wall_s']:.2f}).",
        f"- Reference (a plain DuckDB agent x month x queue group-by of the same Parquet, best "
        f"of 3 fresh processes): {ref['wall_s']:.2f} s; the battery takes "
        f"**{b['wall_s'] / ref['wall_s']:.0f} x** the reference.",
        f"- CPU time (user + sys, all threads) of the battery: {b['cpu_s']:.0f} s (one at a "
        f"time {seq['cpu_s']:.0f} s); peak RSS {b['rss_mb']:.0f} MB (one at a time "
        f"{seq['rss_mb']:.0f} MB; reference {ref['rss_mb']:.0f} MB). Reading the roster, ratings "
        f"and OKRs (not timed above): {b['inputs_s']:.1f} s.",
        "",
    ]
    return lines


def _replace_speed(text: str, section: list[str]) -> str:
    """``text`` with its speed section (from its heading, or the older one-paragraph
    "Cost on" form, to the next ``## `` heading) replaced by ``section``."""
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, ln in enumerate(lines)
                  if ln.startswith(SPEED_HEADING) or ln.startswith("Cost on ")), None)
    if start is None:
        return "\n".join(lines + [""] + section)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return "\n".join(lines[:start] + section + lines[end:]) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=10_000_000,
                    help="calls in the synthetic center of the speed run (about)")
    ap.add_argument("--tmp", default=str(CACHE),
                    help="folder caching the synthetic centers (generated once)")
    ap.add_argument("--only", choices=["all", "hangups", "speed"], default="all",
                    help="hangups: rerun the hang-up rows only and replace that table; speed: "
                    "rerun the speed run only and replace its section (the other tables are "
                    "kept)")
    a = ap.parse_args()
    cache = Path(a.tmp)
    cache.mkdir(parents=True, exist_ok=True)
    if a.only == "speed":
        section = speed_section(speed(a.rows, cache))
        text = _replace_speed(OUT.read_text() if OUT.exists() else "", section)
        OUT.write_text(text)
        print("\n".join(section))
        return 0 if "**met**" in "\n".join(section) else 1
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
        return 0
    bp = bunching_power([0.1, 0.3, 0.6], 2 if a.quick else 5)
    section = speed_section(speed(a.rows, cache))
    md = ["# Gaming checks: power and cost", "",
          f"Hang-ups (40 agents, 2 queues, 800-2,200 calls a month, 3 months; 3 gamers from "
          f"month 2; honest agents differ in natural short-call odds (SD 0.45) and drift; "
          f"{reps} worlds per row). Recall = gamer x month tests with BH q < 0.05 across all "
          "tests of the world; honest_flagged = share of honest agents with any q < 0.05.", "",
          hp.to_markdown(index=False, floatfmt=".3f"), "",
          "Bunching under a 300 s target (30 agents, 2 bunch a share of the calls that would "
          "end in [300, 390) s to just under 300 s; own-density agent test, BH across the "
          "world's tests).", "",
          bp.to_markdown(index=False, floatfmt=".3f"), "", *section]
    text = "\n".join(md)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0 if "**met**" in "\n".join(section) else 1


if __name__ == "__main__":
    sys.exit(main())
