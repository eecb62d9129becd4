"""Short-call / hang-up checks: calibration on honest worlds, power on planted hang-ups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from analysis.gaming import run_checks
from analysis.gaming._coresim import simulate_calls, simulate_counts
from analysis.gaming._logitnorm import solve_location, tail_pvalue, tail_pvalue_rows
from analysis.gaming.short_calls import (
    comonotone_sum_pvalue,
    short_calls_peer_table,
    short_calls_trend_table,
)

ALPHAS = (0.01, 0.05, 0.1)


def _within(rate: float, alpha: float, n: int, k: float = 4.0) -> bool:
    return abs(rate - alpha) <= k * np.sqrt(alpha * (1 - alpha) / n) + 0.003


# ----------------------------------------------------------------- null distributions


def test_comonotone_sum_reduces_to_betabinomial():
    # one queue, or several queues with one beta: exactly the beta-binomial tail
    assert comonotone_sum_pvalue(30, [400], [3.0], [60.0]) == pytest.approx(
        stats.betabinom.sf(29, 400, 3, 60), rel=1e-9)
    assert comonotone_sum_pvalue(120, [400, 300], [3.0, 3.0], [60.0, 60.0]) == pytest.approx(
        stats.betabinom.sf(119, 700, 3, 60), rel=1e-3)


def test_comonotone_sum_matches_monte_carlo():
    rng = np.random.default_rng(0)
    u = rng.uniform(size=400_000)
    t = (rng.binomial(400, special.betaincinv(3, 60, u))
         + rng.binomial(300, special.betaincinv(10, 90, u)))
    mc = (t >= 70).mean()
    p = comonotone_sum_pvalue(70, [400, 300], [3.0, 10.0], [60.0, 90.0])
    assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / len(u)))


def test_logitnormal_tail_matches_monte_carlo():
    rng = np.random.default_rng(1)
    z = rng.standard_normal(400_000)
    m = solve_location(np.array([0.04, 0.08]), np.array([0.5, 0.5]))
    assert special.expit(m[0] + 0.5 * z).mean() == pytest.approx(0.04, rel=5e-3)
    t = rng.binomial(500, special.expit(m[0] + 0.5 * z)) + rng.binomial(
        200, special.expit(m[1] + 0.5 * z))
    for k in (40, 60, 80):
        mc = (t >= k).mean()
        p = tail_pvalue(k, [500, 200], m, [0.5, 0.5])
        assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / len(z)) + 1e-4)
    one = tail_pvalue_rows([30], [500], m[:1], [0.5])[0]
    assert one == pytest.approx((rng.binomial(500, special.expit(m[0] + 0.5 * z)) >= 30).mean(),
                                abs=0.005)


# ----------------------------------------------------------------- calibration


@pytest.fixture(scope="module")
def null_tables():
    """Honest worlds: agents differ in natural short-call odds (SD 0.45), drift with
    tenure (SD 0.15 a month), take one or several of 2 queues; randomized p-values."""
    rng = np.random.default_rng(2026)
    peer, trend = [], []
    for w in range(14):
        c = simulate_counts(rng, n_agents=30, n_queues=2, months=3, calls=(300, 1200))
        c = c.drop(columns="gamer")
        peer.append(short_calls_peer_table(c, randomized=True, seed=w)["p_value"].to_numpy())
        trend.append(short_calls_trend_table(c, randomized=True, seed=w)["p_value"].to_numpy())
    return np.concatenate(peer), np.concatenate(trend)


@pytest.mark.parametrize("which", [0, 1], ids=["peer", "trend"])
def test_null_rejection_rates_at_several_alphas(null_tables, which):
    p = null_tables[which]
    assert len(p) > 500
    for a in ALPHAS:
        assert _within(float(np.mean(p < a)), a, len(p)), (a, float(np.mean(p < a)))
    # randomized p-values are uniform (an exact discrete p would fail this, see methods.md)
    assert stats.kstest(p, "uniform").pvalue > 1e-3


def test_pooled_binomial_would_be_miscalibrated_on_the_same_worlds():
    """The trap the peer null avoids: a binomial against the pooled rate."""
    rng = np.random.default_rng(7)
    rej, tot = 0, 0
    for _ in range(6):
        c = simulate_counts(rng, n_agents=30, n_queues=1, months=1).drop(columns="gamer")
        rate = c["k"].sum() / c["n"].sum()
        p = stats.binom.sf(c["k"] - 1, c["n"], rate)
        rej += int((p < 0.05).sum())
        tot += len(c)
    assert rej / tot > 0.12  # far above 0.05


@pytest.mark.slow
def test_full_pipeline_flags_few_honest_agents():
    """Whole runner on honest simulated centers: at most 2% of agents flagged after BH."""
    shares = []
    for seed in range(4):
        calls, _ = simulate_calls(n_agents=40, months=3, seed=300 + seed,
                                  ended_by=bool(seed % 2))
        rep = run_checks(calls, options={"raise_errors": True},
                         checks=["short_calls_peer", "short_calls_trend"])
        shares.append(rep.flags.groupby("agent_id")["flagged"].any().mean())
    assert np.mean(shares) <= 0.02


# ----------------------------------------------------------------- power


def test_peer_test_recalls_15pct_hangups():
    rng = np.random.default_rng(11)
    hits, n = 0, 0
    for w in range(5):
        gam = {i: (0.15, 0) for i in range(3)}
        c = simulate_counts(rng, n_agents=40, n_queues=1, months=2, hangup=gam,
                            calls=(800, 1500))
        tab = short_calls_peer_table(c.drop(columns="gamer"), seed=w)
        q = tab.set_index(["agent_id", "period"])["p_value"]
        for i in range(3):
            for per in ("2024-01", "2024-02"):
                n += 1
                hits += int(q[(f"A{i:03d}", per)] < 0.01)
    assert hits / n >= 0.75


@pytest.mark.slow
def test_peer_test_recalls_hangups_among_contaminated_peers():
    """Three of 40 agents (2 queues) hang up on 15% of their calls from month 2 of 3
    (natural rate ~2%, as for agent-ended short calls): the gamer x months are recalled
    after BH, although the gamers sit among the peers the null is fitted on. Left in,
    they widen the spread and raise the peer mean (the former schedule re-admitted rows
    with p > 1e-4 into the fit: recall 0.45 here)."""
    from analysis.gaming._fdr import bh_qvalues

    rng = np.random.default_rng(8)
    gamers = [f"A{i:03d}" for i in range(3)]
    hits = tot = false = honest = 0
    for w in range(10):
        c = simulate_counts(rng, n_agents=40, n_queues=2, months=3, calls=(800, 2200),
                            base_rate=0.02, hangup={i: (0.15, 1) for i in range(3)})
        tab = short_calls_peer_table(c.drop(columns="gamer"), seed=w)
        q = bh_qvalues(tab["p_value"].to_numpy())
        g = tab["agent_id"].isin(gamers).to_numpy()
        late = (tab["period"] >= "2024-02").to_numpy()
        hits += int((g & late & (q < 0.05)).sum())
        tot += int((g & late).sum())
        honest += int((~g).sum())
        false += int((~g & (q < 0.05)).sum())
    assert tot == 60
    assert hits / tot >= 0.8, hits / tot
    assert false / honest <= 0.01


def test_trend_test_sees_weak_gaming_the_peer_test_cannot():
    """2% hang-ups from month 3 on ~2,000 calls a month: own history sees it, peers hardly."""
    rng = np.random.default_rng(12)
    trend_hits = peer_hits = 0
    reps = 6
    for w in range(reps):
        c = simulate_counts(rng, n_agents=30, n_queues=1, months=3, calls=(1800, 2200),
                            base_rate=0.03, agent_sd=0.45, tenure_drift=0.0,
                            hangup={0: (0.02, 2)}).drop(columns="gamer")
        t = short_calls_trend_table(c, seed=w).set_index(["agent_id", "period"])["p_value"]
        pt = short_calls_peer_table(c, seed=w).set_index(["agent_id", "period"])["p_value"]
        trend_hits += int(t[("A000", "2024-03")] < 0.05)
        peer_hits += int(pt[("A000", "2024-03")] < 0.05)
    assert trend_hits >= 4
    assert trend_hits > peer_hits


def test_ended_by_sharpens_the_evidence():
    calls, _ = simulate_calls(n_agents=30, months=2, hangup={0: (0.06, 0)}, seed=21)
    with_eb = run_checks(calls, checks=["short_calls_peer"], options={"raise_errors": True})
    without = run_checks(calls, checks=["short_calls_peer"],
                         options={"raise_errors": True, "short_use_ended_by": False})
    pw = with_eb.flags.query("agent_id == 'A000'")["p_value"].max()
    po = without.flags.query("agent_id == 'A000'")["p_value"].max()
    assert pw < po
    assert "ended by the agent" in with_eb.flags["detail"].iloc[0]
    assert "ended by the agent" not in without.flags["detail"].iloc[0]


def test_checks_run_without_ended_by_and_skip_cleanly_without_talk():
    calls, _ = simulate_calls(n_agents=20, months=2, ended_by=False, seed=3)
    rep = run_checks(calls, checks=["short_calls_peer", "short_calls_trend"],
                     options={"raise_errors": True})
    assert set(rep.ran) == {"short_calls_peer", "short_calls_trend"}
    rep = run_checks(calls, checks=["short_calls_trend"], options={"period": "all"})
    assert "earlier period" in rep.skipped["short_calls_trend"]


def _crackdown_calls() -> pd.DataFrame:
    """30 agents; A000-A002 hang up on 25-35 % of their calls until 2024-03-01."""
    calls, _ = simulate_calls(n_agents=30, months=3, seed=8, ended_by=False,
                              hangup={0: (0.35, 0), 1: (0.3, 0), 2: (0.25, 0)})
    after = calls["arrival_ts"] >= "2024-03-01"
    calls = calls.copy()
    gam = calls["agent_id"].isin(["A000", "A001", "A002"]) & after & (calls["talk_s"] < 15.5)
    # after the crackdown their hang-ups become normal calls again
    calls.loc[gam, "talk_s"] = np.random.default_rng(0).lognormal(5.3, 0.5, gam.sum())
    return calls


def test_change_check_finds_agents_who_stop_at_a_crackdown():
    """Three agents hang up until a center-wide crackdown at the start of month 3.

    The crackdown must be a step beyond a smooth trend (the change-point null has
    one, issue #13): the three agents' hang-ups (25-35 % of their calls) move the
    center's rate by about 3 points; at 12-20 % the drop is within what a smooth
    trend ending a month later can absorb.
    """
    rep = run_checks(_crackdown_calls(), checks=["short_calls_change"],
                     options={"raise_errors": True})
    f = rep.flags
    assert not f.empty
    assert f["period"].str.startswith("2024-0").all()
    top = set(f.nsmallest(3, "p_value")["agent_id"])
    assert top == {"A000", "A001", "A002"}
    assert any("fell" in n for n in rep.notes["short_calls_change"])


def test_crackdown_has_one_interval_in_the_note_and_the_change_point_list():
    """short_calls_change's note and the change-point list date the same series' step:
    one bootstrap (the same seed), so one 90 % interval (they differed by a day)."""
    import re

    rep = run_checks(_crackdown_calls(), checks=["short_calls_change", "changepoints"],
                     options={"raise_errors": True})
    cp = rep.changepoints
    row = cp[(cp["level"] == "center") & (cp["metric"] == "short_call_rate")]
    assert len(row) == 1
    note = next(n for n in rep.notes["short_calls_change"] if "90% interval" in n)
    m = re.search(r"on (\S+) \(90% interval (\S+) to (\S+)\)", note)
    got = [pd.Timestamp(x) for x in m.groups()]
    want = [pd.Timestamp(row[c].iloc[0]) for c in ("date", "date_lo", "date_hi")]
    assert got == want, (note, row.to_dict("records"))


# ----------------------------------------------------------------- the fast internals
# (the short-call peer check's speed-ups must give what the plain computations give)


def _null_rows(rng, size):
    from analysis.gaming._logitnorm import solve_location

    n = rng.integers(10, 1600, size).astype(float)
    s = rng.uniform(0.1, 1.5, size)
    m = solve_location(rng.uniform(0.002, 0.1, size), s)
    return n, m, s


def _bisect_cut(n, m, s, p_cut):
    """The largest k with P(K >= k) >= p_cut, by plain bisection over [0, n] (reference)."""
    lo, hi = np.zeros(len(n)), n + 1.0
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        act = hi - lo > 1
        good = tail_pvalue_rows(mid, n, m, s) >= p_cut
        lo = np.where(act & good, mid, lo)
        hi = np.where(act & ~good, mid, hi)
    return lo


def test_binom_tail_is_scipys_binomial_tail():
    from analysis.gaming._logitnorm import binom_tail

    k = np.arange(-2.0, 14.0)[:, None]
    r = np.linspace(0.0, 1.0, 11)[None, :]
    assert np.array_equal(binom_tail(k, 10.0, r), stats.binom.sf(k - 1, 10, r))


def test_upper_cut_equals_a_plain_bisection_from_any_start():
    from analysis.gaming._logitnorm import upper_cut

    rng = np.random.default_rng(31)
    n, m, s = _null_rows(rng, 400)
    ref = _bisect_cut(n, m, s, 0.003)
    assert np.array_equal(upper_cut(n, m, s, 0.003), ref)  # from the Cornish-Fisher guess
    start = ref + rng.integers(-12, 13, len(ref))  # from guesses off by up to 12
    assert np.array_equal(upper_cut(n, m, s, 0.003, start=start), ref)
    # rows whose null moved a little keep their cut only where that is provable
    cut, rec = upper_cut(n, m, s, 0.003, tails=True)
    m2, s2 = m + rng.normal(0, 1e-6, len(m)), s * (1 + rng.normal(0, 1e-6, len(s)))
    assert np.array_equal(upper_cut(n, m2, s2, 0.003, prev=rec), _bisect_cut(n, m2, s2, 0.003))
    m3 = m + 0.3  # a large move: every cut is recomputed
    assert np.array_equal(upper_cut(n, m3, s, 0.003, prev=rec), _bisect_cut(n, m3, s, 0.003))


def test_spread_likelihood_and_fit_equal_the_plain_computation():
    """The blocked, cached likelihood of the spread equals the plain formula, and the fit
    equals the grid + Brent search on the plain formula, refits included."""
    from scipy.optimize import minimize_scalar

    from analysis.gaming import _logitnorm as ln

    rng = np.random.default_rng(32)
    size = 5000  # more than two blocks
    n = rng.integers(10, 1500, size).astype(float)
    mean = rng.uniform(0.005, 0.05, size)
    sc, ex = 1 + rng.uniform(0, 0.1, size), rng.uniform(0, 0.05, size)
    s_true = ln.predictive_scale(0.7, sc, ex)
    k = rng.binomial(n.astype(int), special.expit(ln.solve_location(mean, s_true)
                                                  + s_true * rng.standard_normal(size)))
    k = k.astype(float)
    k_max = np.maximum(ln.upper_cut(n, ln.solve_location(mean, s_true), s_true, 0.003), k)

    def plain(sig, rows):
        s = ln.predictive_scale(sig, sc[rows], ex[rows])
        m = ln.solve_location(mean[rows], s)
        t = k_max[rows] < n[rows]
        return (-ln._loglik(k[rows], n[rows], m, s)
                + float(np.sum(ln._log_below(k_max[rows][t], n[rows][t], m[t], s[t]))))

    every = np.arange(size)
    obj = ln._SpreadLik(k, n, mean, sc, ex, k_max)
    for sig in (0.0, 0.3, 0.7, 1.3, 4.0):
        assert obj(sig) == pytest.approx(plain(sig, every), rel=1e-11)

    def grid_brent(rows):
        grid = np.linspace(0.0, 4.0, 9)
        vals = [plain(g, rows) for g in grid]
        j = int(np.argmin(vals))
        res = minimize_scalar(lambda x: plain(x, rows), bounds=(grid[max(j - 1, 0)],
                              grid[min(j + 1, 8)]), method="bounded", options={"xatol": 2e-3})
        return float(res.x) if res.fun <= vals[j] else float(grid[j])

    info: dict = {}
    fit = ln.fit_sigma(k, n, mean, scale=sc, extra=ex, k_max=k_max, info=info)
    assert fit == pytest.approx(grid_brent(every), abs=1e-6)
    # a refit after a few rows left: most of the grid comes from the first fit
    rows = np.sort(rng.choice(size, size - 40, replace=False))
    refit = ln.fit_sigma(k[rows], n[rows], mean[rows], scale=sc[rows], extra=ex[rows],
                         k_max=k_max[rows], info=info)
    assert refit == pytest.approx(grid_brent(rows), abs=1e-6)


def test_mixture_tail_pruning_keeps_the_value():
    """Nodes left out by Hoeffding's bound change P(T >= k) by less than 1e-12 relative."""
    from analysis.gaming._logitnorm import U_WEIGHTS, U_Z, binomial_mixture_tail

    rng = np.random.default_rng(33)
    for _ in range(20):
        q = int(rng.integers(2, 5))
        n = rng.integers(50, 1500, q)
        m = special.logit(rng.uniform(0.005, 0.05, q))
        rates = special.expit(m[None, :] + 0.8 * U_Z[:, None])
        mean = float(U_WEIGHTS @ (rates @ n))
        k = int(mean + rng.uniform(0, 8) * np.sqrt(mean) + 1)
        pruned = binomial_mixture_tail(rates, n, U_WEIGHTS, k)
        # every node: the same FFT sum without the pruning (weights 1e-300 at least)
        full = sum(w * binomial_mixture_tail(rates[g:g + 1], n, np.ones(1), k)
                   for g, w in enumerate(U_WEIGHTS))
        assert pruned == pytest.approx(full, rel=1e-12, abs=1e-18)


def _mixture_tail_by_convolution(rates, n, weights, k, u_rand=None):
    """The reference: each node's pmf of the sum by direct convolution of scipy's binomials."""
    pge = peq = 0.0
    for g, w in enumerate(weights):
        pmf = np.array([1.0])
        for q, nq in enumerate(n):
            pmf = np.convolve(pmf, stats.binom.pmf(np.arange(nq + 1), nq, rates[g, q]))
        pge += w * pmf[max(k, 0):].sum()
        peq += w * (pmf[k] if 0 <= k < len(pmf) else 0.0)
    return pge if u_rand is None else max(pge - peq, 0.0) + u_rand * peq


def test_mixture_tail_equals_direct_convolution():
    """Largest queue by its upper tail, the rest convolved: equal to the plain convolution
    of scipy's binomial pmfs, randomized or not, from the bulk to p ~ 1e-15 (relative)."""
    from analysis.gaming._logitnorm import U_NODES, U_WEIGHTS, binomial_mixture_tail

    rng = np.random.default_rng(8)
    for i in range(40):
        q = int(rng.integers(1, 5))
        n = rng.integers(0, 400, q) if i % 2 else rng.integers(0, 15, q)
        n[0] = max(n[0], 1)
        rates = np.clip(rng.beta(1, 8, q)[None, :] * (0.3 + 1.4 * U_NODES[:, None]), 0, 1)
        total = int(n.sum())
        mean = float(U_WEIGHTS @ (rates @ n))
        for k in (0, int(mean), int(mean + rng.uniform(1, 4) * np.sqrt(mean + 1)) + 1, total):
            k = min(k, total)
            ref = _mixture_tail_by_convolution(rates, n, U_WEIGHTS, k)
            got = binomial_mixture_tail(rates, n, U_WEIGHTS, k)
            assert got == pytest.approx(ref, rel=1e-9, abs=1e-15), (n, k)
            u = float(rng.uniform())
            assert binomial_mixture_tail(rates, n, U_WEIGHTS, k, u) == pytest.approx(
                _mixture_tail_by_convolution(rates, n, U_WEIGHTS, k, u), rel=1e-9, abs=1e-15)
        assert binomial_mixture_tail(rates, n, U_WEIGHTS, total + 1) == 0.0
    # far tail, one node: the FFT of the smaller queues bounds the absolute error
    r = np.array([[0.02, 0.03, 0.05]])
    n = np.array([900, 120, 40])
    for k in (60, 70, 75):
        ref = _mixture_tail_by_convolution(r, n, np.ones(1), k)
        assert abs(binomial_mixture_tail(r, n, np.ones(1), k) - ref) < 1e-15
    assert binomial_mixture_tail(r, n, np.ones(1), 60) == pytest.approx(
        _mixture_tail_by_convolution(r, n, np.ones(1), 60), rel=1e-4)


def test_trend_baselines_equal_a_loop_over_agents():
    import pandas as pd

    from analysis.gaming.short_calls import _baselines

    rng = np.random.default_rng(34)
    rows = []
    for a in range(12):
        for per in sorted(rng.choice(10, size=int(rng.integers(1, 8)), replace=False)):
            rows.append((f"A{a:02d}", f"2024-{per + 1:02d}", int(rng.integers(0, 400)),
                         int(rng.integers(0, 20)), float(rng.uniform(0, 300))))
    ap = pd.DataFrame(rows, columns=["agent_id", "period", "n", "k", "e"])
    for baseline in ("earlier", "other"):
        got = _baselines(ap, baseline, 30)
        ref = []
        for agent, g in ap.groupby("agent_id", sort=True):
            per, n, k, e = (g[c].to_numpy() for c in ("period", "n", "k", "e"))
            idx = np.arange(len(g))
            for i in range(len(g)):
                base = idx < i if baseline == "earlier" else idx != i
                nb, kb, eb = n[base].sum(), k[base].sum(), e[base].sum()
                if n[i] < 30 or nb < 30:
                    continue
                ref.append((agent, per[i], n[i], k[i], nb, kb,
                            e[i] * kb / eb if eb > 0 else np.nan, e[i] / (e[i] + eb),
                            f"{per[base][0]}..{per[base][-1]}"))
        ref = pd.DataFrame(ref, columns=got.columns)
        pd.testing.assert_frame_equal(got.reset_index(drop=True), ref, check_dtype=False)


def test_untested_rows_are_counted_per_agent_and_period():
    """The note on rows not tested counts the agent x periods without a row (two agents with
    a handful of calls in the second month), not the whole-window rows: the bank's summary
    said "-36 agent x period rows not tested" when the pooled rows were subtracted too."""
    import re

    calls, _ = simulate_calls(n_agents=20, months=2, seed=4)
    month = calls["arrival_ts"].dt.to_period("M")
    few = calls["agent_id"].isin(["A001", "A002"]) & (month == month.max())
    keep = ~few | (calls[few].groupby("agent_id").cumcount() < 6).reindex(calls.index,
                                                                           fill_value=True)
    rep = run_checks(calls[keep.to_numpy()], checks=["short_calls_peer"],
                     options={"raise_errors": True})
    f = rep.flags[rep.flags["check"] == "short_calls_peer"]
    per = f[f["period"] != "all"]
    note = [n for n in rep.notes["short_calls_peer"] if "rows not tested" in n]
    assert len(note) == 1
    n_untested = int(re.match(r"(-?\d+) agent x period rows not tested", note[0]).group(1))
    assert n_untested == 2 * 20 - len(per) == 2
    assert (f["period"] == "all").sum() == 20  # the two agents still have a whole-window row
