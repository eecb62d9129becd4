"""Survey selection: counts pinned to pandas, calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.gaming._sigsim import make_context, null_pvalues, rejection_summary, simulate_calls
from analysis.gaming.survey_selection import check_survey_selection

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def test_counts_pinned_against_pandas():
    calls = simulate_calls(n_agents=20, days=4, seed=13, customers=False)
    f = check_survey_selection(make_context(calls, options={"min_peers": 5})).flags
    h = calls[calls["agent_id"] == "A004"]
    bad = (h["talk_s"] < 20) | (h["resolved"] == False)  # noqa: E712
    row = f.set_index("agent_id").loc["A004"]
    assert row["n"] == bad.sum() and row["k"] == h.loc[bad, "csat"].notna().sum()
    rg, rb = h.loc[~bad, "csat"].notna().mean(), h.loc[bad, "csat"].notna().mean()
    assert row["effect"] == pytest.approx(100 * (rg - rb))


@pytest.mark.slow
def test_calibrated_on_null_worlds():
    """Honest agents differ in overall and bad-call survey coverage."""
    tab = rejection_summary(null_pvalues("survey_selection"))
    for r in tab.itertuples():
        assert r.alpha - 3 * r.se <= r.rate <= r.alpha + 3 * r.se, tab


def test_power_on_planted_selection():
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w, customers=False,
                               effects={g: {"survey": 0.7} for g in GAMERS})
        f = check_survey_selection(make_context(calls)).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= 0.8
    assert np.mean(fp) <= 0.12


def test_skipped_without_csat_or_with_full_coverage():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    assert "csat" in check_survey_selection(make_context(calls, drop=("csat",))).skipped
    full = calls.assign(csat=np.where(calls["agent_id"].notna(), 4.0, np.nan))
    assert "every call" in check_survey_selection(make_context(full)).skipped
