"""OKR model: key results graded 0.0-1.0 between baseline and target (Doerr 2018).

Grading (one key result, one agent-period, value ``v``): linear from
``baseline`` (0.0) to ``target`` (1.0), or, when a ``stretch`` is given, from
``baseline`` (0.0) to ``target`` (``okr.target_grade_with_stretch``, default 0.7)
to ``stretch`` (1.0); clipped to [0, 1]; mirrored for lower-is-better metrics.
An objective's grade is the mean of its key results, the score the mean of the
objectives. Bands: red < 0.4 <= yellow < 0.7 <= green (Doerr's 0-0.3 / 0.4-0.6
/ 0.7-1.0 with the gaps closed upwards; configurable in ``okr.bands``).

The OKR file (``okr.yml`` from ``ccpm synth``)::

    objectives:
      - id: efficiency
        title: Handle calls efficiently
        key_results:
          - {id: kr_aht, metric: aht_s, direction: lower, baseline: 420, target: 360,
             stretch: 330}
    agents:          # optional per-agent targets; keys are key-result ids
      A0001: {kr_aht: {baseline: 450, target: 400}}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .._yamltext import yaml_text
from ..errors import ConfigError
from ..metrics import metric_names
from ._base import MODELS, ModelResult
from ._scoring import eligible, empty_components, empty_scores, rank_scores

__all__ = ["okr_model", "load_okr", "parse_okr", "grade", "band", "default_okr", "not_improving"]


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _check_levels(kr: dict, key: str) -> None:
    b, t, s = kr.get("baseline"), kr.get("target"), kr.get("stretch")
    for name, v in (("baseline", b), ("target", t)):
        if not _is_num(v):
            raise ConfigError(f"{key}.{name}: expected a number, got {v!r}")
    if s is not None and not _is_num(s):
        raise ConfigError(f"{key}.stretch: expected a number, got {s!r}")
    # A target that is no improvement on the baseline is accepted (it happens: it is
    # what sandbagging looks like) and graded met / not met; see :func:`grade`.


def parse_okr(data: dict, *, key: str = "okr", default: bool = False) -> dict:
    """Validate an OKR mapping; return it normalised.

    ``default=True`` parses the configuration's default set, whose key results give
    ``improvement``/``stretch_improvement`` fractions instead of baseline/target.
    Raises :class:`ConfigError` naming the offending key.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: expected a mapping with 'objectives'")
    objs = data.get("objectives")
    if not isinstance(objs, list) or not objs:
        raise ConfigError(f"{key}.objectives: expected a non-empty list")
    known = set(metric_names())
    out_objs, kr_ids = [], set()
    for i, o in enumerate(objs):
        ok = f"{key}.objectives[{i}]"
        if not isinstance(o, dict) or "id" not in o:
            raise ConfigError(f"{ok}.id: missing")
        krs = o.get("key_results")
        if not isinstance(krs, list) or not krs:
            raise ConfigError(f"{ok}.key_results: expected a non-empty list")
        out_krs = []
        for j, kr in enumerate(krs):
            kk = f"{ok}.key_results[{j}]"
            if not isinstance(kr, dict):
                raise ConfigError(f"{kk}: expected a mapping")
            if "id" not in kr:
                raise ConfigError(f"{kk}.id: missing")
            kid = str(kr["id"])
            if kid in kr_ids:
                raise ConfigError(f"{kk}.id: {kid!r} is used twice")
            kr_ids.add(kid)
            if kr.get("metric") not in known:
                raise ConfigError(f"{kk}.metric: {kr.get('metric')!r} is not a panel metric")
            if kr.get("direction") not in ("higher", "lower"):
                raise ConfigError(f"{kk}.direction: {kr.get('direction')!r} is not one of "
                                  "higher, lower")
            item = {"id": kid, "metric": kr["metric"], "direction": kr["direction"]}
            if default:
                for f in ("improvement", "stretch_improvement"):
                    v = kr.get(f)
                    if v is not None and not (_is_num(v) and 0 < v < 1):
                        raise ConfigError(f"{kk}.{f}: expected a fraction in (0, 1), got {v!r}")
                    item[f] = v
                if item["improvement"] is None:
                    raise ConfigError(f"{kk}.improvement: missing")
                if item["stretch_improvement"] is not None and not (
                        item["stretch_improvement"] > item["improvement"]):
                    raise ConfigError(f"{kk}.stretch_improvement: must exceed improvement")
            else:
                item.update(baseline=kr.get("baseline"), target=kr.get("target"),
                            stretch=kr.get("stretch"))
                _check_levels(item, kk)
            out_krs.append(item)
        out_objs.append({"id": str(o["id"]), "title": str(o.get("title", o["id"])),
                         "key_results": out_krs})
    agents = data.get("agents") or {}
    if not isinstance(agents, dict):
        raise ConfigError(f"{key}.agents: expected a mapping agent_id -> key results")
    by_id = {kr["id"]: kr for o in out_objs for kr in o["key_results"]}
    out_agents: dict[str, dict] = {}
    for agent, krs in agents.items():
        ak = f"{key}.agents.{agent}"
        if not isinstance(krs, dict):
            raise ConfigError(f"{ak}: expected a mapping of key-result ids")
        out_agents[str(agent)] = {}
        for kid, levels in krs.items():
            if str(kid) not in by_id:
                raise ConfigError(f"{ak}.{kid}: no key result with this id")
            if not isinstance(levels, dict) or set(levels) - {"baseline", "target", "stretch"}:
                raise ConfigError(f"{ak}.{kid}: expected baseline/target/stretch")
            merged = {**by_id[str(kid)], **levels}
            if "stretch" not in levels and "target" in levels:
                merged["stretch"] = None  # a per-agent target without stretch: no stretch
            if not default:
                _check_levels(merged, f"{ak}.{kid}")
            out_agents[str(agent)][str(kid)] = {k: merged.get(k) for k in
                                                ("baseline", "target", "stretch")}
    return {"objectives": out_objs, "agents": out_agents}


def load_okr(path: str | Path) -> dict:
    """Read and validate an OKR YAML file (format in the module docstring)."""
    p = Path(path)
    try:
        data = yaml.safe_load(yaml_text(p, f"OKR file {p.name}"))
    except FileNotFoundError:
        raise ConfigError(f"OKR file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_okr(data, key=p.name)


def grade(value, baseline, target, stretch=None, *, direction: str = "higher",
          target_grade: float = 0.7):
    """Grade values 0.0-1.0 (vectorised; NaN stays NaN).

    Without ``stretch``: ``(v - baseline) / (target - baseline)``; with it, baseline ->
    0, target -> ``target_grade``, stretch -> 1. Clipped to [0, 1]; for
    ``direction="lower"`` all levels are mirrored. A target that is no improvement on
    its baseline (in the metric's direction) cannot be interpolated: the key result is
    graded 1.0 when the value is at or better than the target, else 0.0. A stretch that
    is not beyond the target is ignored.
    """
    v = np.asarray(value, dtype=float)
    sgn = 1.0 if direction == "higher" else -1.0
    v, b, t = sgn * v, sgn * np.asarray(baseline, float), sgn * np.asarray(target, float)
    d = t - b
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = np.where(d > 0, (v - b) / np.where(d > 0, d, 1.0),
                         np.where(v >= t, 1.0, 0.0))
        g = plain
        if stretch is not None:
            s = sgn * np.asarray(stretch, float)
            ok = (d > 0) & np.isfinite(s) & (s > t)
            lo = target_grade * (v - b) / np.where(d > 0, d, 1.0)
            hi = target_grade + (1 - target_grade) * (v - t) / np.where(ok, s - t, 1.0)
            g = np.where(ok, np.where(v <= t, lo, hi), plain)
    g = np.where(np.isnan(v), np.nan, g)
    return np.clip(g, 0.0, 1.0)


def not_improving(baseline, target, *, direction: str) -> np.ndarray:
    """True where the target is no improvement on the baseline (graded met / not met)."""
    sgn = 1.0 if direction == "higher" else -1.0
    return sgn * (np.asarray(target, float) - np.asarray(baseline, float)) <= 0


def band(score, *, yellow: float = 0.4, green: float = 0.7):
    """``red`` below ``yellow``, ``yellow`` below ``green``, else ``green`` (NaN -> None)."""
    s = pd.Series(score, dtype=float)
    out = np.where(s >= green, "green", np.where(s >= yellow, "yellow", "red"))
    return pd.Series(out, index=s.index).where(s.notna(), None)


def default_okr(panel: pd.DataFrame, config: dict, notes: list[str] | None = None) -> dict:
    """The configuration's default OKR set, baselines = center median in the first period."""
    notes = notes if notes is not None else []
    spec = parse_okr(config["okr"]["default"], key="okr.default", default=True)
    first = sorted(panel["period"].astype(str).unique())[0]
    p0 = panel[panel["period"].astype(str) == first]
    objs = []
    for o in spec["objectives"]:
        krs = []
        for kr in o["key_results"]:
            m = kr["metric"]
            base = float(p0[m].median()) if m in p0 and p0[m].notna().any() else np.nan
            if not np.isfinite(base) or base == 0:
                notes.append(f"default OKR {kr['id']}: no usable first-period baseline for {m}; "
                             "key result left out")
                continue
            sgn = 1.0 if kr["direction"] == "higher" else -1.0
            target = base * (1 + sgn * kr["improvement"])
            stretch = (None if kr["stretch_improvement"] is None
                       else base * (1 + sgn * kr["stretch_improvement"]))
            krs.append({"id": kr["id"], "metric": m, "direction": kr["direction"],
                        "baseline": base, "target": target, "stretch": stretch})
        if krs:
            objs.append({"id": o["id"], "title": o["title"], "key_results": krs})
    notes.append(f"no OKR file: default key results, baselines = center median of {first}")
    return {"objectives": objs, "agents": {}}


@MODELS.register("okr")
def okr_model(panel: pd.DataFrame, config: dict, *, ratings=None, okr=None) -> ModelResult:
    """Grade agents' key results and average them into objectives and a score.

    Parameters
    ----------
    panel : DataFrame
        From :func:`analysis.panel.build_panel`.
    config : dict
        Uses ``okr`` (grading, bands, default set) and ``min_calls``.
    okr : dict or path, optional
        OKR set (see module docstring); without it, :func:`default_okr`.

    Returns
    -------
    ModelResult
        ``scores``: agent_id, period, score (0-1), rank, band (red/yellow/green);
        ``components``: one row per key result (``component`` = ``objective/kr``)
        with its grade and effective weight (``sum(weight * value) == score``).

    References
    ----------
    Doerr, J. (2018). *Measure What Matters*. Portfolio/Penguin.
    """
    notes: list[str] = []
    ocfg = config.get("okr") or {}
    tg = float(ocfg.get("target_grade_with_stretch", 0.7))
    bands = ocfg.get("bands") or {"yellow": 0.4, "green": 0.7}
    rows = eligible(panel, config, notes)
    if rows.empty:
        return ModelResult("okr", empty_scores(), empty_components(), False,
                           "no agent-period has enough calls to score", notes)
    if okr is None:
        if "default" not in ocfg:
            return ModelResult("okr", empty_scores(), empty_components(), False,
                               "no OKR file and no okr.default in the configuration", notes)
        spec = default_okr(rows, config, notes)
    elif isinstance(okr, (str, Path)):
        spec = load_okr(okr)
    else:
        spec = parse_okr(okr)
    agents = rows["agent_id"].astype(str)
    comps, weights_obj = [], []
    for o in spec["objectives"]:
        grades = {}
        for kr in o["key_results"]:
            m = kr["metric"]
            if m not in rows or rows[m].isna().all():
                notes.append(f"key result {kr['id']}: no {m} in the data; left out")
                continue
            lv = {k: pd.Series(kr[k], index=rows.index, dtype=float)
                  if kr[k] is not None else pd.Series(np.nan, index=rows.index)
                  for k in ("baseline", "target", "stretch")}
            own = {a: krs[kr["id"]] for a, krs in spec.get("agents", {}).items()
                   if kr["id"] in krs}
            if own:
                sel = agents.isin(list(own)).to_numpy()
                for k in ("baseline", "target", "stretch"):
                    per = {a: (np.nan if lv_.get(k) is None else float(lv_[k]))
                           for a, lv_ in own.items()}
                    lv[k] = lv[k].mask(sel, agents.map(per).astype(float))
            g = grade(rows[m], lv["baseline"], lv["target"], lv["stretch"],
                      direction=kr["direction"], target_grade=tg)
            flat = not_improving(lv["baseline"], lv["target"], direction=kr["direction"])
            if flat.any():
                who = sorted(set(agents[flat]))
                notes.append(f"key result {kr['id']}: target no improvement on the baseline for "
                             f"{len(who)} agent(s) ({', '.join(who[:5])}"
                             f"{', ...' if len(who) > 5 else ''}): graded met (1) / not met (0); "
                             "possible sandbagging")
            grades[f"{o['id']}/{kr['id']}"] = pd.Series(g, index=rows.index).where(rows[m].notna())
        if grades:
            weights_obj.append(grades)
    if not weights_obj:
        return ModelResult("okr", empty_scores(), empty_components(), False,
                           "none of the key results' metrics is in the data", notes)
    # objective grade = mean of available KRs; score = mean of available objectives
    obj_grades, kr_w = [], {}
    for grades in weights_obj:
        g = pd.DataFrame(grades)
        n_avail = g.notna().sum(axis=1)
        obj_grades.append(g.mean(axis=1))
        for name in g:
            kr_w[name] = g[name].notna().astype(float) / n_avail.where(n_avail > 0)
    og = pd.concat(obj_grades, axis=1)
    n_obj = og.notna().sum(axis=1)
    score = og.mean(axis=1)
    obj_index = 0
    for grades in weights_obj:
        og_avail = og.iloc[:, obj_index].notna().astype(float)
        for name in grades:
            w = (kr_w[name] * og_avail / n_obj.where(n_obj > 0)).fillna(0.0)
            comps.append(pd.DataFrame({"agent_id": agents, "period": rows["period"].astype(str),
                                       "component": name, "value": grades[name], "weight": w}))
        obj_index += 1
    scores = rows[["agent_id", "period"]].assign(score=score)
    scores = rank_scores(scores)
    scores["band"] = band(scores["score"], yellow=float(bands["yellow"]),
                          green=float(bands["green"])).to_numpy()
    comp = pd.concat(comps, ignore_index=True)
    return ModelResult("okr", scores, comp, True, "", notes)

