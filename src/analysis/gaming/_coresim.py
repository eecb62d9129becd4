"""A small, fast call simulator for the core gaming checks' tests and benchmark.

Honest agents differ in skill (talk-time level), tenure (new hires talk
longer, and drift over their first months), queue mix and their *natural*
short-call rate (wrong numbers, callers who drop at once); a chosen set of
agents games in chosen months by hanging up on a share of their calls, or by
wrapping calls up just under a handle-time target (bunching).
``analysis.synth`` is the full generator; this one exists so that calibration
studies can draw hundreds of worlds in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_calls", "simulate_counts"]


def simulate_counts(
    rng: np.random.Generator,
    *,
    n_agents: int = 40,
    n_queues: int = 3,
    months: int = 4,
    calls: tuple[int, int] = (300, 1500),
    base_rate: float = 0.04,
    agent_sd: float = 0.45,
    tenure_drift: float = 0.15,
    hangup: dict | None = None,
) -> pd.DataFrame:
    """Short-call counts per agent x period x queue (no call rows; for fast studies).

    Parameters
    ----------
    agent_sd
        SD of agents' natural log-odds of a short call (honest heterogeneity).
    tenure_drift
        SD of each agent's honest monthly drift in log-odds (learning).
    hangup
        ``{agent index: (share of calls hung up, first month)}``.

    Returns
    -------
    DataFrame ``agent_id, period, queue, n, k, gamer``.
    """
    hangup = hangup or {}
    q_logit = np.log(base_rate / (1 - base_rate)) + rng.normal(0, 0.4, n_queues)
    a_eff = rng.normal(0, agent_sd, n_agents)
    drift = rng.normal(0, tenure_drift, n_agents)
    main = rng.integers(0, n_queues, n_agents)
    rows = []
    for i in range(n_agents):
        share = np.full(n_queues, 0.0)
        share[main[i]] = 1.0
        if rng.uniform() < 0.5:  # half the agents take other queues too
            share = 0.7 * share + 0.3 * rng.dirichlet(np.ones(n_queues))
        for m in range(months):
            n_tot = int(rng.integers(*calls))
            nq = rng.multinomial(n_tot, share)
            h, start = hangup.get(i, (0.0, months))
            for q in range(n_queues):
                if nq[q] == 0:
                    continue
                lo = q_logit[q] + a_eff[i] + drift[i] * m
                p = 1 / (1 + np.exp(-lo))
                if m >= start:
                    p = p + h * (1 - p)
                rows.append((f"A{i:03d}", f"2024-{m + 1:02d}", f"Q{q}", int(nq[q]),
                             int(rng.binomial(nq[q], p)), i in hangup))
    return pd.DataFrame(rows, columns=["agent_id", "period", "queue", "n", "k", "gamer"])


def simulate_calls(
    *,
    n_agents: int = 40,
    months: int = 3,
    calls_per_month: int = 400,
    queues: tuple[str, ...] = ("sales", "service", "tech"),
    hangup: dict | None = None,
    bunch: dict | None = None,
    target: float = 300.0,
    ended_by: bool = True,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract-shaped calls of an honest center, with optional planted gaming.

    Parameters
    ----------
    hangup
        ``{agent index: (share of calls hung up, first month index)}``: those
        calls get a talk time of 1-15 s and ``ended_by = agent``.
    bunch
        ``{agent index: share}``: of the agent's calls whose handle time would
        fall in ``[target, 1.3 target)``, this share is cut to just under the target.
    target
        Handle-time target (seconds) for ``bunch``.
    ended_by
        Include the ``ended_by`` column (else it is left out).

    Returns
    -------
    (calls, truth): the calls (contract columns) and one row per agent with
    ``agent_id, hangup, bunch, main_queue, tenure_months``.
    """
    rng = np.random.default_rng(seed)
    hangup = hangup or {}
    bunch = bunch or {}
    nq = len(queues)
    q_mu = np.log(rng.uniform(150, 260, nq))
    q_short = rng.uniform(0.02, 0.06, nq)
    skill = rng.normal(0, 0.18, n_agents)
    short_eff = rng.normal(0, 0.45, n_agents)
    tenure = rng.integers(0, 36, n_agents)
    main = rng.integers(0, nq, n_agents)
    frames = []
    for i in range(n_agents):
        share = np.zeros(nq)
        share[main[i]] = 1.0
        if rng.uniform() < 0.5:
            share = 0.7 * share + 0.3 * rng.dirichlet(np.ones(nq))
        for m in range(months):
            n = int(rng.poisson(calls_per_month))
            q = rng.choice(nq, size=n, p=share)
            ten = tenure[i] + m
            learn = 0.25 * np.exp(-ten / 4.0)  # new hires talk longer
            mu = q_mu[q] + skill[i] + learn
            talk = rng.lognormal(mu, 0.55)
            lo = np.log(q_short[q] / (1 - q_short[q])) + short_eff[i] - 0.3 * learn
            p_short = 1 / (1 + np.exp(-lo))
            nat = rng.uniform(size=n) < p_short
            talk[nat] = rng.uniform(0, 18, nat.sum())
            end = np.where(rng.uniform(size=n) < 0.6, "customer", "agent").astype(object)
            end[nat] = np.where(rng.uniform(size=nat.sum()) < 0.85, "customer", "agent")
            acw = rng.lognormal(np.log(25), 0.5, n)
            hold = np.where(rng.uniform(size=n) < 0.15, rng.exponential(40, n), 0.0)
            h, start = hangup.get(i, (0.0, months))
            if m >= start and h > 0:
                hung = rng.uniform(size=n) < h
                talk[hung] = rng.uniform(1, 15, hung.sum())
                end[hung] = "agent"
                acw[hung] = rng.uniform(2, 10, hung.sum())
                hold[hung] = 0.0
            if i in bunch:
                ht = talk + hold + acw
                zone = (ht >= target) & (ht < 1.3 * target) & (rng.uniform(size=n) < bunch[i])
                new_ht = rng.uniform(0.9 * target, target - 1e-6, zone.sum())
                talk[zone] = np.maximum(new_ht - hold[zone] - acw[zone], 1.0)
                acw[zone] = new_ht - hold[zone] - talk[zone]
                acw[zone] = np.maximum(acw[zone], 0.0)
            day = rng.integers(0, 28, n)
            sec = rng.integers(8 * 3600, 18 * 3600, n)
            arr = (pd.Timestamp(2024, 1 + m, 1)
                   + pd.to_timedelta(day, unit="D") + pd.to_timedelta(sec, unit="s"))
            wait = pd.to_timedelta(rng.exponential(20, n).round(), unit="s")
            frames.append(pd.DataFrame({
                "queue": np.asarray(queues, dtype=object)[q],
                "arrival_ts": arr,
                "outcome": "answered",
                "agent_id": f"A{i:03d}",
                "answer_ts": arr + wait,
                "talk_s": talk.round(1),
                "hold_s": hold.round(1),
                "acw_s": acw.round(1),
                "ended_by": end,
            }))
    calls = pd.concat(frames, ignore_index=True)
    # a few abandoned calls, as a real export has
    ab = calls.sample(frac=0.05, random_state=seed).copy()
    ab["outcome"] = "abandoned"
    ab[["agent_id", "answer_ts", "talk_s", "hold_s", "acw_s", "ended_by"]] = None
    calls = pd.concat([calls, ab], ignore_index=True)
    calls.insert(0, "call_id", [f"C{j:08d}" for j in range(len(calls))])
    if not ended_by:
        calls = calls.drop(columns="ended_by")
    truth = pd.DataFrame({
        "agent_id": [f"A{i:03d}" for i in range(n_agents)],
        "hangup": [hangup.get(i, (0.0, 0))[0] for i in range(n_agents)],
        "bunch": [bunch.get(i, 0.0) for i in range(n_agents)],
        "main_queue": np.asarray(queues, dtype=object)[main],
        "tenure_months": tenure,
    })
    return calls, truth
