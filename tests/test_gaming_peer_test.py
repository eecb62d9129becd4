"""The agents-against-peers test (``_sigutil.peer_contrast_pvalues``) with peers of unequal precision.

A queue's peer group mixes agents whose main queue it is (hundreds of calls, small
``se``) with agents who take a few of its calls (large ``se``); a short last period
does the same across agents. The null must hold for the precise agents as well.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.gaming._sigutil import peer_contrast_pvalues, robust_center_scale


def test_tau_equals_mad_minus_se_when_every_agent_is_equally_precise():
    rng = np.random.default_rng(5)
    d = rng.normal(0, 0.3, 40)
    se2 = np.full(40, 0.05**2)
    mu, tau2 = robust_center_scale(d, se2)
    mad = stats.median_abs_deviation(d, scale="normal")
    assert float(mu[0]) == pytest.approx(np.median(d))
    assert float(tau2[0]) == pytest.approx(mad**2 - 0.05**2, rel=1e-7)


def test_tau_is_the_root_where_standardised_residuals_have_unit_mad():
    rng = np.random.default_rng(6)
    se = np.r_[np.full(10, 0.02), np.full(20, 0.4)]
    d = rng.normal(0, 0.3, 30) + rng.normal(0, se)
    mu, tau2 = robust_center_scale(d, se**2)
    t2 = float(np.ravel(tau2)[0])

    def scale(t):  # by hand: the share-weighted median of |r|, scaled to the normal
        r = np.abs(d - np.median(d)) / np.sqrt(t + se**2)
        share = t / (t + se**2)
        order = np.argsort(r)
        cw = np.cumsum(share[order]) / share.sum()
        return r[order][np.searchsorted(cw, 0.5)] / stats.norm.ppf(0.75)

    # the scale is a step function of tau^2 (the median jumps between agents): the root
    # is where it crosses 1
    assert scale(t2 * (1 - 1e-5)) > 1.0 >= scale(t2 * (1 + 1e-5))
    # the former estimate (MAD^2 - median se^2) is driven by the noisy agents
    old = stats.median_abs_deviation(d, scale="normal") ** 2 - np.median(se**2)
    assert tau2[0] > max(old, 0.0)


def test_batched_rows_are_estimated_one_by_one():
    rng = np.random.default_rng(7)
    se2 = rng.uniform(0.001, 0.2, 25)
    rows = rng.normal(0, 0.3, (6, 25))
    mu, tau2 = robust_center_scale(rows, se2[None, :])
    for i in range(6):
        m1, t1 = robust_center_scale(rows[i], se2)
        assert mu[i, 0] == pytest.approx(m1[0]) and tau2[i, 0] == pytest.approx(t1[0])


def test_precise_agents_among_noisy_peers_keep_their_size():
    """12 precise agents beside 15 noisy peers, normal honest habits: the precise
    agents' p-values are calibrated at .05 and .01 and within 2.5x at .001 (the former
    tau estimate gave 150x nominal at .001 here; the tail left is the bootstrap's, whose
    z is not quite pivotal when tau is estimated from a dozen agents)."""
    rng = np.random.default_rng(8)
    se = np.r_[np.full(12, 0.03), np.full(15, 0.35)]
    ps = []
    for _ in range(400):
        d = rng.normal(0, 0.3, se.size) + rng.normal(0, se)
        ps.append(peer_contrast_pvalues(d, se, n_boot=1000, rng=rng)["p_value"].to_numpy()[:12])
    p = np.concatenate(ps)
    for a, factor in ((0.05, 1.0), (0.01, 1.0), (0.001, 2.5)):
        limit = factor * a + 3 * np.sqrt(a * (1 - a) / p.size)
        assert np.mean(p <= a) <= limit, (a, np.mean(p <= a))
    assert np.mean(p <= 0.05) >= 0.6 * 0.05  # and not bought by conservatism


#: the sorted weighted median (the estimator before the sort-free test replaced it)
def _weighted_median(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted median along the last axis, keepdims; with equal weights ``np.median``
    (the mean of the two middle values when the cumulative weight hits one half)."""
    order = np.argsort(x, axis=-1)
    xs = np.take_along_axis(x, order, -1)
    cw = np.cumsum(np.take_along_axis(w, order, -1), axis=-1)
    half = 0.5 * cw[..., -1:]
    i = np.argmax(cw >= half * (1 - 1e-12), axis=-1)[..., None]
    lo = np.take_along_axis(xs, i, -1)
    hit = np.abs(np.take_along_axis(cw, i, -1) - half) <= 1e-12 * half
    hi = np.take_along_axis(xs, np.minimum(i + 1, x.shape[-1] - 1), -1)
    return np.where(hit, 0.5 * (lo + hi), lo)


@pytest.mark.parametrize("equal", [True, False])
def test_sort_free_median_test_agrees_with_the_weighted_median(equal):
    """The bisection asks only whether the weighted median exceeds c; the sort-free
    answer must be the sorted median's, including exact halves (equal weights, an even
    number of values, c between the two middle values)."""
    from analysis.gaming._sigutil import _weighted_median_above

    rng = np.random.default_rng(11)
    for m in (2, 3, 4, 7, 10, 31):
        x = rng.exponential(1.0, (400, m))
        w = np.ones((400, m)) if equal else rng.uniform(0.05, 3.0, (400, m))
        med = _weighted_median(x, w)
        srt = np.sort(x, axis=-1)
        # c at the median, just beside it, between the middle values, and at random
        cs = [med[:, 0], med[:, 0] * (1 + 1e-9), med[:, 0] * (1 - 1e-9),
              0.5 * (srt[:, (m - 1) // 2] + srt[:, m // 2]) * (1 + 1e-6),
              rng.exponential(1.0, 400)]
        for c in cs:
            got = np.array([_weighted_median_above(x[i], w[i], c[i])[0] for i in range(400)])
            assert np.array_equal(got, med[:, 0] > c), (m, c[:3])


def _pooled_tail_pairwise(z, zstar, share):
    """The reference: for every agent i and peer j, the replicates of j's z* at least z_i,
    summed over the peers whose variance share is within the band of i's."""
    from analysis.gaming._sigutil import PRECISION_BAND

    n_boot, m = zstar.shape
    srt = np.sort(zstar, axis=0)
    exceed = np.empty((m, m), dtype=np.int64)
    for j in range(m):
        exceed[:, j] = n_boot - np.searchsorted(srt[:, j], z, side="left")
    near = np.abs(share[:, None] - share[None, :]) <= PRECISION_BAND + 1e-12
    return (1.0 + (exceed * near).sum(axis=1)) / (1.0 + n_boot * near.sum(axis=1))


def test_counted_pooled_tail_equals_the_pairwise_comparison():
    """_pooled_tail counts with prefix sums; the p-values are those of comparing every
    agent's z with every peer's z* one by one, exactly (ties, equal shares, shares at
    the edge of the band, a single agent)."""
    from analysis.gaming._sigutil import _pooled_tail

    rng = np.random.default_rng(3)
    for t in range(240):
        m, n_boot = int(rng.integers(1, 50)), int(rng.integers(1, 60))
        z, zstar = rng.standard_normal(m), rng.standard_normal((n_boot, m))
        share = rng.uniform(0, 1, m)
        if t % 3 == 0:  # ties between z and z*
            z, zstar = np.round(z, 1), np.round(zstar, 1)
            zstar[:, : m // 2] = z[: m // 2]
        if t % 4 == 1:
            share = np.round(share, 1)
        if t % 4 == 2:
            share = np.linspace(0.0, 0.3, m)  # neighbours exactly one band apart
        if t % 4 == 3:
            share = np.full(m, 0.5)
        want = _pooled_tail_pairwise(z, zstar, share)
        assert np.array_equal(_pooled_tail(z, zstar, share), want), t


def test_an_estimated_se_is_drawn_in_the_bootstrap():
    """An SE estimated on few df (a day-clustered SE of 5 days, floored by a known SE as
    end_of_day_stretch's is) makes a noisy agent's z heavier-tailed than the normal: with
    se_df and se_floor the tail is calibrated at .05, .01 and .001; without them the same
    worlds give about 2-3x nominal at .001 (so the test can fail)."""
    rng = np.random.default_rng(21)
    k, m = 4, 40
    with_df, without = [], []
    for _ in range(300):
        d = rng.standard_normal(m)  # no honest spread; true SE 1
        floor = np.full(m, 0.3)
        se = np.maximum(np.sqrt(rng.chisquare(k, m) / k), floor)
        with_df.append(peer_contrast_pvalues(d, se, n_boot=600, rng=rng, se_df=np.full(m, k),
                                             se_floor=floor)["p_value"].to_numpy())
        without.append(peer_contrast_pvalues(d, se, n_boot=600, rng=rng)["p_value"].to_numpy())
    p, q = np.concatenate(with_df), np.concatenate(without)
    for a in (0.05, 0.01, 0.001):
        limit = 1.2 * a + 3 * np.sqrt(a / p.size)
        assert np.mean(p <= a) <= limit, (a, np.mean(p <= a))
    assert np.mean(p <= 0.05) >= 0.7 * 0.05  # not bought by conservatism
    assert np.mean(q <= 0.001) > 1.5 * 0.001  # the normal reference's tail


def test_estimated_se_reference_lies_between_the_normal_and_students_t():
    """Where the sampling error is all of an agent's spread (tau estimated 0), the
    bootstrap reference of z with se_df = k lies between the normal (se known) and
    Student's t on k df (scipy: se estimated and tau known to be 0; the bootstrap
    re-estimates tau, which absorbs part of the replicates' small se*)."""
    rng = np.random.default_rng(5)
    m, k = 60, 6
    se = np.full(m, 1.0)
    d = np.r_[0.9 * stats.norm.ppf((np.arange(m - 3) + 0.5) / (m - 3)), 3.0, 3.6, 4.2]
    res = peer_contrast_pvalues(d, se, n_boot=20_000, rng=rng, se_df=np.full(m, k))
    known = peer_contrast_pvalues(d, se, n_boot=20_000, rng=np.random.default_rng(5))
    assert res["tau"].iloc[0] == 0.0
    top = res.iloc[-3:]
    assert (top["p_value"] < stats.t.sf(top["z"], k)).all()
    assert (top["p_value"] > 2 * stats.norm.sf(top["z"])).all()
    assert (top["p_value"] > 2 * known["p_value"].iloc[-3:]).all()
