"""Hostile names and file names through the report: shown literally, never executed (#16).

Agent ids and the calls file name carry Typst code (``#read(...)``, a raw block
`` `...`{=typst} ``), Markdown (links, bold, ``--``), HTML (``<script>``), math (``$x$``),
references and labels (``@ref``, ``<label>``). The PDF must show each as typed, never the
contents of a build file; the executed notebooks' HTML outputs must be escaped; the deck
shows the names as text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis.report.literal import BREAK_EVERY, html_text, md_plain, md_text, typst_str, typst_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOSTILE = ['#read("inputs/inputs.json")', "[x](http://e)", "**b**",
           "<script>alert(1)</script>", "$x$", '`#read("inputs/inputs.json")`{=typst}',
           "@ref", "<label>", "-3+cmd|' /C calc'!A0"]
#: a name with no place to break a line (it ran out of its table column and off the page)
LONG = "L" * 150
HOSTILE = [*HOSTILE, LONG]
FILE_NAME = '`#read("x")`{=typst} $x$ **b** --ratings <script> @ref <label>.parquet'


def _squash(text: str) -> str:
    return re.sub(r"[\s\u200b]+", "", text)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    from analysis.report.build import build_report
    from analysis.synth import generate_center, write_center

    root = tmp_path_factory.mktemp("hostile")
    center = root / "center"
    write_center(generate_center(agents=12, days=24, seed=3), center)
    (center / "models.yml").write_text("compare:\n  n_boot: 40\nrecommendation:\n  n_boot: 40\n")
    calls = pd.read_parquet(center / "calls.parquet")
    ids = sorted(calls["agent_id"].dropna().unique())
    rename = dict(zip(ids, HOSTILE, strict=False))
    calls["agent_id"] = calls["agent_id"].map(lambda a: rename.get(a, a))
    for f in ("ratings_360.csv", "roster.csv", "truth.csv"):
        df = pd.read_csv(center / f)
        for c in ("agent_id", "ratee_id", "rater_id"):
            if c in df.columns:
                df[c] = df[c].map(lambda a: rename.get(a, a))
        df.to_csv(center / f, index=False)
    (center / "calls.parquet").unlink()
    calls.to_parquet(center / FILE_NAME)
    out = root / "out"
    build_report(center / FILE_NAME, out=out, ratings=center / "ratings_360.csv",
                 okr=center / "okr.yml", roster=center / "roster.csv",
                 truth=center / "truth.csv", config=center / "models.yml",
                 engine="builtin", progress=None)
    yield out
    shutil.rmtree(root, ignore_errors=True)


def test_md_text_makes_every_markup_literal():
    import pypandoc

    for s in [*HOSTILE, FILE_NAME, "--ratings", "a\nb|c", "1. x", "# h"]:
        md = md_text(s)
        typ = pypandoc.convert_text(md, "typst", format="markdown")
        # pandoc's Typst writer escapes the literal text: no unescaped # or $ survives
        assert not re.search(r"(?<!\\)[#$@]", typ), (s, typ)
        assert md_plain(md) == s.replace("\n", " "), s
    assert "\\*\\*" in md_text("**b**")


def test_a_name_starting_with_hyphen_and_digit_keeps_its_hyphen_in_the_pdf(tmp_path):
    """Typst draws a word-initial hyphen before a digit as a minus sign and Pandoc's Typst
    writer leaves it so: the id ``-3+cmd...`` read ``−3+cmd...`` in the PDF. Numbers keep
    the minus sign."""
    import pypandoc
    import typst
    from pypdf import PdfReader

    md = f"{md_text('-3+cmd|x')} and {md_text('-0.5')} and {md_text('1999-05-02')}"
    (tmp_path / "t.typ").write_text(pypandoc.convert_text(md, "typst", format="markdown"))
    typst.compile(str(tmp_path / "t.typ"), output=str(tmp_path / "t.pdf"))
    text = PdfReader(str(tmp_path / "t.pdf")).pages[0].extract_text()
    assert "-3+cmd|x" in text and "\u22120.5" in text and "1999-05-02" in text
    assert md_plain(md_text("-3+cmd|x")) == "-3+cmd|x"


def test_typst_and_html_escapers():
    assert typst_str('a"b\\c\nd') == '"a\\"b\\\\c d"'
    assert typst_text("#read(x) $y$") == "\\#read(x) \\$y\\$"
    assert html_text("<script>alert('1')</script>") == (
        "&lt;script&gt;alert(&#x27;1&#x27;)&lt;/script&gt;")


@pytest.mark.slow
def test_hostile_names_and_file_name_are_literal_in_the_pdf(hostile_report):
    text = _pdf_text(hostile_report / "report.pdf")
    flat = _squash(text)
    for name in HOSTILE:
        assert _squash(name) in flat, name
    assert _squash(FILE_NAME) in flat
    # the build file an injected #read() would print never reaches the PDF
    manifest = json.loads((hostile_report / "build" / "inputs" / "inputs.json").read_text())
    assert "manifest_version" in manifest
    assert "manifest_version" not in text and "ccpm_version" not in text
    assert "–ratings" not in text  # "--" stays two hyphens, not an en dash


@pytest.mark.slow
def test_a_long_name_wraps_inside_its_column(hostile_report):
    text = _pdf_text(hostile_report / "report.pdf").replace("\u200b", "")
    runs = [len(m) for line in text.splitlines() for m in re.findall(r"L{10,}", line)]
    assert sum(runs) >= 2 * len(LONG)  # shown, in several tables
    # broken at the zero-width spaces md_text / typst_text put in: no line carries it all
    assert max(runs) <= 2 * BREAK_EVERY, max(runs)


def test_long_runs_get_break_opportunities_and_lose_them_as_plain_text():
    md, typ = md_text("a " + "y" * 70), typst_text("y" * 61)
    assert md.count("\u200b") == 2 and typ.count("\u200b") == 2
    assert md_plain(md) == "a " + "y" * 70
    assert "\u200b" not in md_text("y" * BREAK_EVERY) + typst_text("A001 " * 20)


@pytest.mark.slow
def test_executed_notebooks_html_is_escaped(hostile_report):
    found = 0
    for path in (hostile_report / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                for mime in ("text/html", "text/markdown"):
                    v = data.get(mime)
                    v = "".join(v) if isinstance(v, list) else (v or "")
                    assert "<script>" not in v, (path.name, mime)
                    assert "<label>" not in v, (path.name, mime)
                    found += "&lt;script&gt;" in v or "\\<script\\>" in v
    assert found > 0  # the names were shown (escaped), not dropped


@pytest.mark.slow
def test_deck_shows_names_as_text(hostile_report):
    from pptx import Presentation

    prs = Presentation(str(hostile_report / "report.pptx"))
    texts = " ".join(sh.text_frame.text for s in prs.slides for sh in s.shapes
                     if sh.has_text_frame)
    assert FILE_NAME in texts
    assert "\\#" not in texts and "\\*" not in texts  # Markdown escapes resolved
