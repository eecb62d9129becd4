"""Empirical null of the peers' z-scores: a tail check on fitted-model p-values.

A check whose p-value comes from a model fitted to the peers (a beta-binomial
or logit-normal spread of honest agents, a normal random-effects spread of a
contrast) is exact only when the honest agents follow that model. Real agents'
propensities are heavier-tailed than a normal or a beta, and shared across
queues and behaviours, so the model's p-values are calibrated at .05 but too
small at .001 and beyond (issue #13: 5-17x nominal), exactly where an FDR step
over hundreds of agents decides.

Following Efron (2004), the null is estimated from the bulk of the same
check's z-scores ``z = Phi^-1(1 - p)`` across all agents and periods, where
gamers are few: location from the median, scale from the upper quartile
distance, and the tail weight from the ratio of the 95th to the 75th
percentile distances (2.44 for a normal), matched by a Student t. The
calibrated p-value is the larger of the model's and the empirical null's, so
the adjustment only ever makes evidence weaker, never stronger. The tail
weight is the bootstrap median of the 95th/75th percentile ratio over 200
resamples (``level`` 0.5; a lower level would need a heavier tail to be clearer
before it is used: on 8 messy null worlds the 20th percentile left
short_calls_peer at 4x nominal at .001, the median at 2x).

Opt-in (``empirical_null=true``), not the default. On 8 messy null worlds (200
agents, 61 days, Student-t propensities shared across queues and behaviours) it
brought pooled null rejection at .001 from 5.6x to 2.3x nominal
(short_calls_peer), 7.3x to 3.1x (transfer_dumping), 5.1x to 1.7x
(repeat_after_short), and null worlds with an honest agent flagged from 7/8 to
2/8; but on gamed worlds it cut hang-up recall from 0.9-1.0 to 0.0-0.05, even in
clean worlds (``benchmarks/results/gaming_calibration.md``). Under heavy-tailed
honest propensities a peer comparison cannot tell an extreme honest agent from
a gamer; the cost of calibrating that tail is the cross-sectional power. Part of
that cost was the gamers setting their own tail (below): since 2026-12-07 the
opt-in fits with ``trim`` (``runner.TAIL_NULL_TRIM``), which on ccpm's worlds of
200 agents keeps hang-up recall at 0.80 / 0.25 / 0.40 (clean, messy, heavy-habit;
0.25 / 0 / 0 fitted to every test, 0.90 / 0.70 / 0.75 without the opt-in) with
short_calls_peer's null rows at 3x nominal at .001 on messy worlds (1.3x fitted
to every test), and on the outside worlds (``benchmarks/worlds_outside.py``)
flags 4 honest agents in 80 worlds (9 without the opt-in, 2 fitted to every test)
at hang-up recall 0.73 (0.77, 0.31) and transfer-dumping recall 0.48 (0.70, 0.22).

Only the upper part of the z distribution is used: exact tests with few
events put a lump of p-values at 1 (z far below 0) that says nothing about the
upper tail.

"Gamers are few" fails when many agents respond to the same target: once they are
more than ~5 % of the z-scores, the 95th percentile the tail weight is read from is
theirs, the fitted tail turns heavy and hides them all. ``trim`` fits the null to
the z-scores it does not itself call extreme (null p-value above ``trim``; quantile
levels scaled to the kept share): the kept set comes from normal fits refitted until
it is stable (a heavy tail fitted along the way would re-admit the z-scores that made
it heavy), the tail weight then from the kept set; the iterated trimming the peer
tests use for their spreads. The own-history step checks use it by default
(:mod:`.own_history`), the opt-in above too. Its price: an honest tail as heavy as a
cluster of gamers is trimmed like one (no cross-section can tell them apart), so where
honest agents' z-scores are heavy-tailed the trimmed null is the lighter of the two.

References
----------
Efron, B. (2004). Large-scale simultaneous hypothesis testing: the choice of a
null hypothesis. *JASA* 99(465), 96-104.
Efron, B. (2010). *Large-Scale Inference*. Cambridge University Press, ch. 6.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

__all__ = ["EmpiricalNull", "fit_empirical_null", "calibrate_pvalues", "NORMAL_RATIO"]

#: (q95 - q50) / (q75 - q50) of a normal.
NORMAL_RATIO = float(stats.norm.ppf(0.95) / stats.norm.ppf(0.75))
_Q = np.array([0.5, 0.75, 0.95])


@dataclass(frozen=True)
class EmpiricalNull:
    """Location ``loc``, scale ``scale`` and degrees of freedom ``df`` (inf: normal), fitted
    to ``n`` z-scores of which ``trimmed`` were left out (null p-value below ``trim``)."""

    loc: float
    scale: float
    df: float
    n: int
    trimmed: int = 0
    trim: float | None = None

    def sf(self, z: np.ndarray) -> np.ndarray:
        x = (np.asarray(z, float) - self.loc) / self.scale
        if np.isinf(self.df):
            return stats.norm.sf(x)
        return stats.t.sf(x, self.df)

    def describe(self) -> str:
        tail = "normal" if np.isinf(self.df) else f"Student t, {self.df:.1f} df"
        left = ("" if self.trim is None else
                f", fitted without the {self.trimmed} it puts below {self.trim:g}")
        return (f"empirical null of {self.n} z-scores: {tail}, centre {self.loc:+.2f}, "
                f"scale {self.scale:.2f}{left}")


def _t_ratio(df: float) -> float:
    return float(stats.t.ppf(0.95, df) / stats.t.ppf(0.75, df))


def _df_for_ratio(r: float) -> float:
    if r <= NORMAL_RATIO * 1.0005:
        return np.inf
    hi_r = _t_ratio(1.0)
    if r >= hi_r:
        return 1.0
    return float(optimize.brentq(lambda d: _t_ratio(d) - r, 1.0, 1e4, xtol=1e-4))


def fit_empirical_null(p, *, min_n: int = 100, level: float = 0.5, n_boot: int = 200,
                       seed: int = 0, trim: float | None = None) -> EmpiricalNull | None:
    """Fit the empirical null of the z-scores of ``p`` (None when too few or too lumpy).

    Parameters
    ----------
    p : array_like
        One check's one-sided p-values (agents x periods); NaN ignored.
    min_n : int
        Fewest finite p-values.
    level : float
        Bootstrap quantile of the tail ratio used for the degrees of freedom
        (lower: a heavier tail must be clearer before it is used).
    trim : float, optional
        Fit on the z-scores the null itself does not call extreme: those with a
        null p-value below ``trim`` are left out and the quantiles read at levels
        divided by ``1 - trim`` (the kept share of a null sample); the kept set from
        normal fits refitted until stable, the tail weight then from the kept set
        (``trimmed`` of the result: how many were left out). Without it (the default)
        a share of non-null z-scores above ~5 % is the 95th percentile the tail weight
        is read from: with 10 % of the agents stepping up, a step scan's null became t
        with 1.5 df and hid them all.
    """
    p = np.asarray(p, float)
    p = p[np.isfinite(p)]
    if p.size < min_n:
        return None
    # p = 1 (no event at all: common for sparse counts) would give z = -inf, and a
    # median of -inf made the bootstrap ratio NaN (brentq then raised)
    z = stats.norm.isf(np.clip(p, 1e-300, 1.0 - 1e-12))
    q50, q75 = np.quantile(z, _Q[:2])
    upper = z[z > q50]
    if p[p < 1.0].size < p.size / 2 or q75 - q50 <= 1e-6 or np.unique(np.round(upper, 6)).size < 20:
        return None
    if trim is None:
        return _fit(z, _Q, level=level, n_boot=n_boot, seed=seed, n=p.size)
    # the kept set from normal fits (a heavy tail fitted along the way would re-admit the
    # very z-scores that made it heavy), then the tail weight from the kept set
    qlev = _Q / (1.0 - trim)
    null = _fit(z, _Q, level=level, n_boot=0, seed=seed, n=p.size)
    keep = np.ones(z.size, dtype=bool)
    for _ in range(20):
        new_keep = null.sf(z) >= trim
        if (new_keep == keep).all():
            break
        keep = new_keep
        fit = _fit(z[keep], qlev, level=level, n_boot=0, seed=seed, n=p.size)
        if fit is None:
            return dataclasses.replace(null, trimmed=int(np.sum(~keep)), trim=trim)
        null = fit
    final = _fit(z[keep], qlev, level=level, n_boot=n_boot, seed=seed, n=p.size) or null
    return dataclasses.replace(final, trimmed=int(np.sum(~keep)), trim=trim)


def _fit(z: np.ndarray, q: np.ndarray, *, level: float, n_boot: int, seed: int,
         n: int) -> EmpiricalNull | None:
    """Location (quantile ``q[0]``), scale (``q[1]`` - ``q[0]``) and, with ``n_boot``
    resamples, Student-t degrees of freedom from the ``(q[2] - q[0]) / (q[1] - q[0])``
    ratio's ``level`` bootstrap quantile; ``n_boot = 0``: normal."""
    q50, q75 = np.quantile(z, q[:2])
    if q75 - q50 <= 1e-6:
        return None
    df = np.inf
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        qb = np.quantile(z[rng.integers(0, z.size, (n_boot, z.size))], q, axis=1)
        rb = (qb[2] - qb[0]) / np.maximum(qb[1] - qb[0], 1e-9)
        df = _df_for_ratio(float(np.quantile(rb, level)))
    dist_q75 = stats.norm.ppf(0.75) if np.isinf(df) else stats.t.ppf(0.75, df)
    return EmpiricalNull(loc=float(q50), scale=float((q75 - q50) / dist_q75), df=float(df),
                         n=int(n))


def calibrate_pvalues(p, null: EmpiricalNull | None) -> np.ndarray:
    """max(p, empirical-null p): the model's p-value, weakened where the peers' tail says so."""
    p = np.asarray(p, float)
    if null is None:
        return p.copy()
    z = stats.norm.isf(np.clip(p, 1e-300, 1.0))
    pe = null.sf(z)
    return np.where(np.isfinite(p), np.maximum(p, pe), np.nan)
