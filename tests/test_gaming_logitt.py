"""Logit-t-binomial null (``_logitt``) and the transfer-rate test that uses it.

Pinned against scipy quadrature and scipy's optimiser on small cases; calibration of
the transfer-rate p-values when honest propensities are heavy-tailed and shared across
queues (where the beta-binomial null rejects several times too often at .001), and
the choice between the beta and the logit-t by likelihood.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from analysis.gaming import _logitt as L
from analysis.gaming.transfers import _rate_pvalues


def _quad_tail(k, n, mu, s, nu):
    """P(K >= k), K ~ Bin(n, expit(mu + s T)), T ~ t_nu (or N(0,1)), by adaptive quadrature."""
    dist = stats.norm if not np.isfinite(nu) else stats.t(nu)

    def f(t):
        return stats.binom.sf(k - 1, n, special.expit(mu + s * t)) * dist.pdf(t)

    edges = [-np.inf, -50, -10, -3, 0, 3, 10, 50, 500, np.inf]
    return sum(integrate.quad(f, a, b, limit=400, epsabs=1e-16, epsrel=1e-10)[0]
               for a, b in zip(edges[:-1], edges[1:], strict=True))


@pytest.mark.parametrize("nu", [3.0, 10.0, np.inf])
def test_upper_tail_matches_quadrature(nu):
    for k, n, mu, s in [(12, 200, -2.5, 0.4), (60, 200, -2.5, 0.4), (0, 50, -1.0, 0.3),
                        (150, 300, -3.0, 0.2), (5, 5, -0.5, 1.0)]:
        want = _quad_tail(k, n, mu, s, nu)
        got = L.upper_tail([k], [n], [mu], [s], nu)[0]
        # the U panels' 8-point rules resolve the binomial's steep edge to 0.1-2 % of p
        # (a wrong df or scale is off by far more: t3 vs t10 differ 5-fold at p 3e-4)
        assert got == pytest.approx(want, rel=3e-3, abs=1e-14), (k, n, mu, s, nu)


def _loglik_quad(k, n, mu, s, nu):
    dist = stats.norm if not np.isfinite(nu) else stats.t(nu)
    tot = 0.0
    for kk, nn in zip(k, n, strict=True):
        def f(t, kk=kk, nn=nn):
            return stats.binom.pmf(kk, nn, special.expit(mu + s * t)) * dist.pdf(t)
        tot += np.log(sum(integrate.quad(f, a, b, limit=200)[0]
                          for a, b in [(-np.inf, -5), (-5, 5), (5, np.inf)]))
    return tot


def test_fit_is_the_maximum_of_the_likelihood_by_quadrature():
    """Hand check with scipy: the log-likelihood, integrated by adaptive quadrature, equals
    the fit's and is flat (central differences) at the fitted (mu, sigma)."""
    rng = np.random.default_rng(3)
    n = rng.integers(40, 300, 12)
    k = rng.binomial(n, special.expit(-2.2 + 0.5 * stats.t.rvs(3, size=12, random_state=rng)))
    for nu in (3.0, np.inf):
        fit = L.fit_logit_t(k, n, np.zeros(12, int), nu)
        m, s, h = fit.mu[0], fit.sigma[0], 1e-4
        assert fit.loglik == pytest.approx(_loglik_quad(k, n, m, s, nu), abs=1e-6)
        d_mu = (_loglik_quad(k, n, m + h, s, nu) - _loglik_quad(k, n, m - h, s, nu)) / (2 * h)
        d_ls = (_loglik_quad(k, n, m, s * np.exp(h), nu)
                - _loglik_quad(k, n, m, s * np.exp(-h), nu)) / (2 * h)
        assert abs(d_mu) < 1e-3 and abs(d_ls) < 1e-3, (nu, d_mu, d_ls)
        # and a nearby point is worse
        assert _loglik_quad(k, n, m + 0.05, s, nu) < fit.loglik


def test_leave_one_out_is_the_refit_without_the_agent():
    rng = np.random.default_rng(5)
    n = rng.integers(30, 400, 8).astype(float)
    k = rng.binomial(n.astype(int), 0.08).astype(float)
    k[0] = np.round(0.35 * n[0])  # far above the crowd: screened, refitted
    g = np.zeros(8, int)
    fit = L.fit_logit_t(k, n, g, 3.0)
    mu, sg = L.loo_params(k, n, g, fit)
    ref = L.fit_logit_t(k[1:], n[1:], np.zeros(7, int), 3.0)
    assert mu[0] == pytest.approx(ref.mu[0], abs=1e-5)
    assert sg[0] == pytest.approx(ref.sigma[0], rel=1e-4)
    assert mu[0] < fit.mu[0]  # the outlier pulled the all-agents fit up


def _heavy_cells(rng, *, groups=12, agents=150, queues=2, df=3.0, scale=0.35):
    """Counts with Student-t agent propensities on the log-rate, shared by the agent's queues."""
    rows = []
    for g in range(groups):
        per = f"P{g:02d}"
        z = stats.t.rvs(df, size=agents, random_state=rng) / np.sqrt(df / (df - 2))
        base = 0.08 * np.exp(rng.normal(0, 0.3, queues))
        for i in range(agents):
            qs = [0] if rng.random() < 0.6 else list(range(queues))
            for q in qs:
                n = int(rng.integers(150, 700))
                p = min(base[q] * np.exp(scale * z[i] + rng.normal(0, 0.1)), 0.9)
                rows.append(dict(agent_id=f"A{i:03d}", period=per, queue=f"q{q}", n=n,
                                 k=int(rng.binomial(n, p))))
    return pd.DataFrame(rows).sort_values(["agent_id", "period", "queue"], ignore_index=True)


def test_transfer_rate_calibrated_in_the_tail_under_heavy_tailed_propensities():
    """Null rejection at .01 and .001 within binomial limits with the chosen null; the beta
    null on the same counts rejects several times too often at .001 (the test can fail)."""
    cells = _heavy_cells(np.random.default_rng(11))
    auto = _rate_pvalues(cells)
    assert auto.attrs["rate_null"].startswith("logit-t")
    beta = _rate_pvalues(cells, tails="beta")
    m = len(auto)
    assert m > 1500
    for alpha in (0.01, 0.001):
        lim = alpha * m + 3 * np.sqrt(alpha * m) + 1
        assert (auto["p_rate"] < alpha).sum() <= lim, (alpha, (auto["p_rate"] < alpha).sum(), m)
    assert (auto["p_rate"] < 0.05).mean() >= 0.02  # not empty: still a test
    # the beta null fails the same bound on the same counts (~9x nominal at .001)
    assert (beta["p_rate"] < 0.001).sum() > 0.001 * m + 3 * np.sqrt(0.001 * m) + 1


def test_beta_propensities_keep_the_beta_null():
    """Honest rates beta-distributed (the clean simulator): the likelihood keeps the beta,
    so the transfer check's power there is what it was."""
    rng = np.random.default_rng(2)
    rows = []
    for per in ("2026-01", "2026-02", "2026-03"):
        for q, mu in (("a", 0.05), ("b", 0.1)):
            p = rng.beta(mu * 80, (1 - mu) * 80, 200)
            n = rng.integers(200, 800, 200)
            rows += [dict(agent_id=f"A{i:03d}", period=per, queue=q, n=int(n[i]),
                          k=int(rng.binomial(n[i], p[i]))) for i in range(200)]
    cells = pd.DataFrame(rows).sort_values(["agent_id", "period", "queue"], ignore_index=True)
    assert _rate_pvalues(cells).attrs["rate_null"] == "beta"


def test_planted_excess_still_found_under_the_heavy_tailed_null():
    """Power: agents transferring 4x their propensity stand out even against t tails.

    An honest agent of these worlds reaches 4x with probability ~.003 (t3 on the log
    rate, SD 0.35), so p < .01 is where any test can see them."""
    rng = np.random.default_rng(8)
    cells = _heavy_cells(rng, groups=4)
    gamers = [f"A{i:03d}" for i in range(0, 150, 15)]
    hit = cells["agent_id"].isin(gamers)
    cells.loc[hit, "k"] = np.minimum(cells.loc[hit, "k"] * 4, cells.loc[hit, "n"])
    p = _rate_pvalues(cells)
    g = p[p["agent_id"].isin(gamers)]["p_rate"]
    assert (g < 0.01).mean() >= 0.6


@pytest.mark.parametrize("predictive", [False, True])
def test_several_queues_share_one_latent_pinned_to_quadrature(predictive):
    """An agent working several queues: P(sum_q Bin(n_q, expit(mu_q + s_q T)) >= k) with one
    t latent, each queue's (mu_q, s_q) refitted without the agent; reference by scipy
    (binomial pmfs convolved, adaptive quadrature over T). With the predictive null (the
    default) each scale is first moderated towards the queues' median squared scale (10
    prior df) and widened by sqrt((m + 1) / (m - 1)), and T has
    floor(1 / (1/nu + 1/(10 + m - 1))) df, ``m`` the fewest peers of the agent's cells."""
    cells = _heavy_cells(np.random.default_rng(4), groups=1, agents=120, queues=3)
    got = _rate_pvalues(cells, tails="logit-t", predictive=predictive)
    nu = float(got.attrs["rate_null"].split(", ")[1].split(" ")[0])
    multi = cells.groupby("agent_id").filter(lambda g: len(g) > 1)
    low = got[got["agent_id"].isin(multi["agent_id"])].nsmallest(3, "p_rate")
    assert low["p_rate"].min() < 0.05
    full = {q: L.fit_logit_t(g["k"], g["n"], np.zeros(len(g), int), nu)
            for q, g in cells.groupby("queue")}
    s0 = np.median([f.sigma[0] ** 2 for f in full.values()])
    for r in low.itertuples():
        mine = cells[cells["agent_id"] == r.agent_id]
        mus, sgs, ms = [], [], []
        for q, kq, nq in zip(mine["queue"], mine["k"], mine["n"], strict=True):
            grp = cells[cells["queue"] == q]
            f = full[q]
            # the rule: a cell above the crowd (p < .05 under the all-agents fit; groups of
            # 40 or more) is tested against the refit without the agent
            if L.upper_tail([kq], [nq], f.mu, f.sigma, nu)[0] < 0.05:
                peers = grp[grp["agent_id"] != r.agent_id]
                f = L.fit_logit_t(peers["k"], peers["n"], np.zeros(len(peers), int), nu)
            m = len(grp) - 1
            mus.append(f.mu[0])
            sgs.append(np.sqrt((10 * s0 + (m - 1) * f.sigma[0] ** 2) / (10 + m - 1))
                       if predictive else f.sigma[0])
            ms.append(m)
        ns = mine["n"].to_numpy()
        df = nu
        if predictive:
            m = min(ms)
            sgs = list(np.array(sgs) * np.sqrt((m + 1) / (m - 1)))
            df = float(np.floor(1 / ((1 / nu if np.isfinite(nu) else 0) + 1 / (10 + m - 1))))
            assert df < nu

        def tail(t, ns=ns, mus=mus, sgs=sgs, k=int(r.k), df=df):
            pmf = np.array([1.0])
            for nq, m, s in zip(ns, mus, sgs, strict=True):
                pmf = np.convolve(pmf, stats.binom.pmf(np.arange(nq + 1), nq, special.expit(m + s * t)))
            return pmf[k:].sum() * (stats.t.pdf(t, df) if np.isfinite(df) else stats.norm.pdf(t))

        edges = [-np.inf, -10, 0, 3, 6, 10, 20, 50, 200, np.inf]
        want = sum(integrate.quad(tail, a, b, limit=200, epsabs=1e-15)[0]
                   for a, b in zip(edges[:-1], edges[1:], strict=True))
        assert r.p_rate == pytest.approx(want, rel=3e-3), r.agent_id


def test_choice_on_a_sample_of_whole_groups_stays_calibrated(monkeypatch):
    """Large centers choose the family and ``nu`` on whole queue x period groups drawn at
    random up to ``CHOICE_CELLS`` cells, then fit the chosen model to all cells. On a third
    of the groups the heavy-tailed family is still chosen (``nu`` may differ: 5 here
    against 3 on all of them) and the tail stays within binomial limits."""
    from analysis.gaming import transfers as T

    cells = _heavy_cells(np.random.default_rng(11))
    g = cells.groupby(["period", "queue"]).ngroup().to_numpy()
    monkeypatch.setattr(T, "CHOICE_CELLS", len(cells) // 3)
    ks, ns, gs, sub = T._choice_sample(cells["k"].to_numpy(float), cells["n"].to_numpy(float), g)
    assert sub and 0 < len(ks) <= len(cells) // 3
    # whole groups: the sampled groups' sizes are a sub-multiset of the groups' sizes
    left = list(np.bincount(g))
    for size in np.bincount(gs):
        assert size in left
        left.remove(size)
    sampled = _rate_pvalues(cells)
    assert sampled.attrs["rate_null"].startswith("logit-t")
    m = len(sampled)
    assert m == len(cells.groupby(["agent_id", "period"]))
    for alpha in (0.01, 0.001):
        lim = alpha * m + 3 * np.sqrt(alpha * m) + 1
        assert (sampled["p_rate"] < alpha).sum() <= lim
