"""Change points as the report shows them: only those significant at the run's alpha,
their dates and levels formatted with units.

Beneath both the findings of page 1 (``findings.py``) and the gaming section's tables
(``gaming.py``), so neither imports the other.
"""

from __future__ import annotations

import pandas as pd

from ...config import DEFAULT_ALPHA
from ..i18n import STRINGS, t

__all__ = ["center_steps", "significant_changepoints"]


def _alpha(g) -> float:
    fdr = getattr(g, "agent_fdr", None)
    if isinstance(fdr, dict) and fdr.get("alpha") is not None:
        return float(fdr["alpha"])
    return float(getattr(g, "alpha", DEFAULT_ALPHA) or DEFAULT_ALPHA)


def _iso(v) -> str:
    if v is None or str(v) in ("", "NaT", "nan", "None", "<NA>") or (
            not isinstance(v, str) and pd.isna(v)):
        return ""
    try:
        return pd.Timestamp(v).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        return str(v)


def significant_changepoints(g, alpha: float | None = None) -> pd.DataFrame:
    """Change points significant at ``alpha`` in interface B's columns (``level``,
    ``agent_id``, ``metric``, ``date``, ``date_lo``, ``date_hi``, ``before``, ``after``,
    ``p_value``, ``source``), from either the new or the older (``scope``) layout."""
    cols = ["level", "agent_id", "metric", "date", "date_lo", "date_hi", "before", "after",
            "p_value", "source"]
    cp = getattr(g, "changepoints", None)
    if cp is None or not isinstance(cp, pd.DataFrame) or cp.empty:
        return pd.DataFrame(columns=cols)
    cp = cp.copy()
    if "level" not in cp.columns:
        scope = cp.get("scope", pd.Series("", index=cp.index)).astype(str)
        cp["level"] = scope.map(lambda s: "center" if s == "center" else "agent")
        cp["agent_id"] = scope.where(cp["level"] == "agent", "")
    for c in cols:
        if c not in cp.columns:
            cp[c] = pd.NA
    a = _alpha(g) if alpha is None else alpha
    p = pd.to_numeric(cp["p_value"], errors="coerce")
    cp = cp[p.notna() & (p < a)]
    return cp[cols].sort_values(["level", "date"], ascending=[False, True]).reset_index(drop=True)


def center_steps(g, alpha: float | None = None) -> pd.DataFrame:
    """Significant center-level steps (e.g. a crackdown on short calls)."""
    cp = significant_changepoints(g, alpha)
    return cp[cp["level"].astype(str) == "center"].reset_index(drop=True)


def _fmt_level(metric: str, v) -> str:
    if v is None or pd.isna(v):
        return "–"
    v = float(v)
    if metric.endswith("_step"):  # own-history steps: level relative to the peers'
        return f"×{v:.2f}"
    if metric.endswith("_rate") or metric.endswith("_share"):
        return f"{100 * v:.1f}%"
    if metric.endswith("_s"):
        return f"{v:.0f} s"
    return f"{v:.2f}"


def _metric(metric: str, lang: str) -> str:
    for k in (f"axis.{metric}", f"field.{metric}", f"metric.{metric}", f"check.{metric}"):
        if k in STRINGS[lang]:
            return t(k, lang)
    return metric
