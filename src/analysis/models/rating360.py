"""360-degree feedback model (registered as ``"360"``).

Steps, per period and ratee:

1. Leniency correction (``360.leniency: rater_mean``): each rater's deviation is
   the mean, over all their ratings of others, of (score - the mean score the
   same ratee got from all non-self raters in that period); it is subtracted
   from the rater's scores. This removes a rater's general leniency or severity
   without penalising raters who happen to rate strong agents.
2. Each rater's ratings are averaged over competencies; rater-group means are
   the mean over the group's raters.
3. Anonymous groups (``360.anonymous_groups``: peer, direct report, customer)
   with fewer than ``360.min_group`` raters (never below 3,
   :data:`analysis.config.MIN_360_GROUP`) are suppressed; the supervisor is
   identified by design and kept. Self-ratings are never in the score: they
   appear as a component with weight 0.
4. Score = weighted mean of the remaining group means (``360.group_weights``,
   renormalised over the groups present).

Reliability (in ``diagnostics``): ICC(1,1)/ICC(1,k) (one-way random, pingouin)
of raters' mean scores, and Krippendorff's alpha (interval) over ratee x
competency units, both on uncorrected non-self ratings.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from ..config import MIN_360_GROUP
from ..contract import RATINGS_COLUMNS
from ..errors import InputError
from ._base import MODELS, ModelResult
from ._reliability import icc_oneway, krippendorff_alpha_interval_long
from ._scoring import empty_components, empty_scores, rank_scores

__all__ = ["rating360_model", "prepare_ratings", "score_360", "reuse_360_scores"]


def prepare_ratings(ratings: pd.DataFrame, notes: list[str] | None = None) -> pd.DataFrame:
    """Check and tidy contract-form ratings (dropped rows are noted with their count)."""
    notes = notes if notes is not None else []
    need = [c.name for c in RATINGS_COLUMNS]
    missing = [c for c in need if c not in ratings.columns]
    if missing:
        raise InputError(f"ratings lack column(s): {', '.join(missing)}")
    r = ratings[need].copy()
    for c in need[:-1]:
        r[c] = r[c].astype(str)
    r["score"] = pd.to_numeric(r["score"], errors="coerce")
    n_na = int(r["score"].isna().sum())
    if n_na:
        notes.append(f"{n_na} rating(s) without a numeric score left out")
        r = r.dropna(subset=["score"])
    keys = ["period", "ratee_id", "rater_id", "rater_group", "competency"]
    n_dup = int(r.duplicated(keys).sum())
    if n_dup:
        notes.append(f"{n_dup} repeated rating(s) of the same competency averaged")
        r = r.groupby(keys, as_index=False)["score"].mean()
    n_selfrate = int(((r["rater_id"] == r["ratee_id"]) & (r["rater_group"] != "self")).sum())
    if n_selfrate:
        notes.append(f"{n_selfrate} rating(s) where rater = ratee treated as self")
        r.loc[r["rater_id"] == r["ratee_id"], "rater_group"] = "self"
    return r.reset_index(drop=True)


def score_360(ratings: pd.DataFrame, config: dict, notes: list[str] | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Scores, components and reliability from tidy ratings (see module docstring).

    Returns
    -------
    scores : DataFrame
        ``agent_id, period, score`` (unranked).
    components : DataFrame
        ``agent_id, period, component, value, weight``: ``group:<g>`` rows (weights sum
        to 1), ``self`` and ``competency:<c>`` rows (weight 0), ``n_raters:<g>``
        (weight 0).
    diagnostics : dict
        ``reliability`` (ICC, Krippendorff's alpha), ``suppressed_groups``,
        ``leniency`` (per-rater deviations summary).
    """
    notes = notes if notes is not None else []
    cfg = config.get("360") or {}
    weights = {str(k): float(v) for k, v in (cfg.get("group_weights") or {}).items()}
    min_group = max(int(cfg.get("min_group", MIN_360_GROUP)), MIN_360_GROUP)
    anon = set(cfg.get("anonymous_groups", ["peer", "direct_report", "customer"]))
    r = ratings.copy()
    self_r = r[r["rater_group"] == "self"]
    oth = r[r["rater_group"] != "self"].copy()
    diag: dict = {}
    # reliability on raw non-self ratings
    per_unit = oth.groupby(["period", "ratee_id", "competency", "rater_id"],
                           as_index=False)["score"].mean()
    unit = per_unit["period"] + "|" + per_unit["ratee_id"] + "|" + per_unit["competency"]
    alpha = krippendorff_alpha_interval_long(per_unit["score"], unit)
    rater_means = oth.groupby(["period", "ratee_id", "rater_id"], as_index=False)["score"].mean()
    rater_means["target"] = rater_means["period"] + "|" + rater_means["ratee_id"]
    icc = icc_oneway(rater_means, target="target", rater="rater_id", rating="score")
    diag["reliability"] = {"krippendorff_alpha_interval": None if np.isnan(alpha) else alpha,
                           **icc}
    # leniency
    if cfg.get("leniency", "rater_mean") == "rater_mean" and len(oth):
        ratee_mean = oth.groupby(["period", "ratee_id"])["score"].transform("mean")
        dev = (oth["score"] - ratee_mean).groupby(oth["rater_id"]).mean()
        oth["score"] = oth["score"] - oth["rater_id"].map(dev)
        diag["leniency"] = {"method": "rater_mean", "n_raters": int(len(dev)),
                            "sd_deviation": float(dev.std()) if len(dev) > 1 else 0.0,
                            "max_abs_deviation": float(dev.abs().max())}
    else:
        diag["leniency"] = {"method": "none"}
    per_rater = oth.groupby(["period", "ratee_id", "rater_group", "rater_id"],
                            as_index=False)["score"].mean()
    groups = per_rater.groupby(["period", "ratee_id", "rater_group"], as_index=False).agg(
        value=("score", "mean"), n=("rater_id", "nunique"))
    small = groups["rater_group"].isin(anon) & (groups["n"] < min_group)
    diag["suppressed_groups"] = int(small.sum())
    if small.any():
        notes.append(f"{int(small.sum())} rater group(s) with fewer than {min_group} raters "
                     "suppressed (anonymity)")
    unweighted = ~groups["rater_group"].isin(list(weights))
    if unweighted.any():
        notes.append("rater group(s) without a weight not scored: "
                     + ", ".join(sorted(groups.loc[unweighted, "rater_group"].unique())))
    g = groups[~small & ~unweighted].copy()
    g["w"] = g["rater_group"].map(weights)
    g = g[g["w"] > 0]
    g["weight"] = g["w"] / g.groupby(["period", "ratee_id"])["w"].transform("sum")
    scores = (g.assign(wv=g["weight"] * g["value"]).groupby(["ratee_id", "period"],
                                                            as_index=False)["wv"].sum()
              .rename(columns={"ratee_id": "agent_id", "wv": "score"}))
    comp = [g.assign(component="group:" + g["rater_group"])[
        ["ratee_id", "period", "component", "value", "weight"]]]
    nr = groups.assign(component="n_raters:" + groups["rater_group"],
                       value=groups["n"].astype(float), weight=0.0)
    comp.append(nr[["ratee_id", "period", "component", "value", "weight"]])
    if len(self_r):
        s = self_r.groupby(["ratee_id", "period"], as_index=False)["score"].mean()
        comp.append(s.assign(component="self", value=s["score"], weight=0.0)[
            ["ratee_id", "period", "component", "value", "weight"]])
    # competencies from the scored (non-suppressed) groups, leniency-corrected
    kept = oth.merge(g[["period", "ratee_id", "rater_group"]], on=["period", "ratee_id",
                                                                   "rater_group"])
    if len(kept):
        c = kept.groupby(["ratee_id", "period", "competency"], as_index=False)["score"].mean()
        comp.append(c.assign(component="competency:" + c["competency"], value=c["score"],
                             weight=0.0)[["ratee_id", "period", "component", "value", "weight"]])
    components = pd.concat(comp, ignore_index=True).rename(columns={"ratee_id": "agent_id"})
    return scores, components, diag


_MEMO: dict | None = None


@contextlib.contextmanager
def reuse_360_scores():
    """Within this block the 360 scores of the same ratings object and ``360`` section are
    computed once (they do not depend on the call panel): for callers that rescore the
    models many times on changed calls (:mod:`analysis.counterfactual`)."""
    global _MEMO
    prev, _MEMO = _MEMO, {}
    try:
        yield
    finally:
        _MEMO = prev


@MODELS.register("360")
def rating360_model(panel: pd.DataFrame, config: dict, *, ratings=None, okr=None) -> ModelResult:
    """Score agents from 360-degree ratings (see the module docstring for the steps).

    Parameters
    ----------
    panel : DataFrame
        The metric panel; only its agents are scored (others' ratings are noted).
    config : dict
        Uses ``360``.
    ratings : DataFrame, optional
        Contract form: period, ratee_id, rater_id, rater_group, competency, score.
        Without it the model is not computable.

    Returns
    -------
    ModelResult
        ``scores``: agent_id, period, score (on the instrument's scale), rank;
        ``components`` as in :func:`score_360`; ``diagnostics`` with reliability.

    References
    ----------
    Bracken, D. W., Timmreck, C. W., & Church, A. H. (Eds.) (2001). *The Handbook of
    Multisource Feedback*. Jossey-Bass.
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations. Psychological
    Bulletin 86(2).
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
    """
    notes: list[str] = []
    if ratings is None or len(ratings) == 0:
        return ModelResult("360", empty_scores(), empty_components(), False,
                           "no 360 ratings given (--ratings)", notes)
    key = (id(ratings), len(ratings), repr(config.get("360")))
    if _MEMO is not None and key in _MEMO:
        scores, comp, diag, added = _MEMO[key]
        scores, comp, notes = scores.copy(), comp.copy(), notes + list(added)
    else:
        r = prepare_ratings(ratings, notes)
        scores, comp, diag = score_360(r, config, notes)
        if _MEMO is not None:
            _MEMO[key] = (scores.copy(), comp.copy(), diag, list(notes))
    agents = set(panel["agent_id"].astype(str)) if panel is not None else None
    if agents is not None:
        extra = set(scores["agent_id"]) - agents
        if extra:
            notes.append(f"{len(extra)} rated agent(s) not in the call panel also scored")
    if panel is not None and len(scores):
        pp = set(panel["period"].astype(str))
        if not set(scores["period"]) & pp:
            notes.append("no rating period matches a panel period: 360 scores cannot be "
                         "joined to the call metrics")
    if scores.empty:
        return ModelResult("360", empty_scores(), comp, False,
                           "no ratee has a rater group large enough to score", notes)
    return ModelResult("360", rank_scores(scores), comp, True, "", notes, diag)
