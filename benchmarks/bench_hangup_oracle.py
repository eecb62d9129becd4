"""How well can hang-up agents be told from honest ones at all on short worlds? (issue #13)

Writes ``benchmarks/results/hangup_oracle.md``. Run:
``.venv/bin/python benchmarks/bench_hangup_oracle.py [--worlds 10] [--days 20] [--cache DIR]``.

Worlds: those of ``bench_gaming_calibration.py``'s short rows (``_sigsim.simulate_calls``,
``messy=True``, 200 agents, ``ended_by`` blanked; gamed seeds 600+, null seeds 300+; four
agents hang up 5% of their calls, sixteen others game other metrics and are left out here).

Upper bounds, each at a threshold set with hindsight at the honest agents' 98th centile
(2% honest flagged, no multiple-testing correction) and at their 99.75th (about where
Benjamini-Hochberg at .05 over 200 agents with ~20 gamers starts rejecting):

1. *Infinite data*: the agents' true propensities (the simulator's agent-level draws,
   replayed with the same seed): natural short-call rate, and short calls followed by a
   repeat per call (natural short rate x repeat probability after a natural short call;
   a hang-up agent adds 5% x 0.6). Only heterogeneity between honest agents limits these.
2. *The 20 observed days*: per agent, statistics a check can compute without ``ended_by``
   (logits relative to the median of the agent's primary queue): short-call share,
   repeat share after short calls, short calls followed by a repeat per call, repeat
   share after other calls, unresolved short calls per call; an in-sample logistic
   regression on them (optimistic) and a gradient-boosted classifier trained on the
   other worlds (leave one world out).

If these bounds stay far below recall 0.9 at 2% honest, the target is about the
simulator's effect size (5% hang-ups against honest short-call rates that vary
heavy-tailed between agents), not about the tests.
"""

from __future__ import annotations

import argparse
import inspect
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.gaming import _sigsim
from analysis.gaming._context import panel_relation
from analysis.gaming._sigsim import make_context, simulate_calls

OUT = Path(__file__).resolve().parent / "results" / "hangup_oracle.md"
HANG = ["A000", "A001", "A002", "A003"]  # bench_gaming_calibration's hang-up agents
OTHER = [f"A{i:03d}" for i in range(4, 20)]  # its agents gaming other metrics


def _effects() -> dict:
    from bench_gaming_calibration import _effects as eff  # same planted agents

    return eff()[0]


def _latents(seed: int, n_agents: int) -> dict:
    """The simulator's agent-level draws for ``seed`` (replays the first lines of
    ``simulate_calls`` up to the per-agent effects; checked against the data below)."""
    src = textwrap.dedent(inspect.getsource(_sigsim.simulate_calls))
    body = src[src.index("rng = np.random.default_rng(seed)"):src.index("eff = {k:")]
    env = dict(np=np, seed=seed, n_agents=n_agents, queues=3, messy=True, effects={},
               heterogeneity=1.0, tr_lognormal=False)
    exec(textwrap.dedent(body.replace("\n    ", "\n")), env)  # noqa: S102 (own source)
    return {"a_short": env["a_short"], "a_repshort": env["a_repshort"]}


def _features(gamed: bool, i: int, a, cache: Path | None) -> pd.DataFrame:
    f = cache / f"oracle_{'g' if gamed else 'n'}{i}_{a.days}_{a.agents}.parquet" if cache else None
    if f is not None and f.exists():
        return pd.read_parquet(f)
    df = simulate_calls(n_agents=a.agents, days=a.days, seed=(600 if gamed else 300) + i,
                        messy=True, effects=_effects() if gamed else {})
    df["ended_by"] = None
    ctx = make_context(df)
    rel = panel_relation(ctx, where="customer_id IS NOT NULL")
    s = float(ctx.options["short_call_s"])
    out = ctx.con.execute(f"""
      SELECT CAST(agent_id AS VARCHAR) agent_id, CAST(queue AS VARCHAR) queue, count(*) n,
        count(*) FILTER (WHERE talk_s < {s}) k,
        count(*) FILTER (WHERE is_repeat IS NOT NULL) n_obs,
        count(*) FILTER (WHERE is_repeat IS NOT NULL AND talk_s < {s}) ns_obs,
        count(*) FILTER (WHERE is_repeat = 1 AND talk_s < {s}) ks_rep,
        count(*) FILTER (WHERE is_repeat = 1 AND talk_s >= {s}) ko_rep,
        count(*) FILTER (WHERE resolved_i = 0 AND talk_s < {s}) k_unres
      FROM ({rel}) c GROUP BY ALL ORDER BY agent_id, queue""").df()
    out["world"], out["gamed"] = i, gamed
    if f is not None:
        out.to_parquet(f)
    return out


def _recall(stat: np.ndarray, hang: np.ndarray, q: float) -> float:
    thr = np.quantile(stat[~hang], q)
    return float(np.mean(stat[hang] > thr))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", type=int, default=10)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--cache", help="directory for per-world parquet features")
    a = ap.parse_args()
    cache = Path(a.cache) if a.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    rows = []
    # 1. infinite data: true propensities
    hon, gam = [], []
    for gamed in (False, True):
        for i in range(a.worlds):
            lat = _latents((600 if gamed else 300) + i, a.agents)
            ds = np.exp(0.35 ** 2 / 2)  # mean of the messy agent-day factor on short calls
            sh = lat["a_short"] * ds
            e = sh * np.clip(0.25 * lat["a_repshort"], 0, 0.9)
            idx = np.arange(a.agents)
            h = (idx < 4) if gamed else np.zeros(a.agents, bool)
            keep = ~((idx >= 4) & (idx < 20)) if gamed else np.ones(a.agents, bool)
            for j in np.flatnonzero(keep):
                (gam if h[j] else hon).append((sh[j] + 0.05 * h[j], e[j] + 0.03 * h[j]))
    t = np.array(hon + gam)
    lab = np.r_[np.zeros(len(hon), bool), np.ones(len(gam), bool)]
    for j, nm in enumerate(["short-call rate", "short calls followed by a repeat, per call"]):
        rows.append(dict(data="true propensities (infinite data)", statistic=nm,
                         recall_at_2pct=_recall(t[:, j], lab, 0.98),
                         recall_at_0_25pct=_recall(t[:, j], lab, 0.9975)))
    # 2. observed days
    d = pd.concat([_features(g, i, a, cache) for g in (True, False) for i in range(a.worlds)])
    prim = (d.sort_values("n").groupby(["gamed", "world", "agent_id"]).tail(1)
            .set_index(["gamed", "world", "agent_id"])["queue"])
    ag = d.groupby(["gamed", "world", "agent_id"])[
        ["n", "k", "n_obs", "ns_obs", "ks_rep", "ko_rep", "k_unres"]].sum()
    ag["q"] = prim
    ix = ag.index.to_frame()
    ag = ag[~(ix["gamed"] & ix["agent_id"].isin(OTHER)).to_numpy()]
    ix = ag.index.to_frame()
    hang = (ix["gamed"] & ix["agent_id"].isin(HANG)).to_numpy()
    # the replay of the simulator's draws is the right one: it predicts the observed share
    lat_check = _latents(600, a.agents)["a_short"]
    obs = ag.xs((True, 0), level=("gamed", "world"))
    obs = obs.loc[~obs.index.isin(HANG + OTHER)]
    r = np.corrcoef(lat_check[[int(x[1:]) for x in obs.index]], obs["k"] / obs["n"])[0, 1]
    assert r > 0.8, f"replayed propensities do not match the simulated data (r = {r:.2f})"

    def lg(k, n):
        return np.log((k + 0.5) / (n - k + 0.5))

    feats = {
        "short-call share": lg(ag["k"], ag["n"]),
        "repeat share after short calls": lg(ag["ks_rep"], ag["ns_obs"]),
        "short calls followed by a repeat, per call": lg(ag["ks_rep"], ag["n_obs"]),
        "repeat share after other calls": lg(ag["ko_rep"], ag["n_obs"] - ag["ns_obs"]),
        "unresolved short calls, per call": lg(ag["k_unres"], ag["n"]),
    }
    X = []
    for nm, v in feats.items():
        v = v - v.groupby([ix["gamed"], ix["world"], ag["q"]]).transform("median")
        X.append(v.to_numpy())
        rows.append(dict(data=f"{a.days} observed days", statistic=nm + " (vs queue median)",
                         recall_at_2pct=_recall(v.to_numpy(), hang, 0.98),
                         recall_at_0_25pct=_recall(v.to_numpy(), hang, 0.9975)))
    X = np.column_stack(X + [np.log(ag["n"].to_numpy())])
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    s_in = LogisticRegression(C=100, max_iter=2000).fit(X, hang).decision_function(X)
    rows.append(dict(data=f"{a.days} observed days", statistic="logistic on all of them, "
                     "fitted in-sample (optimistic)", recall_at_2pct=_recall(s_in, hang, 0.98),
                     recall_at_0_25pct=_recall(s_in, hang, 0.9975)))
    w = ix["world"].to_numpy()
    s_cv = np.zeros(len(ag))
    for k in np.unique(w):
        te = w == k
        m = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                           class_weight="balanced", random_state=0)
        s_cv[te] = m.fit(X[~te], hang[~te]).decision_function(X[te])
    rows.append(dict(data=f"{a.days} observed days", statistic="gradient boosting on them, "
                     "trained on the other worlds", recall_at_2pct=_recall(s_cv, hang, 0.98),
                     recall_at_0_25pct=_recall(s_cv, hang, 0.9975)))
    tab = pd.DataFrame(rows).round(3)
    lines = ["# Hang-ups on short worlds: how far can any test get? (upper bounds)", "",
             f"{a.worlds} gamed + {a.worlds} null worlds, {a.days} days, messy, no ended_by, "
             f"{a.agents} agents; {int(hang.sum())} hang-up agent-worlds (5% of calls) against "
             f"{int((~hang).sum())} honest agent-worlds. Thresholds set with hindsight at the "
             "honest agents' 98th (2% flagged) and 99.75th centile "
             "(`benchmarks/bench_hangup_oracle.py`; module docstring).", "",
             tab.to_markdown(index=False), ""]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
