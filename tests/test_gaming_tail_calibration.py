"""The opt-in tail calibration of the peer checks (``--option empirical_null=true``,
runner._calibrate_tails): its empirical null is fitted without the tests it calls extreme,
so a tenth of the agents gaming does not become the tail they are judged against."""

from __future__ import annotations

import numpy as np

from analysis.gaming import run_checks, runner
from analysis.gaming._sigsim import simulate_calls

HANGUP_CHECKS = ["short_calls_peer", "short_calls_trend", "repeat_after_short",
                 "quick_callback_after_short"]


def _run(df, **opts):
    rep = run_checks(df, checks=HANGUP_CHECKS, options={"seed": 1, **opts})
    return rep, rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")["flagged"]


def test_many_gamers_do_not_set_their_own_tail(monkeypatch):
    """15 of 150 agents hang up on 8 % of their calls. Without calibration all are
    flagged; with it, fitted to every test, the null is t with ~1 df and none is (the
    failure behind 'opting in costs almost all hang-up recall'); trimmed, all are, and no
    honest agent."""
    gamers = [f"A{i:03d}" for i in range(15)]
    df = simulate_calls(n_agents=150, days=61, seed=5,
                        effects={a: {"hangup": 0.08} for a in gamers})
    _, off = _run(df)
    rep, trimmed = _run(df, empirical_null=True)
    assert off.loc[gamers].all() and trimmed.loc[gamers].all()
    assert not trimmed.drop(index=gamers).any()
    note = " ".join(rep.notes["short_calls_peer"])
    assert "tail calibration" in note and "1.0 df" not in note
    monkeypatch.setattr(runner, "TAIL_NULL_TRIM", None)
    rep_all, untrimmed = _run(df, empirical_null=True)
    assert untrimmed.loc[gamers].sum() <= 2
    assert "Student t" in " ".join(rep_all.notes["short_calls_peer"])


def test_calibration_never_makes_a_p_value_smaller():
    df = simulate_calls(n_agents=120, days=61, seed=6, messy=True)
    off = run_checks(df, checks=HANGUP_CHECKS, options={"seed": 1}).flags
    on = run_checks(df, checks=HANGUP_CHECKS, options={"seed": 1, "empirical_null": True}).flags
    key = ["agent_id", "period", "check"]
    m = off.merge(on, on=key, suffixes=("_off", "_on"))
    assert len(m) == len(off) > 0
    assert np.all(m["p_value_on"].to_numpy() >= m["p_value_off"].to_numpy() - 1e-15)
