"""360 reciprocity: residuals pinned to statsmodels OLS, permutation calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.gaming._sigsim import make_context, simulate_calls, simulate_ratings
from analysis.gaming.reciprocity_360 import (
    _two_way_residuals,
    check_reciprocity_360,
    reciprocity_pairs,
    reciprocity_pooled,
)


@pytest.fixture(scope="module")
def ctx_calls():
    return simulate_calls(n_agents=5, days=1, seed=1, customers=False)


def test_two_way_residuals_match_statsmodels_ols():
    import statsmodels.formula.api as smf

    r = simulate_ratings(n_agents=20, team_size=20, months=1, seed=3)
    r = r[r["rater_group"] == "peer"].groupby(["rater_id", "ratee_id"])["score"].mean()
    df = r.reset_index()
    rc, _ = pd.factorize(df["rater_id"], sort=True)
    ec, _ = pd.factorize(df["ratee_id"], sort=True)
    got = _two_way_residuals(rc, ec, df["score"].to_numpy(), iters=5000)
    fit = smf.ols("score ~ C(rater_id) + C(ratee_id)", data=df).fit()
    np.testing.assert_allclose(got, fit.resid.to_numpy(), atol=1e-6)


def test_pair_pvalues_calibrated_on_null_ratings():
    """Leniency, halo and skill differ; no collusion. Permutation keeps each rater's leniency."""
    ps = []
    for s in range(20):
        r = simulate_ratings(seed=s)
        ps.append(reciprocity_pairs(r, n_perm=500, rng=np.random.default_rng(s))["p_value"])
    p = np.concatenate(ps)
    assert p.size > 3000
    for a in (0.01, 0.05, 0.1):
        se = np.sqrt(a * (1 - a) / p.size)
        assert a - 3.5 * se <= np.mean(p <= a) <= a + 3.5 * se
    assert stats.kstest(p, "uniform").pvalue > 1e-3


def test_agent_level_flags_not_too_many_on_null(ctx_calls):
    rates = []
    for s in range(6):
        ctx = make_context(ctx_calls, ratings=simulate_ratings(seed=50 + s),
                           options={"recip_n_perm": 500, "seed": s})
        f = check_reciprocity_360(ctx).flags
        rates.append(f["p_value"].le(0.05).mean())
    assert np.mean(rates) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / (6 * 180)) + 0.02


def test_power_and_partner_named(ctx_calls):
    pairs = {("A001", "A002"): 1.5, ("A011", "A015"): 1.5, ("A031", "A036"): 1.5}
    gam = {a for pr in pairs for a in pr}
    ctx = make_context(ctx_calls, ratings=simulate_ratings(seed=9, pairs=pairs),
                       options={"recip_n_perm": 1000})
    res = check_reciprocity_360(ctx)
    f = res.flags
    hit = f[f["agent_id"].isin(gam)]
    assert hit["p_value"].le(0.05).mean() >= 0.7
    assert f[~f["agent_id"].isin(gam)]["p_value"].le(0.05).mean() <= 0.08
    row = f[(f["agent_id"] == "A001")].nsmallest(1, "p_value").iloc[0]
    assert "partner A002" in row["detail"]


def test_synthetic_center_pair_found():
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="reciprocal=2")
    pr = reciprocity_pairs(c.ratings)
    rec = sorted(c.truth.loc[c.truth["behaviour"] == "reciprocal", "agent_id"])
    mine = pr[(pr["agent_a"] == rec[0]) & (pr["agent_b"] == rec[1])]
    assert len(mine) >= 2 and (mine["p_value"] <= 0.05).sum() >= 2


def test_skips_with_reasons(ctx_calls):
    assert "no 360 ratings" in check_reciprocity_360(make_context(ctx_calls)).skipped
    r = simulate_ratings(n_agents=20, months=1, seed=2)
    pseud = r.assign(rater_id="R" + r["rater_id"].astype(str))
    assert "rated each other" in check_reciprocity_360(
        make_context(ctx_calls, ratings=pseud)).skipped
    assert "lack column" in check_reciprocity_360(
        make_context(ctx_calls, ratings=r.drop(columns="rater_group"))).skipped


def test_pooled_statistic_is_the_relationships_mean_ols_residual():
    """Whole window: each rater -> ratee relationship's residual averaged over the rounds,
    each round's residual from statsmodels OLS (score ~ rater + ratee, that round)."""
    import statsmodels.formula.api as smf

    r = simulate_ratings(n_agents=20, team_size=20, months=3, seed=4)
    peer = r[r["rater_group"] == "peer"]
    res = []
    for _per, g in peer.groupby("period"):
        df = g.groupby(["rater_id", "ratee_id"])["score"].mean().reset_index()
        fit = smf.ols("score ~ C(rater_id) + C(ratee_id)", data=df).fit()
        res.append(df.assign(res=fit.resid.to_numpy()))
    rbar = pd.concat(res).groupby(["rater_id", "ratee_id"])["res"].mean()
    got = reciprocity_pooled(r, n_perm=200, rng=np.random.default_rng(1))
    assert len(got) > 20 and (got["period"] == "all").all()
    for row in got.head(15).itertuples():
        want = rbar[(row.agent_a, row.agent_b)] + rbar[(row.agent_b, row.agent_a)]
        assert row.t == pytest.approx(want, abs=1e-6)


def test_pooled_pvalues_calibrated_with_lasting_halo():
    """No collusion, but every rater's liking of each peer lasts (the halo repeats every
    round): pooling rounds must not count it again each round. 25 centers, 4 rounds."""
    ps = []
    for s in range(25):
        r = simulate_ratings(seed=200 + s, months=4)
        ps.append(reciprocity_pooled(r, n_perm=300, rng=np.random.default_rng(s))["p_value"])
    p = np.concatenate(ps)
    assert p.size > 4000
    for a in (0.01, 0.05, 0.1):
        se = np.sqrt(a * (1 - a) / p.size)
        assert a - 3.5 * se <= np.mean(p <= a) <= a + 3.5 * se, (a, np.mean(p <= a))


def test_pooled_row_accumulates_what_each_round_shows_weakly():
    """Pairs adding 1 point to each other every round: each round alone rarely reaches
    p < .01 once Bonferroni over the rounds is paid; the whole-window row does for most."""
    pooled, best = [], []
    for s in range(6):
        pairs = {("A001", "A002"): 1.0, ("A011", "A015"): 1.0, ("A031", "A036"): 1.0}
        r = simulate_ratings(seed=100 + s, months=3, pairs=pairs)
        po = reciprocity_pooled(r, n_perm=300, rng=np.random.default_rng(s)).set_index(
            ["agent_a", "agent_b"])["p_value"]
        pr = reciprocity_pairs(r, n_perm=300, rng=np.random.default_rng(s)).groupby(
            ["agent_a", "agent_b"])["p_value"].min()
        pooled += [po[k] for k in pairs]
        best += [3 * pr[k] for k in pairs]
    assert np.mean(np.array(pooled) <= 0.01) >= 0.7
    assert np.mean(np.array(pooled) <= 0.01) >= np.mean(np.array(best) <= 0.01) + 0.2


def test_check_reports_a_whole_window_row_per_agent(ctx_calls):
    pairs = {("A001", "A002"): 1.0}
    ctx = make_context(ctx_calls, ratings=simulate_ratings(seed=9, pairs=pairs),
                       options={"recip_n_perm": 300})
    res = check_reciprocity_360(ctx)
    f = res.flags
    assert set(f["period"]) == {"2026-01", "2026-02", "2026-03", "all"}
    row = f[(f["agent_id"] == "A001") & (f["period"] == "all")].iloc[0]
    assert "partner A002" in row["detail"]
    assert any("whole window" in n for n in res.notes)
    one = check_reciprocity_360(make_context(
        ctx_calls, ratings=simulate_ratings(seed=9, months=1), options={"recip_n_perm": 300}))
    assert "all" not in set(one.flags["period"])  # one round: nothing to pool
