"""The recommendation rule before issue #14 (a weighted mean of criteria with fixed
default weights, gaming resistance from gaming flags), kept unchanged apart from its
imports so that benchmarks/bench_recommend.py can compare the SMAA-2 recommendation with
it. Not part of the library.

Which performance-management model suits this center: a ranking with its evidence.

Each candidate model of a :class:`~analysis.compare.Comparison` is assessed on six
criteria, each put on a 0-1 scale (1 = best):

``stability``
    ICC(C,1) of agents' scores across periods (as in :func:`analysis.compare.stability`),
    clipped to [0, 1].
``validity``
    Spearman correlation of a period's score with the next period's outcome composite
    (as in :func:`analysis.compare.predictive_validity`), clipped to [0, 1].
``gaming``
    Resistance to gaming: ``1 - clip(rise / 50, 0, 1)``, where ``rise`` is how many
    percentile points agents flagged for gaming gain in the model's ranking -- against
    their own pre-gaming periods when the flags say since when they game, else their
    mean percentile minus 50 (:func:`analysis.compare.gaming_sensitivity`). Not
    assessed without gaming flags.
``fairness``
    ``1 - eta2`` with ``eta2`` the largest partial eta-squared of the score on queue or
    shift (period fixed effects; :func:`analysis.compare.fairness`): the share of the
    score's variance *not* explained by where or when the agent works.
``separation``
    Share of agent pairs whose score intervals do not overlap (each agent's mean score
    over periods +- a t-based 95% interval from its period-to-period variation): how
    many agents the model tells apart.
``data``
    Share of the model's configured weight whose data the center has
    (:func:`data_requirements`).

The overall score is the weighted mean of the criteria (``recommendation.weights``;
defaults and their reasoning in ``analysis/models/defaults.yml``). A criterion that
cannot be assessed for every computable model is left out for all of them (its weight
shared among the others) and said so. Uncertainty: a bootstrap over agents (the same
resampled agents for every model in a replicate) gives each criterion's and the overall
score's percentile interval, the probability each model is best, and for every pair
the interval of the difference in overall score; a pair whose interval holds 0 is
reported as indistinguishable on this data. A model that is not computable (it needs
data the center lacks) is ranked after all computable models, with the reason.

References
----------
Kerr, S. (1975). On the folly of rewarding A, while hoping for B. Academy of
Management Journal 18(4).
Koo, T. K., & Li, M. Y. (2016). A guideline of selecting and reporting intraclass
correlation coefficients. Journal of Chiropractic Medicine 15(2).
Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CRITERIA", "DEFAULT_WEIGHTS", "Recommendation", "recommend", "data_requirements",
           "RANKING_COLUMNS", "EVIDENCE_COLUMNS", "PAIRWISE_COLUMNS"]

CRITERIA = ("stability", "validity", "gaming", "fairness", "separation", "data")
#: Same as ``recommendation.weights`` in defaults.yml (used when a config lacks them).
DEFAULT_WEIGHTS = {"validity": 0.25, "gaming": 0.25, "stability": 0.15, "fairness": 0.15,
                   "separation": 0.10, "data": 0.10}
GAMING_FULL_RISE = 50.0
GAMING_OWN = "flagged agents' percentile while gaming minus before (own baseline)"
GAMING_LEVEL = "flagged agents' mean percentile minus 50"

RANKING_COLUMNS = (["model", "rank", "overall", "overall_lo", "overall_hi", "p_best",
                    "tied_with_best", "computable", "status", "missing_data"]
                   + [f"{c}{s}" for c in CRITERIA for s in ("", "_lo", "_hi")])
EVIDENCE_COLUMNS = ["model", "criterion", "raw", "raw_lo", "raw_hi", "score", "score_lo",
                    "score_hi", "weight", "basis"]
PAIRWISE_COLUMNS = ["model_a", "model_b", "diff", "diff_lo", "diff_hi", "p_a_better",
                    "distinguishable"]


# ----------------------------------------------------------------------------- data needs


def _metric_available(name: str, panel: pd.DataFrame | None, ratings: bool) -> bool:
    if name == "360" or name.startswith("360:"):
        return ratings
    if panel is None:
        return True
    return name in panel.columns and bool(panel[name].notna().any())


def _weighted_rows(metrics: dict, scale: float) -> list[tuple[str, float]]:
    ms = {k: v for k, v in (metrics or {}).items() if v and float(v.get("weight", 0)) > 0}
    tot = sum(float(v["weight"]) for v in ms.values()) or 1.0
    return [(k, scale * float(v["weight"]) / tot) for k, v in ms.items()]


def _needs(name: str, config: dict, depth: int = 0) -> list[tuple[str, float]] | None:
    """(input, weight) pairs a model needs; None when unknown."""
    if depth > 5:
        return None
    if name == "kpi":
        return _weighted_rows((config.get("kpi") or {}).get("metrics"), 1.0)
    if name == "bsc":
        persp = (config.get("bsc") or {}).get("perspectives") or {}
        tot = sum(float(p.get("weight", 0)) for p in persp.values()) or 1.0
        out = []
        for p in persp.values():
            out += _weighted_rows(p.get("metrics"), float(p.get("weight", 0)) / tot)
        return out
    if name == "okr":
        objs = ((config.get("okr") or {}).get("default") or {}).get("objectives") or []
        out = []
        for o in objs:
            krs = o.get("key_results") or []
            out += [(kr["metric"], 1 / len(objs) / len(krs)) for kr in krs]
        return out
    if name == "360":
        return [("ratings", 1.0)]
    spec = (config.get("hybrids") or {}).get(name)
    if spec is None:
        return None
    from analysis.models.config import deep_merge
    from analysis.models.hybrid import hybrid_components

    rule = spec.get("rule", "weighted")
    if rule == "override":
        base = str(spec["base"])
        cfg = dict(config)
        cfg[base] = deep_merge(config.get(base) or {}, spec.get("config") or {})
        inner = _needs(base, cfg, depth + 1)
        if inner is not None and "ratings" in (spec.get("requires") or []):
            inner = [(m, w) for m, w in inner if not m.startswith("360")] + [
                ("ratings", sum(w for m, w in inner if m.startswith("360")) or 0.0)]
        return inner
    if rule == "weighted":
        comps = {str(k): float(v) for k, v in spec["components"].items()}
    else:
        comps = {c: 0.5 for c in hybrid_components(spec)}
    tot = sum(comps.values()) or 1.0
    out = []
    for c, w in comps.items():
        inner = _needs(c, config, depth + 1)
        if inner is None:
            return None
        out += [(m, ww * w / tot) for m, ww in inner]
    return out


def data_requirements(config: dict, panel: pd.DataFrame | None, *, models: list[str],
                      ratings: bool = False, okr: bool = False,
                      computable: dict | None = None) -> pd.DataFrame:
    """What each model needs and whether the center has it.

    Parameters
    ----------
    config : dict
        Model configuration.
    panel : DataFrame or None
        The panel (a metric is available when its column has any value).
    models : list of str
    ratings, okr : bool
        Whether 360 ratings / an OKR file were given. With an OKR file, the OKR model's
        needs are taken as met when it is computable (its key results are the file's).
    computable : dict, optional
        model -> bool, used for models whose needs are not known from the config.

    Returns
    -------
    DataFrame
        ``model, input, weight, available``: ``input`` a metric column, ``ratings`` or
        ``inputs of <model>``; ``weight`` the input's share of the model's score
        (summing to 1 per model); ``available`` bool.
    """
    rows = []
    for m in models:
        needs = _needs(m, config)
        if m == "okr" and okr:
            needs = None
        if needs is None or not needs:
            ok = bool((computable or {}).get(m, True))
            rows.append((m, f"inputs of {m}", 1.0, ok))
            continue
        agg: dict[str, float] = {}
        for name, w in needs:
            key = "ratings" if (name == "360" or name.startswith("360:")) else name
            agg[key] = agg.get(key, 0.0) + w
        tot = sum(agg.values()) or 1.0
        for name, w in agg.items():
            avail = ratings if name == "ratings" else _metric_available(name, panel, ratings)
            rows.append((m, name, w / tot, bool(avail)))
    return pd.DataFrame(rows, columns=["model", "input", "weight", "available"])


# ----------------------------------------------------------------------------- statistics


def _icc_c1(m: np.ndarray) -> float:
    n, k = m.shape
    if n < 3 or k < 2:
        return float("nan")
    grand = m.mean()
    rm, cm = m.mean(1), m.mean(0)
    msr = k * ((rm - grand) ** 2).sum() / (n - 1)
    resid = m - rm[:, None] - cm[None, :] + grand
    mse = (resid ** 2).sum() / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse
    return float((msr - mse) / den) if den > 0 else float("nan")


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 5:
        return float("nan")
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _gather(bounds: np.ndarray, order: np.ndarray, pick: np.ndarray) -> np.ndarray:
    st, en = bounds[pick], bounds[pick + 1]
    sz = en - st
    if sz.sum() == 0:
        return np.empty(0, dtype=int)
    offs = np.repeat(st - np.concatenate([[0], np.cumsum(sz)[:-1]]), sz)
    return order[offs + np.arange(sz.sum())]


class _Rows:
    """Rows of a table grouped by agent code, for gathering resampled agents."""

    def __init__(self, codes: np.ndarray, n_agents: int):
        self.order = np.argsort(codes, kind="stable")
        self.bounds = np.searchsorted(codes[self.order], np.arange(n_agents + 1))

    def take(self, pick: np.ndarray) -> np.ndarray:
        return _gather(self.bounds, self.order, pick)


class _ModelStats:
    """Per-model data for the criteria, computed on any multiset of agents."""

    def __init__(self, s: pd.DataFrame, agent_index: pd.Index, *, panel, config, flags,
                 sep_level: float = 0.95):
        from analysis.criteria import outcome_composite as _composite

        self.n_agents = len(agent_index)
        code = agent_index.get_indexer(s["agent_id"].astype(str))
        s = s.assign(_a=code)
        # stability: agents scored in every period
        w = s.pivot_table(index="_a", columns="period", values="score")
        self.stab_reason = ""
        if w.shape[1] < 2:
            self.stab_reason = "needs at least two periods"
        w = w.dropna()
        self.stab_mat = np.full((self.n_agents, max(w.shape[1], 1)), np.nan)
        if len(w):
            self.stab_mat[w.index.to_numpy()] = w.to_numpy()
        self.stab_has = ~np.isnan(self.stab_mat).any(axis=1)
        # validity
        self.val = None
        cc = (config or {}).get("compare") or {}
        if panel is not None and panel["period"].nunique() >= 2:
            min_calls = int((config or {}).get("min_calls", 1))
            op = panel[panel["calls"] >= min_calls] if "calls" in panel else panel
            comp, used = _composite(op, cc.get("outcomes") or {})
            if used:
                periods = sorted(panel["period"].astype(str).unique())
                nxt = {p: periods[i + 1] for i, p in enumerate(periods[:-1])}
                out = op[["agent_id", "period"]].astype(str).assign(outcome=comp.to_numpy())
                t = s[["agent_id", "period", "score", "_a"]].copy()
                t["next_period"] = t["period"].astype(str).map(nxt)
                pairs = t.merge(out.rename(columns={"period": "next_period"}),
                                on=["agent_id", "next_period"]).dropna(
                    subset=["score", "outcome"])
                if len(pairs) >= 5:
                    self.val = (pairs["score"].to_numpy(float), pairs["outcome"].to_numpy(float),
                                _Rows(pairs["_a"].to_numpy(), self.n_agents))
        # fairness
        self.fair = []
        if panel is not None:
            for col in cc.get("fairness_by") or []:
                if col not in panel.columns:
                    continue
                d = s[["agent_id", "period", "score", "_a"]].merge(
                    panel[["agent_id", "period", col]].astype({"agent_id": str, "period": str}),
                    on=["agent_id", "period"]).dropna()
                k = d[col].nunique()
                if k < 2 or len(d) <= k + d["period"].nunique():
                    continue
                self.fair.append((col, d["score"].to_numpy(float),
                                  pd.factorize(d[col].astype(str))[0],
                                  pd.factorize(d["period"].astype(str))[0],
                                  _Rows(d["_a"].to_numpy(), self.n_agents)))
        # separation: per-agent interval over periods
        g = s.groupby("_a")["score"]
        mean, sd, n = g.mean(), g.std(), g.size()
        ok = n >= 2
        half = stats.t.ppf(0.5 + sep_level / 2, (n[ok] - 1).to_numpy()) * (
            sd[ok] / np.sqrt(n[ok])).to_numpy()
        self.lo = np.full(self.n_agents, np.nan)
        self.hi = np.full(self.n_agents, np.nan)
        idx = mean[ok].index.to_numpy()
        self.lo[idx] = mean[ok].to_numpy() - half
        self.hi[idx] = mean[ok].to_numpy() + half
        # gaming: both bases when they exist (recommend() uses one basis for all models)
        self.gam = None
        self.gam_basis = ""
        self.gam_by_basis = _gaming_arrays(s, agent_index, flags)
        self.use_gaming_basis(GAMING_OWN if GAMING_OWN in self.gam_by_basis else GAMING_LEVEL)

    def use_gaming_basis(self, basis: str) -> None:
        self.gam = self.gam_by_basis.get(basis)
        self.gam_basis = basis if self.gam is not None else ""

    # -- criteria on a multiset of agent codes (raw values)
    def stability(self, pick):
        rows = pick[self.stab_has[pick]]
        return _icc_c1(self.stab_mat[rows]) if len(rows) >= 3 else float("nan")

    def validity(self, pick):
        if self.val is None:
            return float("nan")
        x, y, r = self.val
        i = r.take(pick)
        return _spearman(x[i], y[i])

    def fairness(self, pick):
        from analysis.criteria import partial_eta_squared

        vals = []
        for _, y, gcode, bcode, r in self.fair:
            i = r.take(pick)
            if len(i) == 0 or len(np.unique(gcode[i])) < 2:
                continue
            vals.append(partial_eta_squared(y[i], gcode[i], bcode[i]))
        vals = [v for v in vals if np.isfinite(v)]
        return max(vals) if vals else float("nan")

    def separation(self, pick):
        lo, hi = self.lo[pick], self.hi[pick]
        keep = np.isfinite(lo)
        lo, hi, p = lo[keep], hi[keep], pick[keep]
        n = len(lo)
        if n < 3:
            return float("nan")
        slo = np.sort(lo)
        # pairs (i, j) with lo_j > hi_i: each non-overlapping pair counted once
        nonover = (n - np.searchsorted(slo, hi, side="right")).sum()
        _, counts = np.unique(p, return_counts=True)
        pairs = n * (n - 1) / 2 - (counts * (counts - 1) / 2).sum()
        return float(nonover / pairs) if pairs > 0 else float("nan")

    def gaming(self, pick):
        if self.gam is None:
            return float("nan")
        v = self.gam[pick]
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else float("nan")


def _gaming_arrays(s: pd.DataFrame, agent_index: pd.Index, flags) -> dict[str, np.ndarray]:
    """Per-agent rise of flagged agents (NaN elsewhere), by basis (own baseline, level)."""
    from analysis.criteria import percentiles as _percentiles

    out: dict[str, np.ndarray] = {}
    if flags is None or not len(flags) or not bool(flags["flagged"].any()):
        return out
    n = len(agent_index)

    def put(values: pd.Series) -> np.ndarray:
        arr = np.full(n, np.nan)
        idx = agent_index.get_indexer(values.index.astype(str))
        ok = idx >= 0
        arr[idx[ok]] = values.to_numpy()[ok]
        return arr

    pct = _percentiles(s[["agent_id", "period", "score"]])
    fl = flags[flags["flagged"]]
    if "since" in fl.columns and fl["since"].notna().any():
        p = pct.merge(fl[["agent_id", "since"]].dropna(), on="agent_id")
        p["gaming"] = p["period"].astype(str) >= p["since"].astype(str)
        both = p.groupby(["agent_id", "gaming"])["pct"].mean().unstack()
        if {True, False} <= set(both.columns):
            both = both.dropna()
            if len(both):
                out[GAMING_OWN] = put(both[True] - both[False])
    per = pct.groupby("agent_id")["pct"].mean()
    per = per[per.index.isin(fl["agent_id"])]
    if len(per):
        out[GAMING_LEVEL] = put(per - 50)
    return out


def _to_score(criterion: str, raw):
    raw = np.asarray(raw, float)
    if criterion in ("stability", "validity", "separation", "data"):
        return np.clip(raw, 0, 1)
    if criterion == "fairness":
        return 1 - np.clip(raw, 0, 1)
    if criterion == "gaming":
        return 1 - np.clip(raw / GAMING_FULL_RISE, 0, 1)
    raise KeyError(criterion)


_BASIS = {
    "stability": "ICC(C,1) of agents' scores across periods",
    "validity": "Spearman rho of score vs next period's outcome composite",
    "fairness": "largest partial eta-squared of score on queue/shift (period fixed effects)",
    "separation": "share of agent pairs whose 95% score intervals over periods do not overlap",
    "data": "share of the model's weight whose data the center has",
}


# ----------------------------------------------------------------------------- result


@dataclass
class Recommendation:
    """Result of :func:`recommend`.

    Attributes
    ----------
    ranking : DataFrame
        One row per model, best first (:data:`RANKING_COLUMNS`): ``rank`` (computable
        models first), ``overall`` and its bootstrap interval ``overall_lo/hi``,
        ``p_best`` (share of bootstrap replicates in which the model scores highest; ties
        shared), ``tied_with_best`` (the interval of its difference from the top model
        holds 0), ``computable``, ``status`` (reason when not computable),
        ``missing_data`` (inputs the model needs that the center lacks), and per
        criterion its 0-1 score with interval (``<criterion>``, ``_lo``, ``_hi``).
    evidence : DataFrame
        Long form (:data:`EVIDENCE_COLUMNS`): the raw statistic behind each criterion
        (ICC, rho, eta-squared, percentile rise, share of pairs, share of weight) with
        its interval, the 0-1 score, the weight used and the ``basis``.
    pairwise : DataFrame
        :data:`PAIRWISE_COLUMNS`: difference in overall score for every pair of computable
        models, its interval, P(a better) over the bootstrap, and ``distinguishable``
        (the interval excludes 0).
    weights : dict
        Criterion weights used (after leaving out criteria not assessed), summing to 1.
    not_assessed : dict
        criterion -> reason it was left out.
    requirements : DataFrame
        From :func:`data_requirements`.
    ci : float
        Level of the intervals.
    n_boot : int
    """

    ranking: pd.DataFrame
    evidence: pd.DataFrame
    pairwise: pd.DataFrame
    weights: dict
    not_assessed: dict = field(default_factory=dict)
    requirements: pd.DataFrame | None = None
    ci: float = 0.9
    n_boot: int = 0

    @property
    def best(self) -> str | None:
        r = self.ranking[self.ranking["computable"]]
        return None if r.empty else str(r.iloc[0]["model"])

    @property
    def indistinguishable(self) -> list[tuple[str, str]]:
        """Pairs of models the data cannot tell apart."""
        p = self.pairwise[~self.pairwise["distinguishable"]]
        return list(zip(p["model_a"], p["model_b"], strict=True))

    def to_dict(self) -> dict:
        """JSON-ready: ``best, tied_with_best, ranking, evidence, pairwise, weights,
        not_assessed, requirements, ci, n_boot, text``."""
        from analysis.criteria import jsonable as _jsonable

        def recs(df):
            return [] if df is None else _jsonable(
                df.astype(object).where(df.notna(), None).to_dict(orient="records"))

        tied = self.ranking.loc[self.ranking["tied_with_best"].astype(bool), "model"]
        return {"best": self.best, "tied_with_best": [str(m) for m in tied],
                "ranking": recs(self.ranking), "evidence": recs(self.evidence),
                "pairwise": recs(self.pairwise), "weights": _jsonable(self.weights),
                "not_assessed": dict(self.not_assessed),
                "requirements": recs(self.requirements), "ci": self.ci,
                "n_boot": self.n_boot, "text": {"en": self.text("en"), "zh": self.text("zh")}}

    def text(self, lang: str = "en") -> str:
        """A plain-language summary (``lang`` ``en`` or ``zh``)."""
        zh = lang.startswith("zh")
        r = self.ranking
        pct = f"{self.ci:.0%}"
        lines = []
        comp = r[r["computable"] & r["overall"].notna()]
        if comp.empty:
            return "没有可计算的模型。" if zh else "No model could be scored on this data."
        top = comp.iloc[0]
        iv = f"{top['overall_lo']:.2f}-{top['overall_hi']:.2f}"
        if zh:
            lines.append(f"本中心推荐的模型：{top['model']}（综合得分 {top['overall']:.2f}，"
                         f"{pct} 区间 {iv}；在 {top['p_best']:.0%} 的自助重抽样中排名第一）。")
        else:
            lines.append(f"Recommended for this center: {top['model']} (overall "
                         f"{top['overall']:.2f}, {pct} interval {iv}; best in "
                         f"{top['p_best']:.0%} of bootstrap resamples of agents).")
        tied = [m for m in comp["model"].iloc[1:] if bool(
            comp.set_index("model").loc[m, "tied_with_best"])]
        if tied:
            pw = self.pairwise
            for m in tied:
                row = pw[((pw["model_a"] == top["model"]) & (pw["model_b"] == m))
                         | ((pw["model_a"] == m) & (pw["model_b"] == top["model"]))].iloc[0]
                sgn = 1 if row["model_a"] == top["model"] else -1
                d, lo, hi = sgn * row["diff"], *sorted((sgn * row["diff_lo"],
                                                         sgn * row["diff_hi"]))
                if zh:
                    lines.append(f"数据无法区分 {top['model']} 与 {m}（差值 {d:.2f}，"
                                 f"{pct} 区间 {lo:.2f} 至 {hi:.2f}）。")
                else:
                    lines.append(f"The data cannot tell {top['model']} apart from {m} "
                                 f"(difference {d:.2f}, {pct} interval {lo:.2f} to {hi:.2f}).")
        else:
            lines.append(f"{top['model']} 明显优于其他模型。" if zh else
                         f"{top['model']} is ahead of every other model beyond the "
                         "uncertainty.")
        lines.append("排名：" if zh else "Ranking:")
        for _, x in r.iterrows():
            if x["computable"] and pd.notna(x["overall"]):
                lines.append(f"  {int(x['rank'])}. {x['model']}: {x['overall']:.2f} "
                             f"[{x['overall_lo']:.2f}, {x['overall_hi']:.2f}]"
                             + (f"（缺少数据：{x['missing_data']}）" if zh and x["missing_data"]
                                else f" (missing data: {x['missing_data']})"
                                if x["missing_data"] else ""))
            else:
                lines.append(f"  {int(x['rank'])}. {x['model']}: "
                             + (f"无法计算（{x['status']}）" if zh else
                                f"{x['status']}; ranked last"))
        ev = self.evidence
        for _, x in comp.iterrows():
            e = ev[(ev["model"] == x["model"]) & ev["weight"].gt(0) & ev["score"].notna()]
            if len(e) >= 2:
                hi_c = e.loc[e["score"].idxmax(), "criterion"]
                lo_c = e.loc[e["score"].idxmin(), "criterion"]
                lines.append(f"  {x['model']}: 最强 {hi_c}，最弱 {lo_c}。" if zh else
                             f"  {x['model']}: strongest on {hi_c}, weakest on {lo_c}.")
        for c, why in self.not_assessed.items():
            lines.append(f"未评估 {c}：{why}（其权重分配给其他标准）。" if zh else
                         f"Not assessed: {c} ({why}); its weight shared among the other "
                         "criteria.")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def recommend(comparison, *, weights: dict | None = None, n_boot: int | None = None,
              ci: float | None = None, seed: int | None = None,
              gaming_from=None) -> Recommendation:
    """Rank the candidate models of a comparison for this center.

    Parameters
    ----------
    comparison : analysis.compare.Comparison
        From :func:`analysis.compare.compare_models` (uses ``scores``, ``results``,
        ``panel``, ``flags``, ``inputs`` and ``summary["config"]``).
    weights : dict, optional
        Criterion -> weight (any subset of :data:`CRITERIA`; the rest keep the
        configuration's ``recommendation.weights``, else :data:`DEFAULT_WEIGHTS`).
    n_boot, ci, seed : optional
        Bootstrap replicates over agents, interval level, seed (default from
        ``recommendation`` / ``compare`` in the configuration: 300, 0.90).
    gaming_from : Comparison, optional
        Measure resistance to gaming on this comparison's scores and flags instead (the
        what-if uses the comparison on all calls: once the flagged calls are removed,
        where flagged agents stand no longer measures a reward for gaming).

    Returns
    -------
    Recommendation
        ``ranking``, ``evidence``, ``pairwise`` tables, ``text(lang)``, ``to_dict()``.
    """
    config = (comparison.summary or {}).get("config") or {}
    rc = config.get("recommendation") or {}
    w = dict(DEFAULT_WEIGHTS)
    w.update({k: float(v) for k, v in (rc.get("weights") or {}).items()})
    w.update({k: float(v) for k, v in (weights or {}).items()})
    unknown = set(w) - set(CRITERIA)
    if unknown:
        from analysis.errors import ConfigError

        raise ConfigError(f"recommendation weights: unknown criterion {sorted(unknown)[0]!r}")
    n_boot = int(rc.get("n_boot", 300) if n_boot is None else n_boot)
    ci = float(rc.get("ci", 0.9) if ci is None else ci)
    seed = int((config.get("compare") or {}).get("seed", 0) if seed is None else seed)
    results = comparison.results or {}
    scores = comparison.scores
    models = list(results) or list(dict.fromkeys(scores["model"]))
    computable = {m: bool(results[m].computable) if m in results else True for m in models}
    computable = {m: c and bool((scores["model"] == m).any()) for m, c in computable.items()}
    reasons = {m: (results[m].reason if m in results else "") or "no scores" for m in models}
    inputs = getattr(comparison, "inputs", None) or {}
    panel = getattr(comparison, "panel", None)
    req = data_requirements(config, panel, models=models,
                            ratings=bool(inputs.get("ratings", computable.get("360", False))),
                            okr=bool(inputs.get("okr", False)), computable=computable)
    cover = req.assign(av=req["weight"] * req["available"]).groupby("model")["av"].sum()
    missing = req[~req["available"]].groupby("model")["input"].agg(", ".join)

    cm = [m for m in models if computable[m]]
    s = scores[scores["model"].isin(cm)].copy()
    s["agent_id"] = s["agent_id"].astype(str)
    s["period"] = s["period"].astype(str)
    agents = pd.Index(sorted(s["agent_id"].unique()))
    flags = getattr(comparison, "flags", None)
    if flags is None and getattr(comparison, "flagged", None):
        flags = pd.DataFrame({"agent_id": list(comparison.flagged), "flagged": True})
    ms = {m: _ModelStats(s[s["model"] == m], agents, panel=panel, config=config, flags=flags)
          for m in cm}
    if gaming_from is not None:
        gs = gaming_from.scores.assign(agent_id=gaming_from.scores["agent_id"].astype(str),
                                       period=gaming_from.scores["period"].astype(str))
        gflags = getattr(gaming_from, "flags", None)
        for m in cm:
            ms[m].gam_by_basis = _gaming_arrays(gs[gs["model"] == m], agents, gflags)
    # one gaming basis for every model: the own baseline only when all models have it
    basis = GAMING_OWN if cm and all(GAMING_OWN in ms[m].gam_by_basis for m in cm) \
        else GAMING_LEVEL
    for m in cm:
        ms[m].use_gaming_basis(basis)
    crit_fns = ["stability", "validity", "gaming", "fairness", "separation"]
    everyone = np.arange(len(agents))
    point = {m: {c: getattr(ms[m], c)(everyone) for c in crit_fns} for m in cm}
    for m in cm:
        point[m]["data"] = float(cover.get(m, 1.0))
    not_assessed = {}
    why_na = {"stability": "needs at least two periods with at least 3 agents in each",
              "validity": "needs two periods and outcome metrics (compare.outcomes)",
              "gaming": "no gaming flags (run ccpm gaming, then compare --flags "
                        "gaming_flags.csv)",
              "fairness": "no queue/shift column with at least two groups",
              "separation": "needs agents scored in at least two periods"}
    for c in crit_fns:
        if cm and not all(np.isfinite(point[m][c]) for m in cm):
            if any(np.isfinite(point[m][c]) for m in cm):
                not_assessed[c] = "not assessable for every model (" + ", ".join(
                    m for m in cm if not np.isfinite(point[m][c])) + ")"
            else:
                not_assessed[c] = why_na[c]
    used = [c for c in CRITERIA if c not in not_assessed and w.get(c, 0) > 0]
    wsum = sum(w[c] for c in used) or 1.0
    weff = {c: (w[c] / wsum if c in used else 0.0) for c in CRITERIA}

    # bootstrap over agents (same resample for every model)
    rng = np.random.default_rng(seed)
    boot = {m: {c: np.full(n_boot, np.nan) for c in crit_fns} for m in cm}
    for b in range(n_boot):
        pick = rng.integers(0, len(agents), len(agents))
        for m in cm:
            for c in crit_fns:
                if c in used:
                    v = getattr(ms[m], c)(pick)
                    boot[m][c][b] = v if np.isfinite(v) else point[m][c]

    def overall_of(vals: dict) -> np.ndarray | float:
        return sum(weff[c] * _to_score(c, vals[c]) for c in used)

    a = (1 - ci) / 2

    def q(v):
        if n_boot > 0 and np.isfinite(v).all():
            return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))
        return float("nan"), float("nan")

    overall_pt = {m: float(overall_of(point[m])) for m in cm}
    overall_b = {m: overall_of({**{c: boot[m][c] for c in crit_fns},
                                "data": np.full(n_boot, point[m]["data"])}) for m in cm}
    if n_boot > 0 and cm:
        mat = np.vstack([np.broadcast_to(overall_b[m], (n_boot,)) for m in cm])
        mx = mat.max(axis=0)
        is_max = np.isclose(mat, mx[None, :], rtol=0, atol=1e-12)
        p_best = (is_max / is_max.sum(axis=0)).mean(axis=1)
    else:
        p_best = np.full(len(cm), np.nan)
    order = sorted(cm, key=lambda m: (-overall_pt[m], m))

    pw_rows = []
    for i, ma in enumerate(order):
        for mb in order[i + 1:]:
            d = np.broadcast_to(overall_b[ma] - overall_b[mb], (n_boot,))
            lo, hi = q(d) if n_boot else (float("nan"), float("nan"))
            dist = bool(np.isfinite(lo) and (lo > 0 or hi < 0))
            pw_rows.append((ma, mb, overall_pt[ma] - overall_pt[mb], lo, hi,
                            float((d > 1e-12).mean() + 0.5 * (np.abs(d) <= 1e-12).mean())
                            if n_boot else float("nan"), dist))
    pairwise = pd.DataFrame(pw_rows, columns=PAIRWISE_COLUMNS)

    ev_rows, rank_rows = [], []
    for m in cm:
        for c in CRITERIA:
            raw = point[m][c]
            if c == "data":
                rlo = rhi = raw
                basis = _BASIS[c]
            else:
                rlo, rhi = q(boot[m][c]) if c in used else (float("nan"), float("nan"))
                basis = ms[m].gam_basis if c == "gaming" else _BASIS[c]
            sc = float(_to_score(c, raw)) if np.isfinite(raw) else float("nan")
            slo, shi = sorted([float(_to_score(c, rlo)), float(_to_score(c, rhi))]) \
                if np.isfinite(rlo) else (float("nan"), float("nan"))
            ev_rows.append((m, c, raw, rlo, rhi, sc, slo, shi, weff[c],
                            basis or not_assessed.get(c, "")))
    evidence = pd.DataFrame(ev_rows, columns=EVIDENCE_COLUMNS)
    pb = dict(zip(cm, p_best, strict=True))
    best = order[0] if order else None
    for k, m in enumerate(order, start=1):
        if m == best:
            tied = True
        else:
            row = pairwise[(pairwise["model_a"] == best) & (pairwise["model_b"] == m)]
            tied = bool(len(row) and not row["distinguishable"].iloc[0])
        lo, hi = q(np.broadcast_to(overall_b[m], (n_boot,))) if n_boot else (np.nan, np.nan)
        row = {"model": m, "rank": k, "overall": overall_pt[m], "overall_lo": lo,
               "overall_hi": hi, "p_best": float(pb[m]), "tied_with_best": tied,
               "computable": True, "status": "ok", "missing_data": missing.get(m, "")}
        e = evidence[evidence["model"] == m].set_index("criterion")
        for c in CRITERIA:
            row[c], row[f"{c}_lo"], row[f"{c}_hi"] = (e.loc[c, "score"], e.loc[c, "score_lo"],
                                                      e.loc[c, "score_hi"])
        rank_rows.append(row)
    nc = sorted([m for m in models if not computable[m]], key=lambda m: (-cover.get(m, 0), m))
    for k, m in enumerate(nc, start=len(order) + 1):
        row = {"model": m, "rank": k, "overall": float("nan"), "overall_lo": float("nan"),
               "overall_hi": float("nan"), "p_best": 0.0, "tied_with_best": False,
               "computable": False, "status": f"not computable: {reasons[m]}",
               "missing_data": missing.get(m, "")}
        row.update({f"{c}{sfx}": float("nan") for c in CRITERIA for sfx in ("", "_lo", "_hi")})
        row["data"] = float(cover.get(m, 0.0))
        rank_rows.append(row)
    ranking = pd.DataFrame(rank_rows, columns=RANKING_COLUMNS)
    return Recommendation(ranking=ranking, evidence=evidence, pairwise=pairwise,
                          weights={c: weff[c] for c in CRITERIA}, not_assessed=not_assessed,
                          requirements=req, ci=ci, n_boot=n_boot)


