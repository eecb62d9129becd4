"""Logit-t-binomial null: agents' rates with a heavy-tailed spread whose tail is estimated.

Agent ``i``'s rate in a group (queue x period) ``c`` is
``expit(mu_c + sigma_c T_i)`` with ``T_i`` Student t with ``nu`` degrees of
freedom, one latent per agent shared by all the agent's queues. The
beta-binomial and the logit-normal-binomial both have Gaussian-like tails on
the logit scale; when honest agents' propensities are heavy-tailed (a few
agents transfer three to five times as often as their peers for reasons of
their own), those nulls put such agents at p < .001 ten times too often
(issue #13: 10x nominal at .001 and 60x at .0001 for the transfer rate on
worlds with Student-t propensities).

``nu`` is one number for the whole run, chosen from :data:`NU_GRID` by the
pooled maximum likelihood over every group (the location and scale of each
group profiled out). Planted or real gamers in the fit make the tail heavier,
i.e. the null more conservative, never less. ``nu`` is not allowed below 3:
a propensity spread with infinite variance is not a plausible *honest*
mechanism, and anything heavier would be fitted from the very outliers under
test.

:func:`choose_nu_lower` chooses ``nu`` from each group's lower half only (rows
above the group's median rate censored), for checks whose gamers would
otherwise pass for a heavy upper tail (the short-call peer test).

Each agent is tested against the fit to the *other* agents of their group:
an exact refit without the agent, started from the all-agents maximum, for
agents near the tail (:func:`loo_params`); the others keep the all-agents fit.
The one-step deletion estimate (Cook & Weisberg 1982, ch. 5) was tried and is
far off for exactly the outlying agents that matter.

Integrals over the latent use Gauss-Legendre panels on the latent's own scale
(unit width within +-8, then geometric out to +-1e4), weighted by its density:
panels in ``U = F_nu(T)`` spread a t3's nodes too thinly between its 90th and
99th centiles, where an outlying agent's likelihood lives (0.3 % error per agent).

References
----------
Lange, K. L., Little, R. J. A. & Taylor, J. M. G. (1989). Robust statistical
modeling using the t distribution. *JASA* 84(408), 881-896.
Lee, Y. & Nelder, J. A. (2006). Double hierarchical generalized linear models.
*Applied Statistics* 55(2), 139-185 (heavy-tailed random effects in GLMMs).
Cook, R. D. & Weisberg, S. (1982). *Residuals and Influence in Regression*.
Chapman & Hall (one-step deletion estimates).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["NU_GRID", "LogitTFit", "choice_rows", "choose_nu", "choose_nu_lower", "decide_nu",
           "fit_logit_t",
           "group_quantile", "group_sample", "group_sum", "halved_step", "latent_nodes",
           "lower_half_censoring", "loo_params", "mean_rate", "node_weights", "predictive_df",
           "rates_at_nodes",
           "upper_tail"]

#: Degrees of freedom tried for the latent spread (``inf``: logit-normal).
NU_GRID = (3.0, 5.0, 10.0, 30.0, np.inf)
_LOG_SIGMA = (np.log(1e-3), np.log(10.0))  # the scale's search range
_MU = (-30.0, 30.0)  # the location's (a group of zero counts runs towards -inf: it stops here)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
# panels on the latent's own scale: unit width in the centre, then geometric out to 1e4
# (a t3's mass beyond is ~1e-11)
_Z_EDGES = np.concatenate([-np.logspace(4, np.log10(8.0), 12)[:-1], np.arange(-8.0, 8.5, 1.0),
                           np.logspace(np.log10(8.0), 4, 12)[1:]])
_NODES: dict[float, tuple[np.ndarray, np.ndarray]] = {}


def latent_nodes(nu: float) -> tuple[np.ndarray, np.ndarray]:
    """Latent nodes ``z`` and weights ``w`` (``sum w f(z) ~ E f(T)``): Gauss-Legendre
    panels on the latent's scale, weighted by the t (or normal) density."""
    if nu not in _NODES:
        lo, hi = _Z_EDGES[:-1, None], _Z_EDGES[1:, None]
        z = (lo + (hi - lo) * (_GL_X[None, :] + 1) / 2).ravel()
        w = ((hi - lo) / 2 * _GL_W[None, :]).ravel()
        dens = stats.norm.pdf(z) if not np.isfinite(nu) else stats.t.pdf(z, nu)
        _NODES[nu] = (z, w * dens)
    return _NODES[nu]


def _z(nu: float) -> np.ndarray:
    return latent_nodes(nu)[0]


def node_weights(nu: float) -> np.ndarray:
    """Quadrature weights of the latent nodes at ``nu`` (for :func:`rates_at_nodes`)."""
    return latent_nodes(nu)[1]


class LogitTFit:
    """Per-group ``mu``, ``sigma`` (arrays over groups), ``nu`` and the total log-likelihood."""

    def __init__(self, mu, sigma, nu, loglik, converged):
        self.mu, self.sigma, self.nu = mu, sigma, nu
        self.loglik, self.converged = loglik, converged


_BLOCK = 4096  # agents per block: the (agents x nodes) temporaries stay small


def _parts(k, n, lbin, mu, sig, nu, *, second: bool = True, cens=None):
    """:func:`_parts_block` over blocks of :data:`_BLOCK` agents."""
    if len(k) <= _BLOCK:
        return _parts_block(k, n, lbin, mu, sig, nu, second=second, cens=cens)
    outs = [_parts_block(k[i:i + _BLOCK], n[i:i + _BLOCK], lbin[i:i + _BLOCK],
                         mu[i:i + _BLOCK], sig[i:i + _BLOCK], nu, second=second,
                         cens=None if cens is None else cens[i:i + _BLOCK])
            for i in range(0, len(k), _BLOCK)]
    ll = np.concatenate([o[0] for o in outs])
    sc = np.concatenate([o[1] for o in outs])
    he = np.concatenate([o[2] for o in outs]) if second else None
    return ll, sc, he


def _parts_block(k, n, lbin, mu, sig, nu, *, second: bool = True, cens=None):
    """Per agent: log-likelihood, score and Hessian in ``(mu, log sigma)``.

    With ``pi_g`` the posterior weight of node ``g`` given the agent's count,
    ``r = d log f / d eta`` (``k - n p`` for the binomial pmf) and ``q = f'' / f``
    (``r^2 - n p (1 - p)``): score ``sum pi (r, r s z)``, Hessian
    ``E_pi[second derivatives of f] / f - score score'``.

    ``cens`` (optional, per agent; -1 where unused): the agent's count is only
    known to exceed ``cens`` (a censored row): ``f = P(K > c)``, whose
    derivative in ``eta`` is ``n C(n-1, c) p^(c+1) (1-p)^(n-c)``, so
    ``r = f' / f`` and ``q = r ((c + 1) - (n + 1) p)``.
    """
    z, w = latent_nodes(nu)
    logw = np.log(np.maximum(w, 1e-300))
    eta = mu[:, None] + sig[:, None] * z[None, :]
    logp = -np.logaddexp(0.0, -eta)
    log1p = -np.logaddexp(0.0, eta)
    lf = lbin[:, None] + k[:, None] * logp + (n - k)[:, None] * log1p
    p = np.exp(logp)
    r = k[:, None] - n[:, None] * p
    q = r * r - n[:, None] * p * (1 - p) if second else None  # only the Hessian needs it
    if cens is not None and (cens >= 0).any():
        ci = np.flatnonzero(cens >= 0)
        c, nc = cens[ci][:, None], n[ci][:, None]
        # P(K > c) = I_p(c + 1, n - c): the incomplete beta (bdtrc's float path is 7x slower)
        sf = special.betainc(c + 1, nc - c, p[ci])
        ls = np.log(np.maximum(sf, 1e-300))
        # log f' = log n + log C(n-1, c) + (c+1) log p + (n-c) log(1-p)
        ld = (np.log(nc) + special.gammaln(nc) - special.gammaln(c + 1) - special.gammaln(nc - c)
              + (c + 1) * logp[ci] + (nc - c) * log1p[ci])
        rc = np.where(sf > 1e-250, np.exp(np.minimum(ld - ls, 700.0)),
                      (c + 1) - nc * p[ci])  # where P(K > c) underflows: that of the pmf at c+1
        lf[ci] = ls
        r[ci] = rc
        if second:
            q[ci] = rc * ((c + 1) - (nc + 1) * p[ci])
    lf += logw[None, :]
    mx = lf.max(axis=1, keepdims=True)
    pi = np.exp(lf - mx)
    tot = pi.sum(axis=1, keepdims=True)
    ll = (mx + np.log(tot))[:, 0]
    pi /= tot
    sz = sig[:, None] * z[None, :]
    g1 = (pi * r).sum(axis=1)
    g2 = (pi * r * sz).sum(axis=1)
    if not second:
        return ll, np.stack([g1, g2], axis=1), None
    h11 = (pi * q).sum(axis=1) - g1 * g1
    h12 = (pi * q * sz).sum(axis=1) - g1 * g2
    h22 = (pi * (q * sz * sz + r * sz)).sum(axis=1) - g2 * g2
    hess = np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)
    return ll, np.stack([g1, g2], axis=1), hess


def group_sum(x, grp, ng):
    """Sums of ``x`` (rows, and any trailing axes) over the groups ``0 .. ng-1``."""
    out = np.zeros((ng,) + x.shape[1:])
    np.add.at(out, grp, x)
    return out


def group_quantile(x, grp, ng, q: float = 0.5) -> np.ndarray:
    """The ``q`` quantile of ``x`` in each group ``0 .. ng-1`` (0 for an empty group)."""
    out = np.zeros(ng)
    order = np.lexsort((x, grp))
    starts = np.flatnonzero(np.r_[True, grp[order][1:] != grp[order][:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    for a, m in zip(starts, sizes, strict=True):  # groups are few: a loop is fine
        out[grp[order[a]]] = np.quantile(x[order[a:a + m]], q)
    return out


def halved_step(theta, step, conv, ll_g, evaluate, clip, *, halvings: int, slack: float):
    """One damped Newton step for every group at once.

    ``theta + step`` (through ``clip``, which bounds the parameters in place and
    returns them) is kept for a group when ``evaluate`` (per-group log-likelihood)
    does not fall below ``ll_g - slack``; else that group's step is halved, up to
    ``halvings`` times. Groups in ``conv`` do not move. Returns the new ``theta``,
    ``ll_g``, each group's largest parameter move and whether its step was kept.
    """
    scale = np.ones(len(theta))
    for _h in range(halvings):
        cand = clip(theta + scale[:, None] * step)
        new = np.where(conv, ll_g, evaluate(cand))
        worse = (new < ll_g - slack) & ~conv
        if not worse.any():
            break
        scale[worse] *= 0.5
    moved = np.abs(cand - theta).max(axis=1)
    up = new >= ll_g - slack
    return np.where(up[:, None], cand, theta), np.maximum(new, ll_g), moved, up


def _clip_theta(th):
    th[:, 0] = np.clip(th[:, 0], *_MU)
    th[:, 1] = np.clip(th[:, 1], *_LOG_SIGMA)
    return th


def fit_logit_t(k, n, grp, nu: float, *, n_iter: int = 60, tol: float = 1e-7,
                start=None, cens=None) -> LogitTFit:
    """Maximum-likelihood ``mu``, ``sigma`` of every group at a fixed ``nu`` (damped Newton).

    ``grp``: each agent's group, integers ``0 .. G-1``. Groups are fitted all
    at once; a step that lowers a group's likelihood is halved (up to 20 times).
    Where the Hessian is not negative definite the outer-product (BHHH) matrix
    is used for that step. ``start``: ``(mu, sigma)`` arrays over groups to start from.
    ``cens`` (optional, per agent, -1 where unused): censoring points, as in
    :func:`_parts_block` (the agent's count is only known to exceed it).
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    grp = np.asarray(grp, dtype=np.int64)
    cens = None if cens is None else np.asarray(cens, dtype=float)
    ng = int(grp.max()) + 1 if len(grp) else 0
    lbin = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    kk, nn = group_sum(k, grp, ng), group_sum(n, grp, ng)
    pbar = np.clip((kk + 0.5) / (nn + 1.0), 1e-6, 1 - 1e-6)
    theta = np.stack([np.log(pbar / (1 - pbar)), np.full(ng, np.log(0.3))], axis=1)
    if start is not None:
        theta = np.stack([np.asarray(start[0], float), np.log(np.asarray(start[1], float))], 1)
    conv = np.zeros(ng, dtype=bool)

    def total(th, rows):
        """Per-group log-likelihood at ``th`` from the agents ``rows`` (the others: 0)."""
        g = grp[rows]
        ll, _, _ = _parts(k[rows], n[rows], lbin[rows], th[g, 0], np.exp(th[g, 1]), nu,
                          second=False, cens=None if cens is None else cens[rows])
        return group_sum(ll, g, ng)

    every = np.arange(len(k))
    ll_g = total(theta, every)
    for _ in range(n_iter):
        # only the groups still moving are evaluated (a few can take many steps)
        rows = every if not conv.any() else np.flatnonzero(~conv[grp])
        g = grp[rows]
        ll, sc, he = _parts(k[rows], n[rows], lbin[rows], theta[g, 0], np.exp(theta[g, 1]),
                            nu, cens=None if cens is None else cens[rows])
        gs = group_sum(sc, g, ng)
        hs = group_sum(he, g, ng)
        bhhh = -group_sum(sc[:, :, None] * sc[:, None, :], g, ng)
        det = hs[:, 0, 0] * hs[:, 1, 1] - hs[:, 0, 1] ** 2
        nd = (hs[:, 0, 0] < 0) & (det > 0)
        mat = np.where(nd[:, None, None], hs, bhhh - 1e-9 * np.eye(2))
        mat[conv] = -np.eye(2)  # converged groups: no step (and no singular matrix)
        step = -np.linalg.solve(mat, gs[:, :, None])[:, :, 0]
        step[conv] = 0.0
        theta, ll_g, moved, up = halved_step(
            theta, step, conv, ll_g, lambda th, rows=rows: total(th, rows), _clip_theta,
            halvings=20, slack=1e-10)
        # a group no halved step improves sits at its maximum to rounding (a tiny
        # group's scale at its bound): it stops rather than retrying every iteration
        conv |= (moved < tol) | ~up
        if conv.all():
            break
    return LogitTFit(theta[:, 0], np.exp(theta[:, 1]), nu, float(ll_g.sum()), conv)


def loo_params(k, n, grp, fit: LogitTFit, *, screen_p: float = 0.05,
               small_group: int = 40, small_screen_p: float = 0.3,
               max_rows: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's null ``(mu, sigma)``: the group's fit without the agent, where it matters.

    The fit without agent ``i`` only matters for agents above the crowd, so it
    is computed (maximum likelihood, from the all-agents fit) for agents whose
    tail p under the all-agents fit is below ``screen_p``, or below
    ``small_screen_p`` in groups of fewer than ``small_group`` agents, where one
    agent moves the fit most. The others keep the all-agents fit, which
    includes them: their p-value is, if anything, a little conservative. (A
    one-step Newton approximation was tried and is far off for exactly these
    outlying agents: p 6e-10 against an exact 1.4e-3 in a group of six.)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    grp = np.asarray(grp, dtype=np.int64)
    mu = fit.mu[grp].copy()
    sg = fit.sigma[grp].copy()
    size = np.bincount(grp, minlength=len(fit.mu))
    p_full = upper_tail(k, n, mu, sg, fit.nu)
    lim = np.where(size[grp] < small_group, small_screen_p, screen_p)
    idx = np.nonzero((p_full < lim) & (size[grp] > 1))[0]
    members = [np.nonzero(grp == g)[0] for g in range(len(fit.mu))]
    lo = 0
    while lo < len(idx):  # chunks of at most ``max_rows`` expanded rows
        hi, rows = lo, 0
        while hi < len(idx) and (hi == lo or rows + size[grp[idx[hi]]] <= max_rows):
            rows += size[grp[idx[hi]]]
            hi += 1
        part = idx[lo:hi]
        take = [members[grp[i]][members[grp[i]] != i] for i in part]
        rk = np.concatenate(take)
        rg = np.repeat(np.arange(len(part)), [len(t) for t in take])
        f = fit_logit_t(k[rk], n[rk], rg, fit.nu,
                        start=(fit.mu[grp[part]], fit.sigma[grp[part]]))
        mu[part], sg[part] = f.mu, f.sigma
        lo = hi
    return mu, sg


def predictive_df(nu: float, scale_df) -> np.ndarray:
    """The df of a new agent's latent when the group's scale is an estimate with
    ``scale_df`` degrees of freedom: for a normal latent the predictive is Student t with
    ``scale_df`` df; a t latent with ``nu`` df gets ``1 / (1/nu + 1/scale_df)`` (the two
    excess kurtoses add, roughly). Rounded down to whole numbers (few distinct node sets),
    at least 3; above 200, the latent's own ``nu``."""
    d = np.maximum(np.asarray(scale_df, dtype=float), 3.0)
    inv = (0.0 if not np.isfinite(nu) else 1.0 / nu) + 1.0 / d
    df = np.maximum(np.floor(1.0 / inv), 3.0)
    return np.where(df > 200, nu, df)


def rates_at_nodes(mu, sigma, nu: float) -> np.ndarray:
    """``expit(mu + sigma z)`` at the latent nodes ``z`` (nodes x cells; weights
    :func:`node_weights`)."""
    z = _z(nu)
    return special.expit(np.asarray(mu)[None, :] + np.asarray(sigma)[None, :] * z[:, None])


def mean_rate(mu, sigma, nu: float) -> np.ndarray:
    """``E[expit(mu + sigma T)]``, ``T ~ t_nu``, elementwise (in blocks of :data:`_BLOCK`)."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    out = np.empty(len(mu))
    w = node_weights(nu)
    for i in range(0, len(mu), _BLOCK):
        out[i:i + _BLOCK] = w @ rates_at_nodes(mu[i:i + _BLOCK], sigma[i:i + _BLOCK], nu)
    return out


def upper_tail(k, n, mu, sigma, nu: float) -> np.ndarray:
    """P(K >= k) for K ~ Binomial(n, expit(mu + sigma T)), ``T ~ t_nu``, elementwise."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    out = np.ones(len(k))
    for i in range(0, len(k), _BLOCK):
        sl = slice(i, i + _BLOCK)
        r = rates_at_nodes(mu[sl], sigma[sl], nu)  # nodes x cells
        kk = np.maximum(k[sl], 1.0).astype(np.int64)
        nn = n[sl].astype(np.int64)
        out[sl] = np.where(k[sl] <= 0, 1.0, node_weights(nu) @ special.bdtrc(kk[None, :] - 1, nn[None, :], r))
    return np.clip(out, 0.0, 1.0)


def choose_nu(k, n, grp, grid=NU_GRID) -> LogitTFit:
    """The fit at the ``nu`` of ``grid`` with the largest pooled log-likelihood."""
    best = None
    for nu in grid:
        f = fit_logit_t(k, n, grp, nu)
        if best is None or f.loglik > best.loglik:
            best = f
    return best


def lower_half_censoring(k, n, grp, q: float = 0.5) -> np.ndarray:
    """Censoring points that keep only each group's lower half: ``c = floor(n m_g)``
    with ``m_g`` the median rate ``k / n`` of the group's rows; rows above it
    (``k > c``) get ``c``, the others -1 (uncensored). See :func:`choose_nu_lower`."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    grp = np.asarray(grp, dtype=np.int64)
    rate = k / np.maximum(n, 1.0)
    med = group_quantile(rate, grp, int(grp.max()) + 1 if len(grp) else 0, q)
    c = np.floor(n * med[grp] + 1e-9)
    return np.where(k > c, c, -1.0)


def choose_nu_lower(k, n, grp, grid=NU_GRID, q: float = 0.5) -> tuple[float, dict]:
    """``nu`` from the *lower* half of each group: the side gaming cannot reach.

    Agents who game an event count (hang-ups, dumped transfers) only ever raise
    it, so a likelihood over every agent reads the gamers as a heavy upper tail
    and, choosing a heavy-tailed null, hides them. Here each group's rows above
    its median rate are censored (only "above the median" is used,
    :func:`lower_half_censoring`): the tail shape comes from how far the lower
    half spreads, which is the honest agents' own (the latent is symmetric).
    Returns ``(nu, {nu: censored log-likelihood})``. The location and scale of
    each group are profiled out at each ``nu`` (:func:`fit_logit_t` with ``cens``).
    """
    cens = lower_half_censoring(k, n, grp, q)
    ll, start = {}, None
    for nu in grid:  # each fit starts from the previous nu's (they are close)
        f = fit_logit_t(k, n, grp, nu, cens=cens, start=start, tol=1e-5)
        ll[float(nu)] = f.loglik
        start = (f.mu, f.sigma)
    best = max(ll, key=ll.get)
    return best, ll


def choice_rows(k, n, grp, *, min_group: int, max_rows: int):
    """``(k, n, grp)`` a tail is chosen on: groups (any labels) of at least
    ``min_group`` rows (a handful of agents says nothing about a tail and runs to the
    scale's bound), then up to ``max_rows`` rows of whole groups
    (:func:`group_sample`), groups numbered ``0 ..``."""
    _, grp = np.unique(np.asarray(grp), return_inverse=True)
    big = np.bincount(grp)[grp] >= min_group
    _, grp = np.unique(grp[big], return_inverse=True)
    k, n, grp, _ = group_sample(np.asarray(k, float)[big], np.asarray(n, float)[big], grp,
                                max_rows)
    return k, n, grp


def decide_nu(ll: dict, *, auto: bool, reject: float, margin: float = 1.92) -> float:
    """The ``nu`` a choice takes from its log-likelihoods ``{nu: ll}``: with ``auto``
    the normal (``inf``) unless the best beats it by more than ``reject``; otherwise
    the heaviest ``nu`` within ``margin`` of the best (a 95 % likelihood-ratio set for
    one parameter: chi2_1(.95) / 2 = 1.92), since the lighter of two plausible tails
    is the one that flags honest agents."""
    top = max(ll.values())
    if auto and top - ll[np.inf] <= reject:
        return np.inf
    return float(min(v for v, x in ll.items() if x >= top - margin))


def group_sample(k, n, grp, max_rows: int):
    """``(k, n, grp, subset)``: the rows of whole groups drawn at random (fixed seed) up
    to ``max_rows`` rows, groups renumbered ``0 ..``, and whether that is a subset (all
    rows, unchanged, when they fit)."""
    grp = np.asarray(grp, dtype=np.int64)
    if len(grp) <= max_rows:
        return k, n, grp, False
    sizes = np.bincount(grp)
    order = np.random.default_rng(0).permutation(len(sizes))
    take = order[: max(1, int(np.searchsorted(np.cumsum(sizes[order]), max_rows, "right")))]
    m = np.isin(grp, take)
    _, g = np.unique(grp[m], return_inverse=True)
    return k[m], n[m], g, True
