"""Bunching checks: GLM pinned to statsmodels, null calibration, planted bunching."""

from __future__ import annotations

import numpy as np
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
