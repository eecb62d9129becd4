"""ACW / hold inflation and the shared robust peer test: pinning, calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from analysis.gaming._sigsim import (
    make_context,
    null_pvalues,
    rejection_summary,
    simulate_calls,
)
from analysis.gaming._sigutil import fisher_combine, peer_contrast_pvalues
from analysis.gaming.handle_inflation import (
    check_acw_change,
    check_acw_inflation,
    check_hold_inflation,
)

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def assert_calibrated(pvals, *, conservative_ok=False):
    tab = rejection_summary(pvals)
    for r in tab.itertuples():
        assert r.rate <= r.alpha + 3 * r.se, tab
        lower = 0.4 * r.alpha if conservative_ok else r.alpha - 3 * r.se
        assert r.rate >= lower, tab


def test_robust_z_matches_hand_calculation():
    rng = np.random.default_rng(1)
    d = rng.normal(0, 0.3, 25)
    se = rng.uniform(0.02, 0.08, 25)
    res = peer_contrast_pvalues(d, se, n_boot=500, rng=rng)
    mu = np.median(d)
    # tau^2: the robust Paule-Mandel root, solved here by scipy's brentq
    def resid_scale(t2):
        return stats.median_abs_deviation((d - mu) / np.sqrt(t2 + se**2), scale="normal",
                                          center=lambda x, axis=None: 0.0) - 1.0

    mad = stats.median_abs_deviation(d, scale="normal")
    tau2 = optimize.brentq(resid_scale, 0.0, mad**2, xtol=1e-14) if resid_scale(0) > 0 else 0.0
    np.testing.assert_allclose(res["z"], (d - mu) / np.sqrt(tau2 + se**2), rtol=1e-6)
    assert res["tau"].iloc[0] == pytest.approx(np.sqrt(tau2), rel=1e-6)
    # larger z, smaller p (monotone), all in (0, 1]
    order = np.argsort(res["z"].to_numpy())
    assert np.all(np.diff(res["p_value"].to_numpy()[order]) <= 0)
    assert res["p_value"].between(0, 1).all()


def test_fisher_combine_matches_scipy():
    p1, p2 = np.array([0.01, 0.3, 0.9]), np.array([0.2, 0.04, np.nan])
    got = fisher_combine(p1, p2)
    for i in range(2):
        assert got[i] == pytest.approx(stats.combine_pvalues([p1[i], p2[i]]).pvalue)
    assert got[2] == pytest.approx(0.9)


def test_bootstrap_p_is_calibrated_where_the_normal_tail_is_not():
    """15 peers: the bootstrap p keeps its size; the N(0,1) tail of the same z does not."""
    rng = np.random.default_rng(2)
    boot, naive = [], []
    for _ in range(300):
        se = rng.uniform(0.03, 0.1, 15)
        d = rng.normal(0, 0.25, 15) + rng.normal(0, se)
        res = peer_contrast_pvalues(d, se, n_boot=400, rng=rng)
        boot.append(res["p_value"].to_numpy())
        naive.append(stats.norm.sf(res["z"].to_numpy()))
    boot, naive = np.concatenate(boot), np.concatenate(naive)
    # (no KS test here: the median agent has z = 0 exactly, an atom in the p-values)
    for a in (0.01, 0.05, 0.1, 0.25):
        assert abs(np.mean(boot <= a) - a) <= 3 * np.sqrt(a * (1 - a) / boot.size) + 0.003
    assert np.mean(naive <= 0.01) > 1.5 * 0.01  # the naive tail is anti-conservative


def test_cell_means_pinned_against_pandas():
    calls = simulate_calls(n_agents=12, days=3, seed=4, customers=False)
    ctx = make_context(calls, options={"min_peers": 3, "min_calls": 5})
    res = check_acw_inflation(ctx)
    h = calls[calls["agent_id"].notna()].copy()
    a = h[h["agent_id"] == "A001"]
    # detail reports the raw mean seconds per call
    row = res.flags.set_index("agent_id").loc["A001"]
    assert f"mean after-call work {a['acw_s'].mean():.0f} s/call" in row["detail"]
    # the effect is the call-weighted deviation of log(1 + mean seconds) from the queue
    # medians of the agents' values (queues with 3+ agents of 5+ calls)
    cell = h.groupby(["queue", "agent_id"])["acw_s"].agg(["mean", "size"]).reset_index()
    cell["d"] = np.log1p(cell["mean"])
    cell = cell[cell["size"] >= 5]
    med = cell.groupby("queue")["d"].median()
    mine = cell[cell["agent_id"] == "A001"]
    mine = mine[mine["queue"].map(cell.groupby("queue").size()) >= 3]
    dev = np.average(mine["d"] - mine["queue"].map(med), weights=mine["size"])
    assert row["effect"] == pytest.approx(100 * (np.exp(dev) - 1), rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("check", ["acw_inflation", "hold_inflation"])
def test_calibrated_on_null_worlds(check):
    """20 simulated centers (80 agents each), honest agents differing by skill, tenure, queue."""
    pv = null_pvalues(check)
    assert_calibrated(pv, conservative_ok=True)
    assert stats.kstest(np.concatenate(pv), "uniform").pvalue > 1e-4


@pytest.mark.parametrize(
    ("check", "effect", "min_recall"),
    [(check_acw_inflation, {"acw": 2.5}, 0.6), (check_hold_inflation, {"hold": 4.0}, 0.6)],
)
def test_power_on_planted_padding(check, effect, min_recall):
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w, customers=False,
                               effects={g: effect for g in GAMERS})
        f = check(make_context(calls)).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= min_recall
    assert np.mean(fp) <= 0.12


def test_skipped_with_reason_without_the_column():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    res = check_acw_inflation(make_context(calls, drop=("acw_s",)))
    assert res.skipped and "acw_s" in res.skipped and res.flags.empty
    zero = calls.assign(hold_s=np.where(calls["agent_id"].notna(), 0.0, np.nan))
    res = check_hold_inflation(make_context(zero))
    assert "zero on every handled call" in res.skipped


def test_flags_have_the_contract_columns():
    from analysis.gaming import FLAG_COLUMNS

    calls = simulate_calls(n_agents=20, days=3, seed=6, customers=False)
    f = check_acw_inflation(make_context(calls, options={"min_peers": 5})).flags
    assert list(f.columns) == FLAG_COLUMNS
    assert (f["check"] == "acw_inflation").all() and f["p_value"].between(0, 1).all()
    assert isinstance(f, pd.DataFrame) and len(f) > 0


def test_synthetic_center_padders_effect_estimated_and_ranked_high():
    """analysis.synth pads ACW by x1.5: the effect reads about +50 %, padders rank high.

    (Novices' ACW is up to x1.5 too, from learning: without tenure the cross-
    section cannot tell them apart, so padders are not always first.)
    """
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="acw_padding=2@0.5")
    f = check_acw_inflation(make_context(c.calls)).flags
    f["rank"] = f.groupby("period")["p_value"].rank()
    pad = f[f["agent_id"].isin(c.truth.loc[c.truth["behaviour"] == "acw_padding", "agent_id"])]
    # two padders x two months (the window's last 6 days, a stub, count with February)
    assert len(pad) == 4 and set(pad["period"]) == {"2026-01", "2026-02"}
    assert 35 <= pad["effect"].mean() <= 70
    assert pad["rank"].mean() <= 6
    assert (pad["p_value"] <= 0.05).sum() >= 2


@pytest.mark.slow
def test_own_history_component_calibrated_on_two_period_worlds():
    """Worlds spanning two months: the change test keeps its size, the level test too."""
    pv = null_pvalues("acw_change", n=8, days=40, seed0=700)
    assert sum(len(p) for p in pv) >= 8 * 40  # one row per agent in the second month
    assert_calibrated(pv, conservative_ok=True)
    tab = rejection_summary(null_pvalues("acw_inflation", n=8, days=40, seed0=700))
    assert (tab["rate"] <= tab["alpha"] + 3 * tab["se"]).all(), tab


def test_onset_of_padding_found_by_own_history():
    """Padding that starts in the second month: the change test finds it."""
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=8, gaming="acw_padding=2@0.5:31-60")
    f = check_acw_change(make_context(c.calls)).flags
    pad = set(c.truth.loc[c.truth["behaviour"] == "acw_padding", "agent_id"])
    assert "2026-01" not in set(f["period"])  # the first month has no month before it
    feb = f[f["period"] == "2026-02"].nsmallest(2, "p_value")
    assert set(feb["agent_id"]) == pad
    assert (feb["p_value"] < 0.001).all()
    assert feb["detail"].str.contains("change since the previous period").all()
    level = check_acw_inflation(make_context(c.calls)).flags
    lvl_feb = level[(level["period"] == "2026-02") & level["agent_id"].isin(pad)]
    assert lvl_feb["p_value"].min() > feb["p_value"].max()  # the level test is weaker
    off = check_acw_change(make_context(c.calls, options={"own_history": False}))
    assert off.skipped and "own_history" in off.skipped


def test_tenure_adjustment_with_roster():
    """Novices' ACW is high from learning: with the roster's hire dates they stop competing
    with padders; on honest centers the rejection rate stays near alpha."""
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="acw_padding=2@0.5")
    out = {}
    for with_roster in (False, True):
        ctx = make_context(c.calls)
        ctx.roster = c.roster if with_roster else None
        f = check_acw_inflation(ctx).flags.merge(c.truth[["agent_id", "behaviour"]])
        f["rank"] = f.groupby("period")["p_value"].rank()
        out[with_roster] = f
    nov = {k: v.loc[v["behaviour"] == "novice", "p_value"].le(0.05).mean() for k, v in out.items()}
    pad = {k: v.loc[v["behaviour"] == "acw_padding", "rank"].mean() for k, v in out.items()}
    assert nov[True] < nov[False] and pad[True] < pad[False]
    assert out[True]["detail"].str.contains("typical novice excess").any()
    rates = []
    for s in (31, 32, 33):
        h = generate_center(agents=60, days=61, seed=s, gaming="none")
        ctx = make_context(h.calls)
        ctx.roster = h.roster
        rates.append(check_acw_inflation(ctx).flags["p_value"].le(0.05).mean())
    assert np.mean(rates) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 540)
