"""Building the ``ccpm`` parser (``ccpm --help``) must not import the heavy stack.

Every subcommand module is imported at start; if one of them imports pandas, pyarrow,
duckdb or matplotlib while registering, every ``ccpm`` call (even ``--help``) pays for it.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "pyarrow", "duckdb", "matplotlib", "papermill", "scipy", "statsmodels")


def test_build_parser_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from analysis.cli import build_parser\n"
        "build_parser()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_validate_help_lists_builtin_mappings():
    out = subprocess.run([sys.executable, "-m", "analysis", "validate", "--help"],
                         capture_output=True, text=True, check=True)
    for name in ("anonymous-bank", "pwc-excel", "honeycomb-360", "contract"):
        assert name in out.stdout
