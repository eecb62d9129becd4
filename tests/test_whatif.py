"""What-if: remove the calls the gaming checks flagged and re-score."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.whatif import removal_plan, remove_flagged_calls, whatif


def _flags():
    return pd.DataFrame({
        "agent_id": ["A", "B", "C", "D", "E", "F", "G"],
        "period": ["2026-01", "all", "2026-02", "all", "all", "all", "2026-01-20"],
        "check": ["short_calls_peer", "bunching_agent", "transfer_dumping", "acw_inflation",
                  "end_of_day_stretch", "short_calls_peer", "short_calls_change"],
        "flagged": [True, True, True, True, True, False, True],
        "detail": ["9 of 100 calls under 15 s ended by the agent (9%) vs 1% expected",
                   "40 of 50 calls within 20 s of the 300 s target ended below it",
                   "transfer rate 20%", "", "", "unflagged",
                   "5 of 50 calls under 20 s (10%) before 2026-01-20 vs 0 of 40 after"]})


def test_removal_plan_rules_and_what_is_skipped():
    plan, skipped = removal_plan(_flags(), short_call_s=20.0)
    p = plan.set_index("agent_id")
    assert set(p.index) == {"A", "B", "C", "E", "G"}  # F not flagged; D has no call rule
    assert (p.loc["G", "period"], p.loc["G", "before"]) == ("*", "2026-01-20")
    assert p.loc["A", "rule"] == "short" and p.loc["A", "hi"] == 15.0  # the check's threshold
    assert bool(p.loc["A", "agent_ended"]) and "ended by the agent" in p.loc["A", "what"]
    assert (p.loc["B", "lo"], p.loc["B", "hi"], p.loc["B", "period"]) == (280.0, 300.0, "*")
    assert p.loc["C", "rule"] == "transfer" and p.loc["C", "period"] == "2026-02"
    assert p.loc["E", "rule"] == "end_of_day"
    assert skipped["check"].tolist() == ["acw_inflation"]
    assert "every call" in skipped["reason"].iloc[0]


def _calls():
    t = pd.Timestamp
    rows = [  # call_id, agent, answer_ts, talk, hold, acw, outcome, ended_by
        ("c1", "A", t("2026-01-05 09:00"), 10.0, 0, 0, "answered", "agent"),     # removed
        ("c2", "A", t("2026-01-05 09:10"), 10.0, 0, 0, "answered", "customer"),  # not agent
        ("c3", "A", t("2026-02-05 09:00"), 10.0, 0, 0, "answered", "agent"),     # other period
        ("c4", "A", t("2026-01-05 09:20"), 200.0, 0, 0, "answered", "agent"),    # long
        ("c5", "B", t("2026-01-06 09:00"), 250.0, 20, 15, "answered", "customer"),  # 285 s
        ("c6", "B", t("2026-02-06 09:00"), 280.0, 0, 30, "answered", "customer"),   # 310 s
        ("c7", "B", t("2026-02-06 10:00"), 270.0, 0, 9.5, "answered", "customer"),  # 279.5
        ("c8", "C", t("2026-02-07 09:00"), 100.0, 0, 0, "transferred", "agent"),   # removed
        ("c9", "C", t("2026-01-07 09:00"), 100.0, 0, 0, "transferred", "agent"),   # Jan
        ("c10", "E", t("2026-01-08 08:00"), 100.0, 0, 0, "answered", "customer"),
        ("c11", "E", t("2026-01-08 15:30"), 100.0, 0, 0, "answered", "customer"),  # last hour
        ("c12", "E", t("2026-01-08 16:00"), 100.0, 0, 0, "answered", "customer"),  # last
        ("c13", "E", t("2026-01-08 14:59"), 100.0, 0, 0, "answered", "customer"),
        ("c14", "A", t("2026-01-05 09:30"), 5.0, 0, 0, "abandoned", "agent"),    # abandoned
        ("c15", "G", t("2026-01-19 09:30"), 5.0, 0, 0, "answered", "customer"),  # before
        ("c16", "G", t("2026-01-20 09:30"), 5.0, 0, 0, "answered", "customer"),  # after
    ]
    df = pd.DataFrame(rows, columns=["call_id", "agent_id", "answer_ts", "talk_s", "hold_s",
                                     "acw_s", "outcome", "ended_by"])
    df["arrival_ts"] = df["answer_ts"]
    return df


def test_remove_flagged_calls_removes_exactly_the_rule_calls(tmp_path):
    plan, _ = removal_plan(_flags(), short_call_s=20.0)
    out = tmp_path / "kept.parquet"
    removed = remove_flagged_calls(_calls(), plan, out, period="month", short_call_s=20.0)
    kept = pd.read_parquet(out)
    gone = set(_calls()["call_id"]) - set(kept["call_id"])
    assert gone == {"c1", "c5", "c8", "c11", "c12", "c15"}
    assert list(kept.columns) == list(_calls().columns)
    r = removed.set_index(["agent_id", "period"])
    assert r.loc[("B", "2026-01"), "calls_removed"] == 1
    assert r.loc[("E", "2026-01"), "calls_removed"] == 2
    assert r.loc[("E", "2026-01"), "handled_calls_before"] == 4
    assert r.loc[("A", "2026-01"), "handled_calls_before"] == 3  # abandoned not counted
    assert removed["calls_removed"].sum() == len(gone)


@pytest.fixture(scope="module")
def hangup_world():
    from analysis.compare import compare_models
    from analysis.models.config import load_model_config
    from analysis.panel import build_panel
    from analysis.synth import generate_center

    c = generate_center(agents=30, days=40, seed=5, gaming="hangup=5@0.2")
    gamers = c.truth.loc[c.truth["gaming"], "agent_id"].tolist()
    flags = pd.DataFrame({"agent_id": gamers, "period": "all", "check": "short_calls_peer",
                          "flagged": True, "detail": ""})
    cfg = load_model_config(override={
        "kpi": {"normalisation": "zscore",
                "metrics": {"csat_mean": None, "qa_mean": None, "resolved_rate": None,
                            "transfer_rate": None, "aht_s": {"weight": 1.0}}},
        "compare": {"n_boot": 20}, "models": ["kpi", "bsc"],
        "recommendation": {"n_boot": 30}})
    panel = build_panel(c.calls)
    comp = compare_models(panel, config=cfg, flagged=flags)
    return c, flags, comp, gamers


def test_whatif_gamers_fall_under_the_aht_kpi_once_hangups_are_removed(hangup_world):
    c, flags, comp, gamers = hangup_world
    w = whatif(comp, c.calls, flags)
    # removed = every handled short call of the gamers (independent pandas count)
    calls = c.calls
    short = calls[calls["agent_id"].isin(gamers) & calls["outcome"].isin(
        ["answered", "transferred"]) & (calls["talk_s"] < 20.0)]
    assert w.removed["calls_removed"].sum() == len(short)
    m = w.models.set_index("model")
    assert m.loc["kpi", "flagged_pct_after"] < m.loc["kpi", "flagged_pct_before"] - 5
    assert set(w.models.columns) >= {"rank_before", "rank_after", "rank_change"}
    # the same agents are scored before and after
    a = w.agents[w.agents["model"] == "kpi"]
    assert a["pct_before"].notna().all() and a["pct_after"].notna().all()
    assert a.loc[a["flagged"], "agent_id"].tolist() == sorted(gamers)
    assert "Removed" in w.text() and w.recommendation_after is not None
    # resistance to gaming is kept from all calls (the gaming is what it measures)
    eb = w.recommendation_before.evidence.set_index(["model", "criterion"])
    ea = w.recommendation_after.evidence.set_index(["model", "criterion"])
    assert ea.loc[("kpi", "gaming_resistance"), "raw"] == pytest.approx(
        eb.loc[("kpi", "gaming_resistance"), "raw"])
    assert ea.loc[("kpi", "validity"), "raw"] != eb.loc[("kpi", "validity"), "raw"]


@pytest.mark.slow
def test_cli_compare_whatif(synth_center, tmp_path):
    from analysis.cli import main

    truth = pd.read_csv(synth_center["truth"], dtype={"agent_id": str})
    fl = truth.loc[truth["behaviour"] == "hangup", ["agent_id"]].assign(
        period="all", check="short_calls_peer", flagged=True, detail="", q_value=0.001)
    path = tmp_path / "gaming_flags.csv"
    fl.to_csv(path, index=False)
    out = tmp_path / "cmp"
    rc = main(["compare", "--calls", str(synth_center["calls"]), "--flags", str(path),
               "--whatif", "--n-boot", "10", "--models", "kpi,bsc", "--out", str(out)])
    assert rc == 0
    wi = pd.read_csv(out / "whatif.csv")
    assert wi["model"].tolist() == ["kpi", "bsc"] and wi["rank_after"].notna().all()
    rem = pd.read_csv(out / "whatif_removed.csv")
    assert rem["calls_removed"].sum() > 0 and set(rem["agent_id"]) == set(fl["agent_id"])
    rec = json.loads((out / "recommendation_whatif.json").read_text())
    assert rec["whatif"].startswith("Removed") and rec["best"] in ("kpi", "bsc")
    for f in ("recommendation.png", "whatif.png"):
        assert (out / f).stat().st_size > 1000
    # without --flags: a one-line error, exit 2
    assert main(["compare", "--calls", str(synth_center["calls"]), "--whatif",
                 "--no-figures", "--out", str(out)]) == 2
    assert np.isfinite(wi["overall_after"]).all()


@pytest.mark.slow
def test_cli_whatif_from_a_raw_export_equals_parquet(synth_center, tmp_path):
    """A raw export (--mapping) is spilled to Parquet for the what-if: same results."""
    from analysis.cli import main

    truth = pd.read_csv(synth_center["truth"])
    fl = truth.loc[truth["behaviour"] == "hangup", ["agent_id"]].assign(
        period="all", check="short_calls_peer", flagged=True, detail="", q_value=0.001)
    path = tmp_path / "gaming_flags.csv"
    fl.to_csv(path, index=False)
    csv = tmp_path / "calls.csv"
    pd.read_parquet(synth_center["calls"]).to_csv(csv, index=False)
    outs = {}
    for name, extra in (("pq", ["--calls", str(synth_center["calls"])]),
                        ("csv", ["--calls", str(csv), "--mapping", "contract"])):
        outs[name] = tmp_path / name
        assert main(["compare", *extra, "--flags", str(path), "--whatif", "--n-boot", "10",
                     "--models", "kpi,bsc", "--no-figures", "--out", str(outs[name])]) == 0
    a = pd.read_csv(outs["pq"] / "whatif.csv")
    b = pd.read_csv(outs["csv"] / "whatif.csv")
    pd.testing.assert_frame_equal(a, b)
