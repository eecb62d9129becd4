"""Transfer dumping: beta-binomial tail pinned to scipy, calibration, power, skips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.gaming._sigsim import make_context, null_pvalues, rejection_summary, simulate_calls
from analysis.gaming.transfers import check_transfer_dumping, sum_betabinom_sf, transfer_cells

GAMERS = [f"A{i:03d}" for i in range(0, 80, 10)]


def test_single_component_tail_matches_scipy_betabinom():
    for k, n, a, b in [(7, 50, 2.0, 30.0), (0, 10, 1.5, 3.0), (40, 40, 5.0, 1.0)]:
        assert sum_betabinom_sf(k, [n], [a], [b]) == pytest.approx(
            stats.betabinom.sf(k - 1, n, a, b), rel=1e-9, abs=1e-14
        )


def test_two_components_match_brute_force_convolution():
    n1, a1, b1, n2, a2, b2 = 30, 2.0, 20.0, 45, 3.0, 40.0
    p1 = stats.betabinom.pmf(np.arange(n1 + 1), n1, a1, b1)
    p2 = stats.betabinom.pmf(np.arange(n2 + 1), n2, a2, b2)
    tot = np.zeros(n1 + n2 + 1)
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            tot[i + j] += p1[i] * p2[j]
    for k in (0, 5, 12, 30):
        assert sum_betabinom_sf(k, [n1, n2], [a1, a2], [b1, b2]) == pytest.approx(
            tot[k:].sum(), rel=1e-9
        )


def test_cells_pinned_against_pandas():
    calls = simulate_calls(n_agents=8, days=2, seed=3, customers=False)
    cells = transfer_cells(make_context(calls))
    h = calls[calls["agent_id"].notna()]
    g = h.groupby(["agent_id", "queue"]).agg(
        n=("call_id", "size"), k=("outcome", lambda s: int((s == "transferred").sum()))
    )
    got = cells.set_index(["agent_id", "queue"])[["n", "k"]].sort_index()
    assert (got.to_numpy() == g.sort_index().to_numpy()).all()
    t = h[h["outcome"] == "transferred"].assign(y=lambda x: np.log1p(x["talk_s"]))
    st = t.groupby(["agent_id", "queue"])["y"].sum()
    np.testing.assert_allclose(cells.set_index(["agent_id", "queue"]).loc[st.index, "st"], st)


@pytest.mark.slow
def test_calibrated_on_null_worlds():
    """Honest transfer rates beta-distributed around each queue's rate (as in analysis.synth)."""
    tab = rejection_summary(null_pvalues("transfer_dumping"))
    for r in tab.itertuples():
        assert 0.4 * r.alpha <= r.rate <= r.alpha + 3 * r.se, tab


@pytest.mark.parametrize(
    ("effect", "min_recall"), [({"transfer": 3.0}, 0.6), ({"transfer_talk": 0.5}, 0.6)]
)
def test_power_on_planted_dumping(effect, min_recall):
    rec, fp = [], []
    for w in range(2):
        calls = simulate_calls(n_agents=80, days=20, seed=900 + w, customers=False,
                               effects={g: effect for g in GAMERS})
        f = check_transfer_dumping(make_context(calls)).flags
        rec.append(f[f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
        fp.append(f[~f["agent_id"].isin(GAMERS)]["p_value"].le(0.05).mean())
    assert np.mean(rec) >= min_recall
    assert np.mean(fp) <= 0.12


def test_skipped_without_transfers():
    calls = simulate_calls(n_agents=10, days=2, seed=5, customers=False)
    calls["outcome"] = calls["outcome"].replace("transferred", "answered")
    res = check_transfer_dumping(make_context(calls))
    assert "transferred" in res.skipped and res.flags.empty


def test_synthetic_center_dumpers_found():
    from analysis.synth import generate_center

    c = generate_center(agents=60, days=61, seed=7, gaming="transfer_dumping=2")
    f = check_transfer_dumping(make_context(c.calls)).flags
    dump = set(c.truth.loc[c.truth["behaviour"] == "transfer_dumping", "agent_id"])
    for _per, g in f.groupby("period"):
        assert set(g.nsmallest(2, "p_value")["agent_id"]) == dump
    assert f[f["agent_id"].isin(dump)]["effect"].min() > 5  # > 5 excess transfers per 100
