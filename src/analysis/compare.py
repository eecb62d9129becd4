"""Compare performance-management models side by side on one panel.

Agreement (Kendall's tau-b per pair, Kendall's W across all), stability (ICC
across periods), predictive validity (score vs next period's outcomes),
gaming sensitivity (where known gamers land in each ranking) and fairness
(share of score variance explained by queue or shift).

Pooling across periods: each agent's score under a model is averaged over the
periods in which *every model of the comparison* scored the agent (pairs use
the periods both models scored), so each agent counts once and the p-values of
tau-b are those of independent observations. Per-period values are reported
beside them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .criteria import jsonable as _jsonable
from .criteria import partial_eta_squared, validity_value
from .criteria import percentiles as _percentiles
from .errors import InputError
from .escape import restore_series, safe_csv
from .models import MODELS, ModelResult
from .models.needs import model_components

__all__ = [
    "Comparison",
    "compare_models",
    "run_models",
    "agreement_table",
    "kendall_w",
    "stability",
    "predictive_validity",
    "gaming_sensitivity",
    "fairness",
    "partial_eta_squared",
    "read_flags",
    "value_text",
    "PROPERTY_LABELS",
    "SCORE_COLUMNS",
    "AGREEMENT_COLUMNS",
]

SCORE_COLUMNS = ["agent_id", "period", "model", "score", "rank"]
AGREEMENT_COLUMNS = ["model_a", "model_b", "kendall_tau", "p_value", "n",
                     "tau_period_mean", "n_periods"]


#: the per-model properties of :meth:`Comparison.properties`, with the column label shown
PROPERTY_LABELS = {"stability": "stability (ICC)", "validity": "validity (Spearman rho)",
                   "gaming_sensitivity": "gaming sensitivity (pct points)"}


def value_text(entry, fmt: str = ".2f") -> str:
    """A summary entry as words: its value formatted with ``fmt``, or, when the value is
    missing (``{"value": None, "reason": ...}``), ``"not computable (<reason>)"``.

    >>> value_text({"value": 0.4321})
    '0.43'
    >>> value_text({"value": None, "reason": "fewer than 3 agents scored by every model"})
    'not computable (fewer than 3 agents scored by every model)'
    """
    if isinstance(entry, dict):
        v, why = entry.get("value"), entry.get("reason")
    else:
        v, why = entry, None
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return f"not computable ({why or 'no value'})"
    return format(v, fmt)


@dataclass
class Comparison:
    """Result of :func:`compare_models`.

    Attributes
    ----------
    scores : DataFrame
        ``agent_id, period, model, score, rank``.
    agreement : DataFrame
        ``model_a, model_b, kendall_tau, p_value, n, tau_period_mean, n_periods``.
    summary : dict
        ``kendall_w`` and, under ``models``, per model: ``computable, reason, notes,
        stability, validity, gaming_sensitivity, fairness`` (and ``reliability`` for 360);
        also ``pooling``, ``periods``, ``n_agents``, ``panel`` (row accounting) and the
        ``config`` used.
    results : dict
        Model name -> :class:`~analysis.models.ModelResult`.
    flagged : list of str
        Agents flagged for gaming (highlighted in figures).
    panel : DataFrame or None
        The panel the models scored (used by :mod:`analysis.recommend` and
        :mod:`analysis.tradeoffs`).
    flags : DataFrame or None
        The normalised gaming flags (``agent_id, flagged`` [, ``behaviour``, ``since``]).
    inputs : dict
        Which optional inputs were given: ``ratings``, ``okr``, ``flags`` (bools).
    ratings, okr : optional
        The 360 ratings and OKR set the models were run with (the recommendation's
        counterfactual rescoring runs them again).
    calls : optional
        The contract-shaped calls the panel was built from, when given to
        :func:`compare_models` (the recommendation plants gaming behaviours into them).
    """

    scores: pd.DataFrame
    agreement: pd.DataFrame
    summary: dict
    results: dict = field(default_factory=dict)
    flagged: list = field(default_factory=list)
    panel: pd.DataFrame | None = None
    flags: pd.DataFrame | None = None
    inputs: dict = field(default_factory=dict)
    ratings: pd.DataFrame | None = None
    okr: object = None
    calls: object = None

    def properties(self) -> pd.DataFrame:
        """One row per model: ``computable``, each property of :data:`PROPERTY_LABELS`
        (NaN when it could not be measured) and ``why not``: the model's own reason, or
        each missing property's reason (``stability: fewer than 2 periods``), so that a
        blank cell is never left unexplained."""
        rows = {}
        for name, info in self.summary["models"].items():
            row: dict = {"computable": bool(info.get("computable"))}
            why = [info["reason"]] if info.get("reason") else []
            for key, label in PROPERTY_LABELS.items():
                entry = info.get(key) or {}
                v = entry.get("value")
                row[label] = float(v) if v is not None else np.nan
                if v is None and info.get("computable"):
                    why.append(f"{key}: {entry.get('reason') or 'not measured'}")
            row["why not"] = "; ".join(why)
            rows[name] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_dir(self, out: str | Path, *, figures: bool = False, labels: dict | None = None
               ) -> list[Path]:
        """Write ``scores.csv``, ``agreement.csv``, ``summary.json`` and ``components.csv``
        (and PNG figures when ``figures``: agreement, scores_by_model, gaming_sensitivity,
        and gaming_vs_own_baseline when known); return the paths written."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "scores.csv", out / "agreement.csv", out / "summary.json",
                 out / "components.csv"]
        safe_csv(self.scores, paths[0], index=False)
        safe_csv(self.agreement, paths[1], index=False)
        paths[2].write_text(json.dumps(_jsonable(self.summary), indent=2, allow_nan=False,
                                       ensure_ascii=False), encoding="utf-8")
        comps = [r.components.assign(model=name) for name, r in self.results.items()
                 if len(r.components)]
        safe_csv(pd.concat(comps, ignore_index=True) if comps else pd.DataFrame(
            columns=["agent_id", "period", "component", "value", "weight", "model"]),
            paths[3], index=False)
        if figures:
            import matplotlib.pyplot as plt

            from . import figures as fg

            figs = [("agreement", fg.plot_agreement_heatmap(self.agreement, labels=labels)),
                    ("scores_by_model", fg.plot_scores_by_model(
                        self.scores, labels=labels, flagged=self.flagged)),
                    ("gaming_sensitivity", fg.plot_gaming_sensitivity(self.summary,
                                                                      labels=labels))]
            if any(((m.get("gaming_sensitivity") or {}).get("vs_own_baseline") or {})
                   .get("value") is not None for m in self.summary["models"].values()):
                figs.append(("gaming_vs_own_baseline", fg.plot_gaming_sensitivity(
                    self.summary, labels=labels, own_baseline=True)))
            for name, fig in figs:
                p = out / f"{name}.png"
                fig.savefig(p, dpi=120, bbox_inches="tight")
                plt.close(fig)
                paths.append(p)
        return paths




def _na(reason: str) -> dict:
    return {"value": None, "reason": reason}


# ----------------------------------------------------------------------------- models


def run_models(panel: pd.DataFrame, *, config: dict, ratings=None, okr=None,
               models: list[str] | None = None) -> dict[str, ModelResult]:
    """Run each named model (default ``config["models"]``); unknown names raise ConfigError."""
    from .models.hybrid import register_hybrids

    register_hybrids(config)
    names = [str(m) for m in (models or config.get("models") or ["kpi", "okr", "bsc", "360"])]
    out = {}
    for name in names:
        fn = MODELS.get(name)
        out[name] = fn(panel, config, ratings=ratings, okr=okr)
    return out


def _long_scores(results: dict[str, ModelResult]) -> pd.DataFrame:
    parts = [r.scores[["agent_id", "period", "score", "rank"]].assign(model=name)
             for name, r in results.items() if r.computable and len(r.scores)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "score" else str)
                             for c in SCORE_COLUMNS})
    s = pd.concat(parts, ignore_index=True)[SCORE_COLUMNS]
    s["agent_id"] = s["agent_id"].astype(str)
    s["period"] = s["period"].astype(str)
    s["model"] = s["model"].astype(str)
    return s


def _wide(scores: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    w = scores[scores["model"].isin(models)].pivot_table(
        index=["agent_id", "period"], columns="model", values="score", aggfunc="mean")
    return w.reindex(columns=models)


# ----------------------------------------------------------------------------- agreement


def agreement_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b for every pair of models.

    Parameters
    ----------
    scores : DataFrame
        ``agent_id, period, model, score``.

    Returns
    -------
    DataFrame
        ``model_a, model_b, kendall_tau, p_value, n, tau_period_mean, n_periods``:
        ``kendall_tau``/``p_value``/``n`` on each agent's mean score over the periods
        both models scored (one observation per agent; :func:`scipy.stats.kendalltau`,
        tau-b); ``tau_period_mean`` the mean of the per-period tau-b over ``n_periods``
        periods with at least 3 common agents.

    References
    ----------
    Kendall, M. G. (1945). The treatment of ties in ranking problems. Biometrika 33(3).
    """
    models = list(dict.fromkeys(scores["model"]))
    rows = []
    w = _wide(scores, models)
    for a, b in combinations(models, 2):
        pair = w[[a, b]].dropna()
        per_agent = pair.groupby(level="agent_id").mean()
        n = len(per_agent)
        if n >= 3:
            res = stats.kendalltau(per_agent[a], per_agent[b], variant="b")
            tau, p = float(res.statistic), float(res.pvalue)
        else:
            tau, p = float("nan"), float("nan")
        taus = []
        for _, g in pair.groupby(level="period"):
            if len(g) >= 3:
                t = stats.kendalltau(g[a], g[b], variant="b").statistic
                if np.isfinite(t):
                    taus.append(float(t))
        rows.append({"model_a": a, "model_b": b, "kendall_tau": tau, "p_value": p, "n": n,
                     "tau_period_mean": float(np.mean(taus)) if taus else float("nan"),
                     "n_periods": len(taus)})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def kendall_w(scores: pd.DataFrame) -> dict:
    """Kendall's W across all models (pingouin ``friedman``: agents ``within``, models
    ``subject``), on agents' mean scores over the periods every model scored them.

    Returns
    -------
    dict
        ``value, p_value, n_agents, models, by_period`` (W per period with >= 3 agents),
        or ``value: None`` with ``reason``.

    References
    ----------
    Kendall, M. G., & Babington Smith, B. (1939). The problem of m rankings. Annals of
    Mathematical Statistics 10(3).
    """
    import pingouin as pg

    models = list(dict.fromkeys(scores["model"]))
    if len(models) < 2:
        return _na("fewer than two computable models")
    full = _wide(scores, models).dropna()
    per_agent = full.groupby(level="agent_id").mean()
    if len(per_agent) < 3:
        return _na("fewer than 3 agents scored by every model")

    def w_of(frame: pd.DataFrame) -> tuple[float, float]:
        long = frame.reset_index().melt(id_vars="agent_id", value_vars=models,
                                        var_name="model", value_name="score")
        res = pg.friedman(data=long, dv="score", within="agent_id", subject="model")
        return float(res["W"].iloc[0]), float(res["p_unc"].iloc[0])

    value, p = w_of(per_agent)
    by_period = {}
    for period, g in full.groupby(level="period"):
        if len(g) >= 3:
            by_period[str(period)] = w_of(g.droplevel("period"))[0]
    return {"value": value, "p_value": p, "n_agents": len(per_agent), "models": models,
            "by_period": by_period}


# ----------------------------------------------------------------------------- per model


def ties_every_agent(model_scores: pd.DataFrame) -> bool:
    """Does the model give every agent the same score within every period (``agent_id,
    period, score``; equal up to rounding)? Such a model ranks no one."""
    v = pd.to_numeric(model_scores["score"], errors="coerce")
    per = v.groupby(model_scores["period"]).agg(["min", "max"])
    tol = 1e-9 * np.maximum(1.0, per.abs().max(axis=1))
    return bool(((per["max"] - per["min"]).fillna(0.0) <= tol).all())


def stability(model_scores: pd.DataFrame) -> dict:
    """ICC(C,1) of agents' scores across periods (pingouin ``intraclass_corr``; agents
    are targets, periods raters; agents scored in every period).

    Returns
    -------
    dict
        ``value`` (ICC(C,1), consistency: a center-wide shift between periods does not
        count as instability), ``ci95``, ``icc_a1`` (absolute agreement), ``n_agents``,
        ``n_periods``; or ``value: None`` with ``reason``.

    References
    ----------
    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass
    correlation coefficients. Psychological Methods 1(1).
    """
    import pingouin as pg

    w = model_scores.pivot_table(index="agent_id", columns="period", values="score")
    if w.shape[1] < 2:
        return _na("needs at least two periods")
    w = w.dropna()
    if len(w) < 3:
        return _na("fewer than 3 agents scored in every period")
    long = w.reset_index().melt(id_vars="agent_id", var_name="period", value_name="score")
    # a model that gives every agent the same score (ties everywhere, a scorecard whose
    # every target is met) is not "perfectly stable": its ICC is 0/0 (pingouin returned
    # 1 or inf, with divide-by-zero warnings on the console)
    if ties_every_agent(long):
        return _na("every agent has the same score in each period (the model does not tell "
                   "these agents apart)")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # a perfectly consistent ranking divides by a zero residual mean square: the ICC
        # is 1 and its interval undefined (NaN, written as null)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = pg.intraclass_corr(data=long, targets="agent_id", raters="period",
                                 ratings="score").set_index("Type")
    c = res.loc["ICC(C,1)"]
    return {"value": float(c["ICC"]), "ci95": [float(x) for x in c["CI95"]],
            "icc_a1": float(res.loc["ICC(A,1)", "ICC"]), "n_agents": int(len(w)),
            "n_periods": int(w.shape[1])}




def _cluster_boot(df: pd.DataFrame, stat, *, n_boot: int, seed: int, ci: float,
                  cluster: str = "agent_id") -> list[float] | None:
    """Percentile CI of ``stat(frame)`` over a bootstrap that resamples whole clusters."""
    if n_boot <= 0:
        return None
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(df[cluster])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2))
    k = len(bounds) - 1
    sizes = np.diff(bounds)
    cols = {c: df[c].to_numpy() for c in df.columns if c != cluster}
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, k, k)
        st, sz = bounds[pick], sizes[pick]
        offs = np.repeat(st - np.concatenate([[0], np.cumsum(sz)[:-1]]), sz)
        idx = order[offs + np.arange(sz.sum())]
        v = stat({c: a[idx] for c, a in cols.items()})
        if v is not None and np.isfinite(v):
            vals.append(v)
    if len(vals) < max(10, n_boot // 2):
        return None
    a = (1 - ci) / 2
    return [float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))]


def predictive_validity(model_scores: pd.DataFrame, panel: pd.DataFrame, *, outcomes: dict,
                        own=frozenset(), n_boot: int = 1000, seed: int = 0,
                        ci: float = 0.95) -> dict:
    """How well a period's score predicts later periods' outcomes (criterion ``validity``).

    The same statistic as the recommendation's criterion
    (:func:`analysis.criteria.validity_value`): per outcome of ``outcomes`` (name ->
    ``higher``/``lower``) and (period, later period) pair, the Spearman correlation of the
    score with the outcome; for an outcome in ``own`` (the model's own components, e.g. a
    KPI that scores resolution), the partial correlation given that outcome in the
    scoring period, so a model gets no credit for containing the outcome (an outcome
    persists from month to month: KPI "predicted" next month's resolution at rho 0.71 on a
    synthetic center, 0.23 beyond that persistence). Averaged, weighted by agents. The
    CI is a cluster bootstrap over agents.

    Returns
    -------
    dict
        ``value`` (mean rho), ``ci``, ``n_pairs`` (agent x period pairs with a score
        and a later outcome), ``n_agents``, ``outcomes`` used, ``own`` (those counted
        beyond their persistence); or ``value: None`` with ``reason``.
    """
    periods = sorted(panel["period"].astype(str).unique())
    if len(periods) < 2:
        return _na("needs at least two periods")
    used = [k for k in outcomes if k in panel and panel[k].notna().any()]
    if not used:
        return _na("none of the outcome metrics (" + ", ".join(outcomes) + ") is in the data")
    s = model_scores.astype({"agent_id": str, "period": str})
    agents = pd.Index(sorted(s["agent_id"].unique()))
    S = s.pivot_table(index="agent_id", columns="period", values="score",
                      aggfunc="mean").reindex(index=agents, columns=periods).to_numpy(float)
    p = panel.astype({"agent_id": str, "period": str})
    outc = {k: p.pivot_table(index="agent_id", columns="period", values=k, aggfunc="mean")
         .reindex(index=agents, columns=periods).to_numpy(float) for k in used}
    signs = {k: 1.0 if outcomes[k] == "higher" else -1.0 for k in used}
    own = set(own) & set(used)
    units = [(i, j) for i in range(len(periods)) for j in range(i + 1, len(periods))]
    later = np.zeros(len(agents), bool)
    n_pairs = 0
    for i in range(len(periods) - 1):
        has = np.isfinite(S[:, i]) & np.any(
            [np.isfinite(outc[k][:, i + 1:]).any(axis=1) for k in used], axis=0)
        n_pairs += int(has.sum())
        later |= has
    if n_pairs < 5 or later.sum() < 3:
        return _na("fewer than 5 score / later-period outcome pairs")
    value = validity_value(S, outc, signs, own, units)
    if not np.isfinite(value):
        return _na("no score or outcome varies between agents in any period pair")
    boot = None
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        vals = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(agents), len(agents))
            v = validity_value(S[idx], {k: o[idx] for k, o in outc.items()}, signs, own, units)
            if np.isfinite(v):
                vals.append(v)
        if len(vals) >= max(10, n_boot // 2):
            a = (1 - ci) / 2
            boot = [float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))]
    return {"value": value, "ci": boot, "n_pairs": n_pairs, "n_agents": int(later.sum()),
            "outcomes": used, "own": sorted(own)}


def gaming_sensitivity(model_scores: pd.DataFrame, flagged: pd.DataFrame, *,
                       n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """How far agents flagged for gaming rise in a model's ranking.

    Each agent's within-period percentile (0 = worst, 100 = best; average ranks for
    ties) is averaged over periods; ``value`` = mean percentile of flagged agents
    minus 50 (an unremarkable group sits at 50), with a bootstrap CI over flagged
    agents. ``honest_mean_percentile`` gives the unflagged agents' mean. With a
    ``behaviour`` column the same is given per behaviour.

    When the flags say since when an agent games (column ``since``: the first period
    label of gaming), ``vs_own_baseline`` compares each flagged agent with themself:
    mean percentile in periods from ``since`` on minus mean percentile in the periods
    before (the honest baseline), over flagged agents scored in both, with a bootstrap
    CI. This separates a model's reward for gaming from gamers' natural standing.

    Returns
    -------
    dict
        ``value, ci, mean_percentile, honest_mean_percentile, n_flagged``,
        ``vs_own_baseline`` (``value, ci, n`` or ``value: None`` with ``reason``) and
        ``by_behaviour``; or ``value: None`` with ``reason``.
    """
    if flagged is None or not len(flagged):
        return _na("no gaming flags given (--truth or --flags)")
    pct = _percentiles(model_scores)
    per_agent = pct.groupby("agent_id")["pct"].mean()
    fl = flagged[flagged["flagged"]]
    ids = [a for a in fl["agent_id"] if a in per_agent.index]
    if not ids:
        return _na("no flagged agent is scored by this model")
    a = (1 - ci) / 2

    def boot_ci(v: np.ndarray, s: int):
        if n_boot <= 0 or len(v) < 2:
            return None
        rng = np.random.default_rng(s)
        boots = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
        return [float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))]

    def summarise(sel: list[str], s: int) -> dict:
        v = per_agent.loc[sel].to_numpy()
        c = boot_ci(v - 50, s)
        return {"value": float(v.mean() - 50), "mean_percentile": float(v.mean()),
                "n_flagged": len(v), "ci": c}

    res = summarise(ids, seed)
    honest = per_agent.drop(index=[x for x in fl["agent_id"] if x in per_agent.index])
    res["honest_mean_percentile"] = float(honest.mean()) if len(honest) else None
    if "since" in fl.columns and fl["since"].notna().any():
        p = pct.merge(fl[["agent_id", "since"]].dropna(), on="agent_id")
        p["gaming"] = p["period"].astype(str) >= p["since"].astype(str)
        both = p.groupby(["agent_id", "gaming"])["pct"].mean().unstack()
        both = both.dropna() if {True, False} <= set(both.columns) else both.iloc[0:0]
        if len(both):
            rise = (both[True] - both[False]).to_numpy()
            res["vs_own_baseline"] = {"value": float(rise.mean()), "ci": boot_ci(rise, seed + 2),
                                      "n": int(len(rise))}
        else:
            res["vs_own_baseline"] = _na("no flagged agent is scored both before and after "
                                         "gaming started")
    elif "since" in fl.columns:
        res["vs_own_baseline"] = _na("flagged agents game from the start of the data: "
                                     "no honest baseline")
    else:
        res["vs_own_baseline"] = _na("the flags do not say when gaming started")
    if "behaviour" in fl.columns:
        by = {}
        for beh, g in fl.groupby("behaviour"):
            sel = [x for x in g["agent_id"] if x in per_agent.index]
            if sel:
                by[str(beh)] = summarise(sel, seed + 1)
        res["by_behaviour"] = by
    return res




def fairness(model_scores: pd.DataFrame, panel: pd.DataFrame, *, by: list[str],
             n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """Share of score variance explained by queue or shift: partial eta-squared with
    period fixed effects (fixed effects, since with fewer than ~10 groups a mixed model
    sits on its boundary; methods.md), with a cluster-bootstrap CI over agents.

    Returns
    -------
    dict
        One entry per grouping column: ``value, ci, n_groups, n`` or ``value: None`` with
        ``reason``.

    References
    ----------
    Cohen, J. (1973). Eta-squared and partial eta-squared in fixed factor ANOVA designs.
    Educational and Psychological Measurement 33(1).
    """
    out = {}
    for col in by:
        if col not in panel.columns:
            out[col] = _na(f"no {col} column in the panel"
                           + (" (needs a roster with shifts)" if col == "shift" else ""))
            continue
        d = model_scores[["agent_id", "period", "score"]].merge(
            panel[["agent_id", "period", col]], on=["agent_id", "period"]).dropna()
        k = d[col].nunique()
        if k < 2:
            out[col] = _na(f"only {k} {col} value(s)")
            continue
        if len(d) <= k + d["period"].nunique():
            out[col] = _na("too few scored agent-periods")
            continue

        d = d.assign(_g=pd.factorize(d[col].astype(str))[0],
                     _b=pd.factorize(d["period"].astype(str))[0])

        def eta(x):
            if len(np.unique(x["_g"])) < 2:
                return None
            return partial_eta_squared(x["score"], x["_g"], x["_b"])

        value = eta({c: d[c].to_numpy() for c in ("score", "_g", "_b")})
        out[col] = {"value": value,
                    "ci": _cluster_boot(d[["agent_id", "score", "_g", "_b"]], eta,
                                        n_boot=n_boot, seed=seed, ci=ci),
                    "n_groups": int(k), "n": int(len(d))}
    return out


# ----------------------------------------------------------------------------- flags


def _normalise_flags(flagged, *, data_start=None, period: str = "month") -> pd.DataFrame | None:
    """Flags as ``agent_id, flagged`` (+ ``behaviour``, ``since`` when known).

    ``since`` (first period label of gaming) is taken from a ``since`` column, or derived
    from truth's ``start_day`` (days after ``data_start``, the first arrival) when
    ``data_start`` is given; a ``start_day`` of 0 means gaming from the start (no
    honest baseline).
    """
    if flagged is None:
        return None
    if isinstance(flagged, pd.DataFrame):
        f = flagged.copy()
        if "agent_id" not in f.columns:
            raise InputError("gaming flags lack an agent_id column")
        col = "flagged" if "flagged" in f.columns else ("gaming" if "gaming" in f.columns
                                                        else None)
        if col is None:
            raise InputError("gaming flags need a 'flagged' (or truth 'gaming') column")
        v = f[col]
        if v.dtype != bool:
            v = v.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "y", "t"])
        f["flagged"] = v.astype(bool)
        if "level" in f.columns:  # center-level rows (gaming_flags.csv) name no agent
            f = f[f["level"].astype(str) != "center"]
        f["agent_id"] = f["agent_id"].astype(str)
        if "since" not in f.columns and "start_day" in f.columns and data_start is not None:
            from .panel import period_label

            day0 = pd.Timestamp(data_start).normalize()
            sd = pd.to_numeric(f["start_day"], errors="coerce")
            f["since"] = [None if pd.isna(d) or d <= 0 else
                          period_label(day0 + pd.Timedelta(days=int(d)), period) for d in sd]
        keep = ["agent_id", "flagged"] + [c for c in ("behaviour", "since") if c in f.columns]
        # gaming_flags.csv has a row per agent x check (x period): flagged by any of them;
        # the flagged rows come first so behaviour/since describe a flagged row
        f = f[keep].sort_values("flagged", ascending=False, kind="stable")
        any_flag = f.groupby("agent_id")["flagged"].transform("any")
        f = f.assign(flagged=any_flag).drop_duplicates("agent_id")
        if "behaviour" in f.columns:
            f["behaviour"] = f["behaviour"].astype(str)
        if "since" in f.columns:
            f["since"] = f["since"].astype(object).where(f["since"].notna(), None)
        return f
    ids = [str(x) for x in flagged]
    return pd.DataFrame({"agent_id": ids, "flagged": True})


def read_flags(path: str | Path) -> pd.DataFrame:
    """Read ``truth.csv`` (columns ``gaming``, optionally ``behaviour``, ``start_day``) or a
    flags CSV (``agent_id, flagged``, optionally ``since``: first period of gaming)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"flags file not found: {p}")
    try:
        df = pd.read_csv(p, dtype={"agent_id": str, "since": str})
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read {p.name}: {exc}") from None
    df = df.apply(restore_series)  # ccpm's CSVs quote formula-like text (analysis.escape)
    if "agent_id" not in df.columns:
        raise InputError(f"{p.name}: no agent_id column")
    if "flagged" not in df.columns and "gaming" not in df.columns:
        raise InputError(f"{p.name}: no 'flagged' column (a flags CSV: agent_id, flagged) "
                         "and no 'gaming' column (truth.csv from ccpm synth)")
    return df


# ----------------------------------------------------------------------------- main


def compare_models(panel: pd.DataFrame, *, config: dict, ratings=None, okr=None, flagged=None,
                   models: list[str] | None = None, calls=None) -> Comparison:
    """Run the models on one panel and compare them.

    Parameters
    ----------
    panel : DataFrame
        From :func:`analysis.panel.build_panel`.
    config : dict
        From :func:`analysis.models.config.load_model_config` (``models``, each model's
        section, ``compare``).
    ratings : DataFrame, optional
        360 ratings (contract form).
    okr : dict or path, optional
        OKR set (``okr.yml``).
    flagged : DataFrame or list, optional
        Agents known or flagged as gaming: agent ids, or a frame with ``agent_id`` and
        ``flagged`` (or truth's ``gaming``), optionally ``behaviour`` and ``since`` (first
        period of gaming; derived from truth's ``start_day`` and the panel's first
        arrival when absent).
    models : list of str, optional
        Override ``config["models"]``.
    calls : str, Path, list or DataFrame, optional
        The contract-shaped calls behind ``panel``, kept on the result so that
        :func:`analysis.recommend.recommend` can measure gaming resistance by planting
        behaviours into them.

    Returns
    -------
    Comparison
        ``scores``, ``agreement``, ``summary``, ``results``.
    """
    if panel is None or panel.empty:
        raise InputError("the panel is empty")
    cc = config.get("compare") or {}
    n_boot, ci = int(cc.get("n_boot", 1000)), float(cc.get("ci", 0.95))
    seed = int(cc.get("seed", 0))
    results = run_models(panel, config=config, ratings=ratings, okr=okr, models=models)
    scores = _long_scores(results)
    agreement = agreement_table(scores)
    info = panel.attrs.get("ccpm_panel", {})
    flags = _normalise_flags(flagged, data_start=info.get("data_start_ts"),
                             period=info.get("period", "month"))
    min_calls = int(config.get("min_calls", 1))
    outcome_panel = panel[panel["calls"] >= min_calls] if "calls" in panel else panel
    summary: dict = {
        "pooling": "each agent's mean score over the periods every compared model scored "
                   "them; per-period values beside",
        "periods": sorted(panel["period"].astype(str).unique()),
        "n_agents": int(panel["agent_id"].nunique()),
        "panel": panel.attrs.get("ccpm_panel", {}),
        "kendall_w": kendall_w(scores),
        "models": {},
        "config": config,
    }
    if flags is not None:
        summary["n_flagged"] = int(flags["flagged"].sum())
    for name, r in results.items():
        entry: dict = {"computable": bool(r.computable), "reason": r.reason,
                       "notes": list(r.notes), "n_scored": int(len(r.scores))}
        if not r.computable or r.scores.empty:
            why = r.reason or "no scores"
            for k in ("stability", "validity", "gaming_sensitivity", "fairness"):
                entry[k] = _na(f"model not computable: {why}")
        else:
            s = r.scores
            entry["stability"] = stability(s)
            entry["validity"] = predictive_validity(
                s, outcome_panel, outcomes=cc.get("outcomes") or {},
                own=model_components(name, config), n_boot=n_boot, seed=seed, ci=ci)
            entry["gaming_sensitivity"] = gaming_sensitivity(s, flags, n_boot=n_boot,
                                                             seed=seed, ci=ci)
            entry["fairness"] = fairness(s, panel, by=list(cc.get("fairness_by") or []),
                                         n_boot=n_boot, seed=seed, ci=ci)
        if r.diagnostics:
            entry.update(_jsonable(r.diagnostics))
        summary["models"][name] = entry
    flagged_ids = [] if flags is None else flags.loc[flags["flagged"], "agent_id"].tolist()
    inputs = {"ratings": ratings is not None and len(ratings) > 0, "okr": okr is not None,
              "flags": flags is not None}
    return Comparison(scores=scores, agreement=agreement, summary=_jsonable(summary),
                      results=results, flagged=flagged_ids, panel=panel, flags=flags,
                      inputs=inputs, ratings=ratings, okr=okr, calls=calls)

