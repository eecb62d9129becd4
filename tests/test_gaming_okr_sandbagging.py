"""OKR sandbagging: projection pinned to numpy, calibration on honest synthetic centers,
power on planted sandbaggers, attainment piling note, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.okr_sandbagging import (
    PROJECTED_METRICS,
    check_okr_sandbagging,
    okr_projections,
    okr_projections_many,
)


@pytest.fixture(scope="module")
def small_calls():
    return simulate_calls(n_agents=20, days=40, seed=17, customers=False)


def test_projection_pinned_against_numpy_polyfit(small_calls):
    ctx = make_context(small_calls)
    proj, period = okr_projections(ctx, "aht_s", clip=10.0)
    assert period == "2026-02"
    h = small_calls[small_calls["agent_id"] == "A003"].copy()
    h["day"] = h["answer_ts"].dt.normalize()
    start = h.loc[h["day"].dt.strftime("%Y-%m") == period, "day"].min()
    end = small_calls.loc[small_calls["answer_ts"].dt.strftime("%Y-%m") == period,
                          "answer_ts"].max().normalize()
    hist = h[h["day"] < start]
    x = (hist["day"] - start).dt.days.to_numpy(float)
    y = (hist["talk_s"] + hist["hold_s"] + hist["acw_s"]).to_numpy()
    slope, icpt = np.polyfit(x, y, 1)
    want = icpt + slope * (end - start).days
    got = proj.set_index("agent_id").loc["A003"]
    assert got["projection"] == pytest.approx(want, rel=1e-9)
    assert got["hist_mean"] == pytest.approx(y.mean())
    cur = h[h["day"] >= start]
    assert got["actual"] == pytest.approx((cur["talk_s"] + cur["hold_s"] + cur["acw_s"]).mean())


def test_actuals_are_the_panels_metrics():
    """One definition: each metric's mean in the OKR period is the panel's value."""
    from analysis.panel import build_panel
    from analysis.synth import generate_center

    c = generate_center(agents=12, days=45, seed=4, gaming="none")
    ctx = make_context(c.calls, options={"short_call_s": 25.0})
    tabs, period = okr_projections_many(ctx, PROJECTED_METRICS, clip=10.0)
    panel = build_panel(c.calls, short_call_s=25.0).set_index(["agent_id", "period"])
    for m in PROJECTED_METRICS:
        t = tabs[m].set_index("agent_id")
        want = panel.xs(period, level="period")[m].reindex(t.index)
        assert want.notna().sum() >= 10, m
        np.testing.assert_allclose(t["actual"], want, rtol=1e-12, err_msg=m)
        # one metric alone gives what the pass over all of them gives
        alone, _ = okr_projections(ctx, m, clip=10.0)
        pd.testing.assert_frame_equal(alone, tabs[m])


@pytest.mark.slow
def test_calibrated_on_honest_synthetic_centers():
    """Honest agents set targets from their own (noisy) trend, as in analysis.synth."""
    from analysis.synth import generate_center

    ps = []
    for s in range(8):
        c = generate_center(agents=60, days=61, seed=100 + s, gaming="none")
        f = check_okr_sandbagging(make_context(c.calls, okr=c.okr, options={"seed": s})).flags
        ps.append(f["p_value"].to_numpy())
    p = np.concatenate(ps)
    for a in (0.01, 0.05, 0.1):
        se_w = np.std([np.mean(x <= a) for x in ps], ddof=1) / np.sqrt(len(ps))
        se = max(np.sqrt(a * (1 - a) / p.size), se_w)
        assert 0.4 * a <= np.mean(p <= a) <= a + 3 * se


def test_power_on_planted_sandbaggers():
    from analysis.synth import generate_center

    rec = []
    for s in range(3):
        c = generate_center(agents=60, days=61, seed=200 + s, gaming="sandbagging=4@0.1")
        f = check_okr_sandbagging(make_context(c.calls, okr=c.okr)).flags
        sb = set(c.truth.loc[c.truth["behaviour"] == "sandbagging", "agent_id"])
        rec.append(f[f["agent_id"].isin(sb)]["p_value"].le(0.05).mean())
        assert f[~f["agent_id"].isin(sb)]["p_value"].le(0.05).mean() <= 0.12
    assert np.mean(rec) >= 0.75


def test_attainment_piling_note(small_calls):
    ctx = make_context(small_calls)
    proj, _ = okr_projections(ctx, "aht_s")
    agents = {}
    for r in proj.itertuples():
        base = 1.1 * r.actual
        agents[r.agent_id] = {"kr_aht": {"baseline": base, "target": base - (base - r.actual) / 1.05}}
    okr = {"objectives": [{"id": "o", "key_results": [
        {"id": "kr_aht", "metric": "aht_s", "direction": "lower"}]}], "agents": agents}
    res = check_okr_sandbagging(make_context(small_calls, okr=okr, options={"min_peers": 5}))
    note = [n for n in res.notes if n.startswith("attainment piling")]
    assert note and f"{len(agents)} key results in [1.0, 1.1) vs 0 in" in note[0]
    assert (res.flags["k"] == 1).all()


def test_skips_with_reasons(small_calls):
    assert "no OKR" in check_okr_sandbagging(make_context(small_calls)).skipped
    okr = {"objectives": [{"id": "o", "key_results": [{"id": "k", "metric": "aht_s"}]}]}
    assert "per-agent targets" in check_okr_sandbagging(
        make_context(small_calls, okr=okr)).skipped
    okr["agents"] = {"A001": {"k": {"baseline": 1, "target": 2}}}
    okr["objectives"][0]["key_results"][0]["metric"] = "calls"
    res = check_okr_sandbagging(make_context(small_calls, okr=okr))
    assert res.skipped and any("'calls' not tested" in n for n in res.notes)


def test_tenure_adjustment_with_roster():
    """Novices whose targets were set while they learned carry extra slack: with the roster's
    hire dates they are compared after the novices' typical slack is removed, while an
    experienced agent whose targets are easier still than the novices' stays found."""
    calls = simulate_calls(n_agents=40, days=61, seed=23, customers=False)
    ctx = make_context(calls)
    proj, period = okr_projections(ctx, "aht_s")
    rng = np.random.default_rng(5)
    ids = sorted(proj["agent_id"])
    novices, sandbagger = set(ids[:8]), ids[8]
    agents = {}
    for r in proj.itertuples():
        slack = rng.normal(-0.05, 0.03) + (0.15 if r.agent_id in novices else 0.0) + (
            0.30 if r.agent_id == sandbagger else 0.0)
        agents[r.agent_id] = {"kr_aht": {"baseline": r.hist_mean,
                                         "target": r.projection * (1 + slack)}}
    okr = {"objectives": [{"id": "o", "key_results": [
        {"id": "kr_aht", "metric": "aht_s", "direction": "lower"}]}], "agents": agents}
    start = pd.Timestamp(proj["period_start"].iloc[0])
    roster = pd.DataFrame({"agent_id": ids, "hire_date": [
        start - pd.Timedelta(days=40 if a in novices else 900) for a in ids]})
    out = {}
    for with_roster in (False, True):
        c = make_context(calls, okr=okr)
        c.roster = roster if with_roster else None
        res = check_okr_sandbagging(c)
        out[with_roster] = res.flags.set_index("agent_id")["p_value"]
        if with_roster:
            assert any("8 agents hired < 90 days" in n for n in res.notes)
            detail = res.flags.set_index("agent_id")["detail"]
            assert "novices' typical" in detail[sorted(novices)[0]]
            assert "novices' typical" not in detail[sandbagger]
    nov = sorted(novices)
    assert out[False][nov].median() < 0.01          # without tenure they look like sandbaggers
    assert out[True][nov].min() > 0.01              # with it, none of them does
    assert out[True][sandbagger] < 0.01
    # the adjustment only moves novices: the others' slack is unchanged
    assert out[True].drop(nov + [sandbagger]).gt(0.001).all()
