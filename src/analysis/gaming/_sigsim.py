"""A small, fast simulator of contract-shaped calls for the gaming-signature tests.

Honest agents differ by skill (talk, after-call work, hold), tenure, queue mix,
natural short-call and transfer rates, survey response rate, idle time between
calls and late-day fatigue, so a check whose null ignores that spread fails its
calibration test here. Gaming is planted per agent through ``effects``:

``acw``       multiplier on after-call work (1.3 = 30 % padding)
``hold``      multiplier on hold time
``transfer``  multiplier on the transfer rate; ``transfer_talk`` multiplier on the
              talk time before a transfer (0.5 = transfers after half the usual talk)
``eod``       multiplier on talk time in the last hour of the shift; ``eod_gap``
              multiplier on the idle gap before calls in that hour
``hangup``    share of calls hung up early (short, unresolved, often repeated)
``survey``    share of bad (short or unresolved) calls kept out of the survey
``onset``     first day (0-based) on which the agent's ``acw``, ``hold`` and ``transfer``
              multipliers apply (default 0: from the first day); before it the agent
              is honest (padding that starts when a new target is announced)

This is test scaffolding, not a model of any real center (see
:mod:`analysis.synth` for the project's synthetic center).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ..contract import call_column_names
from ._base import GamingContext

__all__ = ["simulate_calls", "make_context", "null_worlds", "null_pvalues", "rejection_summary",
           "simulate_ratings"]


def simulate_calls(
    *,
    n_agents: int = 40,
    days: int = 20,
    queues: int = 3,
    effects: dict[str, dict[str, float]] | None = None,
    seed: int = 1,
    start: str = "2026-01-05",
    customers: bool = True,
    short_s: float = 20.0,
    heterogeneity: float = 1.0,
    shift_hours: float = 6.0,
    tr_lognormal: bool = False,
    messy: bool = False,
    habit_tail: float = 0.0,
) -> pd.DataFrame:
    """Simulate handled (and a few abandoned) calls; agents are ``A000``, ``A001``, ...

    ``messy=True`` breaks the checks' assumptions the way real centers do:
    heavy-tailed agent propensities (Student t, 3 df) *shared* across queues and
    across short calls, transfers, after-call work and hold; agent-day random
    effects on every rate and duration; a 12% center-wide drift of talk, hold
    and after-call work over the window; a weekday cycle; and new hires whose
    after-call work falls from +40% to +0% over the window (a learning curve).

    ``habit_tail`` (default 0) multiplies every agent's after-call work and hold by
    a further ``exp(habit_tail T / sqrt 3)``, ``T`` Student t3, one draw per agent
    and metric: honest habits with a heavy tail (a few agents who wrap up or hold
    two or three times as long as their peers), drawn from a stream of their own
    so that the rest of the world is the same as without it.

    Returns
    -------
    DataFrame with the contract's call columns (``call_id`` ... ``complaint``).
    """
    rng = np.random.default_rng(seed)
    effects = effects or {}
    h = heterogeneity
    agents = [f"A{i:03d}" for i in range(n_agents)]
    # queue characteristics
    q_talk = 200 * np.exp(rng.normal(0, 0.3, queues))
    q_acw = 40 * np.exp(rng.normal(0, 0.3, queues))
    q_hold = 25 * np.exp(rng.normal(0, 0.3, queues))
    q_tr = np.clip(0.08 * np.exp(rng.normal(0, 0.3, queues)), 0.01, 0.3)
    # agents
    new = rng.random(n_agents) < 0.25
    a_talk = np.exp(rng.normal(0, 0.20 * h, n_agents)) * np.where(new, 1.15, 1.0)
    a_acw = np.exp(rng.normal(0, 0.30 * h, n_agents)) * np.where(new, 1.25, 1.0)
    a_hold = np.exp(rng.normal(0, 0.30 * h, n_agents))
    # natural transfer rate per agent x queue: beta around the queue's rate (as in
    # analysis.synth); tr_lognormal=True uses a heavier-tailed log-normal spread instead
    kappa = 80.0 / max(h, 1e-6) ** 2
    if tr_lognormal:
        p_tr = np.clip(q_tr[None, :] * np.exp(rng.normal(0, 0.35 * h, (n_agents, 1))), 0, 0.9)
    else:
        p_tr = rng.beta(q_tr[None, :] * kappa, (1 - q_tr[None, :]) * kappa, (n_agents, queues))
    a_trtalk = np.exp(rng.normal(0, 0.15 * h, n_agents))
    a_short = rng.beta(3, 97, n_agents) if h > 0 else np.full(n_agents, 0.03)
    a_resp = np.clip(rng.beta(6, 14, n_agents), 0.05, 0.9) if h > 0 else np.full(n_agents, 0.3)
    a_res = np.clip(rng.beta(16, 4, n_agents), 0.3, 0.99) if h > 0 else np.full(n_agents, 0.8)
    a_badresp = np.exp(rng.normal(np.log(0.8), 0.25 * h, n_agents))  # honest bad-call coverage
    a_repshort = np.exp(rng.normal(0.0, 0.25 * h, n_agents))  # honest repeat after short
    a_gap = 45 * np.exp(rng.normal(0, 0.3 * h, n_agents))
    a_fat = rng.normal(0.04, 0.04 * h, n_agents)  # honest late-shift slowdown of talk
    a_fgap = rng.normal(0.05, 0.05 * h, n_agents)  # honest late-shift extra idle
    a_shift = rng.choice([7.0, 10.0, 13.0], n_agents)
    prim = rng.integers(0, queues, n_agents)
    sec = (prim + 1 + rng.integers(0, max(queues - 1, 1), n_agents)) % max(queues, 1)
    p_sec = np.where(rng.random(n_agents) < 0.3, 0.3, 0.0)
    if messy:
        # one heavy-tailed latent per agent, shared by queues and by several behaviours
        zt = rng.standard_t(3, n_agents) / np.sqrt(3.0)
        a_short = 1 / (1 + np.exp(-(np.log(0.03 / 0.97) + 0.5 * h * zt
                                    + rng.normal(0, 0.2 * h, n_agents))))
        p_tr = np.clip(q_tr[None, :] * np.exp(0.35 * h * zt[:, None]
                                             + rng.normal(0, 0.1 * h, (n_agents, 1))), 0, 0.9)
        a_acw = a_acw * np.exp(0.15 * h * zt)
        a_hold = a_hold * np.exp(0.15 * h * zt)
        a_repshort = a_repshort * np.exp(0.15 * h * zt)

    if habit_tail:
        hr = np.random.default_rng([seed, 7])
        a_acw = a_acw * np.exp(habit_tail * hr.standard_t(3, n_agents) / np.sqrt(3.0))
        a_hold = a_hold * np.exp(habit_tail * hr.standard_t(3, n_agents) / np.sqrt(3.0))

    eff = {k: np.ones(n_agents) for k in ("acw", "hold", "transfer", "transfer_talk", "eod", "eod_gap")}
    eff["hangup"] = np.zeros(n_agents)
    eff["survey"] = np.zeros(n_agents)
    eff["onset"] = np.zeros(n_agents)
    for aid, e in effects.items():
        i = agents.index(aid)
        for key, val in e.items():
            eff[key][i] = val

    slots = int(shift_hours * 3600 / 120) + 10
    ai = np.repeat(np.arange(n_agents), days)  # agent of each agent-day
    di = np.tile(np.arange(days), n_agents)
    ad = ai.size
    shape = (ad, slots)
    a2 = np.repeat(ai[:, None], slots, axis=1)
    # per agent-day multipliers of the effects that may start mid-window (``onset``)
    on = (di >= eff["onset"][ai])[:, None]
    e_acw = np.where(on, eff["acw"][ai][:, None], 1.0)
    e_hold = np.where(on, eff["hold"][ai][:, None], 1.0)
    e_tr = np.where(on, eff["transfer"][ai][:, None], 1.0)
    q = np.where(rng.random(shape) < p_sec[a2], sec[a2], prim[a2])
    if messy:
        # agent-day effects, center-wide drift, weekday cycle, learning curve (per agent-day)
        frac = di / max(days - 1, 1)
        wk = 1.0 + 0.06 * np.sin(2 * np.pi * di / 7.0)
        drift = (1.0 + 0.12 * frac) * wk
        learn = np.where(new[ai], (1.0 + 0.4 * (1 - frac)) / 1.25, 1.0)
        d_short = np.exp(rng.normal(0, 0.35, ad) + 0.15 * np.cos(2 * np.pi * di / 7.0))[:, None]
        d_tr = np.exp(rng.normal(0, 0.25, ad))[:, None]
        d_dur = (drift * np.exp(rng.normal(0, 0.12, ad)))[:, None]
        d_acw = (d_dur[:, 0] * learn * np.exp(rng.normal(0, 0.15, ad)))[:, None]
    else:
        d_short = d_tr = d_dur = d_acw = np.ones((ad, 1))
    short = rng.random(shape) < np.clip(a_short[a2] * d_short, 0, 0.9)
    hang = rng.random(shape) < eff["hangup"][a2]
    tr = (~short) & (~hang) & (
        rng.random(shape) < np.clip(p_tr[a2, q] * e_tr * d_tr, 0, 0.9))
    talk = q_talk[q] * a_talk[a2] * d_dur * np.exp(rng.normal(0, 0.6, shape))
    talk = np.where(tr, talk * 0.6 * a_trtalk[a2] * eff["transfer_talk"][a2], talk)
    talk = np.where(short | hang, rng.uniform(2, short_s - 1, shape), talk)
    acw = q_acw[q] * a_acw[a2] * e_acw * d_acw * np.exp(rng.normal(0, 0.7, shape))
    acw = np.where(rng.random(shape) < 0.05, 0.0, acw)
    hold = np.where(
        rng.random(shape) < 0.35,
        q_hold[q] * a_hold[a2] * e_hold * d_dur * np.exp(rng.normal(0, 0.8, shape)),
        0.0,
    )
    gap = rng.exponential(1.0, shape) * a_gap[a2]
    shift_s = shift_hours * 3600
    # first pass: times without the late-shift effects, to find the last hour
    t0 = np.cumsum(gap + talk + hold + acw, axis=1) - (talk + hold + acw)
    late = t0 >= shift_s - 3600
    talk = np.where(late & ~short & ~hang, talk * (1 + a_fat[a2]) * eff["eod"][a2], talk)
    gap = np.where(late, gap * (1 + a_fgap[a2]) * eff["eod_gap"][a2], gap)
    t_ans = np.cumsum(gap + talk + hold + acw, axis=1) - (talk + hold + acw)
    keep = t_ans < shift_s
    # outcomes
    bad = short | hang
    resolved = np.where(bad, rng.random(shape) < 0.2, rng.random(shape) < a_res[a2])
    resolved = np.where(tr, False, resolved)
    resp_p = a_resp[a2] * np.where(bad | ~resolved, a_badresp[a2] * (1 - eff["survey"][a2]), 1.0)
    responded = rng.random(shape) < resp_p
    csat_mu = np.where(resolved, 4.2, 2.6) - np.where(bad, 0.6, 0.0)
    csat = np.clip(np.round(csat_mu + rng.normal(0, 0.8, shape)), 1, 5)
    csat = np.where(responded, csat, np.nan)
    ended = np.where(hang, "agent", np.where(rng.random(shape) < 0.8, "customer", "agent"))

    base = pd.Timestamp(start).to_datetime64().astype("datetime64[us]")
    day0 = base + (di.astype("timedelta64[D]")).astype("timedelta64[us]")
    start_s = a_shift[ai] * 3600
    ans = (
        day0[:, None]
        + ((start_s[:, None] + t_ans) * 1e6).astype("timedelta64[us]")
    )
    wait = (rng.exponential(30.0, shape) * 1e6).astype("timedelta64[us]")
    m = keep
    df = pd.DataFrame(
        {
            "queue": np.char.add("Q", q[m].astype(str)),
            "arrival_ts": (ans - wait)[m],
            "outcome": np.where(tr[m], "transferred", "answered"),
            "agent_id": np.array(agents)[a2[m]],
            "answer_ts": ans[m],
            "talk_s": np.round(talk[m], 1),
            "hold_s": np.round(hold[m], 1),
            "acw_s": np.round(acw[m], 1),
            "ended_by": ended[m],
            "resolved": resolved[m],
            "csat": csat[m],
            "qa_score": np.round(np.clip(rng.normal(80, 8, m.sum()), 0, 100), 0),
            "complaint": rng.random(m.sum()) < 0.01,
            "_repeat_p": np.where(
                hang[m], 0.6, np.where(short[m], np.clip(0.25 * a_repshort[a2[m]], 0, 0.9), np.where(resolved[m], 0.08, 0.3))
            ),
        }
    )
    # a few abandoned calls (no agent)
    n_ab = max(len(df) // 50, 1)
    ab = df.sample(n_ab, random_state=seed).assign(
        outcome="abandoned", agent_id=None, answer_ts=pd.NaT, talk_s=np.nan, hold_s=np.nan,
        acw_s=np.nan, ended_by="customer", resolved=None, csat=np.nan, qa_score=np.nan,
        complaint=False, _repeat_p=0.5,
    )
    df = pd.concat([df, ab], ignore_index=True)
    df = df.sort_values("arrival_ts", kind="stable").reset_index(drop=True)
    df["call_id"] = [f"C{i:08d}" for i in range(len(df))]
    if customers:
        df["customer_id"] = _link_customers(df["arrival_ts"].to_numpy(), df["_repeat_p"].to_numpy(), rng)
    else:
        df["customer_id"] = None
    df = df.drop(columns="_repeat_p")
    for c in ("talk_s", "hold_s", "acw_s", "csat", "qa_score"):
        df[c] = df[c].astype(float)
    df["resolved"] = df["resolved"].astype("boolean")
    df["complaint"] = df["complaint"].astype("boolean")
    return df[call_column_names()]


def _link_customers(t: np.ndarray, p_rep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Customer ids: call ``i`` is followed by a call of the same customer 1-60 h later w.p. ``p_rep``."""
    n = t.size
    ts = t.astype("datetime64[s]").astype(np.int64)
    cust = np.full(n, -1, np.int64)
    free = np.arange(n + 1)  # free[j]: the first untaken index >= j (path-compressed)

    def find(j: int) -> int:
        root = j
        while free[root] != root:
            root = free[root]
        while free[j] != root:
            free[j], j = root, free[j]
        return root

    nxt = 0
    want = rng.random(n) < p_rep
    delay = rng.uniform(3600, 60 * 3600, n).astype(np.int64)
    targets = np.searchsorted(ts, ts + delay)
    for i in range(n):
        if cust[i] < 0:
            cust[i] = nxt
            nxt += 1
        if want[i]:
            j = find(int(targets[i]))
            if j < n and ts[j] - ts[i] <= 72 * 3600 and cust[j] < 0:
                cust[j] = cust[i]
                free[j] = j + 1
    return np.char.add("U", cust.astype(str))


def make_context(
    calls: pd.DataFrame,
    *,
    options: dict | None = None,
    ratings: pd.DataFrame | None = None,
    okr: dict | None = None,
    drop: tuple[str, ...] = (),
) -> GamingContext:
    """A :class:`GamingContext` over an in-memory DuckDB view ``calls``.

    ``drop`` lists columns to blank out (as if the source lacked them).
    """
    df = calls.copy()
    for c in drop:
        df[c] = None if df[c].dtype == object or str(df[c].dtype) in ("string", "str") else np.nan
    con = duckdb.connect()
    con.register("calls_df", df)
    con.execute("CREATE VIEW calls AS SELECT * FROM calls_df")
    cols = frozenset(c for c in df.columns if df[c].notna().any())
    opts = {"period": "month", "alpha": 0.05, "short_call_s": 20.0, "seed": 7}
    opts.update(options or {})
    return GamingContext(con=con, columns=cols, options=opts, ratings=ratings, okr=okr)


_WORLDS: dict[tuple, list[pd.DataFrame]] = {}


def null_worlds(
    n: int = 20, *, n_agents: int = 80, days: int = 20, seed0: int = 500
) -> list[pd.DataFrame]:
    """``n`` simulated centers without gaming (cached per arguments, for tests)."""
    key = (n, n_agents, days, seed0)
    if key not in _WORLDS:
        _WORLDS[key] = [
            simulate_calls(n_agents=n_agents, days=days, seed=seed0 + i) for i in range(n)
        ]
    return _WORLDS[key]


def null_pvalues(check: str, *, n: int = 20, **kw) -> list[np.ndarray]:
    """Per null world, the p-values of registered check ``check`` (for calibration tests)."""
    from ._base import CHECKS

    fn = CHECKS.get(check)
    return [
        fn(make_context(df, options={"seed": i})).flags["p_value"].to_numpy(float)
        for i, df in enumerate(null_worlds(n, **kw))
    ]


def rejection_summary(pvals: list[np.ndarray], alphas=(0.01, 0.05, 0.1)) -> pd.DataFrame:
    """Rejection rate at each alpha with a world-clustered standard error.

    Returns
    -------
    DataFrame ``alpha, rate, se, n`` (``se`` is the larger of the binomial SE
    and the SE from the spread of per-world rates).
    """
    allp = np.concatenate(pvals)
    rows = []
    for a in alphas:
        rate = float(np.mean(allp <= a))
        per = np.array([np.mean(p <= a) for p in pvals if len(p)])
        se_b = np.sqrt(a * (1 - a) / allp.size)
        se_w = per.std(ddof=1) / np.sqrt(len(per)) if len(per) > 1 else se_b
        rows.append(dict(alpha=a, rate=rate, se=max(se_b, se_w), n=allp.size))
    return pd.DataFrame(rows)


def simulate_ratings(
    *,
    n_agents: int = 60,
    team_size: int = 10,
    months: int = 3,
    competencies: int = 5,
    pairs: dict[tuple[str, str], float] | None = None,
    seed: int = 1,
) -> pd.DataFrame:
    """360 peer ratings: ``3.2 + 0.5 skill + leniency(rater) + halo(rater, ratee) + noise``.

    Each month every agent is rated by 3-6 teammates (a planted pair always
    rate each other, adding ``pairs[(a, b)]`` points both ways); scores are
    rounded and clipped to 1-5. Also self and supervisor rows (ignored by the
    reciprocity check).
    """
    rng = np.random.default_rng(seed)
    pairs = pairs or {}
    ids = [f"A{i:03d}" for i in range(n_agents)]
    team = np.arange(n_agents) // team_size
    skill = rng.normal(0, 1, (n_agents, competencies))
    len_ = rng.normal(0, 0.3, n_agents)
    halo = rng.normal(0, 0.3, (n_agents, n_agents))
    bonus = np.zeros((n_agents, n_agents))
    partner: dict[int, set[int]] = {}
    for (a, b), s in pairs.items():
        ia, ib = ids.index(a), ids.index(b)
        bonus[ia, ib] = bonus[ib, ia] = s
        partner.setdefault(ia, set()).add(ib)
        partner.setdefault(ib, set()).add(ia)
    rows = []
    for m in range(months):
        per = f"2026-{m + 1:02d}"
        for e in range(n_agents):
            mates = np.nonzero((team == team[e]) & (np.arange(n_agents) != e))[0]
            k = min(len(mates), int(rng.integers(3, 7)))
            raters = set(rng.choice(mates, size=k, replace=False).tolist())
            raters |= partner.get(e, set())
            for r in sorted(raters):
                lat = 3.2 + 0.5 * skill[e] + len_[r] + halo[r, e] + bonus[r, e]
                lat = lat + rng.normal(0, 0.45, competencies)
                for c in range(competencies):
                    rows.append((per, ids[e], ids[r], "peer", f"c{c}",
                                 float(np.clip(np.rint(lat[c]), 1, 5))))
            rows.append((per, ids[e], ids[e], "self", "c0", 4.0))
            rows.append((per, ids[e], f"S{team[e]:02d}", "supervisor", "c0", 3.0))
    return pd.DataFrame(rows, columns=["period", "ratee_id", "rater_id", "rater_group",
                                       "competency", "score"])
