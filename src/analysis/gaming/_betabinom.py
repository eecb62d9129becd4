"""Beta-binomial null models for agent counts (short calls, transfers, ...).

Honest agents differ in their natural rate of any event, so an agent's count
``k`` out of ``n`` is compared with a beta-binomial fitted to the *peers*
(agents in the same queue and period), not with a pooled binomial: the pooled
binomial treats between-agent variation as evidence and is miscalibrated
(see ``methods.md``). This module fits the beta-binomial by maximum likelihood
and computes exact upper-tail p-values (optionally mid-p or randomized).

References
----------
Skellam, J. G. (1948). A probability distribution derived from the binomial
distribution by regarding the probability of success as variable between the
sets of trials. *JRSS B* 10(2), 257-261.
Griffiths, D. A. (1973). Maximum likelihood estimation for the beta-binomial
distribution and an application to the household distribution of the total
number of cases of a disease. *Biometrics* 29(4), 637-648.
Lancaster, H. O. (1961). Significance tests in discrete distributions. *JASA*
56, 223-234 (mid-p).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, polygamma

__all__ = [
    "fit_betabinom",
    "fit_precision",
    "predictive_ab",
    "betabinom_pvalue",
    "betabinom_logpmf_range",
    "peer_betabinom_fits",
]

#: Upper bound on alpha + beta: beyond it the beta-binomial is a binomial for
#: every count this toolkit sees (no detectable between-agent variation).
MAX_PRECISION = 1e7
_MIN_RHO = 1.0 / (MAX_PRECISION + 1.0)


def _as_arrays(k, n, weights):
    k = np.asarray(k, dtype=float).ravel()
    n = np.asarray(n, dtype=float).ravel()
    if k.shape != n.shape:
        raise ValueError("k and n must have the same length")
    w = np.ones_like(k) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != k.shape:
        raise ValueError("weights must have the same length as k")
    keep = (n > 0) & (w > 0) & np.isfinite(k) & np.isfinite(n)
    if np.any((k[keep] < 0) | (k[keep] > n[keep])):
        raise ValueError("every k must satisfy 0 <= k <= n")
    return k[keep], n[keep], w[keep]


def _moments_start(k, n, w):
    """Method-of-moments (mu, rho) start, weighted by n (Kleinman 1973)."""
    mu = float(np.sum(w * k) / np.sum(w * n))
    mu = min(max(mu, 1e-6), 1 - 1e-6)
    if len(k) < 2:
        return mu, 0.01
    p = k / n
    # E[(p_i - mu)^2] = mu(1-mu) [rho + (1-rho)/n_i]  ->  solve for rho
    ww = w * n
    s = np.sum(ww * (p - mu) ** 2) / np.sum(ww)
    base = mu * (1 - mu)
    inv_n = np.sum(ww / n) / np.sum(ww)
    rho = (s / base - inv_n) / (1 - inv_n) if inv_n < 1 else 0.0
    return mu, float(min(max(rho, 1e-4), 0.5))


def fit_betabinom(k, n, *, weights=None, start=None) -> tuple[float, float]:
    """Fit a beta-binomial to counts ``k`` out of ``n`` by maximum likelihood.

    Parameters
    ----------
    k, n : array-like
        Event counts and trials, one entry per agent (``0 <= k <= n``).
        Entries with ``n == 0`` carry no information and are ignored.
    weights : array-like, optional
        Likelihood weights; a weight of 0 leaves an agent out of the fit (this
        is how leave-one-out and trimmed fits are built).
    start : (alpha, beta), optional
        Starting values (e.g. the fit on all agents, for leave-one-out refits);
        default: method of moments.

    Returns
    -------
    (alpha, beta) : tuple of float
        The fitted parameters. When the counts show no overdispersion the fit
        sits on the binomial boundary and ``alpha + beta`` is capped at
        :data:`MAX_PRECISION` (the beta-binomial is then a binomial with the
        pooled rate). With all ``k == 0`` (or all ``k == n``) the mean is set to
        a tiny positive rate ``0.5 / (sum(n) + 1)`` so that p-values stay defined.

    Notes
    -----
    Damped Newton steps in (log alpha, log beta) from a method-of-moments
    start, with analytic gradient and Hessian (Griffiths 1973).
    """
    k, n, w = _as_arrays(k, n, weights)
    if len(k) == 0:
        raise ValueError("no counts to fit")
    tot_k, tot_n = float(np.sum(w * k)), float(np.sum(w * n))
    if tot_k <= 0 or tot_k >= tot_n:
        # degenerate: every count at a boundary; no dispersion estimable
        mu = 0.5 / (np.sum(n) + 1.0)
        mu = mu if tot_k <= 0 else 1 - mu
        return float(mu * MAX_PRECISION), float((1 - mu) * MAX_PRECISION)
    if start is not None and np.all(np.isfinite(start)) and min(start) > 0:
        a0, b0 = float(start[0]), float(start[1])
    else:
        mu0, rho0 = _moments_start(k, n, w)
        prec0 = (1 - rho0) / rho0
        a0, b0 = mu0 * prec0, (1 - mu0) * prec0
    a, b = _newton(k, n, w, a0, b0)
    if a + b > MAX_PRECISION:
        s = MAX_PRECISION / (a + b)
        a, b = a * s, b * s
    return float(a), float(b)


def _loglik(k, n, w, a, b) -> float:
    return float(np.sum(w * (betaln(k + a, n - k + b) - betaln(a, b))))


def _newton(k, n, w, a, b, *, max_iter: int = 100, tol: float = 1e-9) -> tuple[float, float]:
    """Maximise the weighted log-likelihood in (log a, log b) by damped Newton steps.

    Gradient and Hessian are analytic (digamma, trigamma; Griffiths 1973). When
    the counts are no more dispersed than binomial, ``a + b`` grows without
    bound; the search stops at :data:`MAX_PRECISION` with the mean kept.
    """
    u = np.log([a, b])
    ll = _loglik(k, n, w, a, b)
    for _ in range(max_iter):
        a, b = np.exp(u)
        s_ab, s_nab = a + b, n + a + b
        ga = np.sum(w * (digamma(k + a) - digamma(a) + digamma(s_ab) - digamma(s_nab)))
        gb = np.sum(w * (digamma(n - k + b) - digamma(b) + digamma(s_ab) - digamma(s_nab)))
        t_ab = polygamma(1, s_ab) - polygamma(1, s_nab)
        haa = np.sum(w * (polygamma(1, k + a) - polygamma(1, a) + t_ab))
        hbb = np.sum(w * (polygamma(1, n - k + b) - polygamma(1, b) + t_ab))
        hab = np.sum(w * t_ab)
        g = np.array([a * ga, b * gb])
        h = np.array([[a * a * haa + a * ga, a * b * hab], [a * b * hab, b * b * hbb + b * gb]])
        lam = 0.0
        improved = False
        for _try in range(30):
            m = -h + lam * np.eye(2)
            try:
                ok = np.all(np.linalg.eigvalsh(m) > 0)
                step = np.linalg.solve(m, g) if ok else None
            except np.linalg.LinAlgError:
                step = None
            if step is None:
                lam = max(2 * lam, 1e-3 * (abs(h).max() + 1))
                continue
            step = np.clip(step, -3.0, 3.0)
            un = u + step
            an, bn = np.exp(un)
            if an + bn > 10 * MAX_PRECISION:  # binomial boundary: keep the mean, stop
                sc = MAX_PRECISION / (an + bn)
                return float(an * sc), float(bn * sc)
            lln = _loglik(k, n, w, an, bn)
            if lln >= ll - 1e-12:
                improved = True
                break
            lam = max(4 * lam, 1e-3 * (abs(h).max() + 1))
        if not improved:
            break
        done = abs(lln - ll) < tol * (1 + abs(ll)) and np.max(np.abs(step)) < 1e-6
        u, ll = un, lln
        if done:
            break
    a, b = np.exp(u)
    return float(a), float(b)


def predictive_ab(mu, precision, *, scale=1.0, extra_var=0.0):
    """Beta parameters with mean ``mu`` and variance ``mu(1-mu)/(precision+1) * scale + extra_var``.

    ``scale`` widens the between-agent part (e.g. for the noise of a peer mean
    that is itself an average of heterogeneous agents), ``extra_var`` adds a
    fixed variance (e.g. the binomial noise of that mean).

    Returns
    -------
    (a, b) : arrays
    """
    mu = np.clip(np.asarray(mu, dtype=float), 1e-12, 1 - 1e-12)
    base = mu * (1 - mu)
    var = base / (float(precision) + 1.0) * np.asarray(scale, float) + np.asarray(extra_var, float)
    s = np.clip(base / np.maximum(var, 1e-300) - 1.0, 1e-3, MAX_PRECISION)
    return mu * s, (1 - mu) * s


def fit_precision(k, n, mu, *, scale=1.0, extra_var=0.0, weights=None) -> float:
    """Maximum-likelihood precision ``alpha + beta`` of beta-binomials with known means.

    Each count ``k_i`` out of ``n_i`` is BetaBinomial with mean ``mu_i`` (given:
    a peer mean, an expected share) and the parameters of
    :func:`predictive_ab` (``precision``, ``scale_i``, ``extra_var_i``); one
    precision is shared by all counts. This pools the dispersion of many small
    groups (a queue's agents over all months) where each group alone is too
    small to estimate it.

    Returns
    -------
    float
        The precision; :data:`MAX_PRECISION` when the counts are no more
        dispersed than the binomial.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    mu = np.asarray(mu, dtype=float)
    w = np.ones_like(k) if weights is None else np.asarray(weights, dtype=float)
    sc = np.broadcast_to(np.asarray(scale, float), k.shape)
    ev = np.broadcast_to(np.asarray(extra_var, float), k.shape)
    keep = (w > 0) & (n > 0)
    k, n, mu, w, sc, ev = k[keep], n[keep], mu[keep], w[keep], sc[keep], ev[keep]
    if len(k) < 2:
        return MAX_PRECISION

    def nll(t: float) -> float:
        a, b = predictive_ab(mu, np.exp(t), scale=sc, extra_var=ev)
        return -float(np.sum(w * (betaln(k + a, n - k + b) - betaln(a, b))))

    from scipy.optimize import minimize_scalar

    hi = np.log(MAX_PRECISION)
    grid = np.linspace(-2.0, hi, 25)
    vals = [nll(t) for t in grid]
    j = int(np.argmin(vals))
    if j == len(grid) - 1:
        return MAX_PRECISION
    lo_t, hi_t = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    res = minimize_scalar(nll, bounds=(lo_t, hi_t), method="bounded",
                          options={"xatol": 1e-4})
    return float(min(np.exp(res.x), MAX_PRECISION))


def betabinom_logpmf_range(n: int, a: float, b: float) -> np.ndarray:
    """Log pmf of BetaBinomial(n, a, b) at 0..n (vectorised, no loops)."""
    x = np.arange(int(n) + 1, dtype=float)
    return (
        gammaln(n + 1.0)
        - gammaln(x + 1.0)
        - gammaln(n - x + 1.0)
        + betaln(x + a, n - x + b)
        - betaln(a, b)
    )


def _tail_one(k: int, n: int, a: float, b: float) -> tuple[float, float]:
    """(P(X > k), P(X = k)) for X ~ BetaBinomial(n, a, b), summed in log space."""
    lp = betabinom_logpmf_range(n, a, b)
    m = lp.max()
    p = np.exp(lp - m)
    tot = p.sum()
    pk = p[k] / tot
    above = p[k + 1 :].sum() / tot if k < n else 0.0
    return float(above), float(pk)


def betabinom_pvalue(
    k,
    n,
    a,
    b,
    *,
    alternative: str = "greater",
    randomized: bool = False,
    mid: bool = False,
    rng=None,
) -> np.ndarray:
    """Exact tail p-values of counts under BetaBinomial(n, a, b).

    Parameters
    ----------
    k, n : array-like of int
        Observed counts and trials (broadcast together).
    a, b : float or array-like
        Beta-binomial parameters (one pair, or one per count).
    alternative : {"greater", "less"}
        ``"greater"``: P(X >= k) (excess of events, the gaming direction);
        ``"less"``: P(X <= k).
    randomized : bool
        Return the randomized p-value P(X > k) + U * P(X = k), U ~ Uniform(0, 1),
        which is exactly uniform under the null (use it for uniformity tests).
    mid : bool
        Return the mid-p value P(X > k) + P(X = k) / 2 (Lancaster 1961).
    rng : numpy Generator or seed, optional
        Source of U for ``randomized``.

    Returns
    -------
    numpy.ndarray of float
        One p-value per count, in [0, 1].
    """
    if alternative not in ("greater", "less"):
        raise ValueError("alternative must be 'greater' or 'less'")
    if randomized and mid:
        raise ValueError("choose one of randomized and mid")
    k, n, a, b = np.broadcast_arrays(
        np.asarray(k, dtype=np.int64),
        np.asarray(n, dtype=np.int64),
        np.asarray(a, dtype=float),
        np.asarray(b, dtype=float),
    )
    shape = k.shape
    k, n, a, b = k.ravel(), n.ravel(), a.ravel(), b.ravel()
    if np.any((k < 0) | (k > n)):
        raise ValueError("every k must satisfy 0 <= k <= n")
    gen = np.random.default_rng(rng) if randomized else None
    out = np.empty(len(k))
    for i in range(len(k)):
        kk = int(k[i]) if alternative == "greater" else int(n[i] - k[i])
        aa, bb = (a[i], b[i]) if alternative == "greater" else (b[i], a[i])
        above, pk = _tail_one(kk, int(n[i]), float(aa), float(bb))
        if randomized:
            out[i] = above + gen.uniform() * pk
        elif mid:
            out[i] = above + 0.5 * pk
        else:
            out[i] = above + pk
    return np.clip(out, 0.0, 1.0).reshape(shape)


def peer_betabinom_fits(
    k, n, *, trim_p: float = 0.005, min_peers: int = 3, max_iter: int = 5
):
    """Leave-one-out beta-binomial fits for every agent in a peer group.

    For agent ``i`` the null is fitted to the *other* agents of the group, with
    peers that are themselves extreme (leave-one-out upper-tail p below
    ``trim_p``) also left out, so that a few gamers do not widen the null for
    everyone else.

    Parameters
    ----------
    k, n : array-like
        Counts and trials of the agents of one group (queue x period).
    trim_p : float
        Peers whose own leave-one-out p-value falls below this are left out of
        the other agents' fits (0 disables trimming); repeated up to
        ``max_iter`` times, since several gamers widen each other's nulls and
        only show once the most extreme is gone. Under the null this removes
        about ``trim_p`` of honest peers, a negligible tightening.
    min_peers : int
        Fewer remaining peers than this: parameters are NaN.

    Returns
    -------
    (a, b, n_peers) : tuple of numpy arrays
        Per agent, the parameters of their null and the number of peers used.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    m = len(k)
    a_out = np.full(m, np.nan)
    b_out = np.full(m, np.nan)
    npeer = np.zeros(m, dtype=int)

    def loo(keep: np.ndarray) -> None:
        for i in range(m):
            w = keep.astype(float).copy()
            w[i] = 0.0
            npeer[i] = int(np.sum(w > 0))
            if npeer[i] < min_peers:
                a_out[i] = b_out[i] = np.nan
                continue
            a_out[i], b_out[i] = fit_betabinom(k, n, weights=w, start=full)

    keep = n > 0
    if int(keep.sum()) <= min_peers:
        return a_out, b_out, npeer
    full = fit_betabinom(k, n, weights=keep.astype(float))
    loo(keep)
    if trim_p <= 0:
        return a_out, b_out, npeer
    # iterate: leave out peers that are extreme against their own null, refit,
    # until the set of extreme peers stops growing (a handful of passes)
    trimmed = np.zeros(m, dtype=bool)
    for _ in range(max_iter):
        ok = np.isfinite(a_out)
        if not ok.any():
            break
        p = np.ones(m)
        p[ok] = betabinom_pvalue(k[ok].astype(int), n[ok].astype(int), a_out[ok], b_out[ok])
        new = ok & (p < trim_p) & ~trimmed
        if not new.any() or int((keep & ~(trimmed | new)).sum()) <= min_peers:
            break
        trimmed |= new
        full = fit_betabinom(k, n, weights=(keep & ~trimmed).astype(float))
        loo(keep & ~trimmed)
    return a_out, b_out, npeer
