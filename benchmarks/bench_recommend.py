"""Calibration of the recommendation's "cannot tell apart" verdict (analysis.recommend).

Null world: two models whose agent scores are independent draws from the same
distribution (30 agents x 3 periods, an outcome unrelated to both). The share of
replicates in which the pair is reported *distinguishable* should be about 1 - ci.
Prints a table and writes benchmarks/results/recommend.md.

    .venv/bin/python benchmarks/bench_recommend.py [n_rep]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.compare import Comparison
from analysis.models import ModelResult
from analysis.models.config import load_model_config
from analysis.recommend import recommend


def world(rng, n_agents=30, periods=("2026-01", "2026-02", "2026-03")):
    rows = [{"agent_id": f"a{i:02d}", "period": p, "calls": 100,
             "resolved_rate": 0.7 + rng.normal(0, 0.05), "main_queue": "q1" if i % 2 else "q2"}
            for p in periods for i in range(n_agents)]
    panel = pd.DataFrame(rows)
    k = len(periods)
    cfg = load_model_config(override={"compare": {"outcomes": {"resolved_rate": "higher"},
                                                  "fairness_by": ["main_queue"]}})
    parts, results = [], {}
    for m in ("A", "B"):
        sc = np.tile(rng.normal(size=n_agents), k) + rng.normal(0, 1, len(panel))
        s = panel[["agent_id", "period"]].assign(score=sc)
        s["rank"] = s.groupby("period")["score"].rank(ascending=False, method="min")
        parts.append(s.assign(model=m))
        results[m] = ModelResult(m, s, pd.DataFrame())
    scores = pd.concat(parts, ignore_index=True)
    return Comparison(scores=scores, agreement=pd.DataFrame(), summary={"config": cfg},
                      results=results, panel=panel)


def main(n_rep: int = 100) -> None:
    t0 = time.perf_counter()
    levels = (0.80, 0.90, 0.95)
    hits = dict.fromkeys(levels, 0)
    for r in range(n_rep):
        comp = world(np.random.default_rng(r))
        for ci in levels:
            rec = recommend(comp, n_boot=200, ci=ci, seed=r)
            hits[ci] += bool(rec.pairwise["distinguishable"].iloc[0])
    rows = []
    for ci in levels:
        rate = hits[ci] / n_rep
        se = np.sqrt((1 - ci) * ci / n_rep)
        rows.append(f"| {ci:.2f} | {1 - ci:.3f} | {rate:.3f} | {se:.3f} |")
    table = "\n".join(["| interval | expected share distinguishable | observed | binomial SE |",
                       "|---|---|---|---|", *rows])
    text = (f"# Recommendation: null calibration of 'distinguishable'\n\n"
            f"{n_rep} null worlds (two exchangeable random models, 30 agents x 3 periods, "
            f"200 bootstrap replicates each); {time.perf_counter() - t0:.0f} s.\n\n{table}\n")
    print(text)
    out = Path(__file__).parent / "results" / "recommend.md"
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
