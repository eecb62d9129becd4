"""Same outputs as before? ``ccpm validate`` of an older commit against this tree, same inputs.

The loader's speed work (issue 17) must not change a byte: for each input, this runs
``python -m analysis validate`` twice -- with the ``src/`` (and ``data/mappings/``) of
``--ref`` (default ``main``), extracted by ``git archive`` into a temporary folder and put
first on ``PYTHONPATH``, and with this working tree -- and compares ``valid.parquet``,
``quarantine.csv``, ``summary.csv`` byte for byte and the printed lines. Exit 1 when any
differs.

Usage::

    python benchmarks/compare_validate.py [--ref REV] -- CALLS [--mapping NAME] [-- CALLS ...]

e.g. ``-- /tmp/calls.csv -- data/external/anonymous_bank_1999 --mapping anonymous-bank``.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("valid.parquet", "quarantine.csv", "summary.csv")


def _run(args: list[str], out: Path, pythonpath: str | None) -> str:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    p = subprocess.run([sys.executable, "-m", "analysis", "validate", *args, "--out", str(out),
                        "--quiet"], capture_output=True, text=True, env=env, cwd=ROOT)
    return f"{p.stdout}{p.stderr}exit {p.returncode}\n"


def main(argv: list[str]) -> int:
    ref = "main"
    if argv[:1] == ["--ref"]:
        ref, argv = argv[1], argv[2:]
    cases: list[list[str]] = []
    for a in argv:
        if a == "--":
            cases.append([])
        elif cases:
            cases[-1].append(a)
    cases = [c for c in cases if c]
    if not cases:
        print(__doc__)
        return 2
    bad = 0
    with tempfile.TemporaryDirectory(prefix="ccpm-compare-") as d:
        tmp = Path(d)
        old = tmp / "old"
        old.mkdir()
        arch = subprocess.run(["git", "archive", ref, "src", "data/mappings"], cwd=ROOT,
                              capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=arch, check=True)
        for i, case in enumerate(cases):
            args = ["--calls", *case]
            a, b = tmp / f"{i}-old", tmp / f"{i}-new"
            out_a = _run(args, a, str(old / "src"))
            out_b = _run(args, b, None)
            diffs = [f for f in OUTPUTS if (a / f).exists() != (b / f).exists()
                     or ((a / f).exists() and not filecmp.cmp(a / f, b / f, shallow=False))]
            if out_a != out_b:
                diffs.append("printed lines")
            bad += bool(diffs)
            last = [ln for ln in out_b.splitlines() if "rows read" in ln or "error" in ln][-1:]
            print(f"{' '.join(case)}: {'DIFFERENT ' + ', '.join(diffs) if diffs else 'identical'}"
                  f" ({last[0] if last else out_b.strip()[-120:]})", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
