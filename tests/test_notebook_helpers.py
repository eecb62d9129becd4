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


def test_agent_decision_figure_caps_underflowed_q():
    # gaming_checks.ipynb clipped q at 1e-300: two bars of q = 0 reached 300 and every other
    # bar and the alpha line (1.3) were invisible; and q = 1.2e-05 printed as 0.0000
    import matplotlib.pyplot as plt

    from analysis.figures import neg_log10_capped, plot_agent_decision

    decision = pd.DataFrame({"agent_id": list("abcdef"),
                             "q_value": [0.0, 0.0, 1.2e-5, 0.03, 0.2, np.nan],
                             "gaming": [True, True, True, False, None, False]})
    v, capped = neg_log10_capped(decision["q_value"])
    assert list(capped) == [True, True, False, False, False, False]
    assert v[0] == 10 and v[2] == -np.log10(1.2e-5)
    fig = plot_agent_decision(decision, alpha=0.05, top=25)
    ax = fig.axes[0]
    widths = sorted(p.get_width() for p in ax.patches if p.get_width() > 0)
    assert len(widths) == 5 and max(widths) == 10  # not 300
    lo, hi = ax.get_xlim()
    assert hi < 13 and hi > 10  # the alpha line at 1.3 is a tenth of the axis, not 0.4 %
    texts = {t.get_text() for t in ax.texts}
    assert {"< 1e-10", "1.2e-05", "0.03", "0.2"} <= texts
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcde")  # strongest first
    leg = {t.get_text(): h.get_facecolor() for t, h in
           zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)}
    assert leg["planted gamer"] != leg["honest"]
    plt.close(fig)


def test_readable_shows_small_q_values():
    from analysis.notebook import format_p, readable

    t = readable(pd.DataFrame({"agent_q": [1.2e-5, 0.0, 0.04123], "best_effect": [1.23456] * 3,
                               "detail": ["x"] * 3}))
    assert list(t["agent_q"]) == ["1.2e-05", "< 1e-300", "0.041"]
    assert t["best_effect"].iloc[0] == 1.235
    assert format_p(float("nan")) == ""


def test_figures_leave_a_notebooks_inline_backend_alone():
    # importing analysis.figures switched a notebook kernel to Agg, so every seaborn plot a
    # notebook drew after the import (data_quality, gaming_checks) was never shown
    import os
    import subprocess
    import sys

    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "shell = InteractiveShell.instance()  # as in a kernel\n"
            "import matplotlib, analysis.figures as f, matplotlib.pyplot as plt\n"
            "import pandas as pd\n"
            "fig = f.plot_agent_decision(pd.DataFrame({'agent_id': ['a'], 'q_value': [0.01]}))\n"
            "png = shell.display_formatter.formatters['image/png']\n"
            "print(matplotlib.get_backend(), len(plt.get_fignums()), png(fig) is not None)")
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    # still inline; the library's figure is returned, not also queued by pyplot (shown once)
    assert "inline" in out[0] and out[1] == "0" and out[2] == "True"  # shown as a png
    env.pop("MPLBACKEND")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0].lower() == "agg"  # the CLI and the report still draw headless


def test_daily_calls_keep_days_without_calls_as_gaps():
    # data_quality.ipynb grouped by the days that had calls, so the line plot drew straight
    # lines over missing days (the bank's August, the sample's Sundays) and hid them
    import matplotlib.pyplot as plt

    from analysis.figures import daily_calls, plot_daily_calls

    calls = pd.DataFrame({
        "arrival_ts": pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00",
                                      "2026-01-06 09:00", "2026-01-09 11:00"]),
        "outcome": ["answered", "abandoned", "answered", "answered"]})
    d = daily_calls(calls)
    assert list(d.index) == list(pd.date_range("2026-01-05", "2026-01-09"))
    assert d.loc["2026-01-07"].isna().all() and d.loc["2026-01-08"].isna().all()
    assert d.loc["2026-01-06", "abandoned"] == 0 and d.loc["2026-01-05", "answered"] == 1
    fig = plot_daily_calls(calls)
    ax = fig.axes[0]
    line = [ln for ln in ax.get_lines() if ln.get_label() == "answered"][0]
    assert np.isnan(np.asarray(line.get_ydata(), float)).sum() == 2  # drawn as a gap
    plt.close(fig)


def test_calls_per_period_sorts_periods_and_keeps_a_long_legend_outside():
    # data_quality.ipynb's stacked histogram listed 43 weekly periods in data order
    # ("1998-W53" first, then unsorted) in a legend that covered the plot
    from analysis.figures import plot_calls_per_period

    weeks = [f"1999-W{w:02d}" for w in range(42, 0, -1)] + ["1998-W53"]
    panel = pd.DataFrame({"period": np.repeat(weeks, 3),
                          "calls": np.tile([10, 40, 90], len(weeks))})
    fig = plot_calls_per_period(panel, min_calls=20)
    ax = fig.axes[0]
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == sorted(weeks)
    fig.canvas.draw()
    box, axbox = leg.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axbox.x1  # outside, right of the axes
    few = plot_calls_per_period(panel[panel["period"].isin(weeks[:3])], min_calls=20)
    texts = [t.get_text() for t in few.axes[0].get_legend().get_texts()]
    assert texts == sorted(weeks[:3])


def test_flag_scatter_uses_the_checks_min_calls():
    # gaming_checks.ipynb section 7 (then 6) plotted agents with 3-6 calls (never tested); the
    # farthest "unflagged" point on the bank was EXPRESS with 3 calls
    from analysis.figures import plot_flagged_rates, tested_agent_means

    panel = pd.DataFrame({"agent_id": ["a", "a", "b", "c", "x"],
                          "period": ["m1", "m2", "m1", "m1", "m1"],
                          "calls": [100, 10, 50, 40, 3],
                          "short_call_rate": [0.05, 0.9, 0.04, 0.3, 0.9],
                          "transfer_rate": [0.1, 0.1, 0.1, 0.1, 0.9],
                          "aht_s": [300.0] * 5})
    m = tested_agent_means(panel, ["c"], min_calls=30).set_index("agent_id")
    assert list(m.index) == ["a", "b", "c"] and m.attrs["left_out"] == ["x"]
    assert m.at["a", "short_call_rate"] == 0.05  # a's 10-call period is not tested either
    assert m.at["c", "flagged"] and not m.at["a", "flagged"]
    fig = plot_flagged_rates(panel, ["c"], min_calls=30)
    assert "1 agents with fewer left out" in fig.axes[0].get_title()


def test_show_text_in_full_stops_truncating_sentences():
    from analysis.notebook import show_text_in_full

    with pd.option_context("display.max_colwidth", 50):
        df = pd.DataFrame({"detail": ["x" * 120]})
        assert "..." in df._repr_html_()
        show_text_in_full()
        assert "..." not in df._repr_html_() and "x" * 120 in df._repr_html_()
    pd.reset_option("display.max_colwidth")


def test_agent_decision_and_truth_recovery():
    # gaming_checks.ipynb merged the truth, filled NaN and counted in its cells
    from types import SimpleNamespace

    from analysis.gaming import agent_decision, truth_recovery

    agents = pd.DataFrame({"agent_id": ["a", "b", "c", "d", "a"],
                           "scope": ["all", "all", "all", "all", "2026-01"],
                           "p_value": [1e-6, 0.2, 0.001, 0.5, 0.1],
                           "q_value": [1e-5, 0.3, 0.004, 0.5, 0.2],
                           "flagged": [True, False, True, False, False]})
    truth = pd.DataFrame({"agent_id": ["a", "b", "c", "e"], "gaming": [True, True, False, True],
                          "behaviour": ["hangups", "acw_padding", "honest", "hangups"]})
    d = agent_decision(SimpleNamespace(agents=agents), truth)
    assert list(d["agent_id"]) == ["a", "c", "b", "d"]  # scope all, strongest first
    assert list(d["gaming"]) == [True, False, True, False]  # d not in truth: not gaming
    r = truth_recovery(d, truth)
    assert (r.found, r.planted, r.honest_flagged, r.flagged) == (1, 3, 1, 2)  # e never tested
    assert r.table.loc["hangups", "flagged"] == 1 and "(not in truth)" in r.table.index
    assert r.text.startswith("found 1 of 3 planted gamers; 1 honest agents flagged")
    none = truth_recovery(agent_decision(SimpleNamespace(agents=agents)), None)
    assert none.table.empty and "real data" in none.text


def test_with_roster_adds_team_shift_site_and_keeps_accounting():
    # model_comparison.ipynb mapped the roster's columns onto the panel in a loop in a cell
    from analysis.panel import with_roster

    panel = pd.DataFrame({"agent_id": ["a", "b", "c"], "period": "m1", "calls": [1, 2, 3]})
    panel.attrs["ccpm_panel"] = {"rows_read": 6}
    roster = pd.DataFrame({"agent_id": ["a", "a", "b"], "team": ["t1", "t9", "t2"],
                           "shift": ["day", "night", "late"]})
    out = with_roster(panel, roster)
    assert list(out["team"].fillna("-")) == ["t1", "t2", "-"]  # first row of a, c missing
    assert "site" not in out and out.attrs["ccpm_panel"] == {"rows_read": 6}
    assert with_roster(panel, None) is panel


def test_the_report_and_the_notebook_read_a_planted_truth_alike():
    """One reading of a truth file: its gaming column (true/1/yes), else behaviours that
    are not honest ones (a truth from another simulator); the notebook's recovery used to
    need a gaming column and read 'yes' and ' True' as honest."""
    from types import SimpleNamespace

    import pandas as pd

    from analysis.gaming._recovery import _truth_frame, planted
    from analysis.report.results import truth_gamers

    with_col = pd.DataFrame({"agent_id": ["a", "b", "c", "d"],
                             "gaming": ["yes", " True", "0", "false"]})
    only_beh = pd.DataFrame({"agent_id": ["a", "b", "c"],
                             "behaviour": ["hangup", "honest", "novice"]})
    assert planted(with_col).tolist() == [True, True, False, False]
    assert planted(only_beh).tolist() == [True, False, False]
    for tr in (with_col, only_beh):
        report = set(truth_gamers(SimpleNamespace(truth=tr))["agent_id"])
        nb = _truth_frame(tr)
        assert report == set(nb.loc[nb["gaming"], "agent_id"])
    assert planted(pd.DataFrame({"agent_id": ["a"]})) is None
