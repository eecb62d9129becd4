"""Bunching checks: GLM pinned to statsmodels, null calibration, planted bunching."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.gaming import run_checks
from analysis.gaming._coresim import simulate_calls
from analysis.gaming.bunching import (
    _design,
    agent_bunching_table,
    bunching_fit,
    bunching_test,
    poisson_glm,
)


def _lognormal_hist(rng, n, target=300.0, bw=5.0, mu=5.4, sd=0.6):
    edges = target + bw * np.arange(-42, 120)
    x = rng.lognormal(mu, sd, n)
    return np.histogram(x, edges)[0].astype(float), edges


def test_poisson_glm_matches_statsmodels():
    rng = np.random.default_rng(0)
    counts, edges = _lognormal_hist(rng, 20_000)
    X = _design(0.5 * (edges[:-1] + edges[1:]), 5)
    beta, cov = poisson_glm(X, counts)
    ref = sm.GLM(counts, X, family=sm.families.Poisson()).fit()
    assert np.allclose(beta, ref.params, rtol=1e-6, atol=1e-8)
    assert np.allclose(cov, ref.cov_params(), rtol=1e-5)


def test_center_test_is_calibrated_on_lognormal_null_worlds():
    rng = np.random.default_rng(1)
    p = []
    for _ in range(40):
        counts, edges = _lognormal_hist(rng, 30_000, mu=rng.uniform(5.2, 5.7))
        p.append(bunching_test(counts, edges, 300.0, w_below=30, w_above=60, n_boot=99,
                               seed=int(rng.integers(1e9)))["p_value"])
    p = np.array(p)
    # the OLS-on-counts estimator "found" bunching in most such worlds (methods.md)
    assert np.mean(p < 0.05) <= 0.15
    assert np.mean(p < 0.5) <= 0.7


def test_center_test_finds_planted_bunching_and_sizes_it():
    rng = np.random.default_rng(2)
    x = rng.lognormal(5.5, 0.6, 40_000)
    zone = (x >= 300) & (x < 390) & (rng.uniform(size=x.size) < 0.4)
    x[zone] = rng.uniform(270, 300, zone.sum())
    edges = 300.0 + 5.0 * np.arange(-42, 120)
    counts = np.histogram(x, edges)[0].astype(float)
    res = bunching_test(counts, edges, 300.0, w_below=30, w_above=60, n_boot=99, seed=3)
    assert res["p_value"] <= 0.02
    # the excess is about the number of calls moved (within the bootstrap error)
    assert abs(res["excess"] - zone.sum()) < 4 * res["se"] + 0.15 * zone.sum()


def test_agent_test_compares_with_own_density_not_peers():
    """A fast honest agent has more mass below any threshold; own-density null is calibrated."""
    rng = np.random.default_rng(4)
    edges = 300.0 + 5.0 * np.arange(-40, 100)
    ids, mats = [], []
    for i in range(120):
        mu = rng.normal(5.5, 0.25)  # fast and slow honest agents
        x = rng.lognormal(mu, 0.55, 1500)
        ids.append(f"A{i}")
        mats.append(np.histogram(x, edges)[0])
    tab = agent_bunching_table(ids, np.array(mats, float), edges, 300.0, w_below=30,
                               w_above=60)
    p = tab["p_value"].to_numpy()
    assert len(p) >= 100
    assert np.mean(p < 0.05) <= 0.1
    assert np.mean(p < 0.01) <= 0.04


def test_runner_flags_a_bunching_agent_and_finds_the_target():
    calls, _ = simulate_calls(n_agents=30, months=2, bunch={0: 0.7, 1: 0.7}, seed=9)
    rep = run_checks(calls, checks=["bunching_agent", "bunching_center"],
                     options={"raise_errors": True, "bunch_boot": 99})
    assert "target 300 s (found as the largest density jump" in " ".join(
        rep.notes["bunching_agent"])
    f = rep.flags[rep.flags["check"] == "bunching_agent"]
    flagged = set(f.loc[f["p_value"] < 0.001, "agent_id"])
    assert {"A000", "A001"} <= flagged
    assert len(flagged - {"A000", "A001"}) <= 1


def test_discontinuity_scan_is_calibrated_and_finds_the_jump():
    """Lognormal null histograms: the max-statistic p-value is (near) uniform; a bunch
    under 300 s is found at 300 s, not at another round number."""
    from analysis.gaming.bunching import scan_discontinuity

    rng = np.random.default_rng(3)
    edges = np.arange(40.0, 1200.0, 5.0)
    p = []
    for _ in range(30):
        y = np.histogram(rng.lognormal(5.5, 0.55, 20_000), edges)[0]
        p.append(scan_discontinuity(y, edges, lo=150, hi=500, n_boot=99,
                                    seed=int(rng.integers(1e9)))["p_value"])
    p = np.array(p)
    assert np.mean(p < 0.05) <= 0.15 and np.mean(p < 0.5) >= 0.3
    x = rng.lognormal(5.5, 0.55, 20_000)
    move = (x >= 300) & (x < 360) & (rng.random(x.size) < 0.3)
    x[move] = rng.uniform(285, 300, move.sum())
    res = scan_discontinuity(np.histogram(x, edges)[0], edges, lo=150, hi=500, n_boot=99,
                             seed=1)
    assert res["target"] == 300.0
    assert res["p_value"] <= 0.01


def test_given_target_and_skips():
    calls, _ = simulate_calls(n_agents=10, months=1, seed=10)
    rep = run_checks(calls, checks=["bunching_center"],
                     options={"aht_target": 300, "bunch_boot": 49, "raise_errors": True})
    row = rep.flags.iloc[0]
    assert row["level"] == "center" and row["agent_id"] == "" and "300 s" in row["detail"]
    rep = run_checks(calls, checks=["bunching_center"], options={"aht_target": 5})
    assert "bunching_center" in rep.skipped


@pytest.mark.parametrize("degree", [3, 5])
def test_fit_excludes_the_window(degree):
    rng = np.random.default_rng(5)
    counts, edges = _lognormal_hist(rng, 10_000)
    f = bunching_fit(counts, edges, 300.0, w_below=30, w_above=60, degree=degree)
    mids = 0.5 * (edges[:-1] + edges[1:])
    assert not f["inside"][(mids > 270) & (mids < 360)].any()
    assert f["below"].sum() == 6


def _agents_hist(rng, edges, n_agents, calls=1500, bunch=None, target=247.0):
    """Honest agents (fast and slow, some a mixture of two queues); ``bunch``: {agent index:
    share of the calls in [target, target + 0.2 target) moved into [target - 0.05 target,
    target)}."""
    bunch = bunch or {}
    mats = []
    for i in range(n_agents):
        mu = rng.normal(5.5, 0.25)
        if i % 3 == 0:  # a two-queue agent: a mixture the cubic in log(duration) misfits
            x = np.concatenate([rng.lognormal(mu - 0.4, 0.4, calls // 2),
                                rng.lognormal(mu + 0.3, 0.5, calls - calls // 2)])
        else:
            x = rng.lognormal(mu, 0.55, calls)
        if i in bunch:
            move = (x >= target) & (x < 1.2 * target) & (rng.random(x.size) < bunch[i])
            x[move] = rng.uniform(0.95 * target, target, move.sum())
        mats.append(np.histogram(x, edges)[0])
    return [f"A{i}" for i in range(n_agents)], np.array(mats, float)


def test_agent_scan_is_calibrated_on_honest_agents():
    """Each agent's own largest jump, Bonferroni over the cuts: conservative at .05 and in
    the tail on fast, slow and two-queue honest agents (2,400 agents)."""
    from analysis.gaming.bunching import agent_scan_table

    rng = np.random.default_rng(11)
    edges = np.arange(60.0, 900.0, 5.0)
    p = []
    for _ in range(20):
        ids, mat = _agents_hist(rng, edges, 120, calls=int(rng.integers(300, 3000)))
        p.append(agent_scan_table(ids, mat, edges, lo=130, hi=600)["p_value"].to_numpy())
    p = np.concatenate(p)
    assert len(p) == 2400
    assert np.mean(p < 0.05) <= 0.05
    assert np.sum(p < 0.01) <= 24 + 3 * np.sqrt(24)  # nominal count + 3 SD
    assert np.sum(p < 0.001) <= 2 + 3 * np.sqrt(2.4)


def test_agent_scan_finds_a_buncher_at_a_target_of_their_own():
    """Two agents bunch under 247 s (no round number, not the center's largest jump): each
    is found at their own cut, the honest ones are not."""
    from analysis.gaming.bunching import agent_scan_table

    rng = np.random.default_rng(12)
    edges = np.arange(60.0, 900.0, 5.0)
    ids, mat = _agents_hist(rng, edges, 40, calls=1200, bunch={1: 0.5, 2: 0.5})
    tab = agent_scan_table(ids, mat, edges, lo=130, hi=600).set_index("agent_id")
    assert tab.loc[["A1", "A2"], "p_value"].max() < 1e-6
    assert np.abs(tab.loc[["A1", "A2"], "cut"] - 247.0).max() <= 10.0  # 5 s bins
    assert (tab.drop(index=["A1", "A2"])["p_value"] < 0.001).sum() == 0


def test_agent_scan_p_value_pinned_to_statsmodels_and_scipy():
    """The p-value at the agent's cut, recomputed from a statsmodels Poisson GLM (fitted
    counts and covariance), the delta method by hand and scipy's beta-binomial; times the
    number of cuts with a call."""
    from scipy import stats as st

    from analysis.gaming.bunching import agent_scan_table

    rng = np.random.default_rng(13)
    edges = np.arange(60.0, 900.0, 5.0)
    ids, mat = _agents_hist(rng, edges, 3, calls=800, bunch={1: 0.5})
    tab = agent_scan_table(ids, mat, edges, lo=130, hi=600)
    row = tab.iloc[1]
    y = mat[1]
    mids = 0.5 * (edges[:-1] + edges[1:])
    X = _design(mids, 3)
    fit = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    mu = fit.predict(X)
    w = max(2, round(0.1 * row["cut"] / 5.0))
    c = int(np.flatnonzero(np.isclose(edges, row["cut"]))[0])
    b, a = slice(c - w, c), slice(c, c + w)
    e_b, e_a = mu[b].sum(), mu[a].sum()
    g_b, g_a = (mu[b, None] * X[b]).sum(0), (mu[a, None] * X[a]).sum(0)
    g = (g_b * e_a - g_a * e_b) / (e_a + e_b) ** 2
    pi, var = e_b / (e_a + e_b), g @ fit.cov_params() @ g
    prec = pi * (1 - pi) / var - 1
    k, m = y[b].sum(), y[b].sum() + y[a].sum()
    p = st.betabinom.sf(k - 1, m, pi * prec, (1 - pi) * prec)
    assert row["k"] == k and row["m"] == m
    assert np.isclose(row["p_min"], p, rtol=1e-4)
    assert np.isclose(row["p_value"], min(1.0, row["n_cuts"] * p), rtol=1e-4)
    assert row["p_value"] < 1e-4  # the planted buncher


def test_runner_finds_bunchers_the_center_scan_misses_and_not_at_a_given_target():
    """Two agents bunch under 247 s among 40: the center's largest jump is not significant,
    so agents are not tested at it; their own scans find them. With ``aht_target`` given,
    only that target is tested."""
    calls, _ = simulate_calls(n_agents=40, months=2, seed=21)
    rng = np.random.default_rng(21)
    handle = calls["talk_s"] + calls["hold_s"].fillna(0) + calls["acw_s"].fillna(0)
    move = (calls["agent_id"].isin(["A001", "A002"]) & (handle >= 247)
            & (handle < 300) & (rng.random(len(calls)) < 0.5)).to_numpy()
    new = rng.uniform(235, 247, move.sum())
    calls.loc[move, "talk_s"] = np.floor(new - (handle[move] - calls.loc[move, "talk_s"]))
    rep = run_checks(calls, checks=["bunching_agent"],
                     options={"raise_errors": True, "bunch_boot": 99})
    f = rep.flags.set_index("agent_id")
    assert f.loc[["A001", "A002"], "p_value"].max() < 1e-4
    for a in ("A001", "A002"):
        cut = float(re.match(r"own largest jump at ([0-9.]+) s", f.loc[a, "detail"])[1])
        assert abs(cut - 247.0) <= 10.0
    assert "is not significant" in " ".join(rep.notes["bunching_agent"])
    assert (f.drop(index=["A001", "A002"])["p_value"] < 0.001).sum() == 0
    rep = run_checks(calls, checks=["bunching_agent"],
                     options={"raise_errors": True, "aht_target": 300})
    assert "own largest jump" not in " ".join(rep.flags["detail"])
    assert rep.notes["bunching_agent"][0].startswith("handle time: target 300 s (given)")


def _talk_target_world(seed: int = 9):
    """Agents A000 and A001 bunch *talk* time under 300 s; everyone's wrap-up (median 60 s)
    then smears the bunch over handle times of about 330-450 s."""
    calls, _ = simulate_calls(n_agents=30, months=2, bunch={0: 0.7, 1: 0.7}, seed=seed)
    rng = np.random.default_rng(seed)
    handled = calls["talk_s"].notna()
    calls.loc[handled, "talk_s"] = (calls.loc[handled, ["talk_s", "hold_s", "acw_s"]]
                                    .sum(axis=1).round(1))
    calls.loc[handled, "hold_s"] = 0.0
    calls.loc[handled, "acw_s"] = rng.lognormal(np.log(60), 0.6, int(handled.sum())).round(1)
    return calls


def test_bunch_measure_talk_finds_a_talk_time_target_handle_time_smears():
    calls = _talk_target_world()
    p = {}
    for m in ("handle", "talk"):
        rep = run_checks(calls, checks=["bunching_agent", "bunching_center"],
                         options={"raise_errors": True, "bunch_boot": 99, "bunch_measure": m})
        f = rep.flags[rep.flags["check"] == "bunching_agent"].set_index("agent_id")
        p[m] = f["p_value"]
        if m == "talk":
            assert "talk-time target 300 s (found" in " ".join(rep.notes["bunching_center"])
            assert "own talk-time density" in " ".join(f["detail"])
    assert (p["talk"][["A000", "A001"]] < 1e-6).all()
    honest = p["talk"].drop(["A000", "A001"])
    assert (honest > 1e-3).all()
    # on handle time the wrap-up smears the bunch: neither buncher comes near
    assert (p["handle"][["A000", "A001"]] > 1e-3).all()


def test_bunch_measure_wrong_word_skips_with_the_words():
    calls, _ = simulate_calls(n_agents=10, months=1, seed=10)
    rep = run_checks(calls, checks=["bunching_agent"], options={"bunch_measure": "wrap"})
    assert "bunch_measure must be one of auto, handle, talk" in rep.skipped["bunching_agent"]


def test_bunch_measure_auto_reads_both_and_combines_them():
    """The default reads handle and talk time where they differ: talk-time bunchers are
    found without naming the measure, each agent's p-value is the Bonferroni combination
    of its tests on both (smallest p times their number), and the center's row names the
    stronger measure."""

    calls = _talk_target_world()
    p, n_tests = {}, {}
    for m in ("auto", "handle", "talk"):
        rep = run_checks(calls, checks=["bunching_agent", "bunching_center"],
                         options={"raise_errors": True, "bunch_boot": 99, "bunch_measure": m})
        f = rep.flags[(rep.flags["check"] == "bunching_agent")
                      & (rep.flags["period"] == "all")].set_index("agent_id")
        p[m] = f["p_value"]
        if m == "auto":
            notes = " ".join(rep.notes["bunching_agent"])
            assert "handle time: " in notes and "talk time: " in notes
            c = rep.flags[rep.flags["check"] == "bunching_center"]
            assert len(c) == 1 and "talk-time target" in c["detail"].iloc[0]
        else:
            n_tests[m] = sum(x.startswith(("target ", "each agent's own")) for x in
                             rep.notes["bunching_agent"])
    assert (p["auto"][["A000", "A001"]] < 1e-6).all()
    assert (p["auto"].drop(["A000", "A001"]) > 1e-3).all()
    # Bonferroni over all of an agent's tests: the smallest p times their number, so each
    # measure's own combination (its smallest p times its number of tests) enters scaled
    # by the share of the tests it holds (here the handle-time scan is not significant, so
    # handle time has only the agent's own-jump test, talk time two)
    p = {m: v.sort_index() for m, v in p.items()}
    assert list(p["handle"].index) == list(p["talk"].index) == list(p["auto"].index)
    n_h, n_t = n_tests["handle"], n_tests["talk"]
    assert (n_h, n_t) == (1, 2)
    smallest = np.minimum(p["handle"].to_numpy() / n_h, p["talk"].to_numpy() / n_t)
    # (a measure's p capped at 1 had a smallest p of at least 1/n, which gives 1 here too)
    want = np.minimum(1.0, (n_h + n_t) * smallest)
    assert np.allclose(p["auto"].to_numpy(), want, rtol=1e-9)


def test_bunch_measure_auto_reads_one_measure_without_hold_or_wrap_up():
    calls, _ = simulate_calls(n_agents=20, months=1, seed=3)
    calls = calls.drop(columns=["hold_s", "acw_s"])
    rep = {m: run_checks(calls, checks=["bunching_agent", "bunching_center"],
                         options={"raise_errors": True, "bunch_boot": 99, "bunch_measure": m})
           for m in ("auto", "handle")}
    pd.testing.assert_frame_equal(rep["auto"].flags, rep["handle"].flags)
    assert rep["auto"].notes["bunching_agent"] == rep["handle"].notes["bunching_agent"]


def test_peer_targets_leave_the_agent_out_and_need_agreement():
    """An agent's target comes from the *other* agents' significant jumps, clustered within
    5 %; fewer than two agreeing others give none."""
    from analysis.gaming.bunching import peer_targets

    scan = pd.DataFrame({
        "agent_id": ["A", "B", "C", "D", "E", "F"],
        "cut": [300.0, 305.0, 295.0, 500.0, 300.0, 410.0],
        "p_value": [1e-6, 1e-5, 1e-3, 1e-8, 0.2, 0.02],
    })
    pt = peer_targets(scan, step=5.0)
    assert pt["E"] == (300.0, 3)  # A, B, C agree; D is alone at 500; F is not significant
    assert pt["F"] == (300.0, 3)
    assert pt["A"] == (300.0, 2)  # B and C: A's own jump does not count for A
    assert pt["D"] == (300.0, 3)
    # only two significant agents: each has one other, too few; the rest have both
    two = peer_targets(scan.assign(p_value=[1e-6, 1e-5, 0.5, 0.5, 0.5, 0.5]), step=5.0)
    assert "A" not in two and "B" not in two
    assert two["C"][0] in (300.0, 305.0) and two["C"][1] == 2
    assert peer_targets(scan.assign(p_value=0.5)) == {}


def test_agents_tested_at_a_peer_target_are_calibrated():
    """Honest agents tested at the target three bunchers reveal (the bunchers' own jumps,
    each honest agent left out of the choice): the p-values keep their level (20 worlds,
    about 4,700 honest agents), and the bunchers are tested at each other's target."""
    from analysis.gaming.bunching import agent_scan_table, peer_targets

    rng = np.random.default_rng(31)
    edges = np.arange(60.0, 900.0, 5.0)
    p, got = [], []
    for _ in range(40):
        ids, mat = _agents_hist(rng, edges, 120, calls=int(rng.integers(600, 2000)),
                                bunch={0: 0.6, 1: 0.6, 2: 0.6})
        scan = agent_scan_table(ids, mat, edges, lo=130, hi=600)
        pt = peer_targets(scan, step=5.0)
        got += [pt.get(a, (None,))[0] for a in ids[:3]]
        for t in {v[0] for v in pt.values()}:
            who = [i for i, a in enumerate(ids) if i >= 3 and pt.get(a, (None,))[0] == t]
            e = t + 5.0 * np.arange(-30, 90)
            m = np.array([np.histogram(np.repeat(edges[:-1] + 2.5, mat[i].astype(int)), e)[0]
                          for i in who], float)
            tab = agent_bunching_table([ids[i] for i in who], m, e, t, w_below=25,
                                       w_above=50)
            p += list(tab["p_value"])
    assert sum(t is not None and abs(t - 247) <= 10 for t in got) >= 100  # of 120
    p = np.array(p)
    assert len(p) >= 4000
    assert np.mean(p < 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(p))
    assert np.sum(p < 0.01) <= 0.01 * len(p) + 3 * np.sqrt(0.01 * len(p))
    assert np.sum(p < 0.001) <= 0.001 * len(p) + 3 * np.sqrt(0.001 * len(p))


def _bunch_late(calls, agents, share, lo, hi, seed, since=None):
    """Cut ``share`` of ``agents``' calls with handle time in [hi, 1.2 hi) to [lo, hi),
    from ``since`` (a timestamp) on."""
    rng = np.random.default_rng(seed)
    handle = calls["talk_s"] + calls["hold_s"].fillna(0) + calls["acw_s"].fillna(0)
    move = (calls["agent_id"].isin(agents) & (handle >= hi) & (handle < 1.2 * hi)
            & (rng.random(len(calls)) < share))
    if since is not None:
        move &= calls["answer_ts"] >= since
    move = move.to_numpy()
    new = rng.uniform(lo, hi, move.sum())
    calls.loc[move, "talk_s"] = np.floor(new - (handle[move] - calls.loc[move, "talk_s"]))
    return calls


def test_runner_tests_agents_where_other_agents_jumps_agree():
    """Three agents bunch hard under 247 s, a fourth lightly. With the center's target not
    trusted (``bunch_target_alpha`` tiny: a center whose histogram hides the bunch), the
    fourth's own scan (Bonferroni over the cuts) is weak, but tested at the target the
    others reveal it is found; honest agents are not."""
    calls, _ = simulate_calls(n_agents=80, months=2, seed=21)
    calls = _bunch_late(calls, ["A001", "A002", "A003"], 0.5, 235, 247, seed=21)
    calls = _bunch_late(calls, ["A004"], 0.25, 235, 247, seed=22)
    p = {}
    for on in ("true", "false"):
        rep = run_checks(calls, checks=["bunching_agent"],
                         options={"raise_errors": True, "bunch_boot": 99,
                                  "bunch_target_alpha": 1e-12,
                                  "bunch_measure": "handle", "bunch_peer_target": on})
        f = rep.flags[rep.flags["period"] == "all"].set_index("agent_id")
        p[on] = f["p_value"]
        notes = " ".join(rep.notes["bunching_agent"])
        assert "is not significant" in notes
        if on == "true":
            assert re.search(r"agree: 2[45]\d s \(\d+ agents\)", notes)
            assert "other agents' own significant jumps agree on" in f.loc["A004", "detail"]
            assert (f.drop(index=["A001", "A002", "A003", "A004"])["p_value"]
                    < 0.001).sum() == 0
        else:
            assert "agree" not in notes
    assert p["true"]["A004"] < 1e-3 < p["false"]["A004"]
    assert p["true"][["A001", "A002", "A003"]].max() < 1e-4


def test_agents_are_tested_at_the_target_in_each_period():
    """An agent who starts bunching in the second month: the month's row carries the
    evidence the whole window dilutes; ``bunch_periods=false`` keeps the whole window."""
    calls, _ = simulate_calls(n_agents=30, months=2, seed=23)
    second = calls["answer_ts"].min().normalize() + pd.offsets.MonthBegin(1)
    calls = _bunch_late(calls, ["A001"], 0.4, 285, 300, seed=23, since=second)
    opts = {"raise_errors": True, "aht_target": 300}
    rep = run_checks(calls, checks=["bunching_agent"], options=opts)
    f = rep.flags[rep.flags["agent_id"] == "A001"].set_index("period")["p_value"]
    months = sorted(p for p in f.index if p != "all")
    assert len(months) == 2 and months[1] == second.strftime("%Y-%m")
    assert f[months[1]] < 1e-4
    assert f[months[1]] < f["all"] / 10
    assert f[months[0]] > 0.01
    rep = run_checks(calls, checks=["bunching_agent"], options={**opts, "bunch_periods": False})
    assert set(rep.flags["period"]) == {"all"}


def test_period_rows_count_the_bands_against_the_whole_window_share():
    """A period row: the agent's calls in [T - w, T) and [T, T + w) of that month (counted
    here with pandas), against the share below of the agent's whole-window smooth density
    (the whole-window row's), its fit's uncertainty on top of the binomial's."""
    from scipy import stats as st

    calls, _ = simulate_calls(n_agents=30, months=2, seed=23)
    second = calls["answer_ts"].min().normalize() + pd.offsets.MonthBegin(1)
    calls = _bunch_late(calls, ["A001"], 0.4, 285, 300, seed=23, since=second)
    rep = run_checks(calls, checks=["bunching_agent"],
                     options={"raise_errors": True, "aht_target": 300,
                              "bunch_measure": "handle"})
    f = rep.flags[rep.flags["agent_id"] == "A001"].set_index("period")
    month = second.strftime("%Y-%m")
    h = calls[(calls["agent_id"] == "A001") & calls["talk_s"].notna()]
    handle = h["talk_s"] + h["hold_s"].fillna(0) + h["acw_s"].fillna(0)
    inm = pd.to_datetime(h["answer_ts"]).dt.strftime("%Y-%m") == month
    k = int((inm & (handle >= 270) & (handle < 300)).sum())  # w = 0.1 x 300 s
    a = int((inm & (handle >= 300) & (handle < 330)).sum())
    row = f.loc[month]
    assert (row["k"], row["n"]) == (k, k + a)
    pi = k / (1 + row["effect"] / 100) / (k + a)
    whole = f.loc["all"]
    m_all = int(re.match(r"\d+ of (\d+) calls", whole["detail"])[1])
    assert pi == pytest.approx(whole["k"] / (1 + whole["effect"] / 100) / m_all, rel=1e-9)
    assert "density over the window" in row["detail"]
    binomial_only = st.norm.sf((k - (k + a) * pi) / np.sqrt((k + a) * pi * (1 - pi)))
    assert binomial_only <= row["p_value"] < 1e-3


def test_center_row_needs_the_excess_below_the_found_target_too():
    """The center's row at a target the scan found is an intersection-union test: the jump
    (max-statistic p) and the excess just below it (bootstrap p), the larger p. Calls
    missing just above 300 s (a deficit, nothing piled up below) make a jump the scan finds,
    which is not bunching; planted bunchers give both. On PwC's fabricated export the
    largest jump had p .03 with 84 calls below the target against 83 expected, and the
    center was listed as bunching."""
    opts = {"raise_errors": True, "bunch_boot": 199, "bunch_measure": "talk"}
    calls, _ = simulate_calls(n_agents=40, months=2, seed=21)
    talk = pd.to_numeric(calls["talk_s"], errors="coerce")
    gap = (talk >= 300) & (talk < 340) & (np.random.default_rng(2).random(len(calls)) < 0.5)
    rep = run_checks(calls[~gap.to_numpy()], checks=["bunching_center"], options=opts)
    row = rep.flags.iloc[0]
    m = re.search(r"max-statistic p = ([0-9.e-]+); excess p = ([0-9.e-]+)\)", row["detail"])
    assert m, row["detail"]
    scan_p, excess_p = float(m.group(1)), float(m.group(2))
    assert "below the 300 s talk-time target" in row["detail"]
    assert scan_p <= 0.01 < 0.2 < excess_p  # the jump is there, the pile-up is not
    assert row["p_value"] == pytest.approx(max(scan_p, excess_p), rel=0.05)
    assert not row["flagged"]
    # three bunchers under a 300 s handle-time target (the default measure reads both)
    calls, _ = simulate_calls(n_agents=40, months=2, bunch={0: 0.7, 1: 0.7, 2: 0.7}, seed=21)
    opts.pop("bunch_measure")
    row = run_checks(calls, checks=["bunching_center"], options=opts).flags.iloc[0]
    assert "300 s handle-time target" in row["detail"]
    assert row["p_value"] <= 0.02 and row["flagged"]
