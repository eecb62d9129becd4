"""What a model's score is made of: its inputs and their weights, from the configuration.

Below :mod:`analysis.compare` and :mod:`analysis.recommend`, which both need it: the
comparison's predictive validity and the recommendation's criteria count an outcome that
is one of a model's own components only beyond its own persistence, and the data
requirements table lists each model's inputs.
"""

from __future__ import annotations

from ._merge import deep_merge
from .hybrid import hybrid_components

__all__ = ["model_inputs", "model_components"]


def _weighted_rows(metrics: dict, scale: float) -> list[tuple[str, float]]:
    ms = {k: v for k, v in (metrics or {}).items() if v and float(v.get("weight", 0)) > 0}
    tot = sum(float(v["weight"]) for v in ms.values()) or 1.0
    return [(k, scale * float(v["weight"]) / tot) for k, v in ms.items()]


def model_inputs(name: str, config: dict, depth: int = 0) -> list[tuple[str, float]] | None:
    """(input, weight) pairs a model needs; None when unknown."""
    if depth > 5:
        return None
    if name == "kpi":
        return _weighted_rows((config.get("kpi") or {}).get("metrics"), 1.0)
    if name == "bsc":
        persp = (config.get("bsc") or {}).get("perspectives") or {}
        tot = sum(float(p.get("weight", 0)) for p in persp.values()) or 1.0
        out = []
        for p in persp.values():
            out += _weighted_rows(p.get("metrics"), float(p.get("weight", 0)) / tot)
        return out
    if name == "okr":
        objs = ((config.get("okr") or {}).get("default") or {}).get("objectives") or []
        out = []
        for o in objs:
            krs = o.get("key_results") or []
            out += [(kr["metric"], 1 / len(objs) / len(krs)) for kr in krs]
        return out
    if name == "360":
        return [("ratings", 1.0)]
    spec = (config.get("hybrids") or {}).get(name)
    if spec is None:
        return None
    rule = spec.get("rule", "weighted")
    if rule == "override":
        base = str(spec["base"])
        cfg = dict(config)
        cfg[base] = deep_merge(config.get(base) or {}, spec.get("config") or {})
        inner = model_inputs(base, cfg, depth + 1)
        if inner is not None and "ratings" in (spec.get("requires") or []):
            inner = [(m, w) for m, w in inner if not m.startswith("360")] + [
                ("ratings", sum(w for m, w in inner if m.startswith("360")) or 0.0)]
        return inner
    if rule == "weighted":
        comps = {str(k): float(v) for k, v in spec["components"].items()}
    else:
        comps = {c: 0.5 for c in hybrid_components(spec)}
    tot = sum(comps.values()) or 1.0
    out = []
    for c, w in comps.items():
        inner = model_inputs(c, config, depth + 1)
        if inner is None:
            return None
        out += [(m, ww * w / tot) for m, ww in inner]
    return out


def model_components(name: str, config: dict) -> set[str]:
    """Panel metrics a model's score is made of (weight > 0), hybrids through their parts."""
    needs = model_inputs(name, config) or []
    return {m for m, w in needs if w > 0 and m != "ratings" and not m.startswith("360")}
