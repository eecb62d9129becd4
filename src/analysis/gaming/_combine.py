"""Combining an agent's p-values: Cauchy combination (ACAT) and FDR across agents.

The decision the gaming battery makes is about *agents* (is this agent gaming a
metric?), so the false-discovery rate is controlled over agents, not over the
~26 dependent tests each agent carries (leave-one-out peer means, reused
agent-months, contrasts of the same calls). Each agent's tests are first
combined into one p-value with the Cauchy combination test, whose tail is
valid under arbitrary (bivariate-normal-type) dependence between the tests,
then Benjamini-Hochberg (or Benjamini-Yekutieli) runs over the agents.

References
----------
Liu, Y. & Xie, J. (2020). Cauchy combination test: a powerful test with
analytic p-value calculation under arbitrary dependency structures. *JASA*
115(529), 393-402.
Liu, Y., Chen, S., Li, Z., Morrison, A. C., Boerwinkle, E. & Lin, X. (2019).
ACAT: a fast and powerful p value combination method for rare-variant
analysis in sequencing studies. *AJHG* 104(3), 410-421.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate.
*JRSS B* 57(1), 289-300.
Benjamini, Y. & Yekutieli, D. (2001). The control of the false discovery rate
in multiple testing under dependency. *Ann. Statist.* 29(4), 1165-1188.
"""

from __future__ import annotations

import numpy as np

__all__ = ["acat", "acat_groups", "by_qvalues", "strongest_with_acat", "P_CAP"]

#: p-values above this are set to it before the Cauchy transform. An exact test
#: with no events gives p = 1, whose transform is -infinity and would cancel any
#: evidence in the agent's other tests. Capping at 0.99 (transform >= -31.8)
#: keeps the tail calibrated: with 2 to 100 independent uniform p-values the
#: rejection rate of the capped combination at .001 and .0001 is within
#: simulation error of nominal (``tests/test_gaming_agents.py``).
P_CAP = 0.99
P_FLOOR = 1e-300


def _cauchy(p: np.ndarray) -> np.ndarray:
    """tan((0.5 - p) pi) = 1 / tan(p pi), accurate for tiny p."""
    p = np.clip(np.asarray(p, dtype=float), P_FLOOR, P_CAP)
    return 1.0 / np.tan(np.pi * p)


def _pvalue_of(t: np.ndarray) -> np.ndarray:
    """P(C > t) for a standard Cauchy C: 1/2 - arctan(t)/pi, accurate for large t."""
    return np.arctan2(1.0, np.asarray(t, dtype=float)) / np.pi


def acat(p, weights=None) -> float:
    """Cauchy combination (ACAT) of p-values.

    ``T = sum_i w_i tan((0.5 - p_i) pi)`` with weights summing to one, and the
    combined p-value ``P(C > T) = 1/2 - arctan(T)/pi`` for a standard Cauchy
    ``C``. NaN p-values are left out (their weight too; the others are
    renormalised). p-values are clipped to ``[1e-300, P_CAP]``.

    Parameters
    ----------
    p : array_like
        p-values.
    weights : array_like, optional
        Non-negative weights (default equal).

    Returns
    -------
    float
        Combined p-value; NaN when no finite p-value is given.

    References
    ----------
    Liu, Y. & Xie, J. (2020). Cauchy combination test. *JASA* 115(529), 393-402.
    """
    p = np.asarray(p, dtype=float).ravel()
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float).ravel()
    ok = np.isfinite(p) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return float("nan")
    w = w[ok] / w[ok].sum()
    return float(_pvalue_of(np.sum(w * _cauchy(p[ok]))))


def acat_groups(p, weights, groups) -> tuple[np.ndarray, np.ndarray]:
    """ACAT of many groups at once.

    Parameters
    ----------
    p, weights : array_like
        p-values and non-negative weights (normalised within each group).
    groups : array_like
        Group label of each p-value.

    Returns
    -------
    (labels, pvalues)
        The sorted unique labels of groups with at least one finite p-value and
        their combined p-values.
    """
    p = np.asarray(p, dtype=float)
    w = np.asarray(weights, dtype=float)
    g = np.asarray(groups)
    ok = np.isfinite(p) & np.isfinite(w) & (w > 0)
    labels, inv = np.unique(g[ok], return_inverse=True)
    if len(labels) == 0:
        return labels, np.array([], dtype=float)
    ws = np.bincount(inv, weights=w[ok], minlength=len(labels))
    ts = np.bincount(inv, weights=w[ok] * _cauchy(p[ok]), minlength=len(labels))
    return labels, _pvalue_of(ts / ws)


def strongest_with_acat(tab, key: str = "agent_id", p: str = "p_value"):
    """One row per ``key`` of DataFrame ``tab``: the row with the smallest ``p`` (its effect,
    date, detail), whose ``p`` becomes the Cauchy combination of all that key's rows (equal
    weights): several tests of one agent reported as one, valid whatever their dependence."""
    comb = tab.groupby(key)[p].agg(lambda v: acat(v.to_numpy(float)))
    out = tab.sort_values([key, p], kind="stable").drop_duplicates(key)
    return out.assign(**{p: out[key].map(comb).to_numpy()})


def by_qvalues(p) -> np.ndarray:
    """Benjamini-Yekutieli adjusted p-values: BH q-values times ``sum_{i<=m} 1/i``, capped at 1.

    Controls the FDR under arbitrary dependence. Equal to statsmodels
    ``multipletests(p, method="fdr_by")[1]``; NaN stays NaN and is not counted.
    """
    from ._fdr import bh_qvalues

    q = bh_qvalues(p)
    m = int(np.isfinite(np.asarray(p, dtype=float)).sum())
    if m == 0:
        return q
    c = float(np.sum(1.0 / np.arange(1, m + 1)))
    return np.minimum(q * c, 1.0)
