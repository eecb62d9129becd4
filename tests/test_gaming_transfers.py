"""Transfer dumping: beta-binomial tail pinned to scipy, calibration, power, skips
(the logit-t rate null: ``test_gaming_logitt.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.gaming._sigsim import make_context, null_pvalues, rejection_summary, simulate_calls
from analysis.gaming.transfers import check_transfer_dumping, sum_betabinom_sf, transfer_cells

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def test_single_component_tail_matches_scipy_betabinom():
    for k, n, a, b in [(7, 50, 2.0, 30.0), (0, 10, 1.5, 3.0), (40, 40, 5.0, 1.0)]:
        assert sum_betabinom_sf(k, [n], [a], [b]) == pytest.approx(
            stats.betabinom.sf(k - 1, n, a, b), rel=1e-9, abs=1e-14
        )


def test_two_components_match_brute_force_convolution():
    n1, a1, b1, n2, a2, b2 = 30, 2.0, 20.0, 45, 3.0, 40.0
    p1 = stats.betabinom.pmf(np.arange(n1 + 1), n1, a1, b1)
    p2 = stats.betabinom.pmf(np.arange(n2 + 1), n2, a2, b2)
    tot = np.zeros(n1 + n2 + 1)
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            tot[i + j] += p1[i] * p2[j]
    for k in (0, 5, 12, 30):
        assert sum_betabinom_sf(k, [n1, n2], [a1, a2], [b1, b2]) == pytest.approx(
            tot[k:].sum(), rel=1e-9
        )


def test_cells_pinned_against_pandas():
    calls = simulate_calls(n_agents=8, days=2, seed=3, customers=False)
    cells = transfer_cells(make_context(calls))
    h = calls[calls["agent_id"].notna()]
    g = h.groupby(["agent_id", "queue"]).agg(
        n=("call_id", "size"), k=("outcome", lambda s: int((s == "transferred").sum()))
    )
    got = cells.set_index(["agent_id", "queue"])[["n", "k"]].sort_index()
    assert (got.to_numpy() == g.sort_index().to_numpy()).all()
    t = h[h["outcome"] == "transferred"].assign(y=lambda x: np.log1p(x["talk_s"]))
    st = t.groupby(["agent_id", "queue"])["y"].sum()
    np.testing.assert_allclose(cells.set_index(["agent_id", "queue"]).loc[st.index, "st"], st)


@pytest.mark.slow
def test_calibrated_on_null_worlds():
    """Honest transfer rates beta-distributed around each queue's rate (as in analysis.synth)."""
    tab = rejection_summary(null_pvalues("transfer_dumping"))
    for r in tab.itertuples():
        assert 0.4 * r.alpha <= r.rate <= r.alpha + 3 * r.se, tab


@pytest.mark.parametrize(
    ("effect", "tails", "min_recall"),
    [({"transfer": 3.0}, "beta", 0.5), ({"transfer": 3.0}, "auto", 0.25),
     ({"transfer_talk": 0.5}, "auto", 0.6)],
)
def test_power_on_planted_dumping(effect, tails, min_recall):
    """Rate-only dumping by 8 of 80 agents at 3x: that many make the spread of rates
    heavy-tailed, so the likelihood chooses logit-t tails (t5) and recall at p < .05 falls
    from ~0.56 (beta null, forced) to ~0.31: the price of calibrated tails when honest
    propensities are heavy-tailed (``test_gaming_logitt.py``), and of a null whose spread
    is an estimate from ~27 agents a queue (the predictive null: 0.62 and 0.44 with the
    fitted spread taken as known, which put honest agents of groups of a dozen at
    p < .001 ten times too often: ``test_rate_null_keeps_its_level_with_a_dozen_peers``).
    Early transfers are found either way."""
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w, customers=False,
                               effects={g: effect for g in GAMERS})
        f = check_transfer_dumping(make_context(calls, options={"transfer_tails": tails})).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= min_recall
    assert np.mean(fp) <= 0.12


def test_skipped_without_transfers():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    calls["outcome"] = calls["outcome"].replace("transferred", "answered")
    res = check_transfer_dumping(make_context(calls))
    assert "transferred" in res.skipped and res.flags.empty


def test_unknown_tails_option_is_a_skip_with_the_choices():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    res = check_transfer_dumping(make_context(calls, options={"transfer_tails": "cauchy"}))
    assert "auto, beta or logit-t" in res.skipped and res.flags.empty


def test_synthetic_center_dumpers_found():
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="transfer_dumping=2")
    f = check_transfer_dumping(make_context(c.calls)).flags
    dump = set(c.truth.loc[c.truth["behaviour"] == "transfer_dumping", "agent_id"])
    for _per, g in f.groupby("period"):
        assert set(g.nsmallest(2, "p_value")["agent_id"]) == dump
    assert f[f["agent_id"].isin(dump)]["effect"].min() > 5  # > 5 excess transfers per 100


# ------------------------------------------------------------ vectorised leave-one-out refit


def _exact_loo(k, n, screen_p=0.3, min_peers=3):
    """Reference: one ``fit_betabinom`` refit per agent above the crowd (weight 0 for the agent)."""
    from analysis.gaming._betabinom import betabinom_pvalue, fit_betabinom

    a = np.full(len(k), np.nan)
    b = np.full(len(k), np.nan)
    if int((n > 0).sum()) <= min_peers:
        return a, b
    full = fit_betabinom(k, n)
    a[:], b[:] = full
    for i in np.nonzero(betabinom_pvalue(k.astype(int), n.astype(int), *full) < screen_p)[0]:
        w = (n > 0).astype(float)
        w[i] = 0.0
        if w.sum() < min_peers:
            a[i] = b[i] = np.nan
        else:
            a[i], b[i] = fit_betabinom(k, n, weights=w, start=full)
    return a, b


def _group(rng, m, *, mu, prec, n_lo=5, n_hi=400):
    n = rng.integers(n_lo, n_hi, m).astype(float)
    p = rng.beta(mu * prec, (1 - mu) * prec, m)
    return rng.binomial(n.astype(int), p).astype(float), n


def _groups():
    rng = np.random.default_rng(12)
    out = []
    for m in (4, 8, 9, 10, 12, 30):
        for mu, prec in ((0.02, 5.0), (0.08, 40.0), (0.15, 400.0), (0.05, 1e5)):
            out.append(_group(rng, m, mu=mu, prec=prec))
    k, n = _group(rng, 10, mu=0.05, prec=20.0)
    out.append((np.zeros_like(k), n))  # no transfer at all
    k1 = np.zeros_like(k)
    k1[3] = 6
    out.append((k1, n))  # one agent transfers, every peer at 0
    k2 = k.copy()
    k2[0] = n[0]
    out.append((k2, n))  # an agent who transfers everything
    out.append(_group(rng, 400, mu=0.06, prec=60.0, n_hi=1500))  # large: interpolated sums
    return out


def test_loo_refits_match_one_by_one_fits():
    """Same nulls as refitting every agent above the crowd with ``fit_betabinom``.

    The one-by-one search stops on the change of the log-likelihood, which is
    flat along the precision; the joint Newton solve stops on the score. Their
    p-values agree to 1e-4 (relative) or 1e-6 (absolute).
    """
    from analysis.gaming.transfers import _loo_fits

    for k, n in _groups():
        a0, b0 = _exact_loo(k, n)
        a1, b1 = _loo_fits(k, n)
        assert np.array_equal(np.isfinite(a0), np.isfinite(a1))
        ok = np.isfinite(a0)
        p0 = stats.betabinom.sf(k[ok] - 1, n[ok], a0[ok], b0[ok])
        p1 = stats.betabinom.sf(k[ok] - 1, n[ok], a1[ok], b1[ok])
        assert np.all((np.abs(p1 - p0) <= 1e-4 * p0) | (np.abs(p1 - p0) <= 1e-6)), (k, n)


def test_loo_refit_solves_the_peer_likelihood_equations():
    """Hand calculation: the peers' beta-binomial score, summed term by term, is zero at the fit.

    d/da log L = sum_j [sum_{t<k_j} 1/(a+t) - sum_{t<n_j} 1/(a+b+t)] (Griffiths 1973),
    summed exactly with math.fsum, no digamma.
    """
    import math

    from analysis.gaming.transfers import _loo_fits

    k, n = _groups()[-1]
    a, b = _loo_fits(k, n)
    full_a = float(np.median(a))
    moved = np.nonzero(a != full_a)[0][:5]
    assert len(moved) == 5
    for i in moved:
        kk = np.delete(k, i).astype(int)
        nn = np.delete(n, i).astype(int)
        ai, bi = float(a[i]), float(b[i])
        sab = [-1.0 / (ai + bi + t) for nj in nn for t in range(nj)]
        ga = math.fsum([1.0 / (ai + t) for kj in kk for t in range(kj)] + sab)
        fk = [nj - kj for kj, nj in zip(kk, nn, strict=True)]
        gb = math.fsum([1.0 / (bi + t) for fj in fk for t in range(fj)] + sab)
        scale = math.fsum(1.0 / (ai + t) for kj in kk for t in range(kj))
        assert abs(ga) < 1e-10 * scale and abs(gb) < 1e-10 * scale


def _comonotone_ref(k, n, a, b):
    """P(sum_q Bin(n_q, F_q^-1(U)) >= k) by adaptive quadrature over U (scipy only)."""
    from scipy import integrate

    def tail(u):
        pmf = np.array([1.0])
        for nq, aq, bq in zip(n, a, b, strict=True):
            r = stats.beta.ppf(u, aq, bq)
            pmf = np.convolve(pmf, stats.binom.pmf(np.arange(nq + 1), nq, r))
        return pmf[k:].sum()

    edges = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0]
    return sum(integrate.quad(tail, lo, hi, limit=200, epsabs=1e-14)[0]
               for lo, hi in zip(edges[:-1], edges[1:], strict=True))


def test_rate_pvalues_match_per_agent_convolution():
    """One queue: the beta-binomial tail; several: the comonotone sum (one shared latent),
    pinned to scipy quadrature; it is never below the independent-queues convolution in
    the upper tail (the leave-one-out fits as they are: the predictive moderation is
    pinned in ``test_moderated_beta_by_hand``)."""
    import pandas as pd

    from analysis.gaming.transfers import _loo_fits, _rate_pvalues

    rng = np.random.default_rng(4)
    rows = []
    for per in ("2026-01", "2026-02"):
        for q, mu in (("billing", 0.04), ("general", 0.1), ("sales", 0.02)):
            m = 40 if q != "sales" else 11
            k, n = _group(rng, m, mu=mu, prec=30.0, n_lo=1, n_hi=300)
            for i in range(m):
                rows.append(dict(agent_id=f"A{i:03d}", period=per, queue=q, n=n[i], k=k[i]))
    cells = pd.DataFrame(rows).sort_values(["agent_id", "period", "queue"], ignore_index=True)
    got = _rate_pvalues(cells, tails="beta", predictive=False)
    ref = []
    for (_per, _q), g in cells.groupby(["period", "queue"]):
        a, b = _loo_fits(g["k"].to_numpy(float), g["n"].to_numpy(float))
        ref.append(g.assign(a=a, b=b))
    ref = pd.concat(ref).sort_index()
    multi = 0
    for r in got.itertuples():
        g = ref[(ref["agent_id"] == r.agent_id) & (ref["period"] == r.period)]
        assert r.k == g["k"].sum() and r.n == g["n"].sum()
        assert r.expected == pytest.approx((g["n"] * g["a"] / (g["a"] + g["b"])).sum(), rel=1e-12)
        indep = sum_betabinom_sf(r.k, g["n"], g["a"], g["b"])
        if len(g) == 1:
            assert r.p_rate == pytest.approx(indep, rel=1e-9, abs=1e-15)
            continue
        if indep < 0.2:
            assert r.p_rate >= indep * 0.999
        if multi < 2:
            want = _comonotone_ref(int(r.k), g["n"].to_numpy(int), g["a"].to_numpy(),
                                   g["b"].to_numpy())
            assert r.p_rate == pytest.approx(want, rel=2e-3, abs=1e-9)
            multi += 1
    assert multi == 2
    assert len(got) == cells.groupby(["agent_id", "period"]).ngroups


def test_vectorised_tails_match_scipy():
    from analysis.gaming.transfers import _bb_sf

    rng = np.random.default_rng(8)
    n = rng.integers(0, 500, 300)
    k = (rng.random(300) * (n + 1)).astype(int)
    a, b = rng.uniform(0.3, 50, 300), rng.uniform(1, 900, 300)
    # scipy's sf is 1 - cdf (no precision in the far tail): sum its pmf over the tail
    ref = [stats.betabinom.pmf(np.arange(kk, nn + 1), nn, aa, bb).sum()
           for kk, nn, aa, bb in zip(k, n, a, b, strict=True)]
    np.testing.assert_allclose(_bb_sf(k, n, a, b), ref, rtol=1e-9, atol=1e-300)


def test_rate_pvalues_over_chunks_equal_one_agent_at_a_time():
    """More agent-periods than one chunk (2,048), some with one queue and some with several:
    every p-value equals the comonotone sum (or the beta-binomial tail) of that agent's
    cells with the leave-one-out fits, computed alone."""
    import pandas as pd

    from analysis.gaming.short_calls import comonotone_sum_pvalue
    from analysis.gaming.transfers import _loo_fits, _rate_pvalues

    rng = np.random.default_rng(21)
    rows = []
    for i in range(2300):
        queues = ["Q1"] if i % 3 == 0 else ["Q1", "Q2", "Q3"][: 2 + i % 2]
        rate = rng.beta(4, 60)
        for q in queues:
            n = int(rng.integers(20, 300))
            rows.append(dict(agent_id=f"A{i:04d}", period="2024-01", queue=q, n=n,
                             k=int(rng.binomial(n, min(rate * (1.5 if q == "Q2" else 1.0), 1)))))
    cells = pd.DataFrame(rows).sort_values(["agent_id", "period", "queue"], ignore_index=True)
    got = _rate_pvalues(cells, tails="beta", predictive=False).set_index("agent_id")
    assert len(got) == 2300
    a = np.full(len(cells), np.nan)
    b = np.full(len(cells), np.nan)
    for _, idx in cells.groupby(["period", "queue"]).indices.items():
        a[idx], b[idx] = _loo_fits(cells["k"].to_numpy(float)[idx], cells["n"].to_numpy(float)[idx])
    for aid in ("A0000", "A0001", "A0002", "A2047", "A2048", "A2049", "A2299"):
        sel = (cells["agent_id"] == aid).to_numpy()
        n, k = cells.loc[sel, "n"].to_numpy(), int(cells.loc[sel, "k"].sum())
        want = comonotone_sum_pvalue(k, n, a[sel], b[sel])
        assert got.loc[aid, "p_rate"] == pytest.approx(want, rel=1e-9, abs=1e-15), aid


def _dozen_peer_cells(seed: int, groups: int = 400, agents: int = 12, sigma: float = 0.35):
    """Honest transfer counts in queue x period groups of ``agents`` agents: logit-normal
    propensities (the null's own family) around 8 %, 150-700 calls each."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        p = 1 / (1 + np.exp(-(np.log(0.08 / 0.92) + sigma * rng.standard_normal(agents))))
        n = rng.integers(150, 700, agents)
        k = rng.binomial(n, p)
        rows += [dict(agent_id=f"A{g}_{i}", period=f"P{g % 2}", queue=f"q{g}", n=n[i], k=k[i])
                 for i in range(agents)]
    return pd.DataFrame(rows)


def test_rate_null_keeps_its_level_with_a_dozen_peers():
    """4,800 honest agents in groups of 12: the spread of their propensities is estimated
    from 11 peers, and can come out near 0 when the binomial noise hides it. Taken as known
    (``predictive=False``) the null puts them at p < .001 about ten times too often; the
    predictive null (moderated scale, t latent with the estimate's df) keeps the level."""
    from analysis.gaming.transfers import _rate_pvalues

    cells = _dozen_peer_cells(7)
    got = {}
    for on in (False, True):
        r = _rate_pvalues(cells, tails="auto", predictive=on)
        assert r.attrs["rate_null"] == "logit-normal"
        got[on] = r["p_rate"].to_numpy()
    n = len(got[True])
    assert n == 4800
    for a in (0.05, 0.01, 0.001):
        assert np.mean(got[True] < a) <= a + 3 * np.sqrt(a * (1 - a) / n), a
    assert np.mean(got[True] < 0.05) >= 0.03  # not a null that never rejects
    assert np.mean(got[False] < 0.001) >= 5 * 0.001  # the failure it mends


def test_moderated_beta_by_hand():
    """The beta nulls' intra-class correlation moderated by hand: shrunk towards the
    groups' median with 10 prior df and widened by (m + 1) / (m - 1); the mean kept."""
    from analysis.gaming.transfers import moderated_beta, moderated_scale, predictive_t

    a = np.array([2.0, 2.0, 1.0, 8.0, 8.0, 30.0, 4e6])
    b = np.array([40.0, 40.0, 30.0, 80.0, 80.0, 400.0, 4e7])
    grp = np.array([0, 0, 0, 1, 1, 1, 2])
    peers = np.array([11, 11, 11, 30, 30, 30, 11])
    na, nb = moderated_beta(a, b, peers, grp)
    rho = 1 / (1 + a + b)
    # groups 0 and 1 have 3 cells each, fewer than 4: no group to learn the median from
    assert np.array_equal(na, a) and np.array_equal(nb, b)
    grp = np.array([0, 0, 0, 0, 1, 1, 1])
    na, nb = moderated_beta(a, b, peers, grp)
    rho0 = np.median([np.median(rho[:4])])  # only group 0 has 4 cells
    want = (10 * rho0 + (peers - 1) * rho) / (10 + peers - 1) * (peers + 1) / (peers - 1)
    np.testing.assert_allclose(1 / (1 + na + nb), np.clip(want, 0, 0.5), rtol=1e-12)
    np.testing.assert_allclose(na / (na + nb), a / (a + b), rtol=1e-12)
    assert 1 / (1 + na[-1] + nb[-1]) > 100 * rho[-1]  # a spread fitted at ~0 is pulled up
    # the logit scale: a group whose scale was fitted at 0 gets the typical one, shrunk
    s = moderated_scale(np.array([0.0, 0.4]), np.array([11, 60]), np.array([0.3, 0.4, 0.5]),
                        np.array([12, 61, 30]))
    np.testing.assert_allclose(s, np.sqrt([(10 * 0.16) / 20, (10 * 0.16 + 59 * 0.16) / 69]))
    df, f = predictive_t(np.inf, np.array([11, 60, 1000]))
    np.testing.assert_allclose(df, [20, 69, np.inf])
    np.testing.assert_allclose(f, np.sqrt([12 / 10, 61 / 59, 1001 / 999]))
    assert predictive_t(10.0, np.array([11]))[0][0] == np.floor(1 / (0.1 + 1 / 20))
