"""Change points: statistics pinned to statsmodels, planted steps found, null series calibrated.

The legacy permutation detector (``detect_changepoints``: exchangeable days) and the
model-based one behind the check (``detect_steps``: smooth trend and weekday effects
in the null, PELT candidates, bootstrap tests, Holm, date intervals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.changepoints import (
    CHANGEPOINT_COLUMNS,
    _global_scan_pvalue,
    _Model,
    agent_steps,
    binomial_split_lr,
    check_changepoints,
    detect_changepoints,
    detect_changepoints_mean,
    detect_steps,
    locate_step,
    null_design,
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


@pytest.mark.parametrize("overdisp", [200.0])
def test_null_series_calibrated_at_several_alphas(overdisp):
    """No change: the best split's permutation p-value rejects at the nominal rate.

    With over-dispersed days (overdisp=200) a binomial bootstrap would reject
    almost always; the permutation null keeps the size.
    """
    reps = 200
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


def test_mean_variant_finds_step_and_is_calibrated():
    rng = np.random.default_rng(8)
    y = np.r_[rng.normal(300, 12, 40), rng.normal(320, 12, 40)]
    df = pd.DataFrame({"date": pd.date_range("2026-03-01", periods=80), "mean": y, "n": 100})
    res = detect_changepoints_mean(df)
    assert len(res) >= 1 and abs((res["date"].iloc[0] - df["date"][40]).days) <= 3
    assert res["after"].iloc[0] - res["before"].iloc[0] == pytest.approx(20, abs=8)
    reps, rej = 100, 0
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


def test_check_skips_without_talk_time():
    calls = simulate_calls(n_agents=5, days=3, seed=2, customers=False)
    ctx = make_context(calls, drop=("talk_s",))
    res = check_changepoints(ctx)
    assert "talk_s" in res.skipped




# ------------------------------------------------------------ steps against a smooth null

DATES = pd.date_range("2026-01-05", periods=61)
DATES = DATES[DATES.day_of_week != 6]  # closed on Sundays
_WD = np.array([0.15, 0.06, 0.0, -0.03, -0.06, -0.15, 0.0])


def _drift_series(rng, *, step=0.0, at=30, drift=-0.2876820724517809, noise=0.05, mean_n=4000,
                  dates=DATES, base=0.04):
    """Daily counts: logit rate = base + weekday + half-cosine drift + step + day noise."""
    T = len(dates)
    x = np.arange(T) / (T - 1)
    ramp = 0.5 * (1 - np.cos(np.pi * x))
    eta = (np.log(base / (1 - base)) + _WD[dates.day_of_week] + drift * ramp
           + step * (np.arange(T) >= at) + rng.normal(0, noise, T))
    n = rng.poisson(mean_n, T)
    k = rng.binomial(n, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"date": dates, "k": k, "n": n})


def test_null_design_has_intercept_weekdays_and_spline():
    X = null_design(DATES)
    assert np.all(X[:, 0] == 1)
    # 6 open weekdays -> 5 dummies; 61 days -> 1 + 61 // 30 = 3 spline columns
    assert X.shape == (len(DATES), 1 + 5 + 3)
    assert np.linalg.matrix_rank(X) == X.shape[1]
    assert null_design(DATES, trend_df=0, weekday=False).shape == (len(DATES), 1)


def test_binomial_fit_and_step_score_match_statsmodels():
    """IRLS fit equals statsmodels' GLM; the scan is its score test of an added step."""
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    df = _drift_series(rng, step=0.1, mean_n=600, noise=0.0)
    X = null_design(df["date"])
    m = _Model("binom", df["k"].to_numpy(float), df["n"].to_numpy(float), X)
    fr = m.fit(m.y[None, :], X)
    endog = np.column_stack([df["k"], df["n"] - df["k"]])
    ref = sm.GLM(endog, X, family=sm.families.Binomial()).fit()
    assert np.allclose(fr[0][0], ref.fittedvalues * df["n"], rtol=1e-7)
    phi = float(fr[3][0])
    pearson = float(ref.pearson_chi2 / ref.df_resid)
    assert phi == pytest.approx(max(pearson, 1.0), rel=1e-6)
    z = m.scan(fr, X, 0, m.T, 7)[0]
    for tau in (7, 20, 31, len(df) - 7):
        step = (np.arange(m.T) >= tau).astype(float)[:, None]
        st = ref.score_test(exog_extra=step)[0]
        assert z[tau] * phi == pytest.approx(float(np.squeeze(st)), rel=1e-6)
    assert np.isneginf(z[:7]).all() and np.isneginf(z[len(df) - 6:]).all()


def test_agent_model_fit_and_score_match_statsmodels_with_offset():
    """The one-column fit (an agent's series against the peers' logit as offset: its own
    IRLS, no matrices) equals statsmodels' GLM with that offset, row by row of a batch,
    and its scan is the GLM's score test of an added step."""
    import statsmodels.api as sm

    rng = np.random.default_rng(14)
    T = 45
    n = rng.integers(5, 60, T).astype(float)
    off = special.logit(np.clip(0.08 + 0.03 * np.sin(np.arange(T) / 5), 1e-3, 1))
    Y = rng.binomial(n.astype(int)[None, :].repeat(4, 0), special.expit(off + 0.4)).astype(float)
    X = np.ones((T, 1))
    m = _Model("binom", Y[0], n, X, off)
    fr = m.fit(Y, X)
    for b in range(len(Y)):
        ref = sm.GLM(np.column_stack([Y[b], n - Y[b]]), X, family=sm.families.Binomial(),
                     offset=off).fit()
        assert np.allclose(fr[0][b], ref.fittedvalues * n, rtol=1e-7)
        phi = float(fr[3][b])
        assert phi == pytest.approx(max(float(ref.pearson_chi2 / ref.df_resid), 1.0), rel=1e-6)
        assert float(fr[5][b, 0, 0]) == pytest.approx(float(ref.cov_params()[0, 0] / ref.scale),
                                                     rel=1e-6)
        z = m.scan(fr, X, 0, T, 7)[b]
        for tau in (7, 22, T - 7):
            step = (np.arange(T) >= tau).astype(float)[:, None]
            st = float(np.squeeze(ref.score_test(exog_extra=step)[0]))
            assert z[tau] * phi == pytest.approx(st, rel=1e-6)


def test_gaussian_step_score_is_the_lm_statistic_of_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(6)
    T = len(DATES)
    y = 300 + 15 * _WD[DATES.day_of_week] * 10 + np.linspace(0, 30, T) + rng.normal(0, 8, T)
    X = null_design(DATES)
    m = _Model("gauss", y, np.ones(T), X)
    fr = m.fit(y[None, :], X)
    z = m.scan(fr, X, 0, T, 5)[0]
    r0 = sm.OLS(y, X).fit()
    for tau in (5, 26, T - 5):
        x1 = np.column_stack([X, (np.arange(T) >= tau).astype(float)])
        r1 = sm.OLS(y, x1).fit()
        lm = (r0.ssr - r1.ssr) / (r0.ssr / r0.df_resid)
        assert z[tau] == pytest.approx(lm, rel=1e-8)


@pytest.mark.parametrize("drift", [0.0, np.log(0.75)])
def test_gate_calibrated_under_smooth_drift_and_weekday_cycle(drift):
    """No step: the best step's bootstrap p-value rejects at the nominal rate (.05, .01),
    with a weekday cycle, a smooth drift and over-dispersed days in the data."""
    reps = 250
    rng = np.random.default_rng(int(100 + 10 * abs(drift)))
    ps = []
    for _ in range(reps):
        df = _drift_series(rng, drift=drift)
        m = _Model("binom", df["k"].to_numpy(float), df["n"].to_numpy(float),
                   null_design(df["date"]))
        ps.append(_global_scan_pvalue(m, min_seg=7, rng=rng, n_boot=99, max_boot=99)[2])
    ps = np.array(ps)
    for a in (0.05, 0.01):
        lo, hi = _bin_ci(int((ps <= a).sum()), reps)
        assert lo <= a <= hi, (a, (ps <= a).mean())


def test_smooth_drift_is_a_step_to_the_permutation_null_but_not_to_detect_steps():
    """Why the null needs the trend: shuffling days rejects a smooth drift."""
    rng = np.random.default_rng(9)
    old = new = 0
    for s in range(10):
        df = _drift_series(rng, drift=np.log(0.6))
        old += len(detect_changepoints(df, n_perm=199, max_perm=999, seed=s)) > 0
        new += len(detect_steps(df, n_boot=99, max_boot=999, n_ci=19, seed=s)) > 0
    assert old >= 8 and new <= 2


def test_planted_step_found_with_an_interval_that_covers_it():
    rng = np.random.default_rng(12)
    found = covered = 0
    for s in range(8):
        df = _drift_series(rng, step=-0.6, at=30)
        res = detect_steps(df, n_boot=199, max_boot=1999, n_ci=99, seed=s)
        assert list(res.columns[:6]) == ["index", "date", "date_lo", "date_hi", "before", "after"]
        if len(res):
            found += 1
            r = res.iloc[(res["index"] - 30).abs().argmin()]
            covered += r["date_lo"] <= df["date"][30] <= r["date_hi"]
            assert r["p_value"] <= 0.05 and r["after"] < r["before"]
            k, n = df["k"].to_numpy(), df["n"].to_numpy()
            i = int(r["index"])
            lo = int(res["index"][res["index"] < i].max()) if (res["index"] < i).any() else 0
            assert r["before"] == pytest.approx(k[lo:i].sum() / n[lo:i].sum())
    assert found >= 7 and covered >= 6


def test_two_planted_steps_both_found():
    rng = np.random.default_rng(5)
    dates = pd.date_range("2026-01-05", periods=150)
    T = len(dates)
    n = rng.poisson(3000, T)
    rate = np.where((np.arange(T) >= 50) & (np.arange(T) < 100), 0.08, 0.04)
    df = pd.DataFrame({"date": dates, "k": rng.binomial(n, rate), "n": n})
    res = detect_steps(df, n_boot=199, max_boot=1999, n_ci=99, seed=1)
    assert len(res) == 2
    assert abs(res["index"].iloc[0] - 50) <= 2 and abs(res["index"].iloc[1] - 100) <= 2
    assert (res["p_value"] <= 0.05).all()
    assert res["after"].iloc[0] == pytest.approx(0.08, abs=0.005)


def test_detect_steps_on_daily_means():
    rng = np.random.default_rng(8)
    T = len(DATES)
    y = 300 * (1 + 0.05 * _WD[DATES.day_of_week] / 0.15) + 40 * (np.arange(T) >= 25)
    y = y + rng.normal(0, 6, T)
    df = pd.DataFrame({"date": DATES, "mean": y, "n": 100})
    res = detect_steps(df, kind="gauss", n_boot=199, max_boot=1999, n_ci=99, seed=2)
    assert len(res) >= 1
    r = res.iloc[(res["index"] - 25).abs().argmin()]
    assert abs(int(r["index"]) - 25) <= 2
    assert r["after"] - r["before"] == pytest.approx(40, abs=10)


def test_locate_step_dates_a_planted_drop():
    rng = np.random.default_rng(3)
    df = _drift_series(rng, step=-0.8, at=33, drift=0.0)
    got = locate_step(df, (DATES[20], DATES[45]))
    assert abs((got - DATES[33]).days) <= 2
    assert locate_step(df, ("2030-01-01", "2030-02-01")) is None


def test_detect_steps_input_errors():
    from analysis.errors import InputError

    with pytest.raises(InputError, match="lacks column"):
        detect_steps(pd.DataFrame({"date": [1], "k": [1]}))
    bad = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=40), "k": 5, "n": 3})
    with pytest.raises(InputError, match="between 0"):
        detect_steps(bad)
    short = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=10), "k": 1, "n": 30})
    assert detect_steps(short).empty


# ------------------------------------------------------------ the check and agent_steps


@pytest.fixture(scope="module")
def messy_null_cp():
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=3, gaming="none", stress="messy")
    ctx = make_context(c.calls)
    return c, check_changepoints(ctx)


def test_messy_null_world_has_no_center_step_and_few_agent_steps(messy_null_cp):
    c, res = messy_null_cp
    cp = res.changepoints
    assert list(cp.columns) == CHANGEPOINT_COLUMNS
    assert res.flags.empty and res.skipped == ""
    assert not (cp["level"] == "center").any()
    truth = c.truth.set_index("agent_id").behaviour
    honest = truth[truth.isin(["honest", "hard_queue"])].index
    stepped = set(cp.loc[cp["level"] == "agent", "agent_id"]) & set(honest)
    assert len(stepped) <= 0.02 * len(honest) + 1
    assert (cp["p_value"] <= 0.05).all()


def test_check_dates_hangups_that_start_mid_window_against_peers():
    from analysis.synth import generate_center

    c = generate_center(agents=40, days=61, seed=5, gaming="hangup=3@0.12:30-60",
                        stress="messy")
    ctx = make_context(c.calls, options={"cp_min_agent_days": 30})
    cp = check_changepoints(ctx).changepoints
    gamers = set(c.truth.loc[c.truth.behaviour == "hangup", "agent_id"])
    start = pd.Timestamp(c.start) + pd.Timedelta(days=30)
    rows = cp[(cp["level"] == "agent") & cp["agent_id"].isin(gamers)
              & (cp["metric"] == "short_call_rate")]
    assert set(rows["agent_id"]) == gamers
    for r in rows.itertuples():
        assert r.date_lo <= start + pd.Timedelta(days=2) and r.date_hi >= start - pd.Timedelta(days=2)
        assert r.after > r.before + 0.05
    assert (cp.loc[cp["level"] == "center", "agent_id"] == "").all()
    assert (cp.loc[cp["level"] == "agent", "agent_id"] != "").all()


def test_agent_steps_gives_only_the_requested_agents_significant_steps():
    from analysis.synth import generate_center

    c = generate_center(agents=30, days=45, seed=8, gaming="hangup=2@0.2:0-25")
    ctx = make_context(c.calls)
    gamers = sorted(c.truth.loc[c.truth.behaviour == "hangup", "agent_id"])
    honest = c.truth.loc[c.truth.behaviour == "honest", "agent_id"].iloc[0]
    cp = agent_steps(ctx, [*gamers, honest, "nobody"])
    assert list(cp.columns) == CHANGEPOINT_COLUMNS
    assert set(cp["agent_id"]) <= {*gamers, honest}
    assert set(gamers) <= set(cp["agent_id"])
    assert (cp["level"] == "agent").all() and (cp["source"] == "agent_steps").all()
    assert (cp["p_value"] <= 0.05).all()
    stop = pd.Timestamp(c.start) + pd.Timedelta(days=26)
    for aid in gamers:
        r = cp[cp["agent_id"] == aid].iloc[0]
        assert abs((r["date"] - stop).days) <= 3 and r["after"] < r["before"]
    assert agent_steps(ctx, []).empty
