"""The gaming-checks section (``gaming_checks.ipynb``): checks run and flags per check,
the flagged agent-periods, change points, checks skipped and why, and with synthetic data
the planted gamers found."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import i18n, results
from ..blocks import Markdown, Table, figure, text
from ..i18n import t, tm
from ..inputs import ReportInputs
from .changes import _fmt_level, _iso, _metric, significant_changepoints
from .labels import effect_text, label_checks, punct, skip_reason_text

__all__ = ["flags_table", "checks_table", "changepoints_table", "skipped_table",
           "truth_recovery", "flags_figure", "power_blocks"]


def _agent_q(g, f: pd.DataFrame) -> pd.Series:
    """The decision's q-value per row: the agent's (scope ``all``), a center row's own."""
    ag = getattr(g, "agents", None)
    q = pd.Series(np.nan, index=f.index)
    if ag is not None and len(ag):
        a = ag[ag["scope"].astype(str) == "all"]
        q = f["agent_id"].astype(str).map(dict(zip(a["agent_id"].astype(str), a["q_value"],
                                                   strict=True)))
    if "level" in f.columns:
        center = f["level"].astype(str) == "center"
        q = q.where(~center, f["q_value"])
    return q.astype(float)


def flags_table(g, lang: str = "en", limit: int = 40) -> Table | Markdown:
    """The flagged agents' evidence, strongest first (``agent_id, period, check, effect,
    n, k, p_value, agent_q``): the test's own p and the decision's q (the agent's, after
    FDR control across agents; a center row's among the center rows)."""
    f = g.flags
    if f.empty or not f["flagged"].astype(bool).any():
        return Markdown(tm("common.none_found", lang))
    f = f[f["flagged"].astype(bool)].copy()
    f["agent_q"] = _agent_q(g, f)
    f = f.sort_values(["agent_q", "p_value"]).head(limit)
    if "level" in f.columns:  # center-level rows name no agent
        f["agent_id"] = f["agent_id"].astype(str).where(
            f["level"].astype(str) != "center", tm("gaming.scope.center", lang))
    f["effect"] = [effect_text(e, c, lang) for e, c in zip(f["effect"], f["check"],
                                                            strict=True)]
    cols = [c for c in ("agent_id", "period", "check", "effect", "n", "k", "p_value", "agent_q")
            if c in f.columns]
    out = f[cols].reset_index(drop=True)
    for c in ("n", "k"):
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    # a p-value that underflowed reads "1.0e-300", not "0.000" beside its agent's q
    out["p_value"] = pd.to_numeric(out["p_value"], errors="coerce").clip(lower=1e-300)
    return Table(label_checks(out, lang), lang, digits=3, after=tm("gaming.flags.note", lang),
                 widths={"check": 2.5, "effect": 1.5})


def _flagged_agents_by_check(f: pd.DataFrame) -> pd.Series:
    """Per check: how many flagged agents (or center rows) have evidence rows in it."""
    hit = f[f["flagged"].astype(bool)]
    who = hit["agent_id"].astype(str)
    if "level" in hit.columns:  # each flagged center row counts once
        who = who.where(hit["level"].astype(str) != "center", "center:" + hit.index.astype(str))
    n = who.groupby(hit["check"]).nunique()
    return n.reindex(sorted(f["check"].unique()), fill_value=0).astype("int64")


def checks_table(g, lang: str = "en") -> Table | Markdown:
    """Per check: tests run, flagged agents with evidence in it and the effect's unit
    (``check, tests, flags, effect_unit``)."""
    f = g.flags
    if f.empty:
        return Markdown(tm("common.none_found", lang))
    out = f.groupby("check").agg(tests=("p_value", "size"),
                                 effect_unit=("effect_unit", "first"))
    out.insert(1, "flags", _flagged_agents_by_check(f).reindex(out.index))
    out = out.reset_index()
    strings = i18n.STRINGS[lang]  # the units are English text from the checks: translated
    out["effect_unit"] = [strings.get(f"unit.{c}", u if i18n.reads_source(lang) else "–")
                          for c, u in zip(out["check"], out["effect_unit"], strict=True)]
    out["tests"] = out["tests"].astype("int64")
    out["flags"] = out["flags"].astype("int64")
    return Table(label_checks(out, lang), lang)


def changepoints_table(g, lang: str = "en", limit: int = 20) -> Table | Markdown:
    """Change points significant at the run's alpha (``scope, metric, date, before, after,
    p_value``): the center's steps first, levels with their units."""
    cp = significant_changepoints(g)
    if cp.empty:
        return Markdown(tm("gaming.changepoints.none", lang))
    total = len(cp)
    cp = cp.head(limit)
    df = pd.DataFrame({
        "scope": [tm("gaming.scope.center", lang) if lv == "center" else str(a)
                  for lv, a in zip(cp["level"], cp["agent_id"], strict=True)],
        "metric": [_metric(str(m), lang) for m in cp["metric"]],
        "date": [_iso(d) for d in cp["date"]],
        "before": [_fmt_level(str(m), v) for m, v in zip(cp["metric"], cp["before"],
                                                         strict=True)],
        "after": [_fmt_level(str(m), v) for m, v in zip(cp["metric"], cp["after"],
                                                        strict=True)],
        "p_value": pd.to_numeric(cp["p_value"], errors="coerce"),
    })
    # the levels are the agent's own; the agents' steps are tested against their peers
    after = [tm("gaming.changepoints.levels", lang)]
    if total > limit:  # the bank's 29 steps were cut to 20 without a word
        after.insert(0, tm("common.shown_of", lang, shown=limit, total=total,
                           file="tables/changepoints.csv"))
    return Table(df, lang, after=" ".join(after))


def skipped_table(g, lang: str = "en") -> Table | Markdown:
    """Checks that did not run and why (``check, skipped_reason``)."""
    s = getattr(g, "skipped", None)
    if s is None or s.empty:
        return Markdown(tm("common.none_found", lang))
    s = s.rename(columns={"reason": "skipped_reason"})
    s = s.assign(skipped_reason=[skip_reason_text(str(x), lang) for x in s["skipped_reason"]])
    return Table(label_checks(s, lang) if "check" in s.columns else s, lang)


def truth_recovery(g, inputs: ReportInputs, lang: str = "en") -> Markdown | None:
    """With synthetic data: planted gamers found and honest agents flagged (None otherwise)."""
    gamers = results.truth_gamers(inputs)
    if gamers is None or inputs.truth is None:
        return None
    flagged = set(g.flags.loc[g.flags["flagged"].astype(bool), "agent_id"].astype(str))
    pos = set(gamers["agent_id"].astype(str))
    everyone = set(inputs.truth["agent_id"].astype(str))
    tp, fp = len(pos & flagged), len((everyone - pos) & flagged)
    return text("gaming.truth.text", lang, tp=tp, pos=len(pos), fp=fp, neg=len(everyone - pos))


def power_blocks(g, lang: str = "en") -> list | None:
    """Detection power on these calls (:mod:`analysis.detection`): a paragraph and a table
    of the behaviours planted, their doses and how many planted agents the rerun flagged;
    None when the run did not measure it (``ccpm report --power``)."""
    meta = getattr(g, "power_meta", None)
    tab = getattr(g, "power", None)
    if not meta:
        return None
    out = []
    if tab is None or not len(tab):
        out.append(text("gaming.power.empty", lang))
    else:
        out.append(text("gaming.power.text", lang, per=meta["per"], start=meta["start"],
                        rounds=meta["rounds"]))
        df = pd.DataFrame({
            "power_behaviour": [t(f"behaviour.{b}", lang) for b in tab["behaviour"]],
            "power_dose": [t(f"power.dose.{b}", lang, dose=f"{float(d):.0%}")
                           for b, d in zip(tab["behaviour"], tab["dose"], strict=True)],
            "power_found": [t("power.found", lang, found=int(f), planted=int(n))
                            for f, n in zip(tab["found"], tab["planted"], strict=True)],
        })
        out.append(Table(df, lang, widths={"power_dose": 2.0}))
    if meta.get("not_planted"):
        items = punct("pairs", lang).join(t(f"behaviour.{b}", lang)
                                          for b in meta["not_planted"])
        out.append(text("gaming.power.notplanted", lang, items=items))
    return out


def flags_figure(g, lang: str = "en"):
    """Bar chart of the flagged agents with evidence in each check (None when nothing was
    tested)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    f = g.flags
    if f.empty:
        return None
    d = _flagged_agents_by_check(f).rename("flagged").rename_axis("check").reset_index()
    labels = i18n.labels(lang, "check")
    d["check"] = d["check"].astype(str).map(lambda c: labels.get(c, c))
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(d) + 1.2))
    sns.barplot(d, y="check", x="flagged", ax=ax, color="#1f4e79")
    ax.set_xlabel(t("col.flags", lang))
    ax.set_ylabel("")
    ax.set_title(t("fig.flags", lang))
    return figure(fig)
