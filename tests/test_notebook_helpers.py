"""Library helpers the research notebooks call instead of computing in a cell
(``notebooks/*.ipynb`` hold no logic): summary values that may be missing, tables,
figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.compare import Comparison, value_text


def _comparison(summary_models: dict, w: dict) -> Comparison:
    return Comparison(scores=pd.DataFrame(), agreement=pd.DataFrame(),
                      summary={"kendall_w": w, "models": summary_models})


def test_value_text_says_why_a_value_is_missing():
    # model_comparison.ipynb formatted summary["kendall_w"]["value"] with :.2f and raised
    # TypeError when W was {"value": None, "reason": ...} (weekly periods on a synth center)
    assert value_text({"value": 0.61234}) == "0.61"
    assert value_text({"value": None, "reason": "fewer than 3 agents scored by every model"}) \
        == "not computable (fewer than 3 agents scored by every model)"
    assert value_text(None).startswith("not computable")
    assert value_text(float("nan")).startswith("not computable")


def test_properties_table_gives_a_reason_for_every_blank():
    cmp = _comparison({
        "kpi": {"computable": True, "reason": "",
                "stability": {"value": 0.5}, "validity": {"value": None,
                                                           "reason": "one period only"},
                "gaming_sensitivity": {"value": 12.0}},
        "360": {"computable": False, "reason": "no ratings",
                "stability": {"value": None, "reason": "model not computable: no ratings"}},
    }, {"value": None, "reason": "x"})
    t = cmp.properties()
    assert list(t.index) == ["kpi", "360"]
    assert t.loc["kpi", "stability (ICC)"] == 0.5 and np.isnan(t.loc["kpi",
                                                                   "validity (Spearman rho)"])
    assert t.loc["kpi", "why not"] == "validity: one period only"
    assert t.loc["360", "why not"] == "no ratings" and not t.loc["360", "computable"]
    assert t.select_dtypes("number").shape[1] == 3  # numbers stay numbers (round works)


def test_describe_checks_lists_every_registered_check(monkeypatch):
    # gaming_checks.ipynb typed its table of checks by hand and missed transfer_step and
    # quick_callback_after_short, which ran; the table now comes from the registry
    from analysis.gaming import CHECKS, describe_checks
    from analysis.gaming._agents import BEHAVIOUR_OF

    t = describe_checks()
    assert sorted(t["check"]) == sorted(CHECKS.names())
    assert {"transfer_step", "quick_callback_after_short"} <= set(t["check"])
    assert t["description"].str.len().gt(10).all()
    assert not t["description"].str.contains("module docstring").any()
    for check, behaviour in BEHAVIOUR_OF.items():
        if check in CHECKS:
            assert t.set_index("check").at[check, "behaviour"] == behaviour
    roles = t.set_index("check")["role"]
    assert roles["acw_inflation"].startswith("evidence only")
    assert roles["changepoints"].startswith("timing")
    assert roles["bunching_center"] == "center level"
    assert roles["short_calls_peer"] == "agent decision"

    def toy_check(ctx):
        """A toy check (see the module docstring)."""

    monkeypatch.setitem(CHECKS._items, "toy_check", toy_check)  # a new module registering
    row = describe_checks().set_index("check").loc["toy_check"]
    assert row["description"] == "A toy check." and row["behaviour"] == "toy_check"
