"""Registry of performance-management models (kpi, okr, bsc, 360, hybrids).

A model is registered by name and is a callable

    model(panel: DataFrame, config: dict, *, ratings: DataFrame | None = None,
          okr: dict | None = None) -> ModelResult

Modules in :mod:`analysis.models` (not starting with ``_``) are imported on
first lookup, so a new model is one new module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .._registry import Registry

__all__ = ["MODELS", "ModelResult"]

MODELS: Registry = Registry("model", "analysis.models")


@dataclass
class ModelResult:
    """What every model returns.

    Attributes
    ----------
    scores : DataFrame
        One row per agent and period: ``agent_id, period, score, rank``
        (rank 1 = best, ties by the minimum rank).
    components : DataFrame
        Long form: ``agent_id, period, component, value, weight`` — what the
        score is made of.
    computable : bool
        False when the model lacks a required input; ``reason`` says which.
    notes : list of str
        Inputs missing but worked around (e.g. "no csat: customer perspective
        scored on repeat calls only").
    diagnostics : dict
        Model-specific extras (e.g. 360 reliability: ICC, Krippendorff's alpha).
    """

    name: str
    scores: pd.DataFrame
    components: pd.DataFrame
    computable: bool = True
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
