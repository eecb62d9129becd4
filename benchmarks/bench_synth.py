"""Benchmark of ``ccpm synth``: rows per second, scaling and peak memory.

Each size runs in its own subprocess (so peak RSS is that run's own): generate the
center, then write it (calls streamed to Parquet in batches of a million rows). The
reference run is the embedded sample (60 agents x 61 days, seed 7, what
``make report`` uses); the target is ten million calls in under a minute on two
cores, and a throughput at ten million rows at least half the reference's
(vectorised generation scales linearly; a per-call Python loop would not).

Usage: ``python benchmarks/bench_synth.py [--quick]`` (``--quick`` skips the 10M run).
Prints a table and writes ``benchmarks/results/synth.md``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "synth.md"

# (label, agents, days): the sample, a mid size, and about ten million calls.
SIZES = [
    ("sample (reference)", 60, 61),
    ("1M", 360, 61),
    ("10M", 3700, 61),
]

CHILD = r"""
import json, resource, sys, tempfile, time
from analysis.synth import generate_center, write_center
agents, days = int(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
c = generate_center(agents=agents, days=days, seed=7)
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as d:
    paths = write_center(c, d)
    size = paths["calls"].stat().st_size
t2 = time.perf_counter()
print(json.dumps({"rows": c.n_calls, "gen_s": t1 - t0, "write_s": t2 - t1,
                  "parquet_mb": size / 1e6,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_size(agents: int, days: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(agents), str(days)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def determinism_check() -> bool:
    """Same arguments, same bytes (checked here at a mid size; tests check small ones)."""
    from analysis.synth import generate_center, write_center

    digests = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(2):
            p = write_center(generate_center(agents=120, days=30, seed=3), Path(d) / str(i))
            digests.append(p["calls"].read_bytes())
    return digests[0] == digests[1]


def main(argv: list[str]) -> int:
    sizes = SIZES[:2] if "--quick" in argv else SIZES
    rows = []
    for label, agents, days in sizes:
        t = time.perf_counter()
        r = run_size(agents, days)
        r.update(label=label, agents=agents, days=days, wall_s=time.perf_counter() - t)
        r["total_s"] = r["gen_s"] + r["write_s"]
        r["rows_per_s"] = r["rows"] / r["total_s"]
        rows.append(r)
        print(
            f"{label:>20}: {r['rows']:>11,} rows  gen {r['gen_s']:6.1f} s  write "
            f"{r['write_s']:6.1f} s  {r['rows_per_s']:>12,.0f} rows/s  peak RSS "
            f"{r['rss_mb']:7.0f} MB",
            flush=True,
        )
    ref = rows[0]["rows_per_s"]
    same = determinism_check()
    lines = [
        "# Synthetic center generator (`ccpm synth`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the end "
        "(other jobs running slow every number down); each size in its own process; "
        "seed 7; default gaming mix.",
        "",
        "| run | agents x days | calls | generate (s) | write (s) | rows/s | "
        "throughput vs reference | peak RSS (MB) | Parquet (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['agents']} x {r['days']} | {r['rows']:,} | {r['gen_s']:.1f} | "
            f"{r['write_s']:.1f} | {r['rows_per_s']:,.0f} | {r['rows_per_s'] / ref:.2f} | "
            f"{r['rss_mb']:.0f} | {r['parquet_mb']:.1f} |"
        )
    lines.append("")
    verdicts = [f"- Same arguments give byte-identical calls.parquet: {'yes' if same else 'NO'}"]
    big = [r for r in rows if r["label"] == "10M"]
    ok = same
    if big:
        b = big[0]
        fast = b["total_s"] < 60
        linear = b["rows_per_s"] / ref >= 0.5
        ok = ok and fast and linear
        verdicts.append(
            f"- 10M-row target (under 60 s including the Parquet write): "
            f"{b['total_s']:.1f} s -> {'met' if fast else 'MISSED'}"
        )
        verdicts.append(
            f"- Throughput at 10M is {b['rows_per_s'] / ref:.2f} x the reference's "
            f"(target >= 0.5): {'met' if linear else 'MISSED'}"
        )
    lines += verdicts
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(verdicts))
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
