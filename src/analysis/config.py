"""One place for paths and defaults.

Every path is anchored to the repository root (or to the installed package),
so nothing depends on the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PACKAGE_DIR",
    "REPO_ROOT",
    "MAPPINGS_DIR",
    "NOTEBOOKS_DIR",
    "TEMPLATES_DIR",
    "REPORTS_DIR",
    "SAMPLE_DIR",
    "SHARED_DATA_DIR",
    "SHARED_DATA_ENV",
    "BANK_DATA_DIR",
    "DEFAULT_SEED",
    "DEFAULT_ALPHA",
    "DEFAULT_SHORT_CALL_S",
    "REPEAT_WINDOW_H",
    "MIN_360_GROUP",
]

PACKAGE_DIR = Path(__file__).resolve().parent
#: The checkout root (``src/analysis/`` is two levels below it).
REPO_ROOT = PACKAGE_DIR.parent.parent

#: Built-in column mappings (YAML), one file per source format.
MAPPINGS_DIR = REPO_ROOT / "data" / "mappings"
#: Research notebooks: the analyses, read top to bottom in JupyterLab (not part of the report).
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: The report's notebook templates (never executed in place), shipped inside the package so
#: that an installed ccpm renders its report without a checkout.
TEMPLATES_DIR = PACKAGE_DIR / "report" / "templates"
#: The sample center (synthetic; ``make report`` and the research notebooks use it):
#: written by :func:`analysis.synth.sample_center` when missing.
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
#: Rendered reports and report configuration.
REPORTS_DIR = REPO_ROOT / "reports"
#: The one setting that says where the data sets that may not be shipped live (the PwC Excel
#: export and the honeycomb 360 file): an environment variable for the tests and benchmarks,
#: the same name as a ``make`` variable.
SHARED_DATA_ENV = "CCPM_SHARED_DATA"
#: Shared data sets that the project may not ship; by default ``../shared/data`` beside the
#: checkout. Set ``CCPM_SHARED_DATA=none`` to declare that there is none.
SHARED_DATA_DIR = Path(os.environ.get(SHARED_DATA_ENV) or REPO_ROOT.parent / "shared" / "data")
#: The Anonymous Bank 1999 call-center logs (Technion SEE lab; Guedj & Mandelbaum), shipped
#: with the project (free for use with acknowledgement), so the case study runs in any clone.
BANK_DATA_DIR = REPO_ROOT / "data" / "external" / "anonymous_bank_1999"

DEFAULT_SEED = 20261126
#: False-discovery level for gaming flags.
DEFAULT_ALPHA = 0.05
#: A handled call with talk time below this many seconds counts as "short".
DEFAULT_SHORT_CALL_S = 20.0
#: A call by the same customer within this many hours counts as a repeat.
REPEAT_WINDOW_H = 72
#: 360 rater groups smaller than this are suppressed (never configurable below 3).
MIN_360_GROUP = 3
