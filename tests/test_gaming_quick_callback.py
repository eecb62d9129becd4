"""quick_callback_after_short: calibration, power, pinned numbers, center rows."""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from analysis.gaming import run_checks
from analysis.gaming._agents import FACES, SIGNATURE_OF, agent_table
from analysis.gaming._base import CHECKS
from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.quick_callback_after_short import (
    check_quick_callback_after_short,
    quick_callback_table,
)
from analysis.gaming.repeat_after_short import repeat_counts

NAME = "quick_callback_after_short"


def _relink(calls: pd.DataFrame, *, seed: int, gamers=(), hang_share: float = 0.0,
            hang_callback: float = 0.5) -> pd.DataFrame:
    """Customers of a simulated world, drawn independently of :mod:`._sigsim`'s linking.

    Customers differ tenfold and more in how often they call again (gamma frailty, shape
    0.7), and agents differ in whose calls they take (customers first served in queue
    ``Q0`` call back three times as often). A call is followed by a call of the same
    customer 0.1-5 h later (a quick callback) with probability ``0.02 * frailty``, times
    the agent's own honest ratio for short calls (log-normal around 2, SD 0.4 on the log
    scale), and 1-60 h later with probability ``0.08 * frailty`` (a slow repeat).
    ``gamers`` hang up ``hang_share`` of their calls (talk 2-19 s), after which the
    customer calls back quickly with probability ``hang_callback``.
    """
    rng = np.random.default_rng(seed)
    df = calls.sort_values("arrival_ts", kind="stable").reset_index(drop=True).copy()
    handled = df["outcome"].ne("abandoned").to_numpy()
    codes, agents = pd.factorize(df["agent_id"])
    ratio = np.exp(rng.normal(np.log(2.0), 0.4, len(agents)))
    n = len(df)
    hang = np.zeros(n, dtype=bool)
    if gamers:
        g = df["agent_id"].isin(list(gamers)).to_numpy() & handled
        hang = g & (rng.random(n) < hang_share)
        df.loc[hang, "talk_s"] = rng.uniform(2, 19, hang.sum()).round(1)
    short = handled & (df["talk_s"].to_numpy() < 20)
    # per-call factor of the quick-callback probability (frailty comes with the customer)
    fac = np.where(short, ratio[np.maximum(codes, 0)], 1.0)
    ts = df["arrival_ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    new_frail = rng.gamma(0.7, 1 / 0.7, n) * np.where(df["queue"].eq("Q0").to_numpy(), 3.0, 1.0)
    u = rng.random(n)
    quick_d = rng.uniform(0.1, 5.0, n) * 3600
    slow_d = rng.uniform(7.0, 60.0, n) * 3600
    # the loop runs on Python lists (scalar numpy indexing is ~10x slower)
    pq_all = np.where(hang, hang_callback, 0.0).tolist()
    hang_l, fac_l, nf, ul = hang.tolist(), fac.tolist(), new_frail.tolist(), u.tolist()
    qt, st, tl = (ts + quick_d).tolist(), (ts + slow_d).tolist(), ts.tolist()
    cust = [-1] * n
    frail = [0.0] * n
    nxt = 0
    for i in range(n):
        if cust[i] < 0:
            cust[i] = nxt
            nxt += 1
            frail[i] = nf[i]
        f = frail[i]
        pq = pq_all[i] if hang_l[i] else 0.02 * f * fac_l[i]
        if ul[i] < min(pq, 0.95):
            target = qt[i]
        elif ul[i] < min(pq + 0.08 * f, 0.97):
            target = st[i]
        else:
            continue
        j = bisect.bisect_left(tl, target)
        while j < n and cust[j] >= 0:  # the next call not yet taken by a customer
            j += 1
        if j < n:
            cust[j], frail[j] = cust[i], f
    cust = np.asarray(cust, np.int64)
    out = df.copy()
    out["customer_id"] = np.char.add("U", cust.astype(str))
    return out


@pytest.fixture(scope="module")
def null_pvals():
    """Randomized p-values on 4 null worlds (250 agents, 24 days over 2 months, + all)."""
    ps = []
    for s in range(4):
        base = simulate_calls(n_agents=250, days=24, seed=900 + s, messy=True,
                              customers=False, start="2026-01-20")
        calls = _relink(base, seed=s)
        f = check_quick_callback_after_short(
            make_context(calls, options={"randomized": True, "seed": s})).flags
        ps.append(f)
    return pd.concat(ps, ignore_index=True)


def test_null_is_uniform_including_the_tail(null_pvals):
    """Customers who differ in how often they call, agents who differ in whose calls they
    take and in their honest ratio: the randomized p-values are uniform (KS) and their
    rejection rates at .05, .01 and .001 are within binomial limits."""
    per = null_pvals[null_pvals["period"] != "all"]["p_value"].to_numpy()
    whole = null_pvals[null_pvals["period"] == "all"]["p_value"].to_numpy()
    assert len(per) > 1500 and len(whole) > 800
    for p in (per, whole):
        assert stats.kstest(p, "uniform").pvalue > 0.001
        for a in (0.05, 0.01):
            lo, hi = stats.binom.ppf([0.0005, 0.9995], len(p), a)
            assert lo <= np.sum(p < a) <= hi, (a, np.mean(p < a))
    allp = np.concatenate([per, whole])
    # .001: at most the 99.95% binomial quantile (about 3 + 4 sqrt(3) of ~3,400)
    assert np.sum(allp < 0.001) <= stats.binom.ppf(0.9995, len(allp), 0.001)


def test_a_pooled_rate_test_would_fail_here(null_pvals):
    """The check is worth its null: on the same worlds a binomial test of the agent's short
    calls against the pooled callback rate after short calls (ignoring that customers and
    agents differ) rejects far too often, so the calibration test above can fail."""
    s = 0
    base = simulate_calls(n_agents=250, days=24, seed=900 + s, messy=True, customers=False,
                          start="2026-01-20")
    tab = repeat_counts(make_context(_relink(base, seed=s)), window_h=6.0)
    tab = tab[tab["n_short"] >= 10]
    rate = tab["k_short"].sum() / tab["n_short"].sum()
    p = stats.binom.sf(tab["k_short"] - 1, tab["n_short"], rate)
    assert np.mean(p < 0.01) > 0.03


def test_power_on_planted_hangups_without_ended_by():
    """Ten agents hang up 5% of their calls, 60% of whose callers ring back within 5 h;
    no ended_by column, 20 days: the check alone finds half of them at p < .01 (honest
    agents differ in their own ratio, SD 0.4 on the log scale, which the null must
    carry), and honest agents stay at their nominal rate."""
    gamers = [f"A{i:03d}" for i in range(10)]
    base = simulate_calls(n_agents=150, days=20, seed=77, messy=True, customers=False)
    calls = _relink(base, seed=3, gamers=gamers, hang_share=0.05, hang_callback=0.6)
    f = check_quick_callback_after_short(make_context(calls, drop=("ended_by",))).flags
    p = f.set_index("agent_id")["p_value"]
    assert (p.reindex(gamers) < 0.01).mean() >= 0.5
    assert (p.drop(gamers) < 0.01).mean() <= 0.03


def test_agent_level_recall_without_ended_by():
    """Through the runner and the agent-level decision (faces, ACAT, BH) on a 20-day messy
    world without ended_by: the hang-up agents are flagged and few honest ones are."""
    gamers = [f"A{i:03d}" for i in range(8)]
    base = simulate_calls(n_agents=120, days=20, seed=78, messy=True, customers=False)
    calls = _relink(base, seed=4, gamers=gamers, hang_share=0.05,
                    hang_callback=0.6).drop(columns="ended_by")
    rep = run_checks(calls, checks=["short_calls_peer", "short_calls_change",
                                    "repeat_after_short", NAME],
                     options={"raise_errors": True, "seed": 1})
    assert NAME in rep.ran
    al = rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")
    assert al["flagged"].reindex(gamers).fillna(False).mean() >= 0.75
    assert al["flagged"].drop(gamers, errors="ignore").mean() <= 0.02


def _by_hand_counts(calls: pd.DataFrame, window_h: float, short_s: float = 20.0):
    """Quick-callback counts by pandas: next arrival of the same customer within the window
    of the answer, censored when the window passes the last arrival."""
    c = calls[calls["customer_id"].notna()].sort_values("arrival_ts", kind="stable").copy()
    c["next"] = c.groupby("customer_id")["arrival_ts"].shift(-1)
    w = pd.Timedelta(hours=window_h)
    end = c["arrival_ts"].max()
    h = c[c["outcome"].isin(["answered", "transferred"])].copy()
    obs = h["answer_ts"] + w <= end
    h["rep"] = (h["next"].notna() & (h["next"] <= h["answer_ts"] + w)).astype(int)
    h = h[obs]
    h["short"] = h["talk_s"] < short_s
    g = h.groupby(["agent_id", "short"])["rep"].agg(["size", "sum"]).unstack("short")
    return pd.DataFrame({"n_short": g[("size", True)], "k_short": g[("sum", True)],
                         "n_other": g[("size", False)], "k_other": g[("sum", False)]})


def test_counts_match_an_independent_computation():
    """The SQL counts (panel relation, 6-hour window, censoring) equal a pandas computation."""
    calls = simulate_calls(n_agents=15, days=6, seed=5)
    got = repeat_counts(make_context(calls), window_h=6.0).set_index("agent_id")
    want = _by_hand_counts(calls, 6.0)
    cols = ["n_short", "k_short", "n_other", "k_other"]
    pd.testing.assert_frame_equal(got[cols].sort_index().astype(int),
                                  want.loc[got.index, cols].sort_index().astype(int),
                                  check_names=False)
    assert got["k_short"].sum() > 0


def test_small_case_pinned_to_scipy():
    """Four agents: the leave-one-out center ratio by hand, the precision by direct maximum
    likelihood (scipy.optimize on scipy.stats.betabinom) and the p-value by
    scipy.stats.betabinom.sf."""
    counts = pd.DataFrame({
        "agent_id": ["a", "b", "c", "d", "e"], "period": ["p"] * 5,
        "n_short": [40, 50, 30, 60, 45], "k_short": [11, 2, 1, 3, 0],
        "n_other": [900, 1000, 800, 1200, 700], "k_other": [12, 15, 10, 14, 20],
    })
    tab = quick_callback_table(counts, min_short=10, trim_p=0.0).set_index("agent_id")
    c = counts.set_index("agent_id")
    # theta of a: the others' short-call rate over their other-call rate (half-corrected)
    o = c.drop("a")
    th = ((o.k_short.sum() + 0.5) / (o.n_short.sum() + 1)) / (
        (o.k_other.sum() + 0.5) / (o.n_other.sum() + 1))
    assert tab.loc["a", "theta"] == pytest.approx(th, rel=1e-12)
    pi = c.n_short * tab["theta"] / (c.n_short * tab["theta"] + c.n_other)
    assert np.allclose(tab["pi"], pi)
    K = (c.k_short + c.k_other).to_numpy()

    def nll(logs):
        s = np.exp(logs)
        return -np.sum(stats.betabinom.logpmf(c.k_short, K, pi * s, (1 - pi) * s))

    res = optimize.minimize_scalar(nll, bounds=(-2, np.log(1e7)), method="bounded",
                                   options={"xatol": 1e-8})
    prec = tab.attrs["precision"]
    assert nll(np.log(prec)) <= res.fun + 1e-6
    a_, b_ = pi * prec, (1 - pi) * prec
    want = stats.betabinom.sf(c.k_short - 1, K, a_, b_)
    assert np.allclose(tab["p_value"], want, rtol=1e-6, atol=1e-12)
    assert tab.loc["a", "p_value"] < 0.05 < tab.loc["b", "p_value"]


def test_registered_skipped_without_customers_and_in_a_signature():
    assert NAME in CHECKS.names()
    calls = simulate_calls(n_agents=20, days=5, seed=2)
    r = check_quick_callback_after_short(make_context(calls, drop=("customer_id",)))
    assert r.skipped and "customer_id" in r.skipped
    assert SIGNATURE_OF[NAME] == "hangups"
    assert any(NAME in face for face in FACES["hangups"])
    from analysis.report.present.findings import CHECK_BEHAVIOUR
    from analysis.whatif import RULES

    assert CHECK_BEHAVIOUR[NAME] == "repeat_calls" and RULES[NAME] == "short"


def test_whole_window_rows_accumulate_over_periods():
    """With two periods the check adds period-``all`` rows whose counts are the sums."""
    calls = simulate_calls(n_agents=30, days=40, seed=6)
    f = check_quick_callback_after_short(make_context(calls)).flags
    assert {"2026-01", "2026-02", "all"} <= set(f["period"])
    per = f[f["period"] != "all"].groupby("agent_id")["n"].sum()
    whole = f[f["period"] == "all"].set_index("agent_id")["n"]
    both = whole.index.intersection(per.index)
    assert (whole[both] >= per[both]).all() and len(both) > 10


def test_faces_two_consistent_traces_beat_one_noisy_check():
    """Agent-level combination: moderate, consistent peer and quick-callback evidence
    (p = .01 each) gives a smaller combined p than one strong peer p (1e-4) with null
    partners, and the single noisy check is weakened (its face is a Stouffer pair)."""
    rng = np.random.default_rng(0)
    n = 200
    rows = []
    for i in range(n):
        for chk in ("short_calls_peer", "repeat_after_short", NAME, "short_calls_change"):
            rows.append((f"H{i:03d}", "2026-01", chk, float(rng.uniform())))
    rows += [("G1", "2026-01", "short_calls_peer", 0.01), ("G1", "2026-01", NAME, 0.01),
             ("G1", "2026-01", "repeat_after_short", 0.5),
             ("G1", "2026-01", "short_calls_change", 0.5),
             ("N1", "2026-01", "short_calls_peer", 1e-4), ("N1", "2026-01", NAME, 0.5),
             ("N1", "2026-01", "repeat_after_short", 0.5),
             ("N1", "2026-01", "short_calls_change", 0.5)]
    f = pd.DataFrame(rows, columns=["agent_id", "period", "check", "p_value"])
    f["effect"], f["effect_unit"] = 0.0, ""
    ag, _ = agent_table(f, alpha=0.05)
    al = ag[ag["scope"] == "all"].set_index("agent_id")["p_value"]
    assert al["G1"] < al["N1"]
    assert al["N1"] > 1e-3  # one check at 1e-4 cannot carry the agent alone
    assert al["G1"] < 2e-3


def test_center_and_pseudonymized_rows_are_handled_like_other_checks():
    """An agent whose id is 'center' gets agent-level rows (level agent) like any agent,
    and pseudonymizing ids leaves the p-values alone."""
    calls = simulate_calls(n_agents=40, days=20, seed=8)
    calls["agent_id"] = calls["agent_id"].replace({"A005": "center"})
    rep = run_checks(calls, checks=[NAME, "short_calls_peer"], options={"seed": 1})
    f = rep.flags[rep.flags["check"] == NAME]
    assert (f["level"] == "agent").all()
    assert "center" in set(f["agent_id"])
    assert "center" in set(rep.agents["agent_id"])
    ren = calls.assign(agent_id=calls["agent_id"].map(lambda a: None if a is None else f"X{a}"))
    rep2 = run_checks(ren, checks=[NAME, "short_calls_peer"], options={"seed": 1})
    f2 = rep2.flags[rep2.flags["check"] == NAME]
    a = f.set_index(f["agent_id"].map(lambda s: f"X{s}"))["p_value"].sort_index()
    b = f2.set_index("agent_id")["p_value"].sort_index()
    assert np.allclose(a.to_numpy(), b.reindex(a.index).to_numpy())


def test_engine_aggregation_gives_the_same_counts():
    """The portable engine aggregation (``repeat_after_short`` with a 6-hour window, the path a
    Spark engine runs) gives the check's counts: no DuckDB-only SQL is needed for it."""
    from analysis import engines

    calls = simulate_calls(n_agents=12, days=6, seed=11)
    got = engines.run_aggregation(calls, "repeat_after_short", period="month",
                                  short_call_s=20.0, repeat_window_h=6.0)
    got = got.groupby("agent_id")[["observed", "repeats", "short_observed",
                                   "short_repeats"]].sum()
    mine = repeat_counts(make_context(calls), window_h=6.0).set_index("agent_id")
    assert (got.loc[mine.index, "short_observed"] == mine["n_short"]).all()
    assert (got.loc[mine.index, "short_repeats"] == mine["k_short"]).all()
    assert (got.loc[mine.index, "observed"] - got.loc[mine.index, "short_observed"]
            == mine["n_other"]).all()
    assert (got.loc[mine.index, "repeats"] - got.loc[mine.index, "short_repeats"]
            == mine["k_other"]).all()
