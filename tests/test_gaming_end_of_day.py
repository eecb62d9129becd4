"""End-of-day stretching: contrasts pinned to pandas, calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.gaming._sigsim import make_context, null_pvalues, rejection_summary, simulate_calls
from analysis.gaming.end_of_day import (
    check_end_of_day,
    day_clustered_contrasts,
    end_of_day_contrasts,
)

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def test_contrasts_pinned_against_pandas():
    calls = simulate_calls(n_agents=6, days=3, seed=8, customers=False)
    ctx = make_context(calls)
    got = end_of_day_contrasts(ctx, min_late=1, min_rest=1).set_index("agent_id")
    h = calls[calls["agent_id"].notna()].copy()
    h["day"] = h["answer_ts"].dt.normalize()
    h["lt"] = np.where(h["talk_s"] >= 20, np.log1p(h["talk_s"]), np.nan)
    h["y"] = h["lt"] - h.groupby("queue")["lt"].transform("mean")
    g = h.groupby(["agent_id", "day"])["answer_ts"]
    h["late"] = h["answer_ts"] >= g.transform("max") - pd.Timedelta(minutes=60)
    span = (g.transform("max") - g.transform("min")).dt.total_seconds()
    h = h[span >= 7200]
    a = h[h["agent_id"] == "A002"]
    d = a.loc[a["late"], "y"].mean() - a.loc[~a["late"], "y"].mean()
    assert got.loc["A002", "d_talk"] == pytest.approx(d, rel=1e-9)
    # idle gap: log(1 + idle) after each call, centred on the *other* agents' mean gap
    # whose next answer falls in the same hour of the day (all calls, one period here)
    h = h.sort_values(["agent_id", "answer_ts"])
    nxt = h.groupby(["agent_id", "day"])["answer_ts"].shift(-1)
    idle = (nxt - h["answer_ts"]).dt.total_seconds() - h["talk_s"] - h["hold_s"] - h["acw_s"]
    h["gap"] = np.log1p(idle.clip(lower=0))
    h["hr"] = nxt.dt.hour
    a = h[h["agent_id"] == "A002"].dropna(subset=["gap"])
    others = h[h["agent_id"] != "A002"].dropna(subset=["gap"])
    centre = others.groupby("hr")["gap"].agg(["mean", "size"])
    full = h.dropna(subset=["gap"]).groupby("hr")["gap"].mean()  # fewer than 30 others
    c = np.where(centre["size"].reindex(a["hr"]).fillna(0).to_numpy() >= 30,
                 centre["mean"].reindex(a["hr"]).to_numpy(), full.reindex(a["hr"]).to_numpy())
    gc = a["gap"].to_numpy() - c
    late = a["late"].to_numpy()
    dg = gc[late].mean() - gc[~late].mean()
    assert got.loc["A002", "d_gap"] == pytest.approx(dg, rel=1e-6, abs=1e-9)


@pytest.mark.slow
def test_calibrated_on_null_worlds():
    """Every honest agent slows down late by a different amount; the null is the peers'."""
    tab = rejection_summary(null_pvalues("end_of_day_stretch"))
    for r in tab.itertuples():
        assert r.alpha - 3 * r.se <= r.rate <= r.alpha + 3 * r.se, tab


@pytest.mark.parametrize(("effect", "min_recall"), [({"eod": 1.6}, 0.85), ({"eod_gap": 2.0}, 0.85)])
def test_power_on_planted_stretching(effect, min_recall):
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w, customers=False,
                               effects={g: effect for g in GAMERS})
        f = check_end_of_day(make_context(calls)).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= min_recall
    assert np.mean(fp) <= 0.12


def test_skipped_without_answer_times():
    calls = simulate_calls(n_agents=5, days=2, seed=5, customers=False)
    res = check_end_of_day(make_context(calls, drop=("answer_ts",)))
    assert "answer_ts" in res.skipped


def test_synthetic_center_stretchers_found():
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="end_of_day_stretch=2")
    f = check_end_of_day(make_context(c.calls)).flags
    st = set(c.truth.loc[c.truth["behaviour"] == "end_of_day_stretch", "agent_id"])
    for _per, g in f[f["period"] != "2026-03"].groupby("period"):
        assert set(g.nsmallest(2, "p_value")["agent_id"]) == st


def test_shift_ending_at_a_quiet_hour_is_not_avoidance():
    """Honest agents whose shift ends when the center is quiet wait longer for their last
    calls (idle follows the load at that hour), those who leave at the peak wait less.
    Without centring the gap on the other agents' gap at the same hour, the synth's early
    shift (ends 15:00) sat ~5 tau above the day shift and its honest agents were flagged
    (issue #13: seed 22, gap z 3.8-4.6); with it, no shift stands out."""
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=31, seed=22)
    ctx = make_context(c.calls)
    tab = end_of_day_contrasts(ctx).merge(c.roster[["agent_id", "shift"]], on="agent_id")
    tab = tab[tab["period"] == "2026-01"]
    by_shift = tab.groupby("shift")["d_gap"].median()
    se = tab["se_gap"].median()
    # before: early +1.3, day -0.1, late -1.9 (10-30 se apart); now ~1 se (3.2 while the
    # day shift's breaks, in the early shift's last hour, counted in the hour's mean)
    assert by_shift.max() - by_shift.min() < 2.5 * se, by_shift
    f = check_end_of_day(ctx).flags.merge(c.truth[["agent_id", "behaviour"]], on="agent_id")
    honest = f[f["behaviour"].isin(("honest", "novice", "hard_queue"))]
    assert honest["p_value"].min() > 1e-4
    assert (honest["p_value"] <= 0.01).mean() <= 0.05


def _flags_in_two_row_orders(calls, shuffle_seed):
    """The check's flags on ``calls`` and on the same rows shuffled, both sorted by agent
    and period."""
    key = ["agent_id", "period"]
    a = check_end_of_day(make_context(calls)).flags
    shuffled = calls.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)
    b = check_end_of_day(make_context(shuffled)).flags
    return (a.sort_values(key).reset_index(drop=True),
            b.sort_values(key).reset_index(drop=True))


def test_same_calls_in_another_row_order_give_the_same_flags():
    """Row order of the input (or of DuckDB's unordered GROUP BY) must not change p-values:
    the peer test draws random numbers agent by agent, so the agents' order must be fixed."""
    calls = simulate_calls(n_agents=30, days=6, seed=77, customers=False)
    a, b = _flags_in_two_row_orders(calls, shuffle_seed=3)
    pd.testing.assert_series_equal(a["p_value"], b["p_value"], rtol=1e-9)
    pd.testing.assert_series_equal(a["effect"], b["effect"], rtol=1e-9)


def test_tied_answer_times_do_not_make_p_values_random():
    """Calls answered in the same second (exports with whole-second or whole-minute times):
    the idle gap after each call must not depend on how the database breaks the tie."""
    calls = simulate_calls(n_agents=30, days=6, seed=78, customers=False)
    calls["answer_ts"] = calls["answer_ts"].dt.floor("5min")
    a, b = _flags_in_two_row_orders(calls, shuffle_seed=4)
    pd.testing.assert_series_equal(a["p_value"], b["p_value"], rtol=1e-9)


def test_day_clustered_se_pinned_against_statsmodels():
    """The contrast is the late dummy's OLS coefficient; its SE is the larger of the
    independent-calls SE and statsmodels' cluster-robust SE (days as clusters, scaled by
    D / (D - 1) without the (N - 1) / (N - K) factor)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    rows, calls = [], []
    for agent, shock in (("a", 0.6), ("b", 0.0)):  # a: strong day effects, b: none
        for day in range(6):
            for late in (False, True):
                n = int(rng.integers(3, 9)) if late else int(rng.integers(20, 40))
                v = rng.normal(0.2 * late + shock * rng.normal(), 1.0, n)
                w = rng.normal(0, 1.0, n)
                calls.append(pd.DataFrame({"agent": agent, "day": day, "late": late,
                                           "y": v, "g": w}))
                rows.append(dict(agent_id=agent, period="p", day=day, late=late,
                                 ny=n, sy=v.sum(), ssy=(v * v).sum(),
                                 ng=n, sg=w.sum(), ssg=(w * w).sum()))
    got = day_clustered_contrasts(pd.DataFrame(rows), min_late=1, min_rest=1).set_index(
        "agent_id")
    calls = pd.concat(calls, ignore_index=True)
    for agent in ("a", "b"):
        c = calls[calls["agent"] == agent]
        x = sm.add_constant(c["late"].astype(float))
        fit = sm.OLS(c["y"], x).fit(cov_type="cluster",
                                    cov_kwds={"groups": c["day"], "use_correction": False})
        n_days = c["day"].nunique()
        se_cl = fit.bse["late"] * np.sqrt(n_days / (n_days - 1))
        yl, yr = c.loc[c["late"], "y"], c.loc[~c["late"], "y"]
        se_iid = np.sqrt(yl.var() / len(yl) + yr.var() / len(yr))
        assert got.loc[agent, "d_talk"] == pytest.approx(fit.params["late"], rel=1e-9)
        assert got.loc[agent, "se_talk"] == pytest.approx(max(se_cl, se_iid), rel=1e-9)
        # the clustered SE is an estimate from the days (D - 1 df), the independent one
        # its floor (the peer test's bootstrap draws the former, keeps the latter)
        assert got.loc[agent, "df_talk"] == n_days - 1
        assert got.loc[agent, "floor_talk"] == pytest.approx(se_iid, rel=1e-9)
        if agent == "a":  # the day effects make the clustered SE the larger one
            assert se_cl > 1.5 * se_iid
    assert got.loc["a", "n_late_days"] == 6


def test_too_few_days_with_a_late_window_are_not_tested():
    # 36 days from 2026-01-05: January has 27 of them, February 9 (a short period, but
    # not a stub that joins January: _sigutil.period_folds), and eod_min_days 10
    calls = simulate_calls(n_agents=40, days=36, seed=4, customers=False)
    opts = {"eod_min_days": 10}
    res = check_end_of_day(make_context(calls, options=opts))
    tab = end_of_day_contrasts(make_context(calls, options=opts))
    few = tab[tab["n_late_days"] < 10]
    assert len(few) >= 30 and set(few["period"]) == {"2026-02"}
    assert any(f"{len(few)} agent x period(s) with fewer than 10 days" in n for n in res.notes)
    assert set(res.flags["period"]) == {"2026-01", "all"}  # and the whole window
    tested = set(zip(res.flags["agent_id"], res.flags["period"], strict=True))
    assert not tested & set(zip(few["agent_id"], few["period"], strict=True))


def test_whole_window_row_is_the_contrast_over_every_day():
    """The pooled row is what the contrast gives with one period over the whole window."""
    calls = simulate_calls(n_agents=12, days=40, seed=6, customers=False)
    pooled = end_of_day_contrasts(make_context(calls), pooled=True)
    assert set(pooled["period"]) == {"2026-01", "2026-02", "all"}
    whole = end_of_day_contrasts(make_context(calls, options={"period": "all"}))
    got = pooled[pooled["period"] == "all"].set_index("agent_id").sort_index()
    want = whole.set_index("agent_id").sort_index()
    assert list(got.index) == list(want.index) and len(got) >= 10
    for c in ("n_days", "n_late", "n_rest"):
        assert (got[c] == want[c]).all()
    # the talk contrast is centred per queue x period and the gap per period x hour, so
    # the pooled row (centred per month) and the one-period run differ a little
    for c in ("d_talk", "se_talk", "d_gap", "se_gap"):
        assert np.allclose(got[c], want[c], atol=0.03), c
    # the monthly rows are those of the run without the pooled row
    monthly = end_of_day_contrasts(make_context(calls))
    assert "all" not in set(monthly["period"])
    pd.testing.assert_frame_equal(
        pooled[pooled["period"] != "all"].reset_index(drop=True), monthly)
    # by default (option eod_pooled) the check tests the whole window too (only with more
    # than one period); with eod_pooled off, the months alone
    on = {"eod_pooled": "true"}
    f = check_end_of_day(make_context(calls)).flags
    assert {"2026-01", "2026-02", "all"} <= set(f["period"])
    off = check_end_of_day(make_context(calls, options={"eod_pooled": "false"})).flags
    assert "all" not in set(off["period"])
    one = check_end_of_day(make_context(calls, options={"period": "all", **on})).flags
    assert set(one["period"]) == {"all"}


def test_traces_combined_as_either_both_or_talk():
    """eod_traces: the same talk and gap p-values (the random streams do not depend on the
    option) give twice the smaller (either), Fisher's combination (both, scipy's
    combine_pvalues) or the talk p alone."""
    from scipy import stats

    calls = simulate_calls(n_agents=30, days=40, seed=12, customers=False,
                           effects={"A003": {"eod": 1.5}, "A007": {"eod_gap": 2.5}})
    got = {t: check_end_of_day(make_context(calls, options={"eod_traces": t})).flags
           .set_index(["agent_id", "period"])["p_value"] for t in ("either", "both", "talk")}
    talk = got["talk"]
    # the gap p-value recovered from Fisher's statistic and the talk p-value
    stat = stats.chi2.isf(got["both"], 4)
    gap = np.exp(-stat / 2 - np.log(talk))
    ok = (got["both"] > 1e-12) & (got["both"] < 0.999)
    assert ok.sum() > 40
    want = np.minimum(1.0, 2.0 * np.fmin(talk, gap))
    assert np.allclose(got["either"][ok], want[ok], rtol=1e-6, atol=1e-12)
    i = ok.to_numpy().nonzero()[0][0]
    assert stats.combine_pvalues([talk.iloc[i], gap.iloc[i]]).pvalue == pytest.approx(
        got["both"].iloc[i], rel=1e-9)
    # the gap trace carries the avoider in either and both, not in talk
    best = {t: p.xs("A007", level="agent_id").min() for t, p in got.items()}
    assert best["either"] < 1e-3 and best["talk"] > 10 * best["either"]
