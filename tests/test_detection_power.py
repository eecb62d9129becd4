"""Detection power on the center's own calls (analysis.detection, ``ccpm gaming --power``)
and the planting options it needs (analysis.counterfactual.plant_behaviour)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.counterfactual import PHANTOM, plant_behaviour
from analysis.synth import generate_center


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """An honest 40-agent center over 40 days, as contract Parquet."""
    c = generate_center(agents=40, days=40, seed=5, gaming="none", progress=False)
    path = tmp_path_factory.mktemp("power") / "calls.parquet"
    c.calls.to_parquet(path)
    return path, c.calls


def test_whole_plant_from_a_start_day_changes_only_the_planted_agents_calls_after_it(
        honest, tmp_path):
    path, calls = honest
    agents = sorted(calls["agent_id"].dropna().unique())[:2]
    start = pd.Timestamp(calls["answer_ts"].min()).normalize() + pd.Timedelta(days=20)
    held = calls[calls["hold_s"] > 0]["agent_id"].value_counts()
    third = str(held.index[~held.index.isin(agents)][0])  # an agent who puts calls on hold
    out = plant_behaviour(str(path), {agents[0]: "hangups", agents[1]: "acw_padding",
                                      third: "hold_padding"},
                          out=tmp_path / "p.parquet",
                          dose={"hangups": 0.2, "acw_padding": 0.5, "hold_padding": 0.7},
                          whole=True, start=start, callback_share=0.5, callback_min=15,
                          callbacks_to="peers")
    new = pd.read_parquet(out)
    cb = new[new["call_id"].astype(str).str.endswith("~cb")]
    old = calls.set_index("call_id")
    kept = new[~new["call_id"].astype(str).str.endswith("~cb")].set_index("call_id")
    assert len(kept) == len(calls)  # every call written (whole), none dropped
    changed = [kept[c].fillna(-1) != old[c].reindex(kept.index).fillna(-1)
               for c in ("talk_s", "acw_s", "hold_s")]
    changed = changed[0] | changed[1] | changed[2]
    ch = kept[changed]
    assert set(ch["agent_id"]) == {*agents, third}
    padded = ch[ch["agent_id"] == third]
    ratio = padded["hold_s"] / old["hold_s"].reindex(padded.index)
    assert len(padded) and ratio.between(1.65, 1.75).all()  # only held calls, +70 %
    assert (ch["answer_ts"] >= start).all()  # nothing before the start day
    ch = ch[ch["agent_id"].isin(agents)]
    hang = ch[ch["agent_id"] == agents[0]]
    mine = calls[(calls["agent_id"] == agents[0]) & (calls["outcome"] == "answered")
                 & (calls["answer_ts"] >= start)]
    assert 0.12 < len(hang) / len(mine) < 0.28  # the dose of that behaviour (0.2)
    assert (hang["talk_s"] <= 15).all() and (hang["ended_by"] == "agent").all()
    pad = ch[ch["agent_id"] == agents[1]]
    ratio = pad["acw_s"] / old["acw_s"].reindex(pad.index)
    assert ratio.between(1.45, 1.55).all()  # its own dose (0.5)
    # callbacks: about half the hung-up customers, 15 minutes later, answered by real
    # agents of the same queue who are not planted into
    with_cust = hang["customer_id"].notna().sum()
    assert 0.3 * with_cust < len(cb) < 0.7 * with_cust
    assert not cb["agent_id"].isin([PHANTOM, *agents]).any()
    src = cb["call_id"].str[:-3]
    delay = cb["arrival_ts"].to_numpy() - old.loc[src, "answer_ts"].to_numpy()
    assert (pd.to_timedelta(delay) == pd.Timedelta(minutes=15)).all()
    queues = calls.groupby("agent_id")["queue"].agg(set)
    assert all(q in queues[a] for q, a in zip(cb["queue"], cb["agent_id"], strict=True))


def test_detection_power_finds_planted_gamers_and_never_plants_into_flagged_agents(honest):
    from analysis.detection import detection_power
    from analysis.gaming import run_checks

    path, calls = honest
    rep = run_checks(str(path), options={"seed": 1})
    # one agent pretends to be flagged: it must not be planted into
    agents = rep.agents.copy()
    pretend = str(agents.loc[agents["scope"] == "all", "agent_id"].iloc[0])
    agents.loc[(agents["agent_id"] == pretend) & (agents["scope"] == "all"), "flagged"] = True
    rep.agents = agents
    lines = []
    dp = detection_power(str(path), rep, options=rep.info["options"], rounds=2,
                         per_behaviour=2, progress=lines.append)
    t = dp.table.set_index("behaviour")
    assert set(t.index) == {"hangups", "transfer_dumping", "acw_padding", "hold_padding",
                            "end_of_day_stretch", "bunching"}
    assert (t["planted"] == 4).all() and len(lines) == 2
    # strong, mid-window behaviours in a clean center: found (power)
    assert t.loc["hangups", "found"] >= 3 and t.loc["bunching", "found"] >= 3
    assert t.loc["acw_padding", "found"] >= 3 and t.loc["transfer_dumping", "found"] >= 3
    assert (t["named"] <= t["found"]).all() and (t["rate"] == t["found"] / 4).all()
    assert pretend not in " ".join(lines) and "Detection power" in dp.summary_lines()[0]


def test_behaviours_the_data_cannot_carry_are_not_planted(honest, tmp_path):
    from analysis.detection import detection_power
    from analysis.gaming import run_checks

    _, calls = honest
    bare = calls.assign(acw_s=None, outcome=calls["outcome"].replace(
        {"transferred": "answered"}))
    path = tmp_path / "bare.parquet"
    bare.to_parquet(path)
    rep = run_checks(str(path), options={"seed": 1}, checks=["short_calls_peer"])
    dp = detection_power(str(path), rep, options=rep.info["options"], rounds=1,
                         run_kwargs={"checks": ["short_calls_peer"]})
    assert "acw_padding" not in set(dp.table["behaviour"])
    assert "transfer_dumping" not in set(dp.table["behaviour"])
    assert any("no after-call work" in n for n in dp.notes)
    assert any("records no transfer" in n for n in dp.notes)


def test_cli_gaming_power_writes_counts_and_no_agent_id(honest, tmp_path):
    from analysis.cli import main

    path, calls = honest
    out = tmp_path / "g"
    assert main(["gaming", "--calls", str(path), "--power", "1", "--seed", "2",
                 "--out", str(out)]) == 0
    tab = pd.read_csv(out / "detection_power.csv")
    assert list(tab.columns) == ["behaviour", "dose", "what", "planted", "found", "named",
                                 "rate"]
    assert (tab["planted"] == 2).all()
    text = (out / "detection_power.csv").read_text()
    assert not any(str(a) in text for a in calls["agent_id"].dropna().unique())
    assert "Detection power on these calls" in (out / "summary.txt").read_text()
    man = (out / "manifest.json").read_text()
    assert "detection_power.csv" in man


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_report_power_blocks_read_in_the_reports_language(lang):
    """The report's detection-power paragraph and table (report.present.gaming) in English
    and Chinese: every behaviour and dose in words, counts as "found of planted", the
    behaviours not planted named; nothing without the run's power results."""
    import re
    from types import SimpleNamespace

    from analysis.detection import DOSES
    from analysis.report.i18n import t
    from analysis.report.present.gaming import power_blocks

    tab = pd.DataFrame({"behaviour": ["hangups", "end_of_day_stretch", "bunching"],
                        "dose": [DOSES[b] for b in ("hangups", "end_of_day_stretch",
                                                    "bunching")],
                        "planted": [6, 6, 6], "found": [4, 0, 6], "named": [4, 0, 6]})
    meta = {"start": "1999-06-02", "rounds": 3, "per": 2,
            "not_planted": ["acw_padding", "transfer_dumping"], "others": 0}
    blocks = power_blocks(SimpleNamespace(power=tab, power_meta=meta), lang)
    md = "\n".join(b._repr_markdown_() for b in blocks).replace("\\", "")  # unescaped
    assert "1999-06-02" in md and t("power.found", lang, found=0, planted=6) in md
    assert t("power.found", lang, found=4, planted=6) in md
    for b in ("hangups", "end_of_day_stretch", "bunching", "acw_padding",
              "transfer_dumping"):
        assert t(f"behaviour.{b}", lang) in md
    assert t("power.dose.hangups", lang, dose="7%") in md
    if lang == "zh-CN":  # no English words left in the Chinese text (numbers, units aside)
        assert not re.findall(r"[A-Za-z]{3,}", md.replace("Behaviour", "")), md
    assert power_blocks(SimpleNamespace(power=None, power_meta=None), lang) is None


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_page_one_says_what_an_empty_list_of_flags_is_worth(lang):
    """With nobody flagged, page 1 names the planted gamers the checks found in these calls
    (a director reads "no agent shows signs of gaming" and nothing else); with no power
    measured, or with agents flagged, the line is not there."""
    from types import SimpleNamespace

    from analysis.report.i18n import t
    from analysis.report.present.findings import gaming_finding

    agents = pd.DataFrame({"agent_id": ["A1", "A2"], "scope": ["all", "all"],
                           "p_value": [0.3, 0.8], "q_value": [0.9, 0.9],
                           "flagged": [False, False], "behaviours": ["", ""],
                           "checks": ["", ""], "first_date": ["", ""], "last_date": ["", ""],
                           "detail": ["", ""]})
    flags = pd.DataFrame(columns=["agent_id", "period", "check", "p_value", "flagged",
                                  "level"])
    tab = pd.DataFrame({"behaviour": ["hangups", "end_of_day_stretch"], "dose": [0.07, 0.4],
                        "planted": [6, 6], "found": [5, 0], "named": [5, 0]})
    meta = {"start": "2026-02-04", "rounds": 3, "per": 2, "not_planted": [], "others": 0}
    g = SimpleNamespace(agents=agents, flags=flags, changepoints=pd.DataFrame(), alpha=0.05,
                        power=tab, power_meta=meta)
    lines = [str(x).replace("\\", "") for x in gaming_finding(g, lang)]
    power = [x for x in lines if t("behaviour.hangups", lang) in x]
    assert len(power) == 1
    assert t("page1.gaming.power.item", lang, what=t("behaviour.hangups", lang), found=5,
             planted=6) in power[0]
    assert t("page1.gaming.power.item", lang, what=t("behaviour.end_of_day_stretch", lang),
             found=0, planted=6) in power[0]
    g.power_meta = None
    assert not [x for x in gaming_finding(g, lang) if t("behaviour.hangups", lang) in str(x)]
