"""Logit-normal-binomial (random-intercept logistic) null for agents' event counts.

Agent ``i``'s rate in queue ``q`` is ``expit(m_q + s_q z_i)`` with one latent
``z_i ~ N(0, 1)`` per agent, shared by all the agent's queues (the random
intercept of a logistic mixed model). Compared with a beta mixing
distribution it has the heavier upper tail that multiplicative (odds-ratio)
differences between agents produce; in simulation the beta-binomial was
slightly anti-conservative on such worlds (6-7% rejections at 5%), this null
was not.

Every function takes ``nu`` (default ``inf``, the normal): with a finite ``nu``
the latent is Student t (``z = T``, scale ``s``), integrated with the panels of
:mod:`._logitt` instead of the 24 Gauss-Hermite nodes, and its tail quantiles at
the U nodes (:func:`u_quantiles`). The t's far nodes give rates of exactly 0
and 1; the callers clip them where a binomial pmf needs them inside (0, 1).

References
----------
Breslow, N. E. & Clayton, D. G. (1993). Approximate inference in generalized
linear mixed models. *JASA* 88(421), 9-25.
Coull, B. A. & Agresti, A. (2000). Random effects modeling of multiple binomial
responses using the multivariate binomial logit-normal distribution.
*Biometrics* 56(1), 73-80.
Cohen, A. C. (1991). *Truncated and Censored Samples: Theory and Applications*.
Marcel Dekker (likelihood of samples truncated at known points).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import special, stats
from scipy.optimize import minimize_scalar

from ._logitt import latent_nodes

__all__ = [
    "solve_location",
    "fit_sigma",
    "tail_pvalue",
    "tail_pvalue_rows",
    "predictive_scale",
    "upper_cut",
    "U_NODES",
    "U_WEIGHTS",
    "U_Z",
    "binomial_mixture_tail",
    "binom_tail",
    "gl_panels",
    "latent_rule",
    "u_quantiles",
]

_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(24)
_GH_W = _GH_W / _GH_W.sum()

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_BLOCK = 2048  # rows per block of (rows x 24) work: its temporaries stay in the CPU cache
_ROWS_240 = 256  # rows per block of (rows x 240) work (the U-grid)
# U-grid for tail integrals: Gauss-Legendre panels that get finer towards both
# ends (the upper tail of a count lives near U = 1, the lower near U = 0).
_EDGES = np.unique(np.concatenate([np.logspace(-14, -1, 14), [0.5],
                                   1.0 - np.logspace(-1, -14, 14), [0.0, 1.0]]))


def gl_panels(edges) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of 8-point Gauss-Legendre rules on the panels between ``edges``."""
    xs, ws = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        xs.append(lo + (hi - lo) * (_GL_X + 1) / 2)
        ws.append(_GL_W * (hi - lo) / 2)
    return np.concatenate(xs), np.concatenate(ws)


U_NODES, U_WEIGHTS = gl_panels(_EDGES)
_U_Z = stats.norm.ppf(U_NODES)
#: The U nodes as standard-normal quantiles (the latent z of each node).
U_Z = _U_Z


def latent_rule(nu: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``z`` and weights ``w`` with ``sum w f(z) ~ E f(Z)`` for the latent:
    24 Gauss-Hermite nodes for the normal (``nu = inf``), else the Student-t
    panels of :mod:`._logitt` (264 nodes: a t's tails need them)."""
    if not np.isfinite(nu):
        return _GH_Z, _GH_W
    return latent_nodes(float(nu))


_UZ: dict[float, np.ndarray] = {}


def u_quantiles(nu: float = np.inf) -> np.ndarray:
    """The latent's quantiles at :data:`U_NODES` (:data:`U_Z` for the normal)."""
    if not np.isfinite(nu):
        return _U_Z
    if nu not in _UZ:
        _UZ[nu] = stats.t.ppf(U_NODES, nu)
    return _UZ[nu]


def solve_location(mean, s, *, n_iter: int = 30, start=None, nu: float = np.inf) -> np.ndarray:
    """``m`` with ``E[expit(m + s Z)] = mean`` (Z standard normal, or Student t with
    ``nu`` degrees of freedom), elementwise.

    ``start``: initial values (e.g. the solution at a nearby ``s``).
    """
    mean = np.clip(np.asarray(mean, dtype=float), 1e-12, 1 - 1e-12)
    s = np.broadcast_to(np.asarray(s, dtype=float), mean.shape)
    if mean.ndim == 1 and len(mean) > 2 * _BLOCK:  # in blocks: the temporaries stay in cache
        return np.concatenate([
            solve_location(mean[lo:lo + _BLOCK], s[lo:lo + _BLOCK], n_iter=n_iter,
                           start=None if start is None else np.asarray(start)[lo:lo + _BLOCK],
                           nu=nu)
            for lo in range(0, len(mean), _BLOCK)])
    gz, gw = latent_rule(nu)
    m = np.log(mean / (1 - mean)) if start is None else np.array(start, dtype=float)
    for _ in range(n_iter):
        p = special.expit(m[..., None] + s[..., None] * gz)
        f = p @ gw - mean
        p *= 1 - p
        d = p @ gw
        step = f / np.maximum(d, 1e-300)
        m = m - np.clip(step, -5, 5)
        if np.max(np.abs(step)) < 1e-7:  # Newton: the step just taken leaves about its square
            break
    return m


def _loglik(k, n, m, s, nu: float = np.inf) -> float:
    """Sum of log marginal likelihoods (the latent z integrated by :func:`latent_rule`)."""
    gz, gw = latent_rule(nu)
    eta = m[:, None] + s[:, None] * gz[None, :]
    # log binomial pmf without the constant (it does not depend on sigma)
    lp = k[:, None] * -np.logaddexp(0.0, -eta) + (n - k)[:, None] * -np.logaddexp(0.0, eta)
    return float(np.sum(special.logsumexp(lp, b=gw[None, :], axis=1)))


def predictive_scale(sigma: float, scale, extra) -> np.ndarray:
    """Predictive SD of an agent's logit rate: ``sqrt(sigma^2 scale + extra)``."""
    return np.sqrt(sigma**2 * np.asarray(scale, float) + np.asarray(extra, float))


def _log_below(k_max, n, m, s, nu: float = np.inf) -> np.ndarray:
    """log P(K <= k_max) per row, K ~ Binomial(n, expit(m + s z)) integrated over z."""
    gz, gw = latent_rule(nu)
    r = special.expit(m[:, None] + s[:, None] * gz[None, :])
    cdf = stats.binom.cdf(k_max[:, None], n[:, None], r)
    return np.log(np.clip(cdf @ gw, 1e-300, 1.0))


_WALK_MAX = 12  # counts up to this get binomial tails by summing the pmf down to 0
_XATOL = 2e-3  # tolerance of the grid-and-Brent search of the spread


def _log_choose(n, k) -> np.ndarray:
    """log C(n, k), from the binomial pmf at its own mean (accurate to ~1e-14;
    gammaln differences lose digits at n in the thousands)."""
    a = k / np.maximum(n, 1.0)
    return np.log(stats.binom.pmf(k, n, a)) - special.xlogy(k, a) - special.xlog1py(n - k, -a)


class _SpreadLik:
    """``fit_sigma``'s negative log-likelihood of the spread ``sigma``.

    Rows ``k, n`` with mean rates ``mean``; predictive SD ``sqrt(sigma^2 sc + ex)``;
    ``k_max`` (or None) the truncation points (rows with ``k_max < n`` are
    truncated). The same value as :func:`_loglik` plus :func:`_log_below` (to
    ~1e-12), faster: rows in blocks of 2,048 (the temporaries stay in the
    cache; the sums add the blocks in order), each block's location solved
    from its solution at the previous ``sigma`` moved along its derivative
    (``dm/ds = -E[v z] / E[v]``, ``v = p (1 - p)`` at the latent's nodes, :func:`latent_rule`),
    ``P(K <= c)`` the pmf at ``c`` summed down to 0 where ``c <= 12``, else
    Boost's binomial cdf where Chernoff's bound leaves it between 0 and 1.
    """

    def __init__(self, k, n, mean, sc, ex, k_max=None, nu: float = np.inf):
        self.nu = nu
        self.gz, self.gw = latent_rule(nu)
        self.blocks = []
        for lo in range(0, len(k), _BLOCK):
            sl = slice(lo, lo + _BLOCK)
            blk = {"k": k[sl], "n": n[sl], "mean": mean[sl], "sc": sc[sl], "ex": ex[sl],
                   "m": None, "dm": None, "sel": None}
            if k_max is not None:
                sel = k_max[sl] < n[sl]  # rows whose truncation point cuts anything off
                if sel.any():
                    km = k_max[sl][sel]
                    n_t = n[sl][sel]
                    blk.update(sel=sel, km=km, n_t=n_t, lc=_log_choose(n_t, km),
                               small=km <= _WALK_MAX)
            self.blocks.append(blk)
        self.sig = None
        self.last = None  # (sigma, value) of the last call

    @staticmethod
    def _below(b, eta, sp, p):
        """P(K <= c) at every node of a block's truncated rows."""
        km, n_t, sm = b["km"], b["n_t"], b["small"]
        cdf = np.empty_like(eta)
        big = ~sm
        if big.any():
            # P(K <= c) = 1 - P(K >= c + 1); Boost only where that is not 0 or 1
            zero, one = _settled(km[big] + 1, n_t[big], (eta - sp)[big], -sp[big])
            cb = zero.astype(float)
            need = ~(zero | one)
            shape = cb.shape
            cb[need] = stats.binom.cdf(np.broadcast_to(km[big, None], shape)[need],
                                       np.broadcast_to(n_t[big, None], shape)[need],
                                       p[big][need])
            cdf[big] = cb
        if sm.any():
            # a t's far nodes reach logits below -600, where P(K <= c) is 1 and exp(-eta)
            # would overflow: the walk runs at -600 there (the normal's nodes never go so far)
            e_s = np.maximum(eta[sm], -600.0)
            lpmf = b["lc"][sm, None] + km[sm, None] * e_s - n_t[sm, None] * sp[sm]
            q = np.exp(lpmf)  # P(K = c)
            acc = q.copy()
            inv_odds = np.exp(-e_s)
            i, nn = km[sm], n_t[sm]
            for _ in range(int(i.max())):
                q *= inv_odds
                q *= np.where(i > 0, i / np.maximum(nn - i + 1, 1.0), 0.0)[:, None]
                acc += q
                i = i - 1
            # where P(K = c) underflows above the mode, the cdf is 1 to double precision
            lost = (lpmf < -690.0) & (km[sm, None] >= (nn[:, None] + 1) * p[sm])
            acc[lost] = 1.0
            cdf[sm] = np.minimum(acc, 1.0)
        return cdf

    def _block(self, b, sig: float) -> float:
        k, n, sc = b["k"], b["n"], b["sc"]
        s = predictive_scale(sig, sc, b["ex"])
        start = b["m"]
        if start is not None and b["dm"] is not None:
            start = start + b["dm"] * (sig - self.sig)  # first-order prediction
        m = solve_location(b["mean"], s, start=start, nu=self.nu)
        gz, gw = self.gz, self.gw
        eta = m[:, None] + s[:, None] * gz
        p = special.expit(eta)
        sp = eta - np.log(np.maximum(p, 1e-300))  # -log(1 - p)
        if p.min() < 1e-290:  # rates that underflow: -log(1 - p) = p to double precision
            sp = np.where(p < 1e-290, np.exp(np.minimum(eta, 0.0)), sp)
        # log binomial pmf without the constant (it does not depend on sigma)
        lp = k[:, None] * eta - n[:, None] * sp  # k log p + (n - k) log(1 - p)
        mx = lp.max(axis=1)
        val = -float(np.sum(mx + np.log(np.exp(lp - mx[:, None]) @ gw)))
        sel = b["sel"]
        if sel is not None:
            cdf = self._below(b, eta[sel], sp[sel], p[sel])
            val += float(np.sum(np.log(np.clip(cdf @ gw, 1e-300, 1.0))))
        # the location's derivative in sigma: the next evaluation's starting point
        ds = np.where(s > 0, sig * sc / np.maximum(s, 1e-300), np.sqrt(sc))
        p *= 1 - p
        b["m"], b["dm"] = m, -(p @ (gw * gz)) / np.maximum(p @ gw, 1e-300) * ds
        return val

    def __call__(self, sig: float) -> float:
        sig = float(sig)
        if self.last is not None and self.last[0] == sig:
            return self.last[1]
        val = 0.0
        for b in self.blocks:
            val += self._block(b, sig)
        self.sig = sig
        self.last = (sig, val)
        return val


def _grid_values(obj, grid, info: dict) -> list[float]:
    """The likelihood on ``grid``; for a refit (``info`` holds the earlier fit's grid
    values ``vals`` and lowest point ``j``) only at ``j`` and its neighbours.

    The earlier values stand for the far points when ``j`` is still lowest among
    the three and the far points led ``j`` by more than ten times the largest
    change of a neighbour's lead over ``j`` (plus 10 log-likelihood units): a
    refit after a few rows were trimmed or re-admitted shifts the whole curve
    but changes the leads by a few units, and the far points lead by hundreds.
    Otherwise the whole grid is evaluated.
    """
    prev, jp = info.get("vals"), info.get("j")
    if prev is not None and jp is not None and 0 < jp < len(grid) - 1:
        near = (jp - 1, jp + 1, jp)
        now = {i: obj(float(grid[i])) for i in near}
        # the change of each point's lead over j (rows trimmed since shift every point)
        drift = max(abs((now[i] - now[jp]) - (prev[i] - prev[jp])) for i in near)
        far = [prev[i] - prev[jp] for i in range(len(grid)) if i not in near]
        lead = min(far) if far else np.inf
        if now[jp] < min(now[jp - 1], now[jp + 1]) and lead > 10 * drift + 10:
            # far points keep their lead over j (their level moves with the whole curve)
            vals = [prev[i] - prev[jp] + now[jp] for i in range(len(grid))]
            for i in near:
                vals[i] = now[i]
            return vals
    return [obj(float(g)) for g in grid]


def fit_sigma(
    k, n, mean, *, scale=1.0, extra=0.0, k_max=None, max_sigma: float = 4.0,
    info: dict | None = None, nu: float = np.inf,
) -> float:
    """Maximum-likelihood between-agent SD (logit scale) given each row's mean rate.

    Each row's logit rate has SD ``sqrt(sigma^2 scale_i + extra_i)`` (see
    :func:`predictive_scale`) and location solved so that its mean rate is
    ``mean_i``. Returns 0 when the counts are no more dispersed than binomial
    (beyond the ``extra`` part).

    ``k_max`` (optional, per row): the rows are those kept because their count
    was at most ``k_max_i`` (rows beyond it were trimmed as extreme); each
    row's likelihood is then divided by ``P(K_i <= k_max_i)`` (a truncated
    likelihood; Cohen 1991), so
    trimming the upper tail does not shrink the fitted spread: on a small
    queue, plain trimming would narrow the null, trim more honest agents,
    narrow it further and end near a plain binomial.

    The search is the grid over ``[0, max_sigma]`` (9 points) and a bounded
    Brent search (tolerance 2e-3) around its lowest point, unchanged: the
    likelihood wiggles by a fraction of a unit on agent-months of thousands of
    calls (24 Gauss-Hermite nodes), so it can have several local minima close
    together and any other search (a warm start from the previous pass's
    spread, secant steps on the derivative) settles in other ones (0.47 or
    0.60 in one simulated world). What is faster is each evaluation
    (:class:`_SpreadLik`) and, for a refit (``info``, a dict updated in place,
    holding the earlier fit of the same rows), most of the grid
    (:func:`_grid_values`).
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    mean = np.asarray(mean, dtype=float)
    sc = np.broadcast_to(np.asarray(scale, float), k.shape)
    ex = np.broadcast_to(np.asarray(extra, float), k.shape)
    if len(k) < 2:
        return 0.0
    obj = _SpreadLik(k, n, mean, sc, ex, None if k_max is None else np.asarray(k_max, float),
                     nu=nu)

    grid = np.linspace(0.0, max_sigma, 9)
    info = {} if info is None else info
    vals = _grid_values(obj, grid, info)
    j = int(np.argmin(vals))
    info["vals"], info["j"] = vals, j
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    res = minimize_scalar(obj, bounds=(lo, hi), method="bounded", options={"xatol": _XATOL})
    best = float(res.x) if res.fun <= vals[j] else float(grid[j])
    return best


def binom_tail(k, n, r) -> np.ndarray:
    """``P(K >= k)``, K ~ Binomial(n, r), broadcast: ``stats.binom.sf(k - 1, n, r)``.

    The same values (Boost's regularized incomplete beta ``I_r(k, n - k + 1)``),
    without ``rv_discrete``'s argument handling, which costs a third of the time.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    kc = np.clip(k, 1.0, np.maximum(n, 1.0))
    p = special.betainc(kc, n - kc + 1, r)
    return np.where(k <= 0, 1.0, np.where(k > n, 0.0, p))


def _tail_at(k, n, rates) -> np.ndarray:
    """P(K >= k) per row, K ~ Binomial(n, rate) integrated over the U nodes (rows of ``rates``)."""
    p = binom_tail(k[:, None], n[:, None], rates)
    return np.clip(p @ U_WEIGHTS, 0.0, 1.0)


def _settled(k, n, log_r, log_q):
    """Where ``P(K >= k)`` is 0 or 1 to well within double precision, by Chernoff's bound.

    ``k, n`` per row (columns), ``log_r, log_q = log r, log(1 - r)`` per row and
    node. ``P(K >= k) <= exp(-n KL(k/n || r))`` for ``r < k/n`` and ``P(K < k) <=
    exp(-n KL((k-1)/n || r))`` for ``r > (k-1)/n``. Returns the masks (tail
    below 1e-25, tail above 1 - 1e-18).
    """
    k = np.asarray(k, float)[:, None]
    n = np.asarray(n, float)[:, None]

    def n_kl(j):  # n KL(j/n || r), elementwise
        a = np.clip(j / np.maximum(n, 1.0), 0.0, 1.0)
        return (special.xlogy(j, a) + special.xlogy(n - j, 1 - a)) - j * log_r - (n - j) * log_q

    zero = (k > 0) & (log_r < np.log(np.maximum(k / np.maximum(n, 1.0), 1e-300))) & (
        n_kl(k) > 57.6)
    one = (k <= 0) | ((log_r > np.log(np.maximum((k - 1) / np.maximum(n, 1.0), 1e-300)))
                      & (n_kl(k - 1) > 41.5))
    return zero, one


def _tail_window(k_top, width: int, n, rates) -> np.ndarray:
    """``P(K >= k_top - j)`` for ``j = 0 .. width`` per row (rows x (width + 1)).

    The lower counts add the mixture's pmf, walked down from ``P(K = k_top -
    1)`` by its ratio ``i (1 - r) / ((n - i + 1) r)`` (sums of positive terms).
    The tail at ``k_top`` itself is ``1 - P(K < k_top)`` (the same walk down
    to 0) where ``k_top <= 12``, else as by :func:`tail_pvalue_rows`. Both agree
    with :func:`tail_pvalue_rows` to about 1e-12 where the tail is 1e-4 or
    more (the range that decides a cut at ``p_cut``; 1 - P(K < k) loses the
    relative precision of much smaller tails). Counts ``<= 0`` give 1.
    """
    k_top = np.asarray(k_top, dtype=float)
    out = np.empty((len(k_top), width + 1))
    i0 = k_top - 1
    # log P(K = i0) = log C(n, i0) + i0 log r + (n - i0) log(1 - r); log C(n, i0) from
    # the pmf at its own mean (accurate to ~1e-14, unlike gammaln)
    ii = np.clip(i0, 0.0, n)
    lc = _log_choose(n, ii)
    r = np.clip(rates, 1e-300, 1.0 - 1e-16)
    pmf = np.log(r)
    pmf *= ii[:, None]
    inv_odds = np.log1p(-r)
    inv_odds *= (n - ii)[:, None]
    pmf += inv_odds
    pmf += lc[:, None]
    lost = pmf < -690.0  # underflow: P(K = i0) (and, above the mode, the tail) ~ 0
    np.exp(pmf, out=pmf)
    pmf[i0 < 0] = 0.0
    np.subtract(1.0, r, out=inv_odds)
    inv_odds /= r

    big = k_top > _WALK_MAX
    if big.any():
        # Boost's tail only where it is neither 0 nor 1 to double precision
        rb = r[big]
        zero, one = _settled(k_top[big], n[big], np.log(rb), np.log1p(-rb))
        sf = one.astype(float)
        need = ~(zero | one)
        shape = rb.shape
        sf[need] = binom_tail(np.broadcast_to(k_top[big, None], shape)[need],
                              np.broadcast_to(n[big, None], shape)[need], rates[big][need])
        out[big, 0] = sf @ U_WEIGHTS
    for lo, hi in ((0, 4), (4, _WALK_MAX)):  # P(K < k_top): P(K = i0) walked down to 0
        rows = (k_top > lo) & (k_top <= hi)
        if not rows.any():
            continue
        p = pmf[rows]
        below = p.copy()
        io, nw, i = inv_odds[rows], n[rows], i0[rows]
        for _ in range(hi - 1):
            p *= io
            p *= np.where(i > 0, i / np.maximum(nw - i + 1, 1.0), 0.0)[:, None]
            below += p
            i = i - 1
        sf = np.clip(1.0 - below, 0.0, 1.0)
        sf[lost[rows] & (i0[rows][:, None] >= (nw[:, None] + 1) * r[rows])] = 0.0
        out[rows, 0] = sf @ U_WEIGHTS
    for j in range(1, width + 1):
        out[:, j] = out[:, j - 1] + pmf @ U_WEIGHTS  # P(K >= k_top - j)
        i = k_top - j  # pmf at i - 1 from pmf at i
        pmf *= inv_odds
        pmf *= np.where(i > 0, i / np.maximum(n - i + 1, 1.0), 0.0)[:, None]
    kk = k_top[:, None] - np.arange(width + 1)
    return np.where(kk <= 0, 1.0, np.clip(out, 0.0, 1.0))


def _cut_kept(n, m, s, p_cut, prev, nu: float = np.inf) -> np.ndarray:
    """Rows whose cut is provably that of ``prev`` (a fit at nearby ``m``, ``s``).

    Each node's tail rises with its logit, which moved by at most ``delta =
    |dm| + |ds| max|z|``; so the new tail at ``k`` lies within ``delta`` times
    the largest slope of the old one over ``[m - delta, m + delta]``, at most
    ``k e^(n delta) P(K = k)`` (the binomial's ``dP(K >= k)/d logit = k P(K =
    k) (1 - r)``; the pmf changes by at most ``e^(n delta)`` there). Where the
    old tails at the cut and at cut + 1 stand further than that from
    ``p_cut`` (with a 1e-9 relative margin for their rounding), the cut stays.
    """
    keep = np.isfinite(prev["cut"]) & np.isfinite(prev["m"]) & np.isfinite(prev["s"])
    delta = np.abs(m - prev["m"]) + np.abs(s - prev["s"]) * float(np.max(np.abs(u_quantiles(nu))))
    grow = np.exp(np.minimum(n * delta, 50.0))
    cut, t_lo, t_hi = prev["cut"], prev["t_lo"], prev["t_hi"]
    lo_ok = t_lo * (1 - 1e-9) - delta * cut * grow * np.maximum(t_lo - t_hi, 0.0) >= p_cut
    hi_ok = t_hi * (1 + 1e-9) + 1e-300 + delta * (cut + 1) * grow * t_hi < p_cut
    return keep & lo_ok & hi_ok & (n * delta < 1.0)


def upper_cut(n, m, s, p_cut: float, *, start=None, prev=None, tails: bool = False,
              nu: float = np.inf):
    """Largest count ``k`` per row with upper tail ``P(K >= k) >= p_cut`` (single queue).

    Rows with a count above it have p < ``p_cut`` (see :func:`tail_pvalue_rows`).
    ``start`` (optional, per row; NaN where unknown): a guess, e.g. the cut of
    a previous, nearby fit. The tail falls with ``k``: it is evaluated on a
    window of counts around the guess (``start`` or a Cornish-Fisher quantile
    of the count's distribution), which holds the answer for nearly every row;
    the other rows gallop from the window's edge to a bracket and bisect it.
    The result is the one a bisection over ``[0, n]`` finds, at the cost of
    about one tail evaluation instead of ``log2(n)``.

    ``prev`` (optional): the ``tails`` record of an earlier call on the same
    rows (NaN where unknown); rows whose cut provably did not move since
    (:func:`_cut_kept`) are not evaluated again. ``tails``: also return that
    record (``m, s, cut`` and the tails at the cut and at cut + 1, ``t_lo, t_hi``).
    """
    n = np.asarray(n, dtype=float)
    m = np.asarray(m, dtype=float)
    s = np.asarray(s, dtype=float)
    lo = np.zeros(len(n))  # P(K >= 0) = 1 >= p_cut always
    hi = n + 1.0  # P(K >= n + 1) = 0 < p_cut
    t_lo, t_hi = np.ones(len(n)), np.zeros(len(n))
    todo = np.ones(len(n), dtype=bool)
    if prev is not None:
        kept = _cut_kept(n, m, s, p_cut, prev, nu)
        lo[kept], t_lo[kept], t_hi[kept] = prev["cut"][kept], prev["t_lo"][kept], prev["t_hi"][kept]
        hi[kept] = lo[kept] + 1
        todo = ~kept
    rec = {"m": m, "s": s, "cut": lo, "t_lo": t_lo, "t_hi": t_hi}
    if todo.any():
        sub = _upper_cut_rows(n[todo], m[todo], s[todo], p_cut,
                              None if start is None else np.asarray(start, float)[todo], nu)
        lo[todo], t_lo[todo], t_hi[todo] = sub
    return (lo, rec) if tails else lo


def _upper_cut_rows(n, m, s, p_cut, start, nu: float = np.inf):
    """:func:`upper_cut` of every row: the cut and the tails at it and at cut + 1 (in blocks
    of rows: the (rows x 240) temporaries of a block stay in the CPU cache)."""
    parts = [_upper_cut_block(n[lo:lo + _ROWS_240], m[lo:lo + _ROWS_240], s[lo:lo + _ROWS_240],
                              p_cut, None if start is None else start[lo:lo + _ROWS_240], nu)
             for lo in range(0, len(n), _ROWS_240)]
    return tuple(np.concatenate([q[i] for q in parts]) for i in range(3))


def _upper_cut_block(n, m, s, p_cut, start, nu: float = np.inf):
    """:func:`_upper_cut_rows` of one block of rows."""
    rates = special.expit(m[:, None] + s[:, None] * u_quantiles(nu))  # as tail_pvalue_rows
    guess = np.full(len(n), np.nan) if start is None else start.copy()
    cold = ~np.isfinite(guess)
    if cold.any():
        # Cornish-Fisher quantile from the count's first three moments (a guess:
        # the 24 Gauss-Hermite nodes are enough; for a t, its own rule)
        gz, gw = latent_rule(nu)
        r = special.expit(m[cold, None] + s[cold, None] * gz)
        mu_g = r * n[cold, None]
        k2_g = mu_g * (1 - r)
        mean = mu_g @ gw
        d = mu_g - mean[:, None]
        var = np.maximum((k2_g + d**2) @ gw, 1e-12)
        m3 = (k2_g * (1 - 2 * r) + 3 * k2_g * d + d**3) @ gw
        z = stats.norm.isf(p_cut)
        guess[cold] = np.floor(mean + np.sqrt(var) * (z + (z * z - 1) * m3 / var**1.5 / 6))
    lo = np.zeros(len(n))  # P(K >= 0) = 1 >= p_cut always
    hi = n + 1.0  # P(K >= n + 1) = 0 < p_cut
    t_lo, t_hi = np.ones(len(n)), np.zeros(len(n))  # the tails at lo and hi
    phase = np.zeros(len(n), dtype=np.int8)  # 1 gallop up, 2 gallop down, 3 bisect
    # windows of counts: a previous cut moves by one or two; the Cornish-Fisher
    # quantile is within [-3, +1] of the cut for 98% of rows (tail heavier than it)
    for rows, above, below in ((~cold, 2, 1), (cold, 2, 5)):
        if not rows.any():
            continue
        idx = slice(None) if rows.all() else np.flatnonzero(rows)
        k_top = np.clip(np.clip(guess[idx], 0.0, n[idx]) + above, 1.0, n[idx] + 1)
        width = above + below
        tail = _tail_window(k_top, width, n[idx], rates[idx])
        good = tail >= p_cut
        first = np.argmax(good, axis=1)  # the largest count of the window with tail >= p_cut
        at = np.arange(len(first))
        inside = good.any(axis=1) & ~good[:, 0]
        top = good[:, 0]
        lo[idx] = np.where(top, k_top, np.where(inside, k_top - first, lo[idx]))
        t_lo[idx] = np.where(top, tail[:, 0], np.where(inside, tail[at, first], t_lo[idx]))
        hi[idx] = np.where(top, hi[idx], np.where(inside, k_top - first + 1, k_top - width))
        t_hi[idx] = np.where(top, t_hi[idx], np.where(inside, tail[at, np.maximum(first - 1, 0)],
                                                      tail[:, width]))
        phase[idx] = np.where(top, 1, 2)
    act = hi - lo > 1
    step = np.full(len(n), 4.0)
    probe = np.where(phase == 1, lo + step, hi - step)
    while act.any():
        idx = np.flatnonzero(act)
        pr = np.where((probe[idx] <= lo[idx]) | (probe[idx] >= hi[idx]),
                      np.floor((lo[idx] + hi[idx]) / 2), probe[idx])
        tail = _tail_at(pr, n[idx], rates[idx])
        good = tail >= p_cut
        lo[idx] = np.where(good, pr, lo[idx])
        t_lo[idx] = np.where(good, tail, t_lo[idx])
        hi[idx] = np.where(good, hi[idx], pr)
        t_hi[idx] = np.where(good, t_hi[idx], tail)
        ph = phase[idx]
        ph = np.where(((ph == 1) & ~good) | ((ph == 2) & good), 3, ph)
        st = 2 * step[idx]
        nxt = np.where(ph == 1, lo[idx] + st, hi[idx] - st)
        phase[idx] = ph
        step[idx] = st
        probe[idx] = np.where(ph == 3, np.floor((lo[idx] + hi[idx]) / 2), nxt)
        act = hi - lo > 1
    return lo, t_lo, t_hi


def tail_pvalue(
    k_total: int, n, m, s, *, u_rand: float | None = None, approx_above: float | None = None,
    nu: float = np.inf,
) -> float:
    """P(T >= k_total), T = sum_q Binomial(n_q, expit(m_q + s_q z)), z ~ N(0, 1) shared
    (or Student t with ``nu`` degrees of freedom).

    With ``u_rand`` in [0, 1): the randomized value P(T > k) + u P(T = k).
    ``approx_above``: for several queues, return the normal approximation
    (moments integrated over ``z``) when it exceeds this value, and compute the
    exact sum (:func:`binomial_mixture_tail` at every ``z`` node) only below it; it only
    ever saves time on p-values too large to matter (never with ``u_rand``).
    """
    n = np.asarray(n, dtype=int)
    m = np.asarray(m, dtype=float)
    s = np.asarray(s, dtype=float)
    k_total = int(k_total)
    rates = np.clip(special.expit(m[None, :] + s[None, :] * u_quantiles(nu)[:, None]),
                    1e-300, 1 - 1e-16)  # (G, Q); a t's far nodes reach 0 and 1
    if len(n) == 1:
        r = rates[:, 0]
        p_ge = stats.binom.sf(k_total - 1, n[0], r)
        pge = float(np.clip(np.dot(U_WEIGHTS, p_ge), 0.0, 1.0))
        if u_rand is None:
            return pge
        peq = float(np.clip(np.dot(U_WEIGHTS, stats.binom.pmf(k_total, n[0], r)), 0.0, 1.0))
        return max(pge - peq, 0.0) + u_rand * peq
    total = int(n.sum())
    if k_total > total:
        return 0.0
    if u_rand is None and approx_above is not None:
        # cheap normal approximation; the exact sum is computed only where it matters
        mean_g = rates @ n
        mean = float(U_WEIGHTS @ mean_g)
        var = float(U_WEIGHTS @ ((rates * (1 - rates)) @ n) + U_WEIGHTS @ (mean_g - mean) ** 2)
        p_norm = float(stats.norm.sf((k_total - 0.5 - mean) / np.sqrt(max(var, 1e-12))))
        if p_norm > approx_above:
            return p_norm
    return binomial_mixture_tail(rates, n, U_WEIGHTS, k_total, u_rand)


def _binom_pmf_rows(n: int, r: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """P(X = x) for x = lo..hi, X ~ Binomial(n, r_g), for every row g of ``r`` (G x 1)."""
    hi = n if hi is None else hi
    x = np.arange(lo, hi + 1, dtype=float)
    lc = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return np.exp(lc[None, :] + x[None, :] * np.log(r) + (n - x)[None, :] * np.log1p(-r))


#: Up to this many terms a row-wise convolution is a loop of shifted products; above, FFT.
_DIRECT_CONV = 12


def _convolve_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise full convolution of two (G x .) arrays of pmfs."""
    m = a.shape[1] + b.shape[1] - 1
    if min(a.shape[1], b.shape[1]) <= _DIRECT_CONV:
        if a.shape[1] < b.shape[1]:
            a, b = b, a
        out = np.zeros((a.shape[0], m))
        for j in range(b.shape[1]):
            out[:, j : j + a.shape[1]] += a * b[:, j : j + 1]
        return out
    size = sp_fft.next_fast_len(m, real=True)
    out = sp_fft.irfft(sp_fft.rfft(a, size, axis=1) * sp_fft.rfft(b, size, axis=1), size, axis=1)
    return np.clip(out[:, :m], 0.0, None)


def binomial_mixture_tail(rates, n, weights, k_total: int, u_rand=None) -> float:
    """P(sum over queues of Binomial(n_q, rates[g, q]) >= k_total), integrated over nodes g.

    ``rates`` is (nodes x queues), ``weights`` the nodes' quadrature weights. With
    ``u_rand`` in [0, 1) the p-value is randomized within the atom at ``k_total``.

    At each node the sum is split into the largest queue ``L`` and the rest ``R``:
    ``P(L + R >= k) = sum_s P(R = s) P(L >= k - s)``. The pmf of ``R`` is the
    convolution of the other queues' pmfs (a few hundred terms where one queue
    carries most calls), and ``P(L >= j)`` is needed only for the ``n_R + 1``
    values of ``j`` that the sum reaches: the incomplete beta function above the
    window (``bdtrc``) plus the window's pmf summed from the top. The other
    queues are convolved directly when one of two pmfs is short, else by FFT,
    whose rounding bounds the absolute error (below 1e-15; tests compare with a
    direct convolution of scipy's binomials). The former FFT of the whole sum at
    every node cost about 4x as much and had an absolute error near 1e-12.

    Nodes whose share of the tail is below 1e-20 by Hoeffding's bound (a sum of
    independent Bernoullis with mean rate ``pbar`` exceeds ``k`` with probability
    at most ``exp(-N KL(k/N || pbar))``) are left out.
    """
    n = np.asarray(n, dtype=int)
    total = int(n.sum())
    k = int(k_total)
    if k > total:
        return 0.0
    rates = np.clip(np.asarray(rates, dtype=float), 1e-300, 1 - 1e-16)
    weights = np.asarray(weights, dtype=float)
    if k > 0:
        a = k / total
        pbar = np.clip(rates @ n / total, 1e-300, 1 - 1e-16)
        kl = special.xlogy(a, a / pbar) + special.xlogy(1 - a, (1 - a) / (1 - pbar))
        bound = np.where(pbar < a, -total * kl, 0.0)  # log P(T >= k) at most
        keep = np.log(np.maximum(weights, 1e-300)) + bound >= np.log(1e-20)
        if not keep.any():
            return 0.0
        rates, weights = rates[keep], weights[keep]
    big = int(np.argmax(n))
    nl = int(n[big])
    rl = rates[:, big : big + 1]
    pr = np.ones((rates.shape[0], 1))  # pmf of R, the other queues' sum, at 0..n_R
    for q in range(len(n)):
        if q != big and n[q] > 0:
            pr = _convolve_rows(pr, _binom_pmf_rows(int(n[q]), rates[:, q : q + 1]))
    nr = pr.shape[1] - 1
    # s >= k: L >= k - s is certain; s in k - nl .. k - 1: P(L >= k - s) from the window
    pge = pr[:, max(k, 0) :].sum(axis=1) if k <= nr else np.zeros(rates.shape[0])
    jlo, jhi = max(k - nr, 1), min(k, nl)
    if jlo <= jhi:
        pm = _binom_pmf_rows(nl, rl, jlo, jhi)
        above = special.bdtrc(jhi, nl, rl[:, 0])  # P(L > jhi)
        sf = np.cumsum(pm[:, ::-1], axis=1)[:, ::-1] + above[:, None]  # P(L >= j)
        pge = pge + (pr[:, k - np.arange(jlo, jhi + 1)] * sf).sum(axis=1)
    p_ge = float(np.clip(np.dot(weights, pge), 0.0, 1.0))
    if u_rand is None:
        return p_ge
    lo, hi = max(k - nr, 0), min(k, nl)
    peq = 0.0
    if lo <= hi:
        pm = _binom_pmf_rows(nl, rl, lo, hi)
        peq = float(np.clip(np.dot(weights, (pr[:, k - np.arange(lo, hi + 1)] * pm).sum(axis=1)),
                            0.0, 1.0))
    return max(p_ge - peq, 0.0) + u_rand * peq


def tail_pvalue_rows(k, n, m, s, nu: float = np.inf) -> np.ndarray:
    """Vectorised single-queue :func:`tail_pvalue` (no randomization), one per row."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    r = special.expit(np.asarray(m, float)[:, None] + np.asarray(s, float)[:, None]
                      * u_quantiles(nu))
    p = binom_tail(k[:, None], n[:, None], r)
    return np.clip(p @ U_WEIGHTS, 0.0, 1.0)
