"""The report layer's parts keep their jobs (issue #15, item 2): the results bundle knows no
language, language enters only through the message catalogs, and the prose is not Python.

Read from the source (imports, parameters, literals), so a violation fails here before it
shows up in a rendered PDF; the rendered reports themselves are checked in test_report.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

import analysis.report as report_pkg
from analysis.report import i18n, results

REPORT = Path(report_pkg.__file__).parent
#: modules below the presentation: no language, no prose
LANGUAGE_FREE = ("results.py", "inputs.py")
#: modules that choose fonts and scripts by language (not prose): may compare ``lang``
SCRIPT_CHOICE = ("fonts.py", "deck.py", "engines/builtin.py", "engines/quarto.py")


def _python_files() -> list[Path]:
    return sorted(p for p in REPORT.rglob("*.py"))


def _imports(tree: ast.AST, path: Path) -> set[str]:
    """Modules ``path`` imports, as dotted names relative to ``analysis`` where relative."""
    rel = path.relative_to(REPORT.parent).with_suffix("").parts  # ("report", "present", "x")
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:len(rel) - node.level])
                mod = ".".join(["analysis", *base] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("name", LANGUAGE_FREE)
def test_results_and_inputs_import_no_language_or_presentation(name):
    path = REPORT / name
    mods = _imports(ast.parse(path.read_text(encoding="utf-8")), path)
    bad = {m for m in mods if m.startswith(("analysis.report.i18n", "analysis.report.present",
                                             "analysis.report.blocks"))}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", LANGUAGE_FREE)
def test_results_functions_take_no_language(name):
    tree = ast.parse((REPORT / name).read_text(encoding="utf-8"))
    with_lang = [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                 and "lang" in {a.arg for a in f.args.args + f.args.kwonlyargs}]
    assert not with_lang, f"{name}: {with_lang} take a language"


def test_nothing_below_the_presentation_imports_it():
    """Imports point down: only the templates (and the package face) use ``present``."""
    for path in _python_files():
        if path.is_relative_to(REPORT / "present") or path.name == "__init__.py" and \
                path.parent == REPORT:
            continue
        mods = _imports(ast.parse(path.read_text(encoding="utf-8")), path)
        assert not any(m.startswith("analysis.report.present") for m in mods), path


def _lang_comparisons(tree: ast.AST) -> list[int]:
    """Lines where ``lang`` (or ``meta.lang``) is compared with a string literal."""
    def is_lang(n):
        return (isinstance(n, ast.Name) and n.id == "lang") or (
            isinstance(n, ast.Attribute) and n.attr == "lang")

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            if any(is_lang(p) for p in parts) and any(
                    isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
                lines.append(node.lineno)
    return lines


def test_no_language_branch_outside_the_script_choice():
    """A sentence never depends on ``lang == "..."``: it is a catalog key, and the
    library's own English is shown or summarised by :func:`i18n.reads_source`."""
    found = {}
    for path in _python_files():
        rel = path.relative_to(REPORT).as_posix()
        if rel in SCRIPT_CHOICE or rel == "i18n.py":
            continue
        lines = _lang_comparisons(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[rel] = lines
    assert not found, f"language branches (move the words into messages/*.yml): {found}"


def test_no_chinese_text_in_python():
    """Chinese prose lives in messages/zh-CN.yml, not in a Python literal."""
    cjk = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc_nodes = {id(n.body[0].value) for n in ast.walk(tree)
                     if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                     and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in doc_nodes and cjk.search(node.value)):
                found.append(f"{path.relative_to(REPORT)}:{node.lineno}")
    assert not found, found


def test_punctuation_comes_from_the_catalogs():
    from analysis.report.present.labels import punct

    for lang in i18n.LANGS:
        for kind in ("sentence", "list", "colon", "pairs"):
            assert punct(kind, lang) == i18n.STRINGS[lang][f"punct.{kind}"]
    # Chinese runs sentences together and uses full-width marks; English does not
    assert punct("sentence", "zh-CN") == "" and punct("sentence", "en") == " "
    assert punct("list", "zh-CN") != punct("list", "en")


def test_bundle_round_trip_keeps_tables_and_values(tmp_path):
    folder = results.results_dir(tmp_path) / "demo"
    scores = pd.DataFrame({"agent_id": ["A1", "A2"], "score": [0.25, 0.75]})
    meta = {"best": "bsc", "weights": {"validity": 0.4, "stability": 0.6}, "n_boot": 60}
    assert results.load_bundle(folder) is None  # nothing written yet
    results.save_bundle(folder, {"scores": scores, "none": None}, meta)
    assert folder.parent == tmp_path / "results"
    b = results.load_bundle(folder)
    pd.testing.assert_frame_equal(b.scores, scores)
    assert not hasattr(b, "none")  # only tables are written
    assert (b.best, b.weights, b.n_boot) == (meta["best"], meta["weights"], meta["n_boot"])


def test_the_library_english_is_summarised_in_other_languages():
    from analysis.report.present.labels import library_text

    why = "not assessable: the panel holds a single period"  # as a library piece writes it
    assert library_text(why, i18n.SOURCE_LANG) == why
    for lang in set(i18n.LANGS) - {i18n.SOURCE_LANG}:
        shown = library_text(why, lang)
        assert shown == i18n.t("common.reason_other", lang)
        assert not re.search(r"[A-Za-z]{3,}", shown), shown


def test_center_figures_are_written_once_into_the_bundle(tmp_path):
    from analysis.report.inputs import prepare_inputs
    from analysis.synth import generate_center, write_center

    write_center(generate_center(agents=6, days=10, seed=5), tmp_path / "center")
    inputs = prepare_inputs(tmp_path / "center" / "calls.parquet", build_dir=tmp_path / "b")
    b = results.center(inputs)
    folder = tmp_path / "b" / "results" / "center"
    assert {"meta.json", "daily.parquet", "coverage.parquet"} <= {
        p.name for p in folder.iterdir()}
    # the same values as computed straight from the calls, as plain JSON numbers
    assert b.kpis == results.center_kpis(inputs)
    assert b.volume == results.volume(inputs)
    assert b.period_days == results.period_days(inputs)
    assert int(b.daily["calls"].sum()) == b.kpis["offered"] == b.volume["calls"]
    stamp = (folder / "meta.json").stat().st_mtime_ns
    assert results.center(inputs).kpis == b.kpis
    assert (folder / "meta.json").stat().st_mtime_ns == stamp  # read back, not rewritten
    # another short-call threshold is not served from the bundle made for the first
    inputs.short_call_s = inputs.short_call_s + 7
    assert results.center(inputs).kpis == results.center_kpis(inputs)


def _three_monthly_files() -> dict:
    files = [{"kind": "calls", "file": f"{m}.txt.gz", "sha256": f"{i:064x}", "bytes": 1}
             for i, m in enumerate(["01_January", "02_February", "03_March"], start=1)]
    files[0].update(rows_read=1000, valid=900, quarantined=100, in_period=900)
    return {"inputs": [*files, {"kind": "okr", "file": "okr.yml", "sha256": "f" * 64}]}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_counts_of_a_several_file_input_are_its_total_not_the_first_files(lang):
    """The loader counts a folder's rows in one load: the report must not show them as
    the first file's (the bank report once said January had 318,286 rows of nine months)."""
    from types import SimpleNamespace

    from analysis.report.present.quality import inputs_table

    df = inputs_table(SimpleNamespace(manifest=_three_monthly_files()), lang).df
    calls = df.iloc[:4]
    assert list(calls["file"][:3]) == ["01_January.txt.gz", "02_February.txt.gz",
                                       "03_March.txt.gz"]
    assert calls["rows_read"][:3].isna().all() and calls["valid"][:3].isna().all()
    total = calls.iloc[3]
    assert "3" in total["file"] and pd.isna(total["sha256"])
    assert (total["rows_read"], total["valid"], total["quarantined"]) == (1000, 900, 100)
    assert df.iloc[4]["file"] == "okr.yml" and pd.isna(df.iloc[4]["rows_read"])


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_deck_data_slide_gives_a_several_file_inputs_counts_once(lang, tmp_path):
    pytest.importorskip("pptx")
    from pptx import Presentation

    from analysis.report.deck import build_deck

    out = build_deck(tmp_path, tmp_path / "d.pptx", lang=lang, manifest=_three_monthly_files())
    slide = Presentation(str(out)).slides[-1]
    text = "\n".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)
    calls_line = next(line for line in text.splitlines() if "01_January" in line)
    assert "03_March.txt.gz" in calls_line and "1,000" in calls_line
    assert "02_February" not in text  # one line for the input, not one per file
    assert text.count("1,000") == 1


def test_daily_calls_leave_a_gap_where_the_data_have_no_days():
    """A month without data (the Anonymous Bank logs have no August) is a gap in the daily
    chart, not an area joining July to September; a closed day within the data is 0."""
    from analysis.report.present.quality import daily_segments

    days = (list(pd.date_range("1999-07-01", "1999-07-10"))
            + list(pd.date_range("1999-07-12", "1999-07-31"))    # 07-11: closed
            + list(pd.date_range("1999-09-01", "1999-09-15")))   # August: no file
    daily = pd.DataFrame({"date": [d.date() for d in days for _ in (0, 1)],
                          "outcome": ["answered", "abandoned"] * len(days),
                          "calls": [100, 7] * len(days)})
    parts = daily_segments(daily)
    assert [(p.index.min().strftime("%m-%d"), p.index.max().strftime("%m-%d"), len(p))
            for p in parts] == [("07-01", "07-31", 31), ("09-01", "09-15", 15)]
    july = parts[0]
    assert july.loc["1999-07-11"].tolist() == [0, 0]
    assert int(july.to_numpy().sum()) == 107 * 30  # every call kept, none invented
    assert daily_segments(daily.iloc[:0]) == []


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_deck_shapes_fit_the_16_9_slide_and_the_decision_has_room(lang, tmp_path):
    """The default template's placeholders are 4:3 (content in the left two thirds of the
    16:9 slide) and the decision (~600 characters) sat in a 0.6-inch box below its figure,
    running off the slide."""
    pytest.importorskip("pptx")
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pptx import Presentation

    from analysis.report.deck import _note_height, build_deck

    (tmp_path / "figures").mkdir()
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.plot([0, 1])
    fig.savefig(tmp_path / "figures" / "fig-summary-recommendation.png", dpi=100)
    decision = ("Adopt the balanced scorecard as this center's performance model: " * 9)
    (tmp_path / "page1.json").write_text(json.dumps({"decision": [decision]}))
    prs = Presentation(str(build_deck(tmp_path, tmp_path / "d.pptx", lang=lang)))
    W, H = prs.slide_width, prs.slide_height
    for slide in prs.slides:
        for sh in slide.shapes:
            assert sh.left >= 0 and sh.top >= 0
            assert sh.left + sh.width <= W and sh.top + sh.height <= H, sh.name
        for ph in slide.placeholders:
            assert ph.width > 0.8 * W  # the 4:3 layout's 9 inches were 68 %
    box = next(sh for sh in prs.slides[2].shapes if sh.has_text_frame
               and sh.text_frame.text.startswith("Adopt"))
    need = _note_height(decision, box.width / 914400, 12, lang)
    assert box.height / 914400 >= need > 0.6
    pic = next(sh for sh in prs.slides[2].shapes if sh.shape_type == 13)
    assert pic.top + pic.height <= box.top  # the figure leaves the note its room
