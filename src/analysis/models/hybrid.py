"""Hybrid models: blends of registered models, configured under ``hybrids:``.

A hybrid is registered in :data:`~analysis.models.MODELS` under its own name and is
scored, ranked and compared exactly like a pure model. Three rules:

``weighted``
    ``components: {model: weight, ...}``. Each component's scores are put on a
    common scale within period (``scale: percentile`` (default, 0-1, 1 = best) or
    ``zscore``) and averaged with the weights (an agent-period missing a component
    shares its weight among the others, and this is noted).
``floor``
    ``floor_model`` (e.g. ``kpi``) must reach ``floor`` in its own units (or, with
    ``floor_quantile``, the period's quantile) -- the basics; the score is then the
    ``improvement_model``'s (e.g. ``okr``). An agent-period below the floor gets the
    improvement score minus ``penalty`` (default 1.0: on OKR's 0-1 scale every agent
    below the floor ranks beneath every agent above it; a smaller penalty makes the
    floor a soft one). Components: the improvement score (weight 1), the floor model's
    score (weight 0) and ``below_floor`` (0/1, weight ``-penalty``), so
    ``sum(weight * value) == score``.
``override``
    ``base: <model>`` run with its configuration section deep-merged with
    ``config:`` -- e.g. a balanced scorecard whose learning & growth perspective is
    fed by the 360 competencies. A metric named ``"360:*"`` expands into one metric
    per competency found in the ratings (its weight shared equally among them). ``requires:
    [ratings]`` makes the hybrid not computable without 360 ratings.

Any name under ``hybrids:`` is registered when the configuration is loaded
(:func:`register_hybrids`), so ``ccpm compare --models kpi,kpi_okr`` and reports pick
hybrids up by name. A component whose model is not computable makes the hybrid not
computable, with the component's reason.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ._base import MODELS, ModelResult
from ._merge import deep_merge
from ._scoring import COMPONENT_COLUMNS, empty_components, empty_scores, rank_scores

__all__ = ["HybridModel", "register_hybrids", "hybrid_components", "HYBRID_RULES"]

HYBRID_RULES = ("weighted", "floor", "override")
_MAX_DEPTH = 5
_depth = 0


def hybrid_components(spec: dict) -> list[str]:
    """The registered models a hybrid specification uses."""
    rule = spec.get("rule", "weighted")
    if rule == "weighted":
        return [str(m) for m in (spec.get("components") or {})]
    if rule == "floor":
        return [str(spec.get("floor_model")), str(spec.get("improvement_model"))]
    return [str(spec.get("base"))]


def _scale(scores: pd.DataFrame, method: str) -> pd.Series:
    g = scores.groupby("period")["score"]
    if method == "percentile":
        n = g.transform("size")
        return ((g.rank(method="average") - 1) / (n - 1).where(n > 1)).fillna(0.5)
    sd = g.transform("std")
    return ((scores["score"] - g.transform("mean")) / sd.where(sd > 0)).fillna(0.0)


class HybridModel:
    """A callable model whose definition is read from ``config["hybrids"][name]``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__doc__ = f"Hybrid model {name!r} (see analysis.models.hybrid)."

    def __repr__(self) -> str:
        return f"HybridModel({self.name!r})"

    def __call__(self, panel: pd.DataFrame, config: dict, *, ratings=None, okr=None
                 ) -> ModelResult:
        global _depth
        spec = (config.get("hybrids") or {}).get(self.name)
        if spec is None:
            return ModelResult(self.name, empty_scores(), empty_components(), False,
                               f"no hybrids.{self.name} in the configuration")
        if _depth >= _MAX_DEPTH:
            raise ConfigError(f"hybrids.{self.name}: components nest too deeply (a cycle?)")
        _depth += 1
        try:
            rule = spec.get("rule", "weighted")
            fn = {"weighted": self._weighted, "floor": self._floor,
                  "override": self._override}[rule]
            return fn(spec, panel, config, ratings, okr)
        finally:
            _depth -= 1

    # ------------------------------------------------------------------ helpers
    def _run(self, name, panel, config, ratings, okr):
        r = MODELS.get(name)(panel, config, ratings=ratings, okr=okr)
        if not r.computable or r.scores.empty:
            return None, (f"component {name} not computable: {r.reason or 'no scores'}",
                          r.notes)
        return r, None

    def _fail(self, why: str, notes: list[str]) -> ModelResult:
        return ModelResult(self.name, empty_scores(), empty_components(), False, why, notes)

    def _weighted(self, spec, panel, config, ratings, okr) -> ModelResult:
        notes: list[str] = []
        comps = {str(k): float(v) for k, v in spec["components"].items()}
        method = spec.get("scale", "percentile")
        cols = {}
        for name in comps:
            r, err = self._run(name, panel, config, ratings, okr)
            if r is None:
                return self._fail(err[0], notes + [f"{name}: {n}" for n in err[1]])
            s = r.scores[["agent_id", "period", "score"]].copy()
            s["value"] = _scale(s, method).to_numpy()
            cols[name] = s.set_index(["agent_id", "period"])["value"]
            notes += [f"{name}: {n}" for n in r.notes]
        wide = pd.DataFrame(cols)
        n_part = int(wide.notna().all(axis=1).eq(False).sum())
        if n_part:
            notes.append(f"{n_part} agent-period(s) lack a component's score: its weight "
                         "shared among the others")
        w = pd.DataFrame({n: np.where(wide[n].notna(), comps[n], 0.0) for n in comps},
                         index=wide.index)
        wsum = w.sum(axis=1)
        weff = w.div(wsum.where(wsum > 0), axis=0)
        score = (wide.fillna(0.0) * weff).sum(axis=1).where(wsum > 0)
        scores = rank_scores(score.rename("score").reset_index())
        long = wide.reset_index().melt(id_vars=["agent_id", "period"], var_name="component",
                                       value_name="value")
        wl = weff.reset_index().melt(id_vars=["agent_id", "period"], var_name="component",
                                     value_name="weight")
        long["weight"] = wl["weight"].fillna(0.0).to_numpy()
        long["agent_id"] = long["agent_id"].astype(str)
        long["period"] = long["period"].astype(str)
        return ModelResult(self.name, scores, long[COMPONENT_COLUMNS], True, "", notes,
                           {"hybrid": {"rule": "weighted", "components": comps,
                                       "scale": method}})

    def _floor(self, spec, panel, config, ratings, okr) -> ModelResult:
        notes: list[str] = []
        fm, im = str(spec["floor_model"]), str(spec["improvement_model"])
        penalty = float(spec.get("penalty", 1.0))
        rf, err = self._run(fm, panel, config, ratings, okr)
        if rf is None:
            return self._fail(err[0], err[1])
        ri, err = self._run(im, panel, config, ratings, okr)
        if ri is None:
            return self._fail(err[0], err[1])
        notes += [f"{fm}: {n}" for n in rf.notes] + [f"{im}: {n}" for n in ri.notes]
        d = ri.scores[["agent_id", "period", "score"]].rename(columns={"score": "imp"}).merge(
            rf.scores[["agent_id", "period", "score"]].rename(columns={"score": "base"}),
            on=["agent_id", "period"], how="inner")
        n_lost = len(ri.scores) - len(d)
        if n_lost:
            notes.append(f"{n_lost} agent-period(s) without a {fm} score not scored")
        if "floor_quantile" in spec:
            q = float(spec["floor_quantile"])
            thr = d.groupby("period")["base"].transform(lambda v: v.quantile(q))
            desc = f"the period's {q:.0%} quantile of {fm}"
        else:
            thr = pd.Series(float(spec["floor"]), index=d.index)
            desc = f"{fm} >= {float(spec['floor']):g}"
        below = (d["base"] < thr).astype(float)
        d["score"] = d["imp"] - penalty * below
        notes.append(f"floor: {desc}; {int(below.sum())} of {len(d)} agent-period(s) below it "
                     f"(score = {im} - {penalty:g})")
        scores = rank_scores(d[["agent_id", "period", "score"]])
        key = d[["agent_id", "period"]].astype(str)
        comp = pd.concat([
            key.assign(component=im, value=d["imp"].to_numpy(), weight=1.0),
            key.assign(component=fm, value=d["base"].to_numpy(), weight=0.0),
            key.assign(component="below_floor", value=below.to_numpy(), weight=-penalty),
        ], ignore_index=True)[COMPONENT_COLUMNS]
        return ModelResult(self.name, scores, comp, True, "", notes,
                           {"hybrid": {"rule": "floor", "floor_model": fm,
                                       "improvement_model": im, "penalty": penalty,
                                       "share_below_floor": float(below.mean())}})

    def _override(self, spec, panel, config, ratings, okr) -> ModelResult:
        base = str(spec["base"])
        needs = list(spec.get("requires") or [])
        if "ratings" in needs and (ratings is None or len(ratings) == 0):
            return self._fail("needs 360 ratings (--ratings)", [])
        if "okr" in needs and okr is None:
            return self._fail("needs an OKR file (--okr)", [])
        section = deep_merge(config.get(base) or {}, copy.deepcopy(spec.get("config") or {}))
        if ratings is not None and len(ratings):
            section = _expand_competencies(section, ratings)
        cfg = dict(config)
        cfg[base] = section
        r = MODELS.get(base)(panel, cfg, ratings=ratings, okr=okr)
        return ModelResult(self.name, r.scores, r.components, r.computable, r.reason,
                           list(r.notes), {**r.diagnostics,
                                           "hybrid": {"rule": "override", "base": base}})


def _expand_competencies(section: dict, ratings: pd.DataFrame) -> dict:
    """Replace ``"360:*"`` metrics with one ``"360:<c>"`` per competency in the ratings."""
    comps = sorted(set(ratings["competency"].astype(str))) if "competency" in ratings else []

    def expand(metrics: dict) -> dict:
        out = {}
        for k, v in metrics.items():
            if k == "360:*":
                for c in comps:  # the weight given is shared among the competencies
                    out[f"360:{c}"] = {**v, "weight": float(v["weight"]) / len(comps)}
            else:
                out[k] = v
        return out

    s = copy.deepcopy(section)
    if "metrics" in s:
        s["metrics"] = expand(s["metrics"])
    for p in (s.get("perspectives") or {}).values():
        if isinstance(p, dict) and "metrics" in p:
            p["metrics"] = expand(p["metrics"])
    return s


_INSTANCES: dict[str, HybridModel] = {}


def register_hybrids(config: dict) -> list[str]:
    """Register every hybrid named under ``config["hybrids"]`` (idempotent).

    Raises
    ------
    ConfigError
        When a hybrid's name is a model that is not a hybrid (e.g. ``kpi``).
    """
    names = []
    for name in (config.get("hybrids") or {}):
        name = str(name)
        inst = _INSTANCES.setdefault(name, HybridModel(name))
        if name in MODELS and MODELS.get(name) is not inst:
            raise ConfigError(f"hybrids.{name}: the name of a registered model; choose another")
        MODELS.register(name)(inst)
        names.append(name)
    return names


# The shipped hybrids are registered on import (their definitions live in defaults.yml).
for _n in ("kpi_okr", "bsc_360"):
    MODELS.register(_n)(_INSTANCES.setdefault(_n, HybridModel(_n)))
