"""Page 1 (analysis.report.present.findings): the same sentences from the agreed interfaces A/B/C
(agent-level decisions, dated change points, recommendation.json) and from the older
results (per-test flags, ``scope`` change points, the ranking), in both languages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.report.i18n import t
from analysis.report.literal import md_plain
from analysis.report.present import findings as fd
from analysis.report.present.labels import metric_name


def _old_gaming():
    flags = pd.DataFrame({
        "agent_id": ["MORIAH", "MORIAH", "TOVA", "ELI"],
        "period": ["1999-05", "1999-06", "1999-10", "1999-03"],
        "check": ["short_calls_peer", "repeat_after_short", "short_calls_change",
                  "short_calls_peer"],
        "q_value": [0.001, 0.01, 0.004, 0.3], "p_value": [1e-4, 1e-3, 1e-3, 0.1],
        "flagged": [True, True, True, False]})
    cps = pd.DataFrame({
        "scope": ["center", "MORIAH", "MORIAH", "ELI", "center"],
        "metric": ["short_call_rate"] * 5,
        "date": ["1999-10-18", "1999-05-02", "1999-10-19", "1999-03-01", "1999-04-01"],
        "before": [0.07, 0.218, 0.355, 0.05, 0.05], "after": [0.012, 0.355, 0.003, 0.06, 0.06],
        "p_value": [5e-5, 1e-4, 1e-4, 0.27, 0.75], "source": ["runner"] * 5})
    return SimpleNamespace(flags=flags, changepoints=cps, alpha=0.05)


def _new_gaming():
    agents = pd.DataFrame({
        "agent_id": ["MORIAH", "MORIAH", "TOVA", "ELI"],
        "scope": ["all", "1999-05", "all", "all"],
        "p_value": [1e-6, 1e-4, 1e-5, 0.2], "q_value": [1e-5, 1e-3, 1e-4, 0.4],
        "flagged": [True, True, True, False],
        "behaviours": ["hangups;repeat_calls", "hangups", "hangups", ""],
        "checks": ["short_calls_peer", "short_calls_peer", "short_calls_change", ""],
        "first_date": ["1999-05-02", "", "", ""], "last_date": ["1999-10-19", "", "1999-10-18", ""],
        "detail": ["x", "x", "x", "x"]})
    cps = pd.DataFrame({
        "level": ["center", "agent"], "agent_id": ["", "MORIAH"],
        "metric": ["short_call_rate", "short_call_rate"], "date": ["1999-10-18", "1999-05-02"],
        "date_lo": ["1999-10-16", "1999-04-28"], "date_hi": ["1999-10-20", "1999-05-06"],
        "before": [0.07, 0.218], "after": [0.012, 0.355], "p_value": [5e-5, 1e-4],
        "source": ["center_short_changepoints", "agent_steps"]})
    return SimpleNamespace(flags=_old_gaming().flags, changepoints=cps, agents=agents,
                           agent_fdr={"method": "BH", "alpha": 0.05, "n_agents": 3,
                                      "combination": "ACAT"})


@pytest.mark.parametrize("make", [_old_gaming, _new_gaming], ids=["old", "interfaces"])
def test_agents_named_and_dated_center_step_found(make):
    g = make()
    found = fd.agent_findings(g)
    assert list(found["agent_id"]) == ["MORIAH", "TOVA"]  # ELI (q 0.3/0.4) is not named
    moriah = found.iloc[0]
    assert moriah["behaviours"][0] == "hangups"
    assert (moriah["first_date"], moriah["last_date"]) == ("1999-05-02", "1999-10-19")
    steps = fd.center_steps(g)
    assert list(steps["date"].astype(str)) == ["1999-10-18"]  # p = 0.75 is not a finding
    sig = fd.significant_changepoints(g)
    assert (pd.to_numeric(sig["p_value"]) < 0.05).all()
    for lang in ("en", "zh-CN"):
        lines = [md_plain(x) for x in fd.gaming_finding(g, lang)]
        assert "MORIAH" in lines[0] and "TOVA" in lines[0] and "ELI" not in lines[0]
        assert "1999-05-02" in lines[0] and "1999-10-19" in lines[0]
        assert "1999-10-18" in lines[1] and "7.0%" in lines[1] and "1.2%" in lines[1]
        assert t("behaviour.hangups", lang) in lines[0]


def test_page_one_names_only_the_agents_the_decision_flags():
    """The decision is the scope 'all' (every period combined), as ``ccpm gaming`` counts it:
    an agent flagged within one month only (BASCH) is evidence, not a finding on page 1."""
    g = _new_gaming()
    month_only = pd.DataFrame({
        "agent_id": ["BASCH", "BASCH"], "scope": ["all", "1999-05"],
        "p_value": [0.006, 1e-4], "q_value": [0.065, 0.004], "flagged": [False, True],
        "behaviours": ["end_of_day_stretch", "end_of_day_stretch"],
        "checks": ["end_of_day_stretch"] * 2, "first_date": ["", ""], "last_date": ["", ""],
        "detail": ["x", "x"]})
    g.agents = pd.concat([g.agents, month_only], ignore_index=True)
    found = fd.agent_findings(g)
    assert list(found["agent_id"]) == ["MORIAH", "TOVA"]
    assert found.set_index("agent_id").loc["MORIAH", "q_value"] == pytest.approx(1e-5)
    for lang in ("en", "zh-CN"):
        assert "BASCH" not in md_plain(fd.gaming_finding(g, lang)[0])


def _ranking():
    return pd.DataFrame({"model": ["bsc", "okr", "kpi", "360"], "rank": [1, 2, 3, 4],
                         "overall": [0.64, 0.64, 0.47, None], "p_best": [0.59, 0.41, 0, None],
                         "computable": [True, True, True, False],
                         "tied_with_best": [True, True, False, False]})


def test_decision_from_the_ranking_says_okr_was_assumed():
    inputs = SimpleNamespace(okr=None, ratings=None)
    v = fd._rec_fields({}, _ranking(), "bsc", 300, inputs)
    assert v["tied"] == ["okr"] and v["defaulted"] == ["okr"]
    for lang in ("en", "zh-CN"):
        text = md_plain(fd.decision(v, lang)[0])
        assert t("model.bsc", lang) in text and "59%" in text
        assert t("page1.assumed.okr", lang) in text  # OKR scored on default key results
        assert t("model.okr", lang) in text
        nxt = " ".join(md_plain(x) for x in fd.next_steps(v, _old_gaming(), lang))
        assert "MORIAH" in nxt and t("input.okr", lang) in nxt


def test_decision_from_interface_c():
    inputs = SimpleNamespace(okr={"objectives": []}, ratings=None)
    d = {"recommended": "kpi",
         "caveats": [{"kind": "defaulted", "models": ["360"], "detail": "x"}],
         "models": [{"model": "bsc", "first_share": 0.3, "defaulted": False},
                    {"model": "kpi", "first_share": 0.7, "defaulted": False},
                    {"model": "360", "first_share": 0.0, "defaulted": True}],
         "indistinguishable": [["kpi", "bsc"]],
         "what_would_change": [{"model": "bsc", "raise": "validity", "lower": "stability"}],
         "bootstrap": {"replicates": 500, "failed": 0, "scheme": "agents"}}
    r = _ranking().assign(model=["kpi", "bsc", "okr", "360"])
    v = fd._rec_fields(d, r, "kpi", 0, inputs)
    assert v["recommended"] == "kpi" and v["p_best"] == 0.7 and v["n_boot"] == 500
    assert v["tied"] == ["bsc"] and v["defaulted"] == ["360"]
    text = md_plain(fd.decision(v, "en")[0])
    assert "Adopt KPI" in text or t("model.kpi", "en") in text
    assert "70%" in text and "500" in text and t("crit.validity", "en") in text


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_page_one_says_what_a_recommended_model_lacks_and_what_to_give(lang):
    """The bank's page 1 adopted the balanced scorecard without saying that less than half
    of its weight had data, and asked only for OKR definitions to put the scorecard, KPI
    and the hybrids on the center's own definitions (an OKR file fixes none of them)."""
    inputs = SimpleNamespace(okr=None, ratings=None)
    d = {"recommended": "bsc",
         "models": [{"model": "bsc", "first_share": 0.61, "defaulted": True,
                     "criteria": {"coverage": {"value": 0.415}},
                     "missing_data": ["csat_mean", "transfer_rate", "ratings"]},
                    {"model": "okr", "first_share": 0.21, "defaulted": True},
                    {"model": "kpi", "first_share": 0.10, "defaulted": True}],
         "bootstrap": {"replicates": 200, "failed": 0, "scheme": "agents"}}
    r = _ranking().assign(model=["bsc", "okr", "kpi", "360"])
    v = fd._rec_fields(d, r, "bsc", 0, inputs)
    text = md_plain(fd.decision(v, lang)[0])
    assert "42%" in text and t("input.ratings", lang) in text
    assert all(metric_name(m, lang) in text for m in ("csat_mean", "transfer_rate"))
    nxt = " ".join(md_plain(x) for x in fd.next_steps(v, None, lang))
    for key in ("input.okr", "page1.input.kpi", "page1.input.bsc"):
        assert t(key, lang) in nxt
    d["models"][0]["criteria"]["coverage"]["value"] = 0.9  # most of it measured: not said
    v = fd._rec_fields(d, r, "bsc", 0, inputs)
    assert t("input.ratings", lang) not in md_plain(fd.decision(v, lang)[0])


def test_no_recommendation_and_no_gaming():
    assert "No decision" in md_plain(fd.decision({"recommended": None}, "en")[0])
    g = SimpleNamespace(flags=pd.DataFrame(columns=["agent_id", "period", "check", "q_value",
                                                    "p_value", "flagged"]),
                        changepoints=pd.DataFrame(), alpha=0.05)
    assert fd.agent_findings(g).empty
    assert "No agent" in md_plain(fd.gaming_finding(g, "en")[0])


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_no_agent_flagged_names_the_closest(lang):
    """With no agent below the FDR level, page 1 says so and names the agents whose q is
    below twice the level (strongest first, at most three), not the others."""
    g = _new_gaming()
    g.agents = g.agents.assign(flagged=False, q_value=[0.061, 0.2, 0.056, 0.4],
                               behaviours=["hangups;repeat_calls", "hangups", "hangups", ""])
    near = fd.near_misses(g)
    assert list(near["agent_id"]) == ["TOVA", "MORIAH"]
    lines = [md_plain(x) for x in fd.gaming_finding(g, lang)]
    assert lines[0] == md_plain(t("page1.gaming.none", lang).replace("{alpha}", "5%"))
    assert "TOVA" in lines[1] and "MORIAH" in lines[1] and "ELI" not in lines[1]
    assert lines[1].index("TOVA") < lines[1].index("MORIAH")
    assert "0.06" in lines[1] and t("behaviour.hangups", lang) in lines[1]
    # flagged agents present, none near the level: no near-miss sentence
    assert not any("0.06" in md_plain(x) for x in fd.gaming_finding(_new_gaming(), lang))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_near_misses_named_beside_a_flagged_agent(lang):
    """One agent flagged and another at q .06 (the bank since 2026-12-08: TOVA flagged,
    MORIAH at .060): page 1 names the flagged one, then the near one as one to watch."""
    g = _new_gaming()
    g.agents = g.agents.assign(flagged=[False, False, True, False],
                               q_value=[0.06, 0.06, 1e-4, 0.4])
    lines = [md_plain(x) for x in fd.gaming_finding(g, lang)]
    assert "TOVA" in lines[0] and "MORIAH" not in lines[0]
    near = md_plain(t("page1.gaming.near", lang).split("{items}")[0])
    assert lines[1].startswith(near) and "MORIAH" in lines[1] and "0.06" in lines[1]
    assert "ELI" not in " ".join(lines)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_rows_set_aside_reach_page_one_from_five_percent(lang):
    """Half the rows with an unreadable date: page 1 said nothing (the count was on page 2)."""
    def inputs(quarantined, read=3000):
        q = pd.DataFrame({"reason": ["unparseable_arrival_ts", "unknown_outcome"],
                          "rows": [quarantined - 1, 1]})
        return SimpleNamespace(quarantine=q, manifest={"inputs": [
            {"kind": "calls", "rows_read": read, "quarantined": quarantined}]})

    half = fd._set_aside(inputs(1500), lang)
    assert half["n"] == "1,500" and half["read"] == "3,000" and half["share"] == "50.0%"
    assert half["k"] == "1,499"
    first = md_plain(fd.next_steps(None, None, lang, set_aside=half)[0])
    assert "1,500" in first and "3,000" in first and "50.0%" in first
    few = fd.next_steps(None, None, lang, set_aside=fd._set_aside(inputs(149), lang))
    assert not any("149" in md_plain(x) for x in few)  # 5.0 % is the threshold
    assert any("150" in md_plain(x) for x in fd.next_steps(
        None, None, lang, set_aside=fd._set_aside(inputs(150), lang)))
    assert fd._set_aside(inputs(0), lang) is None
    # rows the mapping sets aside by design (the bank's calls abandoned in the voice menu)
    # are no export defect: page 1 counts only the rows that broke the contract
    bank = inputs(1500)
    bank.manifest["inputs"][0]["mapping_reasons"] = ["abandoned_in_vru", "unparseable_arrival_ts"]
    broken = fd._set_aside(bank, lang, broken_only=True)
    assert broken["n"] == "1" and broken["k"] == "1"  # the unknown outcome only
    assert not any("1,500" in md_plain(x) or "1,499" in md_plain(x)
                   for x in fd.next_steps(None, None, lang, set_aside=broken))
    assert fd._set_aside(bank, lang)["n"] == "1,500"  # page 2's key finding: all of them
    bank.quarantine = bank.quarantine.iloc[:1]
    bank.manifest["inputs"][0]["quarantined"] = 1499
    assert fd._set_aside(bank, lang, broken_only=True) is None


def test_gaming_tables_count_flagged_agents_and_show_the_decisions_q():
    """The per-check table counted rows (an agent with two periods counted twice) and the
    evidence table showed the per-test q (up to .77 beside flagged agents) where the
    decision is the agent's q."""
    from analysis.report.present import gaming as gp

    flags = pd.DataFrame({
        "level": ["agent"] * 4 + ["center"],
        "agent_id": ["A", "A", "B", "C", ""],
        "period": ["2026-01", "2026-02", "2026-01", "2026-01", "all"],
        "check": ["short_calls_peer", "short_calls_peer", "short_calls_peer",
                  "transfer_dumping", "bunching_center"],
        "effect": 1.0, "effect_unit": "u", "n": 100, "k": 10,
        "p_value": [1e-6, 1e-4, 0.01, 0.3, 1e-5], "q_value": [0.001, 0.01, 0.6, 0.9, 0.002],
        "flagged": [True, True, True, False, True]})
    agents = pd.DataFrame({"agent_id": ["A", "B", "C"], "scope": "all",
                           "q_value": [0.004, 0.03, 0.8], "flagged": [True, True, False]})
    g = SimpleNamespace(flags=flags, agents=agents)
    tab = gp.checks_table(g, "en").df.set_index("check")
    assert sorted(tab["flags"].tolist()) == [0, 1, 2]  # short calls: 2 agents, not 3 rows
    ev = gp.flags_table(g, "en").df
    assert "agent_q" in ev.columns and "q_value" not in ev.columns
    qcol = "agent_q"
    assert sorted(ev[qcol].round(3).tolist()) == [0.002, 0.004, 0.004, 0.03]


def test_top_bottom_says_how_many_agents_tie_and_changepoints_say_what_is_cut():
    """The bank's KPI top five were five of 22 agents tied at the cap, in alphabetical
    order, without a word; its change-point table showed 20 of 29 steps silently."""
    from analysis.report.present import gaming as gp
    from analysis.report.present import models as mp

    scores = pd.DataFrame({"model": "kpi", "period": "2026-01",
                           "agent_id": [f"a{i:02d}" for i in range(14)],
                           "score": [1.2] * 8 + [0.9, 0.6, 0.5, 0.4, 0.3, 0.2]})
    scores["rank"] = scores["score"].rank(ascending=False, method="min")
    cmp = SimpleNamespace(scores=scores, summary={})
    tab = mp.model_top_bottom(cmp, "kpi", "en", n=5)
    assert "8 agents are tied at 1.20; 5 of them are shown" in md_plain(tab.after)
    scores["score"] = np.arange(14.0)
    scores["rank"] = scores["score"].rank(ascending=False, method="min")
    assert "tied" not in mp.model_top_bottom(cmp, "kpi", "en", n=5).after
    cp = pd.DataFrame({"level": "agent", "agent_id": [f"a{i}" for i in range(25)],
                       "metric": "short_call_rate", "date": "2026-01-10", "date_lo": "",
                       "date_hi": "", "before": 0.05, "after": 0.1, "p_value": 0.01,
                       "source": "changepoints"})
    g = SimpleNamespace(changepoints=cp, agent_fdr={"alpha": 0.05})
    after = md_plain(gp.changepoints_table(g, "en", limit=20).after)
    assert "Showing 20 of 25" in after and "tables/changepoints.csv" in after


def test_one_flagged_agent_is_one_agent_in_the_sentence():
    g = _new_gaming()
    assert md_plain(fd.gaming_finding(g, "en")[0]).startswith("2 agents show")
    g.agents = g.agents[g.agents["agent_id"] != "TOVA"]
    assert md_plain(fd.gaming_finding(g, "en")[0]).startswith("1 agent shows signs")
