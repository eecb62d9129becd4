"""Shared scoring helpers: normalisation, weighted means with missing parts, ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["agent_id", "period"]
SCORE_COLUMNS = ["agent_id", "period", "score", "rank"]
COMPONENT_COLUMNS = ["agent_id", "period", "component", "value", "weight"]


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame({"agent_id": pd.Series(dtype=str), "period": pd.Series(dtype=str),
                         "score": pd.Series(dtype=float), "rank": pd.Series(dtype="int64")})


def empty_components() -> pd.DataFrame:
    return pd.DataFrame({"agent_id": pd.Series(dtype=str), "period": pd.Series(dtype=str),
                         "component": pd.Series(dtype=str), "value": pd.Series(dtype=float),
                         "weight": pd.Series(dtype=float)})


def eligible(panel: pd.DataFrame, config: dict, notes: list[str]) -> pd.DataFrame:
    """Rows with at least ``min_calls`` handled calls (the rest are noted, not scored)."""
    min_calls = int(config.get("min_calls", 1))
    if "calls" not in panel.columns or min_calls <= 1:
        return panel.copy()
    keep = panel["calls"] >= min_calls
    n_drop = int((~keep).sum())
    if n_drop:
        notes.append(f"{n_drop} agent-period(s) with fewer than {min_calls} handled calls "
                     "not scored (min_calls)")
    return panel.loc[keep].copy()


def normalise(values: pd.Series, period: pd.Series, *, direction: str, method: str,
              target: float | None = None, cap: float = 1.2, floor: float = 0.0) -> pd.Series:
    """Put one metric on a common higher-is-better scale.

    ``attainment``: value/target (higher is better) or target/value (lower), clipped to
    ``[floor, cap]`` (a zero value of a lower-is-better metric attains ``cap``);
    ``zscore``: within-period z-score, sign flipped for lower-is-better (0 when the
    period has no spread); ``percentile``: within-period percentile rank in (0, 1]
    (average ranks for ties), flipped for lower-is-better.
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    if method == "attainment":
        t = float(target)
        if direction == "higher":
            out = v / t
        else:
            with np.errstate(divide="ignore"):
                out = pd.Series(np.where(v > 0, t / v.where(v > 0, np.nan), np.inf),
                                index=v.index).where(v.notna())
        return out.clip(lower=floor, upper=cap)
    sign = 1.0 if direction == "higher" else -1.0
    if method == "zscore":
        g = v.groupby(period)
        sd = g.transform("std")
        z = (v - g.transform("mean")) / sd
        z = z.where(~(sd.fillna(0) == 0), 0.0).where(v.notna())
        return sign * z
    if method == "percentile":
        return (sign * v).groupby(period).rank(pct=True, method="average")
    raise ValueError(f"unknown normalisation {method!r}")


def weighted_score(frame: pd.DataFrame, parts: dict[str, float]) -> tuple[pd.Series, pd.DataFrame]:
    """Weighted mean of the normalised ``parts`` columns of ``frame``, per row.

    A part missing in a row gives its weight to the others (renormalised), so
    ``sum(weight * value) == score`` for every row. Returns the score and the
    long components (with the effective weights).
    """
    names = list(parts)
    vals = frame[names].astype(float)
    w = pd.DataFrame({n: np.where(vals[n].notna(), float(parts[n]), 0.0) for n in names},
                     index=frame.index)
    wsum = w.sum(axis=1)
    weff = w.div(wsum.where(wsum > 0), axis=0)
    score = (vals.fillna(0.0) * weff).sum(axis=1).where(wsum > 0)
    comp = vals.assign(agent_id=frame["agent_id"], period=frame["period"]).melt(
        id_vars=KEYS, var_name="component", value_name="value")
    wl = weff.assign(agent_id=frame["agent_id"], period=frame["period"]).melt(
        id_vars=KEYS, var_name="component", value_name="weight")
    comp["weight"] = wl["weight"].fillna(0.0).to_numpy()
    return score, comp[COMPONENT_COLUMNS]


def rank_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Add ``rank`` within period (1 = best; ties share the minimum rank); NaN scores dropped."""
    s = scores.dropna(subset=["score"]).copy()
    s["agent_id"] = s["agent_id"].astype(str)
    s["period"] = s["period"].astype(str)
    s["rank"] = s.groupby("period")["score"].rank(ascending=False, method="min").astype("int64")
    extra = [c for c in s.columns if c not in SCORE_COLUMNS]
    return s[SCORE_COLUMNS + extra].sort_values(["period", "rank", "agent_id"], ignore_index=True)


def score_weighted_metrics(panel: pd.DataFrame, metrics: dict, *, method: str, cap: float,
                           floor: float, notes: list[str], label: str = "") -> pd.DataFrame:
    """Normalise each configured metric of ``panel``; return a frame of normalised columns.

    Metrics absent from the panel or missing in every row are dropped (noted); the
    caller renormalises weights.
    """
    out = panel[KEYS].copy()
    for name, spec in metrics.items():
        if float(spec.get("weight", 0)) <= 0:
            continue
        where = f"{label}{name}"
        if name not in panel.columns or panel[name].isna().all():
            notes.append(f"no {name} in the data: {where} left out, its weight shared among "
                         "the other metrics")
            continue
        n_missing = int(panel[name].isna().sum())
        if n_missing:
            notes.append(f"{name} missing for {n_missing} agent-period(s): their weight "
                         "shared among the other metrics")
        out[name] = normalise(panel[name], panel["period"], direction=spec["direction"],
                              method=method, target=spec.get("target"), cap=cap, floor=floor)
        if method == "attainment":
            note = _saturation_note(out[name], panel[name], spec, cap=cap, floor=floor,
                                    where=where)
            if note:
                notes.append(note)
    return out


#: Share of agent-periods at the cap (or floor) above which a target is reported as
#: not separating agents.
SATURATION_SHARE = 0.5


def _saturation_note(norm: pd.Series, raw: pd.Series, spec: dict, *, cap: float, floor: float,
                     where: str) -> str | None:
    """A note when most agent-periods sit at the cap or floor of an attainment metric.

    An absolute target far from a center's values (the illustrative defaults on a
    center that works differently) puts most agents at the cap or the floor: the
    metric then adds the same value to everyone and separates no one.
    """
    v = norm.dropna()
    if len(v) < 2:
        return None
    tol = 1e-9
    for bound, share in (("cap", float((v >= cap - tol).mean())),
                         ("floor", float((v <= floor + tol).mean()))):
        if share > SATURATION_SHARE:
            return (f"{where}: {share:.0%} of agent-periods sit at the {bound} "
                    f"(target {spec.get('target')!r}, the center's median "
                    f"{float(raw.median()):.4g}), so it hardly separates agents: set a "
                    "target for this center in the model configuration")
    return None
