"""Heavy-tailed honest spread for the peer contrasts (``peer_tails``, :mod:`._peert`).

The normal-t convolution's density, censored tail and scores are pinned against scipy
quadrature and numerical differences; the fit against scipy's optimiser; the choice of
``nu`` keeps the normal on normal worlds (gamers included: they only raise ``d``) and
goes heavy on t worlds; and the peer test is calibrated at .001 on worlds whose honest
spread is Student t3, where the normal null rejects several times too often.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from analysis.gaming import _peert as pt
from analysis.gaming import run_checks
from analysis.gaming._sigutil import peer_test_by_period, stratified_peer_test


def _conv(f, nu):
    """E f(T), T ~ t_nu, by adaptive quadrature."""
    edges = [-np.inf, -200, -30, -5, 0, 5, 30, 200, np.inf]
    return sum(integrate.quad(lambda t: f(t) * stats.t.pdf(t, nu), a, b, limit=400,
                              epsabs=0, epsrel=1e-11)[0]
               for a, b in zip(edges[:-1], edges[1:], strict=True))


@pytest.mark.parametrize("nu", [3.0, 5.0, 30.0])
def test_density_and_censored_tail_match_quadrature(nu):
    cases = [(0.3, 0.1, 0.2, False), (-2.5, 0.05, 0.2, False), (-6.0, 0.3, 1.0, False),
             (0.4, 0.2, 0.3, True), (-1.0, 0.02, 0.1, True), (-0.8, 0.5, 0.1, False)]
    for d, se, s, cens in cases:
        if cens:  # P(D > d)
            want = _conv(lambda t, d=d, se=se, s=s: stats.norm.sf(d, s * t, se), nu)
        else:
            want = _conv(lambda t, d=d, se=se, s=s: stats.norm.pdf(d, s * t, se), nu)
        ll, _ = pt._parts(np.array([d]), np.array([se**2]), np.array([cens]), np.zeros(1),
                          np.array([s]), nu)
        assert ll[0] == pytest.approx(np.log(want), abs=2e-4), (nu, d, se, s, cens)


def test_normal_is_the_plain_normal_likelihood():
    d, se, s = np.array([0.3, -1.0]), np.array([0.1, 0.4]), np.array([0.5, 0.5])
    ll, _ = pt._parts(d, se**2, np.array([False, True]), np.zeros(2), s, np.inf)
    sd = np.sqrt(s**2 + se**2)
    assert ll[0] == pytest.approx(stats.norm.logpdf(d[0], 0, sd[0]), rel=1e-12)
    assert ll[1] == pytest.approx(stats.norm.logsf(d[1], 0, sd[1]), rel=1e-12)


def test_scores_are_the_likelihoods_derivatives():
    d = np.array([0.3, -1.2, 0.5, 2.0, -0.4, -2.0])
    se2 = np.array([0.01, 0.04, 0.09, 0.02, 0.05, 0.01])
    cens = np.array([0, 0, 1, 1, -1, -1])
    mu, s = np.full(6, 0.1), np.full(6, 0.4)
    for nu in (3.0, 10.0, np.inf):
        _, sc = pt._parts(d, se2, cens, mu, s, nu)
        e = 1e-6
        num_mu = (pt._parts(d, se2, cens, mu + e, s, nu, score=False)[0]
                  - pt._parts(d, se2, cens, mu - e, s, nu, score=False)[0]) / (2 * e)
        num_ls = (pt._parts(d, se2, cens, mu, s * np.exp(e), nu, score=False)[0]
                  - pt._parts(d, se2, cens, mu, s * np.exp(-e), nu, score=False)[0]) / (2 * e)
        np.testing.assert_allclose(sc[:, 0], num_mu, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(sc[:, 1], num_ls, rtol=1e-5, atol=1e-8)


def _world(nu, groups=30, m=150, s=0.3, seed=1):
    rng = np.random.default_rng(seed)
    grp = np.repeat(np.arange(groups), m)
    se = rng.uniform(0.05, 0.3, groups * m)
    u = rng.standard_t(nu, grp.size) if np.isfinite(nu) else rng.standard_normal(grp.size)
    return 1.0 + s * u + se * rng.standard_normal(grp.size), se, grp


def test_censored_fit_is_scipys_maximum():
    d, se, grp = _world(3.0, groups=4, m=60, seed=3)
    x, cens = pt.lower_half(d, grp)
    assert cens.sum() == pytest.approx(len(d) / 2, abs=4)  # the upper halves
    for nu in (3.0, 10.0, np.inf):
        f = pt.fit_peer_t(x, se, grp, nu, cens=cens)
        assert f.converged.all()
        for g in range(4):
            r = grp == g
            def neg(th, r=r, nu=nu):
                k = int(r.sum())
                return -pt._parts(x[r], se[r] ** 2, cens[r], np.full(k, th[0]),
                                  np.full(k, np.exp(th[1])), nu, score=False)[0].sum()
            o = optimize.minimize(neg, [np.median(d[r]), np.log(0.3)], method="Nelder-Mead",
                                  options=dict(xatol=1e-9, fatol=1e-12, maxiter=4000))
            assert -neg([f.mu[g], np.log(f.s[g])]) >= -o.fun - 1e-6
            assert f.s[g] == pytest.approx(np.exp(o.x[1]), rel=1e-3)


def test_full_fit_recovers_the_spread():
    d, se, grp = _world(3.0, groups=20, m=300, seed=4)
    f = pt.fit_peer_t(d, se, grp, 3.0)
    assert np.median(f.s) == pytest.approx(0.3, rel=0.05)
    assert np.median(f.mu) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_choice_keeps_the_normal_on_normal_worlds_even_with_gamers(seed):
    d, se, grp = _world(np.inf, groups=12, m=120, seed=seed)
    assert pt.choose_peer_nu(d, se, grp, "auto")[0] == np.inf
    # one agent in twenty raises d by 3 to 6 spreads: a heavy *upper* tail that neither
    # the lower halves nor the shoulder below the 90th percentile see (a full likelihood
    # reads it as a t)
    rng = np.random.default_rng(seed)
    gam = rng.random(d.size) < 0.05
    d2 = d + gam * rng.uniform(0.9, 1.8, d.size)
    assert pt.choose_peer_nu(d2, se, grp, "auto")[0] == np.inf
    x = d2
    full = {nu: pt.fit_peer_t(x, se, grp, nu).loglik for nu in (3.0, np.inf)}
    assert full[3.0] > full[np.inf] + 10  # the gamers look like a t to the whole sample
    assert pt.choose_peer_nu(d, se, grp, "normal")[0] == np.inf
    assert np.isfinite(pt.choose_peer_nu(d, se, grp, "t")[0])


@pytest.mark.parametrize("seed", [1, 2])
def test_choice_goes_heavy_on_t_worlds(seed):
    d, se, grp = _world(3.0, groups=12, m=120, seed=seed)
    nu, ll = pt.choose_peer_nu(d, se, grp, "auto")
    assert nu <= 5.0
    assert ll["lower"][3.0] > ll["lower"][np.inf] + pt.NU_REJECT


def test_choice_sees_a_tail_heavy_on_the_upper_side_only():
    """log(1 + x) of a heavy-tailed habit: the lower tail is squeezed, the lower halves
    look normal, and the upper shoulder carries the choice."""
    rng = np.random.default_rng(8)
    groups, m = 12, 150
    grp = np.repeat(np.arange(groups), m)
    x = 1.0 * np.exp(0.8 * rng.standard_t(3, grp.size) / np.sqrt(3))  # seconds a call
    se = np.full(grp.size, 0.05)
    d = np.log1p(x) + se * rng.standard_normal(grp.size)
    nu, ll = pt.choose_peer_nu(d, se, grp, "auto")
    assert pt._decide(ll["lower"], "auto") == np.inf  # the lower halves alone: normal
    assert nu <= 5.0
    # the band: exact between the median and the 90th percentile, censored either side
    xb, cens = pt.upper_band(d, grp)
    assert (cens == 0).mean() == pytest.approx(0.4, abs=0.02)
    assert (cens == -1).mean() == pytest.approx(0.5, abs=0.02)
    assert np.all(xb[cens == 1] <= d[cens == 1]) and np.all(xb[cens == -1] >= d[cens == -1])


def test_below_censoring_is_the_lower_tail_probability():
    for nu in (3.0, np.inf):
        ll, _ = pt._parts(np.array([-0.7]), np.array([0.04]), np.array([-1]), np.zeros(1),
                          np.array([0.5]), nu)
        if np.isfinite(nu):
            want = _conv(lambda t: stats.norm.cdf(-0.7, 0.5 * t, 0.2), nu)
        else:
            want = stats.norm.cdf(-0.7, 0, np.sqrt(0.25 + 0.04))
        assert ll[0] == pytest.approx(np.log(want), abs=2e-4)


@pytest.mark.parametrize("se", [1e-9, 0.0])
def test_values_on_a_lattice_without_sampling_error_do_not_break_the_choice(se):
    """Rounded values with (almost) no sampling error: the fit's step matrices become
    singular; the groups stop there instead of raising (a check must not crash on it)."""
    grp = np.repeat(np.arange(3), 30)
    for seed in range(5):
        d = np.round(np.random.default_rng(seed).standard_normal(90), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no numpy warning escapes
            for tails in ("auto", "t"):
                nu, _ = pt.choose_peer_nu(d, np.full(90, se), grp, tails)
                assert nu in pt.NU_GRID


def test_unknown_tails_word_is_refused():
    d, se, grp = _world(np.inf, groups=2, m=20)
    with pytest.raises(ValueError, match="auto, normal, t"):
        pt.choose_peer_nu(d, se, grp, "cauchy")


def _table(nu, groups, m, seed, s=0.4):
    d, se, grp = _world(nu, groups=groups, m=m, s=s, seed=seed)
    return pd.DataFrame({"agent_id": [f"a{i % m}" for i in range(d.size)],
                         "period": grp.astype(str), "d": d, "se": se})


@pytest.mark.slow
def test_peer_test_is_calibrated_at_001_under_a_t3_spread():
    """20 groups of 200 agents, honest spread t3 (4,000 null tests): the normal null
    rejects at .001 many times nominal; the chosen t is within 2.5x of nominal."""
    t = _table(3.0, 20, 200, seed=11)
    rate = {}
    for tails in ("normal", "auto"):
        res, notes = peer_test_by_period(t, rng=np.random.default_rng(0), tails=tails)
        rate[tails] = float((res["p_value"] < 1e-3).mean())
        assert any("between-agent spread" in n for n in notes)
    assert rate["normal"] > 5e-3          # the failure being fixed
    assert rate["auto"] < 2.5e-3
    assert 0.03 < float((res["p_value"] < 0.05).mean()) < 0.07


def test_planted_shift_is_found_under_auto_on_a_normal_world():
    """On a normal world auto keeps the normal: the same p-values, the same power."""
    t = _table(np.inf, 6, 120, seed=12)
    gam = t.index[t["agent_id"].isin(["a0", "a1", "a2"])]
    t.loc[gam, "d"] += 2.0  # 4 standard deviations (spread and sampling error) up
    res, notes = peer_test_by_period(t, rng=np.random.default_rng(0), tails="auto")
    assert "between-agent spread: normal" in notes[0]
    ref, _ = peer_test_by_period(t, rng=np.random.default_rng(0), tails="normal")
    np.testing.assert_array_equal(res["p_value"].to_numpy(), ref["p_value"].to_numpy())
    assert (res.loc[gam, "p_value"] < 1e-3).mean() >= 0.8
    assert (res.drop(gam)["p_value"] < 1e-3).mean() < 0.01
    # forcing the t costs that power
    heavy, _ = peer_test_by_period(t, rng=np.random.default_rng(0), tails="t")
    assert (heavy.loc[gam, "p_value"] < 1e-3).mean() < (res.loc[gam, "p_value"] < 1e-3).mean()


def test_stratified_test_uses_one_choice_for_all_queue_period_groups():
    rng = np.random.default_rng(7)
    rows = []
    for per in ("2024-01", "2024-02"):
        for q in ("A", "B"):
            u = 0.4 * rng.standard_t(3, 150)
            for i in range(150):
                rows.append(dict(agent_id=f"a{i}", period=per, queue=q, n=200,
                                 d=u[i] + 0.05 * rng.standard_normal(), se=0.05))
    cells = pd.DataFrame(rows)
    res, notes = stratified_peer_test(cells, rng=np.random.default_rng(0), tails="auto")
    spread = [n for n in notes if n.startswith("between-agent spread")]
    assert len(spread) == 1 and "Student t" in spread[0]
    res_n, notes_n = stratified_peer_test(cells, rng=np.random.default_rng(0), tails="normal")
    assert "normal (forced by option peer_tails=normal)" in notes_n[-1]
    # an agent at the t's far tail is far less extreme against the t null
    top = res["z"].idxmax()
    assert res.loc[top, "p_value"] > 10 * res_n.loc[top, "p_value"]


def test_a_wrong_peer_tails_word_skips_the_checks_naming_the_words():
    from analysis.gaming._sigsim import simulate_calls

    df = simulate_calls(n_agents=20, days=5, seed=3)
    rep = run_checks(df, options={"peer_tails": "cauchy", "raise_errors": False})
    sk = rep.skipped
    for name in ("acw_inflation", "hold_inflation", "repeat_after_short", "transfer_dumping"):
        assert name in sk and "peer_tails must be one of auto, normal, t" in sk[name], sk


@pytest.mark.slow
def test_heavy_tailed_habits_do_not_flag_honest_agents_by_default():
    """A null world (no gaming) whose agents' after-call work and hold carry a t3 factor:
    the normal spread puts several honest agent-periods at p < .001; the default chooses
    the t from the lower halves and puts (almost) none there. Either way no agent is flagged:
    a level against peers is evidence, not a decision (``_agents.EVIDENCE_ONLY``)."""
    from analysis.gaming._sigsim import simulate_calls

    df = simulate_calls(n_agents=200, days=61, seed=801, messy=True, habit_tail=0.8)
    out = {}
    for tails in ("normal", "auto"):
        rep = run_checks(df, checks=["acw_inflation", "hold_inflation"],
                         options={"peer_tails": tails, "seed": 1})
        out[tails] = (int((rep.flags["p_value"] < 1e-3).sum()),
                      int(rep.agents.query("scope == 'all'")["flagged"].sum()))
        if tails == "auto":
            assert any("Student t" in n for n in rep.notes["hold_inflation"])
    assert out["normal"][0] >= 8  # 1,200 tests: 1.2 expected
    assert out["auto"][0] <= 3
    assert out["normal"][1] == out["auto"][1] == 0
