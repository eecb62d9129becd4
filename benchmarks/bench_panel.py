"""Benchmark of the metric panel (DuckDB over Parquet) and of the model comparison.

For each size a synthetic center is written to a temporary folder (not timed), then,
in a fresh subprocess (so peak RSS is that run's own): ``build_panel`` on the Parquet
file, and ``compare_models`` (kpi, okr, bsc, 360; 200 bootstrap replicates) on the
panel. The reference run is the sample center (60 agents x 61 days). Targets, as
ratios against the reference in the same run, never as timed assertions:

- panel throughput (calls per second) at ten million calls at least half the
  reference's (the SQL scales linearly; pulling per-call rows into pandas would not);
- comparison time per agent-period within 3x the reference's (the models see only
  agent x period rows, whatever the number of calls).

Usage: ``python benchmarks/bench_panel.py [--quick]`` (``--quick`` skips the 10M run).
Prints a table and writes ``benchmarks/results/panel.md``.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "panel.md"

SIZES = [
    ("sample (reference)", 60, 61),
    ("1M", 360, 61),
    ("10M", 3560, 61),
]

CHILD = r"""
import json, resource, sys, time
from analysis.panel import build_panel
from analysis.compare import compare_models
from analysis.models.config import load_model_config
import pandas as pd
folder = sys.argv[1]
t0 = time.perf_counter()
panel = build_panel(folder + "/calls.parquet")
t1 = time.perf_counter()
ratings = pd.read_csv(folder + "/ratings_360.csv", dtype=str).astype({"score": float})
cfg = load_model_config(override={"compare": {"n_boot": 200}})
t2 = time.perf_counter()
comp = compare_models(panel, config=cfg, ratings=ratings, okr=folder + "/okr.yml",
                      flagged=pd.read_csv(folder + "/truth.csv", dtype={"agent_id": str}))
t3 = time.perf_counter()
print(json.dumps({"rows": panel.attrs["ccpm_panel"]["rows_read"], "agent_periods": len(panel),
                  "panel_s": t1 - t0, "compare_s": t3 - t2,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_size(agents: int, days: int) -> dict:
    from analysis.synth import generate_center, write_center

    with tempfile.TemporaryDirectory() as d:
        write_center(generate_center(agents=agents, days=days, seed=7), d)
        out = subprocess.run([sys.executable, "-c", CHILD, d], capture_output=True, text=True,
                             check=True)
    last = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(last)


def main(argv: list[str]) -> int:
    sizes = SIZES[:2] if "--quick" in argv else SIZES
    rows = []
    for label, agents, days in sizes:
        print(f"bench_panel: {label} ({agents} agents x {days} days) ...", file=sys.stderr,
              flush=True)
        r = run_size(agents, days)
        r.update(label=label, agents=agents, days=days)
        r["calls_per_s"] = r["rows"] / r["panel_s"]
        r["compare_ms_per_ap"] = 1000 * r["compare_s"] / r["agent_periods"]
        rows.append(r)
    ref = rows[0]
    lines = [
        "# Metric panel (DuckDB over Parquet) and model comparison",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; each size in its "
        "own process; synthetic center, seed 7; compare = kpi, okr, bsc, 360 with 200 "
        "bootstrap replicates.",
        "",
        "| run | agents x days | calls | agent-periods | panel (s) | calls/s | panel throughput "
        "vs reference | compare (s) | compare ms per agent-period | vs reference | "
        "peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['agents']} x {r['days']} | {r['rows']:,} | "
            f"{r['agent_periods']:,} | {r['panel_s']:.2f} | {r['calls_per_s']:,.0f} | "
            f"{r['calls_per_s'] / ref['calls_per_s']:.2f} | {r['compare_s']:.1f} | "
            f"{r['compare_ms_per_ap']:.1f} | "
            f"{r['compare_ms_per_ap'] / ref['compare_ms_per_ap']:.2f} | {r['rss_mb']:.0f} |")
    big = rows[-1]
    ok_panel = big["calls_per_s"] / ref["calls_per_s"] >= 0.5
    ok_cmp = big["compare_ms_per_ap"] / ref["compare_ms_per_ap"] <= 3
    lines += [
        "",
        f"- Panel throughput at {big['label']}: "
        f"{big['calls_per_s'] / ref['calls_per_s']:.2f} x the reference's (target >= 0.5): "
        f"{'met' if ok_panel else 'NOT met'}",
        f"- Comparison cost per agent-period at {big['label']}: "
        f"{big['compare_ms_per_ap'] / ref['compare_ms_per_ap']:.2f} x the reference's "
        f"(target <= 3): {'met' if ok_cmp else 'NOT met'}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    t = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"wrote {RESULTS} at {t} UTC", file=sys.stderr)
    return 0 if ok_panel and ok_cmp else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
