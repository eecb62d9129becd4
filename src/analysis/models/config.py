"""Model configuration: packaged defaults, deep-merged user YAML, validated on load."""

from __future__ import annotations

from pathlib import Path

import yaml

from .._yamltext import yaml_text
from ..config import MIN_360_GROUP
from ..contract import RATER_GROUPS
from ..criteria import CRITERIA
from ..errors import ConfigError
from ..metrics import metric_names
from ._merge import deep_merge

__all__ = ["DEFAULTS_PATH", "load_model_config", "deep_merge", "validate_config",
           "NORMALISATIONS", "config_table"]

DEFAULTS_PATH = Path(__file__).with_name("defaults.yml")
NORMALISATIONS = ("attainment", "zscore", "percentile")
_DIRECTIONS = ("higher", "lower")




def _read_yaml(path: Path) -> dict:
    try:
        text = yaml_text(path, f"config {Path(path).name}")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{Path(path).name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{Path(path).name}: the top level must be a mapping")
    return _str_keys(data)


def _str_keys(obj):
    if isinstance(obj, dict):
        return {str(k): _str_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_str_keys(v) for v in obj]
    return obj


def load_model_config(path: str | Path | None = None, *, override: dict | None = None) -> dict:
    """The packaged defaults deep-merged with a user YAML (and/or a dict), validated.

    Parameters
    ----------
    path : str or Path, optional
        User YAML; any part of ``defaults.yml`` may be overridden.
    override : dict, optional
        Applied after ``path`` (handy in code and tests).

    Returns
    -------
    dict
        The merged configuration.

    Raises
    ------
    ConfigError
        Naming the offending key, e.g. ``kpi.metrics.aht_s.direction``.
    """
    defaults = _read_yaml(DEFAULTS_PATH)
    cfg = defaults
    if path is not None:
        user = _read_yaml(Path(path))
        _check_known_keys(user, defaults)
        cfg = deep_merge(cfg, user)
    if override:
        override = _str_keys(override)
        _check_known_keys(override, defaults)
        cfg = deep_merge(cfg, override)
    validate_config(cfg)
    return cfg


#: Sections whose own keys are fixed by defaults.yml (their sub-mappings such as
#: ``kpi.metrics`` or ``bsc.perspectives`` are named by the user and checked later).
_FIXED_SECTIONS = ("kpi", "okr", "bsc", "360", "compare", "recommendation")


def _check_known_keys(user: dict, defaults: dict) -> None:
    """A typo must not pass silently: every key a user sets at the top level, and
    directly inside a fixed section, must exist in the defaults."""
    if not isinstance(user, dict):
        raise ConfigError(f"configuration: expected a mapping, got {type(user).__name__}")
    for key, value in user.items():
        if key not in defaults:
            raise ConfigError(f"{key}: unknown configuration key "
                              f"(known: {', '.join(sorted(map(str, defaults)))})")
        if key in _FIXED_SECTIONS and isinstance(value, dict) and isinstance(defaults[key], dict):
            for sub in value:
                if sub not in defaults[key]:
                    raise ConfigError(f"{key}.{sub}: unknown configuration key (known: "
                                      f"{', '.join(sorted(map(str, defaults[key])))})")


def _num(value, key: str, *, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{key}: must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: must be >= {minimum}, got {value!r}")
    return float(value)


def _mapping(value, key: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
    return value


def _check_metric_spec(spec, key: str, *, known: set[str], needs_target: bool) -> None:
    spec = _mapping(spec, key)
    unknown = set(spec) - {"weight", "target", "direction"}
    if unknown:
        raise ConfigError(f"{key}: unknown field(s) {', '.join(sorted(unknown))}")
    name = key.rsplit(".", 1)[-1]
    if name not in known and not ("360" in known and name.startswith("360:") and len(name) > 4):
        raise ConfigError(f"{key}: unknown metric {name!r} (known: {', '.join(sorted(known))})")
    _num(spec.get("weight"), f"{key}.weight", minimum=0)
    if spec.get("direction") not in _DIRECTIONS:
        raise ConfigError(f"{key}.direction: {spec.get('direction')!r} is not one of higher, lower")
    if needs_target:
        if "target" not in spec:
            raise ConfigError(f"{key}.target: missing (attainment needs a target)")
        _num(spec["target"], f"{key}.target", positive=True)


def _check_weighted(section: dict, key: str, metrics_key: str, known: set[str]) -> None:
    norm = section.get("normalisation", "attainment")
    if norm not in NORMALISATIONS:
        raise ConfigError(f"{key}.normalisation: {norm!r} is not one of {', '.join(NORMALISATIONS)}")
    cap = _num(section.get("cap", 1.2), f"{key}.cap", positive=True)
    floor = _num(section.get("floor", 0.0), f"{key}.floor", minimum=0)
    if floor >= cap:
        raise ConfigError(f"{key}.floor: must be below {key}.cap")
    metrics = _mapping(section.get(metrics_key, {}), f"{key}.{metrics_key}")
    if not metrics:
        raise ConfigError(f"{key}.{metrics_key}: no metrics")
    for name, spec in metrics.items():
        _check_metric_spec(spec, f"{key}.{metrics_key}.{name}", known=known,
                           needs_target=norm == "attainment")
    if sum(float(s["weight"]) for s in metrics.values()) <= 0:
        raise ConfigError(f"{key}.{metrics_key}: weights sum to zero")


def validate_config(cfg: dict) -> None:
    """Raise :class:`ConfigError` naming the first offending key."""
    known = set(metric_names())
    _num(cfg.get("min_calls", 1), "min_calls", minimum=1)
    models = cfg.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, (str, int)) for m in models):
        raise ConfigError("models: expected a list of model names")
    cfg["models"] = [str(m) for m in models]

    if "kpi" in cfg:
        _check_weighted(_mapping(cfg["kpi"], "kpi"), "kpi", "metrics", known)

    if "okr" in cfg:
        okr = _mapping(cfg["okr"], "okr")
        g = _num(okr.get("target_grade_with_stretch", 0.7), "okr.target_grade_with_stretch",
                 positive=True)
        if g > 1:
            raise ConfigError("okr.target_grade_with_stretch: must be <= 1")
        bands = _mapping(okr.get("bands", {"yellow": 0.4, "green": 0.7}), "okr.bands")
        y = _num(bands.get("yellow"), "okr.bands.yellow", minimum=0)
        gr = _num(bands.get("green"), "okr.bands.green", minimum=0)
        if not y < gr <= 1:
            raise ConfigError("okr.bands: need 0 <= yellow < green <= 1")
        if "default" in okr:
            from .okr import parse_okr  # local: okr imports this module

            parse_okr(okr["default"], key="okr.default", default=True)

    if "bsc" in cfg:
        bsc = _mapping(cfg["bsc"], "bsc")
        persp = _mapping(bsc.get("perspectives"), "bsc.perspectives")
        if not persp:
            raise ConfigError("bsc.perspectives: none given")
        total = 0.0
        for pname, p in persp.items():
            key = f"bsc.perspectives.{pname}"
            p = _mapping(p, key)
            total += _num(p.get("weight"), f"{key}.weight", minimum=0)
            sub = {"normalisation": bsc.get("normalisation", "attainment"),
                   "cap": bsc.get("cap", 1.2), "floor": bsc.get("floor", 0.0),
                   "metrics": p.get("metrics")}
            _check_weighted(sub, key, "metrics", known | {"360"})
        if total <= 0:
            raise ConfigError("bsc.perspectives: weights sum to zero")

    if "360" in cfg:
        r = _mapping(cfg["360"], "360")
        scale = r.get("scale", [1, 5])
        if not (isinstance(scale, list) and len(scale) == 2):
            raise ConfigError("360.scale: expected [min, max]")
        lo = _num(scale[0], "360.scale[0]")
        hi = _num(scale[1], "360.scale[1]")
        if not lo < hi:
            raise ConfigError("360.scale: min must be below max")
        groups = set(RATER_GROUPS) - {"self"}
        gw = _mapping(r.get("group_weights", {}), "360.group_weights")
        for gname, w in gw.items():
            if gname not in groups:
                raise ConfigError(f"360.group_weights.{gname}: not a rater group "
                                  f"(known: {', '.join(sorted(groups))}; self is never weighted)")
            _num(w, f"360.group_weights.{gname}", minimum=0)
        if sum(float(w) for w in gw.values()) <= 0:
            raise ConfigError("360.group_weights: weights sum to zero")
        mg = r.get("min_group", MIN_360_GROUP)
        if isinstance(mg, bool) or not isinstance(mg, int):
            raise ConfigError(f"360.min_group: expected an integer, got {mg!r}")
        if mg < MIN_360_GROUP:
            raise ConfigError(f"360.min_group: {mg} is below the floor of {MIN_360_GROUP} "
                              "(anonymity of raters)")
        anon = r.get("anonymous_groups", [])
        if not isinstance(anon, list) or any(a not in groups for a in anon):
            raise ConfigError("360.anonymous_groups: expected a list of rater groups")
        if r.get("leniency", "rater_mean") not in ("none", "rater_mean"):
            raise ConfigError(f"360.leniency: {r.get('leniency')!r} is not one of none, rater_mean")

    if "hybrids" in cfg:
        _check_hybrids(cfg, known)

    if "recommendation" in cfg:
        rc = _mapping(cfg["recommendation"], "recommendation")
        w = _mapping(rc.get("weights") or {}, "recommendation.weights")
        for k, v in w.items():
            if k not in CRITERIA:
                raise ConfigError(f"recommendation.weights.{k}: unknown criterion "
                                  f"(known: {', '.join(CRITERIA)})")
            _num(v, f"recommendation.weights.{k}", minimum=0)
        if w and sum(float(v) for v in w.values()) <= 0:
            raise ConfigError("recommendation.weights: weights sum to zero")
        if rc.get("priorities") is not None:
            from ..criteria import parse_priorities

            parse_priorities(rc["priorities"], key="recommendation.priorities")
        _check_bootstrap(rc, "recommendation", n_boot=200, ci=0.9)
        nd = rc.get("n_draws", 5000)
        if isinstance(nd, bool) or not isinstance(nd, int) or nd < 100:
            raise ConfigError(f"recommendation.n_draws: expected an integer >= 100, got {nd!r}")
        dose = _num(rc.get("gaming_dose", 0.1), "recommendation.gaming_dose", positive=True)
        if dose > 1:
            raise ConfigError("recommendation.gaming_dose: must be <= 1")
        ga = rc.get("gaming_agents", 12)
        if isinstance(ga, bool) or not isinstance(ga, int) or ga < 0:
            raise ConfigError(f"recommendation.gaming_agents: expected an integer >= 0, "
                              f"got {ga!r}")

    if "compare" in cfg:
        c = _mapping(cfg["compare"], "compare")
        outcomes = _mapping(c.get("outcomes", {}), "compare.outcomes")
        for name, d in outcomes.items():
            if name not in known:
                raise ConfigError(f"compare.outcomes.{name}: unknown metric")
            if d not in _DIRECTIONS:
                raise ConfigError(f"compare.outcomes.{name}: {d!r} is not one of higher, lower")
        fb = c.get("fairness_by", [])
        if not isinstance(fb, list):
            raise ConfigError("compare.fairness_by: expected a list of column names")
        _check_bootstrap(c, "compare", n_boot=1000, ci=0.95)


def _check_bootstrap(section: dict, key: str, *, n_boot: int, ci: float) -> None:
    """``<key>.n_boot`` (an integer >= 0) and ``<key>.ci`` (a level in (0, 1))."""
    nb = section.get("n_boot", n_boot)
    if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
        raise ConfigError(f"{key}.n_boot: expected an integer >= 0, got {nb!r}")
    if _num(section.get("ci", ci), f"{key}.ci", positive=True) >= 1:
        raise ConfigError(f"{key}.ci: must be below 1")


def _check_hybrids(cfg: dict, known: set[str]) -> None:
    from .hybrid import HYBRID_RULES, hybrid_components, register_hybrids

    hy = _mapping(cfg["hybrids"], "hybrids")
    pure = {"kpi", "okr", "bsc", "360"}
    for name, spec in hy.items():
        key = f"hybrids.{name}"
        if name in pure:
            raise ConfigError(f"{key}: the name of a pure model; choose another")
        spec = _mapping(spec, key)
        rule = spec.get("rule", "weighted")
        if rule not in HYBRID_RULES:
            raise ConfigError(f"{key}.rule: {rule!r} is not one of {', '.join(HYBRID_RULES)}")
        if rule == "weighted":
            comps = _mapping(spec.get("components"), f"{key}.components")
            if not comps:
                raise ConfigError(f"{key}.components: none given")
            for m, w in comps.items():
                _num(w, f"{key}.components.{m}", minimum=0)
            if sum(float(w) for w in comps.values()) <= 0:
                raise ConfigError(f"{key}.components: weights sum to zero")
            if spec.get("scale", "percentile") not in ("percentile", "zscore"):
                raise ConfigError(f"{key}.scale: {spec.get('scale')!r} is not one of "
                                  "percentile, zscore")
        elif rule == "floor":
            for k in ("floor_model", "improvement_model"):
                if not isinstance(spec.get(k), (str, int)):
                    raise ConfigError(f"{key}.{k}: missing (the name of a model)")
            if "floor_quantile" in spec:
                q = _num(spec["floor_quantile"], f"{key}.floor_quantile", minimum=0)
                if q >= 1:
                    raise ConfigError(f"{key}.floor_quantile: must be below 1")
            else:
                _num(spec.get("floor"), f"{key}.floor")
            _num(spec.get("penalty", 1.0), f"{key}.penalty", minimum=0)
        else:
            base = spec.get("base")
            if base not in ("kpi", "bsc"):
                raise ConfigError(f"{key}.base: {base!r} is not one of kpi, bsc")
            req = spec.get("requires", [])
            if not isinstance(req, list) or any(r not in ("ratings", "okr") for r in req):
                raise ConfigError(f"{key}.requires: expected a list of ratings, okr")
            merged = deep_merge(cfg.get(base) or {}, _mapping(spec.get("config", {}),
                                                              f"{key}.config"))
            sub = {"models": [], base: merged}
            try:
                validate_config(sub)
            except ConfigError as exc:
                raise ConfigError(f"{key}.config: {exc}") from None
    names = register_hybrids(cfg)
    for name in names:
        for comp in hybrid_components(hy[name]):
            if comp not in pure and comp not in hy:
                from . import MODELS

                if comp not in MODELS:
                    raise ConfigError(f"hybrids.{name}: unknown component model {comp!r}")


def config_table(cfg: dict):
    """The weighted parts of each model, for reports.

    Returns
    -------
    DataFrame
        ``model, group, item, weight, target, direction``: KPI metrics (group ``kpi``),
        scorecard metrics (group = perspective, weight = perspective weight x metric
        share), default OKR key results (group = objective, target = the improvement
        fraction) and 360 rater groups.
    """
    import pandas as pd

    rows = []
    kpi = cfg.get("kpi") or {}
    total = sum(float(m["weight"]) for m in (kpi.get("metrics") or {}).values()) or 1.0
    for name, m in (kpi.get("metrics") or {}).items():
        rows.append(("kpi", "kpi", name, float(m["weight"]) / total, m.get("target"),
                     m["direction"]))
    bsc = cfg.get("bsc") or {}
    persp = bsc.get("perspectives") or {}
    ptotal = sum(float(p["weight"]) for p in persp.values()) or 1.0
    for pname, p in persp.items():
        mt = sum(float(m["weight"]) for m in p["metrics"].values()) or 1.0
        for name, m in p["metrics"].items():
            w = float(p["weight"]) / ptotal * float(m["weight"]) / mt
            rows.append(("bsc", pname, name, w, m.get("target"), m["direction"]))
    okr = (cfg.get("okr") or {}).get("default") or {}
    objs = okr.get("objectives") or []
    for o in objs:
        krs = o.get("key_results") or []
        for kr in krs:
            rows.append(("okr", o["id"], kr["metric"], 1 / len(objs) / len(krs),
                         kr.get("improvement"), kr["direction"]))
    r360 = cfg.get("360") or {}
    gw = r360.get("group_weights") or {}
    gtotal = sum(float(w) for w in gw.values()) or 1.0
    for g, w in gw.items():
        rows.append(("360", "rater_group", g, float(w) / gtotal, None, "higher"))
    return pd.DataFrame(rows, columns=["model", "group", "item", "weight", "target",
                                       "direction"])
