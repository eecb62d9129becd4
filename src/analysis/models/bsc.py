"""Balanced scorecard: Kaplan & Norton's four perspectives, adapted to agents.

Each perspective (financial, customer, internal process, learning & growth;
``bsc.perspectives``) holds weighted metrics, normalised like the KPI model
(``bsc.normalisation``). A perspective's value is the weighted mean of its
metrics; the score the weighted mean of the perspectives. Weights of missing
metrics (or whole perspectives) are shared among those present, and said so in
``notes``. When 360 ratings are given, the 360 score (metric ``"360"``) feeds
learning & growth; a metric ``"360:<competency>"`` uses one competency's mean
(leniency-corrected, from the groups large enough to be shown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import MODELS, ModelResult
from ._scoring import (
    COMPONENT_COLUMNS,
    eligible,
    empty_components,
    empty_scores,
    rank_scores,
    score_weighted_metrics,
    weighted_score,
)

__all__ = ["bsc_model"]


@MODELS.register("bsc")
def bsc_model(panel: pd.DataFrame, config: dict, *, ratings=None, okr=None) -> ModelResult:
    """Score agents on a four-perspective balanced scorecard.

    Parameters
    ----------
    panel : DataFrame
        From :func:`analysis.panel.build_panel`.
    config : dict
        Uses ``bsc``, ``min_calls`` and (with ratings) ``360``.
    ratings : DataFrame, optional
        360 ratings; their score feeds the ``"360"`` metric of a perspective, and
        competency means the ``"360:<competency>"`` metrics.

    Returns
    -------
    ModelResult
        ``scores``: agent_id, period, score, rank; ``components``: one row per
        metric, ``component`` = ``<perspective>/<metric>``, with the normalised value
        and its effective weight (perspective weight x metric weight, renormalised
        over what is present; ``sum(weight * value) == score``).

    References
    ----------
    Kaplan, R. S., & Norton, D. P. (1992). The balanced scorecard: measures that drive
    performance. Harvard Business Review 70(1), 71-79.
    Kaplan, R. S., & Norton, D. P. (1996). *The Balanced Scorecard: Translating Strategy
    into Action*. Harvard Business School Press.
    """
    notes: list[str] = []
    cfg = config.get("bsc") or {}
    rows = eligible(panel, config, notes)
    if rows.empty:
        return ModelResult("bsc", empty_scores(), empty_components(), False,
                           "no agent-period has enough calls to score", notes)
    uses_360 = any(_is_360(m) for p in cfg["perspectives"].values()
                   for m in (p.get("metrics") or {}))
    if uses_360:
        if ratings is not None and len(ratings):
            from .rating360 import rating360_model

            r = rating360_model(rows, config, ratings=ratings)
            if r.computable:
                rows = rows.merge(r.scores[["agent_id", "period", "score"]]
                                  .rename(columns={"score": "360"}),
                                  on=["agent_id", "period"], how="left")
                comp = r.components[r.components["component"].str.startswith("competency:")]
                if len(comp):
                    wide = comp.assign(
                        name="360:" + comp["component"].str.removeprefix("competency:")
                    ).pivot_table(index=["agent_id", "period"], columns="name", values="value")
                    wide.columns.name = None
                    rows = rows.merge(wide.reset_index(), on=["agent_id", "period"], how="left")
            else:
                notes.append(f"360 not usable ({r.reason})")
        else:
            notes.append("no 360 ratings: learning & growth scored without them")
    method = cfg.get("normalisation", "attainment")
    cap, floor = float(cfg.get("cap", 1.2)), float(cfg.get("floor", 0.0))
    pscores, pcomps, pweights = {}, {}, {}
    for pname, p in cfg["perspectives"].items():
        if float(p.get("weight", 0)) <= 0:
            continue
        metrics = dict(p.get("metrics") or {})
        for m in [m for m in metrics if _is_360(m) and m not in rows.columns]:
            if "360" in rows.columns:
                notes.append(f"bsc.{pname}.{m}: no such competency in the ratings; left out")
            metrics.pop(m)  # (no ratings at all: noted above)
        norm = score_weighted_metrics(rows, metrics, method=method, cap=cap, floor=floor,
                                      notes=notes, label=f"bsc.{pname}.")
        parts = {n: float(metrics[n]["weight"]) for n in norm.columns
                 if n not in ("agent_id", "period")}
        if not parts:
            notes.append(f"perspective {pname}: none of its metrics in the data; its weight "
                         "shared among the other perspectives")
            continue
        s, comp = weighted_score(norm, parts)
        pscores[pname] = s
        pcomps[pname] = comp
        pweights[pname] = float(p["weight"])
    if not pscores:
        return ModelResult("bsc", empty_scores(), empty_components(), False,
                           "no scorecard metric is in the data", notes)
    pframe = rows[["agent_id", "period"]].assign(**pscores)
    score, pcomp = weighted_score(pframe, pweights)
    comps = []
    for pname, comp in pcomps.items():
        pw = pcomp.loc[pcomp["component"] == pname, "weight"].to_numpy()
        n_metrics = len(comp) // len(rows)
        c = comp.copy()
        c["weight"] = c["weight"].to_numpy() * np.tile(pw, n_metrics)
        c["component"] = pname + "/" + c["component"]
        comps.append(c)
    components = pd.concat(comps, ignore_index=True)[COMPONENT_COLUMNS]
    scores = rank_scores(rows[["agent_id", "period"]].assign(score=score))
    return ModelResult("bsc", scores, components, True, "", notes)


def _is_360(name: str) -> bool:
    return name == "360" or name.startswith("360:")
