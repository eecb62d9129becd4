"""The model-choice views (issue #8): the recommendation in words and as a ranking, the
evidence behind it, the trade-offs a center lives by and the what-if without the flagged
calls.

:func:`recommendation_summary` opens the management summary; :func:`recommendation_evidence`,
:func:`tradeoff_view` (one of :data:`analysis.report.results.TRADEOFFS`) and
:func:`whatif_view` are sections of the model comparison, each with its figure function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import i18n, results
from ..blocks import Markdown, MdCell, Table, bullets, figure, heading, text
from ..i18n import t, tm
from ..inputs import ReportInputs
from ..literal import MdRaw, md_text
from .labels import (
    axis_label,
    crit_label,
    figure_labels,
    interval,
    label_checks,
    library_text,
    model_label,
    num2,
    pct0,
    pct1,
    punct,
    unavailable,
)

__all__ = ["recommendation_lead", "recommendation_table", "recommendation_summary",
           "recommendation_figure", "evidence_table", "criteria_list", "pairwise_table",
           "indistinguishable_text", "recommendation_evidence", "recommendation_headlines",
           "tradeoff_table", "tradeoff_view", "tradeoff_figure", "whatif_view",
           "whatif_figure"]


def _tied_lines(rec, lang: str) -> list[str]:
    """One sentence per model the data cannot tell apart from the top one."""
    r = rec.ranking
    comp = r[r["computable"].astype(bool) & r["overall"].notna()]
    if comp.empty:
        return []
    top = str(comp.iloc[0]["model"])
    pct = f"{rec.ci:.0%}"
    out = []
    pw = rec.pairwise
    for m in comp["model"].iloc[1:].astype(str):
        row = pw[((pw["model_a"] == top) & (pw["model_b"] == m))
                 | ((pw["model_a"] == m) & (pw["model_b"] == top))]
        if row.empty or bool(row["distinguishable"].iloc[0]):
            continue
        row = row.iloc[0]
        sgn = 1 if row["model_a"] == top else -1
        lo, hi = sorted((sgn * row["diff_lo"], sgn * row["diff_hi"]))
        out.append(tm("rec.tied", lang, a=model_label(top, lang), b=model_label(m, lang),
                     d=f"{sgn * row['diff']:.2f}", ci=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))
    return out


def _na_reason(c: str, why: str, lang: str) -> str:
    if why.startswith("not assessable for every model"):
        inner = why[why.find("(") + 1: why.rfind(")")] if "(" in why else ""
        models = punct("list", lang).join(model_label(m.strip(), lang)
                                           for m in inner.split(",") if m.strip())
        return tm("rec.na.partial", lang, models=models)
    key = f"rec.na.{c}"
    return tm(key, lang) if key in i18n.STRINGS[lang] else library_text(why, lang)


def _status_text(row, lang: str) -> str:
    """Why a model is not computable ("" when it is)."""
    if bool(row["computable"]):
        return ""
    from ...recommend import TIED_REASON

    reason = str(row["status"]).removeprefix("not computable:").strip()
    if "360 ratings" in reason or "--ratings" in reason:
        reason = t("rec.reason.no_ratings", lang)
    elif reason == TIED_REASON:
        reason = t("rec.reason.tied", lang)
    else:
        reason = library_text(reason, lang)
    return t("rec.not_computable", lang, reason=reason)  # a table cell: literal text


def _missing_text(row, lang: str) -> str:
    """The inputs a model needs that the center lacks, named in ``lang`` ("" if none)."""
    if not row.get("missing_data"):
        return ""
    strings = i18n.STRINGS[lang]
    names = [strings.get(f"metric.{x}", strings.get(f"input.{x}", x))
             for x in str(row["missing_data"]).split(", ")]
    return t("rec.missing", lang, inputs=punct("list", lang).join(names))


def recommendation_lead(rec, lang: str = "en") -> list[Markdown]:
    """The recommendation in words: the model, its score, interval and P(best); every
    model the data cannot tell apart from it; criteria not assessed."""
    r = rec.ranking
    comp = r[r["computable"].astype(bool) & r["overall"].notna()]
    if comp.empty:
        return [text("rec.none", lang)]
    top = comp.iloc[0]
    name = model_label(str(top["model"]), lang)
    if pd.notna(top["overall_lo"]):
        lead = tm("rec.lead", lang, model=name, overall=f"{top['overall']:.2f}",
                 ci=f"{rec.ci:.0%}", lo=f"{top['overall_lo']:.2f}",
                 hi=f"{top['overall_hi']:.2f}", p=pct0(top["p_best"]),
                 n_boot=f"{int(rec.n_boot):,}")
    else:
        lead = tm("rec.lead.plain", lang, model=name, overall=f"{top['overall']:.2f}")
    tied = _tied_lines(rec, lang)
    parts = [lead] + (tied if tied else ([tm("rec.ahead", lang, model=name)]
                                         if len(comp) > 1 else []))
    out = [Markdown(punct("sentence", lang).join(parts))]
    na = _not_assessed_text(rec, lang)
    return out + ([Markdown(na)] if na else [])


def _not_assessed_text(rec, lang: str) -> str:
    """One line naming the criteria left out, and why (empty when all were assessed)."""
    items = [tm("rec.not_assessed.item", lang, criterion=crit_label(c, lang),
               why=_na_reason(c, str(why), lang))
             for c, why in (rec.not_assessed or {}).items()]
    return ("*" + tm("rec.not_assessed", lang, items=MdRaw(punct("pairs", lang).join(items))) + "*"
            if items else "")


def _strong_weak(rec, model: str, lang: str) -> tuple[str, str]:
    ev = rec.evidence
    # a criterion on which every model scores the same separates nothing: never a
    # model's strongest or weakest point
    spread = ev[ev["score"].notna()].groupby("criterion")["score"].agg(lambda x: x.max() - x.min())
    flat = set(spread[spread < 0.01].index)
    e = ev[(ev["model"] == model) & ev["weight"].gt(0) & ev["score"].notna()
           & ~ev["criterion"].isin(flat)]
    if len(e) < 2:
        return "", ""
    return (crit_label(e.loc[e["score"].idxmax(), "criterion"], lang),
            crit_label(e.loc[e["score"].idxmin(), "criterion"], lang))


def recommendation_table(rec, lang: str = "en") -> Table:
    """The ranking: ``rank, model, overall, interval, p_best, tied_with_best, strongest,
    weakest, note`` (note, when any: why a model is not computable)."""
    rows = []
    for _, x in rec.ranking.iterrows():
        strong, weak = _strong_weak(rec, str(x["model"]), lang)
        ok = bool(x["computable"]) and pd.notna(x["overall"])
        rows.append({"rank": int(x["rank"]), "model": model_label(str(x["model"]), lang),
                     "overall": float(x["overall"]) if ok else np.nan,
                     "interval": interval(x["overall_lo"], x["overall_hi"]) if ok else "–",
                     "p_best": pct0(x["p_best"]) if ok else "–",
                     "tied_with_best": bool(x["tied_with_best"]) and ok,
                     "strongest": strong, "weakest": weak, "note": _status_text(x, lang)})
    df = pd.DataFrame(rows)
    if not df["note"].astype(bool).any():
        df = df.drop(columns="note")
    # the order is by P(best), not by the overall score beside it: said under the table
    # (a rank 2 at 0.27 above a rank 3 at 0.39, both "4 %", read as a mistake)
    # words get the room (a not-computable reason ran over five lines of a ninth of the page)
    return Table(df, lang, digits=2, widths={"model": 2, "interval": 1.5, "tied_with_best": 1.5,
                                             "strongest": 2, "weakest": 2, "note": 3},
                 after=tm("rec.table.note", lang, p_best=t("col.p_best", lang),
                          n_boot=f"{int(rec.n_boot):,}"))


def recommendation_summary(inputs: ReportInputs, build_dir, lang: str = "en", *,
                           lead: bool = True) -> list:
    """The recommendation in words (``lead``; page 1 states it as a decision instead), the
    ranking, and what the what-if did to it (or why there is no recommendation)."""
    if not results.available().get("compare"):
        return [unavailable("compare", lang)]
    rec = results.recommendation(inputs, build_dir)
    if rec is None:
        return [unavailable("recommend", lang)]
    out: list = recommendation_lead(rec, lang) if lead or rec.best is None else []
    if rec.best is not None:
        out.append(recommendation_table(rec, lang))
        w = results.whatif_result(inputs, build_dir)
        line = _whatif_sentence(w, lang)
        if line:
            out.append(Markdown(line))
    return out


def recommendation_figure(inputs: ReportInputs, build_dir, lang: str = "en"):
    """:func:`analysis.figures.plot_recommendation` in ``lang`` (empty without a ranking)."""
    rec = results.recommendation(inputs, build_dir) if results.available().get("compare") else None
    if rec is None or rec.best is None or not results.importable("analysis.figures",
                                                          "plot_recommendation"):
        return Markdown("")
    from ...figures import plot_recommendation

    lab = figure_labels("recommendation", lang)
    lab.update({c: crit_label(c, lang) for c in rec.weights})
    return figure(plot_recommendation(rec, labels=lab))


def evidence_table(rec, lang: str = "en") -> Table:
    """Criteria (rows) by model (columns): each model's 0-1 score and its interval, and
    the weight the criterion carries."""
    ev = rec.evidence
    models = [m for m in rec.ranking["model"].astype(str) if m in set(ev["model"])]
    rows = []
    for c in results.criteria(rec):
        row = {"criterion": crit_label(c, lang), "weight": f"{rec.weights.get(c, 0):.0%}"}
        for m in models:
            e = ev[(ev["model"] == m) & (ev["criterion"] == c)]
            if e.empty or pd.isna(e["score"].iloc[0]) or rec.weights.get(c, 0) == 0:
                cell = tm("rec.not_assessed_cell", lang) if c in rec.not_assessed else "–"
            elif pd.notna(e["score_lo"].iloc[0]) and c not in ("data", "coverage"):
                cell = (f"{e['score'].iloc[0]:.2f} "
                        f"{interval(e['score_lo'].iloc[0], e['score_hi'].iloc[0])}")
            else:
                cell = f"{e['score'].iloc[0]:.2f}"
            row[model_label(m, lang)] = cell
        rows.append(row)
    r = rec.ranking.set_index("model")
    total = {"criterion": MdCell("**" + tm("crit.overall", lang) + "**"), "weight": "100%"}
    for m in models:
        total[model_label(m, lang)] = MdCell(
            f"**{r.loc[m, 'overall']:.2f}** "
            + md_text(interval(r.loc[m, 'overall_lo'], r.loc[m, 'overall_hi'])))
    rows.append(total)
    return Table(pd.DataFrame(rows), lang)


def criteria_list(rec, lang: str = "en") -> Markdown:
    """What each criterion measures, and the weights (bullets)."""
    colon = punct("colon", lang)
    crits = results.criteria(rec)
    items = [f"**{crit_label(c, lang)}**{colon}{tm(f'crit.{c}.def', lang)}"
             for c in crits if f"crit.{c}.def" in i18n.STRINGS[lang]]
    weights = punct("list", lang).join(f"{crit_label(c, lang)} {rec.weights.get(c, 0):.0%}"
                                        for c in crits if rec.weights.get(c, 0) > 0)
    return Markdown(bullets(items).text + "\n\n" + tm("rec.weights", lang, weights=weights))


def pairwise_table(rec, lang: str = "en") -> Table | Markdown:
    """Every pair of scored models: difference in overall score, its interval, P(A better),
    and whether the data tells them apart."""
    pw = rec.pairwise
    if pw is None or pw.empty:
        return Markdown(tm("common.none_found", lang))
    df = pd.DataFrame({
        "model_a": pw["model_a"].astype(str).map(lambda m: model_label(m, lang)),
        "model_b": pw["model_b"].astype(str).map(lambda m: model_label(m, lang)),
        "diff": [num2(v) for v in pw["diff"]],
        "interval": [interval(a, b) for a, b in zip(pw["diff_lo"], pw["diff_hi"],
                                                     strict=True)],
        "p_a_better": [pct0(v) for v in pw["p_a_better"]],
        "distinguishable": [tm("value.yes" if v else "value.no", lang)
                            for v in pw["distinguishable"].astype(bool)],
    })
    return Table(df, lang, digits=2)


def indistinguishable_text(rec, lang: str = "en") -> Markdown:
    """Plainly: which pairs of models the data cannot tell apart."""
    pw = rec.pairwise
    if pw is None or pw.empty:
        return Markdown("")
    same = pw[~pw["distinguishable"].astype(bool)]
    if same.empty:
        return text("rec.all_distinguishable", lang)
    sep = punct("pairs", lang)
    pairs = sep.join(f"{model_label(a, lang)} – {model_label(b, lang)}"
                     for a, b in zip(same["model_a"], same["model_b"], strict=True))
    return text("rec.indistinguishable", lang, pairs=pairs)


def recommendation_evidence(inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """The evidence behind the ranking: criteria by model with intervals, what the criteria
    measure and weigh, and the pairwise differences (or why there is none)."""
    if not results.available().get("compare"):
        return [unavailable("compare", lang)]
    rec = results.recommendation(inputs, build_dir)
    if rec is None:
        return [unavailable("recommend", lang)]
    if rec.best is None:
        return [text("rec.none", lang)]
    out = [text("rec.evidence.intro", lang, ci=f"{rec.ci:.0%}", n_boot=f"{int(rec.n_boot):,}"),
           evidence_table(rec, lang)]
    lacks = [f"{model_label(str(x['model']), lang)}{punct('colon', lang)}"
             f"{_missing_text(x, lang)}" for _, x in rec.ranking.iterrows()
             if _missing_text(x, lang)]
    if lacks:  # what the data-coverage criterion counts
        out.append(bullets(lacks))
    na = _not_assessed_text(rec, lang)
    out += [Markdown(na)] if na else []
    out += [heading("rec.criteria", lang, level=3), criteria_list(rec, lang),
            heading("rec.pairwise", lang, level=3), indistinguishable_text(rec, lang),
            pairwise_table(rec, lang)]
    return out


_TRADE_KEYS = {"efficiency": "eff", "service": "svc", "satisfaction": "sat", "process": "proc"}


_TRADE_FIG = {"efficiency": "tradeoff_efficiency", "service": "tradeoff_service",
              "satisfaction": "tradeoff_satisfaction", "process": "tradeoff_process"}


def _reading(lo, hi, lang: str) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "–"
    if lo > 0:
        return tm("trade.reading.together", lang)
    if hi < 0:
        return tm("trade.reading.tradeoff", lang)
    return tm("trade.reading.unclear", lang)


def tradeoff_table(q: pd.DataFrame, view: str, lang: str = "en") -> Table:
    """Per pair of measures (the view's x measure against each y, named by y): agents,
    signed Spearman rho with its 95% interval, a reading (go together / trade off / no
    clear relation) and the agents in each quadrant."""
    from ...tradeoffs import QUADRANTS, tradeoff_correlations

    c = tradeoff_correlations(q)
    df = pd.DataFrame({
        "against": [axis_label(y, lang) for y in c["y_metric"]],
        "agents": c["n"].astype("int64"),
        "rho": c["rho_better"].astype(float),
        "interval": [interval(a, b) for a, b in zip(c["ci_lo"], c["ci_hi"], strict=True)],
        "reading": [_reading(a, b, lang) for a, b in zip(c["ci_lo"], c["ci_hi"], strict=True)],
    })
    quads = [tm(f"quad.{view}.{k}", lang) for k in QUADRANTS]
    for k, name in zip(QUADRANTS, quads, strict=True):
        df[name] = c[k].astype("int64")
    # the quadrant names are words: with a ninth of the line each, two right-aligned
    # headers ran together ("Better onSatisfaction")
    return Table(df, lang, digits=2, widths={"against": 1.3, "interval": 1.3,
                                             "reading": 1.3, **dict.fromkeys(quads, 1.4)})


def _service_table(cost: pd.DataFrame, lang: str) -> Table:
    df = pd.DataFrame({
        "model": cost["model"].astype(str).map(lambda m: model_label(m, lang)),
        "agents_rewarded": cost["agents_rewarded"].astype("int64"),
        "aht_s": cost["aht_s"].round(0),
        "agents_needed": cost["agents_needed"].astype("int64"),
        "agents_vs_center": [f"{v:.0%}" for v in cost["agents_vs_center"]],
        "service_level": [pct0(v) for v in cost["service_level_at_center_staff"]],
        "asa_s": [("∞" if not np.isfinite(v) else f"{v:.0f}")
                  for v in cost["asa_s_at_center_staff"]],
        "occupancy": [pct0(v) for v in cost["occupancy"]],
    })
    return Table(df, lang, digits=0)


def tradeoff_view(kind: str, inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """A trade-off view's heading, text and table, or its heading and one line saying why
    it is not available (``kind`` one of :data:`analysis.report.results.TRADEOFFS`)."""
    key = _TRADE_KEYS[kind]
    out: list = [heading(f"trade.{key}.title", lang, level=3)]
    data, why = results.tradeoff_data(kind, inputs, build_dir)
    if data is None:
        if why == "unavailable":
            return out + [unavailable("tradeoffs", lang)]
        return out + [Markdown("*" + tm("trade.na", lang, why=tm(why, lang)) + "*")]
    if kind == "service":
        cost = data["cost"]
        center = cost[cost["model"] == "center"].iloc[0]
        out.append(text("trade.svc.intro", lang, day=tm(f"dow.{data['dow']}", lang),
                        hour=f"{data['hour']:02d}", cph=f"{data['calls_per_hour']:,.0f}",
                        sl=f"{data['target_sl']:.0%}", s=f"{data['target_s']:.0f}",
                        n=int(center["agents_needed"]), aht=f"{center['aht_s']:.0f}"))
        out += [_service_table(cost, lang), text("trade.svc.note", lang)]
        return out
    out.append(text(f"trade.{key}.intro", lang))
    q = data["quadrants"] if kind == "satisfaction" else data
    out.append(tradeoff_table(q, key, lang))
    if kind == "satisfaction":
        per = data["per_agent"].dropna(subset=["csat_mean"])
        known = per[per["left"].notna()]
        gone = known["left"].astype(bool)
        if gone.any() and not gone.all():  # leavers and stayers: compare their customers
            comp = results.full_comparison(inputs, build_dir)
            end = (comp.panel.attrs.get("ccpm_panel", {}) or {}).get("data_end_ts")
            out.append(text("trade.sat.left", lang, k=int(gone.sum()), n=len(known),
                            date=pd.Timestamp(end).strftime("%Y-%m-%d") if end else "–",
                            a=f"{known.loc[gone, 'csat_mean'].mean():.2f}",
                            b=f"{known.loc[~gone, 'csat_mean'].mean():.2f}"))
    return out


def tradeoff_figure(kind: str, inputs: ReportInputs, build_dir, lang: str = "en"):
    """The view's figure (quadrants, or staffing by model); empty when not available."""
    data, _ = results.tradeoff_data(kind, inputs, build_dir)
    if data is None or not results.importable("analysis.figures", "plot_quadrants"):
        return Markdown("")
    from ... import figures as fg

    if kind == "service":
        lab = figure_labels("tradeoff_service", lang)
        return figure(fg.plot_service_cost(data["cost"], labels=lab))
    key = _TRADE_KEYS[kind]
    q = data["quadrants"] if kind == "satisfaction" else data
    lab = {"title": t(f"fig.{_TRADE_FIG[kind]}", lang),
           **{k: t(f"quad.{key}.{k}", lang) for k in ("both", "x_only", "y_only", "neither")},
           "flagged": t("figlab.quadrants.flagged", lang),
           "none": t("figlab.quadrants.none", lang)}
    lab.update({m: axis_label(m, lang) for m in set(q["x_metric"]) | set(q["y_metric"])})
    return figure(fg.plot_quadrants(q, labels=lab, flagged=results.flag_ids(inputs, build_dir)))


def _whatif_sentence(w, lang: str, *, headline: bool = False) -> str | None:
    if w is None or getattr(w, "status", "") != "ok" or not w.best_before or not w.best_after:
        return None
    n = f"{int(w.removed['calls_removed'].sum()):,}"
    before, after = model_label(w.best_before, lang), model_label(w.best_after, lang)
    was_tied = w.best_after in set(getattr(w, "tied_before", None) or [])
    if headline:
        if w.best_before == w.best_after:
            return tm("summary.finding.whatif.same", lang, n=n, model=after)
        return tm("summary.finding.whatif.changed_tied" if was_tied
                 else "summary.finding.whatif.changed", lang, n=n, before=before, after=after)
    lead = tm("whatif.removed", lang, n=n, agents=w.removed["agent_id"].nunique(),
             share=pct1(w.removed["calls_removed"].sum() / max(w.handled_calls or 1, 1)))
    if w.best_before == w.best_after:
        verdict = tm("whatif.stays", lang, model=after)
    else:  # a change between models the data could not tell apart is no real change
        verdict = tm("whatif.changes_tied" if was_tied else "whatif.changes", lang,
                    before=before, after=after)
    return lead + punct("sentence", lang) + verdict


def whatif_view(inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """The what-if: what was removed (by check), the checks that remove nothing, each
    model before and after, and the recommendation before and after; or one line saying
    why it is not available."""
    w = results.whatif_result(inputs, build_dir)
    if w is None:
        return [unavailable("whatif", lang)]
    out: list = []
    if w.status != "ok":
        out.append(Markdown("*" + tm("trade.na", lang, why=tm(w.status, lang)) + "*"))
    else:
        out.append(text("whatif.intro", lang))
        out.append(Markdown(_whatif_sentence(w, lang) or ""))
        out += [Markdown(s) for s in _tied_lines(results.whatif_recommendation(w), lang)]
        rm = w.removed
        by = rm.groupby("check", sort=True).agg(rule=("rule", "first"),
                                                agents=("agent_id", "nunique"),
                                                agent_periods=("period", "size"),
                                                calls_removed=("calls_removed", "sum"))
        by = by.reset_index()
        by["what"] = by["rule"].map(lambda r: tm(f"whatif.rule.{r}", lang)
                                    if f"whatif.rule.{r}" in i18n.STRINGS[lang]
                                    else library_text(r, lang))
        by = by[["check", "what", "agents", "agent_periods", "calls_removed"]]
        for c in ("agents", "agent_periods", "calls_removed"):
            by[c] = by[c].astype("int64")
        out += [heading("whatif.by_check", lang, level=3), Table(label_checks(by, lang), lang)]
    sk = getattr(w, "skipped", None)
    if sk is not None and len(sk):
        sk = sk.assign(reason=[tm(f"whatif.skip.{c}", lang)
                               if f"whatif.skip.{c}" in i18n.STRINGS[lang]
                               else library_text(r, lang)
                               for c, r in zip(sk["check"], sk["reason"], strict=True)])
        sk = sk.rename(columns={"reason": "skipped_reason"})
        sk["n_flags"] = sk["n_flags"].astype("int64")
        out += [heading("whatif.skipped", lang, level=3),
                Table(label_checks(sk[["check", "n_flags", "skipped_reason"]], lang), lang)]
    if w.status == "ok":
        m = w.models
        df = pd.DataFrame({
            "model": m["model"].astype(str).map(lambda x: model_label(x, lang)),
            "overall_before": m["overall_before"], "overall_after": m["overall_after"],
            "rank_before": m["rank_before"].astype("Int64"),
            "rank_after": m["rank_after"].astype("Int64"),
            "flagged_pct_before": m["flagged_pct_before"].astype(float).round(0).astype("Int64"),
            "flagged_pct_after": m["flagged_pct_after"].astype(float).round(0).astype("Int64"),
            "kendall_tau_agents": m["kendall_tau_agents"],
        })
        out += [heading("whatif.models", lang, level=3), Table(df, lang, digits=2),
                text("whatif.models.note", lang)]
    return out


def whatif_figure(inputs: ReportInputs, build_dir, lang: str = "en"):
    """Overall score and rank of each model before and after (empty when not available)."""
    w = results.whatif_result(inputs, build_dir)
    if w is None or w.status != "ok" or not results.importable("analysis.figures",
                                                        "plot_rank_changes"):
        return Markdown("")
    from ...figures import plot_rank_changes

    return figure(plot_rank_changes(w.models, labels=figure_labels("whatif", lang)))


def recommendation_headlines(inputs: ReportInputs, build_dir, lang: str) -> list[str]:
    """The recommended model (and the models it cannot be told from), and whether it
    survives removing the flagged calls."""
    if not results.available().get("compare"):
        return []
    rec = results.recommendation(inputs, build_dir)
    if rec is None or rec.best is None:
        return []
    r = rec.ranking
    top = r.iloc[0]
    tied = [model_label(str(m), lang) for m in r.loc[r["tied_with_best"].astype(bool)
                                                      & r["computable"].astype(bool),
                                                      "model"].iloc[1:]]
    sep = punct("list", lang)
    out = [tm("summary.finding.recommended_tied", lang, model=model_label(rec.best, lang),
             others=sep.join(tied)) if tied else
           tm("summary.finding.recommended", lang, model=model_label(rec.best, lang),
             p=pct0(top["p_best"]))]
    line = _whatif_sentence(results.whatif_result(inputs, build_dir), lang, headline=True)
    return out + ([line] if line else [])
