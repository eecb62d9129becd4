"""Inter-rater reliability: Krippendorff's alpha (interval, nominal) and a one-way ICC."""

from __future__ import annotations

import numpy as np
import pandas as pd


def krippendorff_alpha(data, *, level: str = "interval") -> float:
    """Krippendorff's alpha for a units x coders matrix with missing values (NaN).

    Parameters
    ----------
    data : array-like or DataFrame
        Rows are units (e.g. ratee x competency), columns coders (raters); NaN where a
        coder did not rate a unit. Units with fewer than two values are not pairable
        and are ignored.
    level : {"interval", "nominal"}
        Difference function: squared difference (interval) or 0/1 (nominal).

    Returns
    -------
    float
        ``alpha = 1 - D_o / D_e`` (NaN when there is no variation).

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
    Annenberg School for Communication, University of Pennsylvania.
    Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a standard
    reliability measure for coding data. Communication Methods and Measures 1(1).
    """
    x = np.asarray(data, dtype=float)
    m = (~np.isnan(x)).sum(axis=1)
    x = x[m >= 2]
    m = m[m >= 2]
    n = m.sum()
    if n < 2:
        return float("nan")
    if level == "interval":
        s1 = np.nansum(x, axis=1)
        s2 = np.nansum(x * x, axis=1)
        # sum over ordered pairs i != j of (v_i - v_j)^2 = 2 (m * sum v^2 - (sum v)^2)
        d_o = np.sum(2 * (m * s2 - s1 * s1) / (m - 1)) / n
        v = x[~np.isnan(x)]
        d_e = 2 * (n * np.sum(v * v) - np.sum(v) ** 2) / (n * (n - 1))
    elif level == "nominal":
        values = np.unique(x[~np.isnan(x)])
        # coincidence matrix o_ck
        o = np.zeros((len(values), len(values)))
        for row, mu in zip(x, m, strict=True):
            counts = np.array([(row == c).sum() for c in values], dtype=float)
            o += (np.outer(counts, counts) - np.diag(counts)) / (mu - 1)
        nc = o.sum(axis=1)
        d_o = (o.sum() - np.trace(o)) / n
        d_e = (nc.sum() ** 2 - np.sum(nc * nc)) / (n * (n - 1))
    else:
        raise ValueError(f"unknown level {level!r}")
    if d_e == 0:
        return float("nan")
    return float(1 - d_o / d_e)


def krippendorff_alpha_interval_long(values, units) -> float:
    """Krippendorff's alpha (interval) from long data: one value per row, its unit beside.

    Same value as :func:`krippendorff_alpha` on the units x coders matrix (each coder at
    most once per unit), without building that matrix (raters x units can be large).
    """
    d = pd.DataFrame({"u": np.asarray(units), "v": np.asarray(values, dtype=float)}).dropna()
    g = d.groupby("u")["v"].agg(["size", "sum"])
    g["sq"] = (d["v"] ** 2).groupby(d["u"]).sum()
    g = g[g["size"] >= 2]
    n = g["size"].sum()
    if n < 2:
        return float("nan")
    m, s1, s2 = g["size"].to_numpy(float), g["sum"].to_numpy(), g["sq"].to_numpy()
    d_o = np.sum(2 * (m * s2 - s1 * s1) / (m - 1)) / n
    d_e = 2 * (n * s2.sum() - s1.sum() ** 2) / (n * (n - 1))
    return float("nan") if d_e == 0 else float(1 - d_o / d_e)


def icc_oneway(long: pd.DataFrame, *, target: str, rater: str, rating: str,
               k: int | None = None) -> dict:
    """ICC(1,1) and ICC(1,k) (one-way random: raters differ per target) with pingouin.

    Each target's first ``k`` raters (by id) fill ``k`` rater slots; targets with fewer
    than ``k`` raters are left out. ``k`` defaults to the median number of raters per
    target (at least 2).

    Returns
    -------
    dict
        ``icc1, icc1_ci95, icck, icck_ci95, k, n_targets`` (values None when not
        computable, with ``reason``).
    """
    import pingouin as pg

    d = long.dropna(subset=[rating])
    counts = d.groupby(target)[rater].nunique()
    if k is None:
        k = int(max(2, np.median(counts))) if len(counts) else 2
    keep = counts[counts >= k].index
    if len(keep) < 3:
        return {"icc1": None, "icc1_ci95": None, "icck": None, "icck_ci95": None, "k": k,
                "n_targets": int(len(keep)), "reason": f"fewer than 3 targets with {k} raters"}
    d = d[d[target].isin(keep)].sort_values([target, rater])
    d = d.groupby([target, rater], as_index=False)[rating].mean()
    d["slot"] = d.groupby(target).cumcount()
    d = d[d["slot"] < k]
    d[target] = d[target].astype(str)
    try:
        res = pg.intraclass_corr(data=d, targets=target, raters="slot", ratings=rating)
    except (AssertionError, ValueError) as exc:
        return {"icc1": None, "icc1_ci95": None, "icck": None, "icck_ci95": None, "k": k,
                "n_targets": int(len(keep)), "reason": f"pingouin: {exc}"}
    res = res.set_index("Type")
    def row(t):
        r = res.loc[t]
        return float(r["ICC"]), [float(c) for c in r["CI95"]]
    i1, c1 = row("ICC(1,1)")
    ik, ck = row("ICC(1,k)")
    return {"icc1": i1, "icc1_ci95": c1, "icck": ik, "icck_ci95": ck, "k": k,
            "n_targets": int(len(keep))}
