"""Page 1 that decides, and the key findings: the recommendation with its caveat, the main gaming finding with the
agents named and dated, and what to do next (issue #15).

Reads the analysis results through small adapters so the page works with the current
results and with the richer ones of the interfaces agreed this session, whichever is there:

- agent-level gaming decisions (interface A, ``GamingReport.agents``: one row per agent x
  scope with ``flagged``, ``behaviours``, ``first_date``, ``last_date``); without them, the
  per-test flags (``gaming_flags.csv``) grouped by agent;
- change points (interface B: ``level``, ``agent_id``, ``date_lo``/``date_hi``); without
  them, the older ``scope`` column (``"center"`` or an agent id). Only changes significant
  at the run's alpha are used;
- the recommendation (interface C, ``Recommendation.to_dict()`` with ``recommended``,
  ``caveats``, ``models[].defaulted``, ``indistinguishable``, ``what_would_change``);
  without them, the ranking's ``tied_with_best`` and the inputs (no OKR file: OKR scored on
  the configuration's default key results).

Every sentence comes from the message catalogs (``page1.*``); names in them are literal.
:func:`page_one` also writes ``<build_dir>/page1.json`` (plain text) for the slide deck,
:func:`headlines` (the summary's key findings) ``<build_dir>/headlines.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import results
from ..blocks import Markdown, bullets, heading
from ..i18n import STRINGS, t, tm
from ..inputs import ReportInputs
from ..literal import MdRaw, md_plain
from .changes import _alpha, _fmt_level, _iso, _metric, center_steps, significant_changepoints
from .choice import recommendation_headlines
from .gaming import truth_recovery
from .labels import crit_label, metric_name, model_label, punct, reason_text, unavailable

__all__ = ["agent_findings", "center_steps", "significant_changepoints", "rec_view",
           "decision", "gaming_finding", "next_steps", "page_one", "headlines",
           "CHECK_BEHAVIOUR"]

#: gaming check -> behaviour key (interface A's vocabulary), for results without ``agents``
CHECK_BEHAVIOUR = {
    "short_calls_peer": "hangups", "short_calls_trend": "hangups",
    "short_calls_change": "hangups", "bunching_agent": "bunching",
    "bunching_center": "bunching", "acw_inflation": "acw_padding",
    "hold_inflation": "hold_padding", "transfer_dumping": "transfer_dumping",
    "end_of_day_stretch": "end_of_day_stretch", "repeat_after_short": "repeat_calls",
    "quick_callback_after_short": "repeat_calls",
    "survey_selection": "survey_selection", "reciprocity_360": "reciprocal_360",
    "okr_sandbagging": "okr_sandbagging", "acw_step": "acw_padding",
    "hold_step": "hold_padding", "transfer_step": "transfer_dumping",
    "acw_change": "acw_padding", "hold_change": "hold_padding",
}
MAX_NAMED = 6  # agents named on page 1; the rest are in the gaming section's table


def agent_findings(g, alpha: float | None = None) -> pd.DataFrame:
    """One row per flagged agent, strongest evidence first: ``agent_id, behaviours`` (list
    of behaviour keys), ``first_date, last_date`` (ISO or empty), ``q_value``."""
    out_cols = ["agent_id", "behaviours", "first_date", "last_date", "q_value"]
    if g is None:
        return pd.DataFrame(columns=out_cols)
    agents = getattr(g, "agents", None)
    rows = []
    if isinstance(agents, pd.DataFrame) and not agents.empty and "flagged" in agents.columns:
        flagged = agents["flagged"].astype(bool)
        scope = agents.get("scope", pd.Series("all", index=agents.index)).astype(str)
        # the decision is the scope "all" (every period combined), as ccpm gaming's summary
        # counts it; a period's rows only add dates and behaviours to a decided agent
        decided = flagged & (scope == "all") if (scope == "all").any() else flagged
        ids = set(agents.loc[decided, "agent_id"].astype(str))
        fl = agents[agents["agent_id"].astype(str).isin(ids) & (flagged | (scope == "all"))]
        for aid, grp in fl.groupby(fl["agent_id"].astype(str), sort=False):
            beh = []
            for s in grp.get("behaviours", pd.Series(dtype=str)).dropna().astype(str):
                beh += [b for b in s.split(";") if b and b not in beh]
            firsts = [d for d in map(_iso, grp.get("first_date", [])) if d]
            lasts = [d for d in map(_iso, grp.get("last_date", [])) if d]
            periods = sorted(str(s) for s in grp["scope"].astype(str) if s != "all")
            rows.append({"agent_id": aid, "behaviours": beh,
                         "first_date": min(firsts) if firsts else (periods[0] if periods else ""),
                         "last_date": max(lasts) if lasts else "",
                         "q_value": pd.to_numeric(
                             grp.loc[grp["scope"].astype(str) == "all", "q_value"]
                             if (grp["scope"].astype(str) == "all").any() else grp["q_value"],
                             errors="coerce").min()})
    else:
        f = getattr(g, "flags", None)
        if f is None or f.empty:
            return pd.DataFrame(columns=out_cols)
        fl = f[f["flagged"].astype(bool)]
        cp = significant_changepoints(g, alpha)
        cp = cp[cp["level"] == "agent"]
        for aid, grp in fl.groupby(fl["agent_id"].astype(str), sort=False):
            grp = grp.sort_values("q_value")
            beh = []
            for c in grp["check"].astype(str):
                b = CHECK_BEHAVIOUR.get(c, c)
                if b not in beh:
                    beh.append(b)
            periods = sorted(p for p in grp["period"].astype(str) if p != "all")
            steps = sorted(_iso(d) for d in cp.loc[cp["agent_id"].astype(str) == aid, "date"])
            # the agent's own dated steps: the first is when it started, a later one when
            # it changed again (e.g. stopped at a crackdown); else the flagged periods
            first = steps[0] if steps else (periods[0] if periods else "")
            last = (steps[-1] if len(steps) > 1 else
                    periods[-1] if periods and not steps and periods[-1] != first else "")
            rows.append({"agent_id": aid, "behaviours": beh, "first_date": first,
                         "last_date": last, "q_value": float(grp["q_value"].min())})
    df = pd.DataFrame(rows, columns=out_cols)
    return df.sort_values("q_value", kind="stable").reset_index(drop=True)


#: Agents named on page 1 as closest to the threshold when none is flagged.
MAX_NEAR = 3


def near_misses(g, alpha: float | None = None) -> pd.DataFrame:
    """Agents not flagged whose agent-level q-value is below twice the FDR level (scope
    ``all``), at most :data:`MAX_NEAR`, strongest first: ``agent_id, behaviours`` (list),
    ``q_value``. Empty without agent-level decisions. A director should learn who came
    closest, beside the flagged agents or in their place (a reason to watch the next
    period, not to act)."""
    cols = ["agent_id", "behaviours", "q_value"]
    agents = getattr(g, "agents", None) if g is not None else None
    if not isinstance(agents, pd.DataFrame) or agents.empty or "q_value" not in agents:
        return pd.DataFrame(columns=cols)
    a = _alpha(g) if alpha is None else float(alpha)
    scope = agents.get("scope", pd.Series("all", index=agents.index)).astype(str)
    q = pd.to_numeric(agents["q_value"], errors="coerce")
    near = agents[(scope == "all") & ~agents["flagged"].astype(bool) & (q < 2 * a)]
    near = near.assign(qv=q[near.index]).sort_values(["qv", "agent_id"], kind="stable")
    rows = [{"agent_id": str(r.agent_id),
             "behaviours": [b for b in str(getattr(r, "behaviours", "") or "").split(";")
                            if b and b != "nan"],
             "q_value": float(r.qv)} for r in near.head(MAX_NEAR).itertuples(index=False)]
    return pd.DataFrame(rows, columns=cols)


def _behaviour(key: str, lang: str) -> str:
    k = f"behaviour.{key}"
    return t(k, lang) if k in STRINGS[lang] else t(f"check.{key}", lang) \
        if f"check.{key}" in STRINGS[lang] else key


def _sep(kind: str, lang: str) -> str:
    return punct(kind, lang)


def _models(models, lang: str) -> str:
    names = [model_label(str(m), lang) for m in models]
    if len(names) == 2:
        return t("page1.and", lang, a=names[0], b=names[1])
    return _sep("list", lang).join(names)


def rec_view(inputs, build_dir) -> dict | None:
    """The recommendation as interface C's fields (from ``to_dict()`` where it has them,
    else derived from the ranking); None without a recommendation."""
    if not results.available().get("compare"):
        return None
    rec = results.recommendation(inputs, build_dir)
    if rec is None:
        return None
    d = results.recommendation_dict(build_dir)  # to_dict() of the run's Recommendation
    return _rec_fields(d, getattr(rec, "ranking", None), getattr(rec, "best", None),
                       int(getattr(rec, "n_boot", 0) or 0), inputs)


def _rec_fields(d: dict, ranking: pd.DataFrame | None, best_fallback, n_boot: int,
                inputs) -> dict:
    """Interface C's fields from ``d`` (``to_dict()``), the ranking filling what is absent."""
    r = ranking if isinstance(ranking, pd.DataFrame) else pd.DataFrame(columns=["model"])
    if {"computable", "overall"} <= set(r.columns):
        ok = r[r["computable"].astype(bool) & r["overall"].notna()]
    else:
        ok = r
    best = d.get("recommended", d.get("best", best_fallback))
    if best is None:
        return {"recommended": None}
    row = ok[ok["model"].astype(str) == str(best)] if "model" in ok else ok.iloc[0:0]
    row = row.iloc[0] if len(row) else None
    entry = next((m for m in d.get("models") or [] if str(m.get("model")) == str(best)), {})
    p_best = entry.get("first_share")
    if p_best is None and row is not None and "p_best" in row:
        p_best = row["p_best"]
    overall = None
    if row is not None and "overall" in row and pd.notna(row["overall"]):
        overall = float(row["overall"])
    if "indistinguishable" in d and isinstance(d["indistinguishable"], list) and d[
            "indistinguishable"] and isinstance(d["indistinguishable"][0], (list, tuple)):
        tied = sorted({m for grp in d["indistinguishable"] if best in grp for m in grp} - {best})
    else:
        tied = [str(m) for m in ok.loc[ok["tied_with_best"].astype(bool), "model"]
                if str(m) != str(best)] if "tied_with_best" in ok else []
    inputs_okr = getattr(inputs, "okr", None)
    defaulted: list[str] = []
    if d.get("models"):
        defaulted = [str(m["model"]) for m in d["models"] if m.get("defaulted")]
    else:
        for c in d.get("caveats", []) or []:
            if c.get("kind") == "defaulted":
                defaulted += [str(m) for m in c.get("models", [])]
        if not defaulted and inputs_okr is None and "okr" in set(ok["model"].astype(str)):
            defaulted = ["okr"]  # compare scores OKR on the configuration's default set
    if not n_boot and isinstance(d.get("bootstrap"), dict):
        n_boot = int(d["bootstrap"].get("replicates") or 0)
    cov = ((entry.get("criteria") or {}).get("coverage") or {}).get("value")
    return {"recommended": str(best), "overall": overall,
            "coverage": None if cov is None or pd.isna(cov) else float(cov),
            "missing": [str(x) for x in entry.get("missing_data") or []],
            "p_best": None if p_best is None or pd.isna(p_best) else float(p_best),
            "n_boot": n_boot,
            "tied": tied, "defaulted": defaulted,
            "what_would_change": list(d.get("what_would_change") or []),
            "okr_given": inputs_okr is not None,
            "ratings_given": getattr(inputs, "ratings", None) is not None}


#: Page 1 names the data a recommended model lacks when less than this share of its
#: weight has data.
PAGE1_COVERAGE = 0.75


def decision(v: dict | None, lang: str) -> list[str]:
    """The recommendation in one sentence, then its one caveat (Markdown)."""
    if v is None:
        return []
    if v.get("recommended") is None:
        return [tm("page1.decision.none", lang)]
    best = v["recommended"]
    name = model_label(best, lang)
    if v.get("p_best") is not None and v.get("overall") is not None and v.get("n_boot"):
        lead = tm("page1.decision", lang, model=name, overall=f"{v['overall']:.2f}",
                  p=f"{100 * v['p_best']:.0f}%", n_boot=f"{v['n_boot']:,}")
    else:
        lead = tm("page1.decision.plain", lang, model=name)
    caveats = []
    if v["defaulted"]:
        what = _sep("list", lang).join(t("page1.assumed." + m, lang) for m in v["defaulted"]
                                       if f"page1.assumed.{m}" in STRINGS[lang]) or "–"
        caveats.append(tm("page1.caveat.defaulted", lang, models=_models(v["defaulted"], lang),
                          what=what))
    if v.get("coverage") is not None and v["coverage"] < PAGE1_COVERAGE and v.get("missing"):
        # a model chosen with half its weight unmeasured is chosen on the other half
        caveats.append(tm("page1.caveat.coverage", lang, share=f"{100 * v['coverage']:.0f}%",
                          missing=_sep("list", lang).join(
                              t("input.ratings", lang) if m == "ratings" else metric_name(m, lang)
                              for m in v["missing"])))
    if v["tied"]:
        caveats.append(tm("page1.caveat.indistinguishable", lang, model=name,
                          others=_models(v["tied"], lang)))
    for w in v["what_would_change"][:1]:
        caveats.append(tm("page1.caveat.change", lang,
                          model=model_label(str(w.get("model")), lang),
                          raise_=crit_label(str(w.get("raise")), lang)
                          if f"crit.{w.get('raise')}" in STRINGS[lang] else str(w.get("raise")),
                          lower=crit_label(str(w.get("lower")), lang)
                          if f"crit.{w.get('lower')}" in STRINGS[lang] else str(w.get("lower"))))
    if not caveats:
        caveats.append(tm("page1.caveat.none", lang))
    return [MdRaw(_sep("sentence", lang).join([lead, *caveats]))]


def _when(first: str, last: str, lang: str) -> str:
    if first and last and first > last:  # dated steps out of order: show the span
        first, last = last, first
    if first and last and first != last:
        return tm("page1.when.range", lang, first=first, last=last)
    if first:
        return tm("page1.when.from", lang, first=first)
    if last:
        return tm("page1.when.until", lang, last=last)
    return ""


def power_line(g, lang: str):
    """Page 1's line on detection power (``ccpm report --power``): per behaviour planted,
    how many of the planted agents the checks found; None without it."""
    tab = getattr(g, "power", None) if g is not None else None
    if not getattr(g, "power_meta", None) or tab is None or not len(tab):
        return None
    items = [tm("page1.gaming.power.item", lang, what=_behaviour(str(b), lang), found=int(f),
                planted=int(n))
             for b, f, n in zip(tab["behaviour"], tab["found"], tab["planted"], strict=True)]
    return tm("page1.gaming.power", lang, items=MdRaw(_sep("pairs", lang).join(items)))


def gaming_finding(g, lang: str, truth_line: str | None = None) -> list[str]:
    """The main gaming finding: the flagged agents by name (pseudonyms when pseudonymized)
    with what they did and when, and the center-level steps (Markdown lines)."""
    if g is None:
        return []
    a = _alpha(g)
    alpha = f"{100 * a:.0f}%" if a >= 0.01 else f"{a:g}"
    found = agent_findings(g)
    out = []
    if found.empty:
        out.append(tm("page1.gaming.none", lang, alpha=alpha))
        # what "nobody" is worth here: the planted gamers the checks found in these calls
        if (line := power_line(g, lang)) is not None:
            out.append(line)
    else:
        items = []
        for r in found.head(MAX_NAMED).itertuples(index=False):
            what = _sep("list", lang).join(_behaviour(b, lang) for b in r.behaviours[:2])
            items.append(tm("page1.gaming.item", lang, agent=str(r.agent_id), what=what,
                            when=MdRaw(_when(r.first_date, r.last_date, lang))))
        more = len(found) - MAX_NAMED
        if more > 0:
            items.append(tm("page1.gaming.more", lang, n=more))
        key = "page1.gaming.agent" if len(found) == 1 else "page1.gaming.agents"
        out.append(tm(key, lang, n=len(found), alpha=alpha,
                      items=MdRaw(_sep("pairs", lang).join(items))))
    # the agents just above the level, flagged agents or not (the bank's MORIAH at q .06
    # beside one flagged agent went unmentioned on page 1)
    near = near_misses(g, a)
    if len(near):
        items = [tm("page1.gaming.near.item", lang, agent=str(r.agent_id),
                    what=_sep("list", lang).join(_behaviour(b, lang)
                                                 for b in r.behaviours[:2]),
                    q=f"{r.q_value:.2f}")
                 for r in near.itertuples(index=False)]
        out.append(tm("page1.gaming.near", lang, items=MdRaw(_sep("pairs", lang).join(items))))
    for r in center_steps(g).itertuples(index=False):
        lo, hi = _iso(r.date_lo), _iso(r.date_hi)
        out.append(tm("page1.gaming.center", lang, metric=_metric(str(r.metric), lang),
                      before=_fmt_level(str(r.metric), r.before),
                      after=_fmt_level(str(r.metric), r.after), date=_iso(r.date),
                      interval=MdRaw(tm("page1.gaming.center.interval", lang, lo=lo, hi=hi)
                                     if lo and hi else "")))
    if truth_line:
        out.append(truth_line)
    return out


def next_steps(v: dict | None, g, lang: str, *, set_aside: dict | None = None) -> list[str]:
    """What to do next, as short imperative lines (Markdown). ``set_aside``: the calls rows
    set aside on load (:func:`_set_aside`); from :data:`PAGE1_SET_ASIDE` of the rows read,
    fixing the export comes first (a director reads page 1 only, and a decision taken on
    half the rows must say so there)."""
    out = []
    if set_aside is not None and set_aside["share_value"] >= PAGE1_SET_ASIDE:
        out.append(tm("page1.next.data", lang, **set_aside))
    found = agent_findings(g) if g is not None else pd.DataFrame()
    if not found.empty:
        names = _sep("list", lang).join(found["agent_id"].astype(str).head(MAX_NAMED))
        out.append(tm("page1.next.review", lang, agents=names))
    if v and v.get("recommended"):
        name = model_label(v["recommended"], lang)
        if v["tied"]:
            out.append(tm("page1.next.choose", lang,
                          models=_models([v["recommended"], *v["tied"]], lang)))
        else:
            out.append(tm("page1.next.adopt", lang, model=name))
        if v["defaulted"]:
            missing = []
            if "okr" in v["defaulted"] and not v.get("okr_given"):
                missing.append(t("input.okr", lang))
            if "360" in v["defaulted"] and not v.get("ratings_given"):
                missing.append(t("input.ratings", lang))
            # the configuration's assumed targets and weights are inputs too: an OKR file
            # alone does not put KPI or the scorecard on the center's own definitions
            missing += [t(f"page1.input.{m}", lang) for m in ("kpi", "bsc")
                        if m in v["defaulted"]]
            if missing:
                out.append(tm("page1.next.inputs", lang, inputs=_sep("list", lang).join(missing),
                              models=_models(v["defaulted"], lang)))
    out.append(tm("page1.next.rerun", lang))
    return out


def page_one(inputs, build_dir, lang: str = "en") -> list:
    """The opening of the management summary: decision (+ caveat), the gaming finding,
    what to do next. Writes ``page1.json`` (plain text) for the deck."""
    v = rec_view(inputs, build_dir)
    g = results.gaming(inputs, build_dir) if results.available().get("gaming") else None
    truth = None
    if g is not None:
        tr = truth_recovery(g, inputs, lang)
        truth = tr.text if tr is not None else None
    dec = decision(v, lang)
    gam = gaming_finding(g, lang, truth)
    nxt = next_steps(v, g, lang, set_aside=_set_aside(inputs, lang, broken_only=True))
    out: list = [heading("page1.decision.title", lang, level=2)]
    out += [Markdown(x) for x in dec] or [unavailable("recommend", lang)]
    if gam:
        out += [heading("page1.gaming.title", lang, level=2), bullets(gam)]
    out += [heading("page1.next.title", lang, level=2), bullets(nxt)]
    Path(build_dir, "page1.json").write_text(json.dumps({
        "lang": lang, "decision": [md_plain(x) for x in dec],
        "gaming": [md_plain(x) for x in gam], "next": [md_plain(x) for x in nxt],
        "agents": agent_findings(g)["agent_id"].astype(str).tolist() if g is not None else [],
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


#: Share of the calls rows set aside on load from which page 1 says so (under "What to do
#: next"); below it the key findings on page 2 carry the count.
PAGE1_SET_ASIDE = 0.05


def _set_aside(inputs: ReportInputs, lang: str, *, broken_only: bool = False) -> dict | None:
    """The calls rows the loader set aside: ``n, read, share, reason, k`` (the most common
    reason and its rows) as text for the messages, or None when every row was read.

    ``broken_only``: leave out the rows the mapping sets aside by design (its own reasons,
    ``mapping_reasons`` in the manifest: the Anonymous Bank's calls abandoned in the voice
    menu and phantom records, 6 % of its rows), which no better export would bring back."""
    calls = next(x for x in inputs.manifest["inputs"] if x["kind"] == "calls")
    nq = int(calls.get("quarantined") or 0)
    q = inputs.quarantine
    if broken_only and q is not None and not q.empty:
        declared = set(calls.get("mapping_reasons") or [])
        by_design = q["reason"].astype(str).map(
            lambda r: any(x in declared for x in r.split(";")))
        nq -= int(q.loc[by_design, "rows"].sum())
        q = q[~by_design]
    if nq <= 0:
        return None
    read = max(int(calls.get("rows_read") or 0), 1)
    top = q.sort_values("rows", ascending=False).iloc[0] if q is not None and not q.empty else None
    return {"n": f"{nq:,}", "read": f"{read:,}", "share": f"{100 * nq / read:.1f}%",
            "share_value": nq / read,
            "reason": "–" if top is None else reason_text(str(top["reason"]), lang),
            "k": "–" if top is None else f"{int(top['rows']):,}"}


def headlines(inputs: ReportInputs, build_dir, lang: str = "en", *,
              with_recommendation: bool = True) -> list[str]:
    """The management summary's key findings, each a sentence, the recommendation first;
    all of them are written to ``<build_dir>/headlines.json`` for the slide deck. Only
    findings whose library piece exists are included.

    ``with_recommendation=False`` leaves the recommendation's findings out of the list
    returned (for a page that states the recommendation just above)."""
    v = results.center(inputs).volume
    rec_lines = recommendation_headlines(inputs, build_dir, lang)
    out = list(rec_lines)
    out.append(tm("summary.finding.volume", lang, calls=f"{v['calls']:,}", agents=v["agents"],
                  queues=v["queues"], start=v["start"], end=v["end"]))
    if (aside := _set_aside(inputs, lang)) is not None:
        out.append(tm("summary.finding.quarantine", lang, **aside))
    cmp = results.comparison(inputs, build_dir)
    if cmp is not None:
        w = results.kendall_w(cmp)
        if w is not None:
            level = "high" if w >= 0.7 else "mid" if w >= 0.4 else "low"
            out.append(tm("summary.finding.agreement", lang, w=f"{w:.2f}",
                         level=tm(f"summary.finding.agreement.{level}", lang)))
    # the gaming finding (agents named, dates) is on page 1 itself (page_one)
    (Path(build_dir) / "headlines.json").write_text(
        json.dumps({"lang": lang, "findings": [md_plain(x) for x in out]}, ensure_ascii=False,
                   indent=1),  # plain text for the deck; the report shows the Markdown
        encoding="utf-8")
    return out if with_recommendation else out[len(rec_lines):]
