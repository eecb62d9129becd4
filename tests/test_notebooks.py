"""The report's notebook templates (``analysis/report/templates/``) and the research
notebooks (``notebooks/``) follow the house rules.

Templates: static checks here; execution is in test_report.py, which runs every template
through ``ccpm report``. Research notebooks: static checks (narrative, visible library calls,
literal parameters) and, marked slow, a papermill run of each from a folder that is neither
the repository nor ``notebooks/`` on a small synthetic center."""

from __future__ import annotations

import ast
import re
import string

import nbformat
import pytest

from analysis.config import NOTEBOOKS_DIR, TEMPLATES_DIR
from analysis.report import i18n
from analysis.report.build import report_parameters
from analysis.report.convert import cell_options
from analysis.report.execute import REPORT_NOTEBOOKS

NAMES = {"data_quality", "model_comparison", "gaming_checks", "management_summary"}
TEMPLATES = sorted(TEMPLATES_DIR.glob("*.ipynb"))
#: research notebooks: read top to bottom in JupyterLab, not rendered into the report
RESEARCH = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_four_templates_exist():
    assert {p.stem for p in TEMPLATES} == NAMES
    assert {p.stem for p in RESEARCH} >= {"new_model"}
    assert set(REPORT_NOTEBOOKS["execute"]) == NAMES == set(REPORT_NOTEBOOKS["render"])


@pytest.fixture(params=TEMPLATES, ids=lambda p: p.stem)
def nb(request):
    return nbformat.read(request.param, as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_valid_and_no_stored_outputs(nb):
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None


def test_exactly_one_parameters_cell_of_literals(nb):
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    tree = ast.parse(tagged[0].source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        ast.literal_eval(node.value)  # raises unless a literal
        names.append(node.targets[0].id)
    # the same parameters ccpm report passes (so papermill overrides every one of them)
    passed = report_parameters(calls="x", build_dir="b")
    assert set(names) == set(passed)


def test_no_functions_or_classes_and_imports_only_from_analysis(nb):
    for cell in _code_cells(nb):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                         ast.Lambda)), cell.source
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] == "analysis" for a in node.names)
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] == "analysis", cell.source


def test_quarto_cell_options_are_valid_and_captions_translatable(nb):
    labels = []
    for cell in _code_cells(nb):
        if "parameters" in cell.metadata.get("tags", []):
            continue
        opts, _ = cell_options(cell.source)
        assert opts.get("echo") is False, "report cells hide their code"
        if "label" in opts:
            assert re.fullmatch(r"fig-[a-z0-9-]+", opts["label"])
            labels.append(opts["label"])
            key = str(opts.get("fig-cap", ""))
            assert key.startswith("i18n:") and key[5:] in i18n.STRINGS["en"]
    assert len(labels) == len(set(labels))


def test_narrative_markdown_is_kept_out_of_the_report(nb):
    # template narrative is English for readers of the notebook; report text comes from i18n
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert "remove-cell" in cell.metadata.get("tags", [])


def test_management_summary_opens_with_the_recommendation():
    nb = nbformat.read(TEMPLATES_DIR / "management_summary.ipynb", as_version=4)
    shown = [c.source for c in _code_cells(nb) if "display(" in c.source]
    first = shown[0]
    # the title, then page 1 (decision, gaming finding, next steps), then the ranking
    assert first.index('"summary.title"') < first.index("findings.page_one(") \
        < first.index('"rec.title"') < first.index("choice.recommendation_summary(")
    assert "fig-summary-recommendation" in shown[1]
    # the agreement heatmap is shown once, in the model comparison, not twice
    assert not any("plot_agreement_heatmap" in c for c in shown)


def test_every_text_key_used_by_a_template_exists():
    used = set()
    for path in TEMPLATES:
        for cell in _code_cells(nbformat.read(path, as_version=4)):
            used |= set(re.findall(r'"((?:[a-z0-9_]+\.)+[a-zA-Z0-9_]+)"', cell.source))
    keys = {k for k in used if k.split(".")[0] in {p.split(".")[0] for p in i18n.STRINGS["en"]}}
    assert keys, "templates use i18n keys"
    for lang in i18n.LANGS:
        assert keys <= set(i18n.STRINGS[lang]), keys - set(i18n.STRINGS[lang])


def test_translations_complete_and_fields_match():
    en, zh = i18n.STRINGS["en"], i18n.STRINGS["zh-CN"]
    assert set(en) == set(zh)
    fmt = string.Formatter()
    for key in en:
        fields_en = {f for _, f, _, _ in fmt.parse(en[key]) if f}
        fields_zh = {f for _, f, _, _ in fmt.parse(zh[key]) if f}
        assert fields_en == fields_zh, key
    # headings are really translated (a CJK character in each section title)
    for key in [k for k in zh if k.endswith(".title")]:
        assert re.search(r"[\u4e00-\u9fff]", zh[key]), key
    assert "博弈" in zh["gaming.title"] and "平衡计分卡" in zh["bsc.title"]


def test_t_fills_fields_and_rejects_unknown_language():
    assert i18n.t("doc.generated", "en", date="2026-01-01").endswith("2026-01-01")
    with pytest.raises(Exception, match="zz"):
        i18n.t("doc.title", "zz")
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "en")


# --------------------------------------------------------------------------- research notebooks

#: the parameters each research notebook documents in its ``parameters`` cell (papermill
#: overrides any of them: ``papermill notebooks/<name>.ipynb out.ipynb -p alpha 0.01``)
RESEARCH_PARAMETERS = {
    "data_quality": {"calls", "mapping", "period", "short_call_s", "repeat_window_h",
                     "min_calls"},
    "gaming_checks": {"calls", "mapping", "ratings", "okr", "roster", "truth", "checks", "alpha", "period",
                      "short_call_s", "aht_target", "bunch_measure", "min_calls", "short_tails",
                      "peer_tails", "power_rounds", "seed"},
    "model_comparison": {"calls", "mapping", "ratings", "okr", "roster", "truth", "flags", "period",
                         "short_call_s", "models", "kpi_weights", "kpi_targets", "bsc_weights",
                         "kpi_floor", "min_calls", "fairness_by", "priorities", "weights",
                         "n_boot", "n_draws", "ci", "seed"},
    "new_model": {"calls", "okr", "truth", "period", "short_call_s", "blend_kpi", "priorities",
                  "weights",
                  "n_boot", "seed"},
}
#: the public library calls a notebook must show (at least one each)
LIBRARY_CALLS = ("build_panel(", "compare_models(", "run_checks(", "recommend(")
#: cell markers that hide a cell's source in JupyterLab, Quarto or nbconvert
HIDING = ("#| echo: false", "#| include: false")
HIDING_TAGS = {"remove-input", "hide-input", "remove-cell", "hide-cell"}
#: new_model registers its new scoring rule inline (a lambda), which is the point of that
#: worked example; a model defined by a panel expression in configuration would remove it
INLINE_MODEL = {"new_model"}


def test_every_research_notebook_is_known():
    assert {p.stem for p in RESEARCH} == set(RESEARCH_PARAMETERS)


def _parameters(nb) -> dict:
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    out = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        out[node.targets[0].id] = ast.literal_eval(node.value)  # literals only
    return out


@pytest.mark.parametrize("path", RESEARCH, ids=lambda p: p.stem)
def test_research_notebook_narrates_with_literal_parameters(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert set(_parameters(nb)) == RESEARCH_PARAMETERS[path.stem]
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(md) >= 5 and md[0].source.startswith("# ")  # method, assumptions, reading
    words = sum(len(c.source.split()) for c in md)
    assert words >= 300, f"{path.stem}: {words} words of markdown"
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None
        assert not any(m in cell.source for m in HIDING), cell.source
        assert not HIDING_TAGS & set(cell.metadata.get("tags", [])), cell.source
        assert not cell.metadata.get("jupyter", {}).get("source_hidden"), cell.source
        banned = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef) \
            + (() if path.stem in INLINE_MODEL else (ast.Lambda,))
        for node in ast.walk(ast.parse(cell.source)):  # the logic lives in the library
            assert not isinstance(node, banned), cell.source
    code = "\n".join(c.source for c in _code_cells(nb))
    assert any(call in code for call in LIBRARY_CALLS)  # the library, visibly
    # default inputs come from the checkout, never from the working directory
    assert "REPO_ROOT" in code or "sample_center(" in code


@pytest.fixture(scope="module")
def small_center(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    return write_center(generate_center(agents=16, days=40, seed=5),
                        tmp_path_factory.mktemp("center"))


#: parameters of each research notebook on the small center (fewer resamples, so fast)
def _small_parameters(name: str, center: dict) -> dict:
    paths = {k: str(v) for k, v in center.items()}
    if name == "data_quality":
        return {"calls": paths["calls"], "period": "month", "min_calls": 10}
    if name == "gaming_checks":
        return {**paths, "alpha": 0.1, "min_calls": 20, "short_tails": "logit-t",
                "peer_tails": "t", "bunch_measure": "talk"}
    return {**paths, "n_boot": 20, "n_draws": 200, "models": ["kpi", "okr", "bsc", "360"],
            "priorities": {"order": ["validity > fairness"]}}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["data_quality", "gaming_checks", "model_comparison"])
def test_research_notebook_runs_with_papermill_from_another_folder(name, small_center, tmp_path,
                                                                   monkeypatch):
    import papermill as pm

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the repo, not notebooks/
    out = elsewhere / "out.ipynb"
    pm.execute_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(out), progress_bar=False,
                        parameters=_small_parameters(name, small_center), cwd=str(elsewhere))
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in _code_cells(nb) for o in c.outputs]
    assert not any(o.get("output_type") == "error" for o in outputs)
    # results as tables and figures
    assert any("text/html" in o.get("data", {}) for o in outputs)
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                      for o in outputs)
    assert str(small_center["calls"]) in text  # the parameters, not the sample, were used
    assert not list(elsewhere.glob("*.parquet"))  # nothing written into the working folder


@pytest.mark.slow
def test_new_model_notebook_runs_with_papermill_from_another_folder(tmp_path, monkeypatch):
    import papermill as pm

    from analysis.synth import generate_center, write_center

    center = tmp_path / "center"
    write_center(generate_center(agents=12, days=40, seed=5), center)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the repo, not notebooks/
    out = elsewhere / "out.ipynb"
    pm.execute_notebook(str(NOTEBOOKS_DIR / "new_model.ipynb"), str(out), progress_bar=False,
                        parameters={"calls": str(center / "calls.parquet"),
                                    "okr": str(center / "okr.yml"),
                                    "truth": str(center / "truth.csv"), "n_boot": 20})
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(o.get("data", {}).get("text/plain", "") for c in _code_cells(nb)
                     for o in c.outputs)
    # both new models were scored and ranked beside the built-in ones
    assert "fcr_per_hour" in text and "kpi_fcr" in text
    assert any("image/png" in o.get("data", {}) for c in _code_cells(nb) for o in c.outputs)


def test_templates_ship_inside_the_package():
    import tomllib

    from analysis.config import PACKAGE_DIR, REPO_ROOT

    assert TEMPLATES_DIR.is_relative_to(PACKAGE_DIR)  # an installed ccpm renders its report
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "**/*.ipynb" in data["tool"]["setuptools"]["package-data"]["analysis"]


def test_sample_center_reuses_the_files_it_finds(tmp_path):
    from analysis.synth import generate_center, sample_center, write_center

    written = write_center(generate_center(agents=4, days=3, seed=1), tmp_path)
    before = {k: p.stat().st_mtime_ns for k, p in written.items()}
    found = sample_center(tmp_path)
    assert found == written and {k: p.stat().st_mtime_ns for k, p in found.items()} == before
