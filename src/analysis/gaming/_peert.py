"""Heavy-tailed honest spread for the peer contrasts: a Student-t random effect.

:func:`._sigutil.peer_contrast_pvalues` tests ``d_i = mu + u_i + e_i`` with the
agent's sampling error ``e_i ~ N(0, se_i^2)`` and, by default, a normal honest
spread ``u_i ~ N(0, tau^2)``. Real habits are heavier-tailed: a few honest
agents wrap up or hold two or three times as long as their peers for reasons
of their own. Under a normal null such an agent sits at z = 6 and is flagged in
every period; on worlds whose agents' after-call work and hold carry a factor
``exp(s t3 / sqrt 3)`` the share of honest agents flagged rose from 0.1 % (s = 0)
to 1.75 % (s = .8), the evidence in ``acw_inflation`` and ``hold_inflation``.

Here the spread may be ``u_i = s T_i`` with ``T_i`` Student t on ``nu`` degrees
of freedom. The marginal of ``d_i`` is a normal scale mixture: given
``W ~ Gamma(nu/2, rate nu/2)``, ``d_i ~ N(mu, s^2 / W + se_i^2)``, so its density
and distribution function are one-dimensional integrals over ``W``
(Gauss-Legendre panels on ``log W`` from its 1e-12 quantile, or 1e-3 if lower, to its
1 - 1e-12 quantile:
:func:`w_nodes`); ``nu = inf`` is the normal (one node ``W = 1``).

``nu`` is chosen as for the short-call test (:func:`.short_calls.choose_latent_nu`),
from parts of each group the few gamers cannot shape: every peer test here is
one-sided (more than peers) and a gamer only ever raises ``d``. The lower half
(values above the group's median censored: only "above the median" is used)
shows a symmetric heavy tail; the upper shoulder (the median to the 90th
percentile, the rest censored) shows an honest tail that is heavy on the upper
side only (a ``log(1 + mean seconds)`` squeezes a heavy-tailed habit's lower
tail: on worlds with a t3 factor on hold the lower halves of the hold test
looked normal and honest agents came out at p = 1e-5). The heavier of the two
choices is used. With more than one agent in ten gaming a test, gamers enter
the shoulder and make the null heavier (conservative), never lighter.

``mu`` and ``s`` of each group are fitted by maximum likelihood at each ``nu``
of :data:`NU_GRID` (all groups at once, damped Newton steps), and ``nu`` is
kept normal unless a view rejects the normal (log-likelihood gain over
:data:`NU_REJECT`); then the heaviest ``nu`` within :data:`NU_MARGIN` of that
view's best is used.

The bootstrap of :func:`._sigutil.peer_contrast_pvalues` then draws the spread
from that t, scaled so that its quartiles sit where a normal's of SD ``tau``
would (the robust ``tau`` measures quartiles); the censored fits' own scales
are not used (too noisy in a queue of a dozen agents). With the normal chosen,
the p-values are the normal path's bit for bit. On the worlds above, honest
agents flagged fell from 1.75 % to 0.25 %; the sample report's worlds, the
bank and the gamers' recall barely moved
(``benchmarks/results/gaming_calibration.md``, 2026-12-07).

References
----------
Lange, K. L., Little, R. J. A. & Taylor, J. M. G. (1989). Robust statistical
modeling using the t distribution. *JASA* 84(408), 881-896 (the t as a normal
scale mixture).
Berndt, E. K., Hall, B. H., Hall, R. E. & Hausman, J. A. (1974). Estimation and
inference in nonlinear structural models. *Annals of Economic and Social
Measurement* 3(4), 653-665 (the outer-product step).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ._logitt import choice_rows, decide_nu, group_quantile, group_sum, halved_step

__all__ = ["NU_GRID", "NU_MARGIN", "NU_REJECT", "TAILS", "PeerTFit", "choose_peer_nu", "draw_spread",
           "fit_peer_t", "lower_half", "spread_note", "w_nodes"]

#: Degrees of freedom tried for the honest spread (``inf``: normal).
NU_GRID = (3.0, 5.0, 10.0, 30.0, np.inf)
#: Log-likelihood margin: the ``nu`` within it of the best are all plausible (chi^2_1 at 5 %
#: / 2), and the heaviest of them is used.
NU_MARGIN = 1.92
#: The normal is kept unless a view beats it by more than this: the likelihood-ratio
#: test's 2.5 % level on the boundary (``nu = inf``: half a chi^2_1, 0.5 P(chi^2_1 > 5.02)
#: = 1.25 % per view), so the two views together go heavy by chance as often as one view
#: did at :data:`NU_MARGIN` (2.5 %).
NU_REJECT = 2.51
#: Values of the ``peer_tails`` option.
TAILS = ("auto", "normal", "t")
#: Rows of whole groups the choice of ``nu`` uses (a random sample of groups beyond).
CHOICE_ROWS = 2048
#: Groups smaller than this say nothing about a tail and are left out of the choice.
CHOICE_MIN_GROUP = 10
#: The upper shoulder's top (:func:`upper_band`): gamers above it do not shape the choice.
UPPER_Q = 0.9

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_NODES: dict[float, tuple[np.ndarray, np.ndarray]] = {}


def w_nodes(nu: float, panels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``W`` and weights (summing to 1) for ``E f(W)``, ``W ~ Gamma(nu/2, rate nu/2)``.

    Gauss-Legendre panels (8 nodes each) on ``log W`` from the 1e-12 quantile, or
    1e-3 if lower (so that rows 30 scales out keep the t's tail at ``nu = 30``), to
    the 1 - 1e-12 quantile; ``nu = inf``: the single node ``W = 1``."""
    if not np.isfinite(nu):
        return np.ones(1), np.ones(1)
    if nu not in _NODES:
        g = stats.gamma(nu / 2.0, scale=2.0 / nu)
        edges = np.linspace(np.log(min(g.ppf(1e-12), 1e-3)), np.log(g.isf(1e-12)), panels + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        v = (lo + (hi - lo) * (_GL_X[None, :] + 1) / 2).ravel()
        w = ((hi - lo) / 2 * _GL_W[None, :]).ravel() * g.pdf(np.exp(v)) * np.exp(v)
        _NODES[nu] = (np.exp(v), w / w.sum())
    return _NODES[nu]


class PeerTFit:
    """Per-group ``mu``, ``s`` (arrays), ``nu``, total log-likelihood and convergence."""

    def __init__(self, mu, s, nu, loglik, converged):
        self.mu, self.s, self.nu = mu, s, nu
        self.loglik, self.converged = loglik, converged


def _parts(d, se2, cens, mu, s, nu, *, score: bool = True):
    """Per-row log-likelihood and (optionally) its scores in ``(mu, log s)``.

    ``cens``: per row 0 (exact), 1 or True (only "above ``d``" is known) or -1 (only
    "below ``d``"); a censored row's ``d`` holds the censoring point."""
    W, w = w_nodes(nu)
    lw = np.log(w)[None, :]
    cens = np.asarray(cens).astype(np.int8)
    ll = np.empty(len(d))
    sc = np.empty((len(d), 2)) if score else None
    for side in (0, 1, -1):
        part = np.flatnonzero(cens == side)
        if not len(part):
            continue
        s2w = (s[part] ** 2)[:, None] / W[None, :]  # rows x nodes
        var = s2w + se2[part, None]
        r = (d[part] - mu[part])[:, None]
        if side:
            # above: log P(D > c) = log Phi((mu - c) / sd); below: log Phi((c - mu) / sd)
            sd = np.sqrt(var)
            a = -side * r / sd
            lnd = special.log_ndtr(a)
            lk = lnd + lw
        else:
            lk = -0.5 * (np.log(2 * np.pi * var) + r**2 / var) + lw
        llp = special.logsumexp(lk, axis=1)
        ll[part] = llp
        if not score:
            continue
        post = np.exp(lk - llp[:, None])  # each node's share of the row's likelihood
        if side:
            # phi / Phi; far in the lower tail its asymptote (the exponent's two terms
            # cancel to rounding there)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                hz = np.where(a > -30, np.exp(-0.5 * a**2 - 0.5 * np.log(2 * np.pi) - lnd),
                              -a / (1 - 1 / a**2 + 3 / a**4))
            g_mu, g_ls = side * hz / sd, -hz * a * s2w / var
        else:
            g_mu = r / var
            g_ls = (r**2 / var - 1.0) * s2w / var
        sc[part, 0] = (post * g_mu).sum(axis=1)
        sc[part, 1] = (post * g_ls).sum(axis=1)
    return ll, sc


def _group_median(x, grp, ng):
    return group_quantile(x, grp, ng, 0.5)


def lower_half(d, grp) -> tuple[np.ndarray, np.ndarray]:
    """``(values, censored)``: each group's rows above its median replaced by the
    median and marked censored (see the module docstring)."""
    d = np.asarray(d, float)
    grp = np.asarray(grp, dtype=np.int64)
    med = _group_median(d, grp, int(grp.max()) + 1 if len(grp) else 0)[grp]
    up = d > med
    return np.where(up, med, d), up


def upper_band(d, grp, q: float = UPPER_Q) -> tuple[np.ndarray, np.ndarray]:
    """``(values, censoring)``: each group's rows between its median and its ``q``
    quantile as they are, rows below the median censored below it (-1), rows above
    the quantile censored above it (1): the upper shoulder, where an honest
    right-skewed or heavy upper tail shows before the few gamers' own tail."""
    d = np.asarray(d, float)
    grp = np.asarray(grp, dtype=np.int64)
    ng = int(grp.max()) + 1 if len(grp) else 0
    med = _group_median(d, grp, ng)[grp]
    hi = group_quantile(d, grp, ng, q)[grp]
    cens = np.where(d > hi, 1, np.where(d < med, -1, 0)).astype(np.int8)
    return np.clip(d, med, hi), cens


def fit_peer_t(d, se, grp, nu: float, *, cens=None, start=None, n_iter: int = 50,
               tol: float = 1e-6) -> PeerTFit:
    """Maximum-likelihood ``mu``, ``s`` of every group at a fixed ``nu``.

    ``grp``: each row's group, integers ``0 .. G-1``; ``cens`` (optional, per row):
    1 (or True) where the row's value is only known to exceed ``d``, -1 where only
    known to be below it, 0 exact. All groups are fitted at
    once by Newton steps (the Hessian from differences of the analytic scores; the
    outer product of the per-row scores, BHHH, where it is not negative definite),
    a step that lowers a group's likelihood halved up to 30 times. ``s`` is kept
    within ``[1e-4, 10]`` times a rough spread of the group (its MAD, or the
    median ``se``), ``start``: ``(mu, s)`` arrays over groups.
    """
    d = np.asarray(d, float)
    se2 = np.maximum(np.asarray(se, float) ** 2, 1e-24)
    grp = np.asarray(grp, dtype=np.int64)
    cens = np.zeros(len(d), np.int8) if cens is None else np.asarray(cens).astype(np.int8)
    ng = int(grp.max()) + 1 if len(grp) else 0
    med = _group_median(d, grp, ng)
    # the spread of the exact rows about the median (with the lower half only, the
    # censored rows sit at the median and would shrink a plain MAD towards 0)
    ex = cens == 0
    mad = np.zeros(ng)
    if ex.any():
        mad[np.unique(grp[ex])] = 1.4826 * _group_median(
            np.abs(d[ex] - med[grp[ex]]), grp[ex], ng)[np.unique(grp[ex])]
    ref = np.maximum(mad, _group_median(np.sqrt(se2), grp, ng))
    ref = np.where(ref > 0, ref, 1.0)
    bounds = (np.log(1e-4 * ref), np.log(10 * ref))
    if start is None:
        theta = np.stack([med, np.log(np.clip(mad, np.exp(bounds[0]), np.exp(bounds[1])))], 1)
    else:
        theta = np.stack([np.asarray(start[0], float),
                          np.clip(np.log(np.asarray(start[1], float)), *bounds)], 1)
    conv = np.zeros(ng, dtype=bool)

    def total(th, rows, score=False):
        g = grp[rows]
        ll, sc = _parts(d[rows], se2[rows], cens[rows], th[g, 0], np.exp(th[g, 1]), nu,
                        score=score)
        return group_sum(ll, g, ng), sc

    def clip(th):
        th[:, 1] = np.clip(th[:, 1], *bounds)
        return th

    every = np.arange(len(d))
    ll_g, _ = total(theta, every)
    eps = 1e-5
    for _ in range(n_iter):
        rows = every if not conv.any() else np.flatnonzero(~conv[grp])
        g = grp[rows]
        _, sc = total(theta, rows, score=True)
        gs = group_sum(sc, g, ng)
        # Hessian by differences of the analytic scores (Newton); where it is not
        # negative definite, the outer product of the scores (BHHH)
        hs = np.empty((ng, 2, 2))
        for j in range(2):
            th = theta.copy()
            th[:, j] += eps
            hs[:, :, j] = (group_sum(total(th, rows, score=True)[1], g, ng) - gs) / eps
        hs = 0.5 * (hs + hs.transpose(0, 2, 1))
        det = hs[:, 0, 0] * hs[:, 1, 1] - hs[:, 0, 1] ** 2
        nd = (hs[:, 0, 0] < 0) & (det > 0)
        bhhh = -group_sum(sc[:, :, None] * sc[:, None, :], g, ng) - 1e-9 * np.eye(2)
        mat = np.where(nd[:, None, None], hs, bhhh)
        # a group whose step matrix is singular or not finite (values on a lattice
        # with no sampling error, say) stops where it is
        with np.errstate(invalid="ignore", over="ignore"):
            det = mat[:, 0, 0] * mat[:, 1, 1] - mat[:, 0, 1] * mat[:, 1, 0]
            scale2 = np.abs(mat[:, 0, 0] * mat[:, 1, 1]) + np.abs(mat[:, 0, 1] * mat[:, 1, 0])
        conv |= (~np.isfinite(det) | (np.abs(det) <= 1e-10 * scale2)
                 | ~np.isfinite(gs).all(axis=1))
        mat[conv] = -np.eye(2)
        gs[conv] = 0.0
        step = -np.linalg.solve(mat, gs[:, :, None])[:, :, 0]
        step[conv] = 0.0
        theta, ll_g, moved, up = halved_step(
            theta, step, conv, ll_g, lambda th, rows=rows: total(th, rows)[0], clip,
            halvings=30, slack=1e-12)
        # a group no halved step improves sits at its maximum to rounding
        conv |= (moved < tol) | ~up
        if conv.all():
            break
    return PeerTFit(theta[:, 0], np.exp(theta[:, 1]), nu, float(ll_g.sum()), conv)


def choose_peer_nu(d, se, grp, tails: str = "auto") -> tuple[float, dict]:
    """``(nu, {view: {nu: log-likelihood}})`` for the groups ``grp`` of one test.

    Two views of each group, both out of the few gamers' reach: the lower half
    (:func:`lower_half`) and the upper shoulder between the median and the
    :data:`UPPER_Q` quantile (:func:`upper_band`; an honest spread can be skewed,
    e.g. a ``log(1 + seconds)`` squeezes the lower tail of a heavy-tailed habit,
    and then only the upper side shows the tail). In each view, ``auto``: the
    normal unless the best ``nu`` of :data:`NU_GRID` beats it by more than
    :data:`NU_REJECT` (two views: a Bonferroni split of the 2.5 % level), then the heaviest ``nu`` within the margin of the best;
    ``t``: that heaviest ``nu`` among the finite ones, always; the heavier of the
    two views' ``nu`` is used. ``normal``: ``inf``. Uses groups of at least :data:`CHOICE_MIN_GROUP` rows,
    up to :data:`CHOICE_ROWS` rows of whole groups drawn at random (fixed seed);
    fewer than 20 rows: the normal (``t``: t3).
    """
    if tails == "normal":
        return np.inf, {}
    if tails not in ("auto", "t"):
        raise ValueError(f"tails must be one of {', '.join(TAILS)}, not {tails!r}")
    d, se, grp = choice_rows(d, se, grp, min_group=CHOICE_MIN_GROUP, max_rows=CHOICE_ROWS)
    if len(d) < 20:
        return (np.inf if tails == "auto" else NU_GRID[0]), {}
    grid = NU_GRID if tails == "auto" else tuple(v for v in NU_GRID if np.isfinite(v))
    lls = {}
    for view, (x, cens) in (("lower", lower_half(d, grp)), ("upper", upper_band(d, grp))):
        ll, start = {}, None
        for nu in reversed(grid):  # from the normal down: each fit starts from the last
            f = fit_peer_t(x, se, grp, nu, cens=cens, start=start, tol=1e-5)
            ll[float(nu)] = f.loglik
            start = (f.mu, f.s)
        lls[view] = ll
    return min(_decide(ll, tails) for ll in lls.values()), lls


def _decide(ll: dict, tails: str) -> float:
    """The rule of :func:`choose_peer_nu` on one view's log-likelihoods."""
    return decide_nu(ll, auto=tails == "auto", reject=NU_REJECT, margin=NU_MARGIN)


def draw_spread(rng: np.random.Generator, shape, s: float, nu: float) -> np.ndarray:
    """Draws of the honest spread ``s T`` (``T`` standard normal when ``nu = inf``)."""
    z = rng.standard_normal(shape)
    if not np.isfinite(nu):
        return s * z
    return s * z / np.sqrt(rng.gamma(nu / 2.0, 2.0 / nu, size=shape))


def spread_note(nu: float, tails: str = "auto") -> str:
    """The check's note on the honest spread's shape."""
    how = {"auto": "chosen by the likelihood of each peer group's lower half and upper shoulder",
           "t": "option peer_tails=t: the heaviest t the peer groups allow"}.get(
        tails, f"forced by option peer_tails={tails}")
    if not np.isfinite(nu):
        return f"between-agent spread: normal ({how})"
    return f"between-agent spread: heavy-tailed, Student t with {nu:g} df ({how})"
