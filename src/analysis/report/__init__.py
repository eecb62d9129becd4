"""Reports: parameterized notebooks -> executed record -> PDF (en, zh-CN) and slide deck.

Public entry points:

- :func:`build_report` — the whole run behind ``ccpm report``;
- :func:`prepare_inputs` — load, check, filter, pseudonymize and record a run's inputs;
- :func:`t` — translated text (:mod:`analysis.report.i18n`);
- :data:`analysis.report.engines.ENGINES` — render engines (``builtin``, ``quarto``).

The parts, and how a report flows through them
----------------------------------------------
::

    inputs.py    prepared inputs (checked, filtered, pseudonymized; no language)
        |
    results.py   the results bundle: panel, comparison, gaming checks, recommendation,
        |        trade-offs, what-if; computed once per run, written language-free into
        |        <build>/results/<analysis>/ (tables as Parquet, values in meta.json)
        |
    present/     presentation: bundle -> display tables, formatted values, sentences
        |        and figures in one language; words come from messages/<lang>.yml
        |        (i18n.py), output objects from blocks.py (Markdown, Table, figure)
        |
    templates/   the four notebooks (papermill, execute.py) display what present/ returns;
        |        the executed notebooks are the run's record
        |
    convert.py   executed notebooks -> Pandoc Markdown; engines/ render the PDF (Typst or
    engines/     Quarto); deck.py makes the slides from the JSON that present/ leaves

Language enters only in ``present/`` (and in the catalogs it reads): ``results.py`` and
everything under it know no language and hold no prose, so a bundle reads the same in
either language, and the catalogs hold the same keys (``tests/test_notebooks.py``);
``tests/test_report_layers.py`` keeps the parts apart.
"""

from __future__ import annotations

from .i18n import LANGS, t
from .inputs import ReportInputs, prepare_inputs

__all__ = ["LANGS", "t", "ReportInputs", "prepare_inputs", "build_report", "ReportResult"]


def __getattr__(name: str):  # heavy imports (papermill, python-pptx) only when used
    if name in ("build_report", "ReportResult"):
        from . import build

        return getattr(build, name)
    raise AttributeError(name)
