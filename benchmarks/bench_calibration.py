"""Calibration and power of the change points on clean and stressed (messy) worlds.

Sections
--------
1. Series level: the gate of :func:`analysis.gaming.changepoints.detect_steps`
   (best single step against a smooth trend + weekday null, parametric bootstrap)
   on simulated daily short-call series with a weekday cycle, over-dispersed days
   and a smooth drift of the log-odds (none, -25 %, -45 %): rejection rates at
   alpha .05, .01, .001, beside the permutation null of the old detector
   (``detect_changepoints``, days exchangeable).
2. Worlds: ``ccpm synth`` centers (60 agents, 61 days, no gaming), clean and
   ``--stress messy`` (agent-day effects, +12 % handle-time drift, short-call
   drift, learning curves, weekday cycle, heavy-tailed shared propensities):
   share of worlds with a center-level step, and share of honest experienced
   agents (behaviour honest / hard_queue) with an agent-level step, at p <= .05,
   .01, .001 (the check runs at alpha .05; rows with p above it are not listed,
   so lower alphas are read off the listed p-values).
3. Power: hang-ups (10 % of calls) starting on day 30 in 4 agents of a clean and
   a messy world: share of the gamers with a short-call step, date error, and
   share of 90 % intervals that cover the true start.

Usage: ``python benchmarks/bench_calibration.py [--quick]``. Prints the tables and
writes ``benchmarks/results/calibration.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.gaming._sigsim import make_context
from analysis.gaming.changepoints import (
    _global_scan_pvalue,
    _Model,
    check_changepoints,
    detect_changepoints,
    null_design,
)
from analysis.synth import generate_center

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "calibration.md"
QUICK = "--quick" in sys.argv
ALPHAS = (0.05, 0.01, 0.001)
DATES = pd.date_range("2026-01-05", periods=61)
DATES = DATES[DATES.day_of_week != 6]
_WD = np.array([0.15, 0.06, 0.0, -0.03, -0.06, -0.15, 0.0])


def _series(rng, drift: float) -> pd.DataFrame:
    T = len(DATES)
    x = np.arange(T) / (T - 1)
    eta = (np.log(0.04 / 0.96) + _WD[DATES.day_of_week] + drift * 0.5 * (1 - np.cos(np.pi * x))
           + rng.normal(0, 0.05, T))
    n = rng.poisson(4000, T)
    return pd.DataFrame({"date": DATES, "k": rng.binomial(n, 1 / (1 + np.exp(-eta))), "n": n})


def section_series() -> pd.DataFrame:
    reps = 200 if QUICK else 1000
    rows = []
    for drift in (0.0, np.log(0.75), np.log(0.55)):
        rng = np.random.default_rng(int(1000 * abs(drift)) + 1)
        p_new, p_old = [], []
        for r in range(reps):
            df = _series(rng, drift)
            m = _Model("binom", df["k"].to_numpy(float), df["n"].to_numpy(float),
                       null_design(df["date"]))
            p_new.append(_global_scan_pvalue(m, min_seg=7, rng=rng, n_boot=999,
                                             max_boot=9_999)[2])
            if r < reps // 4:
                old = detect_changepoints(df, alpha=1.0, max_changes=1, n_perm=999,
                                          max_perm=999, seed=r)
                p_old.append(float(old["p_value"].iloc[0]))
        p_new, p_old = np.array(p_new), np.array(p_old)
        row = {"drift of the log-odds": f"{drift:+.2f}", "series": reps}
        for a in ALPHAS:
            row[f"smooth null, p<={a:g}"] = float((p_new <= a).mean())
        for a in ALPHAS[:2]:
            row[f"permutation null, p<={a:g}"] = float((p_old <= a).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _world_stats(stress, seeds, gaming="none"):
    out = []
    for s in seeds:
        c = generate_center(agents=60, days=61, seed=s, gaming=gaming, stress=stress)
        t0 = time.perf_counter()
        res = check_changepoints(make_context(c.calls, options={"seed": s}))
        secs = time.perf_counter() - t0
        cp = res.changepoints
        truth = c.truth.set_index("agent_id")["behaviour"]
        out.append((c, cp, truth, secs))
    return out


def section_worlds() -> pd.DataFrame:
    n_worlds = 3 if QUICK else 8
    rows = []
    for label, stress in (("clean", None), ("messy", "messy")):
        worlds = _world_stats(stress, range(500, 500 + n_worlds))
        row = {"world": label, "worlds": n_worlds}
        n_hon = 0
        for a in ALPHAS:
            center = np.mean([((cp["level"] == "center") & (cp["p_value"] <= a)).any()
                              for _c, cp, _t, _s in worlds])
            row[f"worlds with a center step, p<={a:g}"] = float(center)
        for a in ALPHAS:
            hit = tot = 0
            for _c, cp, truth, _s in worlds:
                honest = set(truth[truth.isin(["honest", "hard_queue"])].index)
                ag = cp[(cp["level"] == "agent") & (cp["p_value"] <= a)]
                hit += len(set(ag["agent_id"]) & honest)
                tot += len(honest)
            n_hon = tot
            row[f"honest experienced agents with a step, p<={a:g}"] = hit / tot
        row["honest experienced agents"] = n_hon
        row["novices with a step (p<=.05)"] = float(np.mean([
            len(set(cp.loc[cp["level"] == "agent", "agent_id"])
                & set(t[t == "novice"].index)) / max((t == "novice").sum(), 1)
            for _c, cp, t, _s in worlds]))
        row["check seconds (median)"] = float(np.median([w[3] for w in worlds]))
        rows.append(row)
    return pd.DataFrame(rows)


def section_power() -> pd.DataFrame:
    n_worlds = 2 if QUICK else 4
    rows = []
    for label, stress in (("clean", None), ("messy", "messy")):
        found = covered = total = 0
        err = []
        worlds = _world_stats(stress, range(700, 700 + n_worlds), gaming="hangup=4@0.1:30-60")
        for c, cp, truth, _s in worlds:
            start = pd.Timestamp(c.start) + pd.Timedelta(days=30)
            gamers = set(truth[truth == "hangup"].index)
            total += len(gamers)
            rows_g = cp[(cp["level"] == "agent") & cp["agent_id"].isin(gamers)
                        & (cp["metric"] == "short_call_rate")]
            for aid in gamers:
                r = rows_g[rows_g["agent_id"] == aid]
                if r.empty:
                    continue
                found += 1
                r = r.iloc[(r["date"] - start).abs().argmin()]
                err.append(abs((r["date"] - start).days))
                covered += bool(r["date_lo"] <= start <= r["date_hi"])
        rows.append({"world": label, "gamers": total, "step found": found / total,
                     "median |date error| (days)": float(np.median(err)) if err else np.nan,
                     "90% interval covers the start": covered / max(found, 1)})
    return pd.DataFrame(rows)


def main() -> int:
    t0 = time.perf_counter()
    parts = [
        ("1. Series: gate of detect_steps vs the permutation null (null series)",
         section_series),
        ("2. Null worlds, clean vs messy: center and agent-level steps", section_worlds),
        ("3. Power: hang-ups from day 30 in 4 of 60 agents", section_power),
    ]
    out = ["# Change points: calibration on clean and messy worlds", "",
           f"Generated by `benchmarks/bench_calibration.py{' --quick' if QUICK else ''}`.", ""]
    for title, fn in parts:
        tab = fn()
        print(f"\n{title}\n{tab.to_string(index=False)}", flush=True)
        out += [f"## {title}", "", tab.to_markdown(index=False, floatfmt=".4g"), ""]
    out.append(f"Total run time: {time.perf_counter() - t0:.0f} s.")
    RESULTS.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
