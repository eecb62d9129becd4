"""Null tail of the own-history hang-up checks at a center-wide change.

Run: ``.venv/bin/python benchmarks/bench_crackdown_null.py [--worlds 40] [--sd 0.4]``.
Worlds: :func:`analysis.gaming._coresim.simulate_calls` (60 honest agents, 3 months, 500
calls a month, no ``ended_by``); at the start of month 3 every agent's short calls fall
by their own factor ``0.3 exp(N(0, sd))`` (a telephony fix, a new script: an honest change
that agents feel differently). No agent games. Prints the rejection rate / nominal at .05,
.01 and .001 of ``short_calls_change`` and ``short_calls_trend`` (pooled over worlds):
the evidence behind ``analysis.gaming._agents.UNCAPPED`` (results in
``benchmarks/results/gaming_calibration.md``, 2026-12-06).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analysis.gaming import run_checks
from analysis.gaming._coresim import simulate_calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=40)
    ap.add_argument("--sd", type=float, default=0.4, help="log-SD of the agents' factors")
    a = ap.parse_args()
    t0, rows = time.time(), []
    for w in range(a.worlds):
        calls, _ = simulate_calls(n_agents=60, months=3, calls_per_month=500, seed=1000 + w,
                                  ended_by=False)
        calls = calls.copy()
        rng = np.random.default_rng(w)
        f = 0.3 * np.exp(rng.normal(0, a.sd, 60))
        fa = calls["agent_id"].astype(str).map(
            {f"A{i:03d}": f[i] for i in range(60)}).to_numpy(float)
        after = (calls["arrival_ts"] >= "2024-03-01").to_numpy()
        short = (calls["talk_s"] < 15.5).to_numpy()
        drop = after & short & (rng.random(len(calls)) > np.clip(fa, 0, 1))
        calls.loc[drop, "talk_s"] = rng.lognormal(5.3, 0.5, drop.sum())
        rep = run_checks(calls, checks=["short_calls_change", "short_calls_trend"],
                         options={"raise_errors": True, "seed": w})
        rows.append(rep.flags[rep.flags["level"] == "agent"])
        print(f"world {w} done ({time.time() - t0:.0f} s)", flush=True)
    d = pd.concat(rows)
    for check, g in d.groupby("check"):
        p = g["p_value"].to_numpy(float)
        ratio = [round(float(np.mean(p <= x)) / x, 2) for x in (0.05, 0.01, 0.001)]
        print(f"{check}: {p.size} p-values, rejection / nominal at .05 .01 .001: {ratio}; "
              f"smallest p {p.min():.2g}")


if __name__ == "__main__":
    main()
