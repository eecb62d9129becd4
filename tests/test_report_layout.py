"""The report template's layout rules, compiled with Typst on small documents."""

from __future__ import annotations

import shutil

import pytest

from analysis.config import TEMPLATES_DIR

typst = pytest.importorskip("typst")


def _pages(tmp_path, body: str) -> list[str]:
    """Compile ``body`` under the report template; the text of each page."""
    from pypdf import PdfReader

    shutil.copy(TEMPLATES_DIR / "ccpm-report.typ", tmp_path / "ccpm-report.typ")
    main = tmp_path / "main.typ"
    main.write_text('#import "ccpm-report.typ": report\n'
                    '#show: report.with(title: "T", fonts: ("DejaVu Sans",))\n' + body,
                    encoding="utf-8")
    typst.compile(str(main), output=str(tmp_path / "out.pdf"))
    return [p.extract_text() for p in PdfReader(tmp_path / "out.pdf").pages]


def test_a_table_row_is_never_split_across_pages(tmp_path):
    """A long table breaks between rows: a row whose cell wraps onto several lines stays
    on one page (the bank's model table left "other models" of a row alone on page 2)."""
    rows = "".join(
        f"[{i}], [begin{i}q " + "word " * 14 + f"end{i}q], " for i in range(60))
    pages = _pages(tmp_path, "#table(columns: (2cm, 3cm), [Rank], [Weakest], "
                             + rows + ")\n")
    assert len(pages) >= 2
    for i in range(60):
        on = [k for k, text in enumerate(pages) if f"begin{i}q" in text]
        end = [k for k, text in enumerate(pages) if f"end{i}q" in text]
        assert on == end and len(on) == 1, (i, on, end)


def test_a_short_table_is_never_split_across_pages(tmp_path):
    """A table of up to 48 cells (the headline numbers: 2 columns, 11 rows) moves whole to
    the next page rather than leave three rows at the bottom of one and seven on the next;
    a longer one still breaks (between rows)."""
    short = "".join(f"[m{i}q], [{i}], " for i in range(11))
    filler = "#block(height: 20cm)[filler]\n"  # most of the first page
    pages = _pages(tmp_path, filler + "#table(columns: 2, " + short + ")\n")
    on = {k for k, text in enumerate(pages) for i in range(11) if f"m{i}q" in text}
    assert len(on) == 1, on
    long = "".join(f"[n{i}q], [{i}], " for i in range(40))
    pages = _pages(tmp_path, filler + "#table(columns: 2, " + long + ")\n")
    on = {k for k, text in enumerate(pages) for i in range(40) if f"n{i}q" in text}
    assert len(on) == 2, on
