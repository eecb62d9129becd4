"""An agent whose id is ``center`` is an agent (#16).

gaming_flags.csv holds center-level rows (``bunching_center``) beside agent rows. They were
told apart by ``agent_id == "center"``, so an agent with that id lost its tests from the
agent-level decision, and under ``--pseudonymize`` its pseudonym was written on the center
rows too. Rows now carry ``level`` (``center`` rows have an empty agent_id), as
changepoints.csv does.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cli import main

SALT = "center-named-agent-salt-0123456789-abcdef"


@pytest.fixture(scope="module")
def runs(synth_center, tmp_path_factory):
    root = tmp_path_factory.mktemp("center_agent")
    truth = pd.read_csv(synth_center["truth"], dtype=str)
    gamer = truth.loc[truth["behaviour"].astype(str).str.contains("hangup"), "agent_id"].iloc[0]
    calls = pd.read_parquet(synth_center["calls"])
    calls.to_parquet(root / "orig.parquet", index=False)
    calls["agent_id"] = calls["agent_id"].replace({gamer: "center"})
    calls.to_parquet(root / "calls.parquet", index=False)
    (root / "salt").write_text(SALT)
    args = ["gaming", "--calls", str(root / "calls.parquet"), "--aht-target", "300",
            "--checks", "short_calls_peer,short_calls_trend,bunching_center",
            "--option", "bunch_boot=49"]
    out = {"gamer": gamer}
    for tag, extra in (("raw", []), ("pseudo", ["--pseudonymize", "--salt-file",
                                                  str(root / "salt")])):
        assert main([*args, "--out", str(root / tag), *extra]) == 0
        out[tag] = root / tag
    orig = [a if a != str(root / "calls.parquet") else str(root / "orig.parquet") for a in args]
    assert main([*orig, "--out", str(root / "orig")]) == 0
    out["orig"] = root / "orig"
    return out


def _flags(folder):
    return pd.read_csv(folder / "gaming_flags.csv", dtype=str, keep_default_na=False)


def test_center_rows_and_the_agent_named_center_do_not_mix(runs):
    f = _flags(runs["raw"])
    center = f[f["level"] == "center"]
    assert len(center) and (center["check"] == "bunching_center").all()
    assert (center["agent_id"] == "").all()
    mine = f[f["agent_id"] == "center"]
    assert len(mine) and (mine["level"] == "agent").all()
    # every agent check that produced rows gave this agent its rows too (the fixture's 30
    # days are one period once its 3 days of February join January, so short_calls_trend,
    # which needs an earlier period, has none)
    agent_checks = set(f.loc[f["level"] == "agent", "check"])
    assert "short_calls_peer" in agent_checks
    assert set(mine["check"]) == agent_checks
    # the agent's decision is the one it gets under its own name
    named = pd.read_csv(runs["raw"] / "gaming_agents.csv")
    orig = pd.read_csv(runs["orig"] / "gaming_agents.csv")
    a = named[(named["agent_id"] == "center") & (named["scope"] == "all")]
    b = orig[(orig["agent_id"] == runs["gamer"]) & (orig["scope"] == "all")]
    assert len(a) == len(b) == 1
    assert a["p_value"].iloc[0] == pytest.approx(b["p_value"].iloc[0], rel=1e-9)
    assert a["q_value"].iloc[0] == pytest.approx(b["q_value"].iloc[0], rel=1e-9)


def test_pseudonymized_center_rows_stay_empty(runs):
    f = _flags(runs["pseudo"])
    center = f[f["level"] == "center"]
    assert len(center) and (center["agent_id"] == "").all()
    agent_ids = set(f.loc[f["level"] == "agent", "agent_id"])
    assert "center" not in agent_ids and all(a.startswith("A-") for a in agent_ids)
    text = "\n".join(p.read_text(encoding="utf-8") for p in runs["pseudo"].iterdir()
                     if p.suffix in (".csv", ".txt"))
    raw_ids = set(pd.read_parquet(runs["raw"].parent / "calls.parquet")["agent_id"].dropna())
    assert not any(a in text for a in raw_ids - {"center"})
