"""Hybrid models (KPI floor + OKR, scorecard fed by 360, user blends) against hand work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.compare import compare_models
from analysis.errors import ConfigError
from analysis.models import MODELS
from analysis.models.config import load_model_config

KPI_AHT = {"normalisation": "attainment",
           "metrics": {"csat_mean": None, "qa_mean": None, "resolved_rate": None,
                       "transfer_rate": None, "aht_s": {"weight": 1.0}}}


def _panel(n: int = 6, periods=("2026-01", "2026-02"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in periods:
        for i in range(n):
            rows.append({"agent_id": f"a{i}", "period": p, "calls": 100,
                         "aht_s": 300 + 20 * i + rng.normal(0, 5),
                         "repeat_call_rate": 0.1 + 0.02 * ((i * 3) % n),
                         "csat_mean": 4.0 + 0.1 * ((i * 5) % n) / n,
                         "qa_mean": 80 + ((i * 2) % n)})
    return pd.DataFrame(rows)


def _ratings(panel: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for p in panel["period"].unique():
        for i, a in enumerate(sorted(panel["agent_id"].unique())):
            for comp, base in (("empathy", 3.0 + 0.2 * i), ("knowledge", 4.5 - 0.2 * i)):
                rows.append({"period": p, "ratee_id": a, "rater_id": f"sup_{a}",
                             "rater_group": "supervisor", "competency": comp, "score": base})
    return pd.DataFrame(rows)


def test_registry_knows_the_shipped_hybrids():
    assert "kpi_okr" in MODELS and "bsc_360" in MODELS


def test_weighted_blend_is_the_weighted_mean_of_within_period_percentiles():
    panel = _panel()
    cfg = load_model_config(override={
        "min_calls": 1, "kpi": KPI_AHT,
        "hybrids": {"blend": {"rule": "weighted", "components": {"kpi": 3, "okr": 1}}}})
    res = MODELS.get("blend")(panel, cfg)
    assert res.computable
    kpi = MODELS.get("kpi")(panel, cfg).scores
    okr = MODELS.get("okr")(panel, cfg).scores
    # by hand: percentile (rank - 1) / (n - 1) within period, then 0.75 / 0.25
    exp = {}
    for (p, a), s in kpi.set_index(["period", "agent_id"])["score"].items():
        kp = kpi[kpi["period"] == p]
        op = okr[okr["period"] == p]
        pk = (kp["score"] < s).sum() + ((kp["score"] == s).sum() - 1) / 2
        so = float(op.set_index("agent_id").loc[a, "score"])
        po = (op["score"] < so).sum() + ((op["score"] == so).sum() - 1) / 2
        exp[(p, a)] = (0.75 * pk + 0.25 * po) / (len(kp) - 1)
    got = res.scores.set_index(["period", "agent_id"])["score"]
    for k, v in exp.items():
        assert got[k] == pytest.approx(v)
    c = res.components
    wv = (c["weight"] * c["value"]).groupby([c["period"], c["agent_id"]]).sum()
    np.testing.assert_allclose(wv.loc[got.index], got)


def test_kpi_floor_then_okr():
    panel = _panel(n=8)
    cfg = load_model_config(override={"min_calls": 1, "kpi": KPI_AHT,
                                      "hybrids": {"kpi_okr": {"floor": 1.0}}})
    res = MODELS.get("kpi_okr")(panel, cfg)
    kpi = MODELS.get("kpi")(panel, cfg).scores.set_index(["period", "agent_id"])["score"]
    okr = MODELS.get("okr")(panel, cfg).scores.set_index(["period", "agent_id"])["score"]
    s = res.scores.set_index(["period", "agent_id"])
    below = kpi < 1.0  # AHT above the 360 s target
    assert below.any() and (~below).any()
    np.testing.assert_allclose(s.loc[kpi.index, "score"], okr - below.astype(float))
    # every agent below the floor ranks beneath every agent who meets it
    for _, g in s.join(below.rename("below")).groupby(level="period"):
        assert g.loc[g["below"], "rank"].min() > g.loc[~g["below"], "rank"].max()
    assert res.diagnostics["hybrid"]["share_below_floor"] == pytest.approx(below.mean())


def test_bsc_360_needs_ratings_and_uses_each_competency():
    panel = _panel()
    cfg = load_model_config(override={"min_calls": 1})
    res = MODELS.get("bsc_360")(panel, cfg)
    assert not res.computable and "ratings" in res.reason
    r = _ratings(panel)
    res = MODELS.get("bsc_360")(panel, cfg, ratings=r)
    assert res.computable
    comps = set(res.components["component"])
    assert {"learning_growth/360:empathy", "learning_growth/360:knowledge"} <= comps
    assert "learning_growth/360" not in comps
    lg = res.components[res.components["component"].str.startswith("learning_growth/")]
    w = lg.groupby("component")["weight"].mean()
    # 0.70 shared by two competencies; qa_mean 0.30 (learning & growth share of the score)
    assert w["learning_growth/360:empathy"] == pytest.approx(w["learning_growth/360:knowledge"])
    assert w["learning_growth/360:empathy"] / w["learning_growth/qa_mean"] == pytest.approx(
        0.35 / 0.30)
    # the pure scorecard (no hybrid) is unchanged by the hybrid's override
    assert "learning_growth/360" in set(MODELS.get("bsc")(panel, cfg, ratings=r)
                                        .components["component"])


def test_hybrid_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="hybrids.kpi"):
        load_model_config(override={"hybrids": {"kpi": {"components": {"bsc": 1}}}})
    with pytest.raises(ConfigError, match="unknown component model 'nope'"):
        load_model_config(override={"hybrids": {"x1": {"components": {"nope": 1}}}})
    with pytest.raises(ConfigError, match="hybrids.x2.rule"):
        load_model_config(override={"hybrids": {"x2": {"rule": "median"}}})
    with pytest.raises(ConfigError, match="hybrids.x3.floor"):
        load_model_config(override={"hybrids": {"x3": {"rule": "floor", "floor_model": "kpi",
                                                       "improvement_model": "okr"}}})
    with pytest.raises(ConfigError, match=r"hybrids.x4.config: bsc.perspectives.customer"):
        load_model_config(override={"hybrids": {"x4": {
            "rule": "override", "base": "bsc",
            "config": {"perspectives": {"customer": {"weight": "a lot"}}}}}})


def test_hybrids_are_compared_like_pure_models():
    panel = _panel(n=10, periods=("2026-01", "2026-02", "2026-03"))
    cfg = load_model_config(override={
        "min_calls": 1, "compare": {"n_boot": 20},
        "models": ["kpi", "okr", "kpi_okr", "blend"],
        "hybrids": {"blend": {"components": {"kpi": 1, "okr": 1}}}})
    comp = compare_models(panel, config=cfg)
    assert set(comp.scores["model"]) == {"kpi", "okr", "kpi_okr", "blend"}
    assert {("kpi", "blend"), ("okr", "kpi_okr")} <= set(
        zip(comp.agreement["model_a"], comp.agreement["model_b"], strict=True))
    assert comp.summary["models"]["blend"]["stability"]["value"] is not None
    assert comp.summary["kendall_w"]["models"] == ["kpi", "okr", "kpi_okr", "blend"]
