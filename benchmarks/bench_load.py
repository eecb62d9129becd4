"""Benchmark of the loaders (``analysis.load.load_calls``): rows per second and scaling.

Runs, each in its own subprocess (so peak RSS is that run's own):

- reference: a 100,000-row contract CSV (from ``ccpm synth``, repeated) -> ``load_calls``;
- 1M: the same CSV at one million rows;
- the whole Anonymous Bank set (318,286 rows, 9 gzipped files) with its mapping;
- a plain ``pandas.read_csv(engine="pyarrow", dtype=str)`` of the 1M file, to show what
  mapping + checking every row costs on top of just reading.

Targets, as ratios against the reference in the same run (never timed assertions):
throughput at 1M rows at least half the reference's (everything is vectorised, so it
scales linearly; a per-row Python loop would not); the absolute times (1M in under
~30 s, the bank set in well under a minute on two cores) are printed for the record.

Usage: ``python benchmarks/bench_load.py [--quick]`` (``--quick`` skips the 1M run).
Prints a table and writes ``benchmarks/results/load.md``.
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
RESULTS = HERE / "results" / "load.md"

CHILD = r"""
import json, resource, sys, time
from analysis.load import load_calls
path, mapping, plain = sys.argv[1], (sys.argv[2] or None), sys.argv[3] == "1"
t = time.perf_counter()
if plain:
    import pandas as pd
    n = len(pd.read_csv(path, engine="pyarrow", dtype=str))
    valid = n
else:
    res = load_calls(path, mapping)
    n, valid = res.rows_read, len(res.valid)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": n, "valid": valid, "seconds": dt, "rss_mb": rss}))
"""


def _make_csv(path: Path, rows: int, tmp: Path) -> None:
    import numpy as np
    import pandas as pd

    synth_dir = tmp / "synth"
    if not (synth_dir / "calls.parquet").exists():
        subprocess.run([sys.executable, "-m", "analysis", "synth", "--out", str(synth_dir),
                        "--quiet"], check=True)
    base = pd.read_parquet(synth_dir / "calls.parquet")
    reps = -(-rows // len(base))
    big = pd.concat([base] * reps, ignore_index=True).iloc[:rows].copy()
    big["call_id"] = np.arange(rows).astype(str)
    big.to_csv(path, index=False)


def _child(path: Path, mapping: str = "", plain: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mapping, "1" if plain else "0"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    from analysis.config import SHARED_DATA_DIR

    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref = tmp / "ref.csv"
        _make_csv(ref, 100_000, tmp)
        runs = [("reference 100k CSV", ref, "", False)]
        if not quick:
            big = tmp / "big.csv"
            _make_csv(big, 1_000_000, tmp)
            runs += [("1M CSV", big, "", False), ("1M CSV, plain pandas read", big, "", True)]
        bank = SHARED_DATA_DIR / "anonymous_bank_1999"
        if bank.is_dir():
            runs.append(("anonymous bank (318k, 9 x .gz)", bank, "anonymous-bank", False))
        for label, path, mapping, plain in runs:
            t = time.perf_counter()
            r = _child(path, mapping, plain)
            r["wall"] = time.perf_counter() - t
            r["label"] = label
            r["rate"] = r["rows"] / r["seconds"]
            rows.append(r)
            print(f"{label:<34} {r['rows']:>9,d} rows {r['seconds']:7.2f} s "
                  f"{r['rate']:>10,.0f} rows/s  peak {r['rss_mb']:6.0f} MB", flush=True)
    ref_rate = rows[0]["rate"]
    lines = [
        "# Loader benchmark (`benchmarks/bench_load.py`)",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| run | rows | valid | seconds | rows/s | vs reference | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['rows']:,} | {r['valid']:,} | {r['seconds']:.2f} | "
                     f"{r['rate']:,.0f} | {r['rate'] / ref_rate:.2f} | {r['rss_mb']:.0f} |")
    verdicts = []
    big = next((r for r in rows if r["label"] == "1M CSV"), None)
    if big:
        ok = big["rate"] >= 0.5 * ref_rate
        verdicts.append(f"- 1M throughput / reference = {big['rate'] / ref_rate:.2f} "
                        f"(target >= 0.5): {'PASS' if ok else 'FAIL'}")
    lines += ["", *verdicts, ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(verdicts))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
