"""Change points: statistic pinned to statsmodels, planted steps found, null series calibrated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.changepoints import (
    binomial_split_lr,
    check_changepoints,
    detect_changepoints,
    detect_changepoints_mean,
)


def _series(rng, days, rates, *, mean_n=400, overdisp=2000.0):
    """Daily binomial counts with beta over-dispersion around a piecewise rate."""
    n = rng.poisson(mean_n, days)
    r = np.asarray(rates, float)
    p = rng.beta(r * overdisp, (1 - r) * overdisp)
    k = rng.binomial(n, p)
    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    return pd.DataFrame({"date": dates, "k": k, "n": n})


def _bin_ci(x, n, level=0.99):
    lo = stats.beta.ppf((1 - level) / 2, x, n - x + 1) if x > 0 else 0.0
    hi = stats.beta.ppf(1 - (1 - level) / 2, x + 1, n - x) if x < n else 1.0
    return lo, hi


def test_lr_statistic_matches_statsmodels_glm():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    df = _series(rng, 30, [0.05] * 12 + [0.08] * 18)
    split = 12
    step = (np.arange(30) >= split).astype(float)
    endog = np.column_stack([df["k"], df["n"] - df["k"]])
    full = sm.GLM(endog, sm.add_constant(step), family=sm.families.Binomial()).fit()
    null = sm.GLM(endog, np.ones((30, 1)), family=sm.families.Binomial()).fit()
    expected = 2 * (full.llf - null.llf)
    lr = binomial_split_lr(df["k"].to_numpy(), df["n"].to_numpy(), min_seg=1)
    # entry j is the split whose second segment starts at day 1 + j
    assert lr[split - 1] == pytest.approx(expected, rel=1e-8)
    assert int(np.argmax(lr)) + 1 == split or lr[split - 1] >= 0.9 * lr.max()


def test_planted_step_found_near_its_day():
    hits = 0
    for s in range(10):
        rng = np.random.default_rng(100 + s)
        df = _series(rng, 120, [0.05] * 50 + [0.07] * 70)
        res = detect_changepoints(df, seed=s)
        if len(res) and (abs((res["date"] - df["date"][50]).dt.days) <= 5).any():
            hits += 1
    assert hits >= 8


def test_two_planted_steps_both_found_and_rates_reported():
    rng = np.random.default_rng(5)
    df = _series(rng, 150, [0.04] * 50 + [0.10] * 50 + [0.04] * 50)
    res = detect_changepoints(df, max_changes=2)
    assert len(res) == 2
    days = sorted((res["date"] - df["date"][0]).dt.days)
    assert abs(days[0] - 50) <= 3 and abs(days[1] - 100) <= 3
    first = res.sort_values("date").iloc[0]
    assert first["before"] == pytest.approx(0.04, abs=0.01)
    assert first["after"] == pytest.approx(0.10, abs=0.01)
    # before/after are pooled rates of the neighbouring segments (hand calculation)
    idx = int(days[0])
    assert first["before"] == pytest.approx(df["k"][:idx].sum() / df["n"][:idx].sum())


def test_location_agrees_with_ruptures_binseg():
    import ruptures as rpt

    rng = np.random.default_rng(11)
    df = _series(rng, 100, [0.05] * 37 + [0.09] * 63)
    res = detect_changepoints(df, max_changes=1)
    rate = (df["k"] / df["n"]).to_numpy()
    bkp = rpt.Binseg(model="l2", min_size=7).fit(rate).predict(n_bkps=1)[0]
    assert abs(int((res["date"].iloc[0] - df["date"][0]).days) - bkp) <= 2


@pytest.mark.parametrize("overdisp", [200.0, 1e6])
def test_null_series_calibrated_at_several_alphas(overdisp):
    """No change: the best split's permutation p-value rejects at the nominal rate.

    With over-dispersed days (overdisp=200) a binomial bootstrap would reject
    almost always; the permutation null keeps the size.
    """
    reps = 300
    ps = []
    for s in range(reps):
        rng = np.random.default_rng(1000 + s)
        df = _series(rng, 60, [0.05] * 60, overdisp=overdisp)
        res = detect_changepoints(df, alpha=1.0, max_changes=1, n_perm=199, max_perm=199, seed=s)
        ps.append(res["p_value"].iloc[0])
    ps = np.array(ps)
    for a in (0.01, 0.05, 0.1):
        lo, hi = _bin_ci(int((ps <= a).sum()), reps)
        assert lo <= a <= hi, (a, (ps <= a).mean())


def test_null_detected_changes_rate():
    """At alpha=0.05 a null series yields a change about 5 % of the time."""
    reps = 200
    found = 0
    for s in range(reps):
        rng = np.random.default_rng(5000 + s)
        df = _series(rng, 60, [0.08] * 60)
        found += len(detect_changepoints(df, n_perm=199, max_perm=999, seed=s)) > 0
    lo, hi = _bin_ci(found, reps)
    assert lo <= 0.05 <= hi


def test_mean_variant_finds_step_and_is_calibrated():
    rng = np.random.default_rng(8)
    y = np.r_[rng.normal(300, 12, 40), rng.normal(320, 12, 40)]
    df = pd.DataFrame({"date": pd.date_range("2026-03-01", periods=80), "mean": y, "n": 100})
    res = detect_changepoints_mean(df)
    assert len(res) >= 1 and abs((res["date"].iloc[0] - df["date"][40]).days) <= 3
    assert res["after"].iloc[0] - res["before"].iloc[0] == pytest.approx(20, abs=8)
    reps, rej = 200, 0
    for s in range(reps):
        r = np.random.default_rng(9000 + s)
        d = pd.DataFrame({"date": pd.date_range("2026-03-01", periods=50),
                          "mean": r.gamma(4, 75, 50), "n": 100})
        out = detect_changepoints_mean(d, alpha=1.0, max_changes=1, n_perm=199, max_perm=199,
                                       seed=s)
        rej += out["p_value"].iloc[0] <= 0.05
    lo, hi = _bin_ci(rej, reps)
    assert lo <= 0.05 <= hi


def test_input_errors_are_specific():
    from analysis.errors import InputError

    with pytest.raises(InputError, match="lacks column"):
        detect_changepoints(pd.DataFrame({"date": [1], "k": [1]}))
    bad = pd.DataFrame({"date": range(20), "k": [5] * 20, "n": [3] * 20})
    with pytest.raises(InputError, match="between 0"):
        detect_changepoints(bad)


def test_check_finds_the_day_hangups_stopped():
    """Like Anonymous Bank 1999: hang-ups until a crackdown; the check dates the stop."""
    calls = simulate_calls(n_agents=30, days=40, seed=21, customers=False)
    cut = pd.Timestamp("2026-01-05") + pd.Timedelta(days=24)
    rng = np.random.default_rng(0)
    handled = calls["agent_id"].notna()
    gamer = calls["agent_id"].isin(["A001", "A002", "A003"])
    mask = handled & gamer & (calls["answer_ts"] < cut) & (rng.random(len(calls)) < 0.25)
    calls.loc[mask, "talk_s"] = 6.0
    ctx = make_context(calls, options={"cp_min_agent_days": 30})
    res = check_changepoints(ctx)
    assert res.skipped == "" and res.flags.empty
    cp = res.changepoints
    assert list(cp.columns[:6]) == ["scope", "metric", "date", "before", "after", "p_value"]
    center = cp[(cp["scope"] == "center") & (cp["metric"] == "short_call_rate")]
    assert len(center) >= 1
    assert (abs((center["date"] - cut).dt.days) <= 2).any()
    row = center.loc[abs((center["date"] - cut).dt.days).idxmin()]
    assert row["before"] > row["after"]
    agents = set(cp.loc[(cp["scope"] != "center") & (cp["metric"] == "short_call_rate"), "scope"])
    assert {"A001", "A002", "A003"} <= agents
    assert len(agents - {"A001", "A002", "A003"}) <= 1


def test_check_skips_without_talk_time():
    calls = simulate_calls(n_agents=5, days=3, seed=2, customers=False)
    ctx = make_context(calls, drop=("talk_s",))
    res = check_changepoints(ctx)
    assert "talk_s" in res.skipped


# ------------------------------------------------------------ the batched agent path


def _agent_frame(rng, n_agents, days, *, change=None):
    """Agent x day series (short calls, transfers, mean handle); ``change``: agents with a step."""
    rows = []
    dates = pd.date_range("2026-01-05", periods=days, freq="D")
    for i in range(n_agents):
        t = days - (i % 4)  # a few different series lengths
        n = rng.poisson(60 if i != 4 else 600, t) + 5  # A004: > 20,000 calls
        step = np.zeros(t)
        if change is not None and i in change:
            step[t // 2 :] = 1.0
        ks = rng.binomial(n, rng.beta(40 * (0.06 + 0.05 * step), 40 * (0.94 - 0.05 * step)))
        kt = rng.binomial(n, 0.03)
        mh = rng.gamma(4, 75, t) + 40 * step
        if i == 1:  # two constant segments: no within-segment variance
            mh = np.r_[np.full(t // 2, 280.0), np.full(t - t // 2, 310.0)]
        for d in range(t):
            rows.append(dict(agent_id=f"A{i:03d}", date=dates[d], n=n[d], k_short=ks[d],
                             k_transfer=kt[d], mean_handle=mh[d]))
    return pd.DataFrame(rows)


def test_batched_agent_splits_equal_the_one_by_one_detection():
    """Same splits, statistics, p-values and permutation counts as detect_changepoints*.

    Covers series of several lengths sharing permutations, planted steps that go
    through every sequential stage, and the series the batch hands back to
    ``_best_split`` (a perfect two-level mean series, an agent with > 20,000 calls).
    """
    from analysis.gaming.changepoints import _agent_changepoints

    rng = np.random.default_rng(31)
    df = _agent_frame(rng, 24, 45, change={2, 5, 9})
    df.loc[df["agent_id"] == "A003", "k_transfer"] = 0  # no transfers: metric skipped
    specs = [("short_call_rate", "k_short"), ("transfer_rate", "k_transfer")]
    kw = dict(min_segment_days=7, max_changes=1, alpha=1.0, seed=5, n_perm=99, max_perm=999)
    got = _agent_changepoints(df, specs, min_seg=7, seed=5, n_perm=99, max_perm=999)
    ref = []
    for aid, g in df.groupby("agent_id"):
        daily = g.drop(columns="agent_id")
        for metric, kc in specs:
            if daily[kc].sum():
                r = detect_changepoints(daily, k_col=kc, n_col="n", **kw)
                ref += [dict(scope=aid, metric=metric, **x) for x in r.to_dict("records")]
        r = detect_changepoints_mean(daily, mean_col="mean_handle", n_col="n", **kw)
        ref += [dict(scope=aid, metric="mean_handle_s", **x) for x in r.to_dict("records")]
    assert pd.DataFrame(got).equals(pd.DataFrame(ref))
    assert max(r["n_perm"] for r in got) == 999  # planted steps went through every stage
    assert not any(r["scope"] == "A003" and r["metric"] == "transfer_rate" for r in got)


@pytest.mark.parametrize("kind", ["binom", "mean"])
def test_batched_agent_pvalues_calibrated_on_null_series(kind):
    """No change in any agent's series: the batched sequential p-values reject at the nominal rate.

    All series of one length share the permutations (as one-by-one runs with the
    same seed do); each p-value is still a permutation p-value of its own series.
    """
    from analysis.gaming.changepoints import _best_splits_batch

    rng = np.random.default_rng(77)
    reps, t = 1000, 45
    if kind == "binom":
        n = rng.poisson(60, (reps, t)) + 5
        k = rng.binomial(n, rng.beta(0.06 * 300, 0.94 * 300, (reps, t)))  # over-dispersed days
        res = _best_splits_batch("binom", k.astype(float), n.astype(float), min_seg=7, seed=3,
                                 n_perm=499, max_perm=9_999)
    else:
        y = rng.gamma(4, 75, (reps, t))
        res = _best_splits_batch("mean", y, None, min_seg=7, seed=3, n_perm=499, max_perm=9_999)
    ps = np.array([r[2] for r in res])
    for a in (0.01, 0.05, 0.1):
        lo, hi = _bin_ci(int((ps <= a).sum()), reps)
        assert lo <= a <= hi, (a, (ps <= a).mean())
