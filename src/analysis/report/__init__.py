"""Reports: parameterized notebooks -> executed record -> PDF (en, zh-CN) and slide deck.

Public entry points:

- :func:`build_report` — the whole run behind ``ccpm report``;
- :func:`prepare_inputs` — load, check, filter, pseudonymize and record a run's inputs;
- :func:`t` — translated text (:mod:`analysis.report.i18n`);
- :mod:`analysis.report.content` — the tables, figures and findings the notebooks show;
- :data:`analysis.report.engines.ENGINES` — render engines (``builtin``, ``quarto``).
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
