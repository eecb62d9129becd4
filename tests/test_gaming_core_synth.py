"""The core checks on helper B's synthetic centers (analysis.synth), with a roster."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.gaming import run_checks

CORE = ["short_calls_peer", "short_calls_trend", "short_calls_change", "bunching_center",
        "bunching_agent"]


def _roster(paths):
    from analysis.load import load_roster

    return load_roster(paths["roster"]).valid


@pytest.mark.slow
def test_null_center_flags_at_most_two_percent(synth_null_center):
    rep = run_checks(synth_null_center["calls"], roster=_roster(synth_null_center),
                     checks=CORE, options={"raise_errors": True, "bunch_boot": 99})
    f = rep.flags[rep.flags["level"] == "agent"]
    assert f["agent_id"].nunique() >= 30
    share = f.groupby("agent_id")["flagged"].any().mean()
    assert share <= 0.02


@pytest.mark.slow
def test_planted_hangups_and_bunching_are_found(synth_center):
    truth = pd.read_csv(synth_center["truth"]) if str(synth_center["truth"]).endswith(
        ".csv") else pd.read_parquet(synth_center["truth"])
    rep = run_checks(synth_center["calls"], roster=_roster(synth_center), checks=CORE,
                     options={"raise_errors": True, "bunch_boot": 99})
    f = rep.flags
    hang = set(truth.loc[truth["behaviour"] == "hangup", "agent_id"].astype(str))
    bunch = set(truth.loc[truth["behaviour"] == "bunching", "agent_id"].astype(str))
    short_flag = set(f.loc[f["flagged"] & f["check"].str.startswith("short"), "agent_id"])
    bunch_flag = set(f.loc[f["flagged"] & (f["check"] == "bunching_agent"), "agent_id"])
    # both hang-up agents carry the strongest short-call evidence, at least one is flagged
    peer = f[f["check"] == "short_calls_peer"].nsmallest(len(hang), "p_value")
    assert hang and set(peer["agent_id"]) == hang
    # (whether one of them passes BH on this one small world is the world's luck: see the
    # next test, over eight worlds)
    assert bunch and len(bunch & bunch_flag) >= 1
    honest = set(truth.loc[truth["behaviour"].isin(["none", "honest"]), "agent_id"].astype(str))
    if honest:
        assert len((short_flag | bunch_flag) & honest) <= max(1, len(honest) // 50)


def test_planted_hangups_are_flagged_in_most_small_worlds():
    """Two hang-up agents (15% of calls) among 40, 30 days: the short-call checks flag at
    least one of them in most worlds (one world alone is luck either way), and never more
    than one honest agent."""
    from analysis.synth import generate_center
    from conftest import SYNTH_FIXTURE_GAMING

    found = 0
    for seed in range(11, 19):
        c = generate_center(agents=40, days=30, seed=seed, gaming=SYNTH_FIXTURE_GAMING)
        f = run_checks(c.calls, roster=c.roster, checks=CORE[:3],
                       options={"raise_errors": True}).flags
        flagged = set(f.loc[f["flagged"], "agent_id"])
        hang = set(c.truth.loc[c.truth["behaviour"] == "hangup", "agent_id"])
        honest = set(c.truth.loc[c.truth["behaviour"] == "honest", "agent_id"])
        found += bool(hang & flagged)
        assert len(flagged & honest) <= 1, seed
    assert found >= 4
