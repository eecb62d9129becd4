"""Transfer dumping (check ``transfer_dumping``).

An agent who "dumps" calls transfers them out instead of handling them: their
transfer rate is high, and their transfers come early in the call (little talk
before the transfer, compared with how peers transfer). The check combines
two tests per agent x period:

1. **Rate.** The agent's transfers ``k`` out of ``n`` handled calls, per queue,
   against the spread of honest rates fitted to the *other* agents of the same
   queue and period (leave-one-out refit for every agent above the crowd; no
   trimming: iterative trimming of extreme peers collapsed the fitted dispersion
   to the binomial with about a dozen agents a queue and flagged honest agents).
   Two families for that spread, chosen once per run by pooled likelihood over
   all cells (option ``transfer_tails``: ``auto``, ``beta``, ``logit-t``):
   the beta-binomial (Skellam 1948), and the logit-t binomial, rate
   ``expit(mu + sigma T)`` with ``T`` Student-t (``nu`` in 3, 5, 10, 30, inf,
   also chosen by pooled likelihood; :mod:`._logitt`; Lange et al. 1989). The
   beta has light tails on the logit scale: with heavy-tailed propensities
   shared across queues it put honest agents at p < .001 ten times too often
   and at p < 1e-4 about 58 times (issue #13); the likelihood keeps the beta
   where it fits (clean worlds, :mod:`analysis.synth`). Agents working several
   queues: an agent's natural propensity to transfer is shared by their queues,
   so the total is compared with the sum of per-queue binomials driven by *one*
   latent (beta: rate ``F_q^-1(U)`` per queue,
   :func:`.short_calls.comonotone_sum_pvalue`; logit-t: one ``T`` for all
   queues). The former convolution of independent per-queue beta-binomials
   assumed a quick transferer in one queue is average in the others. The
   comonotone sum is the largest in convex order, so it stays valid
   (conservative) when the queues' effects are only partly shared. A pooled
   binomial would be miscalibrated because honest agents' natural transfer
   rates differ (``methods.md``).
   **Predictive null.** The spread is an estimate from the agent's peers, a dozen in a
   small queue, and the binomial noise of their counts can hide it altogether (a fitted
   scale of 0: the agent judged as if every peer had the same rate). Taken as known, the
   fitted null put honest agents of groups of 12 at p < .001 about 12 times too often
   (groups of 25: 3x, of 40: 2.5x; logit-normal propensities, the null's own family).
   So each group's scale is moderated towards the groups' median (Smyth 2004, 10 prior
   df), widened by ``sqrt((m + 1) / (m - 1))`` for the estimated location (``m`` peers),
   and the latent's t gets the estimate's df (:func:`._logitt.predictive_df`): 1.3x,
   1.6x and 1.3x at .001. The beta's intra-class correlation is moderated and widened
   the same way (a beta cannot take the t's tail: groups of 12, 5x). On outside worlds
   of 30 agents (``benchmarks/worlds_outside.py``) honest agents flagged on the transfer
   test went from 2 of the first 10 null worlds to none (of 20, one remains, at p 1.8e-5);
   with 120 agents the transfer rows' rejections at .001 went from 2.1x to 1.5x nominal
   and one dumper of 69 was lost.
   Option ``transfer_predictive`` (default true; false: the fitted null as known).
2. **Early transfers.** Within each queue, the agent's mean ``log(1 + talk)`` on
   transferred calls minus that on their other calls (so a fast talker is not
   suspect), centred on the same-queue median of that contrast; the robust
   peer test with a parametric-bootstrap p-value
   (:func:`._sigutil.peer_contrast_pvalues`), one-sided (shorter before
   transfer). Needs at least ``min_transfers`` (default 5) transfers.

The two p-values are combined by Fisher's method (under the null the count of
transfers and their timing relative to the agent's own calls are independent);
with too few transfers for part 2, the rate p-value alone is used.

Columns needed: ``outcome`` with ``transferred`` rows, ``talk_s``, ``queue``,
``agent_id``, ``answer_ts``. Skipped when no call is transferred.

Assumption: honest agents' natural transfer rates follow one of the two
families above around the queue's rate. The price of the heavy-tailed family
is power when the gamers themselves make the spread heavy-tailed: 8 of 80
agents transferring 3x, 20 days, rate-only, recall at p < .05 falls from
0.62 (beta) to 0.44 (logit-t chosen). Much of the beta's extra "power" on
heavy-tailed data was miscalibration: an honest t3 agent reaches such rates
at p ~ .01.

What it cannot see: where the call went and whether the transfer was right
(a specialist queue may legitimately receive early transfers: read the
queue); dumping by releasing calls (hang-ups; see ``short_calls``); a whole
queue dumping together (peers move with it: see ``changepoints``).

References
----------
Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing
differential expression in microarray experiments. *SAGMB* 3(1), art. 3.
Skellam, J. G. (1948). A probability distribution derived from the binomial
distribution by regarding the probability of success as variable between the
sets of trials. *JRSS B* 10, 257–261.
Lange, K. L., Little, R. J. A. & Taylor, J. M. G. (1989). Robust
statistical modeling using the t distribution. *JASA* 84, 881–896.
Fisher, R. A. (1932). *Statistical Methods for Research Workers*, 4th ed.
(combining independent p-values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.polynomial.chebyshev import chebval
from scipy import signal
from scipy.special import betaln, digamma, gammaln, polygamma

from ._base import CHECKS, CheckResult, GamingContext, dialect_of
from ._betabinom import MAX_PRECISION, betabinom_logpmf_range, fit_betabinom
from ._logitnorm import binomial_mixture_tail
from ._logitt import (
    choose_nu,
    fit_logit_t,
    group_sample,
    loo_params,
    mean_rate,
    node_weights,
    predictive_df,
    rates_at_nodes,
    upper_tail,
)
from ._sigutil import (
    HANDLED,
    fisher_combine,
    flag_option,
    make_flags,
    moderated,
    option,
    peer_tails,
    peer_tails_skip,
    peer_test_by_period,
    period_sql,
    seed,
    skipped,
)
from .short_calls import comonotone_rates, comonotone_sum_pvalue

__all__ = ["check_transfer_dumping", "sum_betabinom_sf", "transfer_cells"]


def sum_betabinom_sf(k: int, ns, alphas, betas) -> float:
    """P(K >= k) for K the sum of independent BetaBinomial(n_j, a_j, b_j).

    One component is the ordinary beta-binomial upper tail; more are convolved
    (FFT for long pmfs).
    """
    pmfs = []
    for n, a, b in zip(ns, alphas, betas, strict=True):
        lp = betabinom_logpmf_range(int(n), float(a), float(b))
        p = np.exp(lp - lp.max())
        pmfs.append(p / p.sum())
    return _tail_of_sum(int(k), pmfs)


def _tail_of_sum(k: int, pmfs) -> float:
    """P(K >= k) for K the sum of independent variables on 0, 1, ... with these pmfs."""
    pmf = np.array([1.0])
    for p in pmfs:
        pmf = signal.fftconvolve(pmf, p) if pmf.size * p.size > 250_000 else np.convolve(pmf, p)
        pmf = np.clip(pmf, 0.0, None)
    pmf /= pmf.sum()
    return float(min(max(pmf[int(k) :].sum(), 0.0), 1.0))


def transfer_cells(ctx: GamingContext) -> pd.DataFrame:
    """Agent x period x queue counts and talk summaries, aggregated in DuckDB.

    Returns
    -------
    DataFrame ``agent_id, period, queue, n, k`` (handled, transferred) and
    ``nt, st, sst`` / ``na, sa, ssa``: count, sum and sum of squares of
    ``log(1 + talk_s)`` on transferred / other handled calls.
    """
    per = period_sql(ctx)
    big = dialect_of(ctx).exact_int
    df = ctx.con.execute(
        f"""
        SELECT agent_id, {per} AS period, queue,
               count(*) AS n,
               count(*) FILTER (WHERE outcome = 'transferred') AS k,
               count(*) FILTER (WHERE outcome = 'transferred') AS nt,
               coalesce(CAST(sum(li) FILTER (WHERE outcome = 'transferred') AS DOUBLE), 0)
                   / 1e12 AS st,
               coalesce(CAST(sum(li * li) FILTER (WHERE outcome = 'transferred') AS DOUBLE), 0)
                   / 1e24 AS sst,
               count(*) FILTER (WHERE outcome <> 'transferred') AS na,
               coalesce(CAST(sum(li) FILTER (WHERE outcome <> 'transferred') AS DOUBLE), 0)
                   / 1e12 AS sa,
               coalesce(CAST(sum(li * li) FILTER (WHERE outcome <> 'transferred') AS DOUBLE), 0)
                   / 1e24 AS ssa
        -- li: ln(1 + talk) in units of 1e-12 (exact integer sums: a float sum depends
        -- on DuckDB's thread order); ordered rows: the seeded peer tests go agent by agent
        FROM (SELECT *, CAST(round(ln(1 + talk_s) * 1e12) AS {big}) AS li
              FROM calls WHERE {HANDLED} AND talk_s >= 0)
        GROUP BY ALL ORDER BY agent_id, period, queue
        """
    ).df()
    df["agent_id"] = df["agent_id"].astype(str)
    df["period"] = df["period"].astype(str)
    df["queue"] = df["queue"].astype(str)
    return df


def _ragged_logpmf(n, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Log pmfs of BetaBinomial(n_c, a_c, b_c) at 0..n_c for many cells, concatenated.

    Term by term the arithmetic of :func:`._betabinom.betabinom_logpmf_range`
    (the log-factorials come from one table of the same ``gammaln`` values).

    Returns
    -------
    (lp, start): cell ``c`` is ``lp[start[c]:start[c + 1]]``.
    """
    n = np.asarray(n, dtype=np.int64)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    start = np.zeros(len(n) + 1, dtype=np.int64)
    np.cumsum(n + 1, out=start[1:])
    cell = np.repeat(np.arange(len(n)), n + 1)
    xi = np.arange(start[-1], dtype=np.int64) - start[cell]
    ni = n[cell]
    lf = gammaln(np.arange(int(n.max()) + 1 if len(n) else 1) + 1.0)
    lp = lf[ni] - lf[xi] - lf[ni - xi]
    lp += betaln(xi + a[cell], (ni - xi) + b[cell])
    lp -= betaln(a, b)[cell]
    return lp, start


def _ragged_pmf(n, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pmfs of many beta-binomials (layout of :func:`_ragged_logpmf`)."""
    lp, start = _ragged_logpmf(n, a, b)
    if not len(lp):
        return lp, start
    cell = np.repeat(np.arange(len(start) - 1), np.diff(start))
    p = np.exp(lp - np.maximum.reduceat(lp, start[:-1])[cell])
    p /= np.add.reduceat(p, start[:-1])[cell]
    return p, start


def _ragged_tail(p: np.ndarray, start: np.ndarray, k) -> np.ndarray:
    """``sum(p[start[c] + k_c : start[c + 1]])`` for every cell ``c`` (``0 <= k_c <= n_c``)."""
    if len(start) < 2:
        return np.zeros(0)
    k = np.asarray(k, dtype=np.int64)
    edges = np.empty(2 * (len(start) - 1), dtype=np.int64)
    edges[0::2] = start[:-1] + k
    edges[1::2] = start[1:]
    # reduceat sums [edges[j], edges[j + 1]); the odd pieces (between cells) are dropped
    return np.add.reduceat(np.append(p, 0.0), edges)[0::2]


def _bb_sf(k, n, a, b) -> np.ndarray:
    """P(X >= k_c) for X ~ BetaBinomial(n_c, a_c, b_c), many cells at once."""
    n = np.asarray(n, dtype=np.int64)
    a, b = np.broadcast_to(a, n.shape), np.broadcast_to(b, n.shape)
    p, start = _ragged_pmf(n, a, b)
    return np.clip(_ragged_tail(p, start, k), 0.0, 1.0)


#: Largest Chebyshev degree used to evaluate peer sums at many points.
_CHEB_MAX_DEG = 24


def _psi_sums(vals: np.ndarray, cnts: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_u cnts_u psi(vals_u + x)`` and the same with trigamma, for every ``x``.

    Many points on a narrow interval (the leave-one-out estimates of a large
    group lie within a fraction of a percent of the all-agents fit) go through
    a Chebyshev interpolant of the exact sums on ``[min x, max x]``; its degree
    is chosen from the distance to the nearest pole (at ``-min(vals)``) so
    that the interpolation error is below double precision. Otherwise (few
    points or a wide interval) the sums are evaluated directly.
    """

    def direct(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f0 = np.empty(len(pts))
        f1 = np.empty(len(pts))
        step = max(1, (1 << 18) // max(len(vals), 1))
        for j in range(0, len(pts), step):
            z = vals[:, None] + pts[None, j : j + step]
            f0[j : j + step] = (cnts[:, None] * digamma(z)).sum(axis=0)
            f1[j : j + step] = (cnts[:, None] * polygamma(1, z)).sum(axis=0)
        return f0, f1

    lo, hi = float(x.min()), float(x.max())
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    if h <= 1e-15 * c:
        f0, f1 = direct(np.array([c]))
        return np.full(len(x), f0[0]), np.full(len(x), f1[0])
    r = (c + float(vals.min())) / h  # nearest pole, in units of the half-width
    rho = r + np.sqrt(r * r - 1.0)
    deg = int(np.ceil(40.0 / np.log(rho / 2.0))) if rho > 8 else _CHEB_MAX_DEG + 1
    if deg > _CHEB_MAX_DEG or deg + 1 >= len(x):
        return direct(x)
    nq = deg + 1
    theta = np.pi * (np.arange(nq) + 0.5) / nq
    f0, f1 = direct(c + h * np.cos(theta))
    tmat = np.cos(np.outer(np.arange(nq), theta)) * (2.0 / nq)
    tmat[0] *= 0.5
    t = (x - c) / h
    # coefficients by explicit sums (no BLAS: the same bits whatever the library)
    return chebval(t, (tmat * f0).sum(axis=1)), chebval(t, (tmat * f1).sum(axis=1))


def _loo_newton(k, n, pos, idx, full, *, max_iter: int = 40, tol: float = 1e-10):
    """Leave-one-out beta-binomial MLEs for agents ``idx``, all at once.

    Newton steps in (log alpha, log beta) from the all-agents fit ``full``,
    the derivatives of Griffiths (1973) as in :func:`._betabinom.fit_betabinom`;
    the peer sums for agent ``i`` are the sums over all agents of the group
    (:func:`_psi_sums`, at each agent's own current estimate) minus agent
    ``i``'s own term.

    Returns
    -------
    (a, b, ok): estimates, and whether they converged in the interior (the
    others are to be refitted one by one).
    """
    kk, nn = k[pos], n[pos]
    vk, ck = np.unique(kk, return_counts=True)
    vf, cf = np.unique(nn - kk, return_counts=True)
    vn, cn = np.unique(nn, return_counts=True)
    ck, cf, cn = ck.astype(float), cf.astype(float), cn.astype(float)
    ki, fi, ni = k[idx], n[idx] - k[idx], n[idx]
    own = pos[idx].astype(float)
    mp = float(len(kk)) - own  # peers of each agent
    u = np.tile(np.log(np.asarray(full, dtype=float)), (len(idx), 1))
    ok = np.zeros(len(idx), dtype=bool)
    act = np.arange(len(idx))
    for _ in range(max_iter):
        if not len(act):
            break
        a, b = np.exp(u[act, 0]), np.exp(u[act, 1])
        s = a + b
        o, m = own[act], mp[act]
        a0, a1 = _psi_sums(vk, ck, a)
        b0, b1 = _psi_sums(vf, cf, b)
        s0, s1 = _psi_sums(vn, cn, s)
        a0 -= o * digamma(ki[act] + a)
        a1 -= o * polygamma(1, ki[act] + a)
        b0 -= o * digamma(fi[act] + b)
        b1 -= o * polygamma(1, fi[act] + b)
        s0 -= o * digamma(ni[act] + s)
        s1 -= o * polygamma(1, ni[act] + s)
        ga = a0 - m * digamma(a) + (m * digamma(s) - s0)
        gb = b0 - m * digamma(b) + (m * digamma(s) - s0)
        t_ab = m * polygamma(1, s) - s1
        haa = a1 - m * polygamma(1, a) + t_ab
        hbb = b1 - m * polygamma(1, b) + t_ab
        g1, g2 = a * ga, b * gb
        # Newton step solves (-H) d = g; -H must be positive definite (a maximum)
        m11, m22, m12 = -(a * a * haa + g1), -(b * b * hbb + g2), -(a * b * t_ab)
        det = m11 * m22 - m12 * m12
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = (m22 * g1 - m12 * g2) / det
            d2 = (m11 * g2 - m12 * g1) / det
        good = (m11 > 0) & (det > 0) & np.isfinite(d1) & np.isfinite(d2)
        d1, d2 = np.clip(d1, -3.0, 3.0), np.clip(d2, -3.0, 3.0)
        u[act, 0] += np.where(good, d1, 0.0)
        u[act, 1] += np.where(good, d2, 0.0)
        # near the binomial boundary the one-by-one fit (with its cap) decides
        good &= np.exp(u[act, 0]) + np.exp(u[act, 1]) < _NEWTON_MAX_PRECISION
        done = good & (np.maximum(np.abs(d1), np.abs(d2)) < tol)
        ok[act[done]] = True
        act = act[good & ~done]
    return np.exp(u[:, 0]), np.exp(u[:, 1]), ok


#: Above this ``alpha + beta`` the vectorised refit hands over to ``fit_betabinom``
#: (whose search stops at the binomial boundary, ``MAX_PRECISION``).
_NEWTON_MAX_PRECISION = 1e6


def _loo_fits(k: np.ndarray, n: np.ndarray, *, screen_p: float = 0.3, min_peers: int = 3):
    """Per-agent beta-binomial null fitted to the other agents of the group.

    The leave-one-out refit only matters for agents above the crowd, so it is
    done for agents whose tail p-value under the all-agents fit is below
    ``screen_p``; the others keep the all-agents fit (which includes them, so
    their p-value is, if anything, a little conservative).

    The refits are the maximum-likelihood fits of
    :func:`._betabinom.fit_betabinom` with the agent's weight set to 0, found
    for all agents at once by :func:`_loo_newton`; agents whose peers sit at a
    boundary (no transfer at all: the same fixed rate as ``fit_betabinom``;
    no overdispersion) or whose Newton steps do not converge are refitted one
    by one with ``fit_betabinom``.
    """
    m = len(k)
    a = np.full(m, np.nan)
    b = np.full(m, np.nan)
    pos = n > 0
    if int(pos.sum()) <= min_peers:
        return a, b
    full = fit_betabinom(k, n)
    a[:], b[:] = full
    p_full = _bb_sf(k.astype(np.int64), n.astype(np.int64), full[0], full[1])
    idx = np.nonzero(p_full < screen_p)[0]
    if not len(idx):
        return a, b
    npeer = int(pos.sum()) - pos[idx]
    kp = float(k[pos].sum()) - np.where(pos[idx], k[idx], 0.0)
    np_ = float(n[pos].sum()) - np.where(pos[idx], n[idx], 0.0)
    few = npeer < min_peers
    a[idx[few]] = b[idx[few]] = np.nan
    # peers all at 0 (or all at n): fit_betabinom's fixed rate 0.5 / (peer calls + 1)
    edge = ~few & ((kp <= 0) | (kp >= np_))
    mu = 0.5 / (np_[edge] + 1.0)
    mu = np.where(kp[edge] <= 0, mu, 1 - mu)
    a[idx[edge]], b[idx[edge]] = mu * MAX_PRECISION, (1 - mu) * MAX_PRECISION
    rest = idx[~few & ~edge]
    if not len(rest):
        return a, b
    if sum(full) < _NEWTON_MAX_PRECISION:
        ar, br, ok = _loo_newton(k, n, pos, rest, full)
        a[rest[ok]], b[rest[ok]] = ar[ok], br[ok]
        rest = rest[~ok]
    for i in rest:
        w = pos.astype(float)
        w[i] = 0.0
        a[i], b[i] = fit_betabinom(k, n, weights=w, start=full)
    return a, b


def _bb_loglik(k: np.ndarray, n: np.ndarray, a: float, b: float) -> float:
    """Beta-binomial log-likelihood of counts ``k`` out of ``n`` (the arithmetic of
    :func:`._betabinom.betabinom_logpmf_range`, at the observed counts only)."""
    return float(np.sum(gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
                        + betaln(k + a, n - k + b) - betaln(a, b)))


#: The family and ``nu`` are chosen on whole queue x period groups drawn at random (fixed
#: seed) up to this many cells; the chosen model is then fitted to all. On a 10 M-call
#: center (~20,000 cells) fitting every candidate to every cell took 50 s of the check's
#: 56; a choice of one shape parameter does not need them all.
CHOICE_CELLS = 8192
#: Values of the ``transfer_tails`` option.
TAILS = ("auto", "beta", "logit-t")


def _choice_sample(k: np.ndarray, n: np.ndarray, grp: np.ndarray):
    """``(k, n, grp)`` of the groups the choice is made on (all of them up to
    :data:`CHOICE_CELLS` cells), groups renumbered, and whether that is a subset."""
    return group_sample(k, n, grp, CHOICE_CELLS)


def _logit_t_model(k: np.ndarray, n: np.ndarray, grp: np.ndarray):
    """The logit-t fit at the ``nu`` chosen (on :func:`_choice_sample`) by likelihood."""
    ks, ns, gs, sub = _choice_sample(k, n, grp)
    fit = choose_nu(ks, ns, gs)
    return fit_logit_t(k, n, grp, fit.nu) if sub else fit


def _rate_model(k: np.ndarray, n: np.ndarray, grp: np.ndarray) -> tuple[str, object, float]:
    """The mixing distribution of the agents' transfer rates, chosen by likelihood.

    Candidates, each with a location and a spread per queue x period: the
    beta (beta-binomial) and the logit-t of :mod:`._logitt` at each ``nu`` of
    :data:`._logitt.NU_GRID` (one ``nu`` for the run). The pooled maximum
    log-likelihood decides; all candidates have the same number of free
    parameters per group, so no penalty is needed between them (one extra for
    ``nu``, ignored). Chosen on :func:`_choice_sample`. Returns ``(name, logit-t fit or None, log-likelihood margin of
    the chosen model over the other family)``.
    """
    ks, ns, gs, sub = _choice_sample(k, n, grp)
    ll_beta = 0.0
    for g in np.unique(gs):
        m = gs == g
        a, b = fit_betabinom(ks[m], ns[m])
        ll_beta += _bb_loglik(ks[m], ns[m], a, b)
    fit = choose_nu(ks, ns, gs)
    if fit.loglik > ll_beta:
        return "logit-t", (fit_logit_t(k, n, grp, fit.nu) if sub else fit), fit.loglik - ll_beta
    return "beta", None, ll_beta - fit.loglik


def _segments(c: pd.DataFrame):
    """Sort cells by agent x period; the start of each agent x period and its size."""
    order = np.lexsort((c["period"].to_numpy(), c["agent_id"].to_numpy()))
    aid, per = c["agent_id"].to_numpy()[order], c["period"].to_numpy()[order]
    seg = np.nonzero(np.r_[True, (aid[1:] != aid[:-1]) | (per[1:] != per[:-1])])[0]
    return order, aid, per, seg, np.diff(np.r_[seg, len(order)])


def _rate_pvalues(cells: pd.DataFrame, *, tails: str = "auto",
                  predictive: bool = True) -> pd.DataFrame:
    """Per agent x period: tail p of the transfer count under the peers' mixing distribution.

    ``tails``: ``"auto"`` chooses the mixing distribution by likelihood
    (:func:`_rate_model`); ``"beta"`` or ``"logit-t"`` force one. ``predictive``: the
    null's spread as an estimate from the peers (module docstring), else as known. The frame's
    ``attrs["rate_null"]`` says which was used. With the beta, the tail of an
    agent's total over several queues is the comonotone sum (one latent
    propensity); with the logit-t, the same with the t latent.
    """
    cols = ["agent_id", "period", "n", "k", "p_rate", "expected"]
    k = cells["k"].to_numpy(float)
    n = cells["n"].to_numpy(float)
    grp_all = cells.groupby(["period", "queue"], sort=True).ngroup().to_numpy()
    # groups with too few agents for a leave-one-out null (as in _loo_fits)
    pos_per_group = np.bincount(grp_all, weights=(n > 0).astype(float))
    usable = (pos_per_group[grp_all] > 3) & (n > 0)
    model, fit = "beta", None
    if tails != "beta" and usable.sum() >= 4:
        kk, nn = k[usable], n[usable]
        _, g = np.unique(grp_all[usable], return_inverse=True)
        if tails == "logit-t":
            model, fit = "logit-t", _logit_t_model(kk, nn, g)
        else:
            model, fit, _ = _rate_model(kk, nn, g)
    if model == "logit-t":
        out = _rate_pvalues_logit_t(cells.loc[usable].reset_index(drop=True), kk, nn, g, fit,
                                    predictive=predictive)
        out.attrs["rate_null"] = f"logit-t, {fit.nu:g} df" if np.isfinite(fit.nu) else "logit-normal"
        return out
    a = np.full(len(cells), np.nan)
    b = np.full(len(cells), np.nan)
    peers = np.zeros(len(cells))
    for _, idx in cells.groupby(["period", "queue"], sort=True).indices.items():
        a[idx], b[idx] = _loo_fits(k[idx], n[idx])
        peers[idx] = float((n[idx] > 0).sum()) - (n[idx] > 0)
    if predictive:
        a, b = moderated_beta(a, b, peers, grp_all)
    keep = np.isfinite(a)
    c = cells.loc[keep, ["agent_id", "period"]].reset_index(drop=True)
    k, n, a, b = k[keep].astype(np.int64), n[keep].astype(np.int64), a[keep], b[keep]
    if not len(c):
        out = pd.DataFrame(columns=cols)
        out.attrs["rate_null"] = "beta"
        return out
    # agent x period segments, in sorted order; cells keep their order within one
    order, aid, per, seg, size = _segments(c)
    k, n, a, b = k[order], n[order], a[order], b[order]
    ksum = np.add.reduceat(k, seg)
    nsum = np.add.reduceat(n, seg)
    exp = np.add.reduceat(n * a / (a + b), seg)
    p_rate = np.empty(len(seg))
    for lo in range(0, len(seg), 2048):  # bounded memory: ~2k agent-periods of pmfs at once
        hi = min(lo + 2048, len(seg))
        c0, c1 = seg[lo], (seg[hi] if hi < len(seg) else len(c))
        pmf, start = _ragged_pmf(n[c0:c1], a[c0:c1], b[c0:c1])
        one = size[lo:hi] == 1
        p_rate[lo:hi][one] = np.clip(
            _ragged_tail(pmf, start, k[c0:c1])[seg[lo:hi][one] - c0], 0.0, 1.0
        )
        # several queues: one latent propensity shared by the agent's queues
        # (comonotone sum, as in short_calls_peer), not independent queues
        multi = np.repeat(~one, size[lo:hi])  # the chunk's cells of several-queue agents
        col = np.cumsum(multi) - 1  # a cell's column in ``rates``
        rates = comonotone_rates(a[c0:c1][multi], b[c0:c1][multi])
        for j in np.nonzero(~one)[0]:
            q0 = seg[lo + j]
            sl = slice(q0, q0 + size[lo + j])
            at = col[q0 - c0]
            p_rate[lo + j] = comonotone_sum_pvalue(
                int(ksum[lo + j]), n[sl], a[sl], b[sl], rates=rates[:, at : at + size[lo + j]]
            )
    out = pd.DataFrame({
        "agent_id": aid[seg], "period": per[seg],
        "n": nsum.astype(int), "k": ksum.astype(int), "p_rate": p_rate, "expected": exp,
    }, columns=cols)
    out.attrs["rate_null"] = "beta"
    return out


#: prior degrees of freedom of the moderated latent scale (as :data:`.own_history.D0`)
SCALE_D0 = 10.0


def moderated_scale(sigma, peers, group_sigma, group_size) -> np.ndarray:
    """Each cell's latent scale shrunk towards the groups' typical one (Smyth 2004):
    ``sqrt((D0 s0^2 + (m - 1) s^2) / (D0 + m - 1))`` with ``m`` the peers the cell's
    scale was fitted to and ``s0^2`` the median squared scale of the groups of 4 or more
    agents. A group of a dozen agents can put its scale at the boundary, 0, when the
    binomial noise hides their spread; the agent is then judged as if every peer had
    the same rate."""
    gs = np.asarray(group_sigma, dtype=float)[np.asarray(group_size) >= 4]
    if not len(gs):
        return np.asarray(sigma, dtype=float)
    s0 = float(np.median(gs**2))
    m = np.asarray(peers, dtype=float)
    d = np.maximum(m - 1.0, 0.0)
    return np.sqrt(moderated(np.asarray(sigma, dtype=float) ** 2, d, s0, SCALE_D0))


def moderated_beta(a, b, peers, grp) -> tuple[np.ndarray, np.ndarray]:
    """The beta nulls' dispersion moderated and widened as :func:`moderated_scale` and
    :func:`predictive_t` do the logit scale's: the intra-class correlation
    ``rho = 1 / (1 + a + b)`` shrunk towards the groups' median with :data:`SCALE_D0`
    prior df, times ``(m + 1) / (m - 1)`` for the estimated location (``m`` peers); the
    mean ``a / (a + b)`` kept. A beta cannot take a t's tail: the logit nulls also widen
    the latent's tail for few peers."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return a, b
    rho = np.full(len(a), np.nan)
    rho[ok] = 1.0 / (1.0 + a[ok] + b[ok])
    m = np.maximum(np.asarray(peers, dtype=float), 4.0)
    g = pd.Series(rho[ok]).groupby(np.asarray(grp)[ok])
    big = g.size() >= 4
    if not big.any():
        return a, b
    rho0 = float(np.median(g.median()[big]))
    d = np.maximum(m - 1.0, 0.0)
    r = moderated(rho, d, rho0, SCALE_D0) * (m + 1.0) / (m - 1.0)
    r = np.clip(r, 1.0 / (1.0 + MAX_PRECISION), 0.5)
    mean = a / (a + b)
    phi = 1.0 / r - 1.0
    return np.where(ok, mean * phi, a), np.where(ok, (1.0 - mean) * phi, b)


def predictive_t(nu: float, peers) -> tuple[np.ndarray, np.ndarray]:
    """(df, scale factor) of a new agent's latent when the group's location and moderated
    scale are estimated from ``peers`` agents: df from :func:`._logitt.predictive_df` with
    ``SCALE_D0 + peers - 1`` df for the scale, and ``sqrt((m + 1) / (m - 1))`` (the
    location's uncertainty, and the maximum-likelihood scale's downward bias)."""
    m = np.maximum(np.asarray(peers, dtype=float), 4.0)
    return predictive_df(nu, SCALE_D0 + m - 1.0), np.sqrt((m + 1.0) / (m - 1.0))


def _rate_pvalues_logit_t(c: pd.DataFrame, k, n, grp, fit, *,
                          predictive: bool = True) -> pd.DataFrame:
    """:func:`_rate_pvalues` under the logit-t null: each agent against the fit without them."""
    mu, sg = loo_params(k, n, grp, fit)
    peers = np.bincount(grp)[grp] - 1  # the agents each cell's null was fitted to
    if predictive:
        sg = moderated_scale(sg, peers, fit.sigma, np.bincount(grp))
    order, aid, per, seg, size = _segments(c)
    k, n, mu, sg, peers = k[order], n[order], mu[order], sg[order], peers[order]
    ksum = np.add.reduceat(k, seg)
    nsum = np.add.reduceat(n, seg)
    exp = np.add.reduceat(n * mean_rate(mu, sg, fit.nu), seg)
    # the null's location and scale are estimates from the peers: the agent's latent is
    # predicted, not known (t with fewer df and a wider scale)
    if predictive:
        nu_a, inflate = predictive_t(fit.nu, np.minimum.reduceat(peers, seg))
    else:
        nu_a, inflate = np.full(len(seg), fit.nu), np.ones(len(seg))
    sg = sg * np.repeat(inflate, size)
    p_rate = np.empty(len(seg))
    for v in np.unique(nu_a):
        here = nu_a == v
        one = (size == 1) & here
        p_rate[one] = upper_tail(k[seg[one]], n[seg[one]], mu[seg[one]], sg[seg[one]], v)
        for j in np.nonzero((size > 1) & here)[0]:
            sl = slice(seg[j], seg[j] + size[j])
            # several queues: the agent's one t latent drives every queue's rate
            p_rate[j] = binomial_mixture_tail(rates_at_nodes(mu[sl], sg[sl], v),
                                              n[sl].astype(int), node_weights(v),
                                              int(ksum[j]))
    return pd.DataFrame({
        "agent_id": aid[seg], "period": per[seg], "n": nsum.astype(int),
        "k": ksum.astype(int), "p_rate": np.clip(p_rate, 0.0, 1.0), "expected": exp,
    })


def _early_table(cells: pd.DataFrame, min_transfers: int) -> pd.DataFrame:
    """Per agent x period: queue-centred (transfer - other) log-talk contrast, sign flipped."""
    c = cells[(cells["nt"] >= 1) & (cells["na"] >= 2)].copy()
    c["mt"] = c["st"] / c["nt"]
    c["ma"] = c["sa"] / c["na"]
    c["vt"] = np.maximum(c["sst"] - c["nt"] * c["mt"] ** 2, 0) / np.maximum(c["nt"] - 1, 1)
    c["va"] = np.maximum(c["ssa"] - c["na"] * c["ma"] ** 2, 0) / np.maximum(c["na"] - 1, 1)
    c["con"] = c["mt"] - c["ma"]
    ok = c["nt"] >= 3
    centre = c[ok].groupby(["period", "queue"])["con"].median().rename("centre")
    c = c.join(centre, on=["period", "queue"])
    c = c[np.isfinite(c["centre"])]
    # pooled within variance of transferred talk across the agent's queues
    c["w"] = c["nt"]
    c["wdev"] = c["nt"] * (c["con"] - c["centre"])
    c["ssw_t"] = c["vt"] * np.maximum(c["nt"] - 1, 0)
    c["var_a_term"] = c["nt"] ** 2 * c["va"] / c["na"]
    g = c.groupby(["agent_id", "period"]).agg(
        nt=("nt", "sum"), wdev=("wdev", "sum"), ssw_t=("ssw_t", "sum"), q=("queue", "size"),
        vat=("var_a_term", "sum"), raw=("con", "mean"),
    )
    g = g[g["nt"] >= min_transfers]
    vt = g["ssw_t"] / np.maximum(g["nt"] - g["q"], 1)
    g["d"] = -(g["wdev"] / g["nt"])
    g["se"] = np.sqrt(vt / g["nt"] + g["vat"] / g["nt"] ** 2)
    return g.reset_index()


@CHECKS.register("transfer_dumping")
def check_transfer_dumping(ctx: GamingContext) -> CheckResult:
    """Transfer dumping: transfer rate against the peers' spread and early transfers (module docstring).

    Options: ``min_calls`` (default 30), ``min_peers`` (8), ``min_transfers`` (5),
    ``transfer_tails`` (``auto``: the rate null's spread chosen by likelihood; ``beta`` or
    ``logit-t`` force one).

    Returns
    -------
    CheckResult; flags have ``effect`` = excess transfers per 100 handled calls
    over the same-queue expectation, ``n`` = handled calls, ``k`` = transfers,
    ``p_value`` = Fisher combination of the rate and early-transfer p-values.
    """
    name = "transfer_dumping"
    if "outcome" not in ctx.columns or "talk_s" not in ctx.columns:
        return skipped(name, "outcome or talk_s is missing")
    # every handled call of the view is in a cell (the view has no negative talk
    # time), so the cells count the transfers: no separate scan of the calls
    cells = transfer_cells(ctx)
    if not int(cells["k"].sum()):
        return skipped(name, "no call has outcome 'transferred' (the source records no transfers)")
    min_calls = int(option(ctx, "min_calls", 30))
    min_peers = int(option(ctx, "min_peers", 8))
    min_tr = int(option(ctx, "min_transfers", 5))
    tails = str(option(ctx, "transfer_tails", "auto"))
    if tails not in TAILS:
        return skipped(name, f"option transfer_tails={tails!r}: use auto, beta or logit-t")
    ptails = peer_tails(ctx)
    if ptails is None:
        return peer_tails_skip(name, ctx)
    rate = _rate_pvalues(cells, tails=tails,
                         predictive=flag_option(ctx, "transfer_predictive", True))
    null = rate.attrs.get("rate_null", "beta")
    rate = rate[rate["n"] >= min_calls]
    how = "chosen by likelihood" if tails == "auto" else f"option transfer_tails={tails}"
    notes = [f"transfer-rate null: {null} spread of agents' rates ({how})"]
    counts = rate.groupby("period").size()
    small = counts[counts < min_peers]
    if len(small):
        notes.append(f"periods with fewer than {min_peers} agents not tested: "
                     f"{', '.join(map(str, small.index))}")
        rate = rate[~rate["period"].isin(small.index)]
    early = _early_table(cells, min_tr)
    early = early.merge(rate[["agent_id", "period"]], on=["agent_id", "period"])
    etest, n2 = peer_test_by_period(early, min_peers=min_peers,
                                    rng=np.random.default_rng(seed(ctx, 21)), tails=ptails)
    n2 = [f"early transfers: {x}" if x.startswith("between-agent") else x for x in n2]
    notes += n2
    tab = rate.merge(
        etest[["agent_id", "period", "p_value", "z", "d", "center", "nt"]].rename(
            columns={"p_value": "p_early", "z": "z_early"}
        ),
        on=["agent_id", "period"], how="left",
    )
    tab["p_value"] = np.where(
        tab["p_early"].notna(), fisher_combine(tab["p_rate"], tab["p_early"]), tab["p_rate"]
    )
    rows = []
    for r in tab.itertuples(index=False):
        if np.isfinite(r.p_early):
            short = 100 * (1 - np.exp(-(r.d - r.center)))
            early_txt = (f"talk before transfer {short:.0f}% shorter than peers' contrast "
                         f"(z {r.z_early:.2f}, p {r.p_early:.3g})")
        else:
            early_txt = f"early-transfer part not tested (< {min_tr} transfers)"
        rows.append(
            dict(
                agent_id=r.agent_id, period=r.period, check=name,
                effect=100.0 * (r.k - r.expected) / r.n,
                effect_unit="excess transfers per 100 handled calls (vs same-queue peers)",
                p_value=r.p_value, n=r.n, k=r.k,
                detail=(f"transfer rate {100 * r.k / r.n:.1f}% vs expected "
                        f"{100 * r.expected / r.n:.1f}% (rate p {r.p_rate:.3g}); "
                        + early_txt),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
