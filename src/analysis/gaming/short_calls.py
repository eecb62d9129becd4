"""Short calls and hang-ups: checks ``short_calls_peer``, ``short_calls_trend``, ``short_calls_change``.

An agent who hangs up on callers (or releases calls at once) to lower average
handle time or raise calls handled leaves a trace: more handled calls with a
talk time under a few seconds than the agent's peers, than the agent's own
earlier months, and a drop when management steps in.

``short_calls_peer`` (agent against peers, per period)
    Null model: a random-intercept logistic model. Honest agents differ in
    their natural short-call odds, so agent ``i``'s rate in queue ``q`` is
    ``expit(m_q + s_q z_i)`` with one latent ``z_i ~ N(0, 1)`` shared by all the
    agent's queues. ``m_q`` makes the mean rate equal to the pooled rate of the
    *other* agents of the queue x period cell (and shift, where the roster gives
    one); ``s_q`` is the queue's between-agent SD, fitted by maximum likelihood
    over all its months (:mod:`._logitnorm`) and widened by the noise of the
    peer mean. Rows extreme against their null (p < ``trim_p`` = 0.003, from a
    robust median/MAD start, iterated until stable) are left out of the peer
    means, and the spread is fitted by the likelihood of the kept rows
    truncated at each row's trimming point, so trimming does not narrow the
    null (small queues) and gamers hide neither themselves nor each other
    (three of 40 gamers at 15% hang-ups: recall after BH 0.45 with the former
    1e-4 re-admission, 0.85 now; see ``benchmarks/results/gaming_power.md``).
    A pooled binomial is not used: it counts between-agent variation as
    evidence and is miscalibrated (``methods.md``); a beta mixing distribution
    was slightly anti-conservative (6-7% at 5%) on worlds whose agents differ
    by odds ratios, the logit-normal was not.
    Agents who take several queues: the total short calls is compared with the
    sum over queues integrated over the *one* latent ``z`` (exactly the mixed
    model's null; Fisher or Stouffer combinations of per-queue tests would
    assume a naturally quick agent is not quick in every queue).
    Heavy tails (option ``short_tails``): ``z`` may be Student t with ``nu`` in
    3, 5, 10, 30 instead of normal. Where honest agents' propensities are
    heavy-tailed (a few naturally quick agents at three to five times the
    median), the normal puts them at p < .001 far too often (issue #13: 17x
    nominal on 20-day messy worlds of 200 agents). ``nu`` is chosen from the
    *lower* half of every cell (rows above the cell's median rate censored,
    :func:`._logitt.choose_nu_lower`): hang-ups only raise a count, so gamers
    cannot make the null heavy and hide in it. ``auto`` (default) keeps the
    normal unless those lower halves reject it (likelihood ratio above 1.92,
    chi2_1(.95) / 2) and then takes the heaviest ``nu`` within 1.92 of the
    best; ``logit-t`` always takes that heaviest ``nu`` (0.5x nominal at .001 on
    the 20-day worlds above, 2x on 61-day ones; the price is power where the
    spread is in fact normal, since 200 agents rarely tell t5 from normal);
    ``normal`` the former null. The note says which was used. A lower tail
    is not an upper tail: a skewed spread (the logit of a beta with a long
    lower tail) can look heavy below and be light above, which makes the
    null conservative, never lenient.

``short_calls_trend`` (agent against their own earlier periods)
    Null model: the agent's short-call rate relative to the center's is
    constant over time, give or take the honest drift (learning, tenure). With
    ``E_t`` the agent's calls weighted by the center's factor for the period
    (median over agents of their rate relative to their own overall rate, per
    queue: absorbs queue mix and center-wide swings) and ``E_b`` the same over
    the earlier periods, ``k_t`` given ``k_t + k_b`` is BetaBinomial with mean
    ``E_t / (E_t + E_b)`` (conditional test of two rates; Przyborowski &
    Wilenski 1940) and a precision fitted across agents on the rows within
    2.5 robust SDs. No honest drift: a binomial test, full power (methods.md:
    2% hang-ups on 2,000 calls: recall 0.85 against 0.01 for peers). It cannot
    see an agent who gamed from their first period on; the peer test can.

``short_calls_change`` (agents who moved with a center-wide change)
    When the center's daily short-call rate changes (a crackdown, a new
    target), the agents whose own rate moved far more than the center's are
    the ones whose behaviour changed: see :func:`check_short_calls_change`.

Columns needed: ``agent_id``, ``queue``, ``talk_s``, ``outcome``, ``answer_ts`` or
``arrival_ts``. ``ended_by`` (optional): where it has data, only short calls
the *agent* ended are counted (``short_use_ended_by``, default True), which
removes callers who hang up at once and sharpens both tests.

What they cannot see: hang-ups after the threshold (an agent who waits 25 s
before hanging up when the threshold is 20 s: lower ``short_call_s`` or use
``auto``); gaming shared evenly by every peer in a queue (the peer test's null
absorbs it; the trend test and the change points of the daily short-call rate
still see its start or end); agents with fewer than ``min_calls`` calls in a
period, or fewer than ``min_peers`` peers in every queue they took.

Options: ``short_call_s`` (seconds or ``auto``), ``min_calls`` (30),
``min_peers`` (5), ``short_use_ended_by`` (True), ``short_tails`` (``auto``,
``normal`` or ``logit-t``), ``trend_baseline``
(``earlier`` or ``other``: all of the agent's other periods), ``randomized``
(False; randomized p-values, for calibration studies), ``seed``.

References
----------
Brown, L., Gans, N., Mandelbaum, A., Sakov, A., Shen, H., Zeltyn, S. & Zhao, L.
(2005). Statistical analysis of a telephone call center: a queueing-science
perspective. *JASA* 100(469), 36-50 (the spike of very short service times).
Gans, N., Koole, G. & Mandelbaum, A. (2003). Telephone call centers: tutorial,
review, and research prospects. *M&SOM* 5(2), 79-141.
Skellam (1948); Griffiths (1973) (beta-binomial). Dhaene, J., Denuit, M.,
Goovaerts, M., Kaas, R. & Vyncke, D. (2002). The concept of comonotonicity in
actuarial science and finance: theory. *Insurance: Math. Econ.* 31, 3-33.
Przyborowski, J. & Wilenski, H. (1940). Homogeneity of results in testing
samples from Poisson series. *Biometrika* 31, 313-323.
Lange, K. L., Little, R. J. A. & Taylor, J. M. G. (1989). Robust statistical
modeling using the t distribution. *JASA* 84(408), 881-896.
Klein, J. P. & Moeschberger, M. L. (2003). *Survival Analysis*, 2nd ed.,
ch. 3 (likelihoods of censored observations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext
from ._betabinom import betabinom_pvalue, fit_precision, predictive_ab
from ._context import HANDLED_SQL, opt
from ._logitnorm import (
    U_WEIGHTS,
    binom_tail,
    binomial_mixture_tail,
    fit_sigma,
    gl_panels,
    predictive_scale,
    solve_location,
    tail_pvalue,
    u_quantiles,
    upper_cut,
)
from ._logitt import NU_GRID, choice_rows, choose_nu_lower, decide_nu
from ._sigutil import cached_df, period_sql

__all__ = [
    "short_call_counts",
    "short_calls_peer_table",
    "short_calls_trend_table",
    "choose_latent_nu",
    "comonotone_rates",
    "comonotone_sum_pvalue",
    "check_short_calls_peer",
    "check_short_calls_trend",
    "check_short_calls_change",
    "center_short_changepoints",
]

# U-grid for the comonotone integral: Gauss-Legendre panels that get finer
# towards U = 1, where the upper tail of the sum lives.
_EDGES = np.concatenate([[0.0, 0.5], 1.0 - np.logspace(-1, -14, 14), [1.0]])


_U, _W = gl_panels(_EDGES)


def comonotone_rates(a, b) -> np.ndarray:
    """``F^-1(U)`` of Beta(a_c, b_c) at the U nodes of the comonotone integral (nodes x cells).

    Cells that share ``(a, b)`` (agents who keep their queue's all-agents fit)
    are computed once: the inverse incomplete beta is the costly part.
    """
    ab = np.stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)], axis=1)
    uniq, inv = np.unique(ab, axis=0, return_inverse=True)
    r = special.betaincinv(uniq[None, :, 0], uniq[None, :, 1], _U[:, None])
    return r[:, np.ravel(inv)]


def comonotone_sum_pvalue(
    k_total: int, n, a, b, *, u_rand: float | None = None, rates: np.ndarray | None = None
) -> float:
    """P(T >= k_total) for T = sum_q Binomial(n_q, F_q^-1(U)), U ~ Uniform(0, 1).

    ``F_q`` is the Beta(a_q, b_q) distribution function. One queue: the
    beta-binomial upper tail. ``u_rand`` in [0, 1) gives the randomized value
    P(T > k) + u_rand * P(T = k) instead. ``rates``: the queues' columns of
    :func:`comonotone_rates` when the caller has them already.
    """
    n = np.asarray(n, dtype=int)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    k_total = int(k_total)
    if len(n) == 1:
        p_ge = float(betabinom_pvalue(k_total, n[0], a[0], b[0])[()])
        if u_rand is None:
            return p_ge
        p_gt = float(betabinom_pvalue(k_total + 1, n[0], a[0], b[0])[()]) if k_total < n[0] else 0.0
        return p_gt + u_rand * (p_ge - p_gt)
    total = int(n.sum())
    if k_total > total:
        return 0.0
    # rates of every queue at every U node, then the binomial pmfs (G x (n_q + 1))
    if rates is None:
        rates = special.betaincinv(a[None, :], b[None, :], _U[:, None])
    return binomial_mixture_tail(rates, n, _W, k_total, u_rand)


def short_call_counts(ctx: GamingContext) -> tuple[pd.DataFrame, str]:
    """Handled and short calls per agent x period x queue, aggregated in DuckDB.

    Returns
    -------
    (DataFrame, event description). Columns ``agent_id, period, queue, n, k``
    (``k``: short calls, agent-ended where ``ended_by`` is used), sorted.
    """
    s = float(opt(ctx, "short_call_s"))
    use_eb = "ended_by" in ctx.columns and bool(opt(ctx, "short_use_ended_by") is not False)
    cond = f"talk_s < {s!r}" + (" AND ended_by = 'agent'" if use_eb else "")
    per = period_sql(ctx)
    # the peer and the trend checks share it: one scan per run
    df = cached_df(
        ctx,
        f"""SELECT CAST(agent_id AS STRING) AS agent_id, {per} AS period,
                   CAST(queue AS STRING) AS queue, count(*) AS n,
                   count(*) FILTER (WHERE {cond}) AS k
            FROM calls WHERE {HANDLED_SQL}
            GROUP BY ALL ORDER BY agent_id, period, queue""",
    )
    df["n"] = df["n"].astype(int)
    df["k"] = df["k"].astype(int)
    what = f"calls under {s:g} s" + (" ended by the agent" if use_eb else "")
    return df, what


def _shift_of(ctx: GamingContext) -> dict | None:
    r = ctx.roster
    if r is None or "shift" not in getattr(r, "columns", ()) or "agent_id" not in r.columns:
        return None
    r = r.dropna(subset=["shift"])
    if r.empty:
        return None
    return dict(zip(r["agent_id"].astype(str), r["shift"].astype(str), strict=True))


def _peer_cells(c: pd.DataFrame, trimmed: np.ndarray, min_peers: int):
    """Leave-one-out peer mean rate of every agent x cell row and its noise terms.

    Returns ``mean, scale, extra, ok, peers``: the pooled rate of the other
    (untrimmed) agents of the cell; ``scale = 1 + sum n_j^2 / (sum n_j)^2`` (the
    agent's own spread plus that of an n-weighted average of peers); ``extra``
    the binomial noise of the pooled rate on the logit scale; whether the row
    has ``min_peers`` peers; how many.
    """
    keep = ~trimmed
    kk = np.where(keep, c["k"].to_numpy(float), 0.0)
    nn = np.where(keep, c["n"].to_numpy(float), 0.0)
    tab = pd.DataFrame({"cell": c["cell"].to_numpy(), "k": kk, "n": nn, "n2": nn**2,
                        "m": keep.astype(float)})
    tot = tab.groupby("cell", sort=False)[["k", "n", "n2", "m"]].transform("sum")
    k_o = tot["k"].to_numpy() - kk
    n_o = tot["n"].to_numpy() - nn
    n2_o = tot["n2"].to_numpy() - nn**2
    m_o = np.rint(tot["m"].to_numpy() - keep).astype(int)
    ok = (m_o >= min_peers) & (n_o > 0)
    mean = (k_o + 0.5) / (np.maximum(n_o, 0) + 1.0)
    scale = 1.0 + np.where(n_o > 0, n2_o / np.maximum(n_o, 1.0) ** 2, 1.0)
    extra = 1.0 / (np.maximum(n_o, 1.0) * mean * (1 - mean))
    return mean, scale, extra, ok, m_o


def _robust_start(k, n, cell, z_cut: float = 2.5) -> np.ndarray:
    """Rows whose empirical logit is far above their cell's median (robust z > ``z_cut``).

    The robust scale is the MAD of the logits around the cell medians, pooled
    over all cells; only a starting point for the trimming (rows are
    re-admitted once the spread is fitted without them).
    """
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    lg = np.log((k + 0.5) / (n - k + 0.5))
    med = pd.Series(lg).groupby(cell).transform("median").to_numpy()
    r = lg - med
    mad = 1.482602218505602 * np.median(np.abs(r - np.median(r)))
    if not np.isfinite(mad) or mad <= 0:
        return np.zeros(len(k), dtype=bool)
    return r > z_cut * mad


def short_calls_peer_table(
    counts: pd.DataFrame,
    *,
    min_calls: int = 30,
    min_peers: int = 5,
    min_cell: int = 10,
    shift: dict | None = None,
    trim_p: float = 0.003,
    randomized: bool = False,
    seed: int | None = None,
    tails: str = "auto",
) -> pd.DataFrame:
    """Agent against peers: one row per agent x period.

    The null is a random-intercept logistic model: agent ``i``'s short-call
    rate in queue ``q`` is ``expit(m_q + s_q z_i)``, ``z_i ~ N(0, 1)`` shared by
    all the agent's queues (:mod:`._logitnorm`). ``m_q`` is set so the mean
    rate equals the pooled rate of the *other* agents of the queue x period
    cell (leave-one-out); ``s_q`` is the queue's between-agent SD (one per
    queue, fitted by maximum likelihood over all its months), widened by the
    noise of the peer mean. The agent's total short calls over their queues is
    compared with the sum of binomials integrated over the one latent ``z``
    (for one queue: a logit-normal-binomial tail). Agent x cell rows extreme
    against their null (p < ``trim_p``) are left out of the peer means and of
    ``s_q``, and everything is refitted until the trimmed set is stable (at
    most six passes); ``s_q`` is the maximum of the likelihood of the kept
    rows truncated at their trimming points (:func:`._logitnorm.fit_sigma`'s
    ``k_max``), so trimming honest rows does not shrink the spread, and a few
    gamers hide neither themselves nor others.

    Parameters
    ----------
    counts
        ``agent_id, period, queue, n, k`` (from :func:`short_call_counts`).
    min_calls
        Fewest calls (in tested queues) for an agent x period row to be tested.
    min_peers
        Fewest peers (other agents with ``min_cell`` calls) for a queue x period
        cell to be tested.
    min_cell
        An agent's calls in a queue count as a peer observation (and are
        tested) only from this many calls on.
    shift
        Optional ``agent_id -> shift``: peers are then the same queue and shift,
        where that leaves cells of at least 12 agents (median); else queue only
        (``attrs["by_shift"]`` says which).
    trim_p
        Threshold for leaving extreme rows out of the peer fits (0: no
        trimming). 0.003 keeps the 0.01/0.05/0.1 rejection rates of honest
        worlds (12 to 40 agents) within sampling error; 0.01 was slightly
        anti-conservative on worlds whose agents drift.
    randomized
        Randomized p-values (exactly uniform under the null; for studies).
    tails
        The latent's shape: ``auto`` (Student t with ``nu`` in
        :data:`._logitt.NU_GRID`, ``inf`` being the normal, chosen by the
        likelihood of each cell's *lower* half, :func:`choose_latent_nu`),
        ``normal`` or ``logit-t`` (a finite ``nu`` chosen the same way).

    Returns
    -------
    DataFrame with ``agent_id, period, n, k, expected, p_value, peers, queues``:
    ``expected`` is the short-call count the peer null expects; ``peers`` the
    smallest number of peers behind any of the agent's queues; ``queues`` the
    tested queues. ``attrs["sigma"]``: the between-agent scale per queue;
    ``attrs["nu"]``: the latent's degrees of freedom (``inf``: normal).
    """
    rng = np.random.default_rng(seed)
    cols = ["agent_id", "period", "n", "k", "expected", "p_value", "peers", "queues"]
    c = counts[counts["n"] >= min_cell].reset_index(drop=True).copy()
    if c.empty:
        return pd.DataFrame(columns=cols)
    c["group"] = c["queue"].astype(str)
    used_shift = False
    if shift:
        g2 = c["group"] + " / " + c["agent_id"].map(shift).fillna("?")
        sizes = g2.groupby([c["period"], g2]).size()
        # shifts split peers: only where the cells stay big enough to fit a spread
        if float(sizes.median()) >= 12:
            c["group"] = g2
            used_shift = True
    c["cell"] = c["period"].astype(str) + "\x1f" + c["group"]
    k_arr, n_arr = c["k"].to_numpy(), c["n"].to_numpy()
    groups = c.groupby("group", sort=False).indices
    nu = choose_latent_nu(k_arr, n_arr, c["cell"].to_numpy(), tails)

    group_rows = list(groups.items())
    # A queue's fit depends only on its own rows' trimming and truncation points:
    # when they repeat an earlier pass's, that pass's spread, null and cuts are
    # reused (the trimmed set of a queue can alternate between two states).
    memo: dict = {}
    grids: dict = {}  # queue -> its last fit's grid of likelihoods (fit_sigma's info)

    def fit(trimmed, k_max=None):
        mean, scale, extra, ok, m_o = _peer_cells(c, trimmed, min_peers)
        fit_rows = ok & ~trimmed
        glob = []

        def center_wide():  # a queue with few rows borrows the center-wide spread
            if not glob:
                km = None if k_max is None else k_max[fit_rows]
                glob.append(fit_sigma(k_arr[fit_rows], n_arr[fit_rows], mean[fit_rows],
                                      scale=scale[fit_rows], extra=extra[fit_rows], k_max=km,
                                      nu=nu))
            return glob[0]

        sig = np.empty(len(c))
        sigma, entries, new = {}, {}, {}  # entries: queues whose fit is reused
        for g, idx in group_rows:
            sel = idx[fit_rows[idx]]
            if len(sel) >= 20:
                key = (g, trimmed[idx].tobytes(), None if k_max is None else k_max[idx].tobytes())
                if key in memo:
                    entries[g] = memo[key]
                    sigma[g] = entries[g]["sigma"]
                else:
                    # the previous pass's grid spares most of this pass's
                    info = grids.setdefault(g, {})
                    sigma[g] = fit_sigma(k_arr[sel], n_arr[sel], mean[sel], scale=scale[sel],
                                         extra=extra[sel],
                                         k_max=None if k_max is None else k_max[sel],
                                         info=info, nu=nu)
                    new[g] = key
            else:
                sigma[g] = center_wide()
            sig[idx] = sigma[g]
        s = predictive_scale(sig, scale, extra)
        loc = solve_location(mean, s, nu=nu)
        for g, e in entries.items():
            loc[groups[g]] = e["loc"]
        for g, key in new.items():
            memo[key] = {"sigma": sigma[g], "loc": loc[groups[g]]}
        return mean, ok, m_o, s, loc, sigma

    # Robust schedule: gamers widen the fitted spread (and raise the peer mean)
    # and hide behind it, so start without rows far above their cell on a
    # robust (median/MAD) scale; then, until the set is stable, leave out every
    # row with p < trim_p against the current null and refit the spread by the
    # *truncated* likelihood of the rows kept (each kept row conditioned on its
    # count being at most the largest count with p >= trim_p, fit_sigma's
    # k_max). The truncation keeps the fit consistent for honest agents, so a
    # small queue's spread does not collapse towards a binomial however many
    # honest rows fall in the trimmed 1%; and gamers with p of a few percent
    # against a contaminated null (three of 20 agents) are left out of it.
    # A row's p < trim_p exactly when its count exceeds that largest count (the
    # tail falls with k), so the cut alone decides the trimming; each pass
    # starts from the previous pass's cuts.
    trimmed = _robust_start(k_arr, n_arr, c["cell"].to_numpy()) if trim_p > 0 else (
        np.zeros(len(c), dtype=bool))
    mean, ok, m_o, s, loc, sigma = fit(trimmed)
    if trim_p > 0:
        # each row's cut with the null it was computed under (rows whose null
        # barely moved keep it where that provably leaves it unchanged)
        rec = {key: np.full(len(c), np.nan) for key in ("m", "s", "cut", "t_lo", "t_hi")}
        for it in range(6):
            if ok.any():
                _, new_rec = upper_cut(n_arr[ok], loc[ok], s[ok], trim_p, start=rec["cut"][ok],
                                       prev={key: v[ok] for key, v in rec.items()}, tails=True,
                                       nu=nu)
                for key, v in new_rec.items():
                    rec[key][ok] = v
            cut = rec["cut"]
            strict = ok & (k_arr > np.where(ok, cut, np.inf))
            if it > 0 and np.array_equal(strict, trimmed):
                break
            trimmed = strict
            k_max = np.where(ok, cut, n_arr).astype(float)
            mean, ok, m_o, s, loc, sigma = fit(trimmed, k_max)
    c["loc"], c["s"], c["mu"], c["peers"] = loc, s, mean, m_o
    c = c[ok].sort_values(["agent_id", "period", "queue"], kind="stable")
    out = _agent_period_pvalues(c, min_calls, rng if randomized else None, nu)
    out.attrs["sigma"] = sigma
    out.attrs["by_shift"] = used_shift
    out.attrs["nu"] = nu
    return out


#: Largest number of agent x cell rows the latent's shape is chosen on (whole cells at random).
CHOICE_ROWS = 1024
#: Cells with fewer rows take no part in the choice.
CHOICE_MIN_CELL = 10
#: The heaviest tail whose likelihood is within this of the best is taken (a 95 %
#: likelihood-ratio set for one parameter: chi2_1(.95) / 2).
NU_MARGIN = 1.92


def choose_latent_nu(k, n, cell, tails: str = "auto") -> float:
    """The latent's degrees of freedom for a peer table (``inf``: logit-normal).

    Each ``nu`` of :data:`._logitt.NU_GRID` is scored by the likelihood of the
    cells' *lower* halves under a logit-t-binomial with a location and scale
    per cell (rows above their cell's median rate censored:
    :func:`._logitt.choose_nu_lower`). Hang-ups only ever raise a count, so the
    gamers cannot make the null heavy-tailed and hide themselves; honest agents
    whose propensities are heavy-tailed show it on both sides. ``auto`` keeps
    the normal unless the best ``nu`` beats it by more than :data:`NU_MARGIN`
    (a likelihood-ratio test at 5 %), and then takes the heaviest ``nu`` within
    :data:`NU_MARGIN` of the best: 200 agents rarely tell t3 from t30, and the
    lighter of two plausible tails is the one that flags honest agents.
    ``logit-t``: that heaviest ``nu`` among the finite ones, always; ``normal``:
    ``inf``. On up to :data:`CHOICE_ROWS` rows of whole cells of at least
    :data:`CHOICE_MIN_CELL` rows (fewer than 20 rows in all: the normal, or t3
    under ``logit-t``).
    """
    if tails == "normal":
        return np.inf
    if tails not in ("auto", "logit-t"):
        raise ValueError(f"tails must be auto, normal or logit-t, not {tails!r}")
    k, n, grp = choice_rows(k, n, cell, min_group=CHOICE_MIN_CELL, max_rows=CHOICE_ROWS)
    if len(k) < 20:  # too few rows to tell a tail: the normal
        return np.inf if tails == "auto" else NU_GRID[0]
    grid = NU_GRID if tails == "auto" else tuple(v for v in NU_GRID if np.isfinite(v))
    _, ll = choose_nu_lower(k, n, grp, grid)
    return decide_nu(ll, auto=tails == "auto", reject=NU_MARGIN, margin=NU_MARGIN)


#: Values of the ``short_tails`` option (:func:`choose_latent_nu`).
TAILS = ("auto", "normal", "logit-t")


def latent_note(nu: float, tails: str = "auto") -> str:
    """The run's note on the latent's shape."""
    how = "chosen by the likelihood of each cell's lower half" if tails == "auto" else (
        f"forced by option short_tails={tails}")
    if not np.isfinite(nu):
        return f"between-agent spread: logit-normal ({how})"
    return f"between-agent spread: heavy-tailed, Student t with {nu:g} df on the logit scale ({how})"


def _agent_period_pvalues(c: pd.DataFrame, min_calls: int, rng,
                          nu: float = np.inf) -> pd.DataFrame:
    """One row per agent x period of ``c`` (sorted by agent, period, queue): the peer test.

    ``c`` holds each tested agent x queue row's null (``loc``, ``s``), peer mean
    ``mu`` and ``peers``. One queue: the logit-normal-binomial tail, all rows
    at once. Several queues: :func:`._logitnorm.tail_pvalue` of the total (its
    normal approximation, computed here for all rows at once, where it is
    above 0.05; the exact sum elsewhere). ``rng``: randomized p-values, one
    uniform per tested row in order.
    """
    cols = ["agent_id", "period", "n", "k", "expected", "p_value", "peers", "queues"]
    agent = c["agent_id"].astype(str).to_numpy()
    period = c["period"].astype(str).to_numpy()
    if len(c) == 0:
        return pd.DataFrame(columns=cols)
    new = np.ones(len(c), dtype=bool)
    new[1:] = (agent[1:] != agent[:-1]) | (period[1:] != period[:-1])
    starts = np.flatnonzero(new)
    size = np.diff(np.append(starts, len(c)))
    n = c["n"].to_numpy(float)
    k = c["k"].to_numpy(float)
    n_tot = np.add.reduceat(n, starts)
    k_tot = np.add.reduceat(k, starts)
    keep = n_tot >= min_calls
    u = rng.uniform(size=int(keep.sum())) if rng is not None else None
    u_of = np.full(len(starts), np.nan)
    if u is not None:
        u_of[keep] = u
    loc = c["loc"].to_numpy(float)
    sd = c["s"].to_numpy(float)
    uz = u_quantiles(nu)
    p = np.full(len(starts), np.nan)
    # one queue: the single-queue tail of every such row at once
    one = keep & (size == 1)
    if one.any():
        r0 = starts[one]
        # a t's far nodes give rates of exactly 0 or 1, where Boost's pmf overflows
        rates = np.clip(special.expit(loc[r0][:, None] + sd[r0][:, None] * uz), 1e-300,
                        1 - 1e-16)
        pge = np.clip(binom_tail(k_tot[one][:, None], n_tot[one][:, None], rates)
                      @ U_WEIGHTS, 0.0, 1.0)
        if u is None:
            p[one] = pge
        else:
            peq = np.clip(stats.binom.pmf(k_tot[one][:, None], n_tot[one][:, None], rates)
                          @ U_WEIGHTS, 0.0, 1.0)
            p[one] = np.maximum(pge - peq, 0.0) + u_of[one] * peq
    # several queues: the normal approximation first (it is kept above 0.05)
    many = keep & (size > 1)
    exact = many.copy()
    if many.any() and u is None:
        idx = np.flatnonzero(many)
        for lo in range(0, len(idx), 128):  # blocks: the (rows x 240) arrays stay in cache
            j = idx[lo:lo + 128]
            rows = np.concatenate([np.arange(a, a + m) for a, m in zip(starts[j], size[j],
                                                                       strict=True)])
            rates = special.expit(loc[rows][:, None] + sd[rows][:, None] * uz)
            st = np.concatenate([[0], np.cumsum(size[j])[:-1]])
            nn = n[rows][:, None]
            mean_g = np.add.reduceat(rates * nn, st, axis=0)  # (agent x periods, nodes)
            rates *= 1 - rates
            rates *= nn
            bvar_g = np.add.reduceat(rates, st, axis=0)
            mean = mean_g @ U_WEIGHTS
            var = bvar_g @ U_WEIGHTS + (mean_g - mean[:, None]) ** 2 @ U_WEIGHTS
            p_norm = stats.norm.sf((k_tot[j] - 0.5 - mean) / np.sqrt(np.maximum(var, 1e-12)))
            big = p_norm > 0.05
            p[j[big]] = p_norm[big]
            exact[j[big]] = False
    for j in np.flatnonzero(exact):
        sl = slice(starts[j], starts[j] + size[j])
        p[j] = tail_pvalue(int(k_tot[j]), n[sl].astype(int), loc[sl], sd[sl],
                           u_rand=None if u is None else float(u_of[j]), nu=nu)
    queue = c["queue"].astype(str).to_numpy()
    out = pd.DataFrame({
        "agent_id": agent[starts], "period": period[starts],
        "n": n_tot.astype(int), "k": k_tot.astype(int),
        "expected": np.add.reduceat(n * c["mu"].to_numpy(float), starts),
        "p_value": p,
        "peers": np.minimum.reduceat(c["peers"].to_numpy(), starts).astype(int),
        "queues": [", ".join(queue[a:a + m]) for a, m in zip(starts, size, strict=True)],
    })
    return out[keep].reset_index(drop=True)[cols]


#: Share of a normal's variance left after trimming beyond +-2.5 SD.
_TRIM_VAR_2_5 = 1.0 - 2 * 2.5 * 0.017528300493568537 / (1 - 2 * 0.006209665325776132)


def _wmedian(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x)
    cw = np.cumsum(w[o])
    return float(x[o][np.searchsorted(cw, 0.5 * cw[-1])])


def _center_factors(counts: pd.DataFrame, keep: np.ndarray) -> pd.Series:
    """The center's short-call rate per queue and period, relative, for the same agents.

    For every agent x queue the rate of each period is divided by the agent's
    own rate in that queue over all periods; the factor of a queue x period is
    the median of these ratios over agents (log scale, weighted by sqrt(calls)).
    A median, unlike a pooled Poisson fixed-effects fit, is not carried by the
    few agents with the most short calls, so gamers who start or stop together
    do not become "the center's change" (Anonymous Bank 1999: a third of the
    short calls came from one agent).
    """
    d = counts[keep]
    d = d[d["n"] > 0]
    key_aq = d["agent_id"].astype(str) + "\x1f" + d["queue"].astype(str)
    tot = d.groupby(key_aq)[["k", "n"]].transform("sum")
    nper = d.groupby(key_aq)["period"].transform("nunique")
    own = (tot["k"] + 0.5) / (tot["n"] + 1.0)
    lr = np.log(((d["k"] + 0.5) / (d["n"] + 1.0)) / own)
    sel = (nper >= 2).to_numpy()
    qp = (d["queue"].astype(str) + "\x1f" + d["period"].astype(str)).to_numpy()
    out = {}
    for key in np.unique(qp):
        m = (qp == key) & sel
        out[key] = float(np.exp(_wmedian(lr.to_numpy()[m], np.sqrt(d["n"].to_numpy()[m]))))\
            if m.any() else 1.0
    f = pd.Series(out)
    # the level is arbitrary (ratios cancel in the test); anchor at the pooled rate
    return f


def short_calls_trend_table(
    counts: pd.DataFrame,
    *,
    min_calls: int = 30,
    baseline: str = "earlier",
    adjust: bool = True,
    trim_p: float = 0.005,
    randomized: bool = False,
    seed: int | None = None,
) -> pd.DataFrame:
    """Agent against their own earlier (or other) periods: one row per agent x period.

    ``k_t`` given ``k_t + k_b`` is compared with BetaBinomial(k_t + k_b, A pi, A (1 - pi)),
    ``pi = E_t / (E_t + E_b)``, where ``E`` are the agent's calls weighted by the
    center's short-call factor per queue and period (median over agents of
    their rate relative to their own overall rate, :func:`_center_factors`). The precision ``A`` is fitted across all
    agents (:func:`._betabinom.fit_precision`): it is infinite (a binomial
    test, full power) when honest agents keep their level over time, and
    finite when they drift (learning, tenure), which keeps the test calibrated.
    Extreme rows (p < ``trim_p``) are left out of the center rates and of ``A``
    and everything is refitted once.

    Parameters
    ----------
    counts
        ``agent_id, period, queue, n, k``.
    baseline
        ``earlier``: all of the agent's earlier periods; ``other``: all other
        periods (before and after).
    adjust
        Weight by the center's rate per queue and period (absorbs queue mix and
        center-wide swings); False: plain comparison of the agent's rates.

    Returns
    -------
    DataFrame with ``agent_id, period, n, k, n_base, k_base, expected, p_value,
    base_periods``; ``expected`` is the short calls this period at the agent's
    own baseline rate (center-adjusted). ``attrs["precision"]`` holds ``A``.
    """
    if baseline not in ("earlier", "other"):
        from ..errors import ConfigError

        raise ConfigError(f"trend_baseline: {baseline!r} is not 'earlier' or 'other'")
    rng = np.random.default_rng(seed)
    cols = ["agent_id", "period", "n", "k", "n_base", "k_base", "expected", "p_value",
            "base_periods"]
    counts = counts.reset_index(drop=True)
    key_ap = pd.MultiIndex.from_frame(counts[["agent_id", "period"]].astype(str))
    excluded = np.zeros(len(counts), dtype=bool)
    for _pass in range(3):
        if adjust:
            rate = _center_factors(counts, ~excluded)
            key = counts["queue"].astype(str) + "\x1f" + counts["period"].astype(str)
            pooled = float(counts["k"].sum() / max(counts["n"].sum(), 1))
            r = key.map(rate).fillna(pooled).to_numpy(float)
        else:
            r = np.ones(len(counts))
        ap = (counts.assign(e=counts["n"].to_numpy() * r)
              .groupby(["agent_id", "period"], sort=True)[["n", "k", "e"]].sum().reset_index())
        t = _baselines(ap, baseline, min_calls)
        if t.empty:
            return pd.DataFrame(columns=cols)
        tot = (t["k"] + t["k_base"]).to_numpy()
        kt = t["k"].to_numpy()
        pi = t["pi"].to_numpy()
        t_key = pd.MultiIndex.from_frame(t[["agent_id", "period"]].astype(str))
        ex_keys = key_ap[excluded].unique()
        keep_fit = ~t_key.isin(ex_keys)
        inflate = 1.0
        if trim_p > 0:
            # robust spread: only rows within 2.5 robust SDs (median/MAD of the
            # standardized residuals, both sides) enter the fit of the spread, which
            # is then widened by the variance a +-2.5 SD trim removes from a normal;
            # a crowd of gamers (a third of the agents in Anonymous Bank 1999)
            # cannot widen the null then
            z = (kt - tot * pi) / np.sqrt(np.maximum(tot * pi * (1 - pi), 1e-9))
            mad = 1.482602218505602 * np.median(np.abs(z - np.median(z)))
            if np.isfinite(mad) and mad > 0:
                keep_fit &= np.abs(z - np.median(z)) <= 2.5 * mad
                inflate = 1.0 / _TRIM_VAR_2_5
        prec = fit_precision(kt[keep_fit], tot[keep_fit], pi[keep_fit])
        if inflate != 1.0 and keep_fit.any():
            kk_med = float(np.median(tot[keep_fit]))
            vz = 1.0 + max(kk_med - 1.0, 0.0) / (prec + 1.0)  # variance of z at the fit
            over = vz * inflate - 1.0
            prec = (max(kk_med - 1.0, 1e-9) / over - 1.0) if over > 0 else prec
            prec = float(np.clip(prec, 1e-3, 1e7))
        a, b = predictive_ab(pi, prec)
        pos = tot > 0
        p = np.ones(len(t))
        p[pos] = betabinom_pvalue(kt[pos], tot[pos], a[pos], b[pos])
        if _pass == 2 or trim_p <= 0:
            break
        bad = t_key[p < (0.01 if _pass == 0 else trim_p)]
        new_ex = key_ap.isin(bad)
        if _pass > 0 and np.array_equal(new_ex, excluded):
            break
        excluded = new_ex
    if randomized:
        u = rng.uniform(size=len(t))
        p_gt = np.zeros(len(t))
        nz = pos & (kt < tot)
        p_gt[nz] = betabinom_pvalue(kt[nz] + 1, tot[nz], a[nz], b[nz])
        p = np.where(pos, p_gt + u * (p - p_gt), u)
    t["p_value"] = p
    out = t[cols].copy()
    out.attrs["precision"] = prec
    return out


def _baselines(ap: pd.DataFrame, baseline: str, min_calls: int) -> pd.DataFrame:
    """Each agent x period row of ``ap`` (sorted by agent, period) with its baseline.

    The baseline is the agent's earlier periods (``earlier``) or all their
    other periods (``other``): calls ``n_base``, short calls ``k_base``, the
    short calls expected at the baseline rate (``e k_base / e_base``, ``e`` the
    center-weighted calls), ``pi = e / (e + e_base)`` and the baseline's
    first..last period. Rows with fewer than ``min_calls`` calls on either side
    are left out.
    """
    m = len(ap)
    agent = ap["agent_id"].to_numpy()
    per = ap["period"].astype(str).to_numpy()
    n = ap["n"].to_numpy(np.int64)
    k = ap["k"].to_numpy(np.int64)
    e = ap["e"].to_numpy(float)
    row = np.arange(m)
    first = np.ones(m, dtype=bool)
    first[1:] = agent[1:] != agent[:-1]
    start = np.maximum.accumulate(np.where(first, row, 0))  # the agent's first row
    stop = np.append(np.flatnonzero(first)[1:], m)[np.cumsum(first) - 1]  # one past its last
    cn, ck = np.cumsum(n), np.cumsum(k)

    def seg(c, lo, hi):  # integer sums over rows lo..hi-1 (exact)
        return np.where(hi > lo, c[np.maximum(hi - 1, 0)] - np.where(lo > 0, c[lo - 1], 0), 0)

    if baseline == "earlier":
        nb, kb = seg(cn, start, row), seg(ck, start, row)
        lo, hi = start, row - 1
        # the same float sums as e[base].sum() over each row's base
        eb = np.array([e[a:i].sum() for a, i in zip(start, row, strict=True)])
    else:
        nb = seg(cn, start, stop) - n
        kb = seg(ck, start, stop) - k
        lo = np.where(row == start, start + 1, start)
        hi = np.where(row == stop - 1, stop - 2, stop - 1)
        eb = np.array([np.delete(e[a:b], i - a).sum()
                       for a, b, i in zip(start, stop, row, strict=True)])
    keep = (n >= min_calls) & (nb >= min_calls) & (hi >= lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(eb > 0, e * kb / eb, np.nan)
        pi = e / (e + eb)
    lo_k, hi_k = lo[keep], hi[keep]
    return pd.DataFrame({
        "agent_id": agent[keep], "period": per[keep], "n": n[keep], "k": k[keep],
        "n_base": nb[keep], "k_base": kb[keep], "expected": expected[keep], "pi": pi[keep],
        "base_periods": [f"{per[a]}..{per[b]}" for a, b in zip(lo_k, hi_k, strict=True)],
    })


def _flags(tab: pd.DataFrame, check: str, unit: str, detail) -> pd.DataFrame:
    if tab.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    out = pd.DataFrame({
        "agent_id": tab["agent_id"].astype(str),
        "period": tab["period"].astype(str),
        "check": check,
        "effect": 100.0 * (tab["k"] - tab["expected"]) / tab["n"],
        "effect_unit": unit,
        "p_value": tab["p_value"].astype(float),
        "n": tab["n"].astype(int),
        "k": tab["k"].astype(int),
        "detail": [detail(r) for r in tab.itertuples(index=False)],
    })
    return out[FLAG_COLUMNS]


def _needs(ctx: GamingContext) -> str:
    miss = [c for c in ("agent_id", "queue", "talk_s") if c not in ctx.columns]
    return f"no data in column(s) {', '.join(miss)}" if miss else ""


@CHECKS.register("short_calls_peer")
def check_short_calls_peer(ctx: GamingContext) -> CheckResult:
    """Short calls against peers in the same queue (and shift): random-intercept logistic null.

    See the module docstring for the null model, the columns and what it cannot see.
    """
    name = "short_calls_peer"
    if why := _needs(ctx):
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS), skipped=why)
    tails = str(ctx.options.get("short_tails", "auto"))
    if tails not in TAILS:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped=f"short_tails must be one of {', '.join(TAILS)}, not {tails!r}")
    counts, what = short_call_counts(ctx)
    shift = _shift_of(ctx)
    tab = short_calls_peer_table(
        counts,
        min_calls=int(opt(ctx, "min_calls")),
        min_peers=int(ctx.options.get("min_peers", 5)),
        shift=shift,
        randomized=bool(ctx.options.get("randomized", False)),
        seed=int(opt(ctx, "seed")) + 11,
        tails=tails,
    )
    by_shift = bool(tab.attrs.get("by_shift"))
    notes = [f"short = {what}; peers = same queue" + (" and shift" if by_shift else "")
             + " and period (random-intercept logistic null, leave-one-out peer means,"
             " extreme peers left out)", latent_note(tab.attrs.get("nu", np.inf), tails)]
    # counted before the whole-window rows join the table (they are not agent x periods)
    untested = counts.groupby(["agent_id", "period"]).ngroups - len(tab)
    # Evidence that accumulates: the whole window's counts against the peers' whole-window
    # rates (period "all"); the between-agent spread is refitted on whole-window rates,
    # so an agent who is naturally quick every month is judged against agents who are too.
    if counts["period"].nunique() > 1 and ctx.options.get("short_pooled", True) not in (
            False, "false", "no", 0):
        pooled = (counts.assign(period="all")
                  .groupby(["agent_id", "period", "queue"], as_index=False, sort=True)[["n", "k"]]
                  .sum())
        tab_all = short_calls_peer_table(
            pooled,
            min_calls=int(opt(ctx, "min_calls")),
            min_peers=int(ctx.options.get("min_peers", 5)),
            shift=shift,
            randomized=bool(ctx.options.get("randomized", False)),
            seed=int(opt(ctx, "seed")) + 12,
            tails=tails,
        )
        if len(tab_all):
            tab = pd.concat([tab, tab_all], ignore_index=True)
            left = pooled["agent_id"].nunique() - len(tab_all)
            notes.append(f"whole-window test (period 'all'): {len(tab_all)} agents, each"
                         " agent's short calls over all periods against peers' whole-window"
                         " rates" + (f" ({left} agents with too few calls or peers not tested)"
                                     if left else ""))
    if untested:
        notes.append(f"{untested} agent x period rows not tested (too few calls or peers)")
    if tab.empty:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="no agent x period with enough calls and peers", notes=notes)

    def detail(r) -> str:
        return (f"{r.k} of {r.n} {what} ({100 * r.k / r.n:.1f}%) vs {100 * r.expected / r.n:.1f}%"
                f" expected from peers (queue {r.queues}; >= {r.peers} peers)")

    flags = _flags(tab, name, "excess short calls per 100 calls (vs peers)", detail)
    return CheckResult(name, flags, notes=notes)


@CHECKS.register("short_calls_trend")
def check_short_calls_trend(ctx: GamingContext) -> CheckResult:
    """Short calls against the agent's own earlier periods (conditional binomial).

    See the module docstring for the null model, the columns and what it cannot see.
    """
    name = "short_calls_trend"
    if why := _needs(ctx):
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS), skipped=why)
    if str(opt(ctx, "period")).lower() == "all":
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="period 'all' leaves no earlier period to compare with")
    counts, what = short_call_counts(ctx)
    baseline = str(ctx.options.get("trend_baseline", "earlier"))
    tab = short_calls_trend_table(
        counts,
        min_calls=int(opt(ctx, "min_calls")),
        baseline=baseline,
        randomized=bool(ctx.options.get("randomized", False)),
        seed=int(opt(ctx, "seed")) + 13,
    )
    if tab.empty:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="no agent with enough calls in two periods")

    def detail(r) -> str:
        return (f"{r.k} of {r.n} {what} ({100 * r.k / r.n:.1f}%) vs {r.k_base} of {r.n_base}"
                f" ({100 * r.k_base / r.n_base:.1f}%) in {baseline} periods {r.base_periods}"
                " (adjusted for peers' queue mix and trend)")

    flags = _flags(tab, name, "excess short calls per 100 calls (vs own earlier periods)",
                   detail)
    return CheckResult(name, flags, notes=[f"short = {what}; baseline = {baseline} periods"])


def _center_daily(ctx: GamingContext, agents: list[str] | None = None) -> pd.DataFrame:
    """Daily handled calls ``n`` and short calls ``k`` (of ``agents`` only, when given)."""
    s = float(opt(ctx, "short_call_s"))
    use_eb = "ended_by" in ctx.columns and ctx.options.get("short_use_ended_by") is not False
    cond = f"talk_s < {s!r}" + (" AND ended_by = 'agent'" if use_eb else "")
    where = ""
    if agents is not None:
        ctx.con.register("_cp_half", pd.DataFrame({"agent_id": [str(a) for a in agents]}))
        where = "AND CAST(agent_id AS STRING) IN (SELECT agent_id FROM _cp_half)"
    return ctx.con.execute(
        f"""SELECT CAST(coalesce(answer_ts, arrival_ts) AS DATE) AS date, count(*) AS n,
                   count(*) FILTER (WHERE {cond}) AS k
            FROM calls WHERE {HANDLED_SQL} {where} GROUP BY 1 ORDER BY 1"""
    ).df()


def center_short_changepoints(ctx: GamingContext, agents: list[str] | None = None,
                              *, seed_offset: int = 31) -> pd.DataFrame:
    """Steps in the center's daily short-call rate (of ``agents`` only, when given).

    :func:`analysis.gaming.changepoints.detect_steps`: a quasi-binomial GLM with
    a smooth trend and weekday effects as the null, PELT candidates with a
    BIC-type penalty, each step tested by a parametric bootstrap of its local
    scan and Holm-adjusted, with a 90 % interval for its date. Only steps at
    ``p_value <= alpha`` are returned.

    Returns
    -------
    DataFrame ``date, date_lo, date_hi, before, after, p_value``.
    """
    cols = ["date", "date_lo", "date_hi", "before", "after", "p_value"]
    daily = _center_daily(ctx, agents)
    min_seg = int(ctx.options.get("cp_min_segment_days") or 7)
    if len(daily) < 2 * min_seg + 2 or daily["k"].sum() == 0:
        return pd.DataFrame(columns=cols)
    from .changepoints import detect_steps

    res = detect_steps(daily, k_col="k", n_col="n", min_segment_days=min_seg,
                       max_changes=int(ctx.options.get("cp_max_changes") or 3),
                       alpha=float(opt(ctx, "alpha")), seed=int(opt(ctx, "seed")) + seed_offset)
    out = res[cols].copy()
    out.attrs["trend_df"] = res.attrs.get("trend_df")
    return out


def _halves(ctx: GamingContext) -> tuple[list[str], list[str]]:
    """The agents split at random (seeded) into two halves."""
    ids = ctx.con.execute(
        f"SELECT DISTINCT CAST(agent_id AS STRING) AS a FROM calls WHERE {HANDLED_SQL} "
        "ORDER BY 1").df()["a"].tolist()
    rng = np.random.default_rng(int(opt(ctx, "seed")) + 41)
    perm = [ids[i] for i in rng.permutation(len(ids))]
    h = len(perm) // 2
    return sorted(perm[:h]), sorted(perm[h:])


@CHECKS.register("short_calls_change")
def check_short_calls_change(ctx: GamingContext) -> CheckResult:
    """Agents whose short-call rate moved with a center-wide change (a crackdown or a new target).

    Null model: when the center's daily short-call rate changes (a change point
    of :func:`center_short_changepoints`, p <= alpha), an honest agent's rate
    moves by the center's factor for the same agents (Poisson model with agent
    fixed effects: median over agents, fitted without extreme rows), give or take the honest
    between-agent drift (beta-binomial precision fitted across agents, as in
    ``short_calls_trend``). For a *drop* (a crackdown), the test is whether the
    agent's short calls before the date exceed what their rate after it
    predicts; for a *rise* (gaming starts, e.g. a new handle-time target),
    whether those after exceed those before. Agents who stopped at the
    crackdown are the ones who had been gaming: this is the test that finds
    them in a center where honest agents differ so much that no peer test can
    (Anonymous Bank 1999).

    Columns needed: as ``short_calls_peer``; a date (``answer_ts`` or
    ``arrival_ts``) spanning at least two weeks.

    What it cannot see: gaming that did not change when the center's rate did;
    a change too close to the end of the data for ``min_calls`` calls after it;
    the date is chosen from the data, so treat it as a lead to confirm with the
    people who were there.

    Date and test on different agents: the agents are split at random (seeded)
    into two halves; the change points (:func:`center_short_changepoints`:
    smooth trend and weekday effects in the null, only significant steps) are
    estimated on one half's daily short-call series and the *other* half's
    agents are tested at those dates, then the other way round (cross-fitting),
    so no agent is tested at a date chosen from their own calls.
    """
    name = "short_calls_change"
    if why := _needs(ctx):
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS), skipped=why)
    s = float(opt(ctx, "short_call_s"))
    use_eb = "ended_by" in ctx.columns and ctx.options.get("short_use_ended_by") is not False
    cond = f"talk_s < {s!r}" + (" AND ended_by = 'agent'" if use_eb else "")
    what = f"calls under {s:g} s" + (" ended by the agent" if use_eb else "")
    frames = []
    notes = []
    cps = center_short_changepoints(ctx)
    if cps.empty:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="no change point in the center's daily short-call rate")
    from .changepoints import locate_step

    all_dates = [pd.Timestamp(d) for d in pd.to_datetime(cps["date"])]
    for j, d in enumerate(all_dates):
        word = "fell" if cps["after"].iloc[j] < cps["before"].iloc[j] else "rose"
        notes.append(
            f"center short-call rate {word} on {d:%Y-%m-%d} (90% interval {pd.Timestamp(cps['date_lo'].iloc[j]):%Y-%m-%d} to "
            f"{pd.Timestamp(cps['date_hi'].iloc[j]):%Y-%m-%d}): "
            f"{100 * cps['before'].iloc[j]:.1f}% -> {100 * cps['after'].iloc[j]:.1f}% "
            f"(p = {cps['p_value'].iloc[j]:.2g} within the short-call series; the change-point "
            "list adjusts across every center series)")
    # cross-fitting: each half of the agents is tested at the date located on the
    # other half's daily series (within the all-agent interval, widened by 3 days)
    halves = _halves(ctx)
    min_seg = int(ctx.options.get("cp_min_segment_days") or 7)
    for h, (est, test) in enumerate([halves, halves[::-1]]):
        if not est or not test:
            continue
        est_daily = _center_daily(ctx, est)
        located = []
        for j, d in enumerate(all_dates):
            win = (pd.Timestamp(cps["date_lo"].iloc[j]) - pd.Timedelta(days=3),
                   pd.Timestamp(cps["date_hi"].iloc[j]) + pd.Timedelta(days=3))
            dd = locate_step(est_daily, win, fixed=all_dates[:j] + all_dates[j + 1:],
                             min_segment_days=min_seg, trend_df=cps.attrs.get("trend_df"))
            located.append(dd if dd is not None else d)
        dates = located
        for j, d in enumerate(dates):
            lo = dates[j - 1] if j > 0 else pd.Timestamp.min
            hi = dates[j + 1] if j + 1 < len(dates) else pd.Timestamp.max
            drop = float(cps["after"].iloc[j]) < float(cps["before"].iloc[j])
            seg = ctx.con.execute(
                f"""SELECT CAST(agent_id AS STRING) AS agent_id,
                           CASE WHEN coalesce(answer_ts, arrival_ts) < ? THEN '0' ELSE '1' END
                               AS period,
                           CAST(queue AS STRING) AS queue, count(*) AS n,
                           count(*) FILTER (WHERE {cond}) AS k
                    FROM calls WHERE {HANDLED_SQL}
                      AND coalesce(answer_ts, arrival_ts) >= ?
                      AND coalesce(answer_ts, arrival_ts) < ?
                    GROUP BY ALL ORDER BY agent_id, period, queue""",
                [d.to_pydatetime(), max(lo, pd.Timestamp("1900-01-01")).to_pydatetime(),
                 min(hi, pd.Timestamp("2200-01-01")).to_pydatetime()],
            ).df()
            tab = short_calls_trend_table(
                seg, min_calls=int(opt(ctx, "min_calls")), baseline="other",
                randomized=bool(ctx.options.get("randomized", False)),
                seed=int(opt(ctx, "seed")) + 37 + j + 100 * h,
            )
            # the null (center factor, precision) is fitted on all agents; only the
            # half whose date came from the other half is kept
            tested = "0" if drop else "1"
            tab = tab[(tab["period"] == tested) & tab["agent_id"].isin(set(test))]
            label = f"{d:%Y-%m-%d}"
            word = "fell" if drop else "rose"
            notes.append(f"{len(tab)} agents tested at {label}, the date located on the "
                         f"other {len(est)} agents' daily short-call rate")
            if tab.empty:
                continue
            side_b, side_a = ("before", "after") if drop else ("after", "before")

            def detail(r, side_b=side_b, side_a=side_a, label=label, word=word) -> str:
                return (f"{r.k} of {r.n} {what} ({100 * r.k / r.n:.1f}%) {side_b} {label} vs "
                        f"{r.k_base} of {r.n_base} ({100 * r.k_base / r.n_base:.1f}%) "
                        f"{side_a}, when the center's rate {word} (dated on the other half of "
                        "the agents; adjusted for the center's change)")

            frames.append(_flags(tab.assign(period=label), name,
                                 f"excess short calls per 100 calls {side_b} the center-wide "
                                 "change", detail))
    if not frames:
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS),
                           skipped="no agent with enough calls on both sides of the change",
                           notes=notes)
    return CheckResult(name, pd.concat(frames, ignore_index=True), notes=notes)
