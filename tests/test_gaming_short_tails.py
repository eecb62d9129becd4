"""Heavy-tailed (logit-t) null for the short-call peer test (``short_tails``).

Pinned against scipy quadrature and scipy's optimiser on small cases (the t latent in
``_logitnorm``, the censored likelihood that chooses ``nu``); calibration in the tail on
worlds whose honest short-call propensities are Student t and shared across queues,
where the logit-normal null rejects several times too often at .001; the choice keeps
the normal (and its power) where the data do not reject it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

from analysis.gaming import _logitnorm as ln
from analysis.gaming import _logitt as lt
from analysis.gaming import run_checks
from analysis.gaming._sigsim import simulate_calls
from analysis.gaming.short_calls import choose_latent_nu, short_calls_peer_table


def _expect(f, nu):
    """E f(T) by adaptive quadrature, T ~ t_nu (or N(0, 1))."""
    dist = stats.norm if not np.isfinite(nu) else stats.t(nu)
    edges = [-np.inf, -200, -30, -5, 0, 5, 30, 200, np.inf]
    return sum(integrate.quad(lambda t: f(t) * dist.pdf(t), a, b, limit=400,
                              epsabs=1e-15, epsrel=1e-11)[0]
               for a, b in zip(edges[:-1], edges[1:], strict=True))


@pytest.mark.parametrize("nu", [3.0, 5.0])
def test_location_and_tail_under_a_t_latent_match_quadrature(nu):
    for mean, s, k, n in [(0.03, 0.5, 60, 900), (0.03, 0.3, 12, 200), (0.2, 1.0, 90, 300)]:
        m = ln.solve_location([mean], [s], nu=nu)[0]
        assert _expect(lambda t, m=m, s=s: special.expit(m + s * t), nu) == pytest.approx(
            mean, rel=1e-7)
        want = _expect(lambda t, m=m, s=s, k=k, n=n: stats.binom.sf(
            k - 1, n, special.expit(m + s * t)), nu)
        got = ln.tail_pvalue_rows([k], [n], [m], [s], nu=nu)[0]
        assert got == pytest.approx(want, rel=3e-3), (mean, s, k, n)
        # several queues sharing the latent: the exact sum against the single-queue value
        # when the second queue is empty of calls
        two = ln.tail_pvalue(k, [n, 1], [m, m], [s, s], nu=nu)
        assert two >= got - 1e-12
    # the normal keeps its own (Gauss-Hermite) rule: nu=inf changes nothing
    assert ln.solve_location([0.03], [0.5], nu=np.inf)[0] == ln.solve_location([0.03], [0.5])[0]


def test_spread_fit_under_a_t_latent_is_the_likelihoods_maximum():
    """fit_sigma(nu=3) equals scipy's bounded search on the plain likelihood at nu=3."""
    rng = np.random.default_rng(5)
    size = 300
    n = rng.integers(100, 1500, size).astype(float)
    mean = np.full(size, 0.03)
    s_true = 0.4
    m0 = ln.solve_location(mean, np.full(size, s_true), nu=3.0)
    k = rng.binomial(n.astype(int), special.expit(m0 + s_true * stats.t.rvs(3, size=size,
                                                                              random_state=rng)))

    def neg(sig):
        s = np.full(size, sig)
        return -ln._loglik(k.astype(float), n, ln.solve_location(mean, s, nu=3.0), s, nu=3.0)

    fit = ln.fit_sigma(k, n, mean, nu=3.0)
    ref = optimize.minimize_scalar(neg, bounds=(0.05, 2.0), method="bounded",
                                   options={"xatol": 1e-5})
    assert fit == pytest.approx(ref.x, abs=5e-3)
    # and the normal fit to the same heavy-tailed counts is a different number
    assert abs(ln.fit_sigma(k, n, mean) - fit) > 0.02


def test_censored_likelihood_and_its_maximum_match_scipy():
    """The censored logit-t likelihood (rows above the median known only as "above")
    equals adaptive quadrature, and fit_logit_t's maximum equals scipy's Nelder-Mead."""
    rng = np.random.default_rng(9)
    n = rng.integers(50, 400, 14).astype(float)
    k = rng.binomial(n.astype(int), special.expit(-3 + 0.5 * rng.standard_t(3, 14))).astype(float)
    grp = np.zeros(14, dtype=int)
    cens = lt.lower_half_censoring(k, n, grp)
    assert ((cens >= 0) == (k > np.floor(n * np.median(k / n) + 1e-9))).all()
    assert 0 < (cens >= 0).sum() < 14

    def ll(mu, s, nu):
        tot = 0.0
        for kk, nn, c in zip(k, n, cens, strict=True):
            if c >= 0:
                f = lambda t, nn=nn, c=c: stats.binom.sf(c, nn, special.expit(mu + s * t))  # noqa: E731
            else:
                f = lambda t, nn=nn, kk=kk: stats.binom.pmf(kk, nn, special.expit(mu + s * t))  # noqa: E731
            tot += np.log(_expect(f, nu))
        return tot

    for nu in (3.0, np.inf):
        fit = lt.fit_logit_t(k, n, grp, nu, cens=cens)
        assert fit.converged.all()
        want = ll(fit.mu[0], fit.sigma[0], nu)
        lbin = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
        got = lt._parts(k, n, lbin, np.full(14, fit.mu[0]), np.full(14, fit.sigma[0]), nu,
                        second=False, cens=cens)[0].sum()
        assert got == pytest.approx(want, abs=2e-3)
        # the maximum by the quadrature likelihood: no step of 0.05 in mu or log sigma
        # (either sign) improves it, and a step of 0.3 costs a visible amount
        mu, ls = fit.mu[0], np.log(fit.sigma[0])
        for dm, dl in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
            assert ll(mu + dm, np.exp(ls + dl), nu) <= want + 1e-6
        assert ll(mu + 0.3, np.exp(ls), nu) < want - 0.05


def _t_world_pvalues(tails: str, worlds: int, seed0: int) -> np.ndarray:
    """Pooled short_calls_peer p-values on messy 20-day null worlds (Student t3
    propensities shared across queues, agent-day swings, drift), without ended_by."""
    out = []
    for i in range(worlds):
        df = simulate_calls(n_agents=200, days=20, seed=seed0 + i, messy=True)
        df["ended_by"] = None
        rep = run_checks(df, checks=["short_calls_peer"],
                         options={"raise_errors": True, "short_tails": tails})
        out.append(rep.flags["p_value"].dropna().to_numpy())
    return np.concatenate(out)


@pytest.mark.slow
def test_forced_logit_t_is_calibrated_in_the_tail_where_the_normal_is_not():
    """Ten messy worlds of 200 agents: at .001 the logit-normal null rejects 13-17x too
    often; the logit-t null (heaviest nu the lower halves do not reject) stays within
    binomial limits at .01 and .001."""
    p_t = _t_world_pvalues("logit-t", 10, 300)
    p_n = _t_world_pvalues("normal", 10, 300)
    assert len(p_t) == len(p_n) == 2000
    for a in (0.01, 0.001):
        lim = a + 3 * np.sqrt(a * (1 - a) / len(p_t)) + 1e-4
        assert np.mean(p_t < a) <= lim, (a, np.mean(p_t < a))
    assert np.mean(p_n < 0.001) > 5 * 0.001  # the trap the option avoids


def test_choice_keeps_the_normal_on_normal_worlds_and_sees_a_heavy_tail():
    """``auto`` keeps the logit-normal where the lower halves do not reject it (its power is
    kept); on counts drawn from a t3 latent across 4 cells of 400 agents it goes heavy."""
    rng = np.random.default_rng(4)
    cells = np.repeat(np.arange(4), 400)
    n = rng.integers(300, 1500, len(cells)).astype(float)
    kept = 0
    for _ in range(5):
        k_norm = rng.binomial(n.astype(int), special.expit(-3.4 + 0.5 * rng.standard_normal(len(n))))
        kept += choose_latent_nu(k_norm, n, cells) == np.inf
    assert kept >= 4
    k_t = rng.binomial(n.astype(int), special.expit(-3.4 + 0.3 * rng.standard_t(3, len(n))))
    assert choose_latent_nu(k_t, n, cells) <= 10
    assert choose_latent_nu(k_norm, n, cells, "normal") == np.inf
    assert np.isfinite(choose_latent_nu(k_norm, n, cells, "logit-t"))
    with pytest.raises(ValueError, match="auto, normal or logit-t"):
        choose_latent_nu(k_norm, n, cells, "cauchy")


def test_gamers_do_not_make_the_choice_heavy():
    """Ten of 200 agents hanging up on 15 % of calls make a heavy upper tail; the choice
    reads only the lower halves, so the normal stays and they keep their p-values."""
    rng = np.random.default_rng(12)
    rows = []
    for q in range(3):
        n = rng.integers(400, 1400, 200)
        r = special.expit(-3.4 + 0.45 * rng.standard_normal(200))
        r[:10] = r[:10] + 0.15
        k = rng.binomial(n, r)
        rows.append(pd.DataFrame({"agent_id": [f"A{i:03d}" for i in range(200)],
                                  "period": "2024-01", "queue": f"Q{q}", "n": n, "k": k}))
    c = pd.concat(rows, ignore_index=True)
    tab = short_calls_peer_table(c, seed=1)
    assert tab.attrs["nu"] == np.inf
    g = tab[tab["agent_id"].isin([f"A{i:03d}" for i in range(10)])]
    assert (g["p_value"] < 1e-4).mean() >= 0.9


def test_unknown_short_tails_value_is_a_skip_naming_the_choices():
    from analysis.gaming._sigsim import make_context
    from analysis.gaming.short_calls import check_short_calls_peer

    df = simulate_calls(n_agents=20, days=5, seed=3)
    res = check_short_calls_peer(make_context(df, options={"short_tails": "cauchy"}))
    assert "auto, normal, logit-t" in res.skipped and "cauchy" in res.skipped
    assert res.flags.empty


def test_a_tiny_group_at_the_scale_bound_stops_instead_of_retrying():
    """Three agents, one short call among them, the count above the median censored: the
    likelihood rises towards an infinite scale, which stops at its bound. The fit says it
    converged after a few iterations (the bank's months had two such cells; each once cost
    60 iterations of 20 halvings)."""
    k, n = np.array([1.0, 0.0, 0.0]), np.array([24.0, 62.0, 81.0])
    grp = np.zeros(3, dtype=int)
    cens = lt.lower_half_censoring(k, n, grp)
    assert cens.tolist() == [0.0, -1.0, -1.0]
    few = lt.fit_logit_t(k, n, grp, 3.0, cens=cens, n_iter=8)
    many = lt.fit_logit_t(k, n, grp, 3.0, cens=cens, n_iter=60)
    assert few.converged.all()
    assert few.loglik == pytest.approx(many.loglik, abs=1e-9)
    assert few.sigma[0] == pytest.approx(np.exp(lt._LOG_SIGMA[1]))
