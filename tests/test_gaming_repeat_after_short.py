"""Repeat calls after short calls: counts pinned to pandas, censoring, calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import Table2x2

from analysis.gaming._sigsim import make_context, null_pvalues, rejection_summary, simulate_calls
from analysis.gaming._sigutil import log_odds_ratio
from analysis.gaming.repeat_after_short import check_repeat_after_short, repeat_counts

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def test_log_odds_ratio_matches_statsmodels():
    a1, n1, a0, n0 = 12, 40, 30, 400
    lor, se = log_odds_ratio(a1, n1, a0, n0, corr=0.0)
    t = Table2x2(np.array([[a1, n1 - a1], [a0, n0 - a0]]))
    assert lor == pytest.approx(t.log_oddsratio)
    assert se == pytest.approx(t.log_oddsratio_se)


def _hand_counts(calls: pd.DataFrame, window_h: float) -> pd.DataFrame:
    c = calls[calls["customer_id"].notna()].sort_values(["arrival_ts", "call_id"])
    c = c.assign(nxt=c.groupby("customer_id")["arrival_ts"].shift(-1))
    end = c["arrival_ts"].max()
    w = pd.Timedelta(hours=window_h)
    h = c[c["agent_id"].notna()].copy()
    h = h[h["answer_ts"] + w <= end]
    h["rep"] = h["nxt"].notna() & (h["nxt"] <= h["answer_ts"] + w)
    h["short"] = h["talk_s"] < 20
    return h.groupby(["agent_id", "short"])["rep"].agg(["size", "sum"])


def test_counts_pinned_against_pandas_with_censoring():
    calls = simulate_calls(n_agents=10, days=8, seed=12)
    got = repeat_counts(make_context(calls), window_h=48).set_index("agent_id")
    hand = _hand_counts(calls, 48)
    for aid in ["A001", "A007"]:
        assert got.loc[aid, "n_short"] == hand.loc[(aid, True), "size"]
        assert got.loc[aid, "k_short"] == hand.loc[(aid, True), "sum"]
        assert got.loc[aid, "n_other"] == hand.loc[(aid, False), "size"]
        assert got.loc[aid, "k_other"] == hand.loc[(aid, False), "sum"]
        assert got.loc[aid, "censored"] > 0  # the last two days are censored


def test_counts_are_the_panels_repeat_calls():
    """One definition: with every customer linked, short + other calls with an observed
    window are the panel's repeat_calls_observed, and their repeats its repeat_call_rate."""
    from analysis.panel import build_panel

    calls = simulate_calls(n_agents=10, days=8, seed=12)
    calls = calls[calls["customer_id"].notna()].reset_index(drop=True)
    got = repeat_counts(make_context(calls, options={"period": "day"}), window_h=30)
    panel = build_panel(calls, period="day", repeat_window_h=30)
    m = got.merge(panel, on=["agent_id", "period"], validate="one_to_one")
    assert len(m) == len(panel) and m["censored"].gt(0).any()
    n = m["n_short"] + m["n_other"]
    assert (n == m["repeat_calls_observed"]).all()
    assert (n + m["censored"] == m["calls"]).all()
    obs = n > 0
    np.testing.assert_allclose((m["k_short"] + m["k_other"])[obs] / n[obs],
                               m.loc[obs, "repeat_call_rate"], rtol=1e-12)


@pytest.mark.slow
def test_calibrated_on_null_worlds():
    """Honest agents' short calls are followed by repeats at agent-specific rates."""
    tab = rejection_summary(null_pvalues("repeat_after_short"))
    for r in tab.itertuples():
        assert r.alpha - 3 * r.se <= r.rate <= r.alpha + 3 * r.se, tab


def test_power_on_planted_hangups():
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w,
                               effects={g: {"hangup": 0.1} for g in GAMERS})
        f = check_repeat_after_short(make_context(calls)).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= 0.5
    assert np.mean(fp) <= 0.12


def test_skipped_without_customer_id():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    res = check_repeat_after_short(make_context(calls))
    assert "customer_id" in res.skipped and res.flags.empty
