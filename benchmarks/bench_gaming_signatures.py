"""Calibration and power of the gaming-signature checks (helper D2's checks).

Sections
--------
1. Size on null worlds: 20 simulated centers (80 heterogeneous honest agents,
   20 days; :func:`analysis.gaming._sigsim.simulate_calls`): rejection rate of
   the raw p-values at alpha 0.01 / 0.05 / 0.1 and a KS test of uniformity.
2. Power on the same simulator: 8 of 80 agents game at several strengths;
   recall = share of gaming agent-periods with p <= 0.05 (and with BH q <= 0.05
   within the check), false-positive rate among honest agents.
3. The project's synthetic center (:func:`analysis.synth.generate_center`, 60
   agents, 61 days, default strengths, 3 seeds, roster given): recall of each planted
   behaviour by its check, raw p <= 0.05 and BH q <= 0.05 across *all* of this
   module's checks.
4. Change points: a step in a daily rate (300 calls a day, over-dispersed):
   detection rate and location error by step size; false changes on null series.
5. Scaling: each check's run time on 10x more calls (ratio; aggregation is in
   DuckDB, so the ratio should stay well below 10).

Usage: ``python benchmarks/bench_gaming_signatures.py [--quick]``. Prints the
tables and writes ``benchmarks/results/gaming_signatures.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.gaming import CHECKS
from analysis.gaming._sigsim import (
    make_context,
    null_pvalues,
    rejection_summary,
    simulate_calls,
    simulate_ratings,
)
from analysis.gaming.changepoints import detect_changepoints

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gaming_signatures.md"
QUICK = "--quick" in sys.argv

CALL_CHECKS = ["acw_inflation", "hold_inflation", "transfer_dumping", "end_of_day_stretch",
               "repeat_after_short", "survey_selection"]
GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]
POWER = {
    "acw_inflation": ("acw", [1.3, 1.5, 2.0, 2.5, 3.0]),
    "hold_inflation": ("hold", [1.5, 2.0, 3.0, 4.0]),
    "transfer_dumping": ("transfer", [1.5, 2.0, 3.0]),
    "transfer_dumping ": ("transfer_talk", [0.8, 0.7, 0.5]),
    "end_of_day_stretch": ("eod", [1.1, 1.2, 1.4, 1.6]),
    "end_of_day_stretch ": ("eod_gap", [1.3, 1.5, 2.0]),
    "repeat_after_short": ("hangup", [0.02, 0.05, 0.1, 0.2]),
    "survey_selection": ("survey", [0.2, 0.3, 0.5, 0.7]),
}


def bh(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, float)
    m = p.size
    o = np.argsort(p)
    q = np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[o] = np.minimum(q, 1)
    return out


def md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                       for v in r) + " |")
    return "\n".join(lines)


def section_size() -> pd.DataFrame:
    rows = []
    n = 8 if QUICK else 20
    for name in CALL_CHECKS:
        pv = null_pvalues(name, n=n)
        tab = rejection_summary(pv)
        allp = np.concatenate(pv)
        rows.append({"check": name, "p-values": allp.size,
                     **{f"P(p<={a:g})": r for a, r in zip(tab["alpha"], tab["rate"], strict=True)},
                     "se at .05": float(tab["se"].iloc[1]),
                     "KS p": float(stats.kstest(allp, "uniform").pvalue)})
    # 360 pair p-values on null ratings
    ps = []
    from analysis.gaming.reciprocity_360 import reciprocity_pairs

    for s in range(n):
        ps.append(reciprocity_pairs(simulate_ratings(seed=s), n_perm=500,
                                    rng=np.random.default_rng(s))["p_value"].to_numpy())
    tab = rejection_summary(ps)
    allp = np.concatenate(ps)
    rows.append({"check": "reciprocity_360 (pairs)", "p-values": allp.size,
                 **{f"P(p<={a:g})": r for a, r in zip(tab["alpha"], tab["rate"], strict=True)},
                 "se at .05": float(tab["se"].iloc[1]),
                 "KS p": float(stats.kstest(allp, "uniform").pvalue)})
    return pd.DataFrame(rows)


def section_power() -> pd.DataFrame:
    rows = []
    worlds = 1 if QUICK else 2
    for label, (key, strengths) in POWER.items():
        name = label.strip()
        for s in strengths:
            rec, recq, fp = [], [], []
            for w in range(worlds):
                calls = simulate_calls(n_agents=80, days=20, seed=900 + w,
                                       customers=(name == "repeat_after_short"),
                                       effects={g: {key: s} for g in GAMERS})
                f = CHECKS.get(name)(make_context(calls)).flags
                f["q"] = bh(f["p_value"].to_numpy())
                g = f["agent_id"].isin(GAMERS)
                rec.append(f.loc[g, "p_value"].le(0.05).mean())
                recq.append(f.loc[g, "q"].le(0.05).mean())
                fp.append(f.loc[~g, "p_value"].le(0.05).mean())
            rows.append({"check": name, "planted": f"{key}={s:g}", "recall p<=.05": np.mean(rec),
                         "recall q<=.05": np.mean(recq), "honest p<=.05": np.mean(fp)})
    # reciprocity: pairs of strength s (points on a 1-5 scale)
    for s in [0.5, 1.0, 1.5, 2.0]:
        rec, fp = [], []
        for w in range(2 if QUICK else 4):
            pairs = {("A001", "A002"): s, ("A011", "A015"): s, ("A031", "A036"): s}
            gam = {a for pr in pairs for a in pr}
            ctx = make_context(simulate_calls(n_agents=5, days=1, seed=1, customers=False),
                               ratings=simulate_ratings(seed=300 + w, pairs=pairs),
                               options={"recip_n_perm": 1000})
            f = CHECKS.get("reciprocity_360")(ctx).flags
            g = f["agent_id"].isin(gam)
            rec.append(f.loc[g, "p_value"].le(0.05).mean())
            fp.append(f.loc[~g, "p_value"].le(0.05).mean())
        rows.append({"check": "reciprocity_360", "planted": f"pair +{s:g} points",
                     "recall p<=.05": np.mean(rec), "recall q<=.05": np.nan,
                     "honest p<=.05": np.mean(fp)})
    return pd.DataFrame(rows)


def section_synth() -> pd.DataFrame:
    from analysis.synth import generate_center

    behaviour_check = {
        "acw_padding": "acw_inflation",
        "transfer_dumping": "transfer_dumping",
        "end_of_day_stretch": "end_of_day_stretch",
        "sandbagging": "okr_sandbagging",
        "reciprocal": "reciprocity_360",
        "hangup": "repeat_after_short",
    }
    mine = [*CALL_CHECKS, "okr_sandbagging", "reciprocity_360"]
    acc: dict[str, list] = {b: [] for b in behaviour_check}
    seeds = [7] if QUICK else [7, 8, 9]
    for seed in seeds:
        c = generate_center(agents=60, days=61, seed=seed)
        ctx = make_context(c.calls, ratings=c.ratings, okr=c.okr)
        ctx.roster = c.roster  # hire dates: tenure adjustment of ACW / hold
        allf = pd.concat([CHECKS.get(n)(ctx).flags for n in mine], ignore_index=True)
        allf["q"] = bh(allf["p_value"].to_numpy())
        truth = c.truth.set_index("agent_id")["behaviour"]
        for b, chk in behaviour_check.items():
            ids = set(truth[truth == b].index)
            f = allf[(allf["check"] == chk) & allf["agent_id"].isin(ids)]
            if len(f):
                acc[b].append((f["p_value"].le(0.05).mean(), f["q"].le(0.05).mean(), len(f)))
            hon = allf[(allf["check"] == chk) & ~allf["agent_id"].isin(ids)]
            acc[b].append(("fp", hon["p_value"].le(0.05).mean(), hon["q"].le(0.05).mean()))
    rows = []
    for b, vals in acc.items():
        r = [v for v in vals if v[0] != "fp"]
        h = [v for v in vals if v[0] == "fp"]
        rows.append({"behaviour (default strength)": b, "check": behaviour_check[b],
                     "agent-periods": int(sum(v[2] for v in r)),
                     "recall p<=.05": float(np.mean([v[0] for v in r])) if r else np.nan,
                     "recall q<=.05 (all D2 checks)": float(np.mean([v[1] for v in r]))
                     if r else np.nan,
                     "honest p<=.05": float(np.mean([v[1] for v in h])),
                     "honest q<=.05": float(np.mean([v[2] for v in h]))})
    return pd.DataFrame(rows)


def _series(rng, days, rates, mean_n=300, overdisp=2000.0):
    n = rng.poisson(mean_n, days)
    r = np.asarray(rates)
    k = rng.binomial(n, rng.beta(r * overdisp, (1 - r) * overdisp))
    return pd.DataFrame({"date": pd.date_range("2026-01-01", periods=days), "k": k, "n": n})


def section_changepoints() -> pd.DataFrame:
    rows = []
    reps = 30 if QUICK else 100
    for step in [0.0, 0.005, 0.01, 0.02, 0.04]:
        found, err = 0, []
        for s in range(reps):
            rng = np.random.default_rng(10_000 + s)
            df = _series(rng, 120, [0.05] * 60 + [0.05 + step] * 60)
            res = detect_changepoints(df, max_changes=1, n_perm=499, max_perm=1999, seed=s)
            if len(res):
                found += 1
                err.append(abs((res["date"].iloc[0] - df["date"][60]).days))
        rows.append({"step (rate 0.05 ->)": f"+{step:g}", "series": reps,
                     "change found (alpha .05)": found / reps,
                     "median |date error| days": float(np.median(err)) if err else np.nan,
                     "within 3 days": float(np.mean(np.array(err) <= 3)) if err else np.nan})
    return pd.DataFrame(rows)


def section_scaling() -> pd.DataFrame:
    small = simulate_calls(n_agents=80, days=10, seed=1)
    big = simulate_calls(n_agents=800 if not QUICK else 400, days=10, seed=2)
    rows = []
    for name in [*CALL_CHECKS, "changepoints"]:
        t = []
        for df in (small, big):
            ctx = make_context(df)
            t0 = time.perf_counter()
            CHECKS.get(name)(ctx)
            t.append(time.perf_counter() - t0)
        rows.append({"check": name, "calls (small)": len(small), "s (small)": t[0],
                     "calls (big)": len(big), "s (big)": t[1], "time ratio": t[1] / t[0],
                     "calls ratio": len(big) / len(small)})
    return pd.DataFrame(rows)


def main() -> int:
    t0 = time.perf_counter()
    parts = [
        ("1. Size on null worlds (raw p-values)", section_size),
        ("2. Power on the test simulator (8 of 80 agents gaming)", section_power),
        ("3. The synthetic center (analysis.synth, default strengths)", section_synth),
        ("4. Change points in a daily rate (binary segmentation, permutation p)",
         section_changepoints),
        ("5. Scaling (10x calls)", section_scaling),
    ]
    out = ["# Gaming signatures: calibration and power", "",
           "Generated by `benchmarks/bench_gaming_signatures.py`"
           + (" --quick" if QUICK else "") + ". Recall counts agent-periods.", ""]
    for title, fn in parts:
        t1 = time.perf_counter()
        tab = fn()
        txt = md(tab)
        print(f"\n## {title}\n\n{txt}\n({time.perf_counter() - t1:.0f} s)", flush=True)
        out += [f"## {title}", "", txt, ""]
    out.append(f"Total run time {time.perf_counter() - t0:.0f} s.")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
