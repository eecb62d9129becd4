"""The model-comparison section (``model_comparison.ipynb``): agreement between the
models, their properties, each model's top and bottom agents, the OKR file and the 360
ratings by rater group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...config import MIN_360_GROUP
from .. import i18n, results
from ..blocks import Markdown, Table, text
from ..i18n import tm
from ..inputs import ReportInputs
from .labels import library_text, metric_name, model_label, pct0

__all__ = ["model_top_bottom", "agreement_text", "model_properties", "agreement_table",
           "okr_table", "ratings_by_group"]


def model_top_bottom(cmp, model: str, lang: str = "en", n: int = 5, *,
                     inputs: ReportInputs | None = None) -> Table | Markdown:
    """Top and bottom ``n`` agents of ``model`` in the latest full period (``rank,
    agent_id, score``); with ``inputs``, a partial last period (a stub month) is skipped
    and named."""
    s = cmp.scores
    s = s[s["model"].astype(str) == model]
    if s.empty or s["score"].isna().all():
        return Markdown(tm("models.not_computable", lang, model=model_label(model, lang),
                          reason=_reason(cmp, model, lang)))
    days = results.center(inputs).period_days if inputs is not None else None
    scored = s.dropna(subset=["score"])["period"].astype(str).unique().tolist()
    last, stub = results.ranked_period(scored, days)
    s = s[s["period"].astype(str) == last].dropna(subset=["score"]).sort_values("rank")
    pick = pd.concat([s.head(n), s.tail(n)]).drop_duplicates(subset=["agent_id"])
    note = (tm("models.top.partial", lang, period=last, stub=stub, days=days[stub])
            if stub and days else tm("models.top.period", lang, period=last,
                                     days=(days or {}).get(last, "–")))
    # ties at either end: the rows shown are a few of the tied agents (the bank's KPI had
    # 22 of 32 agents at the cap, five of them listed in alphabetical order)
    ties = []
    for edge in (s["score"].iloc[min(n, len(s)) - 1], s["score"].iloc[max(len(s) - n, 0)]):
        tied = int((s["score"] == edge).sum())
        shown = int((pick["score"] == edge).sum())
        if tied > shown:
            ties.append(tm("models.top.ties", lang, n=tied, score=f"{edge:.2f}", shown=shown))
    return Table(pick[["rank", "agent_id", "score"]].reset_index(drop=True), lang, digits=2,
                 before=note, after=" ".join(dict.fromkeys(ties)))


def agreement_text(cmp, lang: str = "en") -> Markdown:
    """One sentence with Kendall's W."""
    w = results.kendall_w(cmp)
    return text("models.agreement.text", lang, w="–" if w is None else f"{w:.2f}")


def _reason(cmp, model: str, lang: str) -> str:
    """Why the comparison could not score ``model`` ("–" when it does not say)."""
    summ = getattr(cmp, "summary", {}) or {}
    info = (summ.get("models") or {}).get(model) or {}
    why = info.get("reason") if isinstance(info, dict) else None
    return library_text(str(why), lang) if why else "–"


def model_properties(cmp, lang: str = "en") -> Table | Markdown:
    """Per model: stability, validity, gaming sensitivity, fairness (from the summary)."""
    summ = getattr(cmp, "summary", {}) or {}
    models = summ.get("models") or {}
    rows = []
    for name, info in models.items():
        if not isinstance(info, dict):
            continue
        row = {"model": model_label(name, lang)}
        for k in ("stability", "validity", "gaming_sensitivity", "fairness"):
            v = info.get(k)
            if k == "fairness" and isinstance(v, dict) and "value" not in v:
                # by grouping (queue, shift): the largest group effect
                vals = [results.summary_value(x) for x in v.values()]
                vals = [x for x in vals if x is not None]
                v = max(vals) if vals else None
            v = results.summary_value(v)
            row[k] = np.nan if v is None else v
        rows.append(row)
    if not rows:
        return Markdown(tm("common.none_found", lang))
    return Table(pd.DataFrame(rows), lang, digits=2)


def agreement_table(cmp, lang: str = "en") -> Table:
    """Pairwise Kendall's tau-b between models (``model_a, model_b, kendall_tau, p_value``)."""
    a = cmp.agreement.copy()
    for c in ("model_a", "model_b"):
        a[c] = a[c].astype(str).map(lambda m: model_label(m, lang))
    return Table(a[["model_a", "model_b", "kendall_tau", "p_value"]], lang, digits=3)


def okr_table(inputs: ReportInputs, lang: str = "en") -> Table | Markdown:
    """Objectives and key results of the OKR file (``objective, key_result, metric, baseline,
    target``)."""
    doc = inputs.okr
    if not doc:
        return Markdown(tm("common.no_input", lang, what=tm("input.okr", lang)))
    objs = doc.get("objectives", doc) if isinstance(doc, dict) else doc
    rows = []
    if isinstance(objs, list):
        for o in objs:
            if not isinstance(o, dict):
                continue
            name = o.get("objective") or o.get("name") or o.get("title") or o.get("id") or ""
            for kr in o.get("key_results") or o.get("krs") or []:
                if isinstance(kr, dict):
                    rows.append({
                        "objective": str(name),
                        "key_result": str(kr.get("name") or kr.get("id") or kr.get("metric", "")),
                        "metric": metric_name(str(kr.get("metric", "")), lang),
                        "baseline": kr.get("baseline"),
                        "target": kr.get("target"),
                    })
    if not rows:
        return Markdown(tm("common.none_found", lang))
    df = pd.DataFrame(rows).drop_duplicates()
    for c in ("baseline", "target"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return Table(df.head(30), lang, digits=2)


def ratings_by_group(inputs: ReportInputs, lang: str = "en",
                     min_group: int | None = None) -> Table | Markdown:
    """360 ratings by rater group: ``rater_group, raters, mean_score, shown``.

    As in the 360 model: a ratee's group of an anonymous kind (``360.anonymous_groups``:
    peers, direct reports, customers) enters the mean only with at least ``min_group``
    raters in the period (``360.min_group`` of the configuration, never below
    :data:`~analysis.config.MIN_360_GROUP`); self-ratings are their own row; the
    supervisor, identified by design, is shown. ``shown`` is the share of ratee groups
    shown.
    """
    r = inputs.ratings
    if r is None or r.empty:
        return Markdown(tm("common.no_input", lang, what=tm("input.ratings", lang)))
    need = {"ratee_id", "rater_id", "rater_group", "score"}
    if not need <= set(r.columns):
        return Markdown(tm("common.none_found", lang))
    cfg = (results.model_config(inputs) or {}).get("360") or {}
    asked = cfg.get("min_group", MIN_360_GROUP) if min_group is None else min_group
    min_group = max(int(asked), MIN_360_GROUP)
    anon = set(cfg.get("anonymous_groups", ["peer", "direct_report", "customer"]))
    keys = ["rater_group", "ratee_id"] + (["period"] if "period" in r.columns else [])
    per = r.groupby(keys).agg(raters=("rater_id", "nunique"),
                              score=("score", "mean")).reset_index()
    per["shown"] = ~per["rater_group"].isin(anon) | (per["raters"] >= min_group)
    out = per.groupby("rater_group").agg(
        raters=("raters", "sum"),
        mean_score=("score", lambda s: float(s[per.loc[s.index, "shown"]].mean())
                    if per.loc[s.index, "shown"].any() else np.nan),
        shown=("shown", "mean"),
    ).reset_index()
    out["raters"] = out["raters"].astype("int64")
    out["shown"] = [pct0(v) for v in out["shown"]]  # "1.00" read as a yes/no flag
    names = i18n.labels(lang, "rater")
    out["rater_group"] = out["rater_group"].astype(str).map(lambda g: names.get(g, g))
    return Table(out, lang, digits=2, after=tm("models.360.shown_note", lang, n=min_group))
