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
