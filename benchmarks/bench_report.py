"""Benchmark: time to build a full report (executed notebooks, PDF, deck).

Target: one month of a 100-agent center renders in under 60 s. A reference run on a tiny
center (10 agents, one week) in the same script separates the fixed cost (kernel start-up,
imports, Typst) from the cost that grows with the data; the ratio of the two is printed.

Usage::

    .venv/bin/python benchmarks/bench_report.py [--agents 100] [--days 31] [--lang en]

Writes ``benchmarks/results/report.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(tmp: Path, name: str, agents: int, days: int, lang: str) -> dict:
    from analysis.report.build import build_report
    from analysis.synth import generate_center, write_center

    data = tmp / f"{name}-data"
    center = generate_center(agents=agents, days=days, seed=7)
    write_center(center, data)
    t0 = time.perf_counter()
    res = build_report(data / "calls.parquet", out=tmp / name, ratings=data / "ratings_360.csv",
                       okr=data / "okr.yml", roster=data / "roster.csv",
                       truth=data / "truth.csv", lang=lang, engine="builtin", progress=None)
    total = time.perf_counter() - t0
    return {"name": name, "agents": agents, "days": days, "calls": len(center.calls),
            "total": total, **{k: v for k, v in res.timings.items() if k != "total"}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--lang", default="en", choices=["en", "zh-CN"])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref = _run(tmp, "reference", 10, 7, args.lang)
        big = _run(tmp, "target", args.agents, args.days, args.lang)
    steps = [k for k in big if k.startswith(("inputs", "nb:", "render", "deck"))]
    lines = [
        "# Report build time",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the end "
        "(other jobs slow every number down).",
        "",
        "| step | reference (10 agents, 7 days) | target "
        f"({args.agents} agents, {args.days} days) |",
        "|---|---:|---:|",
        f"| calls | {ref['calls']:,} | {big['calls']:,} |",
    ]
    for k in steps:
        lines.append(f"| {k} | {ref.get(k, float('nan')):.1f} s | {big.get(k, float('nan')):.1f} s |")
    lines += [
        f"| **total** | **{ref['total']:.1f} s** | **{big['total']:.1f} s** |",
        "",
        f"Target/reference ratio: {big['total'] / ref['total']:.2f} "
        f"(for {big['calls'] / ref['calls']:.0f}x the calls): most of the time is the fixed "
        "cost of starting four kernels and importing the scientific stack.",
        f"Target (< 60 s for one month of a 100-agent center): "
        f"{'met' if big['total'] < 60 else 'NOT met'} ({big['total']:.1f} s, lang {args.lang}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results" / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".md.tmp")
    tmp_out.write_text(text, encoding="utf-8")
    tmp_out.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
