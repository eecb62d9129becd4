"""Gaming sensitivity by counterfactual: plant a known behaviour into honest agents' own
calls at a stated dose, rescore every model, and measure the percentile points the model
pays the gamer.

For a seeded sample of agents the gaming checks did not flag, each behaviour is planted
into their own calls (DuckDB over the calls' Parquet), the panel is rebuilt with the
comparison's settings (period, short-call threshold, repeat window, data end), their rows
replace theirs in the comparison's panel, every model is run again, and each planted
agent's within-period percentile (0 = worst, 100 = best) is compared with their
percentile on the real calls, both against the agents not planted into (so that one
planted agent's fall does not lift another). The gain in percentile points is what the model pays for
the behaviour (negative: the model makes the gamer pay). Behaviours and doses
(:data:`BEHAVIOURS`; ``dose`` default 0.10):

=====================  ================================================================
behaviour              what is planted (in a share ``dose`` of the agent's handled calls
                       unless said otherwise)
=====================  ================================================================
hangups                answered calls cut to 3-15 s talk, no hold, 30% of the wrap-up,
                       ended by the agent, unresolved, QA
                       -30, no survey; the customer calls back 90 min later (to
                       another agent)
bunching               calls whose handle time is within 60 s above the KPI's AHT target
                       pushed 1-15 s below it (the share of those eligible calls is
                       raised so that ``dose`` of all handled calls are touched where
                       enough are eligible)
acw_padding            after-call work of every call lengthened by ``dose`` (10% longer)
transfer_dumping       answered calls transferred after 20-80 s talk, unresolved, QA -10
end_of_day_stretch     talk time of calls answered in the agent's last hour of the day
                       lengthened by ``dose``
hold_padding           hold time of every call put on hold lengthened by ``dose`` (for
                       :mod:`analysis.detection`; not in the models' gaming sensitivity,
                       :data:`SENSITIVITY_BEHAVIOURS`)
=====================  ================================================================

Each behaviour goes to its own agents, all planted at once (a group of gamers, as on a
real floor; one rescoring of every model); callbacks are
answered by a phantom agent whose row is dropped. Limits: the planted calls change only
what the calls record (a hang-up's later callback, not the customer's mood elsewhere);
the 360 ratings and OKR targets are not changed, so the 360 model cannot pay call-level
gaming by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .escape import sql_quote_path
from .workcopy import raw_tempdir

__all__ = ["BEHAVIOURS", "SENSITIVITY_BEHAVIOURS", "GamingDose", "plant_behaviour",
           "gaming_dose"]

#: behaviour -> plain description of the dose.
BEHAVIOURS = {
    "hangups": "hang-up habit on {dose:.0%} of answered calls",
    "bunching": "handle time pushed just below the AHT target on {dose:.0%} of handled calls",
    "acw_padding": "after-call work padded by {dose:.0%}",
    "transfer_dumping": "{dose:.0%} of answered calls dumped by transfer",
    "end_of_day_stretch": "talk stretched by {dose:.0%} in the last hour of the day",
    "hold_padding": "hold time padded by {dose:.0%} on calls put on hold",
}
#: The behaviours :func:`gaming_dose` plants by default (the models' gaming sensitivity).
SENSITIVITY_BEHAVIOURS = ("hangups", "bunching", "acw_padding", "transfer_dumping",
                          "end_of_day_stretch")
PHANTOM = "~callback"


@dataclass
class GamingDose:
    """Result of :func:`gaming_dose`.

    Attributes
    ----------
    gains : dict
        behaviour -> model -> DataFrame (planted agents x periods) of percentile points
        gained (NaN where the agent is not scored in that period, or the model not
        computable).
    agents : list of str
        The planted agents.
    assignment : dict
        behaviour -> the agents it was planted into.
    dose : float
    periods : list of str
    notes : list of str
    """

    gains: dict
    agents: list
    dose: float
    periods: list
    notes: list = field(default_factory=list)
    assignment: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """``{behaviour: {"dose", "unit", "what", "n_agents", "by_model": {m: gain}}}``:
        the mean gain over planted agent-periods."""
        out = {}
        for b, by in self.gains.items():
            out[b] = {"dose": self.dose, "unit": "percentile points gained",
                      "what": BEHAVIOURS[b].format(dose=self.dose),
                      "n_agents": len(self.assignment.get(b, [])),
                      "by_model": {m: float(np.nanmean(g.to_numpy())) if np.isfinite(
                          g.to_numpy()).any() else float("nan") for m, g in by.items()}}
        return out


def _cols(con) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE calls").fetchall()]


def plant_behaviour(calls, behaviour, agents: list[str] | None = None,
                    out: str | Path | None = None, *, dose: float | dict = 0.10,
                    aht_target: float = 360.0, seed: int = 0, whole: bool = False,
                    start=None, callback_share: float = 1.0,
                    callback_min: float = 90.0, callbacks_to: str = "phantom") -> Path:
    """Write calls with behaviours planted into agents' own calls to ``out`` (Parquet).

    Only the planted agents' calls and the other calls of their customers (for repeat
    calls) are written: enough to rebuild the planted agents' panel rows (``whole``:
    every call, for a rerun of the gaming checks).

    Parameters
    ----------
    calls : str, Path, list or DataFrame
        Contract-shaped calls.
    behaviour : str or dict
        A key of :data:`BEHAVIOURS` planted into every agent of ``agents``, or a mapping
        agent_id -> behaviour (``agents`` then ignored).
    agents : list of str, optional
    out : str or Path
    dose : float or dict
        In (0, 1]; a dict gives each behaviour its own (behaviour -> dose).
    aht_target : float
        Handle-time target for ``bunching`` (seconds).
    seed : int
        Which calls are touched (a hash of the call id and the seed).
    whole : bool
        Write every call of ``calls``, the planted ones changed.
    start : timestamp, optional
        Plant only into calls answered at or after it (behaviour taken up mid-window).
    callback_share, callback_min
        Share of hung-up customers (with a ``customer_id``) who call back, and after how
        many minutes.
    callbacks_to : str
        ``"phantom"``: the callbacks are answered by a phantom agent (:data:`PHANTOM`);
        ``"peers"``: by an agent of the same queue who is not planted into (a hash of the
        call id picks which; the phantom where the queue has none).
    """
    from .panel import calls_view

    assign = ({str(a): str(b) for a, b in behaviour.items()} if isinstance(behaviour, dict)
              else {str(a): str(behaviour) for a in agents or []})
    bad = set(assign.values()) - set(BEHAVIOURS)
    if bad:
        raise KeyError(sorted(bad)[0])
    doses = ({b: float(dose.get(b, 0.10)) for b in BEHAVIOURS} if isinstance(dose, dict)
             else dict.fromkeys(BEHAVIOURS, float(dose)))
    if callbacks_to not in ("phantom", "peers"):
        raise ValueError("callbacks_to must be phantom or peers")
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        calls_view(con, calls, "calls_all")
        con.register("_planted", pd.DataFrame({"agent_id": list(assign),
                                               "_b": list(assign.values())}))
        cust = [r[0] for r in con.execute("DESCRIBE calls_all").fetchall()]
        mine = "CAST(agent_id AS VARCHAR) IN (SELECT agent_id FROM _planted)"
        if whole:
            con.execute("CREATE TEMP TABLE calls AS SELECT * FROM calls_all")
        elif "customer_id" in cust:
            con.execute(f"""CREATE TEMP TABLE calls AS SELECT * FROM calls_all
                WHERE {mine} OR customer_id IN (
                    SELECT DISTINCT customer_id FROM calls_all
                    WHERE {mine} AND customer_id IS NOT NULL)""")
        else:
            con.execute(f"CREATE TEMP TABLE calls AS SELECT * FROM calls_all WHERE {mine}")
        order = _cols(con)
        cols = set(order)
        hold = "coalesce(hold_s, 0)" if "hold_s" in cols else "0"
        acw = "coalesce(acw_s, 0)" if "acw_s" in cols else "0"
        s = int(seed)
        u = f"((hash(CAST(call_id AS VARCHAR) || '{s}') % 1000003) / 1000003.0)"
        u2 = f"((hash(CAST(call_id AS VARCHAR) || 'x{s}') % 1000003) / 1000003.0)"
        since = ("" if start is None else " AND answer_ts >= CAST("
                 f"'{pd.Timestamp(start).isoformat(sep=' ')}' AS TIMESTAMP)")
        handled = f"(outcome IN ('answered', 'transferred'){since})"
        answered = f"outcome = 'answered'{since}"
        t = float(aht_target)
        land = f"({np.floor(t)} - 1 - floor(15 * {u2}))"
        scale = f"(({land} - {hold}) / greatest(talk_s + {acw}, 1))"
        d = doses
        hits = {
            "hangups": f"{answered} AND {u} < {d['hangups']}",
            "transfer_dumping": f"{answered} AND {u} < {d['transfer_dumping']}",
            "acw_padding": handled,
            "hold_padding": f"{handled} AND {hold} > 0",
            "end_of_day_stretch": f"{handled} AND answer_ts >= _day_last - INTERVAL 60 MINUTE",
            # never into the short-call range: such calls are left alone
            "bunching": (f"{handled} AND _handle > {t} AND _handle <= {t + 60} AND {u} < "
                         f"least(1.0, {d['bunching']} / greatest(_elig_share, 1e-9)) AND "
                         f"{land} - {hold} - floor({acw} * {scale}) > 20"),
        }
        sets = {
            "hangups": {"talk_s": f"floor(3 + 12 * {u2})", "hold_s": "0",
                        "acw_s": f"round(0.3 * {acw})", "ended_by": "'agent'",
                        "resolved": "false",
                        "csat": "NULL",
                        "qa_score": "greatest(qa_score - 30, 0)"},
            "transfer_dumping": {"outcome": "'transferred'", "talk_s": f"floor(20 + 60 * {u2})",
                                 "hold_s": "0", "acw_s": f"round(0.5 * {acw})",
                                 "resolved": "false", "qa_score": "greatest(qa_score - 10, 0)"},
            "acw_padding": {"acw_s": f"round({acw} * (1 + {d['acw_padding']}))"},
            "hold_padding": {"hold_s": f"round({hold} * (1 + {d['hold_padding']}))"},
            "end_of_day_stretch": {"talk_s": f"round(talk_s * (1 + {d['end_of_day_stretch']}))"},
            "bunching": {"acw_s": f"floor({acw} * {scale})",
                         "talk_s": f"{land} - {hold} - floor({acw} * {scale})"},
        }
        hit = " OR ".join(f"(_b = '{b}' AND {h})" for b, h in hits.items())
        sel = []
        for c in order:
            q = '"' + c.replace('"', '""') + '"'
            typ = _type(con, c)
            # a column of no type (all empty in a Parquet written from pandas) stays empty
            cases = [f"WHEN _hit AND _b = '{b}' THEN CAST({st[c]} AS {typ})"
                     for b, st in sets.items() if c in st] if typ != '"NULL"' else []
            sel.append(f"CASE {' '.join(cases)} ELSE {q} END AS {q}" if cases else q)
        con.execute(f"""
            CREATE TEMP TABLE marked AS
            WITH c AS (
                SELECT calls.*, p._b, talk_s + {hold} + {acw} AS _handle,
                       max(answer_ts) OVER (PARTITION BY calls.agent_id,
                                            CAST(answer_ts AS DATE)) AS _day_last
                FROM calls LEFT JOIN _planted p
                  ON CAST(calls.agent_id AS VARCHAR) = p.agent_id),
            c2 AS (
                SELECT *, avg(CASE WHEN {handled} AND _handle > {t}
                                    AND _handle <= {t + 60} THEN 1.0
                                   WHEN {handled} THEN 0.0 END)
                              OVER (PARTITION BY agent_id) AS _elig_share
                FROM c)
            SELECT *, coalesce(_b IS NOT NULL AND ({hit}), false) AS _hit FROM c2""")
        body = f"SELECT {', '.join(sel)} FROM marked"
        if "customer_id" in cols:
            who = f"'{PHANTOM}'"
            src = "marked"
            if callbacks_to == "peers":
                # an agent of the callback's queue who is not planted into, picked by a
                # hash of the call id (the phantom where the queue has none)
                con.execute("""CREATE TEMP TABLE _peers AS
                    SELECT queue, agent_id, row_number() OVER (PARTITION BY queue
                                                               ORDER BY agent_id) - 1 AS rn,
                           count(*) OVER (PARTITION BY queue) AS nq
                    FROM (SELECT DISTINCT queue, CAST(agent_id AS VARCHAR) AS agent_id
                          FROM calls WHERE agent_id IS NOT NULL
                            AND outcome IN ('answered', 'transferred')
                            AND CAST(agent_id AS VARCHAR) NOT IN (SELECT agent_id FROM _planted))""")
                con.execute(f"""CREATE TEMP TABLE marked_cb AS
                    SELECT m.*, pr.agent_id AS _cb_agent FROM marked m LEFT JOIN
                    (SELECT DISTINCT queue, nq FROM _peers) n ON m.queue = n.queue
                    LEFT JOIN _peers pr ON pr.queue = m.queue AND pr.rn =
                        hash(CAST(m.call_id AS VARCHAR) || 'cb{s}') % n.nq
                    WHERE m._hit AND m._b = 'hangups'""")
                who, src = f"coalesce(_cb_agent, '{PHANTOM}')", "marked_cb"
            cb = []
            for c in order:
                q = '"' + c.replace('"', '""') + '"'
                if c == "call_id":
                    cb.append(f"CAST(call_id AS VARCHAR) || '~cb' AS {q}")
                elif c == "agent_id":
                    cb.append(f"{who} AS {q}")
                elif c == "arrival_ts":
                    cb.append(f"answer_ts + INTERVAL ({float(callback_min)} * 60) SECOND AS {q}")
                elif c == "answer_ts":
                    cb.append(f"answer_ts + INTERVAL ({float(callback_min)} * 60 + 60) SECOND "
                              f"AS {q}")
                elif c == "outcome":
                    cb.append(f"'answered' AS {q}")
                else:
                    cb.append(q)
            u3 = f"((hash(CAST(call_id AS VARCHAR) || 'c{s}') % 1000003) / 1000003.0)"
            body += (f" UNION ALL SELECT {', '.join(cb)} FROM {src} "
                     "WHERE _hit AND _b = 'hangups' AND customer_id IS NOT NULL "
                     f"AND {u3} < {float(callback_share)}")
        out = Path(out)
        # a fixed row order: the rebuilt panel's sums (and so exact ties between agents'
        # scores) must not depend on DuckDB's threads
        con.execute(f"COPY (SELECT * FROM ({body}) ORDER BY call_id, agent_id) TO "
                    f"{sql_quote_path(out)} (FORMAT parquet)")
    finally:
        con.close()
    return out


def _type(con, col: str) -> str:
    for name, typ, *_ in con.execute("DESCRIBE calls").fetchall():
        if name == col:
            return typ
    return "VARCHAR"


def _splice(panel: pd.DataFrame, new: pd.DataFrame, agents: list[str]) -> pd.DataFrame:
    """The panel with ``agents``' rows taken from ``new`` (extra columns such as shift kept
    from the original rows)."""
    keep = panel[~panel["agent_id"].astype(str).isin(agents)]
    rows = new[new["agent_id"].astype(str).isin(agents)].copy()
    rows["agent_id"] = rows["agent_id"].astype(str)
    rows["period"] = rows["period"].astype(str)
    extra = [c for c in panel.columns if c not in rows.columns]
    if extra:
        ex = panel[["agent_id", "period", *extra]].astype({"agent_id": str, "period": str})
        rows = rows.merge(ex, on=["agent_id", "period"], how="left")
    out = pd.concat([keep, rows[[c for c in panel.columns if c in rows.columns]]],
                    ignore_index=True)
    out.attrs = panel.attrs
    return out


def _against(scores: pd.DataFrame, planted: list[str]) -> pd.Series:
    """Each planted agent's percentile (0-100, mid-rank) against the unplanted agents of
    the same period: so that one planted agent's fall does not lift another."""
    s = scores[["agent_id", "period", "score"]].dropna().astype(
        {"agent_id": str, "period": str})
    out = {}
    for p, g in s.groupby("period"):
        ref = np.sort(g.loc[~g["agent_id"].isin(planted), "score"].to_numpy(float))
        if len(ref) < 2:
            continue
        for a, x in g.loc[g["agent_id"].isin(planted), ["agent_id", "score"]].itertuples(
                index=False):
            lo = np.searchsorted(ref, x, "left")
            hi = np.searchsorted(ref, x, "right")
            out[(a, p)] = 100.0 * (lo + 0.5 * (hi - lo)) / len(ref)
    return pd.Series(out, dtype=float).rename_axis(["agent_id", "period"])


def _gains(old: pd.DataFrame, new: pd.DataFrame | None, planted: list[str]) -> pd.Series:
    if new is None or not len(new):
        return pd.Series(dtype=float)
    return (_against(new, planted) - _against(old, planted)).dropna()


def gaming_dose(comparison, calls, *, dose: float = 0.10, n_agents: int = 4,
                behaviours: list[str] | None = None, seed: int = 0) -> GamingDose:
    """Plant each behaviour into a sample of honest agents' calls and measure the
    percentile points every model of ``comparison`` pays them.

    Every behaviour is planted into its own ``n_agents`` honest agents, all at once (one
    rescoring of every model: a floor where a fifth to a third of the agents game), at
    most half of the unflagged agents in all.

    Parameters
    ----------
    comparison : analysis.compare.Comparison
        Its panel's settings, configuration, ratings and OKRs are reused; agents it
        flags for gaming are not sampled.
    calls : str, Path, list or DataFrame
        The calls the comparison's panel was built from.
    dose : float
        Dose of each behaviour (see the module docstring), in (0, 1].
    n_agents : int
        Agents per behaviour (a seeded sample of unflagged agents).
    behaviours : list of str, optional
        Default: :data:`SENSITIVITY_BEHAVIOURS`.
    seed : int

    Returns
    -------
    GamingDose
        ``gains[behaviour][model]``: planted agents x periods.
    """
    from .compare import run_models
    from .models.rating360 import reuse_360_scores
    from .panel import build_panel

    if not 0 < dose <= 1:
        raise ValueError("dose must be in (0, 1]")
    info = comparison.panel.attrs.get("ccpm_panel", {})
    config = (comparison.summary or {}).get("config") or {}
    scores = comparison.scores
    models = [m for m, r in (comparison.results or {}).items() if r.computable]
    flagged = set(map(str, comparison.flagged or []))
    behaviours = list(behaviours or SENSITIVITY_BEHAVIOURS)
    cand = sorted(set(scores["agent_id"].astype(str)) - flagged)
    per = min(int(n_agents), len(cand) // (2 * len(behaviours))) if behaviours else 0
    rng = np.random.default_rng(seed)
    drawn = rng.permutation(cand).tolist() if cand else []
    assign = {b: sorted(drawn[i * per:(i + 1) * per]) for i, b in enumerate(behaviours)}
    planted = [a for b in behaviours for a in assign[b]]
    periods = sorted(scores["period"].astype(str).unique())
    aht_target = float((((config.get("kpi") or {}).get("metrics") or {}).get("aht_s") or {})
                       .get("target", 360.0))
    notes: list[str] = []
    gains: dict = {b: {} for b in behaviours}
    if per == 0:
        notes.append("too few unflagged agents to plant into")
        return GamingDose(gains=gains, agents=[], dose=float(dose), periods=periods,
                          notes=notes, assignment=assign)
    ratings = getattr(comparison, "ratings", None)
    okr = getattr(comparison, "okr", None)
    with raw_tempdir("plant") as tmp, reuse_360_scores():
        path = plant_behaviour(calls, {a: b for b in behaviours for a in assign[b]},
                               out=Path(tmp) / "planted.parquet", dose=dose,
                               aht_target=aht_target, seed=seed)
        new = build_panel(path, period=info.get("period", "month"),
                          short_call_s=float(info.get("short_call_s", 10.0)),
                          repeat_window_h=float(info.get("repeat_window_h", 72.0)),
                          data_end=info.get("data_end_ts"))
        panel = _splice(comparison.panel, new, planted)
        res = run_models(panel, config=config, ratings=ratings, okr=okr, models=models)
    for m in models:
        r = res[m]
        old = scores[scores["model"] == m]
        g = _gains(old, r.scores if r.computable else None, planted)
        for b in behaviours:
            sel = g[g.index.get_level_values(0).isin(assign[b])] if len(g) else g
            gains[b][m] = (sel.unstack("period").reindex(index=assign[b], columns=periods)
                           if len(sel) else pd.DataFrame(np.nan, index=assign[b],
                                                         columns=periods))
    return GamingDose(gains=gains, agents=planted, dose=float(dose), periods=periods,
                      notes=notes, assignment=assign)
