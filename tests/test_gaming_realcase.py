"""The real case: Anonymous Bank 1999 (Technion SEE lab; Guedj & Mandelbaum).

Brown et al. (2005, JASA) and Gans, Koole & Mandelbaum (2003) report that some
agents hung up on callers to shorten their calls, and that management found
and stopped it. What is pinned here is what the data say robustly (no exact
p-values): the center's daily short-call rate collapses in mid-October 1999,
the agents whose evidence is strongest are the ones with the largest excess
of short calls before that date, and at least one agent is flagged after FDR.
"""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank(bank_data):
    from analysis.load import load_calls

    res = load_calls(bank_data, mapping="anonymous-bank")
    return res.valid


@pytest.fixture(scope="module")
def report(bank):
    from analysis.gaming import run_checks

    return run_checks(bank, options={"short_call_s": "auto", "raise_errors": True},
                      checks=["short_calls_peer", "short_calls_change"])


def test_threshold_is_read_from_the_spike(report):
    thr = report.info["options"]["short_call_s"]
    assert 5 <= thr <= 20
    assert "spike" in report.info["short_call_s_auto"]


def test_center_change_point_falls_in_october_1999(report):
    notes = " ".join(report.notes["short_calls_change"])
    assert "fell on 1999-10-" in notes
    date = notes.split("fell on ")[1][:10]
    assert "1999-10-10" <= date <= "1999-10-25"


def test_strongest_evidence_is_on_the_agents_with_the_largest_excess(report, bank):
    thr = report.info["options"]["short_call_s"]
    f = report.flags
    ch = f[f["check"] == "short_calls_change"]
    date = ch["period"].iloc[0] if (ch["period"] > "1999-10").any() else None
    assert date is not None
    # independent ranking: short-call share in the month before the crackdown
    h = bank[(bank["outcome"] == "answered") & (bank["answer_ts"] >= "1999-09-15")
             & (bank["answer_ts"] < "1999-10-18")]
    share = (h["talk_s"] < thr).groupby(h["agent_id"]).mean()
    n = h.groupby("agent_id").size()
    top = set(share[n >= 300].sort_values(ascending=False).head(8).index)
    oct_rows = ch[ch["period"] > "1999-10"]
    best = set(oct_rows.nsmallest(4, "p_value")["agent_id"])
    assert best <= top
    assert "MORIAH" in top  # the agent with by far the largest share (about a third)
    flagged = set(f.loc[f["flagged"] & (f["level"] == "agent"), "agent_id"])
    assert flagged and flagged <= top


def test_peer_evidence_ranks_the_same_agents(report):
    p = report.flags[report.flags["check"] == "short_calls_peer"]
    mean_effect = p.groupby("agent_id")["effect"].mean().sort_values(ascending=False)
    assert mean_effect.index[0] == "MORIAH"
    assert mean_effect.iloc[0] > 15  # excess short calls per 100 calls


def test_flagged_agents_stop_in_october(report):
    cp = report.changepoints
    cp = cp[(cp["metric"] == "short_call_rate") & (cp["level"] == "agent")]
    assert len(cp) >= 1
    assert (pd.to_datetime(cp["date"]) >= "1999-10-01").any()
    # only significant steps are listed, each with an interval around its date
    assert (cp["p_value"] <= 0.05).all()
    assert (pd.to_datetime(cp["date_lo"]) <= pd.to_datetime(cp["date"])).all()
