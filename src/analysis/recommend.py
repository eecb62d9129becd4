"""Which performance-management model suits this center: rank acceptability over the
center's priorities, with the data's uncertainty.

Each candidate model of a :class:`~analysis.compare.Comparison` (the four pure models
and, by default, the hybrids ``kpi_okr`` and ``bsc_360``) is measured on the criteria of
:mod:`analysis.criteria` (validity, stability, gaming resistance, fairness, agreement,
coverage), each put on a 0-1 scale (1 = best).

Weights are the center's priorities, not a fixed choice: SMAA-2 (Lahdelma & Salminen
2001) draws weight vectors from every weighting the stated priorities admit (uniform on
the simplex by default; ``recommendation.priorities`` may state an order, "validity >
gaming_resistance", and/or ranges per criterion), each together with one bootstrap
replicate of the criteria (data uncertainty folded in), and reports for every model its
*rank acceptability* (the share of draws in which it ranks 1st, 2nd, ...), its *central
weight vector* (the mean weights under which it ranks first) and its *confidence factor*
(the share of bootstrap replicates in which it ranks first at its central weights). The
recommended model ranks first in the largest share of draws; ``what_would_change`` names,
for each other model that ever ranks first, the trade-off that makes it win (the
criterion its central weights raise most and the one they lower most, against the
recommended model's).

Uncertainty: a two-way (pigeonhole) bootstrap resamples agents and, independently, the
time units each criterion averages over (periods; adjacent period pairs for stability;
(period, later period) pairs for validity; planted agents for gaming resistance), and
recomputes every criterion inside the replicate (the outcome composite's z-scores and the
within-period percentiles refitted on the resampled agents). A replicate in which a
criterion cannot be computed for some model is counted as failed and left out (never
replaced by the point estimate). Criteria resting on a partial period (less than 75% of
its calendar days in the data) are marked ``partial``.

A model scored on assumed definitions (no OKR file: default key results; default KPI or
scorecard targets so far from the center that most agent-periods sit at the cap or
floor) is marked ``defaulted`` with the reasons, and a recommendation of it carries that
caveat. A model that is not computable (it needs data the center lacks) ranks after all
computable models, with the reason.

References
----------
Lahdelma, R., & Salminen, P. (2001). SMAA-2: Stochastic multicriteria acceptability
analysis for group decision making. Operations Research 49(3), 444-454.
Tervonen, T., & Figueira, J. R. (2008). A survey on stochastic multicriteria acceptability
analysis methods. Journal of Multi-Criteria Decision Analysis 15(1-2), 1-14.
Owen, A. B. (2007). The pigeonhole bootstrap. Annals of Applied Statistics 1(2), 386-411.
Kerr, S. (1975). On the folly of rewarding A, while hoping for B. Academy of
Management Journal 18(4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .compare import ties_every_agent
from .criteria import (
    BASIS,
    CRITERIA,
    UNITS,
    corr,
    describe_priorities,
    eta_squared,
    icc_c1,
    jsonable,
    parse_priorities,
    period_coverage,
    rank_average,
    spearman,
    to_score,
    validity_value,
)
from .models.needs import model_components, model_inputs

__all__ = ["CRITERIA", "Recommendation", "recommend", "data_requirements", "smaa2",
           "sample_weights", "defaulted_models", "RANKING_COLUMNS", "EVIDENCE_COLUMNS",
           "PAIRWISE_COLUMNS", "PURE_MODELS", "PARTIAL_SHARE"]

PURE_MODELS = ("kpi", "okr", "bsc", "360")
LABELS = {"kpi": "KPI", "okr": "OKR", "bsc": "Balanced scorecard",
          "360": "360-degree feedback"}
#: A period with less than this share of its calendar days in the data is partial.
PARTIAL_SHARE = 0.75
#: Why a model whose scores tie every agent in every period is not a candidate.
TIED_REASON = ("it gives every agent the same score in every period (it does not tell these "
               "agents apart)")

RANKING_COLUMNS = (["model", "rank", "first_share", "overall", "overall_lo", "overall_hi",
                    "p_best", "tied_with_best", "computable", "defaulted", "status",
                    "missing_data"]
                   + [f"{c}{s}" for c in CRITERIA for s in ("", "_lo", "_hi")])
EVIDENCE_COLUMNS = ["model", "criterion", "raw", "raw_lo", "raw_hi", "score", "score_lo",
                    "score_hi", "weight", "unit", "partial", "basis"]
PAIRWISE_COLUMNS = ["model_a", "model_b", "diff", "diff_lo", "diff_hi", "p_a_better",
                    "distinguishable"]


# ----------------------------------------------------------------------------- data needs


def _metric_available(name: str, panel: pd.DataFrame | None, ratings: bool) -> bool:
    if name == "360" or name.startswith("360:"):
        return ratings
    if panel is None:
        return True
    return name in panel.columns and bool(panel[name].notna().any())


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
        needs = model_inputs(m, config)
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


def _parts_of(name: str, config: dict, depth: int = 0) -> set[str]:
    """The pure models a model is built from (itself for a pure model)."""
    if name in PURE_MODELS or depth > 5:
        return {name}
    spec = (config.get("hybrids") or {}).get(name)
    if spec is None:
        return {name}
    from .models.hybrid import hybrid_components

    out: set[str] = set()
    for c in hybrid_components(spec):
        out |= _parts_of(c, config, depth + 1)
    return out


def _label(name: str, config: dict) -> str:
    spec = (config.get("hybrids") or {}).get(name) or {}
    return str(spec.get("title") or LABELS.get(name, name))


# ----------------------------------------------------------------------------- defaulted


def _packaged_defaults() -> dict:
    import yaml

    from .models.config import DEFAULTS_PATH

    return yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8")) or {}


def _far_targets(result, section: dict, packaged: dict, panel, split: bool) -> list[str]:
    """Reasons for metrics scored against a packaged default target that most
    agent-periods sit at the cap or floor of."""
    if result is None or not result.computable or not len(result.components):
        return []
    if section.get("normalisation", "attainment") != "attainment":
        return []
    cap, floor = float(section.get("cap", 1.2)), float(section.get("floor", 0.0))
    comp = result.components
    out = []
    for name, value in comp.groupby("component")["value"]:
        metric = str(name).split("/", 1)[1] if split and "/" in str(name) else str(name)
        spec, ref = _metric_spec(section, name, split), _metric_spec(packaged, name, split)
        if not spec or not ref or "target" not in spec or spec.get("target") != ref.get(
                "target"):
            continue
        v = value.dropna().to_numpy(float)
        if len(v) < 5:
            continue
        at_cap = float(np.mean(v >= cap - 1e-9))
        at_floor = float(np.mean(v <= floor + 1e-9))
        if max(at_cap, at_floor) >= 0.5:
            med = (float(panel[metric].median()) if panel is not None and metric in panel
                   else float("nan"))
            where = "cap" if at_cap >= at_floor else "floor"
            out.append(f"{metric}: the default target {spec['target']:g} is far from this "
                       f"center (median {med:.3g}); {max(at_cap, at_floor):.0%} of "
                       f"agent-periods sit at the {where}")
    return out


def _metric_spec(section: dict, name: str, split: bool) -> dict | None:
    if not split:
        return ((section or {}).get("metrics") or {}).get(str(name))
    persp, _, metric = str(name).partition("/")
    return ((((section or {}).get("perspectives") or {}).get(persp) or {})
            .get("metrics") or {}).get(metric)


def defaulted_models(comparison, models: list[str] | None = None) -> dict[str, list[str]]:
    """Models scored on assumed definitions, with the reasons (plain English).

    ``okr`` without an OKR file is scored on the configuration's default key results;
    ``kpi`` and ``bsc`` are defaulted on a metric whose target is the packaged default and
    at which at least half the agent-periods sit at the cap or floor; a hybrid inherits
    the status of the models it is built from.
    """
    config = (comparison.summary or {}).get("config") or {}
    results = comparison.results or {}
    models = list(models or results)
    inputs = getattr(comparison, "inputs", None) or {}
    packaged = _packaged_defaults()
    panel = getattr(comparison, "panel", None)
    base: dict[str, list[str]] = {}
    if not inputs.get("okr", False):
        base["okr"] = ["no OKR file: scored on assumed key results (okr.default: baselines "
                       "= the center's first-period medians, targets a set improvement on "
                       "them)"]
    for m, split in (("kpi", False), ("bsc", True)):
        r = results.get(m)
        why = _far_targets(r, config.get(m) or {}, packaged.get(m) or {}, panel, split)
        if why:
            base[m] = why
    out = {}
    for m in models:
        parts = _parts_of(m, config)
        if m in PURE_MODELS:
            if m in base:
                out[m] = list(base[m])
            continue
        reasons = [f"built from {p}, scored on assumed definitions" for p in sorted(parts)
                   if p in base]
        if reasons:
            out[m] = reasons
    return out


# ----------------------------------------------------------------------------- SMAA-2


def sample_weights(criteria: list[str], priorities: dict | None, n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``n`` weight vectors uniform on the part of the simplex the priorities admit.

    Parameters
    ----------
    criteria : list of str
        The criteria weighed (columns of the result).
    priorities : dict
        From :func:`analysis.criteria.parse_priorities`; constraints on criteria not in
        ``criteria`` are ignored.
    n : int
    rng : numpy Generator

    Returns
    -------
    ndarray, shape (n, len(criteria))
        Rows summing to 1.

    Raises
    ------
    ConfigError
        When the priorities admit (almost) no weights.

    Notes
    -----
    Dirichlet(1, ..., 1) is uniform on the simplex; the coordinates of one order chain are
    sorted (exchangeability makes that uniform on the ordered cone); chains sharing a
    criterion and ranges are imposed by rejection.
    """
    k = len(criteria)
    idx = {c: i for i, c in enumerate(criteria)}
    p = priorities or {}
    chains = [[c for c in ch if c in idx] for ch in p.get("order") or []]
    chains = [ch for ch in chains if len(ch) >= 2]
    ranges = {c: r for c, r in (p.get("ranges") or {}).items() if c in idx}
    seen: set[str] = set()
    disjoint = True
    for ch in chains:
        if seen & set(ch):
            disjoint = False
        seen |= set(ch)
    got, total = [], 0
    for _ in range(400):
        w = rng.dirichlet(np.ones(k), size=max(n, 2000))
        ok = np.ones(len(w), bool)
        for ch in chains:
            cols = [idx[c] for c in ch]
            if disjoint:
                w[:, cols] = -np.sort(-w[:, cols], axis=1)
            else:
                for a, b in zip(cols, cols[1:], strict=False):
                    ok &= w[:, a] >= w[:, b]
        for c, (lo, hi) in ranges.items():
            ok &= (w[:, idx[c]] >= lo) & (w[:, idx[c]] <= hi)
        got.append(w[ok])
        total += int(ok.sum())
        if total >= n:
            break
    if total < n:
        from .errors import ConfigError

        raise ConfigError("recommendation.priorities: the stated order and ranges admit "
                          "(almost) no weights; widen the ranges")
    return np.concatenate(got)[:n]


def smaa2(values: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> dict:
    """SMAA-2 rank acceptability, central weights and confidence factors.

    Parameters
    ----------
    values : ndarray, shape (R, M, C) or (M, C)
        Criterion scores (higher is better) of M alternatives on C criteria, in R joint
        replicates of the data (one replicate: no data uncertainty).
    weights : ndarray, shape (D, C)
        Weight vectors drawn from the admissible set; draw ``d`` is paired with a
        replicate drawn uniformly.
    rng : numpy Generator
        For the pairing and for breaking exact ties at random.

    Returns
    -------
    dict
        ``acceptability`` (M x M: share of draws in which alternative ``m`` has rank
        ``r + 1``; each row and each column sums to 1), ``central`` (M x C, NaN where
        never first), ``confidence`` (M: share of replicates in which ``m`` ranks first at
        its central weights; NaN where never first).

    References
    ----------
    Lahdelma, R., & Salminen, P. (2001). SMAA-2: Stochastic multicriteria acceptability
    analysis for group decision making. Operations Research 49(3), 444-454.
    """
    x = np.asarray(values, float)
    if x.ndim == 2:
        x = x[None]
    w = np.asarray(weights, float)
    r_n, m_n, _ = x.shape
    d_n = len(w)
    rep = rng.integers(0, r_n, d_n)
    u = np.einsum("dmc,dc->dm", x[rep], w)
    u = u + 1e-12 * rng.random(u.shape)  # exact ties broken at random
    order = np.argsort(-u, axis=1)
    rank = np.empty_like(order)
    rank[np.arange(d_n)[:, None], order] = np.arange(m_n)[None, :]
    acc = np.stack([np.bincount(rank[:, m], minlength=m_n) / d_n for m in range(m_n)])
    central = np.full((m_n, w.shape[1]), np.nan)
    conf = np.full(m_n, np.nan)
    for m in range(m_n):
        first = rank[:, m] == 0
        if first.any():
            central[m] = w[first].mean(axis=0)
            uc = x @ central[m]  # (R, M)
            uc = uc + 1e-12 * rng.random(uc.shape)
            conf[m] = float(np.mean(np.argmax(uc, axis=1) == m))
    return {"acceptability": acc, "central": central, "confidence": conf}


# ----------------------------------------------------------------------------- criteria data


class _Data:
    """Everything the criteria need, as agents x periods matrices, so that a replicate
    (a multiset of agents, of periods, of period pairs, of planted agents) recomputes
    every criterion cheaply."""

    def __init__(self, comparison, models: list[str], config: dict, gaming):
        scores = comparison.scores
        s = scores[scores["model"].isin(models)].astype({"agent_id": str, "period": str})
        self.agents = pd.Index(sorted(s["agent_id"].unique()))
        self.periods = sorted(s["period"].unique())
        na, npd = len(self.agents), len(self.periods)
        self.models = models
        self.S = {}
        for m in models:
            w = s[s["model"] == m].pivot_table(index="agent_id", columns="period",
                                               values="score", aggfunc="mean")
            self.S[m] = w.reindex(index=self.agents, columns=self.periods).to_numpy(float)
        panel = getattr(comparison, "panel", None)
        cc = config.get("compare") or {}
        self.outcomes: dict[str, str] = {}
        self.O: dict[str, np.ndarray] = {}
        self.G: dict[str, np.ndarray] = {}
        if panel is not None and len(panel):
            p = panel.astype({"agent_id": str, "period": str})
            min_calls = int(config.get("min_calls", 1))
            op = p[p["calls"] >= min_calls] if "calls" in p else p
            for k, d in (cc.get("outcomes") or {}).items():
                if k in op and op[k].notna().any():
                    self.O[k] = op.pivot_table(index="agent_id", columns="period", values=k,
                                               aggfunc="mean").reindex(
                        index=self.agents, columns=self.periods).to_numpy(float)
                    self.outcomes[k] = d
            for col in cc.get("fairness_by") or []:
                if col in p.columns and p[col].notna().any():
                    codes, _ = pd.factorize(p[col].astype(str))
                    g = p[["agent_id", "period"]].assign(_g=codes).pivot_table(
                        index="agent_id", columns="period", values="_g", aggfunc="first")
                    self.G[col] = g.reindex(index=self.agents, columns=self.periods
                                            ).fillna(-1).to_numpy(int)
        # validity: each outcome on its own; an outcome that is one of the model's own
        # components counts only for what the score adds beyond that outcome's persistence
        self.vout: dict[str, list[str]] = {}
        self.vown: dict[str, set[str]] = {}
        self.vnote: dict[str, str] = {}
        for m in models:
            own = model_components(m, config) & set(self.O)
            self.vown[m] = own
            self.vout[m] = list(self.O)
            self.vnote[m] = ("own components " + ", ".join(sorted(own)) + ": beyond their "
                             "persistence only (partial correlation given period t)"
                             if own else "")
        self.val_units = [(i, j) for i in range(npd) for j in range(i + 1, npd)]
        self.stab_units = [(i, i + 1) for i in range(npd - 1)]
        pure = [m for m in models if m in PURE_MODELS]
        self.partners = {m: [o for o in pure if o != m and o not in _parts_of(m, config)]
                         for m in models}
        # gaming: per behaviour, per model, planted agents x periods
        self.gam: dict[str, dict[str, np.ndarray]] = {}
        if gaming is not None:
            for b, by in gaming.gains.items():
                mats = {m: by[m].reindex(columns=self.periods).to_numpy(float)
                        for m in models if m in by}
                if mats and all(len(v) for v in mats.values()):
                    self.gam[b] = mats
        self.n_agents, self.n_periods = na, npd

    def _ranks(self, m: str, ap, p: int, cache: dict):
        key = ("rank", m, p)
        if key not in cache:
            x = self.S[m][ap, p]
            ok = np.isfinite(x)
            cache[key] = (bool(ok.all()), rank_average(x) if ok.all() else None)
        return cache[key]

    def _agree(self, m: str, o: str, ap, p: int, cache: dict) -> float:
        full_m, rm = self._ranks(m, ap, p, cache)
        full_o, ro = self._ranks(o, ap, p, cache)
        if full_m and full_o and len(rm) >= 5:
            return corr(rm, ro)
        return spearman(self.S[m][ap, p], self.S[o][ap, p])

    def criteria(self, m: str, ap, pp, vp, sp, gp, cache) -> dict:
        S = self.S[m][ap]
        out = {}
        # validity: mean over outcomes of the rank correlation of the score in t with
        # the outcome in a later period (partial given the outcome in t for the model's
        # own components), pooled over (t, later) pairs weighted by pairs
        if self.vout[m] and vp is not None and len(vp):
            out["validity"] = validity_value(
                S, {k: self.O[k][ap] for k in self.vout[m]},
                {k: 1.0 if self.outcomes[k] == "higher" else -1.0 for k in self.vout[m]},
                self.vown[m], [self.val_units[u] for u in vp])
        else:
            out["validity"] = float("nan")
        # stability
        st = []
        for u in sp if sp is not None else []:
            i, j = self.stab_units[u]
            x = S[:, [i, j]]
            x = x[np.isfinite(x).all(axis=1)]
            v = icc_c1(x)
            if np.isfinite(v):
                st.append(v)
        out["stability"] = float(np.mean(st)) if st else float("nan")
        # fairness and agreement, per period
        fa, ag = [], []
        for p in pp:
            es = [eta_squared(S[:, p], g[ap, p]) for g in self.G.values()]
            es = [e for e in es if np.isfinite(e)]
            if es:
                fa.append(max(es))
            rs = [self._agree(m, o, ap, p, cache) for o in self.partners[m]]
            rs = [r for r in rs if np.isfinite(r)]
            if rs:
                ag.append(float(np.mean(rs)))
        out["fairness"] = float(np.mean(fa)) if fa else float("nan")
        out["agreement"] = float(np.mean(ag)) if ag else float("nan")
        # gaming resistance: percentile points gained, mean over behaviours
        gs = []
        for b, mats in self.gam.items():
            if m not in mats:
                continue
            g = mats[m][gp[b]][:, pp] if gp is not None else mats[m][:, pp]
            if np.isfinite(g).any():
                gs.append(float(np.nanmean(g)))
        out["gaming_resistance"] = float(np.mean(gs)) if len(gs) == len(self.gam) and gs \
            else float("nan")
        return out


# ----------------------------------------------------------------------------- result


@dataclass
class Recommendation:
    """Result of :func:`recommend`.

    Attributes
    ----------
    ranking : DataFrame
        One row per model (:data:`RANKING_COLUMNS`), by ``first_share`` (the SMAA-2 share
        of draws in which it ranks first; ``p_best`` is the same number), computable
        models first: ``overall`` is the weighted mean of the 0-1 criterion scores at the
        reference weights (``recommendation.weights``, else the centre of the admissible
        weights) with its bootstrap interval; ``tied_with_best`` (the interval of its
        difference from the recommended model at those weights holds 0); ``defaulted``;
        per criterion its 0-1 score with interval.
    evidence : DataFrame
        :data:`EVIDENCE_COLUMNS`: per model and criterion the raw value in its unit, with
        interval, the 0-1 score, the reference weight, ``partial`` and the basis.
    pairwise : DataFrame
        :data:`PAIRWISE_COLUMNS` at the reference weights.
    weights : dict
        Reference weights (summing to 1 over the criteria assessed).
    not_assessed : dict
        criterion -> why it was left out.
    requirements : DataFrame
        From :func:`data_requirements`.
    ci, n_boot
    recommended : str or None
    models : list of dict
        The ``models`` entries of ``recommendation.json`` (interface C).
    caveats, priorities, what_would_change, validity_outcomes, gaming_dose, bootstrap
        As in ``recommendation.json``.
    gaming : GamingDose or None
        The counterfactual behind gaming resistance (reusable via ``gaming_from``).
    """

    ranking: pd.DataFrame
    evidence: pd.DataFrame
    pairwise: pd.DataFrame
    weights: dict
    not_assessed: dict = field(default_factory=dict)
    requirements: pd.DataFrame | None = None
    ci: float = 0.9
    n_boot: int = 0
    recommended: str | None = None
    models: list = field(default_factory=list)
    caveats: list = field(default_factory=list)
    priorities: dict = field(default_factory=dict)
    what_would_change: list = field(default_factory=list)
    validity_outcomes: dict = field(default_factory=dict)
    gaming_dose: dict = field(default_factory=dict)
    bootstrap: dict = field(default_factory=dict)
    gaming: object = None

    @property
    def best(self) -> str | None:
        if self.recommended is not None:
            return self.recommended
        r = self.ranking[self.ranking["computable"].astype(bool)]
        return None if r.empty else str(r.iloc[0]["model"])

    @property
    def indistinguishable(self) -> list[tuple[str, str]]:
        """Pairs of models the data cannot tell apart (at the reference weights)."""
        p = self.pairwise[~self.pairwise["distinguishable"].astype(bool)]
        return list(zip(p["model_a"], p["model_b"], strict=True))

    def to_dict(self) -> dict:
        """``recommendation.json``: interface C (``recommended, caveats, priorities,
        models, indistinguishable, what_would_change, validity_outcomes, gaming_dose,
        bootstrap``) plus the tables (``ranking, evidence, pairwise, weights,
        not_assessed, requirements, ci, n_boot, best, text``)."""

        def recs(df):
            return [] if df is None else jsonable(
                df.astype(object).where(df.notna(), None).to_dict(orient="records"))

        return jsonable({
            "recommended": self.recommended,
            "caveats": self.caveats,
            "priorities": self.priorities,
            "models": self.models,
            "indistinguishable": [list(p) for p in self.indistinguishable],
            "what_would_change": self.what_would_change,
            "validity_outcomes": self.validity_outcomes,
            "gaming_dose": self.gaming_dose,
            "bootstrap": self.bootstrap,
            "best": self.best,
            "ranking": recs(self.ranking), "evidence": recs(self.evidence),
            "pairwise": recs(self.pairwise), "weights": self.weights,
            "not_assessed": dict(self.not_assessed),
            "requirements": recs(self.requirements), "ci": self.ci, "n_boot": self.n_boot,
            "text": {"en": self.text("en"), "zh": self.text("zh")}})

    def text(self, lang: str = "en") -> str:
        """A plain-language summary (``lang`` ``en`` or ``zh``)."""
        zh = lang.startswith("zh")
        comp = [m for m in self.models if m.get("computable", True)]
        if not comp or self.best is None:
            return "没有可计算的模型。" if zh else "No model could be scored on this data."
        top = next((m for m in comp if m["model"] == self.best), comp[0])
        stated = (self.priorities or {}).get("stated")
        if zh:
            under = "在您所述的优先次序下" if stated else "在所有权重组合同等可取的情况下"
            lines = [f"{under}，{top['model']} 在 {top['first_share']:.0%} 的权重组合中排名第一"
                     f"（SMAA-2，含数据不确定性）。"]
        else:
            under = ("Under your priorities" if stated else
                     "With every weighting of the criteria equally admissible")
            lines = [f"{under}, {top['model']} ranks first in {top['first_share']:.0%} of "
                     "weightings (SMAA-2, data uncertainty included)."]
        for w in self.what_would_change:
            share = next((m["first_share"] for m in comp if m["model"] == w["model"]), 0.0)
            if share < 0.005:
                continue
            lines.append(f"{w['model']} 胜出，如果 {w['raise']} 的权重高于 {w['lower']}"
                         f"（{share:.0%} 的权重组合）。" if zh else
                         f"{w['model']} wins if you weigh {w['raise']} more than "
                         f"{w['lower']} ({share:.0%} of weightings).")
        for c in self.caveats:
            lines.append(("注意：" if zh else "Caveat: ") + c["detail"])
        lines.append("排名（第一名的份额）：" if zh else "Ranking (share of weightings ranked first):")
        for k, m in enumerate(self.models, start=1):
            if m.get("computable", True):
                flag = (" [按假设定义评分]" if zh else " [scored on assumed definitions]") \
                    if m["defaulted"] else ""
                lines.append(f"  {k}. {m['model']}: {m['first_share']:.0%}{flag}")
            else:
                lines.append(f"  {k}. {m['model']}: " + (f"无法计算（{m['status']}）" if zh
                                                          else f"{m['status']}; ranked last"))
        for c, why in self.not_assessed.items():
            lines.append(f"未评估 {c}：{why}。" if zh else f"Not assessed: {c} ({why}).")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def _resolve_gaming(comparison, rc, calls, gaming_from, seed):
    if gaming_from is not None:
        g = getattr(gaming_from, "gaming", None)
        if g is not None or not hasattr(gaming_from, "scores"):
            return g if g is not None else gaming_from, ""
    if calls is None:
        calls = getattr(comparison, "calls", None)
    if calls is None:
        return None, ("needs the calls, to plant each behaviour into honest agents' own "
                      "calls (ccpm compare does this)")
    from .counterfactual import gaming_dose

    g = gaming_dose(comparison, calls, dose=float(rc.get("gaming_dose", 0.1)),
                    n_agents=int(rc.get("gaming_agents", 4)), seed=seed)
    if not g.agents:
        return None, "; ".join(g.notes) or "no agent to plant into"
    return g, ""


def recommend(comparison, *, priorities=None, weights: dict | None = None,
              n_boot: int | None = None, n_draws: int | None = None, ci: float | None = None,
              seed: int | None = None, calls=None, gaming_from=None) -> Recommendation:
    """Rank the candidate models of a comparison for this center (SMAA-2).

    Parameters
    ----------
    comparison : analysis.compare.Comparison
        From :func:`analysis.compare.compare_models`.
    priorities : dict or str, optional
        Overrides ``recommendation.priorities`` (forms in
        :func:`analysis.criteria.parse_priorities`).
    weights : dict, optional
        Reference weights for the ``overall`` column (criterion -> weight; default
        ``recommendation.weights``, else the centre of the admissible weights).
    n_boot, n_draws, ci, seed : optional
        Bootstrap replicates, SMAA draws, interval level, seed (defaults from
        ``recommendation`` / ``compare.seed`` in the configuration).
    calls : str, Path, list or DataFrame, optional
        The calls behind the comparison's panel (default: ``comparison.calls``): needed
        to measure gaming resistance by planting behaviours
        (:func:`analysis.counterfactual.gaming_dose`).
    gaming_from : Recommendation or GamingDose, optional
        Reuse this counterfactual instead (the what-if keeps the one measured on all
        calls).

    Returns
    -------
    Recommendation
    """
    config = (comparison.summary or {}).get("config") or {}
    rc = config.get("recommendation") or {}
    stated = priorities if priorities is not None else rc.get("priorities")
    pri = parse_priorities(stated, key="priorities" if priorities is not None
                           else "recommendation.priorities")
    n_boot = int(rc.get("n_boot", 200) if n_boot is None else n_boot)
    n_draws = int(rc.get("n_draws", 5000) if n_draws is None else n_draws)
    ci = float(rc.get("ci", 0.9) if ci is None else ci)
    seed = int((config.get("compare") or {}).get("seed", 0) if seed is None else seed)
    results = comparison.results or {}
    scores = comparison.scores
    models = list(results) or list(dict.fromkeys(scores["model"]))
    computable = {m: bool(results[m].computable) if m in results else True for m in models}
    computable = {m: c and bool((scores["model"] == m).any()) for m, c in computable.items()}
    reasons = {m: (results[m].reason if m in results else "") or "no scores" for m in models}
    for m, sc in scores.groupby("model", sort=False):
        if computable.get(m) and ties_every_agent(sc):
            # ties everywhere (a scorecard whose every target is met): it ranks no one, so
            # gaming cannot move anyone in it and its "stability" is 0/0; as a candidate it
            # came first in 100 % of the weightings (a times-only export, default targets)
            computable[m] = False
            reasons[m] = TIED_REASON
    inputs = getattr(comparison, "inputs", None) or {}
    panel = getattr(comparison, "panel", None)
    req = data_requirements(config, panel, models=models,
                            ratings=bool(inputs.get("ratings", computable.get("360", False))),
                            okr=bool(inputs.get("okr", False)), computable=computable)
    cover = req.assign(av=req["weight"] * req["available"]).groupby("model")["av"].sum()
    missing = req[~req["available"]].groupby("model")["input"].agg(list)
    dflt = defaulted_models(comparison, models)
    cm = [m for m in models if computable[m]]

    gaming, gaming_why = _resolve_gaming(comparison, rc, calls, gaming_from, seed) \
        if cm else (None, "no computable model")
    data = _Data(comparison, cm, config, gaming)
    info = (panel.attrs.get("ccpm_panel", {}) if panel is not None else {})
    cov = period_coverage(info, data.periods)
    partial = [p for p in data.periods if cov.get(p, 1.0) < PARTIAL_SHARE]

    na, npd = data.n_agents, data.n_periods
    everyone = np.arange(na)
    all_p = np.arange(npd)
    gp_all = {b: np.arange(len(next(iter(mats.values())))) for b, mats in data.gam.items()}

    def crit_all(ap, pp, vp, sp, gp):
        cache: dict = {}
        out = {m: data.criteria(m, ap, pp, vp, sp, gp, cache) for m in cm}
        for m in cm:
            out[m]["coverage"] = float(cover.get(m, 1.0))
        return out

    point = crit_all(everyone, all_p, np.arange(len(data.val_units)),
                     np.arange(len(data.stab_units)), gp_all)
    why_na = {"stability": "needs at least two periods with at least 3 agents in both",
              "validity": "needs two periods and outcome metrics (compare.outcomes)",
              "gaming_resistance": gaming_why or "the counterfactual rescoring failed",
              "fairness": "no queue/shift column with at least two groups",
              "agreement": "needs at least two computable pure models",
              "coverage": ""}
    not_assessed = {}
    for c in CRITERIA:
        if cm and not all(np.isfinite(point[m][c]) for m in cm):
            if any(np.isfinite(point[m][c]) for m in cm):
                not_assessed[c] = "not assessable for every model (" + ", ".join(
                    m for m in cm if not np.isfinite(point[m][c])) + ")"
            else:
                not_assessed[c] = why_na[c]
    used = [c for c in CRITERIA if c not in not_assessed]

    # two-way bootstrap: agents x time units (and planted agents), criteria recomputed
    rng = np.random.default_rng(seed)
    boot = []
    failed = 0
    for _ in range(n_boot):
        ap = rng.integers(0, na, na)
        pp = rng.integers(0, npd, npd)
        vp = rng.integers(0, len(data.val_units), len(data.val_units)) \
            if data.val_units else None
        sp = rng.integers(0, len(data.stab_units), len(data.stab_units)) \
            if data.stab_units else None
        gp = {b: rng.integers(0, len(ix), len(ix)) for b, ix in gp_all.items()}
        v = crit_all(ap, pp, vp, sp, gp)
        if all(np.isfinite(v[m][c]) for m in cm for c in used):
            boot.append(v)
        else:
            failed += 1
    nb = len(boot)

    def raw_arr(m, c):
        return np.array([b[m][c] for b in boot]) if nb else np.empty(0)

    a = (1 - ci) / 2

    def q(v):
        return (float(np.quantile(v, a)), float(np.quantile(v, 1 - a))) if len(v) >= 2 \
            else (float("nan"), float("nan"))

    # SMAA-2 over the computable models
    X_point = np.array([[float(to_score(c, point[m][c])) for c in used] for m in cm]) \
        if cm else np.empty((0, len(used)))
    X = np.array([[[float(to_score(c, b[m][c])) for c in used] for m in cm] for b in boot]) \
        if nb else X_point[None]
    srng = np.random.default_rng(seed + 1)
    if cm and used:
        W = sample_weights(used, pri, n_draws, srng)
        sm = smaa2(X, W, srng)
    else:
        W = np.full((1, max(len(used), 1)), 1.0)
        sm = {"acceptability": np.eye(len(cm)), "central": np.full((len(cm), len(used)),
                                                                    np.nan),
              "confidence": np.full(len(cm), np.nan)}
    first = {m: float(sm["acceptability"][i, 0]) for i, m in enumerate(cm)}

    # reference weights (the overall column)
    wref = {c: 0.0 for c in CRITERIA}
    given = dict(rc.get("weights") or {})
    given.update(weights or {})
    if given and sum(float(given.get(c, 0)) for c in used) > 0:
        tot = sum(float(given.get(c, 0)) for c in used)
        wref.update({c: float(given.get(c, 0)) / tot for c in used})
    elif used:
        cen = W.mean(axis=0)
        wref.update({c: float(cen[i]) for i, c in enumerate(used)})
    wv = np.array([wref[c] for c in used])
    overall_pt = {m: float(X_point[i] @ wv) for i, m in enumerate(cm)}
    overall_b = {m: (X[:, i, :] @ wv) if nb else np.empty(0) for i, m in enumerate(cm)}

    order = sorted(cm, key=lambda m: (-first[m], -overall_pt[m], m))
    best = order[0] if order else None
    pw_rows = []
    for i, ma in enumerate(order):
        for mb in order[i + 1:]:
            d = overall_b[ma] - overall_b[mb]
            lo, hi = q(d)
            dist = bool(np.isfinite(lo) and (lo > 0 or hi < 0))
            pw_rows.append((ma, mb, overall_pt[ma] - overall_pt[mb], lo, hi,
                            float((d > 1e-12).mean() + 0.5 * (np.abs(d) <= 1e-12).mean())
                            if nb else float("nan"), dist))
    pairwise = pd.DataFrame(pw_rows, columns=PAIRWISE_COLUMNS)

    part_of = {"validity": bool(partial), "stability": bool(partial),
               "fairness": bool(partial), "agreement": bool(partial),
               "gaming_resistance": bool(partial), "coverage": False}
    ev_rows = []
    crit_json: dict[str, dict] = {}
    for m in cm:
        crit_json[m] = {}
        for c in CRITERIA:
            raw = point[m][c]
            rlo, rhi = (raw, raw) if c == "coverage" else (
                q(raw_arr(m, c)) if c in used else (float("nan"), float("nan")))
            sc = float(to_score(c, raw)) if np.isfinite(raw) else float("nan")
            slo, shi = sorted([float(to_score(c, rlo)), float(to_score(c, rhi))]) \
                if np.isfinite(rlo) else (float("nan"), float("nan"))
            basis = BASIS[c] if c in used else not_assessed.get(c, "")
            if c == "validity" and data.vnote.get(m):
                basis += f" ({data.vnote[m]})"
            ev_rows.append((m, c, raw, rlo, rhi, sc, slo, shi, wref[c], UNITS[c],
                            part_of[c] and c in used, basis))
            if c in used:
                crit_json[m][c] = {"value": raw, "lo": rlo, "hi": rhi, "unit": UNITS[c],
                                   "partial": part_of[c], "score": sc, "score_lo": slo,
                                   "score_hi": shi}
    evidence = pd.DataFrame(ev_rows, columns=EVIDENCE_COLUMNS)

    rank_rows, model_json = [], []
    n_all = len(models)
    nc = sorted([m for m in models if not computable[m]], key=lambda m: (-cover.get(m, 0), m))
    for k, m in enumerate(order, start=1):
        if m == best:
            tied = True
        else:
            row = pairwise[(pairwise["model_a"] == best) & (pairwise["model_b"] == m)]
            tied = bool(len(row) and not row["distinguishable"].iloc[0])
        lo, hi = q(overall_b[m])
        row = {"model": m, "rank": k, "first_share": first[m], "overall": overall_pt[m],
               "overall_lo": lo, "overall_hi": hi, "p_best": first[m],
               "tied_with_best": tied, "computable": True, "defaulted": m in dflt,
               "status": "ok", "missing_data": ", ".join(missing.get(m, []))}
        e = evidence[evidence["model"] == m].set_index("criterion")
        for c in CRITERIA:
            row[c], row[f"{c}_lo"], row[f"{c}_hi"] = (e.loc[c, "score"], e.loc[c, "score_lo"],
                                                      e.loc[c, "score_hi"])
        rank_rows.append(row)
        i = cm.index(m)
        acc = list(sm["acceptability"][i]) + [0.0] * (n_all - len(cm))
        cen = sm["central"][i]
        model_json.append({
            "model": m, "label": _label(m, config), "hybrid": m not in PURE_MODELS,
            "computable": True, "rank_acceptability": acc, "first_share": first[m],
            "central_weights": None if not np.isfinite(cen).all() else
            {c: float(cen[j]) for j, c in enumerate(used)},
            "confidence": float(sm["confidence"][i]),
            "criteria": crit_json[m], "overall": overall_pt[m],
            "defaulted": m in dflt, "defaulted_reasons": list(dflt.get(m, [])),
            "status": "ok", "missing_data": list(missing.get(m, []))})
    for k, m in enumerate(nc, start=len(order) + 1):
        row = {"model": m, "rank": k, "first_share": 0.0, "overall": float("nan"),
               "overall_lo": float("nan"), "overall_hi": float("nan"), "p_best": 0.0,
               "tied_with_best": False, "computable": False, "defaulted": m in dflt,
               "status": f"not computable: {reasons[m]}",
               "missing_data": ", ".join(missing.get(m, []))}
        row.update({f"{c}{sfx}": float("nan") for c in CRITERIA for sfx in ("", "_lo", "_hi")})
        row["coverage"] = float(cover.get(m, 0.0))
        rank_rows.append(row)
        acc = [0.0] * n_all
        acc[k - 1] = 1.0  # ranked after every computable model, in this order
        model_json.append({
            "model": m, "label": _label(m, config), "hybrid": m not in PURE_MODELS,
            "computable": False, "rank_acceptability": acc, "first_share": 0.0,
            "central_weights": None, "confidence": None, "criteria": {},
            "overall": None, "defaulted": m in dflt,
            "defaulted_reasons": list(dflt.get(m, [])),
            "status": f"not computable: {reasons[m]}",
            "missing_data": list(missing.get(m, []))})
    ranking = pd.DataFrame(rank_rows, columns=RANKING_COLUMNS)

    # what would change: the trade-off each other winner's central weights make
    wwc = []
    if best is not None:
        cb = sm["central"][cm.index(best)]
        for m in order[1:]:
            cmv = sm["central"][cm.index(m)]
            if first[m] <= 0 or not np.isfinite(cmv).all() or len(used) < 2:
                continue
            d = cmv - cb
            wwc.append({"model": m, "raise": used[int(np.argmax(d))],
                        "lower": used[int(np.argmin(d))], "first_share": first[m],
                        "weight_shift": float(np.max(d))})
    pairs_ind = [(a_, b_) for a_, b_, *_, dist in pw_rows if not dist]

    caveats = []
    if dflt:
        ms = [m for m in order + nc if m in dflt]
        lead = (f"The recommended model, {best}, was scored on assumed definitions. "
                if best in dflt else "")
        caveats.append({"kind": "defaulted", "models": ms,
                        "detail": lead + "Scored on assumed definitions: " + "; ".join(
                            f"{m} ({dflt[m][0]})" for m in ms) + "."})
    tied_best = sorted({b_ if a_ == best else a_ for a_, b_ in pairs_ind if best in (a_, b_)})
    if tied_best:
        caveats.append({"kind": "indistinguishable", "models": [best, *tied_best],
                        "detail": f"The data cannot tell {best} apart from "
                                  f"{', '.join(tied_best)} at the reference weights."})
    if partial:
        caveats.append({"kind": "partial_period", "models": list(cm),
                        "detail": "Criteria rest in part on partial periods: " + ", ".join(
                            f"{p} ({cov[p]:.0%} of its days)" for p in partial) + "."})
    if stated is None and best is not None:
        caveats.append({"kind": "priorities", "models": [best],
                        "detail": "No priorities were stated: every weighting of the "
                                  f"criteria counted as equally admissible; {best} ranks "
                                  f"first in {first[best]:.0%} of them."})
    gsum = gaming.summary() if gaming is not None else {}
    return Recommendation(
        ranking=ranking, evidence=evidence, pairwise=pairwise, weights=wref,
        not_assessed=not_assessed, requirements=req, ci=ci, n_boot=n_boot,
        recommended=best, models=model_json, caveats=caveats,
        priorities={"stated": stated, "criteria": used,
                    "admissible": describe_priorities(pri, used)},
        what_would_change=wwc,
        validity_outcomes={m: [k + (" (own component: beyond its persistence)"
                                     if k in data.vown.get(m, set()) else "")
                                 for k in data.vout.get(m, [])] for m in cm},
        gaming_dose=gsum,
        bootstrap={"replicates": n_boot, "failed": failed, "used": nb,
                   "scheme": "two-way (pigeonhole) bootstrap: agents resampled with "
                             "replacement and, independently, the periods / period pairs "
                             "each criterion averages over and the planted agents; every "
                             "criterion recomputed inside each replicate (outcome z-scores "
                             "and percentiles refitted on the resampled agents; the models' "
                             "own normalisations are not refitted); failed replicates "
                             "counted and left out", "n_draws": int(len(W)),
                   "partial_periods": partial},
        gaming=gaming)
