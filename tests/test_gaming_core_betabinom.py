"""Beta-binomial fit and p-values, pinned against scipy.stats.betabinom."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from analysis.gaming._betabinom import (
    betabinom_pvalue,
    fit_betabinom,
    peer_betabinom_fits,
)


def _scipy_ml(k, n, start):
    """Reference ML fit with scipy's own log-pmf and a derivative-free optimiser."""

    def nll(t):
        return -stats.betabinom.logpmf(k, n, np.exp(t[0]), np.exp(t[1])).sum()

    res = optimize.minimize(
        nll, np.log(start), method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
    )
    return np.exp(res.x)


@pytest.mark.parametrize("seed,a,b", [(1, 4.0, 100.0), (2, 1.5, 30.0), (3, 20.0, 200.0)])
def test_fit_matches_scipy_likelihood(seed, a, b):
    rng = np.random.default_rng(seed)
    n = rng.integers(100, 3000, 80)
    k = rng.binomial(n, rng.beta(a, b, 80))
    fa, fb = fit_betabinom(k, n)
    ra, rb = _scipy_ml(k, n, (a, b))
    assert fa == pytest.approx(ra, rel=2e-3)
    assert fb == pytest.approx(rb, rel=2e-3)
    # and the maximum is a maximum of scipy's likelihood
    ll = stats.betabinom.logpmf(k, n, fa, fb).sum()
    assert ll >= stats.betabinom.logpmf(k, n, ra, rb).sum() - 1e-6


def test_binomial_data_hits_the_boundary_with_pooled_mean():
    rng = np.random.default_rng(4)
    n = rng.integers(500, 2000, 50)
    k = rng.binomial(n, 0.03)
    a, b = fit_betabinom(k, n)
    assert a / (a + b) == pytest.approx(k.sum() / n.sum(), rel=1e-3)
    assert a + b > 1e4  # no detectable overdispersion


def test_weights_zero_equals_dropping():
    rng = np.random.default_rng(5)
    n = rng.integers(100, 1000, 30)
    k = rng.binomial(n, rng.beta(3, 60, 30))
    w = np.ones(30)
    w[[2, 7]] = 0
    a1, b1 = fit_betabinom(k, n, weights=w)
    a2, b2 = fit_betabinom(np.delete(k, [2, 7]), np.delete(n, [2, 7]))
    assert a1 == pytest.approx(a2, rel=1e-6) and b1 == pytest.approx(b2, rel=1e-6)


def test_all_zero_counts_give_defined_pvalues():
    a, b = fit_betabinom([0, 0, 0], [10, 20, 30])
    p = betabinom_pvalue([0, 1], [40, 40], a, b)
    mu = a / (a + b)
    assert mu == pytest.approx(0.5 / 61)
    assert p[0] == 1.0
    assert p[1] == pytest.approx(1 - (1 - mu) ** 40, rel=1e-4)  # binomial limit


@pytest.mark.parametrize("a,b", [(2.0, 50.0), (0.7, 3.0), (40.0, 900.0)])
def test_pvalues_match_scipy(a, b):
    n = np.array([10, 150, 800, 2500, 2500, 2500])
    k = np.array([0, 9, 40, 100, 0, 2500])
    exact = betabinom_pvalue(k, n, a, b)
    assert np.allclose(exact, stats.betabinom.sf(k - 1, n, a, b), rtol=1e-8, atol=1e-10)
    # the tail summed from scipy's pmf (precise where 1 - cdf is not)
    ref = [
        stats.betabinom.pmf(np.arange(kk, nn + 1), nn, a, b).sum()
        for kk, nn in zip(k, n, strict=True)
    ]
    assert np.allclose(exact, ref, rtol=1e-8, atol=0)
    low = betabinom_pvalue(k, n, a, b, alternative="less")
    assert np.allclose(low, stats.betabinom.cdf(k, n, a, b), rtol=1e-8, atol=1e-10)
    mid = betabinom_pvalue(k, n, a, b, mid=True)
    ref_mid = stats.betabinom.sf(k, n, a, b) + 0.5 * stats.betabinom.pmf(k, n, a, b)
    assert np.allclose(mid, ref_mid, rtol=1e-8, atol=1e-12)


def test_small_tail_is_precise_where_one_minus_cdf_is_not():
    # far in the upper tail 1 - cdf underflows; the direct tail sum does not
    p = betabinom_pvalue(300, 1000, 2.0, 200.0)
    assert 0 < p < 1e-20
    ref = np.exp(stats.betabinom.logpmf(np.arange(300, 1001), 1000, 2.0, 200.0)).sum()
    assert p == pytest.approx(ref, rel=1e-6)


def test_randomized_pvalues_are_uniform_under_the_model():
    rng = np.random.default_rng(6)
    a, b = 3.0, 80.0
    n = rng.integers(50, 400, 3000)
    k = stats.betabinom.rvs(n, a, b, random_state=rng)
    p = betabinom_pvalue(k, n, a, b, randomized=True, rng=rng)
    assert stats.kstest(p, "uniform").pvalue > 0.001
    exact = betabinom_pvalue(k, n, a, b)
    assert np.all(exact >= p)  # randomization only lowers the conservative exact p


def test_leave_one_out_peer_null_is_calibrated_and_robust():
    """Honest agents differ (beta-distributed rates); three gamers in the group."""
    rng = np.random.default_rng(7)
    rej = {0.01: 0, 0.05: 0, 0.1: 0}
    total = 0
    hits = 0
    for _ in range(40):
        m = 40
        n = rng.integers(300, 1500, m)
        p_true = rng.beta(6, 150, m)
        p_true[:3] += 0.15 * (1 - p_true[:3])  # 15% of calls hung up
        k = rng.binomial(n, p_true)
        a, b, npeer = peer_betabinom_fits(k, n)
        assert np.all((npeer[3:] <= m - 4) & (npeer[3:] >= m - 7))  # gamers trimmed
        p = betabinom_pvalue(k, n, a, b, randomized=True, rng=rng)
        hits += int(np.sum(p[:3] < 0.001))
        for al in rej:
            rej[al] += int(np.sum(p[3:] < al))
        total += m - 3
    for al, r in rej.items():
        rate = r / total
        se = np.sqrt(al * (1 - al) / total)
        assert abs(rate - al) < 4 * se + 0.004, (al, rate)
    assert hits == 120
