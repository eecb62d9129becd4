"""What-if: re-score the same agents after removing the calls the gaming checks flagged.

For every agent-period flagged by a gaming check (``gaming_flags.csv`` /
:attr:`analysis.gaming.runner.GamingReport.flags`, rows with ``flagged`` true; a
``period`` of ``all`` means every period), the calls that carry that kind of gaming
are removed, the panel is rebuilt from the remaining calls with the same settings
(period, short-call threshold, repeat window, and the same data end, so repeat-call
censoring does not move), and the models are compared and the recommendation made
again. :data:`RULES` says what is removed for each check:

==========================  ==========================================================
check                       calls removed (flagged agent-periods only)
==========================  ==========================================================
short_calls_peer,           handled calls with ``talk_s`` below the short-call threshold
short_calls_trend,          (the hang-ups that cut handle time)
short_calls_change,
repeat_after_short,
quick_callback_after_short
bunching_agent              handled calls whose handle time (talk + hold + ACW) falls in
                            the window just below the target (target and window read from
                            the flag's detail, else ``aht_target`` and 10% of it)
transfer_dumping            transferred calls
end_of_day_stretch          calls answered in the last ``eod_window_min`` (60) minutes
                            before the agent's last answer of the day
==========================  ==========================================================

Checks that flag no removable subset of calls are listed with the reason and left
alone: ACW/hold inflation pads every call (the calls are real work; removing them
would remove the agent), survey selection and OKR sandbagging act on surveys and
targets, 360 reciprocity on ratings, change points describe timing, and
``bunching_center`` names no agent. Abandoned calls are never removed.

The recommendation after removal keeps the resistance to gaming measured on all calls
(:func:`analysis.recommend.recommend` with ``gaming_from``: the counterfactual planting of
behaviours into honest agents' calls); the other criteria are measured again on the
remaining calls.

The result is comparable because it is the same agents, configuration and inputs;
its limits: removing calls is not the same as the agent having worked honestly (the
hung-up customers would have been served, probably at a longer handle time).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from .escape import safe_csv, sql_quote_path
from .workcopy import raw_tempdir

__all__ = ["RULES", "NOT_REMOVABLE", "WhatIf", "removal_plan", "remove_flagged_calls",
           "whatif", "REMOVED_COLUMNS", "WHATIF_MODEL_COLUMNS", "WHATIF_AGENT_COLUMNS"]

#: check -> removal rule.
RULES = {
    "short_calls_peer": "short", "short_calls_trend": "short",
    "short_calls_change": "short", "repeat_after_short": "short",
    "quick_callback_after_short": "short",
    "bunching_agent": "bunching", "transfer_dumping": "transfer",
    "end_of_day_stretch": "end_of_day",
}
RULE_TEXT = {
    "short": "handled calls with talk time below {short_call_s:g} s",  # the check's threshold
    "bunching": "handled calls with handle time in [{lo:g}, {hi:g}) s, just below the target",
    "transfer": "transferred calls",
    "end_of_day": "calls answered in the last {eod:g} min before the agent's last answer "
                  "of the day",
}
#: check -> why no calls are removed for it.
NOT_REMOVABLE = {
    "acw_inflation": "padding lengthens every call; no subset of calls to remove",
    "hold_inflation": "padding lengthens every call; no subset of calls to remove",
    "acw_change": "padding lengthens every call; no subset of calls to remove",
    "hold_change": "padding lengthens every call; no subset of calls to remove",
    "acw_step": "padding lengthens every call; no subset of calls to remove",
    "hold_step": "padding lengthens every call; no subset of calls to remove",
    "transfer_step": "a step in the transfer rate names no single transfer to remove",
    "survey_selection": "acts on which calls get surveyed, not on the calls",
    "okr_sandbagging": "acts on OKR targets, not on calls",
    "reciprocity_360": "acts on 360 ratings, not on calls",
    "changepoints": "describes when behaviour changed; removes nothing",
    "bunching_center": "a center-level excess names no agent",
}
PLAN_COLUMNS = ["agent_id", "period", "check", "rule", "lo", "hi", "agent_ended", "before",
                "what"]
REMOVED_COLUMNS = ["agent_id", "period", "check", "rule", "what", "calls_removed",
                   "handled_calls_before"]
WHATIF_MODEL_COLUMNS = ["model", "overall_before", "overall_after", "rank_before",
                        "rank_after", "rank_change", "kendall_tau_agents",
                        "flagged_pct_before", "flagged_pct_after", "computable_after"]
WHATIF_AGENT_COLUMNS = ["model", "agent_id", "flagged", "pct_before", "pct_after",
                        "pct_change", "rank_before", "rank_after", "rank_change"]

_HANDLED = "outcome IN ('answered', 'transferred')"
_HANDLE = "talk_s + coalesce(hold_s, 0) + coalesce(acw_s, 0)"
_PERIOD_FMT = {"month": "%Y-%m", "week": "%G-W%V", "day": "%Y-%m-%d"}


def _flag_frame(flags) -> pd.DataFrame:
    if not isinstance(flags, pd.DataFrame) and hasattr(flags, "flags"):
        flags = flags.flags  # a GamingReport
    f = pd.DataFrame(flags).copy()
    for c in ("agent_id", "check"):
        if c not in f.columns:
            from .errors import InputError

            raise InputError(f"gaming flags lack a {c} column (gaming_flags.csv expected)")
    if "flagged" in f.columns:
        v = f["flagged"]
        if v.dtype != bool:
            v = v.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "y", "t"])
        f = f[v.astype(bool)]
    if "period" not in f.columns:
        f["period"] = "all"
    if "detail" not in f.columns:
        f["detail"] = ""
    return f


def removal_plan(flags, *, short_call_s: float, aht_target: float | None = None,
                 eod_window_min: float = 60.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which calls to remove for each flagged agent-period, and which checks remove none.

    Parameters
    ----------
    flags : DataFrame or GamingReport
        ``agent_id, period, check, flagged[, detail]``; only flagged rows are used.
    short_call_s : float
        Short-call threshold (talk seconds).
    aht_target : float, optional
        Handle-time target for bunching when the flag's detail does not give it.
    eod_window_min : float
        End-of-day window in minutes.

    Returns
    -------
    plan : DataFrame
        ``agent_id, period, check, rule, lo, hi, what`` (``period`` ``*`` = all periods;
        ``lo``/``hi`` the handle-time window of a bunching rule, ``hi`` the short-call
        threshold of a short rule; ``before`` a date: only calls answered before it, for
        ``short_calls_change`` flags, whose period is the date of a center-wide change).
    skipped : DataFrame
        ``check, n_flags, reason``: flagged checks for which no calls are removed.
    """
    f = _flag_frame(flags)
    rows, skipped = [], []
    for check, g in f.groupby("check", sort=True):
        rule = RULES.get(str(check))
        if rule is None:
            skipped.append((str(check), len(g), NOT_REMOVABLE.get(
                str(check), "no rule for this check")))
            continue
        for r in g.itertuples(index=False):
            lo = hi = np.nan
            agent_ended = False
            thr = short_call_s
            if rule == "short":
                m = re.search(r"calls under ([\d.]+) s( ended by the agent)?", str(r.detail))
                if m:  # the check's own threshold (it may be found automatically)
                    thr, agent_ended = float(m.group(1)), bool(m.group(2))
                hi = thr
            if rule == "bunching":
                m = re.search(r"within ([\d.]+) s of the ([\d.]+) s target", str(r.detail))
                if m:
                    w, t = float(m.group(1)), float(m.group(2))
                elif aht_target:
                    t, w = float(aht_target), 0.1 * float(aht_target)
                else:
                    skipped.append((str(check), 1, "no handle-time target known "
                                                   "(aht_target)"))
                    continue
                lo, hi = t - w, t
            what = RULE_TEXT[rule].format(short_call_s=thr, lo=lo, hi=hi,
                                          eod=eod_window_min)
            if agent_ended:
                what += " ended by the agent"
            per = str(r.period)
            before = None
            if str(check) == "short_calls_change" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", per):
                # the flag is the excess *before* a center-wide change on that date
                before, per = per, "*"
                what += f", answered before {before}"
            rows.append((str(r.agent_id), "*" if per.lower() in ("all", "nan", "") else per,
                         str(check), rule, lo, hi, agent_ended, before, what))
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS).drop_duplicates(
        ["agent_id", "period", "check"])
    sk = pd.DataFrame(skipped, columns=["check", "n_flags", "reason"])
    if len(sk):
        sk = sk.groupby(["check", "reason"], as_index=False)["n_flags"].sum()[
            ["check", "n_flags", "reason"]]
    return plan.reset_index(drop=True), sk


def remove_flagged_calls(calls, plan: pd.DataFrame, out: str | Path, *, period: str = "month",
                         short_call_s: float, eod_window_min: float = 60.0) -> pd.DataFrame:
    """Write the calls minus those the plan removes to ``out`` (Parquet), in DuckDB.

    Returns
    -------
    DataFrame
        :data:`REMOVED_COLUMNS`: per agent, period and check, the calls removed and the
        agent-period's handled calls before (a call removed by two checks is counted
        under the first in check order).
    """
    from .panel import calls_view

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        calls_view(con, calls, "calls")
        order = [r[0] for r in con.execute("DESCRIBE calls").fetchall()]
        cols = set(order)
        con.register("_plan", plan.assign(lo=plan["lo"].astype(float),
                                          hi=plan["hi"].astype(float),
                                          agent_ended=plan["agent_ended"].astype(bool),
                                          before=pd.to_datetime(plan["before"])))
        fmt = _PERIOD_FMT[period]
        handle = _HANDLE if {"hold_s", "acw_s"} <= cols else "talk_s"
        eod = float(eod_window_min)
        ended = (" AND (NOT p.agent_ended OR c.ended_by = 'agent')" if "ended_by" in cols
                 else "")
        con.execute(f"""
            CREATE TEMP TABLE marked AS
            WITH c AS (
                SELECT row_number() OVER () AS _rid, *,
                       strftime(answer_ts, '{fmt}') AS _period,
                       {handle} AS _handle,
                       max(answer_ts) OVER (PARTITION BY agent_id, CAST(answer_ts AS DATE))
                           AS _day_last
                FROM calls),
            hit AS (
                SELECT c._rid, min(p."check") AS _check
                FROM c JOIN _plan p
                  ON CAST(c.agent_id AS VARCHAR) = p.agent_id
                 AND (p.period = '*' OR p.period = c._period)
                 AND (p.before IS NULL OR c.answer_ts < p.before)
                WHERE c.outcome IN ('answered', 'transferred') AND (
                      (p.rule = 'short' AND c.talk_s < p.hi{ended})
                   OR (p.rule = 'transfer' AND c.outcome = 'transferred')
                   OR (p.rule = 'bunching' AND c._handle >= p.lo AND c._handle < p.hi)
                   OR (p.rule = 'end_of_day'
                       AND c.answer_ts >= c._day_last - INTERVAL '{eod:g}' MINUTE))
                GROUP BY c._rid)
            SELECT c.*, hit._check FROM c LEFT JOIN hit USING (_rid)""")
        removed = con.execute("""
            SELECT CAST(agent_id AS VARCHAR) AS agent_id, _period AS period,
                   _check AS "check", count(*) AS calls_removed
            FROM marked WHERE _check IS NOT NULL GROUP BY ALL""").df()
        before = con.execute(f"""
            SELECT CAST(agent_id AS VARCHAR) AS agent_id, _period AS period,
                   count(*) AS handled_calls_before
            FROM marked WHERE {_HANDLED} GROUP BY ALL""").df()
        keep = ", ".join('"' + c.replace('"', '""') + '"' for c in order)
        out = Path(out)
        con.execute(f"COPY (SELECT {keep} FROM marked WHERE _check IS NULL ORDER BY _rid) "
                    f"TO {sql_quote_path(out)} (FORMAT parquet)")
    finally:
        con.close()
    r = removed.merge(before, on=["agent_id", "period"], how="left")
    info = plan.drop_duplicates(["agent_id", "check"])[["agent_id", "check", "rule", "what"]]
    r = r.merge(info, on=["agent_id", "check"], how="left")
    return r[REMOVED_COLUMNS].sort_values(["agent_id", "period", "check"], ignore_index=True)


@dataclass
class WhatIf:
    """Result of :func:`whatif`.

    Attributes
    ----------
    models : DataFrame
        :data:`WHATIF_MODEL_COLUMNS`, one row per model: overall recommendation score and
        rank before and after (``rank_change`` = before - after: positive = moved up),
        ``kendall_tau_agents`` (agreement of the model's agent ranking before and after,
        on agents' mean scores), flagged agents' mean percentile before and after.
    agents : DataFrame
        :data:`WHATIF_AGENT_COLUMNS`: per model and agent, mean within-period percentile
        (100 = best) and mean rank before and after.
    removed : DataFrame
        :data:`REMOVED_COLUMNS`: what was removed, per agent, period and check.
    skipped : DataFrame
        ``check, n_flags, reason``: flagged checks for which nothing was removed.
    before, after : Comparison
    recommendation_before, recommendation_after : Recommendation or None
    """

    models: pd.DataFrame
    agents: pd.DataFrame
    removed: pd.DataFrame
    skipped: pd.DataFrame
    before: object = None
    after: object = None
    recommendation_before: object = None
    recommendation_after: object = None
    notes: list = field(default_factory=list)

    def text(self, lang: str = "en") -> str:
        """Plain-language summary of what was removed and what changed."""
        zh = lang.startswith("zh")
        n = int(self.removed["calls_removed"].sum()) if len(self.removed) else 0
        na = self.removed["agent_id"].nunique() if len(self.removed) else 0
        lines = [f"移除了 {na} 名被标记坐席的 {n} 通电话。" if zh else
                 f"Removed {n:,} calls of {na} flagged agent(s)."]
        for r in self.removed.drop_duplicates("check").itertuples(index=False):
            k = int(self.removed.loc[self.removed["check"] == r.check, "calls_removed"].sum())
            lines.append(f"  {r.check}: {r.what} ({k:,})")
        for r in self.skipped.itertuples(index=False):
            lines.append(f"  {r.check}: 未移除（{r.reason}）" if zh else
                         f"  {r.check}: nothing removed ({r.reason})")
        rb, ra = self.recommendation_before, self.recommendation_after
        if rb is not None and ra is not None:
            if rb.best == ra.best:
                lines.append(f"推荐不变：{ra.best}。" if zh else
                             f"The recommendation stays {ra.best}.")
            else:
                lines.append(f"推荐由 {rb.best} 变为 {ra.best}。" if zh else
                             f"The recommendation changes from {rb.best} to {ra.best}.")
        for r in self.models.itertuples(index=False):
            if pd.notna(r.flagged_pct_before) and pd.notna(r.flagged_pct_after):
                lines.append(f"  {r.model}: flagged agents' mean percentile "
                             f"{r.flagged_pct_before:.0f} -> {r.flagged_pct_after:.0f}"
                             if not zh else f"  {r.model}: 被标记坐席平均百分位 "
                             f"{r.flagged_pct_before:.0f} -> {r.flagged_pct_after:.0f}")
        return "\n".join(lines)

    def to_dir(self, out: str | Path) -> list[Path]:
        """Write ``whatif.csv`` (models), ``whatif_agents.csv``, ``whatif_removed.csv``
        (with the skipped checks as rows with ``calls_removed`` empty) and, when made,
        ``recommendation_whatif.json``; return the paths."""
        import json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "whatif.csv", out / "whatif_agents.csv", out / "whatif_removed.csv"]
        safe_csv(self.models, paths[0], index=False)
        safe_csv(self.agents, paths[1], index=False)
        sk = self.skipped.assign(agent_id="", period="", rule="", what=self.skipped["reason"],
                                 calls_removed=np.nan, handled_calls_before=np.nan)
        safe_csv(pd.concat([self.removed, sk[REMOVED_COLUMNS]], ignore_index=True),
                 paths[2], index=False)
        if self.recommendation_after is not None:
            p = out / "recommendation_whatif.json"
            p.write_text(json.dumps({"whatif": self.text("en"),
                                     **self.recommendation_after.to_dict()}, indent=2,
                                    allow_nan=False, ensure_ascii=False), encoding="utf-8")
            paths.append(p)
        return paths


def _agent_table(comp) -> pd.DataFrame:
    from .criteria import percentiles as _percentiles

    parts = []
    for m in dict.fromkeys(comp.scores["model"]):
        s = comp.scores[comp.scores["model"] == m]
        pct = _percentiles(s).groupby("agent_id")["pct"].mean()
        rk = s.groupby("agent_id")["rank"].mean()
        sc = s.groupby("agent_id")["score"].mean()
        parts.append(pd.DataFrame({"model": m, "pct": pct, "rank": rk, "score": sc})
                     .rename_axis("agent_id").reset_index())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["model", "agent_id", "pct", "rank", "score"])


def whatif(comparison, calls, flags, *, ratings=None, okr=None, aht_target: float | None = None,
           eod_window_min: float = 60.0, recommend_models: bool = True,
           n_boot: int | None = None, progress: bool = False, gaming_from=None) -> WhatIf:
    """Re-score the same agents without the calls the gaming checks flagged.

    Parameters
    ----------
    comparison : Comparison
        The comparison on all calls (its panel's settings, configuration and gaming
        flags are reused).
    calls : str, Path, list or DataFrame
        The same contract-shaped calls the panel was built from.
    flags : DataFrame or GamingReport
        Gaming flags (``gaming_flags.csv``).
    ratings, okr
        The same optional inputs as the comparison.
    aht_target : float, optional
        Target for bunching flags whose detail lacks it (default: the KPI's AHT target).
    eod_window_min : float
        End-of-day window.
    recommend_models : bool
        Also make the recommendation before and after.
    n_boot : int, optional
        Bootstrap replicates behind the intervals of the re-scored comparison's summary
        (default: the configuration's ``compare.n_boot``). The what-if's tables and the
        recommendation do not use those intervals, so a caller that only wants them can
        pass 0 and save most of the re-scoring time.
    gaming_from : Recommendation, optional
        The recommendation on all calls, whose gaming counterfactual both recommendations
        reuse (default: measured here on all calls).

    Returns
    -------
    WhatIf
    """
    from .compare import compare_models
    from .panel import build_panel
    from .recommend import recommend

    info = comparison.panel.attrs.get("ccpm_panel", {})
    config = comparison.summary.get("config") or {}
    period = info.get("period", "month")
    short_call_s = float(info.get("short_call_s", 10.0))
    if aht_target is None:
        aht_target = ((config.get("kpi") or {}).get("metrics") or {}).get("aht_s", {}).get(
            "target")
    plan, skipped = removal_plan(flags, short_call_s=short_call_s, aht_target=aht_target,
                                 eod_window_min=eod_window_min)

    def say(msg):
        if progress:
            print(f"ccpm: what-if: {msg}", file=sys.stderr)

    say(f"{len(plan)} agent-period rule(s) from {plan['check'].nunique()} check(s)")
    with raw_tempdir("whatif") as tmp:
        kept = Path(tmp) / "calls_kept.parquet"
        removed = remove_flagged_calls(calls, plan, kept, period=period,
                                       short_call_s=short_call_s, eod_window_min=eod_window_min)
        say(f"{int(removed['calls_removed'].sum()) if len(removed) else 0:,} calls removed; "
            "rebuilding the panel")
        panel = build_panel(kept, period=period, short_call_s=short_call_s,
                            repeat_window_h=float(info.get("repeat_window_h", 72.0)),
                            data_end=info.get("data_end_ts"))
    extra = [c for c in ("shift", "team", "site") if c in comparison.panel.columns]
    if extra:
        attrs = panel.attrs
        panel = panel.merge(comparison.panel[["agent_id", *extra]].drop_duplicates("agent_id"),
                            on="agent_id", how="left")
        panel.attrs = attrs
    say("re-scoring the models")
    if n_boot is not None:
        config = {**config, "compare": {**(config.get("compare") or {}), "n_boot": int(n_boot)}}
    after = compare_models(panel, config=config, ratings=ratings, okr=okr,
                           flagged=comparison.flags,
                           models=list(comparison.results) or None)
    rb = ra = None
    if recommend_models:
        say("making the recommendation again")
        rb = recommend(comparison, calls=calls, gaming_from=gaming_from)
        ra = recommend(after, gaming_from=rb)
    tb, ta = _agent_table(comparison), _agent_table(after)
    ag = tb.merge(ta, on=["model", "agent_id"], how="outer", suffixes=("_before", "_after"))
    flagged = set(comparison.flagged or [])
    ag["flagged"] = ag["agent_id"].isin(flagged)
    ag["pct_change"] = ag["pct_after"] - ag["pct_before"]
    ag["rank_change"] = ag["rank_before"] - ag["rank_after"]
    agents = ag[WHATIF_AGENT_COLUMNS].sort_values(["model", "agent_id"], ignore_index=True)
    rows = []
    for m in dict.fromkeys(list(comparison.results) or list(agents["model"])):
        g = ag[ag["model"] == m]
        both = g.dropna(subset=["score_before", "score_after"])
        tau = (float(stats.kendalltau(both["score_before"], both["score_after"]).statistic)
               if len(both) >= 3 else np.nan)
        fl = g[g["flagged"]]

        def rank_of(rec, m=m):
            if rec is None:
                return np.nan, np.nan
            r = rec.ranking.set_index("model")
            return (float(r.loc[m, "overall"]), float(r.loc[m, "rank"])) if m in r.index \
                else (np.nan, np.nan)

        ob, rkb = rank_of(rb)
        oa, rka = rank_of(ra)
        res_after = after.results.get(m)
        rows.append({"model": m, "overall_before": ob, "overall_after": oa,
                     "rank_before": rkb, "rank_after": rka, "rank_change": rkb - rka,
                     "kendall_tau_agents": tau,
                     "flagged_pct_before": fl["pct_before"].mean() if len(fl) else np.nan,
                     "flagged_pct_after": fl["pct_after"].mean() if len(fl) else np.nan,
                     "computable_after": bool(res_after.computable) if res_after else False})
    models = pd.DataFrame(rows, columns=WHATIF_MODEL_COLUMNS)
    return WhatIf(models=models, agents=agents, removed=removed, skipped=skipped,
                  before=comparison, after=after, recommendation_before=rb,
                  recommendation_after=ra)
