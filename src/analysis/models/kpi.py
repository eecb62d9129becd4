"""KPI model: weighted metrics against targets.

Each configured metric is put on a higher-is-better scale (capped target
attainment, within-period z-score or percentile; ``kpi.normalisation``) and
the score is the weighted mean of those values (weights of metrics an agent
lacks in a period are shared among the others).
"""

from __future__ import annotations

import pandas as pd

from ._base import MODELS, ModelResult
from ._scoring import (
    eligible,
    empty_components,
    empty_scores,
    rank_scores,
    score_weighted_metrics,
    weighted_score,
)

__all__ = ["kpi_model"]


@MODELS.register("kpi")
def kpi_model(panel: pd.DataFrame, config: dict, *, ratings=None, okr=None) -> ModelResult:
    """Score agents on weighted KPIs against targets.

    Parameters
    ----------
    panel : DataFrame
        From :func:`analysis.panel.build_panel`.
    config : dict
        From :func:`analysis.models.config.load_model_config`; uses ``kpi`` and
        ``min_calls``.
    ratings, okr
        Ignored (interface).

    Returns
    -------
    ModelResult
        ``scores``: agent_id, period, score, rank (score in attainment units, 1.0 = on
        target, under ``attainment``); ``components``: one row per metric with the
        normalised value and its effective weight (``sum(weight * value) == score``).

    References
    ----------
    Parmenter, D. (2015). *Key Performance Indicators*, 3rd ed. Wiley.
    COPC Inc. (2019). *COPC CX Standard*, Release 7.
    """
    notes: list[str] = []
    cfg = config.get("kpi") or {}
    metrics = cfg.get("metrics") or {}
    rows = eligible(panel, config, notes)
    if rows.empty:
        return ModelResult("kpi", empty_scores(), empty_components(), False,
                           "no agent-period has enough calls to score", notes)
    norm = score_weighted_metrics(rows, metrics, method=cfg.get("normalisation", "attainment"),
                                  cap=float(cfg.get("cap", 1.2)), floor=float(cfg.get("floor", 0)),
                                  notes=notes, label="kpi.metrics.")
    parts = {n: float(metrics[n]["weight"]) for n in norm.columns if n not in ("agent_id", "period")}
    if not parts:
        return ModelResult("kpi", empty_scores(), empty_components(), False,
                           "none of the KPI metrics is in the data", notes)
    score, comp = weighted_score(norm, parts)
    scores = rank_scores(norm[["agent_id", "period"]].assign(score=score))
    return ModelResult("kpi", scores, comp, True, "", notes)
