"""The trade-offs a center lives by, as tidy tables (figures in :mod:`analysis.figures`).

* Efficiency against quality per agent (:func:`efficiency_quality`): handle time
  against resolution, repeat calls and satisfaction, in quadrants split at the center's
  medians.
* Results against process (:func:`results_vs_process`): outcome metrics against QA.
* Service level against cost (:func:`service_cost`): the staffing implied by the
  handle time each model encourages (Erlang C: :func:`erlang_c`,
  :func:`service_level`, :func:`agents_needed`).
* Customer satisfaction against the agents' own 360 and staff stability
  (:func:`satisfaction_vs_360`).

Every agent counts once: per-agent values are pooled over periods (rates weighted by
calls, satisfaction by survey responses), so the correlations of
:func:`tradeoff_correlations` are on independent observations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .escape import sql_path_list

__all__ = [
    "erlang_c", "service_level", "average_speed_of_answer", "agents_needed",
    "agent_means", "quadrants", "efficiency_quality", "results_vs_process",
    "tradeoff_correlations", "service_cost", "hourly_load", "satisfaction_vs_360",
    "QUADRANT_COLUMNS", "QUADRANTS", "SERVICE_COST_COLUMNS", "DIRECTIONS",
]

#: Columns of :func:`quadrants`, :func:`efficiency_quality`, :func:`results_vs_process`.
QUADRANT_COLUMNS = ["agent_id", "calls", "x_metric", "x", "y_metric", "y", "x_median",
                    "y_median", "x_better", "y_better", "quadrant"]
#: Quadrant labels: better than the median on both axes, on x only, on y only, neither.
QUADRANTS = ("both", "x_only", "y_only", "neither")
SERVICE_COST_COLUMNS = ["model", "agents_rewarded", "aht_s", "traffic_erlangs",
                        "agents_needed", "agents_vs_center", "service_level_at_center_staff",
                        "asa_s_at_center_staff", "occupancy"]
#: Which way is better, per metric.
DIRECTIONS = {"aht_s": "lower", "talk_s": "lower", "hold_s": "lower", "acw_s": "lower",
              "resolved_rate": "higher", "repeat_call_rate": "lower", "csat_mean": "higher",
              "qa_mean": "higher", "transfer_rate": "lower", "short_call_rate": "lower",
              "complaint_rate": "lower", "score_360": "higher", "tenure_days": "higher"}


# ----------------------------------------------------------------------------- Erlang C


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call waits (Erlang C) with ``traffic`` Erlangs and ``agents``.

    Computed through the Erlang B recursion ``B(k) = A B(k-1) / (k + A B(k-1))`` and
    ``C = N B / (N - A (1 - B))`` (stable for large N); 1.0 when ``agents <= traffic``.

    References
    ----------
    Erlang, A. K. (1917). Solution of some problems in the theory of probabilities of
    significance in automatic telephone exchanges. Elektroteknikeren 13.
    Gans, N., Koole, G., & Mandelbaum, A. (2003). Telephone call centers: tutorial,
    review, and research prospects. Manufacturing & Service Operations Management 5(2).
    """
    a, n = float(traffic), int(agents)
    if n <= 0 or n <= a:
        return 1.0
    if a <= 0:
        return 0.0
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return n * b / (n - a * (1 - b))


def _traffic(calls_per_hour: float, aht_s: float) -> float:
    return float(calls_per_hour) * float(aht_s) / 3600.0


def service_level(calls_per_hour: float, aht_s: float, agents: int, *,
                  target_s: float = 20.0) -> float:
    """Share of calls answered within ``target_s`` seconds (Erlang C, no abandons):
    ``1 - C exp(-(N - A) t / AHT)``; 0 when the agents cannot carry the traffic."""
    a = _traffic(calls_per_hour, aht_s)
    if agents <= a:
        return 0.0
    return 1.0 - erlang_c(a, agents) * math.exp(-(agents - a) * target_s / float(aht_s))


def average_speed_of_answer(calls_per_hour: float, aht_s: float, agents: int) -> float:
    """Mean wait in seconds (Erlang C): ``C AHT / (N - A)``; inf when overloaded."""
    a = _traffic(calls_per_hour, aht_s)
    if agents <= a:
        return float("inf")
    return erlang_c(a, agents) * float(aht_s) / (agents - a)


def agents_needed(calls_per_hour: float, aht_s: float, *, target_sl: float = 0.8,
                  target_s: float = 20.0, max_occupancy: float | None = None) -> int:
    """Fewest agents answering ``target_sl`` of calls within ``target_s`` seconds (the
    common 80/20 standard), optionally with occupancy ``A / N`` at most
    ``max_occupancy``."""
    a = _traffic(calls_per_hour, aht_s)
    n = max(1, math.floor(a) + 1)
    if max_occupancy:
        n = max(n, math.ceil(a / float(max_occupancy)))
    while service_level(calls_per_hour, aht_s, n, target_s=target_s) < target_sl:
        n += 1
    return n


# ----------------------------------------------------------------------------- per agent


def agent_means(panel: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Each agent's metrics pooled over periods.

    Rates and handle times are weighted by handled calls, ``csat_mean`` by
    ``csat_responses``, ``qa_mean`` by calls (per-call QA counts are not in the panel).

    Returns
    -------
    DataFrame
        ``agent_id, calls`` and one column per metric present in the panel.
    """
    metrics = [m for m in (metrics or list(DIRECTIONS)) if m in panel.columns]
    p = panel.copy()
    p["agent_id"] = p["agent_id"].astype(str)
    w_calls = p["calls"].astype(float) if "calls" in p else pd.Series(1.0, index=p.index)
    out = pd.DataFrame({"calls": w_calls.groupby(p["agent_id"]).sum()})
    for m in metrics:
        w = p["csat_responses"].astype(float) if (m == "csat_mean" and "csat_responses"
                                                  in p) else w_calls
        v = pd.to_numeric(p[m], errors="coerce").astype(float)
        w = w.where(v.notna(), 0.0)
        num = (v.fillna(0.0) * w).groupby(p["agent_id"]).sum()
        den = w.groupby(p["agent_id"]).sum()
        out[m] = num / den.where(den > 0)
    return out.reset_index()


def quadrants(per_agent: pd.DataFrame, x: str, y: str, *, x_better: str | None = None,
              y_better: str | None = None) -> pd.DataFrame:
    """Split agents into quadrants at the medians of ``x`` and ``y``.

    Parameters
    ----------
    per_agent : DataFrame
        One row per agent (``agent_id``, ``calls``, ``x``, ``y``), e.g. from
        :func:`agent_means`. Agents missing either value are left out.
    x, y : str
        Column names.
    x_better, y_better : {"lower", "higher"}, optional
        Which way is better (default from :data:`DIRECTIONS`, else ``higher``).

    Returns
    -------
    DataFrame
        :data:`QUADRANT_COLUMNS`: ``x_better``/``y_better`` are True when the agent is
        strictly better than the center's median (of agents) on that axis;
        ``quadrant`` one of :data:`QUADRANTS`.
    """
    xb = x_better or DIRECTIONS.get(x, "higher")
    yb = y_better or DIRECTIONS.get(y, "higher")
    d = per_agent[["agent_id", "calls", x, y]].dropna(subset=[x, y]).copy()
    if d.empty:
        return pd.DataFrame(columns=QUADRANT_COLUMNS)
    xm, ym = float(d[x].median()), float(d[y].median())
    d["x_better"] = d[x] < xm if xb == "lower" else d[x] > xm
    d["y_better"] = d[y] < ym if yb == "lower" else d[y] > ym
    d["quadrant"] = np.select([d["x_better"] & d["y_better"], d["x_better"], d["y_better"]],
                              ["both", "x_only", "y_only"], "neither")
    out = pd.DataFrame({"agent_id": d["agent_id"].astype(str), "calls": d["calls"],
                        "x_metric": x, "x": d[x].astype(float), "y_metric": y,
                        "y": d[y].astype(float), "x_median": xm, "y_median": ym,
                        "x_better": d["x_better"].astype(bool),
                        "y_better": d["y_better"].astype(bool), "quadrant": d["quadrant"]})
    return out[QUADRANT_COLUMNS].reset_index(drop=True)


def _eligible(panel: pd.DataFrame, min_calls: int) -> pd.DataFrame:
    return panel[panel["calls"] >= min_calls] if "calls" in panel and min_calls > 1 else panel


def efficiency_quality(panel: pd.DataFrame, *, quality: tuple[str, ...] = (
        "resolved_rate", "repeat_call_rate", "csat_mean"), efficiency: str = "aht_s",
        min_calls: int = 1) -> pd.DataFrame:
    """Handle time against each quality metric, per agent, in quadrants.

    ``x`` is ``efficiency`` (AHT: lower is better), ``y`` each of ``quality``; quadrant
    ``both`` = faster than the median agent and better quality, ``x_only`` = fast but
    poorer quality (where hang-up and rushing live), ``y_only`` = slow but good,
    ``neither``.

    Returns
    -------
    DataFrame
        :data:`QUADRANT_COLUMNS`, stacked over the quality metrics present (a metric
        absent from the panel is left out).
    """
    pa = agent_means(_eligible(panel, min_calls), [efficiency, *quality])
    parts = [quadrants(pa, efficiency, q) for q in quality if q in pa.columns
             and pa[q].notna().any()]
    if efficiency not in pa.columns or not parts:
        return pd.DataFrame(columns=QUADRANT_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def results_vs_process(panel: pd.DataFrame, *, outcomes: tuple[str, ...] = (
        "resolved_rate", "repeat_call_rate", "csat_mean"), process: str = "qa_mean",
        min_calls: int = 1) -> pd.DataFrame:
    """Outcome metrics (y) against the process measure (x, QA score), per agent.

    ``both`` = above-median QA and better outcomes; ``x_only`` = follows the process
    without the results; ``y_only`` = results without the process.

    Returns
    -------
    DataFrame
        :data:`QUADRANT_COLUMNS`; empty when the panel has no ``process`` values.
    """
    pa = agent_means(_eligible(panel, min_calls), [process, *outcomes])
    if process not in pa.columns or pa[process].isna().all():
        return pd.DataFrame(columns=QUADRANT_COLUMNS)
    parts = [quadrants(pa, process, o) for o in outcomes if o in pa.columns
             and pa[o].notna().any()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=QUADRANT_COLUMNS)


def tradeoff_correlations(q: pd.DataFrame, *, ci: float = 0.95) -> pd.DataFrame:
    """Spearman correlation per (x_metric, y_metric) of a quadrant table, signed so that
    a positive value means "better on x goes with better on y", and the quadrant counts.

    Returns
    -------
    DataFrame
        ``x_metric, y_metric, n, rho_better, ci_lo, ci_hi, p_value, both, x_only,
        y_only, neither`` (the interval by Fisher's z with the Bonett-Wright standard
        error ``sqrt((1 + rho^2 / 2) / (n - 3))``).

    References
    ----------
    Bonett, D. G., & Wright, T. A. (2000). Sample size requirements for estimating
    Pearson, Kendall and Spearman correlations. Psychometrika 65(1).
    """
    rows = []
    z = stats.norm.ppf(0.5 + ci / 2)
    for (xm, ym), g in q.groupby(["x_metric", "y_metric"], sort=False):
        n = len(g)
        sx = -1.0 if DIRECTIONS.get(xm, "higher") == "lower" else 1.0
        sy = -1.0 if DIRECTIONS.get(ym, "higher") == "lower" else 1.0
        if n >= 4 and g["x"].nunique() > 1 and g["y"].nunique() > 1:
            r = stats.spearmanr(sx * g["x"], sy * g["y"])
            rho, p = float(r.statistic), float(r.pvalue)
            se = math.sqrt((1 + rho ** 2 / 2) / (n - 3)) if n > 3 else float("nan")
            lo, hi = math.tanh(math.atanh(max(min(rho, 0.999999), -0.999999)) - z * se), \
                math.tanh(math.atanh(max(min(rho, 0.999999), -0.999999)) + z * se)
        else:
            rho = p = lo = hi = float("nan")
        counts = g["quadrant"].value_counts()
        rows.append({"x_metric": xm, "y_metric": ym, "n": n, "rho_better": rho,
                     "ci_lo": lo, "ci_hi": hi, "p_value": p,
                     **{k: int(counts.get(k, 0)) for k in QUADRANTS}})
    return pd.DataFrame(rows, columns=["x_metric", "y_metric", "n", "rho_better", "ci_lo",
                                       "ci_hi", "p_value", *QUADRANTS])


# ----------------------------------------------------------------------------- staffing


def hourly_load(calls) -> pd.DataFrame:
    """Offered calls per hour by day of week and hour (DuckDB over the calls).

    Parameters
    ----------
    calls : str, Path, list or DataFrame
        Contract-shaped calls (Parquet path/folder/glob or a DataFrame); uses
        ``arrival_ts`` (every offered call, abandoned ones included).

    Returns
    -------
    DataFrame
        ``dow`` (ISO, 1 = Monday), ``hour``, ``calls_per_hour`` (mean over the days of
        that weekday in the data that had calls), ``n_days``; sorted busiest first.
    """
    import duckdb

    from .panel import resolve_calls_paths

    con = duckdb.connect()
    try:
        if isinstance(calls, pd.DataFrame):
            con.register("_c", calls[["arrival_ts"]])
            src = "_c"
        else:
            paths = resolve_calls_paths(calls)
            src = f"read_parquet({sql_path_list(paths)})"
        return con.execute(f"""
            WITH h AS (SELECT CAST(arrival_ts AS DATE) AS d, hour(arrival_ts) AS hour,
                              count(*) AS n
                       FROM {src} WHERE arrival_ts IS NOT NULL GROUP BY ALL),
                 days AS (SELECT isodow(d) AS dow, count(DISTINCT d) AS n_days FROM h
                          GROUP BY ALL)
            SELECT isodow(h.d) AS dow, h.hour, sum(h.n) / any_value(days.n_days)
                   AS calls_per_hour, any_value(days.n_days) AS n_days
            FROM h JOIN days ON isodow(h.d) = days.dow
            GROUP BY ALL ORDER BY calls_per_hour DESC, dow, hour""").df()
    finally:
        con.close()


def service_cost(comparison, *, calls_per_hour: float, target_sl: float = 0.8,
                 target_s: float = 20.0, top_share: float = 0.25,
                 max_occupancy: float | None = None) -> pd.DataFrame:
    """Staffing implied by the handle time each model encourages (Erlang C).

    The handle time a model encourages is the calls-weighted AHT of the agents it
    rewards: its top ``top_share`` of agents by mean within-period percentile. If every
    agent worked like them, the center would need ``agents_needed`` agents to answer
    ``target_sl`` of ``calls_per_hour`` within ``target_s`` seconds (e.g. the busiest
    hour of :func:`hourly_load`). The ``center`` row uses every agent's AHT; the
    service level, speed of answer and occupancy columns are what the staffing the
    center's own AHT needs (the ``center`` row's ``agents_needed``) would deliver at the
    model's AHT, all three at that one staffing (occupancy at each row's own staffing sat
    beside the others at the center's: a table of two staffing levels).

    Returns
    -------
    DataFrame
        :data:`SERVICE_COST_COLUMNS`: ``model`` (``center`` first), ``agents_rewarded``,
        ``aht_s``, ``traffic_erlangs``, ``agents_needed``, ``agents_vs_center`` (ratio),
        ``service_level_at_center_staff``, ``asa_s_at_center_staff``, ``occupancy``
        (traffic / the center row's agents needed).

    References
    ----------
    Gans, N., Koole, G., & Mandelbaum, A. (2003). Telephone call centers: tutorial,
    review, and research prospects. M&SOM 5(2).
    """
    from .criteria import percentiles as _percentiles

    panel = comparison.panel
    if panel is None or "aht_s" not in panel.columns:
        return pd.DataFrame(columns=SERVICE_COST_COLUMNS)
    pa = agent_means(panel, ["aht_s"]).dropna(subset=["aht_s"]).set_index("agent_id")

    def aht_of(ids) -> float:
        d = pa.loc[pa.index.intersection(list(ids))]
        return float((d["aht_s"] * d["calls"]).sum() / d["calls"].sum()) if len(d) else \
            float("nan")

    groups = {"center": list(pa.index)}
    for m in dict.fromkeys(comparison.scores["model"]):
        pct = _percentiles(comparison.scores[comparison.scores["model"] == m])
        per = pct.groupby("agent_id")["pct"].mean().sort_values(ascending=False)
        k = max(1, int(round(top_share * len(per))))
        groups[str(m)] = list(per.index[:k])
    base_aht = aht_of(groups["center"])
    base_n = agents_needed(calls_per_hour, base_aht, target_sl=target_sl, target_s=target_s,
                           max_occupancy=max_occupancy)
    rows = []
    for m, ids in groups.items():
        aht = aht_of(ids)
        if not np.isfinite(aht):
            continue
        n = agents_needed(calls_per_hour, aht, target_sl=target_sl, target_s=target_s,
                          max_occupancy=max_occupancy)
        a = _traffic(calls_per_hour, aht)
        rows.append({"model": m, "agents_rewarded": len(ids), "aht_s": aht,
                     "traffic_erlangs": a, "agents_needed": n,
                     "agents_vs_center": n / base_n,
                     "service_level_at_center_staff": service_level(
                         calls_per_hour, aht, base_n, target_s=target_s),
                     "asa_s_at_center_staff": average_speed_of_answer(calls_per_hour, aht,
                                                                      base_n),
                     "occupancy": a / base_n})
    return pd.DataFrame(rows, columns=SERVICE_COST_COLUMNS)


# ----------------------------------------------------------------------------- people


def satisfaction_vs_360(comparison, *, roster: pd.DataFrame | None = None,
                        as_of=None) -> pd.DataFrame:
    """Customer satisfaction against the agents' own 360 score and staff stability.

    Parameters
    ----------
    comparison : analysis.compare.Comparison
        Uses ``panel`` (csat) and, when computable, the ``360`` model's scores.
    roster : DataFrame, optional
        ``agent_id, hire_date[, termination_date]`` (contract roster): tenure and
        leavers.
    as_of : timestamp, optional
        Date tenure is measured to (default: the panel's ``data_end_ts``, else today).

    Returns
    -------
    DataFrame
        ``agent_id, calls, csat_mean, csat_responses, score_360, tenure_days, left``;
        columns without a source are all missing (``left`` is missing without a
        termination date column). Use :func:`quadrants` / :func:`tradeoff_correlations`
        on pairs of them.
    """
    panel = comparison.panel
    pa = agent_means(panel, ["csat_mean"])
    if "csat_responses" in panel:
        pa = pa.merge(panel.assign(agent_id=panel["agent_id"].astype(str)).groupby(
            "agent_id", as_index=False)["csat_responses"].sum(), on="agent_id", how="left")
    else:
        pa["csat_responses"] = np.nan
    if "csat_mean" not in pa:
        pa["csat_mean"] = np.nan
    r360 = (comparison.results or {}).get("360")
    if r360 is not None and r360.computable and len(r360.scores):
        s = r360.scores.groupby("agent_id", as_index=False)["score"].mean().rename(
            columns={"score": "score_360"})
        s["agent_id"] = s["agent_id"].astype(str)
        pa = pa.merge(s, on="agent_id", how="left")
    else:
        pa["score_360"] = np.nan
    pa["tenure_days"] = np.nan
    pa["left"] = pd.Series(pd.NA, index=pa.index, dtype="boolean")
    if roster is not None and "agent_id" in roster and "hire_date" in roster:
        end = as_of or (panel.attrs.get("ccpm_panel", {}).get("data_end_ts")) or \
            pd.Timestamp.today()
        end = pd.Timestamp(end).normalize()
        ro = roster.assign(agent_id=roster["agent_id"].astype(str)).drop_duplicates(
            "agent_id").set_index("agent_id")
        hire = pd.to_datetime(ro["hire_date"], errors="coerce")
        stop = end
        if "termination_date" in ro:
            term = pd.to_datetime(ro["termination_date"], errors="coerce")
            stop = term.where(term.notna() & (term < end), end)
            left = (term.notna() & (term <= end)).astype("boolean")
            pa["left"] = pa["agent_id"].map(left).astype("boolean")
        ten = (stop - hire).dt.days if isinstance(stop, pd.Series) else (end - hire).dt.days
        pa["tenure_days"] = pa["agent_id"].map(ten).astype(float)
    return pa[["agent_id", "calls", "csat_mean", "csat_responses", "score_360",
               "tenure_days", "left"]]
