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
    "REPORTS_DIR",
    "SHARED_DATA_DIR",
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
#: Notebook templates (never executed in place).
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: Rendered reports and report configuration.
REPORTS_DIR = REPO_ROOT / "reports"
#: Shared real data sets, beside the checkout; override with ``CCPM_SHARED_DATA``.
SHARED_DATA_DIR = Path(os.environ.get("CCPM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

DEFAULT_SEED = 20261126
#: False-discovery level for gaming flags.
DEFAULT_ALPHA = 0.05
#: A handled call with talk time below this many seconds counts as "short".
DEFAULT_SHORT_CALL_S = 20.0
#: A call by the same customer within this many hours counts as a repeat.
REPEAT_WINDOW_H = 72
#: 360 rater groups smaller than this are suppressed (never configurable below 3).
MIN_360_GROUP = 3
