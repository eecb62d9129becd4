"""The four models and their configuration, against hand calculations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ConfigError
from analysis.models import MODELS
from analysis.models._reliability import icc_oneway, krippendorff_alpha
from analysis.models.config import deep_merge, load_model_config
from analysis.models.okr import band, grade, parse_okr


def small_panel() -> pd.DataFrame:
    return pd.DataFrame({
        "agent_id": ["a", "b", "c"], "period": ["2026-01"] * 3, "calls": [100, 100, 100],
        "aht_s": [300.0, 400.0, 200.0], "csat_mean": [4.2, 3.0, np.nan],
    })


KPI_2 = {"min_calls": 1, "kpi": {"metrics": {
    "aht_s": {"weight": 0.5, "target": 360, "direction": "lower"},
    "csat_mean": {"weight": 0.5, "target": 4.0, "direction": "higher"},
    "qa_mean": None, "resolved_rate": None, "transfer_rate": None}}}


def _score(res, agent):
    return float(res.scores.set_index("agent_id").loc[agent, "score"])


def test_registry_has_the_four_models():
    assert {"kpi", "okr", "bsc", "360"} <= set(MODELS.names())


def test_kpi_capped_attainment_by_hand():
    cfg = load_model_config(override=KPI_2)
    res = MODELS.get("kpi")(small_panel(), cfg)
    # a: aht 360/300 = 1.2, csat 4.2/4 = 1.05 -> 1.125
    # b: 360/400 = 0.9, 3/4 = 0.75 -> 0.825
    # c: 360/200 = 1.8 capped at 1.2; no csat -> its weight goes to aht -> 1.2
    assert _score(res, "a") == pytest.approx(1.125)
    assert _score(res, "b") == pytest.approx(0.825)
    assert _score(res, "c") == pytest.approx(1.2)
    assert res.scores.set_index("agent_id")["rank"].to_dict() == {"c": 1, "a": 2, "b": 3}
    c = res.components
    wv = (c["weight"] * c["value"].fillna(0)).groupby(c["agent_id"]).sum()
    assert wv["c"] == pytest.approx(1.2)
    assert any("csat_mean missing for 1" in n for n in res.notes)


def test_kpi_zscore_by_hand():
    cfg = load_model_config(override=deep_merge(KPI_2, {"kpi": {"normalisation": "zscore"}}))
    res = MODELS.get("kpi")(small_panel(), cfg)
    # aht: mean 300, sd 100 -> z 0, 1, -1, negated (lower is better): 0, -1, 1
    # csat: 4.2, 3.0 -> mean 3.6, sd 0.8485 -> +0.7071, -0.7071
    assert _score(res, "a") == pytest.approx(0.5 * (0 + 0.6 / np.sqrt(0.72)))
    assert _score(res, "b") == pytest.approx(0.5 * (-1 - 0.6 / np.sqrt(0.72)))
    assert _score(res, "c") == pytest.approx(1.0)


def test_kpi_without_any_metric_is_not_computable():
    cfg = load_model_config(override=KPI_2)
    res = MODELS.get("kpi")(small_panel()[["agent_id", "period", "calls"]], cfg)
    assert not res.computable and "none of the KPI metrics" in res.reason


OKR = {
    "objectives": [
        {"id": "efficiency", "title": "Efficient", "key_results": [
            {"id": "kr_aht", "metric": "aht_s", "direction": "lower", "baseline": 420,
             "target": 360, "stretch": 330}]},
        {"id": "customer", "key_results": [
            {"id": "kr_csat", "metric": "csat_mean", "direction": "higher", "baseline": 3.8,
             "target": 4.2}]},
    ],
}


def test_okr_grades_by_hand():
    # lower is better, stretch given: 390 -> 0.7 * 30/60 = 0.35; 345 -> 0.7 + 0.3 * 15/30
    # = 0.85; 450 (worse than baseline) -> 0; 320 (beyond stretch) -> 1
    g = grade([390, 345, 450, 320], 420, 360, 330, direction="lower")
    np.testing.assert_allclose(g, [0.35, 0.85, 0.0, 1.0])
    np.testing.assert_allclose(grade([4.0, 4.4], 3.8, 4.2, direction="higher"), [0.5, 1.0])
    assert band([0.2, 0.35, 0.4, 0.65, 0.7, 1.0]).tolist() == [
        "red", "red", "yellow", "yellow", "green", "green"]


def test_okr_model_objectives_and_agent_targets():
    panel = pd.DataFrame({"agent_id": ["a", "b", "c", "d"], "period": ["P"] * 4,
                          "calls": [50] * 4, "aht_s": [390.0, 345.0, 450.0, 410.0],
                          "csat_mean": [4.0, 4.4, np.nan, np.nan]})
    okr = dict(OKR, agents={"c": {"kr_aht": {"baseline": 500, "target": 440}},
                            # a sandbagged target (worse than the baseline): met / not met
                            "d": {"kr_aht": {"baseline": 400, "target": 420}}})
    cfg = load_model_config(override={"min_calls": 1})
    res = MODELS.get("okr")(panel, cfg, okr=okr)
    s = res.scores.set_index("agent_id")
    assert s.loc["a", "score"] == pytest.approx((0.35 + 0.5) / 2)
    assert s.loc["b", "score"] == pytest.approx((0.85 + 1.0) / 2)
    # c: own baseline 500 / target 440, no stretch: (500 - 450) / 60; csat missing
    assert s.loc["c", "score"] == pytest.approx(50 / 60)
    assert s.loc["d", "score"] == pytest.approx(1.0)  # 410 is at or better than 420
    assert s.loc["a", "band"] == "yellow" and s.loc["b", "band"] == "green"
    assert any("sandbagging" in n and "d" in n for n in res.notes)
    c = res.components
    wv = (c["weight"] * c["value"].fillna(0)).groupby(c["agent_id"]).sum()
    np.testing.assert_allclose(wv.loc[s.index], s["score"])


def test_okr_file_format_and_errors(tmp_path):
    f = tmp_path / "okr.yml"
    f.write_text(
        "objectives:\n"
        "  - id: efficiency\n"
        "    title: Handle calls efficiently\n"
        "    key_results:\n"
        "      - {id: kr_aht, metric: aht_s, direction: lower, baseline: 420, target: 360,"
        " stretch: 330}\n"
        "agents:\n"
        "  A0001: {kr_aht: {baseline: 450, target: 400}}\n")
    from analysis.models.okr import load_okr

    o = load_okr(f)
    assert o["agents"]["A0001"]["kr_aht"] == {"baseline": 450, "target": 400, "stretch": None}
    with pytest.raises(ConfigError, match=r"key_results\[0\]\.metric"):
        parse_okr({"objectives": [{"id": "x", "key_results": [
            {"id": "k", "metric": "nope", "direction": "lower", "baseline": 1, "target": 0}]}]})
    with pytest.raises(ConfigError, match=r"agents\.A1\.kr_x"):
        parse_okr(dict(OKR, agents={"A1": {"kr_x": {"target": 1}}}))


def test_okr_default_set_uses_first_period_median():
    panel = pd.DataFrame({"agent_id": ["a", "b", "a", "b"], "period": ["P1", "P1", "P2", "P2"],
                          "calls": [50] * 4, "aht_s": [300.0, 400.0, 330.0, 315.0]})
    res = MODELS.get("okr")(panel, load_model_config(override={"min_calls": 1}))
    # default kr_aht: baseline 350 (median of P1), target 350 * 0.95 = 332.5, stretch 315
    # only aht_s is in the data: score = kr_aht grade. a in P2: 330 -> 0.7 + 0.3 * 2.5/17.5
    s = res.scores.set_index(["agent_id", "period"])["score"]
    assert s[("a", "P2")] == pytest.approx(0.7 + 0.3 * 2.5 / 17.5)
    assert s[("b", "P2")] == pytest.approx(1.0)
    assert s[("a", "P1")] == pytest.approx(0.7 * 50 / 17.5) or s[("a", "P1")] == 1.0
    assert any("no OKR file" in n for n in res.notes)
    assert any("kr_csat" in n for n in res.notes)


def _ratings(rows):
    return pd.DataFrame(rows, columns=["period", "ratee_id", "rater_id", "rater_group",
                                       "competency", "score"])


def test_360_groups_weights_suppression_and_self():
    rows = []
    for comp, s1, p1, p2, p3 in (("c1", 4, 3, 2, 3), ("c2", 4, 5, 2, 3)):
        rows += [("P", "R1", "S1", "supervisor", comp, s1), ("P", "R1", "p1", "peer", comp, p1),
                 ("P", "R1", "p2", "peer", comp, p2), ("P", "R1", "p3", "peer", comp, p3),
                 ("P", "R1", "R1", "self", comp, 5),
                 ("P", "R2", "S1", "supervisor", comp, 3), ("P", "R2", "p1", "peer", comp, 5),
                 ("P", "R2", "p2", "peer", comp, 5)]
    cfg = load_model_config(override={"360": {"leniency": "none"}})
    panel = pd.DataFrame({"agent_id": ["R1", "R2"], "period": ["P", "P"]})
    res = MODELS.get("360")(panel, cfg, ratings=_ratings(rows))
    # R1: supervisor 4, peers (4 + 2 + 3)/3 = 3 -> (0.4*4 + 0.3*3) / 0.7
    assert _score(res, "R1") == pytest.approx((0.4 * 4 + 0.3 * 3) / 0.7)
    # R2: two peers only -> suppressed; supervisor alone
    assert _score(res, "R2") == pytest.approx(3.0)
    assert any("suppressed" in n for n in res.notes)
    self_row = res.components.query("agent_id == 'R1' and component == 'self'")
    assert self_row["value"].item() == 5 and self_row["weight"].item() == 0
    # self never moves the score
    rows2 = [r if r[3] != "self" else (*r[:5], 1) for r in rows]
    assert _score(MODELS.get("360")(panel, cfg, ratings=_ratings(rows2)), "R1") == \
        pytest.approx(_score(res, "R1"))


def test_360_leniency_correction_by_hand():
    rows = [("P", "R1", "X", "supervisor", "c", 5), ("P", "R2", "X", "supervisor", "c", 4),
            ("P", "R1", "Y", "supervisor", "c", 3), ("P", "R2", "Y", "supervisor", "c", 2),
            ("P", "R2", "Z", "supervisor", "c", 5)]
    panel = pd.DataFrame({"agent_id": ["R1", "R2"], "period": ["P", "P"]})
    res = MODELS.get("360")(panel, load_model_config(), ratings=_ratings(rows))
    # ratee means: R1 4, R2 11/3. Deviations: X ((5-4) + (4-11/3))/2 = 2/3,
    # Y ((3-4) + (2-11/3))/2 = -4/3, Z 5 - 11/3 = 4/3.
    # corrected R1: X 13/3, Y 13/3 -> 13/3; R2: X 10/3, Y 10/3, Z 11/3 -> 31/9
    assert _score(res, "R1") == pytest.approx(13 / 3)
    assert _score(res, "R2") == pytest.approx(31 / 9)
    raw = MODELS.get("360")(panel, load_model_config(override={"360": {"leniency": "none"}}),
                            ratings=_ratings(rows))
    assert _score(raw, "R2") == pytest.approx(11 / 3)


def test_360_without_ratings_is_not_computable():
    res = MODELS.get("360")(small_panel(), load_model_config())
    assert not res.computable and "ratings" in res.reason and res.scores.empty


RESULTS = Path(__file__).with_name("results")


def test_krippendorff_alpha_textbook_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders x
    # 12 units example with missing values (tests/results/): nominal .743, interval .849.
    data = pd.read_csv(RESULTS / "krippendorff_2011_example.csv", comment="#")
    units = data[["A", "B", "C", "D"]].to_numpy(float)
    assert units.shape == (12, 4) and np.isnan(units).sum() == 7
    assert krippendorff_alpha(units, level="interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(units, level="nominal") == pytest.approx(0.743, abs=5e-4)
    # perfect agreement -> 1; order of coders and units does not matter
    assert krippendorff_alpha(np.array([[1, 1], [2, 2], [3, 3.0]])) == pytest.approx(1.0)
    assert krippendorff_alpha(units[::-1, ::-1]) == pytest.approx(0.849, abs=5e-4)


def test_icc_oneway_matches_anova_formula():
    rng = np.random.default_rng(2)
    t = np.repeat(np.arange(12), 4)
    y = rng.normal(0, 1, 12)[t] + rng.normal(0, 0.8, len(t))
    long = pd.DataFrame({"target": t.astype(str), "rater": np.tile(list("wxyz"), 12),
                         "rating": y})
    out = icc_oneway(long, target="target", rater="rater", rating="rating", k=4)
    # one-way ANOVA by hand: ICC(1,1) = (MSB - MSW) / (MSB + (k - 1) MSW)
    m = y.reshape(12, 4)
    msb = 4 * m.mean(1).var(ddof=1)
    msw = ((m - m.mean(1, keepdims=True)) ** 2).sum() / (12 * 3)
    assert out["icc1"] == pytest.approx((msb - msw) / (msb + 3 * msw))
    assert out["icck"] == pytest.approx((msb - msw) / msb)


def test_bsc_perspectives_components_and_360():
    panel = pd.DataFrame({
        "agent_id": ["R1", "R2", "R3"], "period": ["P"] * 3, "calls": [100] * 3,
        "aht_s": [300.0, 360.0, 420.0], "csat_mean": [4.5, 4.2, 3.5],
        "repeat_call_rate": [0.1, 0.2, 0.3], "resolved_rate": [0.9, 0.8, 0.7],
        "transfer_rate": [0.05, 0.1, 0.2], "short_call_rate": [0.01, 0.05, 0.1],
        "complaint_rate": [0.0, 0.01, 0.02], "qa_mean": [90.0, 85.0, 80.0]})
    cfg = load_model_config()
    res = MODELS.get("bsc")(panel, cfg)
    assert res.computable
    assert res.scores.sort_values("rank")["agent_id"].tolist() == ["R1", "R2", "R3"]
    c = res.components
    assert set(c["component"].str.split("/").str[0]) == {
        "financial", "customer", "internal_process", "learning_growth"}
    wv = (c["weight"] * c["value"].fillna(0)).groupby(c["agent_id"]).sum()
    np.testing.assert_allclose(wv.loc[["R1", "R2", "R3"]],
                               res.scores.set_index("agent_id").loc[["R1", "R2", "R3"], "score"])
    assert any("no 360 ratings" in n for n in res.notes)
    # R2 sits on every target -> attainment 1.0 in each metric -> score 1.0
    assert _score(res, "R2") == pytest.approx(1.0)
    rows = [("P", r, f"s{i}", "supervisor", "c", v) for i, (r, v) in
            enumerate([("R1", 2.0), ("R2", 4.0), ("R3", 5.0)])]
    res360 = MODELS.get("bsc")(panel, cfg, ratings=_ratings(rows))
    assert "learning_growth/360" in set(res360.components["component"])
    assert _score(res360, "R3") > _score(res, "R3")


def test_config_validation_names_the_key(tmp_path):
    bad = tmp_path / "c.yml"
    bad.write_text("kpi:\n  metrics:\n    aht_s: {direction: low}\n")
    with pytest.raises(ConfigError, match=r"kpi\.metrics\.aht_s\.direction"):
        load_model_config(bad)
    with pytest.raises(ConfigError, match=r"360\.min_group"):
        load_model_config(override={"360": {"min_group": 2}})
    with pytest.raises(ConfigError, match=r"kpi\.metrics\.nope"):
        load_model_config(override={"kpi": {"metrics": {"nope": {"weight": 1, "target": 1,
                                                                 "direction": "higher"}}}})
    with pytest.raises(ConfigError, match=r"bsc\.perspectives\.customer\.weight"):
        load_model_config(override={"bsc": {"perspectives": {"customer": {"weight": "x"}}}})
    with pytest.raises(ConfigError, match=r"okr\.bands"):
        load_model_config(override={"okr": {"bands": {"yellow": 0.8, "green": 0.7}}})
    bad.write_text("kpi: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model_config(bad)


def test_user_yaml_deep_merges(tmp_path):
    f = tmp_path / "c.yml"
    f.write_text("kpi:\n  cap: 1.5\n  metrics:\n    csat_mean: null\n")
    cfg = load_model_config(f)
    assert cfg["kpi"]["cap"] == 1.5
    assert "csat_mean" not in cfg["kpi"]["metrics"]
    assert cfg["kpi"]["metrics"]["aht_s"]["target"] == 360  # untouched default
    assert cfg["bsc"]["perspectives"]["customer"]["weight"] == 0.35


def test_krippendorff_long_form_equals_matrix_form():
    from analysis.models._reliability import krippendorff_alpha_interval_long

    data = pd.read_csv(RESULTS / "krippendorff_2011_example.csv", comment="#")
    long = data.melt(id_vars="unit", var_name="coder", value_name="v").dropna()
    assert krippendorff_alpha_interval_long(long["v"], long["unit"]) == pytest.approx(
        0.849, abs=5e-4)
    rng = np.random.default_rng(1)
    m = rng.integers(1, 6, (30, 5)).astype(float)
    m[rng.random(m.shape) < 0.3] = np.nan
    lg = pd.DataFrame(m).stack().reset_index()
    assert krippendorff_alpha_interval_long(lg[0], lg["level_0"]) == pytest.approx(
        krippendorff_alpha(m))


def test_config_table_weights_sum_to_one_per_model():
    from analysis.models.config import config_table

    t = config_table(load_model_config())
    assert list(t.columns) == ["model", "group", "item", "weight", "target", "direction"]
    sums = t.groupby("model")["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert set(t.loc[t.model == "bsc", "group"]) == {
        "financial", "customer", "internal_process", "learning_growth"}


def test_bsc_can_use_a_360_competency():
    panel = pd.DataFrame({"agent_id": ["R1", "R2", "R3"], "period": ["P"] * 3,
                          "calls": [100] * 3, "qa_mean": [85.0, 85.0, 85.0]})
    rows = [("P", r, f"s{i}", "supervisor", comp, v)
            for i, (r, e, t) in enumerate([("R1", 2.0, 5.0), ("R2", 4.0, 4.0), ("R3", 5.0, 1.0)])
            for comp, v in (("empathy", e), ("teamwork", t))]
    cfg = load_model_config(override={"min_calls": 1, "bsc": {"perspectives": {
        "learning_growth": {"metrics": {"360": None, "qa_mean": None,
                                        "360:empathy": {"weight": 1.0, "target": 4.0,
                                                        "direction": "higher"}}}}}})
    res = MODELS.get("bsc")(panel, cfg, ratings=_ratings(rows))
    lg = res.components[res.components["component"] == "learning_growth/360:empathy"]
    # one supervisor per ratee, leniency per rater is then 0: empathy / 4
    assert lg.set_index("agent_id")["value"].to_dict() == pytest.approx(
        {"R1": 0.5, "R2": 1.0, "R3": 1.2})
    with pytest.raises(ConfigError, match="360:"):
        load_model_config(override={"kpi": {"metrics": {"360:x": {
            "weight": 1, "target": 1, "direction": "higher"}}}})


def test_kpi_notes_a_target_that_saturates():
    """A target far from the center's values (everyone at the cap) is reported, one that
    separates agents is not."""
    p = pd.DataFrame({
        "agent_id": list("abcdef"), "period": ["2026-01"] * 6, "calls": [100] * 6,
        # aht far below the 360 s target: 360/v >= 1.2 for all but one -> cap
        "aht_s": [100.0, 120.0, 150.0, 200.0, 250.0, 330.0],
        # csat around the 4.0 target: spread, no saturation
        "csat_mean": [3.6, 3.9, 4.0, 4.1, 4.3, 3.8],
    })
    res = MODELS.get("kpi")(p, load_model_config(override=KPI_2))
    sat = [n for n in res.notes if "hardly separates agents" in n]
    assert len(sat) == 1, res.notes
    assert "kpi.metrics.aht_s" in sat[0] and "83% of agent-periods sit at the cap" in sat[0]
    # the floor: every transfer rate far above a 1% target -> 0.01/v <= floor 0.2
    cfg = load_model_config(override=deep_merge(KPI_2, {"kpi": {"floor": 0.2, "metrics": {
        "aht_s": None, "transfer_rate": {"weight": 0.5, "target": 0.01, "direction": "lower"}}}}))
    res = MODELS.get("kpi")(p.assign(transfer_rate=[0.1, 0.2, 0.3, 0.1, 0.2, 0.04]), cfg)
    assert any("transfer_rate" in n and "at the floor" in n for n in res.notes), res.notes
