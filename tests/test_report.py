"""ccpm report end to end: executed notebooks, PDF (en, zh-CN), deck, manifest, privacy,
failing cells; plus the render pieces (converter, engines, fonts) on their own.

Rendering is slow, so one report per language is built once per test session and shared
(also across pytest-xdist workers, through a lock file).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis.cli import main as ccpm
from analysis.config import TEMPLATES_DIR
from analysis.errors import ConfigError
from analysis.privacy import pseudonym
from analysis.report import i18n
from analysis.report.deck import DECK_SLIDES
from analysis.report.engines import ENGINES, RenderMeta, select_engine
from analysis.report.fonts import report_fonts
from analysis.report.i18n import t
from analysis.report.literal import md_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --------------------------------------------------------------------------- shared builds


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no sharing between workers
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "ccpm-report-e"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def tiny_center(shared_root) -> dict[str, Path]:
    from analysis.synth import generate_center, write_center

    out = shared_root / "center"
    with _locked(shared_root / "center.lock"):
        if not (out / "done").is_file():
            write_center(generate_center(agents=12, days=24, seed=3), out)
            # fewer bootstrap draws than the default: the report, not the CIs, is tested here
            (out / "models.yml").write_text("compare:\n  n_boot: 60\n"
                                            "recommendation:\n  n_boot: 60\n")
            (out / "done").write_text("ok")
    return {k: out / f for k, f in (("calls", "calls.parquet"), ("ratings", "ratings_360.csv"),
                                    ("okr", "okr.yml"), ("roster", "roster.csv"),
                                    ("truth", "truth.csv"), ("config", "models.yml"))}


def _build(shared_root: Path, center: dict, name: str, **kw) -> Path:
    from analysis.report.build import build_report

    out = shared_root / name
    with _locked(shared_root / f"{name}.lock"):
        if not (out / "done").is_file():
            shutil.rmtree(out, ignore_errors=True)
            build_report(center["calls"], out=out, ratings=center["ratings"],
                         okr=center["okr"], roster=center["roster"], truth=center["truth"],
                         config=center["config"], engine="builtin", progress=None, **kw)
            (out / "done").write_text("ok")
    return out


@pytest.fixture(scope="session")
def report_en(shared_root, tiny_center) -> Path:
    return _build(shared_root, tiny_center, "report-en", lang="en")


@pytest.fixture(scope="session")
def salt_file(shared_root) -> Path:
    p = shared_root / "salt"
    with _locked(shared_root / "salt.lock"):
        if not p.is_file():
            p.write_text("test-salt-0123456789-abcdef\n")  # >= 128 bits (docs/privacy.md)
    return p


@pytest.fixture(scope="session")
def report_zh(shared_root, tiny_center, salt_file) -> Path:
    saved = os.environ.pop("CCPM_SALT", None)  # the salt file must be what is used
    try:
        # with detection power asked for (the tiny center has too few agents to plant into:
        # the section says so)
        return _build(shared_root, tiny_center, "report-zh", lang="zh-CN", pseudonymize=True,
                      salt_file=salt_file, power_rounds=1)
    finally:
        if saved is not None:
            os.environ["CCPM_SALT"] = saved


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --------------------------------------------------------------------------- the reports


SECTIONS = ("summary.title", "rec.title", "summary.findings", "models.title",
            "rec.evidence.title", "kpi.title", "okr.title", "bsc.title", "r360.title",
            "trade.title", "trade.eff.title", "trade.svc.title", "trade.sat.title",
            "trade.proc.title", "whatif.title", "gaming.title", "gaming.flags", "dq.title",
            "dq.inputs", "dq.quarantine")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_pdf_has_every_section_in_its_language(lang, request):
    out = request.getfixturevalue("report_en" if lang == "en" else "report_zh")
    text = _squash(_pdf_text(out / "report.pdf"))
    for key in SECTIONS:
        assert _squash(t(key, lang)) in text, key
    other = "zh-CN" if lang == "en" else "en"
    assert _squash(t("gaming.title", other)) not in text
    if lang == "zh-CN":
        assert "博弈" in text and "平衡计分卡" in text


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_report_opens_with_the_recommendation(lang, request):
    out = request.getfixturevalue("report_en" if lang == "en" else "report_zh")
    ranking = pd.read_csv(out / "tables" / "recommendation.csv")
    best = str(ranking.loc[ranking["computable"], "model"].iloc[0])
    label = t(f"model.{best}", lang)
    text = _squash(_pdf_text(out / "report.pdf"))
    start = text.find(_squash(t("summary.title", lang)))  # after the title block
    assert start > 0
    # page 1 decides: the recommended model is named under "Decision" before anything else,
    # then the gaming finding and what to do next, then the ranking
    first = {key: text.find(_squash(t(key, lang)), start) for key in (
        "page1.decision.title", "page1.gaming.title", "page1.next.title", "rec.title",
        "col.p_best", "summary.findings", "summary.kpis", "models.title")}
    assert -1 not in first.values(), first
    assert list(first.values()) == sorted(first.values()), first
    assert first["page1.decision.title"] < text.find(_squash(label), start) \
        < first["page1.gaming.title"]
    md = (out / "build" / "report.md").read_text(encoding="utf-8")
    first = md.split("\n## ")[1]  # the summary's first section
    assert first.startswith(t("page1.decision.title", lang)) and md_text(label) in first
    assert (out / "build" / "figures" / "fig-summary-recommendation.png").stat().st_size > 5000
    # the same ranking as the library gives on the comparison the report made
    import pickle

    from analysis.recommend import recommend

    with open(out / "build" / "results" / "compare" / "comparison.pkl", "rb") as fh:
        # with the calls, as the report and ccpm compare measure gaming resistance
        calls = str(out / "build" / "inputs" / "calls.parquet")
        assert recommend(pickle.load(fh), calls=calls).best == best


@pytest.mark.slow
def test_tradeoff_and_whatif_views_in_the_report(report_en):
    md = (report_en / "build" / "report.md").read_text(encoding="utf-8")
    trade = md[md.index("## " + t("trade.title", "en")):md.index("## " + t("whatif.title", "en"))]
    # every input was given: each view shows its table and figure, none says "not available"
    for kind in ("eff", "svc", "sat", "proc"):
        assert "### " + t(f"trade.{kind}.title", "en") in trade
    assert "Not available" not in trade
    for kind in ("efficiency", "service", "satisfaction", "process"):
        assert (report_en / "build" / "figures" / f"fig-tradeoff-{kind}.png").is_file()
    whatif = md[md.index("## " + t("whatif.title", "en")):]
    flags = pd.read_csv(report_en / "tables" / "flags.csv")
    if not flags["flagged"].any():  # nothing flagged in this small center: it says so
        assert t("trade.na", "en", why=t("whatif.na.flags", "en")) in whatif
        assert not (report_en / "tables" / "whatif.csv").exists()
    else:
        assert (report_en / "tables" / "whatif.csv").is_file()
        assert "### " + t("whatif.models", "en") in whatif


@pytest.mark.slow
def test_report_says_which_data_it_was_built_from(report_en, tiny_center):
    manifest = json.loads((report_en / "manifest.json").read_text())
    calls = next(r for r in manifest["inputs"] if r["kind"] == "calls")
    raw = tiny_center["calls"].read_bytes()
    assert calls["sha256"] == hashlib.sha256(raw).hexdigest()
    n = len(pd.read_parquet(tiny_center["calls"]))
    assert calls["rows_read"] == n == calls["valid"] + calls["quarantined"]
    assert {r["kind"] for r in manifest["inputs"]} == {"calls", "ratings", "okr", "roster",
                                                       "truth", "config"}
    assert "pandas" in manifest["packages"] and "typst" in manifest["packages"]
    for o in manifest["outputs"]:
        assert hashlib.sha256((report_en / o["file"]).read_bytes()).hexdigest() == o["sha256"]
    text = _squash(_pdf_text(report_en / "report.pdf"))
    assert calls["sha256"][:12] in text and f"{n:,}" in text
    assert "Technion" not in text  # not the Anonymous Bank data: no acknowledgement


@pytest.mark.slow
def test_executed_notebooks_are_kept_as_the_record(report_en):
    for name in ("data_quality", "model_comparison", "gaming_checks", "management_summary"):
        nb = nbformat.read(report_en / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.metadata["ccpm"]["inputs"], name
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and 'lang = "en"' in injected[0].source
        assert not any(o.get("output_type") == "error" for c in nb.cells
                       if c.cell_type == "code" for o in c.outputs)
    template = nbformat.read(TEMPLATES_DIR / "gaming_checks.ipynb", as_version=4)
    assert all(c.outputs == [] for c in template.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_deck_opens_with_the_expected_slides(lang, request):
    from pptx import Presentation

    out = request.getfixturevalue("report_en" if lang == "en" else "report_zh")
    prs = Presentation(str(out / "report.pptx"))
    titles = [s.shapes.title.text for s in prs.slides]
    assert titles == [t("deck.title", lang)] + [t(k, lang) for k in DECK_SLIDES]
    findings = json.loads((out / "build" / "headlines.json").read_text())["findings"]
    body = " ".join(sh.text_frame.text for sh in prs.slides[1].shapes if sh.has_text_frame)
    assert findings and all(f in body for f in findings)
    pictures = [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]
    assert pictures, "the agreement and gaming figures are on their slides"


@pytest.mark.slow
def test_pseudonymized_report_holds_no_raw_id(report_zh, tiny_center, salt_file):
    salt = salt_file.read_text().strip()
    truth = pd.read_csv(tiny_center["truth"])
    raw_agents = set(truth["agent_id"].astype(str))
    calls = pd.read_parquet(tiny_center["calls"], columns=["customer_id"])
    raw_customers = set(calls["customer_id"].dropna().astype(str))
    text = _pdf_text(report_zh / "report.pdf")
    tables = {p.name: p.read_text() for p in (report_zh / "tables").glob("*.csv")}
    assert "scores.csv" in tables and "flags.csv" in tables
    for blob in [text, *tables.values()]:
        for raw in raw_agents:
            assert not re.search(rf"\b{re.escape(raw)}\b", blob), raw
        assert not any(re.search(rf"\b{re.escape(c)}\b", blob) for c in list(raw_customers)[:300])
    # pseudonyms are the salted HMAC of the raw ids, stable with the salt
    scores = pd.read_csv(report_zh / "tables" / "scores.csv")
    expected = {pseudonym(a, salt, "A-") for a in raw_agents}
    assert set(scores["agent_id"]) <= expected and len(set(scores["agent_id"])) > 5
    deck_text = (report_zh / "report.pptx").read_bytes()
    assert not any(a.encode() in deck_text for a in raw_agents)


@pytest.mark.slow
def test_customer_ids_never_in_an_unpseudonymized_report(report_en, tiny_center):
    calls = pd.read_parquet(tiny_center["calls"], columns=["customer_id"])
    ids = calls["customer_id"].dropna().astype(str).unique()[:300]
    text = _pdf_text(report_en / "report.pdf")
    for p in (report_en / "tables").glob("*.csv"):
        text += p.read_text()
    assert not any(re.search(rf"\b{re.escape(c)}\b", text) for c in ids)


@pytest.mark.slow
def test_failing_cell_exits_nonzero_with_the_cells_error(tmp_path, tiny_center, capsys):
    templates = tmp_path / "templates"
    templates.mkdir()
    for p in TEMPLATES_DIR.glob("*.ipynb"):
        shutil.copy(p, templates / p.name)
    nb = nbformat.read(templates / "data_quality.ipynb", as_version=4)
    params = next(i for i, c in enumerate(nb.cells)
                  if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(params + 1, nbformat.v4.new_code_cell(
        "raise ValueError('deliberately broken: %s' % lang)"))
    nbformat.write(nb, templates / "data_quality.ipynb")
    out = tmp_path / "out"
    code = ccpm(["report", "--calls", str(tiny_center["calls"]), "--out", str(out),
                 "--engine", "builtin", "--templates", str(templates)])
    err = capsys.readouterr().err
    assert code != 0
    line = [x for x in err.splitlines() if x.startswith("ccpm report: error:")]
    assert len(line) == 1 and "ValueError: deliberately broken: en" in line[0]
    assert "data_quality" in line[0]
    # the CLI's output folder is complete or absent (#16): nothing half-written is left
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_missing_input_is_one_line_exit_2(tmp_path, capsys):
    code = ccpm(["report", "--calls", str(tmp_path / "nope.parquet"), "--out",
                 str(tmp_path / "o"), "--engine", "builtin"])
    err = [x for x in capsys.readouterr().err.strip().splitlines()
           if not x.startswith("report: ")]  # progress lines
    assert code == 2 and len(err) == 1 and "nope.parquet" in err[0]
    assert err[0].startswith("ccpm report: error:")


# --------------------------------------------------------------------------- render pieces


def _png() -> str:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _executed_nb(path: Path) -> Path:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    p = v4.new_code_cell("lang = 'en'")
    p.metadata["tags"] = ["parameters"]
    hidden = v4.new_markdown_cell("template notes")
    hidden.metadata["tags"] = ["remove-cell"]
    shown = v4.new_code_cell("#| echo: true\nx = 1")
    shown.outputs = [v4.new_output("stream", name="stdout", text="printed\n"),
                     v4.new_output("stream", name="stderr", text="a warning\n")]
    quiet = v4.new_code_cell("#| output: false\nsecret_code()")
    quiet.outputs = [v4.new_output("display_data", data={"text/markdown": "HIDDEN"})]
    gone = v4.new_code_cell("#| include: false\nz = 3")
    gone.outputs = [v4.new_output("display_data", data={"text/markdown": "GONE"})]
    fig = v4.new_code_cell("#| echo: false\n#| label: fig-demo\n#| fig-cap: \"A demo\"\nplot()")
    fig.outputs = [v4.new_output("display_data", data={"image/png": _png(),
                                                       "text/plain": "<Figure>"})]
    table = v4.new_code_cell("df")
    table.outputs = [v4.new_output("execute_result", execution_count=1, data={
        "text/html": pd.DataFrame({"agent": ["a1"], "score": [0.5]}).to_html(index=False),
        "text/plain": "df"})]
    md = v4.new_code_cell("#| echo: false\nshow()")
    md.outputs = [v4.new_output("display_data", data={"text/markdown": "## Heading here"})]
    nb.cells = [hidden, p, shown, quiet, gone, fig, table, md]
    nbformat.write(nb, path)
    return path


def test_converter_honours_cell_options(tmp_path):
    from analysis.report.convert import notebook_to_markdown

    conv = notebook_to_markdown(_executed_nb(tmp_path / "x.ipynb"), tmp_path / "figures",
                                rel_to=tmp_path)
    md = conv.markdown
    assert "x = 1" in md and "printed" in md  # echo: true shows code and stdout
    assert "a warning" not in md and "template notes" not in md and "lang = 'en'" not in md
    assert "HIDDEN" not in md and "secret_code" not in md  # output: false, echo default off
    assert "GONE" not in md and "z = 3" not in md  # include: false
    assert "plot()" not in md and "df\n" not in md
    assert re.search(r"!\[A demo\]\(figures/fig-demo\.png\)\{#fig-demo width=95%\}", md)
    assert (tmp_path / "figures" / "fig-demo.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Heading here" in md
    assert re.search(r"\|\s*agent\s*\|\s*score\s*\|", md) or re.search(r"agent\s+score", md)


def test_builtin_engine_renders_a_pdf_with_template_and_captions(tmp_path):
    nb = _executed_nb(tmp_path / "x.ipynb")
    build = tmp_path / "build"
    build.mkdir()
    meta = RenderMeta(title="Demo title", source="Data: demo.parquet", date="2026-01-01",
                      lang="en")
    pdf = ENGINES.get("builtin").render([nb], tmp_path / "r.pdf", meta=meta, build_dir=build)
    text = _pdf_text(pdf).replace("\xa0", " ")
    assert "Demo title" in text and "Figure 1" in text and "A demo" in text
    assert "Data: demo.parquet" in text  # footer carries the data source
    assert "#import" in (build / "report.typ").read_text()


def test_engine_selection_prefers_quarto_only_when_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CCPM_QUARTO", str(tmp_path / "no-quarto-here"))
    assert select_engine("auto").name == "builtin"
    with pytest.raises(ConfigError, match="quarto"):
        select_engine("quarto")
    with pytest.raises(ConfigError, match="unknown render engine"):
        select_engine("nonesuch")
    fake = tmp_path / "quarto"
    fake.write_text("#!/bin/sh\n# a stand-in: writes the file quarto would\n"
                    'echo "$@" > args.txt\ncp "$0" report-quarto.pdf\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CCPM_QUARTO", str(fake))
    eng = select_engine("auto")
    assert eng.name == "quarto"
    nb = _executed_nb(tmp_path / "x.ipynb")
    build = tmp_path / "b"
    build.mkdir()
    pdf = eng.render([nb], tmp_path / "q.pdf", meta=RenderMeta(title="T", lang="en"),
                     build_dir=build)
    assert pdf.is_file()
    args = (build / "args.txt").read_text().split()
    assert args[:2] == ["render", "report.ipynb"] and "--to" in args
    combined = nbformat.read(build / "report.ipynb", as_version=4)
    assert combined.cells[0].cell_type == "raw" and "echo: false" in combined.cells[0].source
    assert not any("parameters" in c.metadata.get("tags", []) for c in combined.cells)


def test_zh_without_cjk_font_stops_with_a_clear_message():
    with pytest.raises(ConfigError, match="CJK font"):
        report_fonts("zh-CN", available=frozenset({"DejaVu Sans", "Libertinus Serif"}))
    assert report_fonts("en", available=frozenset({"Libertinus Serif"})) == ["Libertinus Serif"]
    fonts = report_fonts("zh-CN", available=frozenset({"DejaVu Sans", "Noto Sans CJK SC"}))
    assert fonts[-1] == "Noto Sans CJK SC"


def test_anonymous_bank_inputs_carry_the_acknowledgement(tmp_path, tiny_center):
    from analysis.report.inputs import is_anonymous_bank, prepare_inputs
    from analysis.report.present import quality

    assert is_anonymous_bank("/x/anonymous_bank_1999/01_January.txt.gz")
    assert is_anonymous_bank(None, "anonymous-bank") and not is_anonymous_bank("calls.parquet")
    src = tmp_path / "anonymous_bank_like.parquet"
    shutil.copy(tiny_center["calls"], src)
    inputs = prepare_inputs(src, build_dir=tmp_path / "b")
    for lang in i18n.LANGS:
        text = quality.provenance(inputs, lang).text
        assert "Technion" in text and "Guedj" in text and "Mandelbaum" in text
        assert "致谢.**" not in text  # a Chinese label ends with a full-width colon


def test_period_filter_and_prepared_inputs_are_reused(tmp_path, tiny_center):
    from analysis.report.inputs import prepare_inputs

    calls = pd.read_parquet(tiny_center["calls"])
    month = calls["arrival_ts"].dt.strftime("%Y-%m").mode()[0]
    expected = int((calls["arrival_ts"].dt.strftime("%Y-%m") == month).sum())
    a = prepare_inputs(tiny_center["calls"], build_dir=tmp_path, period=month)
    kept = pd.read_parquet(a.calls_path)
    assert len(kept) == expected == a.manifest["calls_in_report"]
    assert (kept["arrival_ts"].dt.strftime("%Y-%m") == month).all()
    stamp = (tmp_path / "inputs" / "inputs.json").stat().st_mtime_ns
    b = prepare_inputs(tiny_center["calls"], build_dir=tmp_path, period=month)
    assert (tmp_path / "inputs" / "inputs.json").stat().st_mtime_ns == stamp  # reused
    assert b.manifest["key"] == a.manifest["key"]
    with pytest.raises(ConfigError, match="period"):
        prepare_inputs(tiny_center["calls"], build_dir=tmp_path, period="January")


# --------------------------------------------------------------------------- layout (#15)
# Every table and figure earns its place: checked on the rendered reports themselves.


def _page_fill(pdf: Path) -> list[float]:
    """Per page, how far down the body the content reaches (0 = empty, 1 = full), from a
    low-resolution rendering (header and footer bands excluded)."""
    import subprocess
    import tempfile

    from PIL import Image

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is needed to measure page fill")
    fills = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-gray", "-r", "30", str(pdf), f"{tmp}/p"], check=True)
        for png in sorted(Path(tmp).glob("p-*.pgm")):
            img = Image.open(png)
            w, h = img.size
            top, bottom = int(0.07 * h), int(0.93 * h)  # below the header, above the footer
            px = img.load()
            last = top
            for y in range(top, bottom):
                if any(px[x, y] < 200 for x in range(int(0.05 * w), int(0.95 * w), 2)):
                    last = y
            fills.append((last - top) / (bottom - top))
    return fills


SECTION_TITLES = ("summary.title", "models.title", "gaming.title", "dq.title")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_no_figure_twice_and_no_near_empty_page(lang, request):
    from pypdf import PdfReader

    out = request.getfixturevalue("report_en" if lang == "en" else "report_zh")
    pdf = out / "report.pdf"
    reader = PdfReader(str(pdf))
    hashes = []
    for page in reader.pages:
        for img in page.images:
            hashes.append(hashlib.sha256(img.data).hexdigest())
    assert len(hashes) >= 5
    assert len(hashes) == len(set(hashes)), "a figure appears twice"
    texts = [_squash(p.extract_text() or "") for p in reader.pages]
    starts = {i for i, tx in enumerate(texts)
              if any(tx[:400].find(_squash(t(k, lang))) >= 0 for k in SECTION_TITLES)}
    last_of_section = {i - 1 for i in starts if i > 0} | {len(texts) - 1}
    fills = _page_fill(pdf)
    thin = [(i + 1, round(f, 2)) for i, f in enumerate(fills)
            if f < 0.45 and i not in last_of_section]
    assert not thin, f"pages below 45% fill that do not end a section: {thin}"


#: names of the data's columns and metrics that must never reach the PDF as such
def _raw_names() -> set[str]:
    from analysis.contract import CALL_SCHEMA
    from analysis.metrics import describe

    names = {f.name for f in CALL_SCHEMA} | set(describe()["name"].astype(str))
    names |= {"mean_handle_s", "p_value", "q_value", "effect_unit", "agent_periods",
              "rows_read", "non_missing", "kendall_tau"}
    return {n for n in names if "_" in n}


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_no_raw_snake_case_names_in_the_pdf(lang, request):
    out = request.getfixturevalue("report_en" if lang == "en" else "report_zh")
    text = _pdf_text(out / "report.pdf")
    words = set(re.findall(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+", text))
    assert not (words & _raw_names()), sorted(words & _raw_names())
    assert "–ratings" not in text and "–okr" not in text
    assert "\\" not in text and "**" not in text  # no Markdown escaped twice or left raw


#: Latin-script tokens allowed in the Chinese report: model and method names, units,
#: package names, hashes and ids are not English sentences
_ZH_ALLOWED = re.compile(
    r"^(KPI|OKR|ICC|BH|SHA|Erlang|Kendall|Spearman|Benjamini|Hochberg|tau|eta|AHT|CSAT|QA|"
    r"Technion|SEE|Anonymous|Bank|Guedj|Mandelbaum|Noto|Sans|CJK|ccpm|git|python|pandas|"
    r"numpy|scipy|statsmodels|pingouin|duckdb|pyarrow|matplotlib|seaborn|papermill|"
    r"nbformat|typst|pypandoc|binary|pptx|ruptures|pandoc|parquet|csv|yml|[A-Z]-?[0-9a-f]+|"
    r"[0-9a-f]{6,})$", re.I)


@pytest.mark.slow
def test_no_english_sentence_in_the_chinese_pdf(report_zh, tiny_center):
    text = _pdf_text(report_zh / "report.pdf")
    import yaml

    def strings(x):  # every text value of the center's OKR file (its own words: data)
        if isinstance(x, dict):
            return [s for v in x.values() for s in strings(v)]
        if isinstance(x, list):
            return [s for v in x for s in strings(v)]
        return [x] if isinstance(x, str) else []

    text = re.sub(r"\s+", " ", text)
    okr = yaml.safe_load(tiny_center["okr"].read_text())
    for f in sorted({p.name for p in tiny_center.values()} | set(strings(okr)), key=len,
                    reverse=True):
        text = text.replace(f, " ")
    runs = []
    # three or more English words in a row (names, ids and units are single tokens)
    for m in re.finditer(r"(?:[A-Za-z][A-Za-z'’\-]+[ ,.;:()]+){2,}[A-Za-z][A-Za-z'’\-]+", text):
        words = re.findall(r"[A-Za-z][A-Za-z'’\-]+", m.group(0))
        english = [w for w in words if not _ZH_ALLOWED.match(w) and len(w) > 1]
        if len(english) >= 3:
            runs.append(m.group(0))
    assert not runs, runs[:10]


def _key_basis(**over):
    from analysis.report.build import report_parameters

    params = report_parameters(calls="c.parquet", build_dir="/b", lang="en")
    manifest = {"inputs": [{"kind": "calls", "sha256": "a" * 64}], "pseudonymized": None}
    for k, v in over.items():
        if k in params:
            params[k] = v
        else:
            manifest[k] = v
    return params, manifest


def test_results_key_ignores_the_language_and_nothing_that_changes_a_result():
    from analysis.report.build import results_key

    base = results_key(*_key_basis())
    assert results_key(*_key_basis(lang="zh-CN")) == base
    assert results_key(*_key_basis(build_dir="/elsewhere")) == base
    for change in ({"short_call_s": 15.0}, {"seed": 1}, {"period": "2024-01"}, {"power_rounds": 1},
                   {"pseudonymize": True},
                   {"inputs": [{"kind": "calls", "sha256": "b" * 64}]},
                   {"pseudonymized": True}, {"key": "another salt's fingerprint"}):
        assert results_key(*_key_basis(**change)) != base, change


@pytest.mark.slow
def test_second_language_reuses_the_bundle_of_the_same_data(report_en, tiny_center, tmp_path):
    """`ccpm report --lang zh-CN --results-from <the English report>` renders from the
    English run's inputs and results instead of recomputing them (a marker planted in the
    earlier bundle comes through), and an earlier bundle of other settings is not used."""
    from analysis.report.build import _reusable, build_report, results_key

    earlier = tmp_path / "earlier"
    shutil.copytree(report_en / "build", earlier / "build")
    meta_path = earlier / "build" / "results" / "gaming" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["_planted_by_the_test"] = "reused"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")

    out = tmp_path / "zh"
    build_report(tiny_center["calls"], out=out, ratings=tiny_center["ratings"],
                 okr=tiny_center["okr"], roster=tiny_center["roster"],
                 truth=tiny_center["truth"], config=tiny_center["config"], engine="builtin",
                 progress=None, lang="zh-CN", deck=False, reuse=[earlier])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["results_reused"] is True
    got = json.loads((out / "build" / "results" / "gaming" / "meta.json").read_text("utf-8"))
    assert got.get("_planted_by_the_test") == "reused"
    for f in ("flags.csv", "recommendation.csv", "scores.csv"):  # same numbers as English
        assert (out / "tables" / f).read_bytes() == (report_en / "tables" / f).read_bytes()
    assert "博弈" in _pdf_text(out / "report.pdf")

    # another threshold: the earlier bundle's key differs, so nothing is taken from it
    params = json.loads((out / "manifest.json").read_text("utf-8"))["parameters"]
    params = {**params, "build_dir": "x", "short_call_s": params["short_call_s"] + 5}
    inputs_manifest = {"inputs": manifest["inputs"], "pseudonymized": manifest["pseudonymized"],
                       "key": json.loads((out / "build" / "inputs" / "inputs.json")
                                         .read_text("utf-8"))["key"]}
    assert _reusable([earlier / "build"], results_key(params, inputs_manifest)) is None


def test_prepared_inputs_come_from_the_first_earlier_build_that_matches(tiny_center, tmp_path):
    """An earlier build whose inputs were prepared otherwise (a stale previous output) does
    not stop the run from taking a matching one further down the list."""
    from analysis.report.inputs import prepare_inputs

    good, stale, new = tmp_path / "good", tmp_path / "stale", tmp_path / "new"
    prepare_inputs(tiny_center["calls"], build_dir=good)
    (good / "inputs" / "planted.txt").write_text("copied")
    (stale / "inputs").mkdir(parents=True)
    (stale / "inputs" / "inputs.json").write_text(json.dumps({"key": "another run's"}))
    prepare_inputs(tiny_center["calls"], build_dir=new, reuse=[stale, good])
    assert (new / "inputs" / "planted.txt").read_text() == "copied"
    other = tmp_path / "other"  # only a mismatching build offered: prepared afresh
    prepare_inputs(tiny_center["calls"], build_dir=other, reuse=[stale])
    assert not (other / "inputs" / "planted.txt").exists()
    assert (other / "inputs" / "calls.parquet").is_file()


@pytest.mark.slow
def test_detection_power_section_only_where_asked_for(report_en, report_zh):
    """ccpm report --power adds the gaming section's detection power (here the tiny center's
    "too few agents" sentence, in Chinese); without it the section is absent."""
    zh = _squash(_pdf_text(report_zh / "report.pdf"))
    en = _squash(_pdf_text(report_en / "report.pdf"))
    assert _squash(t("gaming.power", "zh-CN")) in zh
    assert _squash(t("gaming.power.empty", "zh-CN"))[:20] in zh
    assert _squash(t("gaming.power", "en")) not in en
