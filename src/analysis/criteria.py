"""The criteria a performance-management model is judged on, and their scoring.

One module below :mod:`analysis.compare` and :mod:`analysis.recommend` (it imports neither,
nor any model): the criterion names, their units and 0-1 scores, and the statistics
behind them, each computed on one *unit* of time (a period, a pair of periods) for any
multiset of agents, so that a bootstrap can resample agents and periods and recompute
every criterion (normalisations refitted) inside each replicate.

Criteria (keys are stable; ``recommendation.json`` uses them):

``validity``
    Mean over the outcomes of the Spearman correlation of a period's score with the
    outcome in a *later* period, pooled over every (period, later period) pair; for an
    outcome that is one of the model's own components, the partial correlation given the
    same outcome in the scoring period (what the score says beyond the outcome's own
    persistence: a model does not get credit for containing the outcome).
``stability``
    ICC(C,1) of agents' scores in two adjacent periods, averaged over adjacent pairs.
``gaming_resistance``
    Percentile points a gamer gains when a known behaviour is planted into honest
    agents' own calls at a stated dose (mean over behaviours; lower is better).
``fairness``
    Largest eta-squared of the score on queue or shift within a period, averaged over
    periods (lower is better).
``agreement``
    Mean Spearman correlation of the model's agent ranking with the other pure models'
    (its own components left out), within a period: convergent validity.
``coverage``
    Share of the model's configured weight whose data the center has.

References
----------
Koo, T. K., & Li, M. Y. (2016). A guideline of selecting and reporting intraclass
correlation coefficients. Journal of Chiropractic Medicine 15(2).
Cohen, J. (1973). Eta-squared and partial eta-squared in fixed factor ANOVA designs.
Educational and Psychological Measurement 33(1).
Campbell, D. T., & Fiske, D. W. (1959). Convergent and discriminant validation by the
multitrait-multimethod matrix. Psychological Bulletin 56(2).
"""

from __future__ import annotations

import calendar
import math

import numpy as np
import pandas as pd

__all__ = ["CRITERIA", "UNITS", "BASIS", "LOWER_IS_BETTER", "GAMING_SCALE", "jsonable",
           "percentiles", "outcome_composite", "partial_eta_squared", "eta_squared",
           "icc_c1", "spearman", "partial_spearman", "validity_value", "to_score", "period_coverage",
           "zscore_columns", "rank_average", "corr", "parse_priorities", "describe_priorities"]

CRITERIA = ("validity", "stability", "gaming_resistance", "fairness", "agreement", "coverage")
#: Unit of each criterion's raw value.
UNITS = {
    "validity": "Spearman rho (-1 to 1)",
    "stability": "ICC(C,1) (-1 to 1)",
    "gaming_resistance": "percentile points gained by a gamer",
    "fairness": "eta-squared (share of score variance, 0-1)",
    "agreement": "Spearman rho (-1 to 1)",
    "coverage": "share of the model's weight (0-1)",
}
BASIS = {
    "validity": "mean Spearman rho of score vs each outcome in later periods; for the "
                "model's own components, beyond their persistence (partial given period t)",
    "stability": "ICC(C,1) of agents' scores in adjacent periods, averaged over pairs",
    "gaming_resistance": "percentile points honest agents gain when a known behaviour is "
                         "planted into their own calls, mean over behaviours",
    "fairness": "largest eta-squared of the score on queue/shift within a period, averaged",
    "agreement": "mean Spearman rho with the other pure models' rankings within a period",
    "coverage": "share of the model's weight whose data the center has",
}
LOWER_IS_BETTER = ("gaming_resistance", "fairness")
#: Percentile points of gain that take the gaming-resistance score from 1 to 0
#: (score = 0.5 - gain / GAMING_SCALE): a model that pays a gamer 25 points scores 0,
#: one that costs the gamer 25 points scores 1; a gain of 0 scores 0.5.
GAMING_SCALE = 50.0


def jsonable(obj):
    """``obj`` with numpy scalars/arrays made plain and non-finite floats made None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


def percentiles(model_scores: pd.DataFrame) -> pd.DataFrame:
    """``agent_id, period, score, pct``: within-period percentile (0 = worst, 100 = best,
    average ranks for ties); periods with one agent are left out."""
    s = model_scores[["agent_id", "period", "score"]].dropna().copy()
    g = s.groupby("period")["score"]
    n = g.transform("size")
    s["pct"] = 100 * (g.rank(method="average") - 1) / (n - 1).where(n > 1)
    return s.dropna(subset=["pct"])


def outcome_composite(panel: pd.DataFrame, outcomes: dict) -> tuple[pd.Series, list[str]]:
    """Mean of the within-period z-scores of ``outcomes`` (name -> ``higher``/``lower``),
    signed so that higher is better; returns the composite and the outcomes used."""
    used, zs = [], []
    for name, direction in outcomes.items():
        if name not in panel or panel[name].isna().all():
            continue
        v = panel[name].astype(float)
        g = v.groupby(panel["period"])
        sd = g.transform("std")
        z = ((v - g.transform("mean")) / sd.where(sd > 0)) * (1 if direction == "higher" else -1)
        zs.append(z)
        used.append(name)
    if not zs:
        return pd.Series(np.nan, index=panel.index), used
    return pd.concat(zs, axis=1).mean(axis=1), used


def zscore_columns(mat: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Composite of outcome columns (agents x outcomes): each column z-scored over the
    rows given (the normalisation refitted on whichever agents are at hand), signed,
    averaged over the outcomes a row has."""
    import warnings

    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an outcome absent in a period
        mu = np.nanmean(mat, axis=0)
        sd = np.nanstd(mat, axis=0, ddof=1)
        z = (mat - mu) / np.where(sd > 0, sd, np.nan) * signs
        ok = np.isfinite(z)
        cnt = ok.sum(axis=1)
        return np.where(cnt > 0, np.where(ok, z, 0.0).sum(axis=1) / np.maximum(cnt, 1),
                        np.nan)


def partial_eta_squared(y: np.ndarray, group: np.ndarray, block: np.ndarray) -> float:
    """Partial eta-squared of ``group`` with ``block`` (period) fixed effects (type II SS):
    ``(SSR(block) - SSR(block + group)) / SSR(block)``."""
    y = np.asarray(y, float)

    def dummies(x):
        codes, uniq = pd.factorize(np.asarray(x))
        return (codes[:, None] == np.arange(1, len(uniq))[None, :]).astype(float)

    xb = np.column_stack([np.ones(len(y)), dummies(block)])
    xf = np.column_stack([xb, dummies(group)])

    def ssr(x):
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        r = y - x @ beta
        return float(r @ r)

    s_red = ssr(xb)
    if s_red <= 0:
        return float("nan")
    return (s_red - ssr(xf)) / s_red


def eta_squared(y: np.ndarray, group: np.ndarray) -> float:
    """One-way eta-squared: between-group over total sum of squares (NaN with fewer than
    two groups or no variance)."""
    y = np.asarray(y, float)
    g = np.asarray(group)
    ok = np.isfinite(y) & (g >= 0)
    y, g = y[ok], g[ok]
    if len(y) < 3 or len(np.unique(g)) < 2:
        return float("nan")
    mu = y.mean()
    tot = float(((y - mu) ** 2).sum())
    if not tot > 1e-12 * len(y) * max(1.0, mu * mu):
        return float("nan")  # (almost) no variance: nothing to explain
    cnt = np.bincount(g)
    nz = cnt > 0
    means = np.bincount(g, weights=y)[nz] / cnt[nz]
    between = float((cnt[nz] * (means - mu) ** 2).sum())
    return min(1.0, max(0.0, between / tot))


def icc_c1(m: np.ndarray) -> float:
    """ICC(C,1) (consistency, two-way) of an agents x periods matrix without gaps
    (McGraw & Wong 1996); NaN with fewer than 3 agents or 2 periods."""
    m = np.asarray(m, float)
    if m.ndim != 2:
        return float("nan")
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


def rank_average(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``), for
    finite input; fast on the short vectors a bootstrap ranks many times."""
    x = np.asarray(x, float)
    n = len(x)
    o = np.argsort(x, kind="mergesort")
    xs = x[o]
    edge = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1], [True])))
    avg = (edge[:-1] + edge[1:] - 1) / 2.0 + 1.0
    r = np.empty(n)
    r[o] = np.repeat(avg, np.diff(edge))
    return r


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two finite vectors (NaN when either has no spread)."""
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho on the pairs where both are finite (NaN with fewer than 5 or no
    spread)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 5:
        return float("nan")
    return corr(rank_average(x[ok]), rank_average(y[ok]))


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray | None) -> tuple[float, int]:
    """Partial Spearman correlation of ``x`` and ``y`` given ``z`` (ranks residualised on
    the ranks of ``z``); without ``z`` (or when ``z`` has no spread) the plain Spearman.
    Returns (rho, n pairs used)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if z is not None:
        z = np.asarray(z, float)
        ok &= np.isfinite(z)
    n = int(ok.sum())
    if n < 6:
        return float("nan"), n
    rx, ry = rank_average(x[ok]), rank_average(y[ok])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    if z is not None:
        rz = rank_average(z[ok])
        rz = rz - rz.mean()
        den = rz @ rz
        if den > 0:
            rx = rx - rz * (rz @ rx) / den
            ry = ry - rz * (rz @ ry) / den
    d = np.sqrt((rx @ rx) * (ry @ ry))
    if not d > 1e-12:
        return float("nan"), n
    return float(rx @ ry / d), n


def validity_value(scores: np.ndarray, outcomes: dict[str, np.ndarray], signs: dict[str, float],
                   own, units) -> float:
    """The ``validity`` criterion (module docstring) on agents x periods matrices.

    ``scores`` and each ``outcomes[k]`` are agents x periods (rows the same agents, in any
    multiset a bootstrap draws); ``signs[k]`` is +1 where higher is better, -1 where lower;
    ``own`` the outcomes that are the model's own components (partial correlation given
    the outcome in the scoring period); ``units`` the (period, later period) index pairs.
    The pairs' correlations are averaged, weighted by the agents each used. NaN when none
    is defined.
    """
    vals, ns = [], []
    for i, j in units:
        for k, o in outcomes.items():
            r, n = partial_spearman(scores[:, i], signs[k] * o[:, j],
                                    o[:, i] if k in own else None)
            if np.isfinite(r):
                vals.append(r)
                ns.append(n)
    return float(np.average(vals, weights=ns)) if vals else float("nan")


def to_score(criterion: str, raw):
    """A criterion's raw value on a 0-1 scale (1 = best); arrays keep their shape.

    Correlations (validity, stability, agreement) and coverage are clipped to [0, 1];
    fairness is ``1 - eta2``; gaming resistance is ``0.5 - gain / GAMING_SCALE``
    clipped to [0, 1] (a gain of 0 percentile points scores 0.5, so models that punish
    the behaviour are told apart from models that ignore it: never saturated at 1 for
    every model).
    """
    raw = np.asarray(raw, float)
    if criterion in ("stability", "validity", "agreement", "coverage"):
        return np.clip(raw, 0, 1)
    if criterion == "fairness":
        return 1 - np.clip(raw, 0, 1)
    if criterion == "gaming_resistance":
        return np.clip(0.5 - raw / GAMING_SCALE, 0, 1)
    raise KeyError(criterion)


def period_coverage(panel_info: dict, periods: list[str]) -> dict[str, float]:
    """Share of each period's calendar days inside the data's window (1.0 = whole).

    ``panel_info`` is the panel's ``attrs["ccpm_panel"]`` (``data_start_ts``,
    ``data_end_ts``, ``period``); periods it cannot place count as whole.
    """
    out = {p: 1.0 for p in periods}
    try:
        start = pd.Timestamp(panel_info["data_start_ts"]).normalize()
        end = pd.Timestamp(panel_info["data_end_ts"]).normalize()
    except (KeyError, TypeError, ValueError):
        return out
    kind = panel_info.get("period", "month")
    for p in periods:
        try:
            if kind == "month":
                y, m = (int(x) for x in p.split("-")[:2])
                p0 = pd.Timestamp(year=y, month=m, day=1)
                p1 = p0 + pd.Timedelta(days=calendar.monthrange(y, m)[1] - 1)
            elif kind == "week":
                p0 = pd.Timestamp.fromisocalendar(int(p[:4]), int(p.split("W")[1]), 1)
                p1 = p0 + pd.Timedelta(days=6)
            else:
                continue
        except (ValueError, IndexError):
            continue
        days = (p1 - p0).days + 1
        inside = (min(p1, end) - max(p0, start)).days + 1
        out[p] = max(0.0, min(1.0, inside / days))
    return out


def _chain(text, key: str) -> list[str]:
    if isinstance(text, (list, tuple)):
        parts = [str(x).strip() for x in text]
    else:
        t = str(text).replace(" before ", ">").replace(">=", ">")
        parts = [x.strip() for x in t.split(">")]
    if len(parts) < 2 or any(not p for p in parts):
        raise _config_error(f"{key}: an order needs at least two criteria, e.g. "
                            "'validity > gaming_resistance'")
    for p in parts:
        if p not in CRITERIA:
            raise _config_error(f"{key}: unknown criterion {p!r} (known: {', '.join(CRITERIA)})")
    if len(set(parts)) != len(parts):
        raise _config_error(f"{key}: a criterion appears twice in one order")
    return parts


def _config_error(msg: str):
    from .errors import ConfigError

    return ConfigError(msg)


def parse_priorities(spec, *, key: str = "priorities") -> dict:
    """Priorities among the criteria, normalised to ``{"order": [[c1, c2, ...], ...],
    "ranges": {c: [lo, hi]}}`` (``order``: each criterion's weight at least the next's;
    ``ranges``: bounds on a criterion's share of the total weight).

    Accepted forms: a mapping with ``order`` (a chain ``"a > b > c"``, ``"a before b"``,
    a list ``[a, b, c]`` or a list of such chains) and/or ``ranges``
    (``{criterion: [lo, hi]}``); or the command-line string
    ``"validity>gaming_resistance,coverage=0:0.1"``. ``None`` gives no constraint.

    Raises
    ------
    ConfigError
        Naming ``key`` and what is wrong.
    """
    if spec is None:
        return {"order": [], "ranges": {}}
    if isinstance(spec, str):
        order, ranges = [], {}
        for item in [x.strip() for x in spec.split(",") if x.strip()]:
            if "=" in item:
                name, _, rng = item.partition("=")
                lo, sep, hi = rng.partition(":")
                if not sep:
                    raise _config_error(f"{key}: range {item!r} must read criterion=lo:hi")
                ranges[name.strip()] = [lo.strip(), hi.strip()]
            else:
                order.append(item)
        spec = {"order": order, "ranges": ranges}
    if isinstance(spec, (list, tuple)):
        spec = {"order": [list(spec)]}
    if not isinstance(spec, dict):
        raise _config_error(f"{key}: expected a mapping with order and/or ranges")
    unknown = set(spec) - {"order", "ranges"}
    if unknown:
        raise _config_error(f"{key}.{sorted(unknown)[0]}: unknown field (known: order, ranges)")
    order = spec.get("order") or []
    if isinstance(order, str):
        order = [order]
    if order and all(isinstance(x, str) and ">" not in x and " before " not in x
                     for x in order):
        order = [list(order)]  # a plain list of names is one chain
    chains = [_chain(c, f"{key}.order") for c in order]
    ranges = {}
    for c, r in (spec.get("ranges") or {}).items():
        c = str(c).strip()
        if c not in CRITERIA:
            raise _config_error(f"{key}.ranges.{c}: unknown criterion "
                                f"(known: {', '.join(CRITERIA)})")
        try:
            lo, hi = (float(x) for x in r)
        except (TypeError, ValueError):
            raise _config_error(f"{key}.ranges.{c}: expected [lo, hi], numbers in [0, 1]") \
                from None
        if not (0 <= lo <= hi <= 1):
            raise _config_error(f"{key}.ranges.{c}: need 0 <= lo <= hi <= 1, got {r!r}")
        ranges[c] = [lo, hi]
    if sum(lo for lo, _ in ranges.values()) > 1:
        raise _config_error(f"{key}.ranges: the lower bounds add up to more than 1")
    return {"order": chains, "ranges": ranges}


def describe_priorities(p: dict, used: list[str]) -> str:
    """Plain English for the admissible weights."""
    parts = []
    for ch in p.get("order") or []:
        parts.append(" >= ".join(f"w({c})" for c in ch))
    for c, (lo, hi) in (p.get("ranges") or {}).items():
        parts.append(f"{lo:g} <= w({c}) <= {hi:g}")
    base = ("weights uniform on the simplex over " + ", ".join(used))
    return base + ("; constrained to " + "; ".join(parts) if parts else
                   " (no priorities stated: every weighting equally admissible)")
