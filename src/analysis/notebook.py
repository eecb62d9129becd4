"""Display helpers for the research notebooks (``notebooks/``): tables a researcher can read.

The notebooks hold no logic; what they would otherwise do in a cell to make a table
readable lives here.
"""

from __future__ import annotations

import math
import re

import pandas as pd

__all__ = ["format_p", "readable", "show_text_in_full"]

#: columns holding p- or q-values (shown as 1.2e-05, not rounded to 0.0000)
_PQ = re.compile(r"(^|_)(p|q)(_value)?$|^(agent|best)_(p|q)$")


def format_p(x) -> str:
    """A p- or q-value in two significant digits: ``1.2e-05``, ``0.012``, ``0.4``; an
    exact 0 (a combined p-value below the smallest double) as ``< 1e-300``; missing as
    an empty string."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    x = float(x)
    if x == 0.0:
        return "< 1e-300"
    return f"{x:.2g}"


def readable(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A copy of ``df`` for display: p- and q-value columns (``p_value``, ``q_value``,
    ``agent_q``, ``best_p``, ...) as text in :func:`format_p`'s notation, so a q of 1.2e-05
    does not read 0.0000; other float columns rounded to ``digits``."""
    out = df.copy()
    for col in out.columns:
        if _PQ.search(str(col)) and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(format_p)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(digits)
    return out


def show_text_in_full() -> None:
    """Show text cells of displayed tables in full: ``detail``, ``effect_unit`` and
    ``why not`` are sentences that pandas would cut at 50 characters with "..."."""
    pd.set_option("display.max_colwidth", None)
