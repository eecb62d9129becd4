"""Benchmark of the streaming loader: ``ccpm validate`` against DuckDB on the same CSV.

A contract-shaped CSV of ``--rows`` rows (default 3,000,000; built by DuckDB from a ``ccpm
synth`` center repeated, unique call ids) is

- turned into Parquet by DuckDB (``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT
  parquet)``): the reference, the least any loader must do (read, parse, write);
- validated by ``ccpm validate --calls big.csv --out DIR --quiet``: read, map, check
  every row, find duplicate ids, write valid.parquet + quarantine.csv + summary.csv.

The two run alternately (A B A B ...; ``--repeats``, default 2) as separate processes;
the wall time and peak RSS of each are the operating system's (``os.wait4``). Quoted:
the median of the per-pair ratios ccpm / DuckDB, and ccpm's largest peak RSS. Every
row must be accounted for (rows read = rows in the CSV = valid + quarantined).

Targets (issue 17): ratio <= 2, peak <= 1 GB at 3 M rows; with ``--big`` a 30 M-row CSV
(~3.4 GB, generated here; ~10-30 min) is validated once and its peak must stay <= 2 GB.
Also the Anonymous Bank set (318,286 rows, 9 gzipped files), when present.

Usage: ``python benchmarks/bench_load.py [--rows N] [--repeats K] [--quick] [--big]``
(``--quick``: 300,000 rows, one pair). Writes ``benchmarks/results/load.md``.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "load.md"
_TOTALS = re.compile(r"calls: (\d+) rows read = (\d+) valid \+ (\d+) quarantined")

DUCK = r"""
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute("COPY (SELECT * FROM read_csv(?)) TO '" + sys.argv[2].replace("'", "''")
            + "' (FORMAT parquet)", [sys.argv[1]])
"""


def _run_wait4(argv: list[str]) -> dict:
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed with exit {p.returncode}")
    return {"wall": wall, "rss_mb": ru.ru_maxrss / 1024, "cpu": ru.ru_utime + ru.ru_stime,
            "out": out}


def make_csv(path: Path, rows: int, tmp: Path) -> None:
    """A contract-shaped CSV of ``rows`` rows, written by DuckDB (never held in memory)."""
    import duckdb

    synth_dir = tmp / "synth"
    if not (synth_dir / "calls.parquet").exists():
        subprocess.run([sys.executable, "-m", "analysis", "synth", "--out", str(synth_dir),
                        "--quiet"], check=True, capture_output=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '1GB'")  # a shared machine: spill, never hog
    con.execute("SET preserve_insertion_order = false")
    base = str(synth_dir / "calls.parquet")
    n = con.execute("SELECT count(*) FROM read_parquet(?)", [base]).fetchone()[0]
    reps = -(-rows // n)
    cols = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [base]).fetchall()]
    # unique ids without a window over all rows: repetition * n + row of the synth file
    sel = ", ".join(f"CAST(r.range * {n} + c.file_row_number AS VARCHAR) AS call_id"
                    if col == "call_id" else f'c."{col}"' for col in cols)
    con.execute(
        f"""COPY (
            SELECT {sel} FROM range(?) r, read_parquet(?, file_row_number = true) c
            WHERE r.range * {n} + c.file_row_number < ?
        ) TO '{str(path).replace("'", "''")}' (HEADER, DELIMITER ',')""",
        [reps, base, rows])
    con.close()


def _make_csv_apart(path: Path, rows: int, tmp: Path) -> None:
    """:func:`make_csv` in a child process: this process must stay small, since a child's
    peak RSS as the OS reports it starts from its parent's at fork."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import bench_load as b; "
            "from pathlib import Path; b.make_csv(Path(sys.argv[2]), int(sys.argv[3]), "
            "Path(sys.argv[4]))")
    subprocess.run([sys.executable, "-c", code, str(HERE), str(path), str(rows), str(tmp)],
                   check=True)


def _validate(csv: Path, out: Path, mapping: str | None = None) -> dict:
    argv = [sys.executable, "-m", "analysis", "validate", "--calls", str(csv), "--out",
            str(out), "--quiet"] + (["--mapping", mapping] if mapping else [])
    r = _run_wait4(argv)
    m = _TOTALS.search(r["out"])
    if not m:
        raise SystemExit(f"no totals line in: {r['out'][:300]}")
    r["rows"], r["valid"], r["quarantined"] = map(int, m.groups())
    return r


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:  # not a run: a run rewrites results/load.md
        print(__doc__)
        return 0
    quick = "--quick" in argv
    big = "--big" in argv
    rows = 300_000 if quick else 3_000_000
    repeats = 1 if quick else 2
    for i, a in enumerate(argv):
        if a == "--rows":
            rows = int(argv[i + 1])
        if a == "--repeats":
            repeats = int(argv[i + 1])
    from analysis.config import SHARED_DATA_DIR  # light: no pandas / DuckDB in this process

    lines_runs = []
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="ccpm-bench-load-") as d:
        tmp = Path(d)
        csv = tmp / "calls.csv"
        t = time.perf_counter()
        _make_csv_apart(csv, rows, tmp)
        print(f"generated {rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        ratios, duck_runs, ccpm_runs = [], [], []
        for k in range(repeats):
            dk = _run_wait4([sys.executable, "-c", DUCK, str(csv), str(tmp / f"duck{k}.parquet")])
            ck = _validate(csv, tmp / f"out{k}")
            duck_runs.append(dk)
            ccpm_runs.append(ck)
            ratios.append(ck["wall"] / dk["wall"])
            print(f"pair {k + 1}: duckdb {dk['wall']:.1f} s ({dk['rss_mb']:.0f} MB), "
                  f"ccpm validate {ck['wall']:.1f} s ({ck['rss_mb']:.0f} MB), "
                  f"ratio {ratios[-1]:.2f}", flush=True)
            (tmp / f"duck{k}.parquet").unlink(missing_ok=True)
        ratio = statistics.median(ratios)
        peak = max(r["rss_mb"] for r in ccpm_runs)
        c0 = ccpm_runs[0]
        accounted = c0["rows"] == rows and c0["valid"] + c0["quarantined"] == rows
        lines_runs.append(("DuckDB CSV -> Parquet (reference)", rows, duck_runs, None))
        lines_runs.append(("ccpm validate (streaming loader)", rows, ccpm_runs, c0))
        verdicts += [
            f"- time ccpm / DuckDB at {rows:,} rows: median of {repeats} paired ratio(s) "
            f"{ratio:.2f} (target <= 2): {'PASS' if ratio <= 2 else 'FAIL'}",
            f"- peak RSS of ccpm validate at {rows:,} rows: {peak:.0f} MB "
            f"(target <= 1024 MB): {'PASS' if peak <= 1024 else 'FAIL'}",
            f"- every row accounted for: {c0['rows']:,} read = {c0['valid']:,} valid + "
            f"{c0['quarantined']:,} quarantined: {'PASS' if accounted else 'FAIL'}",
        ]
        csv.unlink()
        bank = SHARED_DATA_DIR / "anonymous_bank_1999"
        if bank.is_dir() and not quick:
            b = _validate(bank, tmp / "bank", "anonymous-bank")
            lines_runs.append(("ccpm validate, Anonymous Bank (9 x .gz)", b["rows"], [b], b))
            ok = (b["rows"], b["valid"], b["quarantined"]) == (318_286, 294_427, 23_859)
            verdicts.append(f"- Anonymous Bank: {b['rows']:,} = {b['valid']:,} + "
                            f"{b['quarantined']:,} (expected 318,286 = 294,427 + 23,859): "
                            f"{'PASS' if ok else 'FAIL'}")
        if big:
            n_big = 30_000_000
            big_csv = tmp / "big.csv"
            _make_csv_apart(big_csv, n_big, tmp)
            print(f"generated {n_big:,} rows ({big_csv.stat().st_size / 1e9:.1f} GB)", flush=True)
            b = _validate(big_csv, tmp / "big")
            lines_runs.append(("ccpm validate, 30 M rows", n_big, [b], b))
            verdicts.append(f"- peak RSS at 30 M rows: {b['rss_mb']:.0f} MB (target <= 2048 MB): "
                            f"{'PASS' if b['rss_mb'] <= 2048 else 'FAIL'}; {b['rows']:,} read = "
                            f"{b['valid']:,} valid + {b['quarantined']:,} quarantined")
    lines = [
        "# Loader benchmark (`benchmarks/bench_load.py`)",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Each run is its own process; "
        "wall time and peak RSS from the OS (wait4). Shared machine: quote the ratios.",
        "",
        "| run | rows | wall s (median) | CPU s (median) | peak RSS MB (max) | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, n, runs, _ in lines_runs:
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        lines.append(f"| {label} | {n:,} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {n / wall:,.0f} |")
    lines += ["", *verdicts, ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # the measured table is replaced; the dated notes below it (from its first
    # "## " heading on) are history written by hand, and kept
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    notes = old[old.index("\n## ") + 1:] if "\n## " in old else ""
    RESULTS.write_text("\n".join(lines) + ("\n" + notes if notes else ""), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
