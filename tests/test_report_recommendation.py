"""The report's model-choice views (issue #8) at the section level: the recommendation that
opens the management summary, the trade-off views and the what-if, and the one-line reasons
they give when their inputs are missing. The rendered PDF is checked in test_report.py.

One small synthetic center with planted hang-up gamers (two months, so every criterion of
the recommendation can be assessed); the gaming checks themselves are not run here: the
what-if gets the flags a check would have written (their calls are what matters).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.report import blocks, results
from analysis.report.i18n import t
from analysis.report.inputs import prepare_inputs
from analysis.report.literal import md_plain, md_text
from analysis.report.present import choice, findings
from analysis.report.present.labels import model_label

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = "compare:\n  n_boot: 20\nrecommendation:\n  n_boot: 40\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    root = tmp_path_factory.mktemp("rec_world")
    center = generate_center(agents=16, days=40, seed=5, gaming="hangup=3@0.2")
    paths = write_center(center, root / "center")
    (root / "models.yml").write_text(CONFIG)
    calls = pd.read_parquet(paths["calls"])
    # the same calls without satisfaction, QA and resolution (like the 1999 bank data)
    bare = root / "bare.parquet"
    calls.drop(columns=["csat", "qa_score", "resolved"]).to_parquet(bare, index=False)
    gamers = sorted(center.truth.loc[center.truth["gaming"], "agent_id"].astype(str))
    return {"root": root, "paths": paths, "config": root / "models.yml", "bare": bare,
            "calls": calls, "gamers": gamers}


def _inputs(world, name: str, **kw):
    build = world["root"] / name
    kw.setdefault("config", world["config"])
    return prepare_inputs(kw.pop("calls", world["paths"]["calls"]), build_dir=build, **kw), build


@pytest.fixture(scope="module")
def full(world):
    p = world["paths"]
    return _inputs(world, "full", ratings=p["ratings"], okr=p["okr"], roster=p["roster"],
                   truth=p["truth"])


def _md(items) -> str:
    """The report's Markdown as the reader sees the text (escapes resolved, no **)."""
    return "\n\n".join(md_plain(x._repr_markdown_()) for x in items)


def _flags(world) -> pd.DataFrame:
    """Flags as the gaming checks write them: the planted hang-up gamers under
    short_calls_peer, and one honest agent under hold inflation (which removes nothing)."""
    rows = [{"agent_id": a, "period": "all", "check": "short_calls_peer", "flagged": True,
             "detail": "", "q_value": 0.001, "p_value": 0.0001} for a in world["gamers"]]
    agents = set(world["calls"]["agent_id"].dropna().astype(str))
    honest = sorted(agents - set(world["gamers"]))
    rows.append({"agent_id": honest[0], "period": "all", "check": "hold_inflation",
                 "flagged": True, "detail": "", "q_value": 0.01, "p_value": 0.001})
    return pd.DataFrame(rows)


def _fake_gaming(monkeypatch, flags: pd.DataFrame, build) -> None:
    """The gaming checks' result, as if they had flagged ``flags`` (the what-if made
    before with other flags is dropped from the results bundle)."""
    import shutil

    bundle = results.Bundle(flags=flags, changepoints=pd.DataFrame(), skipped=pd.DataFrame(),
                            summary_text="", alpha=0.05)
    monkeypatch.setattr(results, "gaming", lambda inputs, build_dir: bundle)
    shutil.rmtree(build / "results" / "whatif", ignore_errors=True)


# --------------------------------------------------------------------------- recommendation


def test_summary_opens_with_the_library_recommendation_in_both_languages(world, full,
                                                                        monkeypatch):
    from analysis.cli.compare import merge_roster
    from analysis.compare import compare_models
    from analysis.models.config import load_model_config
    from analysis.panel import build_panel
    from analysis.recommend import recommend

    inputs, build = full
    _fake_gaming(monkeypatch, _flags(world).iloc[0:0], build)
    # the same recommendation computed straight from the library (as ccpm compare does)
    panel = merge_roster(build_panel(str(inputs.calls_path)), str(world["paths"]["roster"]))
    comp = compare_models(panel, config=load_model_config(world["config"]),
                          ratings=inputs.ratings, okr=inputs.okr, flagged=inputs.truth)
    expected = recommend(comp, calls=str(inputs.calls_path))  # as ccpm compare does
    assert expected.best is not None
    rec = results.recommendation(inputs, build)
    assert rec.best == expected.best
    pd.testing.assert_frame_equal(rec.ranking.reset_index(drop=True),
                                  expected.ranking.reset_index(drop=True), check_dtype=False)
    assert not rec.not_assessed  # two months, flags known: every criterion assessed
    for lang in ("en", "zh-CN"):
        items = choice.recommendation_summary(inputs, build, lang)
        raw = items[0]._repr_markdown_()
        lead = md_plain(raw)
        best = model_label(expected.best, lang)
        assert f"**{md_text(best)}**" in raw and best in lead
        assert f"{rec.ranking.iloc[0]['p_best']:.0%}" in lead
        table = next(x for x in items if isinstance(x, blocks.Table)).df
        labels = [model_label(m, lang) for m in expected.ranking["model"]]
        assert table["model"].tolist() == labels  # ranked as the library ranks them
        # plainly say when the data cannot tell the top model from another
        tied = expected.ranking.loc[expected.ranking["tied_with_best"], "model"].iloc[1:]
        for m in tied:
            assert t("rec.tied", lang, a=best, b=model_label(m, lang), d="X", ci="X",
                     lo="X", hi="X").split("X")[0] in lead
        if tied.empty:
            assert t("rec.ahead", lang, model=best) in lead
    heads = [md_plain(h) for h in findings.headlines(inputs, build, "en")]
    assert heads[0].startswith("Recommended model for this center: "
                               + model_label(expected.best, "en"))
    shown = [md_plain(h) for h in findings.headlines(inputs, build, "en", with_recommendation=False)]
    assert shown == heads[len(heads) - len(shown):] and not shown[0].startswith("Recommended")


def test_indistinguishable_pairs_are_named(full):
    inputs, build = full
    rec = results.recommendation(inputs, build)
    same = rec.pairwise[~rec.pairwise["distinguishable"]]
    text = md_plain(choice.indistinguishable_text(rec, "en")._repr_markdown_())
    if same.empty:
        assert text == t("rec.all_distinguishable", "en")
    for a, b in zip(same["model_a"], same["model_b"], strict=True):
        assert f"{model_label(a, 'en')} – {model_label(b, 'en')}" in text
    table = choice.pairwise_table(rec, "en").df
    assert (table["distinguishable"] == "no").sum() == len(same)


# --------------------------------------------------------------------------- trade-offs


def test_tradeoff_views_shown_when_their_inputs_exist(full):
    inputs, build = full
    for kind in results.TRADEOFFS:
        items = choice.tradeoff_view(kind, inputs, build, "en")
        assert any(isinstance(x, blocks.Table) for x in items), kind
        assert "Not available" not in _md(items), kind
        fig = choice.tradeoff_figure(kind, inputs, build, "en")
        assert fig.__class__.__name__ == "Image" and len(fig.data) > 5000, kind
    # the service view states the busiest hour and the Erlang C staffing of the center
    from analysis.tradeoffs import agents_needed, hourly_load

    svc = _md(choice.tradeoff_view("service", inputs, build, "en"))
    peak = hourly_load(str(inputs.calls_path)).iloc[0]
    assert f"{peak['calls_per_hour']:,.0f} calls an hour" in svc
    data, _ = results.tradeoff_data("service", inputs, build)
    center = data["cost"].set_index("model").loc["center"]
    assert int(center["agents_needed"]) == agents_needed(peak["calls_per_hour"],
                                                         center["aht_s"])
    assert f"needs {int(center['agents_needed'])} agents" in svc


def test_tradeoff_views_say_why_when_inputs_are_missing(world):
    bare, build = _inputs(world, "bare", calls=world["bare"])
    for kind, why in (("satisfaction", "trade.na.csat"), ("process", "trade.na.qa")):
        for lang in ("en", "zh-CN"):
            items = choice.tradeoff_view(kind, bare, build, lang)
            assert _md(items).endswith(t("trade.na", lang, why=t(why, lang))), kind
            assert not any(isinstance(x, blocks.Table) for x in items)
        assert choice.tradeoff_figure(kind, bare, build, "en")._repr_markdown_() == ""
    # without satisfaction and resolution, efficiency still has repeat calls
    eff = next(x for x in choice.tradeoff_view("efficiency", bare, build, "en")
               if isinstance(x, blocks.Table))
    assert eff.df["against"].tolist() == [t("axis.repeat_call_rate", "en")]
    # satisfaction exists but neither 360 ratings nor a roster was given
    plain, build2 = _inputs(world, "plain")
    items = choice.tradeoff_view("satisfaction", plain, build2, "en")
    assert t("trade.na", "en", why=t("trade.na.people", "en")) in _md(items)


# --------------------------------------------------------------------------- what-if


def test_whatif_view_removes_the_flagged_calls_and_reports_the_change(world, full,
                                                                      monkeypatch):
    inputs, build = full
    _fake_gaming(monkeypatch, _flags(world), build)
    w = results.whatif_result(inputs, build)
    assert w.status == "ok"
    # removed = the gamers' handled calls under the short-call threshold (plain pandas)
    comp = results.full_comparison(inputs, build)
    thr = comp.panel.attrs["ccpm_panel"]["short_call_s"]
    c = world["calls"]
    short = c[c["agent_id"].astype(str).isin(world["gamers"])
              & c["outcome"].isin(["answered", "transferred"]) & (c["talk_s"] < thr)]
    assert int(w.removed["calls_removed"].sum()) == len(short) > 0
    en = _md(choice.whatif_view(inputs, build, "en"))
    assert f"Removed {len(short):,} calls of {len(world['gamers'])} flagged agents" in en
    after = w.ranking_after[w.ranking_after["computable"]].iloc[0]["model"]
    assert w.best_after == after
    before, after_l = model_label(w.best_before, "en"), model_label(after, "en")
    if w.best_before == after:
        assert md_plain(t("whatif.stays", "en", model=after_l)) in en
    else:
        key = "whatif.changes_tied" if after in w.tied_before else "whatif.changes"
        assert md_plain(t(key, "en", before=before, after=after_l)) in en
    # hold inflation is flagged but removes nothing, and says why
    assert t("whatif.skip.hold_inflation", "en") in en
    m = w.models.set_index("model")
    assert (m["rank_before"] == results.recommendation(inputs, build).ranking.set_index(
        "model").loc[m.index, "rank"]).all()
    zh = _md(choice.whatif_view(inputs, build, "zh-CN"))
    assert t("whatif.by_check", "zh-CN") in zh and "Removed" not in zh
    fig = choice.whatif_figure(inputs, build, "en")
    assert fig.__class__.__name__ == "Image"
    # the summary carries the what-if's verdict, the headlines too
    summary = _md(choice.recommendation_summary(inputs, build, "en"))
    assert "Removed" in summary
    assert any(md_plain(h).startswith(f"Without the {len(short):,} calls")
               for h in findings.headlines(inputs, build, "en"))


@pytest.mark.parametrize("flags, reason", [
    ("none", "whatif.na.flags"), ("unremovable", "whatif.na.removable")])
def test_whatif_says_why_when_nothing_can_be_removed(world, monkeypatch, flags, reason):
    inputs, build = _inputs(world, f"whatif-{flags}")
    f = _flags(world)
    f = f.assign(flagged=False) if flags == "none" else f[f["check"] == "hold_inflation"]
    _fake_gaming(monkeypatch, f, build)
    for lang in ("en", "zh-CN"):
        text = _md(choice.whatif_view(inputs, build, lang))
        assert text.startswith(t("trade.na", lang, why=t(reason, lang)))
    assert choice.whatif_figure(inputs, build, "en")._repr_markdown_() == ""
    assert not any(re.match(r"Without the", h) for h in findings.headlines(inputs, build, "en"))


def test_table_widths_reach_pandoc_as_dashes():
    """Relative column widths are the dashes under the header (Pandoc's pipe tables): the
    ranking's words get the room, a table without widths keeps its equal columns."""
    df = pd.DataFrame({"rank": [1], "model": ["KPI"], "note": ["not computable: no ratings"]})
    sep = blocks.Table(df, "en", widths={"model": 2, "note": 3, "absent": 9}
                       )._repr_markdown_().splitlines()[1]
    assert sep == "|--:|:----|:------|"
    assert blocks.Table(df, "en")._repr_markdown_().splitlines()[1] == "|--:|:--|:--|"
    import pypandoc

    typ = pypandoc.convert_text(blocks.Table(df.assign(x="w " * 40), "en", widths={"note": 3})
                                ._repr_markdown_(), "typst", format="markdown")
    # a table wider than a line: Pandoc turns each separator cell (dashes and colon) into a
    # relative width, 7 : 3 : 3 : 3 here
    assert "columns: (18.75%, 18.75%, 43.75%, 18.75%)" in typ
