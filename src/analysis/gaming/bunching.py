"""Bunching of handle times just under a target: checks ``bunching_center`` and ``bunching_agent``.

When agents are judged on average handle time against a target (say 300 s),
some wrap calls up just before the target: the handle-time histogram shows
excess mass just below the target and a hole just above it.

``bunching_center`` (the whole center)
    Null model: the handle-time density is smooth through the target. Bin
    counts are fitted by a Poisson GLM with a polynomial in log(duration),
    leaving out a window around the target (``[T - w_below, T + w_above)``);
    the excess mass ``B`` is observed minus fitted count in ``[T - w_below, T)``.
    Its null distribution comes from a *parametric Poisson bootstrap*
    (counts drawn from the fitted smooth density, refitted, ``B*`` recomputed);
    ``p = (1 + #{B* >= B}) / (R + 1)``. The textbook estimator (OLS on raw
    counts with a high polynomial; Chetty et al. 2011, Kleven 2016) is biased on
    lognormal durations and its residual bootstrap understates the standard
    error (``methods.md``); a lognormal's log density is exactly quadratic in
    log(duration), so the GLM in log(duration) is unbiased there.
    Without ``aht_target`` the target is *found* as the point of the largest
    density discontinuity (:func:`scan_discontinuity`): every cut point on a
    grid between the 10th and 90th percentile of handle time is scored by the
    standardized jump "excess just below minus excess just above" against one
    smooth Poisson-GLM fit of the whole histogram (bunching moves calls from
    just above the target to just below it, so it is a jump; a smooth misfit
    puts residuals of the same sign on both sides), and the maximum over the
    cut points is calibrated by a parametric Poisson bootstrap of the fitted
    smooth density (refit, rescan, maximum: the scan's own multiplicity). The
    center test's p-value is the larger of that max-statistic p-value and the
    bootstrap p-value of the excess just below the found target (an
    intersection-union test, Berger 1982: a jump somewhere *and* calls piled up under
    it; on a fabricated training export, PwC's, the largest jump had p = .03 with 84
    calls below the target against 83 expected, which is not bunching). The former scan over
    round numbers kept the largest one-sided excess and, on a 20-day world
    whose agents bunch under 300 s, "found" 150 s (issue #13).

``bunching_agent`` (each agent against their own density)
    A quick agent has more mass below *any* threshold, so peers are not the
    reference. Up to three tests per agent, combined by Bonferroni (the smallest
    p-value times their number, valid whatever their dependence; the Cauchy
    combination used before gives a test without evidence, p near 1, a score of
    about -32 that cancels another's: an outside-world buncher's p = .012 at the
    target became .87 beside an own scan at p = 1):

    1. *At the center's target*, when it is given or found by a significant scan
       (max-statistic p <= ``bunch_target_alpha``, 0.05). Each agent's histogram
       is fitted by the same GLM (lower degree), leaving out the window; with
       ``pi`` the fitted share of ``[T - w, T)`` among ``[T - w, T + w)``, the
       agent's count just below is compared with ``Binomial(m, pi)`` (``m``: the
       agent's calls in both halves), the fit's own uncertainty about ``pi`` added
       to the variance (delta method); one-sided normal p-value. A target found by
       a scan that is not significant is the noise's largest jump; agents are not
       tested there (testing all of them at a point chosen from their own data
       would ignore the choice).
    2. *At the agent's own largest jump* (:func:`agent_scan_table`; not when the
       target is given): one GLM fit of the agent's whole histogram, and at every
       cut of the center's scan grid the count just below among the calls either
       side, beta-binomial with the fitted share and its uncertainty; the smallest
       p-value times the number of cuts (Bonferroni). This finds what the center's
       histogram hides: two bunchers among sixty move too few calls to make the
       center's largest jump (issue #13: on 20-day messy ``ccpm synth`` worlds
       with two agents pushing 30 % of their calls under 300 s, the center scan
       was significant in 1 of 10 worlds and found 420 s there; with this test the
       bunchers reach p < .01 in 14 of 20 agent-worlds, against 5 before, and
       honest agents at p < .01 go from 9 to 5 of 580; on 40 null worlds of
       20 and 61 days, clean and messy, 0.8 % of 2,399 honest agents are at
       p < .01 and 1 at p < .001), and targets that differ by queue or team.
    3. *At the target the other agents reveal* (:func:`peer_targets`; option
       ``bunch_peer_target``, default on; not when the target is given): the agents
       whose own largest jump is significant (:data:`PEER_ALPHA`) reveal their cut;
       where at least :data:`PEER_MIN` of the *others* agree within 5 %, the agent is
       tested there as at a given target. The agent's own calls take no part in the
       choice, so the choice costs it no multiplicity (honest agents tested at the
       target three bunchers reveal keep their level at .05, .01 and .001:
       ``tests/test_gaming_bunching.py``). A few strong bunchers that the center's
       histogram hides then point at the target where a weaker one is found: a
       buncher's own scan pays for ~140 cuts, the test at a revealed target for one.

    The tests at a target (1 and 3) run over the whole window (period ``all``) and,
    where the run has more than one period, in each period too (option
    ``bunch_periods``, default on): the period's count just below the target among its
    calls either side (at least :data:`PERIOD_MIN_BAND`) against the share the agent's
    whole-window smooth density gives (fitted without the window, so a bunch does not move
    it; its uncertainty added as above). A target adopted mid-window shows undiluted in
    the periods after it, and the agent-level decision weighs the whole-window row and the
    period rows half and half (:mod:`._agents`). Only two counts per agent and period are
    fetched: a histogram per agent and period would have fetched more rows than a tenth of
    the calls (the engine-fetch guarantee, ``tests/test_engine_fetch.py``). On the outside worlds
    (``benchmarks/worlds_outside.py``: 3-4 bunchers per 120 agents, half of them from a
    day 30-60 % into the window) agent-level recall of bunching went from 0.72 to 0.87 on
    61-day worlds (starting mid-window: 13 to 24 of 31) and from 0.28 to 0.38 on 20-day
    ones; per-period rows alone gave 0.79, revealed targets alone 0.75.

Columns needed: ``agent_id``, ``talk_s`` (``hold_s`` and ``acw_s`` enter
handle time = talk + hold + after-call work where present), ``outcome``.

What they cannot see: gaming that moves calls far below the target (no bunch
at the target: the short-call checks see hang-ups); a target the data do not
reveal and that is not given; smooth but lumpy real densities with millions of
calls make tiny excesses significant (read the effect, not only the p-value);
agents with fewer than ``bunch_min_agent_calls`` (200) calls near the target.

Measure. A target may be set on handle time or on talk time: a center that targets
average talk time sees its agents bunch talk, and with wrap-up added the bunch is smeared
over the next minute or two of handle time (on two outside worlds,
``benchmarks/worlds_outside.py``, seven bunchers who cut talk to 270-299 s had
``bunching_agent`` p-values of median .32 on handle time and 2e-8 on talk time). With
``bunch_measure`` ``auto`` (the default) both are read where hold or wrap-up has data:
each measure gets its own scan, target and agent tests, an agent's tests on both are
combined by Bonferroni (as the tests of one measure are), and the center's p-value is the
ACAT of the two measures' (the row describes the stronger). ``handle`` or ``talk`` reads
one, for a center that knows which its target is on (a little more power: Bonferroni
over twice the tests costs a factor of two in a p-value).

Options: ``aht_target`` (seconds), ``bunch_measure`` (``auto``, ``handle`` or ``talk``),
``bunch_peer_target`` (true), ``bunch_periods`` (true),
``bunch_bin_s`` (default target / 60, at
least 1 s), ``bunch_window_below`` (0.1 x target), ``bunch_window_above``
(0.2 x target), ``bunch_degree`` (5; agents 3), ``bunch_boot`` (499),
``bunch_min_agent_calls`` (200), ``bunch_target_alpha`` (0.05).

References
----------
Saez, E. (2010). Do taxpayers bunch at kink points? *AEJ: Economic Policy* 2(3), 180-212.
Chetty, R., Friedman, J., Olsen, T. & Pistaferri, L. (2011). Adjustment costs,
firm responses, and micro vs. macro labor supply elasticities. *QJE* 126(2), 749-804.
Kleven, H. J. (2016). Bunching. *Annual Review of Economics* 8, 435-464.
Cattaneo, M. D., Jansson, M. & Ma, X. (2020). Simple local polynomial density
estimators. *JASA* 115(531), 1449-1455 (``rddensity``; not used here).
Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
*Technometrics* 24(4), 295-300 (intersection-union tests).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext, dialect_of
from ._combine import acat
from ._context import HANDLED_SQL, opt
from ._sigutil import flag_option, has_nonzero, period_sql, run_cache, run_once

__all__ = [
    "poisson_glm",
    "bunching_fit",
    "bunching_test",
    "scan_target",
    "scan_discontinuity",
    "agent_bunching_table",
    "band_pvalue",
    "agent_scan_table",
    "handle_histogram",
    "check_bunching_center",
    "check_bunching_agent",
    "ROUND_TARGETS",
]

#: Candidate targets (seconds) scanned when none is given.
ROUND_TARGETS = (60, 90, 120, 150, 180, 210, 240, 270, 300, 360, 420, 480, 540, 600, 720,
                 900, 1200)

#: The durations the checks read (option ``bunch_measure``): the time the target is set on.
MEASURES = {"handle": "talk_s + coalesce(hold_s, 0) + coalesce(acw_s, 0)", "talk": "talk_s"}


#: The words option ``bunch_measure`` takes: a measure, or ``auto`` (both where they differ).
MEASURE_WORDS = ("auto", *MEASURES)


def _measure(ctx: GamingContext) -> str:
    """The one measure a (per-measure) context reads: ``handle`` or ``talk``.

    :func:`_measures` gives each measure its own context (:func:`_for_measure`);
    a context whose option is ``auto`` (or unset) reads handle time.
    """
    m = str(ctx.options.get("bunch_measure") or "auto").lower()
    if m not in MEASURE_WORDS:
        from ..errors import ConfigError

        raise ConfigError(f"bunch_measure must be one of {', '.join(MEASURE_WORDS)}, "
                          f"not {m!r}")
    return "handle" if m == "auto" else m


def _measures(ctx: GamingContext) -> list[str]:
    """The measures a run reads: the option's one, or with ``auto`` both where hold or
    wrap-up has data (otherwise handle time is talk time and one is read)."""
    m = str(ctx.options.get("bunch_measure") or "auto").lower()
    if m != "auto":
        return [_measure(ctx)]
    two = run_once(ctx, ("bunching_measures",),
                   lambda: has_nonzero(ctx, "hold_s") or has_nonzero(ctx, "acw_s"))
    return ["handle", "talk"] if two else ["handle"]


def _for_measure(ctx: GamingContext, measure: str) -> GamingContext:
    """``ctx`` reading ``measure``; it shares the run's caches (keyed by measure)."""
    run_cache(ctx)  # made before the copy, so the copy's options hold the same dict
    return dataclasses.replace(ctx, options={**ctx.options, "bunch_measure": measure})


def poisson_glm(X: np.ndarray, y: np.ndarray, *, max_iter: int = 50, tol: float = 1e-10):
    """Poisson GLM with log link by iteratively reweighted least squares.

    Returns
    -------
    (beta, covariance) : coefficient vector and its inverse-Fisher covariance
    (the same as statsmodels ``GLM(y, X, family=Poisson()).fit()``).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    mu = y + 0.5
    eta = np.log(mu)
    beta = np.linalg.lstsq(X, eta, rcond=None)[0]
    for _ in range(max_iter):
        eta = X @ beta
        mu = np.exp(np.clip(eta, -700, 700))
        z = eta + (y - mu) / mu
        wx = X * mu[:, None]
        new = np.linalg.solve(X.T @ wx, wx.T @ z)
        if np.max(np.abs(new - beta)) < tol * (1 + np.max(np.abs(beta))):
            beta = new
            break
        beta = new
    mu = np.exp(np.clip(X @ beta, -700, 700))
    cov = np.linalg.inv(X.T @ (X * mu[:, None]))
    return beta, cov


def _design(mids: np.ndarray, degree: int) -> np.ndarray:
    lx = np.log(mids)
    z = 2 * (lx - lx.min()) / max(lx.max() - lx.min(), 1e-12) - 1
    return np.polynomial.legendre.legvander(z, degree)


def bunching_fit(
    counts,
    edges,
    target: float,
    *,
    w_below: float,
    w_above: float,
    degree: int = 5,
    cmp_width: float | None = None,
) -> dict:
    """Fit the smooth counterfactual and measure the excess just below ``target``.

    Parameters
    ----------
    counts
        Calls per bin (``len(edges) - 1`` bins); ``target`` must be a bin edge.
    edges
        Bin edges in seconds (increasing, positive).
    w_below, w_above
        The window left out of the fit: ``[target - w_below, target + w_above)``.
    cmp_width
        Width of the comparison band just above the target (default ``w_below``).

    Returns
    -------
    dict with ``excess`` (observed - fitted in the band below), ``observed``,
    ``expected`` (fitted count in the band below), ``above_observed``,
    ``above_expected`` (the band ``[T, T + cmp_width)``), ``var_excess``
    (Poisson + fit variance of ``excess``, delta method), ``pi`` (fitted share of
    the band below among both bands) and ``var_pi``, ``fitted`` (all bins),
    ``design`` and ``inside`` (bins used in the fit).
    """
    counts = np.asarray(counts, dtype=float)
    edges = np.asarray(edges, dtype=float)
    mids = 0.5 * (edges[:-1] + edges[1:])
    X = _design(mids, degree)
    lo_w, hi_w = target - w_below - 1e-9, target + w_above - 1e-9
    inside = (mids < lo_w) | (mids > hi_w)
    below = (mids > lo_w) & (mids < target)
    cw = w_below if cmp_width is None else cmp_width
    above = (mids > target) & (mids < target + cw)
    beta, cov = poisson_glm(X[inside], counts[inside])
    fitted = np.exp(X @ beta)
    e_b, e_a = fitted[below].sum(), fitted[above].sum()
    g_b = (fitted[below, None] * X[below]).sum(axis=0)
    g_a = (fitted[above, None] * X[above]).sum(axis=0)
    var_excess = e_b + g_b @ cov @ g_b
    pi = e_b / (e_b + e_a)
    g_pi = (g_b * e_a - g_a * e_b) / (e_a + e_b) ** 2
    return dict(
        excess=float(counts[below].sum() - e_b),
        observed=float(counts[below].sum()),
        expected=float(e_b),
        above_observed=float(counts[above].sum()),
        above_expected=float(e_a),
        var_excess=float(var_excess),
        pi=float(pi),
        var_pi=float(g_pi @ cov @ g_pi),
        fitted=fitted,
        design=X,
        inside=inside,
        below=below,
    )


def bunching_test(
    counts, edges, target: float, *, w_below: float, w_above: float, degree: int = 5,
    n_boot: int = 499, seed: int | None = None,
) -> dict:
    """Excess mass below ``target`` with a parametric Poisson bootstrap p-value and SE.

    Returns
    -------
    dict: ``excess``, ``observed``, ``expected``, ``se`` (bootstrap SD of the
    excess under the fitted smooth density), ``p_value``, ``n_boot`` and the
    fields of :func:`bunching_fit`.
    """
    fit = bunching_fit(counts, edges, target, w_below=w_below, w_above=w_above, degree=degree)
    rng = np.random.default_rng(seed)
    X, inside, below = fit["design"], fit["inside"], fit["below"]
    boot = np.empty(n_boot)
    for r in range(n_boot):
        y = rng.poisson(fit["fitted"]).astype(float)
        beta, _ = poisson_glm(X[inside], y[inside])
        boot[r] = y[below].sum() - np.exp(X[below] @ beta).sum()
    fit.update(
        se=float(boot.std(ddof=1)),
        p_value=float((1 + np.sum(boot >= fit["excess"])) / (n_boot + 1)),
        n_boot=n_boot,
    )
    return fit


def _edges_for(target: float, lo: float, hi: float, bw: float) -> np.ndarray:
    j_lo = int(np.floor((target - lo) / bw))
    j_hi = int(np.ceil((hi - target) / bw))
    return target + bw * np.arange(-j_lo, j_hi + 1)


def handle_histogram(ctx: GamingContext, edges: np.ndarray, *, by_agent: bool = False):
    """Handled calls per handle-time bin (DuckDB); with ``by_agent`` an agents x bins matrix.

    Returns
    -------
    counts (bins,) or (agent ids, counts (agents, bins)).
    """
    lo, bw, nb = float(edges[0]), float(edges[1] - edges[0]), len(edges) - 1
    grp = "CAST(agent_id AS STRING) AS agent_id, " if by_agent else ""
    dur = MEASURES[_measure(ctx)]
    df = ctx.con.execute(
        f"""SELECT {grp} CAST(floor(({dur} - {lo!r}) / {bw!r}) AS INTEGER) AS bin,
                   count(*) AS n
            FROM calls WHERE {HANDLED_SQL} AND {dur} >= {lo!r}
              AND {dur} < {float(edges[-1])!r}
            GROUP BY ALL"""
    ).df()
    df = df[(df["bin"] >= 0) & (df["bin"] < nb)]
    if not by_agent:
        out = np.zeros(nb)
        np.add.at(out, df["bin"].to_numpy(), df["n"].to_numpy())
        return out
    ids = np.array(sorted(df["agent_id"].unique()))
    row = pd.Series(np.arange(len(ids)), index=ids)
    mat = np.zeros((len(ids), nb))
    np.add.at(mat, (row[df["agent_id"]].to_numpy(), df["bin"].to_numpy()), df["n"].to_numpy())
    return ids, mat


def _settings(ctx: GamingContext, target: float) -> dict:
    o = ctx.options
    bw = float(o.get("bunch_bin_s") or max(1.0, round(target / 60.0)))
    wb = float(o.get("bunch_window_below") or max(2 * bw, round(0.1 * target / bw) * bw))
    wa = float(o.get("bunch_window_above") or max(2 * bw, round(0.2 * target / bw) * bw))
    return dict(bw=bw, wb=wb, wa=wa, degree=int(o.get("bunch_degree") or 5))


def _range(ctx: GamingContext) -> tuple[float, float, float, float, int]:
    def make():  # the center and the agent check share it
        dur = MEASURES[_measure(ctx)]
        q = ctx.con.execute(
            f"SELECT {dialect_of(ctx).quantiles_of(dur, (0.01, 0.10, 0.90, 0.99))}, "
            "count(*) "
            f"FROM calls WHERE {HANDLED_SQL}"
        ).fetchone()
        q01, q10, q90, q99 = (float(v) for v in q[0])
        return q01, q10, q90, q99, int(q[1])
    return run_once(ctx, ("bunching_range", _measure(ctx)), make)


def _agent_histogram(ctx: GamingContext, edges: np.ndarray):
    """:func:`handle_histogram` by agent, once per run and set of edges (both checks use it:
    the center's counts are its column sums)."""
    key = ("bunching_hist", _measure(ctx), tuple(float(e) for e in edges))
    return run_once(ctx, key, lambda: handle_histogram(ctx, edges, by_agent=True))


def _fit_edges(target: float, s: dict, q01: float, q99: float) -> np.ndarray:
    lo = max(s["bw"], q01, 0.3 * target)
    hi = min(q99, 3.0 * target)
    hi = max(hi, target + s["wa"] + 10 * s["bw"])
    return _edges_for(target, lo, hi, s["bw"])


def scan_target(ctx: GamingContext, candidates=ROUND_TARGETS) -> pd.DataFrame:
    """Standardized excess mass below each candidate round-number target.

    Returns
    -------
    DataFrame ``target, excess, expected, z`` (one row per candidate between the
    10th and 90th percentile of handle time), sorted by ``z`` descending.
    """
    q01, q10, q90, q99, _ = _range(ctx)
    rows = []
    for t in candidates:
        if not (q10 <= t <= q90):
            continue
        s = _settings(ctx, t)
        edges = _fit_edges(t, s, q01, q99)
        counts = handle_histogram(ctx, edges)
        if counts.sum() < 100:
            continue
        f = bunching_fit(counts, edges, t, w_below=s["wb"], w_above=s["wa"], degree=s["degree"])
        rows.append(dict(target=float(t), excess=f["excess"], expected=f["expected"],
                         z=f["excess"] / np.sqrt(max(f["var_excess"], 1e-12))))
    cols = ["target", "excess", "expected", "z"]
    return pd.DataFrame(rows, columns=cols).sort_values("z", ascending=False, ignore_index=True)


def _grid_step(q10: float, q90: float) -> float:
    """Bin width of the scan: a 1-2-5 step giving ~100-250 bins between the 10th and 90th
    percentile."""
    raw = max((q90 - q10) / 150.0, 0.5)
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _jump_stats(y: np.ndarray, fitted: np.ndarray, lo_idx: np.ndarray, cut_idx: np.ndarray,
                hi_idx: np.ndarray) -> np.ndarray:
    """Standardized jumps at every cut: (O-E below) - (O-E above) over sqrt(E below + E above).

    ``y``/``fitted`` may be (bins,) or (replicates, bins); the bands of cut ``j`` are bins
    ``lo_idx[j]:cut_idx[j]`` and ``cut_idx[j]:hi_idx[j]``.
    """
    y2 = np.atleast_2d(y)
    f2 = np.atleast_2d(fitted)
    cy = np.concatenate([np.zeros((y2.shape[0], 1)), np.cumsum(y2, axis=1)], axis=1)
    cf = np.concatenate([np.zeros((f2.shape[0], 1)), np.cumsum(f2, axis=1)], axis=1)
    ob, oa = cy[:, cut_idx] - cy[:, lo_idx], cy[:, hi_idx] - cy[:, cut_idx]
    eb, ea = cf[:, cut_idx] - cf[:, lo_idx], cf[:, hi_idx] - cf[:, cut_idx]
    return ((ob - eb) - (oa - ea)) / np.sqrt(np.maximum(eb + ea, 1e-9))


def scan_discontinuity(
    counts, edges, *, lo: float, hi: float, rel_window: float = 0.1, degree: int = 7,
    n_boot: int = 199, seed: int | None = None,
) -> dict:
    """Find the handle time with the largest density discontinuity, with a max-statistic p.

    Parameters
    ----------
    counts, edges
        Histogram of handle times (equal bins).
    lo, hi
        Cut points scanned: bin edges in ``[lo, hi]``.
    rel_window
        Width of the bands either side of a cut, as a share of the cut (at least 2 bins).
    degree
        Degree of the smooth Poisson GLM in log(duration) fitted to the whole histogram.
    n_boot
        Parametric bootstrap replicates of the maximum (counts drawn from the fitted
        smooth density, refitted, rescanned).

    Returns
    -------
    dict ``target`` (cut with the largest jump), ``stat`` (its standardized jump),
    ``p_value`` (share of bootstrap maxima at least as large; the scan's multiplicity
    is in it), ``n_cuts``, ``n_boot``.

    References
    ----------
    Kleven, H. J. (2016). Bunching. *Annual Review of Economics* 8, 435-464.
    Hansen, B. E. (1996). Inference when a nuisance parameter is not identified under
    the null hypothesis. *Econometrica* 64(2), 413-430 (sup statistics over a scanned
    parameter, calibrated by simulation).
    """
    y = np.asarray(counts, dtype=float)
    edges = np.asarray(edges, dtype=float)
    bw = float(edges[1] - edges[0])
    mids = 0.5 * (edges[:-1] + edges[1:])
    cuts = np.flatnonzero((edges >= lo - 1e-9) & (edges <= hi + 1e-9))
    w = np.maximum(2, np.round(rel_window * edges[cuts] / bw)).astype(int)
    ok = (cuts - w >= 0) & (cuts + w <= len(y))
    cuts, w = cuts[ok], w[ok]
    if len(cuts) == 0 or y.sum() < 100:
        return dict(target=None, stat=np.nan, p_value=np.nan, n_cuts=0, n_boot=0)
    X = _design(mids, degree)
    beta, _ = poisson_glm(X, y)
    fitted = np.exp(X @ beta)
    stat = _jump_stats(y, fitted, cuts - w, cuts, cuts + w)[0]
    j = int(np.argmax(stat))
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for r in range(n_boot):
        ys = rng.poisson(fitted).astype(float)
        b, _ = poisson_glm(X, ys, tol=1e-8)
        boot[r] = _jump_stats(ys, np.exp(X @ b), cuts - w, cuts, cuts + w)[0].max()
    return dict(target=float(edges[cuts[j]]), stat=float(stat[j]),
                p_value=float((1 + np.sum(boot >= stat[j])) / (n_boot + 1)),
                n_cuts=int(len(cuts)), n_boot=int(n_boot))


#: Cuts per agent whose exact beta-binomial tail :func:`agent_scan_table` computes (those
#: with the largest normal-approximation z).
_SCAN_EXACT = 8


def agent_scan_table(
    ids, mat: np.ndarray, edges: np.ndarray, *, lo: float, hi: float,
    rel_window: float = 0.1, degree: int = 3, min_calls: int = 200,
) -> pd.DataFrame:
    """Each agent's own largest jump in handle-time density, Bonferroni over the cuts scanned.

    For every agent with ``min_calls`` calls in the histogram, one Poisson GLM
    (polynomial of ``degree`` in log duration) is fitted to the agent's whole histogram.
    At every cut ``c`` (bin edges in ``[lo, hi]``) the calls in the band just below,
    ``[c - w, c)``, and just above, ``[c, c + w)`` (``w = rel_window * c``, at least
    2 bins) are compared: given the ``m`` calls in both bands, the count below is
    beta-binomial with mean ``pi`` (the fitted share below) and variance from the fit's
    own uncertainty about ``pi`` (delta method), and its upper-tail p-value is exact
    (computed at the ``_SCAN_EXACT`` cuts with the largest normal-approximation z, which
    hold the smallest p-value but for discreteness; missing it errs conservative).
    The agent's p-value is the smallest over the cuts times the number of cuts with
    any call (Bonferroni: valid whatever the dependence between overlapping bands).
    A smooth density puts the same share in both bands up to its slope, which the fit
    knows; moving calls from just above a cut to just below it does not.

    Returns
    -------
    DataFrame ``agent_id, n, cut, band, k, m, pi, expected, n_cuts, p_min, p_value``
    (``band``: the width in seconds of each band either side of the cut).
    """
    cols = ["agent_id", "n", "cut", "band", "k", "m", "pi", "expected", "n_cuts", "p_min",
            "p_value"]
    edges = np.asarray(edges, dtype=float)
    bw = float(edges[1] - edges[0])
    cuts = np.flatnonzero((edges >= lo - 1e-9) & (edges <= hi + 1e-9))
    w = np.maximum(2, np.round(rel_window * edges[cuts] / bw)).astype(int)
    ok = (cuts - w >= 0) & (cuts + w <= len(edges) - 1)
    cuts, w = cuts[ok], w[ok]
    if len(cuts) == 0:
        return pd.DataFrame(columns=cols)
    X = _design(0.5 * (edges[:-1] + edges[1:]), degree)
    lo_i, hi_i = cuts - w, cuts + w
    rows = []
    for aid, y in zip(ids, np.asarray(mat, dtype=float), strict=True):
        n = int(y.sum())
        if n < min_calls:
            continue
        try:
            beta, cov = poisson_glm(X, y)
        except np.linalg.LinAlgError:
            continue
        mu = np.exp(X @ beta)
        cy = np.concatenate([[0.0], np.cumsum(y)])
        cm = np.concatenate([[0.0], np.cumsum(mu)])
        cg = np.vstack([np.zeros(X.shape[1]), np.cumsum(mu[:, None] * X, axis=0)])
        k, m = cy[cuts] - cy[lo_i], cy[hi_i] - cy[lo_i]
        e_b, e_a = cm[cuts] - cm[lo_i], cm[hi_i] - cm[cuts]
        g_b, g_a = cg[cuts] - cg[lo_i], cg[hi_i] - cg[cuts]
        tot = np.maximum(e_a + e_b, 1e-300)
        pi = np.clip(e_b / tot, 1e-9, 1 - 1e-9)
        g_pi = (g_b * e_a[:, None] - g_a * e_b[:, None]) / tot[:, None] ** 2
        var_pi = np.maximum(np.einsum("ij,jk,ik->i", g_pi, cov, g_pi), 1e-300)
        # beta with mean pi and variance var_pi (precision capped: then it is a binomial)
        prec = np.clip(pi * (1 - pi) / var_pi - 1.0, 1.0, 1e7)
        live = m > 0
        n_cuts = int(live.sum())
        if not n_cuts:
            continue
        # the exact tail at the cuts where the beta-binomial's z is largest (the smallest
        # p-value is among them but for discreteness; missing it errs conservative)
        var = m * pi * (1 - pi) * (prec + m) / (prec + 1)
        z = np.where(live, (k - m * pi) / np.sqrt(np.maximum(var, 1e-300)), -np.inf)
        top = np.argsort(-z, kind="stable")[: min(_SCAN_EXACT, n_cuts)]
        p = np.ones(len(cuts))
        p[top] = stats.betabinom.sf(k[top] - 1, m[top], pi[top] * prec[top],
                              (1 - pi[top]) * prec[top])
        j = int(np.argmin(p))
        rows.append(dict(agent_id=str(aid), n=n, cut=float(edges[cuts[j]]),
                         band=float(w[j] * bw), k=int(k[j]),
                         m=int(m[j]), pi=float(pi[j]), expected=float(m[j] * pi[j]),
                         n_cuts=n_cuts, p_min=float(p[j]),
                         p_value=float(min(1.0, n_cuts * p[j]))))
    return pd.DataFrame(rows, columns=cols)


def _p_text(p: float) -> str:
    """A p-value for a detail: ``< 1e-300`` where it underflows to 0."""
    return f"{p:.2g}" if p > 0 else "< 1e-300"


def _scan_edges(ctx: GamingContext) -> tuple[np.ndarray, float, float, int]:
    """The bin edges of the discontinuity scans (center and agents), q10, q90, calls."""
    q01, q10, q90, q99, n = _range(ctx)
    step = _grid_step(q10, q90)
    lo = max(step, np.floor(max(q01, 0.5 * q10) / step) * step)
    hi = np.ceil(min(q99, 1.5 * q90) / step) * step
    return np.arange(lo, hi + step / 2, step), q10, q90, n


def _scan(ctx: GamingContext) -> dict:
    """The discontinuity scan of the center's handle times (cached per run)."""
    def make() -> dict:
        edges, q10, q90, n = _scan_edges(ctx)
        if len(edges) < 20 or n < 200:
            return dict(target=None, stat=np.nan, p_value=np.nan, n_cuts=0, n_boot=0)
        counts = _agent_histogram(ctx, edges)[1].sum(axis=0)
        return scan_discontinuity(counts, edges, lo=q10, hi=q90,
                                  n_boot=int(ctx.options.get("bunch_boot") or 199),
                                  seed=int(opt(ctx, "seed")) + 19)
    return run_once(ctx, ("bunching_disc", _measure(ctx)), make)


def _target(ctx: GamingContext) -> tuple[float | None, str, int]:
    """(target, how it was chosen, number of cut points scanned)."""
    t = opt(ctx, "aht_target")
    if t is not None:
        return float(t), "given", 1
    d = _scan(ctx)
    if d["target"] is None:
        return None, (f"{_measure(ctx)}-time range too narrow or too few calls to scan for a "
                      "target"), 0
    return (float(d["target"]),
            f"found as the largest density jump of {d['n_cuts']} cut points, "
            f"max-statistic p = {d['p_value']:.2g}", d["n_cuts"])


def band_pvalue(k, m, pi, var_pi):
    """One-sided normal p-value of ``k`` calls just below the target among ``m`` in both
    bands, against the share ``pi`` below with its fit's variance ``var_pi`` added to the
    binomial's: ``z = (k - m pi) / sqrt(m pi (1 - pi) + m^2 var_pi)``."""
    var = m * pi * (1 - pi) + m * m * var_pi
    return stats.norm.sf((k - m * pi) / np.sqrt(np.maximum(var, 1e-12)))


def agent_bunching_table(
    ids, mat: np.ndarray, edges: np.ndarray, target: float, *, w_below: float,
    w_above: float, degree: int = 3, min_calls: int = 200,
) -> pd.DataFrame:
    """Each agent's count just below the target against their own smooth density.

    Returns
    -------
    DataFrame ``agent_id, n, k, m, pi, expected, p_value, var_pi``: ``n`` calls in the
    fitted range, ``k`` in ``[T - w_below, T)``, ``m`` in ``[T - w_below, T + w_below)``,
    ``pi`` the fitted share below, ``expected = m * pi``, ``var_pi`` the fit's variance
    of ``pi`` (delta method).
    """
    rows = []
    for aid, y in zip(ids, mat, strict=True):
        n = int(y.sum())
        if n < min_calls:
            continue
        try:
            f = bunching_fit(y, edges, target, w_below=w_below, w_above=w_above, degree=degree)
        except np.linalg.LinAlgError:
            continue
        k = int(f["observed"])
        m = int(f["observed"] + f["above_observed"])
        if m == 0:
            continue
        pi = f["pi"]
        rows.append(dict(agent_id=str(aid), n=n, k=k, m=m, pi=pi, expected=m * pi,
                         p_value=float(band_pvalue(k, m, pi, f["var_pi"])),
                         var_pi=float(f["var_pi"])))
    return pd.DataFrame(rows, columns=["agent_id", "n", "k", "m", "pi", "expected", "p_value",
                                       "var_pi"])


def _skip(name: str, why: str) -> CheckResult:
    return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS), skipped=why)


@CHECKS.register("bunching_center")
def check_bunching_center(ctx: GamingContext) -> CheckResult:
    """Excess handle (or talk) times just under the target, center level (Poisson GLM + bootstrap).

    With ``bunch_measure`` ``auto`` (the default) both measures are tested where they
    differ; the center's p-value is their Cauchy combination and the row describes the
    measure with the smaller p-value. See the module docstring for the null model, the
    columns and what it cannot see.
    """
    name = "bunching_center"
    if "talk_s" not in ctx.columns:
        return _skip(name, "no data in column talk_s")
    rows, notes, why = [], [], []
    for m in _measures(ctx):
        row, note, skip = _center_one(_for_measure(ctx, m))
        if row is None:
            why.append(skip)
        else:
            rows.append(row)
            notes.append(note)
    if not rows:
        return _skip(name, "; ".join(why))
    best = dict(min(rows, key=lambda r: r["p_value"]))
    if len(rows) > 1:
        best["p_value"] = float(acat(np.array([r["p_value"] for r in rows])))
        best["detail"] += (f" (the stronger of {len(rows)} measures: p-value their Cauchy "
                           "combination)")
    notes += [f"not tested: {w}" for w in why]
    flags = pd.DataFrame([best])[FLAG_COLUMNS]
    return CheckResult(name, flags, notes=notes)


def _center_one(ctx: GamingContext) -> tuple[dict | None, str, str]:
    """The center's row on the context's one measure: (row, note, why it was skipped)."""
    name = "bunching_center"
    target, how, n_cand = _target(ctx)
    if target is None:
        return None, "", how
    q01, _, _, q99, _ = _range(ctx)
    s = _settings(ctx, target)
    edges = _fit_edges(target, s, q01, q99)
    counts = _agent_histogram(ctx, edges)[1].sum(axis=0)  # every handled call has an agent
    what = _measure(ctx)
    if counts.sum() < 200:
        return None, "", f"fewer than 200 calls near the {what}-time target {target:g} s"
    res = bunching_test(counts, edges, target, w_below=s["wb"], w_above=s["wa"],
                        degree=s["degree"], n_boot=int(ctx.options.get("bunch_boot") or 499),
                        seed=int(opt(ctx, "seed")) + 17)
    if how == "given":
        p, scan_note = res["p_value"], ""
    else:
        # the scan chose the target from these data: its max-statistic p-value carries
        # the multiplicity of the choice; the excess below it must be there too (a jump
        # made by a deficit above alone is not bunching): intersection-union, the larger p
        p = max(float(_scan(ctx)["p_value"]), float(res["p_value"]))
        scan_note = f" (target {how}; excess p = {res['p_value']:.2g})"
    detail = (f"{res['observed']:.0f} calls ended in the {s['wb']:g} s below the {target:g} s "
              f"{what}-time target vs {res['expected']:.0f} expected from the smooth density "
              f"(excess {res['excess']:.0f}, bootstrap SE {res['se']:.0f}){scan_note}")
    row = dict(
        agent_id="center", period="all", check=name,
        effect=100.0 * res["excess"] / max(res["expected"], 1e-9),
        effect_unit=f"% more calls than expected in the {s['wb']:g} s below the target",
        p_value=p, n=int(counts.sum()), k=int(res["observed"]), detail=detail,
    )
    return row, f"{what}-time target {target:g} s ({how})", ""


@CHECKS.register("bunching_agent")
def check_bunching_agent(ctx: GamingContext) -> CheckResult:
    """Each agent's excess just under the target against their own smooth density.

    See the module docstring for the null model, the columns and what it cannot see.
    """
    name = "bunching_agent"
    if "talk_s" not in ctx.columns or "agent_id" not in ctx.columns:
        return _skip(name, "no data in column talk_s or agent_id")
    min_calls = int(ctx.options.get("bunch_min_agent_calls") or 200)
    measures = _measures(ctx)
    parts, notes, why = [], [], []
    for m in measures:
        p_m, n_m, skip = _agent_parts(_for_measure(ctx, m), min_calls)
        parts += p_m
        notes += [f"{m} time: {x}" for x in n_m] if len(measures) > 1 else n_m
        if skip:
            why.append(skip)
    parts = [t for t in parts if not t.empty]
    if not parts:
        return _skip(name, "; ".join(why) or f"no agent with {min_calls} calls near a target")
    tab = pd.concat(parts, ignore_index=True)
    # one row per agent x period: its tests (at the center's target, at its own largest
    # jump, at the target other agents reveal; on each measure read) combined by
    # Bonferroni (valid whatever their dependence); effect and detail of the strongest
    key = tab["agent_id"].astype(str) + "\x1f" + tab["period"].astype(str)
    n_tests = key.map(key.value_counts()).to_numpy(float)
    tab = (tab.assign(_key=key, p_value=np.minimum(1.0, tab["p_value"] * n_tests))
           .sort_values(["_key", "p_value"], kind="stable").drop_duplicates("_key"))
    tab = tab.sort_values(["agent_id", "period"], key=lambda c: c.astype(str), kind="stable")
    flags = pd.DataFrame({
        "agent_id": tab["agent_id"],
        "period": tab["period"],
        "check": name,
        "effect": 100.0 * (tab["k"] - tab["expected"]) / tab["expected"].clip(lower=1e-9),
        "effect_unit": "% more calls just below the target than own smooth density predicts",
        "p_value": tab["p_value"],
        "n": tab["n"],
        "k": tab["k"],
        "detail": tab["detail"],
    })[FLAG_COLUMNS]
    return CheckResult(name, flags, notes=notes)


#: Own-jump p-value (Bonferroni over the cuts) at or below which an agent's largest jump
#: reveals a target to the other agents (:func:`peer_targets`).
PEER_ALPHA = 0.01
#: Other agents whose revealing jumps must agree (within :data:`PEER_TOL`) on a target.
PEER_MIN = 2
#: Relative distance within which two agents' jumps are the same target.
PEER_TOL = 0.05


def peer_targets(scan: pd.DataFrame, *, alpha: float = PEER_ALPHA, min_agree: int = PEER_MIN,
                 tol: float = PEER_TOL, step: float = 1.0) -> dict[str, tuple[float, int]]:
    """Each agent's target as the *other* agents' significant jumps reveal it.

    ``scan``: :func:`agent_scan_table`. The agents whose own largest jump is significant
    (``p_value <= alpha``) reveal their cut; for agent ``i`` the cuts of the others (``i``
    left out) are clustered (cuts within ``tol`` of a cut, relative) and the largest
    cluster with at least ``min_agree`` members gives ``i``'s target, its members' median
    rounded to ``step``. Chosen without agent ``i``'s calls, the target is, for ``i``'s
    own test, a given one: no multiplicity from the choice.

    Returns
    -------
    dict ``agent_id -> (target, number of agents revealing it)``.
    """
    strong = scan[scan["p_value"] <= alpha]
    if len(strong) < min_agree:
        return {}
    # clusters on the distinct cuts (a grid: a few hundred at most, however many agents)
    u, n_u = np.unique(strong["cut"].to_numpy(float), return_counts=True)
    near = np.abs(u[:, None] - u[None, :]) <= tol * u[None, :]  # [member, centre]
    own = dict(zip(strong["agent_id"].astype(str), np.searchsorted(u, strong["cut"]),
                   strict=True))

    def pick(counts: np.ndarray) -> tuple[float, int] | None:
        cnt = np.where(counts > 0, near.T.astype(float) @ counts, 0.0)
        j = int(np.argmax(cnt))
        if cnt[j] < min_agree:
            return None
        members = np.repeat(u[near[:, j]], counts[near[:, j]].astype(int))
        return float(np.round(np.median(members) / step) * step), int(cnt[j])

    everyone = pick(n_u.astype(float))
    out: dict[str, tuple[float, int]] = {}
    for aid in scan["agent_id"].astype(str):
        if aid in own:  # left out of its own target's choice
            c = n_u.astype(float)
            c[own[aid]] -= 1
            got = pick(c)
        else:
            got = everyone
        if got is not None:
            out[aid] = got
    return out


#: Fewest calls in the two bands at the target for an agent x period row.
PERIOD_MIN_BAND = 20


def _band_counts(ctx: GamingContext, target: float, width: float) -> pd.DataFrame:
    """Per period x agent: calls in ``[T - width, T)`` (``k``) and ``[T, T + width)``
    (``a``) of the context's measure (cached; one row per agent x period fetched)."""
    def make():
        dur = MEASURES[_measure(ctx)]
        lo, t, hi = float(target - width), float(target), float(target + width)
        df = ctx.con.execute(
            f"""SELECT {period_sql(ctx)} AS period, CAST(agent_id AS STRING) AS agent_id,
                       count(*) FILTER (WHERE {dur} < {t!r}) AS k,
                       count(*) FILTER (WHERE {dur} >= {t!r}) AS a
                FROM calls WHERE {HANDLED_SQL} AND {dur} >= {lo!r} AND {dur} < {hi!r}
                GROUP BY ALL ORDER BY period, agent_id"""
        ).df()
        df["period"] = df["period"].astype(str)
        return df
    return run_once(ctx, ("bunching_bands", _measure(ctx), float(target), float(width)), make)


def _at_target(ctx: GamingContext, target: float, how: str, min_calls: int,
               agents=None) -> pd.DataFrame:
    """Agents' tests at one target: over the whole window (period ``all``) and, where the
    run has more than one period, in each period (a target adopted mid-window shows in the
    periods after it undiluted)."""
    q01, _, _, q99, _ = _range(ctx)
    s = _settings(ctx, target)
    edges = _fit_edges(target, s, q01, q99)
    ids, mat = _agent_histogram(ctx, edges)
    if agents is not None:
        keep = np.isin(ids, list(agents))
        ids, mat = ids[keep], mat[keep]
    tab = agent_bunching_table(ids, mat, edges, target, w_below=s["wb"], w_above=s["wa"],
                               degree=min(3, s["degree"]), min_calls=min_calls)
    what = _measure(ctx)
    tab["detail"] = [
        f"{r.k} of {r.m} calls within {s['wb']:g} s of the {target:g} s target ended "
        f"below it vs {100 * r.pi:.0f}% expected from own {what}-time density ({how})"
        for r in tab.itertuples(index=False)
    ]
    out = [tab.assign(period="all")]
    if flag_option(ctx, "bunch_periods", True) and len(tab):
        # each period's count below against the same share: the agent's smooth density
        # over the whole window, fitted without the window, so a bunch does not move it
        per = _band_counts(ctx, target, s["wb"])
        if per["period"].nunique() > 1:
            per = per.merge(tab[["agent_id", "pi", "var_pi"]], on="agent_id")
            per = per[per["k"] + per["a"] >= PERIOD_MIN_BAND].reset_index(drop=True)
            m = (per["k"] + per["a"]).to_numpy(float)
            pi, k = per["pi"].to_numpy(float), per["k"].to_numpy(float)
            rows = pd.DataFrame({
                "agent_id": per["agent_id"], "n": m.astype(int), "k": k.astype(int),
                "m": m.astype(int), "pi": pi, "expected": m * pi,
                "p_value": band_pvalue(k, m, pi, per["var_pi"].to_numpy(float)),
                "period": per["period"]})
            rows["detail"] = [
                f"{r.k} of {r.m} calls within {s['wb']:g} s of the {target:g} s target ended "
                f"below it in {r.period} vs {100 * r.pi:.0f}% expected from own "
                f"{what}-time density over the window ({how})"
                for r in rows.itertuples(index=False)
            ]
            out.append(rows)
    return pd.concat(out, ignore_index=True)


def _agent_parts(ctx: GamingContext, min_calls: int) -> tuple[list, list[str], str]:
    """The agents' tests on the context's one measure: (tables, notes, why skipped)."""
    target, how, _ = _target(ctx)
    what = _measure(ctx)
    given = how == "given"
    if given and target is None:
        return [], [], how
    parts, notes = [], []
    # 1. every agent at the center's target: given, or found by a scan that is itself
    # significant (a target found by a non-significant scan is the noise's largest jump,
    # and testing every agent there would ignore that it was chosen)
    alpha = float(ctx.options.get("bunch_target_alpha") or 0.05)
    at_target = target is not None and (given or _scan(ctx)["p_value"] <= alpha)
    peer = not given and flag_option(ctx, "bunch_peer_target", True)
    if at_target:
        tab = _at_target(ctx, target, how, min_calls)
        parts.append(tab)
        notes.append(f"target {target:g} s ({how}); "
                     f"{tab.loc[tab['period'] == 'all', 'agent_id'].nunique()} agents with "
                     f">= {min_calls} calls near it")
    elif target is not None:
        notes.append(f"the center's largest jump ({target:g} s) is not significant "
                     f"(p > {alpha:g}): agents are not tested there, only at their own "
                     "largest jump" + (" and where other agents' jumps agree" if peer
                                       else ""))
    # 2. every agent at their own largest jump (a target the center does not show: a few
    # bunchers, or targets that differ by queue), Bonferroni over the cuts scanned
    if not given:
        edges, q10, q90, _ = _scan_edges(ctx)
        if len(edges) >= 20:
            ids, mat = _agent_histogram(ctx, edges)
            tab = agent_scan_table(ids, mat, edges, lo=q10, hi=q90, min_calls=min_calls)
            tab["detail"] = [
                f"own largest jump at {r.cut:g} s: {r.k} of {r.m} calls within "
                f"{r.band:g} s of it ended below it vs {100 * r.pi:.0f}% expected "
                f"from own {what}-time density (p {_p_text(r.p_min)} x {r.n_cuts} cuts scanned)"
                for r in tab.itertuples(index=False)
            ]
            parts.append(tab.assign(period="all"))
            notes.append(f"each agent's own largest density jump between {q10:.0f} and "
                         f"{q90:.0f} s ({len(tab)} agents with >= {min_calls} calls)")
            # 3. every agent at the target the other agents' significant jumps agree on
            # (left out of its choice, the agent is tested there as at a given target)
            if peer:
                pt = peer_targets(tab, step=float(edges[1] - edges[0]))
                if at_target:
                    tol = PEER_TOL * target
                    pt = {a: v for a, v in pt.items() if abs(v[0] - target) > tol}
                by_t: dict[tuple[float, int], list[str]] = {}
                for a, v in pt.items():
                    by_t.setdefault(v, []).append(a)
                for (t, k), agents in sorted(by_t.items()):
                    parts.append(_at_target(
                        ctx, t, f"the target {k} other agents' own significant jumps agree "
                        "on", min_calls, agents=agents))
                if by_t:
                    notes.append("agents tested where other agents' own significant jumps "
                                 "agree: " + ", ".join(f"{t:g} s ({len(a)} agents)"
                                                       for (t, _), a in sorted(by_t.items())))
    return parts, notes, ""
