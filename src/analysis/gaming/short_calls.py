"""Short calls and hang-ups: checks ``short_calls_peer`` and ``short_calls_trend``.

An agent who hangs up on callers (or releases calls at once) to lower average
handle time or raise calls handled leaves a trace: more handled calls with a
talk time under a few seconds than the agent's peers, and than the agent's own
earlier months.

``short_calls_peer`` (agent against peers, per period)
    Null model: honest agents differ in their natural short-call rate, so an
    agent's short-call count in a queue is BetaBinomial(n, a, b), with ``a, b``
    fitted by maximum likelihood to the *other* agents of the same queue and
    period (and shift, where the roster gives one); peers that are extreme
    against their own null are left out of everybody else's fit, so a few
    gamers do not hide each other (:func:`._betabinom.peer_betabinom_fits`). A
    pooled binomial is not used: it counts between-agent variation as evidence
    and is miscalibrated (``methods.md``).
    Agents who take several queues: the agent's total short calls are compared
    with the sum over queues under a *comonotone* null (one latent quantile
    ``U`` of the agent's "natural shortness", the same in every queue: in queue
    ``q`` the rate is the ``U``-quantile of that queue's fitted beta). For one
    queue this is exactly the beta-binomial; for several it has the largest
    spread any dependence between an agent's queues can give (convex order), so
    it stays calibrated whether a fast agent is fast everywhere or not (it is
    conservative when the queues are independent). Fisher or Stouffer
    combinations of per-queue tests would assume independence, which a
    naturally quick agent breaks.

``short_calls_trend`` (agent against their own earlier periods)
    Null model: the agent's short-call rate relative to peers is constant over
    time. With ``E_t`` the agent's expected short calls this period (their calls
    per queue times the peers' robust rate in that queue and period) and
    ``E_b`` the same over all earlier periods, ``k_t`` given ``k_t + k_b`` is
    Binomial(k_t + k_b, E_t / (E_t + E_b)) (conditional test of two Poisson rates
    with offsets; Przyborowski & Wilenski 1940). This absorbs changes of queue
    mix and center-wide swings (new IVR, season); it is conservative where the
    short-call rate is high (binomial variance below Poisson). It has far more
    power than the peer test for weak gaming (methods.md: 2% hang-ups on 2,000
    calls: recall 0.85 against 0.01) but cannot see an agent who gamed from
    their first period on; the peer test can.

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
``min_peers`` (5), ``short_use_ended_by`` (True), ``trend_baseline``
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
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import fft as sp_fft
from scipy import special, stats

from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext
from ._betabinom import betabinom_pvalue, peer_betabinom_fits
from ._context import HANDLED_SQL, opt, period_expr

__all__ = [
    "short_call_counts",
    "short_calls_peer_table",
    "short_calls_trend_table",
    "comonotone_sum_pvalue",
    "check_short_calls_peer",
    "check_short_calls_trend",
]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
# U-grid for the comonotone integral: Gauss-Legendre panels that get finer
# towards U = 1, where the upper tail of the sum lives.
_EDGES = np.concatenate([[0.0, 0.5], 1.0 - np.logspace(-1, -14, 14), [1.0]])


def _u_nodes() -> tuple[np.ndarray, np.ndarray]:
    xs, ws = [], []
    for lo, hi in zip(_EDGES[:-1], _EDGES[1:], strict=True):
        xs.append(lo + (hi - lo) * (_GL_X + 1) / 2)
        ws.append(_GL_W * (hi - lo) / 2)
    return np.concatenate(xs), np.concatenate(ws)


_U, _W = _u_nodes()


def comonotone_sum_pvalue(
    k_total: int, n, a, b, *, u_rand: float | None = None
) -> float:
    """P(T >= k_total) for T = sum_q Binomial(n_q, F_q^-1(U)), U ~ Uniform(0, 1).

    ``F_q`` is the Beta(a_q, b_q) distribution function. One queue: the
    beta-binomial upper tail. ``u_rand`` in [0, 1) gives the randomized value
    P(T > k) + u_rand * P(T = k) instead.
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
    rates = special.betaincinv(a[None, :], b[None, :], _U[:, None])
    rates = np.clip(rates, 1e-300, 1 - 1e-16)
    size = sp_fft.next_fast_len(total + 1, real=True)
    spec = np.ones((len(_U), size // 2 + 1), dtype=complex)
    for q in range(len(n)):
        x = np.arange(n[q] + 1, dtype=float)
        lc = special.gammaln(n[q] + 1) - special.gammaln(x + 1) - special.gammaln(n[q] - x + 1)
        r = rates[:, q : q + 1]
        logp = lc[None, :] + x[None, :] * np.log(r) + (n[q] - x)[None, :] * np.log1p(-r)
        spec *= sp_fft.rfft(np.exp(logp), n=size, axis=1)
    pmf = np.clip(sp_fft.irfft(spec, n=size, axis=1)[:, : total + 1], 0.0, None)
    p_ge = pmf[:, k_total:].sum(axis=1)
    pge = float(np.clip(np.dot(_W, p_ge), 0.0, 1.0))
    if u_rand is None:
        return pge
    peq = float(np.clip(np.dot(_W, pmf[:, k_total]), 0.0, 1.0))
    return max(pge - peq, 0.0) + u_rand * peq


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
    per = period_expr(opt(ctx, "period"))
    df = ctx.con.execute(
        f"""SELECT CAST(agent_id AS VARCHAR) AS agent_id, {per} AS period,
                   CAST(queue AS VARCHAR) AS queue, count(*) AS n,
                   count(*) FILTER (WHERE {cond}) AS k
            FROM calls WHERE {HANDLED_SQL}
            GROUP BY ALL ORDER BY agent_id, period, queue"""
    ).df()
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


def short_calls_peer_table(
    counts: pd.DataFrame,
    *,
    min_calls: int = 30,
    min_peers: int = 5,
    min_cell: int = 10,
    shift: dict | None = None,
    randomized: bool = False,
    seed: int | None = None,
) -> pd.DataFrame:
    """Agent against peers: one row per agent x period.

    Parameters
    ----------
    counts
        ``agent_id, period, queue, n, k`` (from :func:`short_call_counts`).
    min_calls
        Fewest calls (in tested queues) for an agent x period row to be tested.
    min_peers
        Fewest peers (after leaving out the agent and extreme peers) for a
        queue x period cell to be tested.
    min_cell
        An agent's calls in a queue count as a peer observation (and are
        tested) only from this many calls on.
    shift
        Optional ``agent_id -> shift``: peers are then the same queue and shift.
    randomized
        Randomized p-values (exactly uniform under the null; for studies).

    Returns
    -------
    DataFrame with ``agent_id, period, n, k, expected, p_value, peers, queues``:
    ``expected`` is the short-call count the peer null expects; ``peers`` the
    smallest number of peers behind any of the agent's queues; ``queues`` the
    tested queues.
    """
    rng = np.random.default_rng(seed)
    c = counts[counts["n"] >= min_cell].copy()
    c["group"] = c["queue"].astype(str)
    if shift:
        c["group"] = c["group"] + " / " + c["agent_id"].map(shift).fillna("?")
    c["a"] = np.nan
    c["b"] = np.nan
    c["peers"] = 0
    for _, idx in c.groupby(["period", "group"], sort=False).groups.items():
        sub = c.loc[idx]
        if len(sub) < min_peers + 1:
            continue
        a, b, npeer = peer_betabinom_fits(sub["k"].to_numpy(), sub["n"].to_numpy(),
                                          min_peers=min_peers)
        c.loc[idx, "a"] = a
        c.loc[idx, "b"] = b
        c.loc[idx, "peers"] = npeer
    c = c[np.isfinite(c["a"])]
    rows = []
    for (agent, period), g in c.groupby(["agent_id", "period"], sort=True):
        n_tot, k_tot = int(g["n"].sum()), int(g["k"].sum())
        if n_tot < min_calls:
            continue
        mean = g["a"] / (g["a"] + g["b"])
        u = float(rng.uniform()) if randomized else None
        p = comonotone_sum_pvalue(k_tot, g["n"].to_numpy(), g["a"].to_numpy(),
                                  g["b"].to_numpy(), u_rand=u)
        rows.append(dict(agent_id=agent, period=period, n=n_tot, k=k_tot,
                         expected=float((g["n"] * mean).sum()), p_value=p,
                         peers=int(g["peers"].min()), queues=", ".join(map(str, g["queue"]))))
    cols = ["agent_id", "period", "n", "k", "expected", "p_value", "peers", "queues"]
    return pd.DataFrame(rows, columns=cols)


def _peer_rates(counts: pd.DataFrame, min_cell: int = 10) -> pd.DataFrame:
    """Robust peer short-call rate per queue x period, leaving the agent out.

    The rate is the median of the other agents' rates (agents with at least
    ``min_cell`` calls), so a few gamers do not move it; it falls back to the
    pooled rate of the others, then to the agent's own cell.
    """
    out = counts.copy()
    out["peer_rate"] = np.nan
    for _, idx in out.groupby(["period", "queue"], sort=False).groups.items():
        sub = out.loc[idx]
        r = (sub["k"] / sub["n"]).to_numpy()
        big = (sub["n"] >= min_cell).to_numpy()
        vals = []
        for i in range(len(sub)):
            m = big.copy()
            m[i] = False
            if m.sum() >= 3:
                vals.append(float(np.median(r[m])))
            else:
                others = np.ones(len(sub), bool)
                others[i] = False
                kk, nn = sub["k"].to_numpy()[others].sum(), sub["n"].to_numpy()[others].sum()
                vals.append(kk / nn if nn > 0 else np.nan)
        out.loc[idx, "peer_rate"] = vals
    pooled = out["k"].sum() / max(out["n"].sum(), 1)
    out["peer_rate"] = out["peer_rate"].fillna(pooled)
    # a zero rate would make the offset useless: floor at half a call per cell
    out["peer_rate"] = np.maximum(out["peer_rate"], 0.5 / out["n"].clip(lower=1))
    return out


def short_calls_trend_table(
    counts: pd.DataFrame,
    *,
    min_calls: int = 30,
    baseline: str = "earlier",
    adjust: bool = True,
    randomized: bool = False,
    seed: int | None = None,
) -> pd.DataFrame:
    """Agent against their own earlier (or other) periods: one row per agent x period.

    Parameters
    ----------
    counts
        ``agent_id, period, queue, n, k``.
    baseline
        ``earlier``: all of the agent's earlier periods; ``other``: all other
        periods (before and after).
    adjust
        Offset by the peers' rate per queue and period (absorbs queue mix and
        center-wide swings); False: plain comparison of the agent's rates.

    Returns
    -------
    DataFrame with ``agent_id, period, n, k, n_base, k_base, expected, p_value,
    base_periods``; ``expected`` is the short calls this period at the agent's
    own baseline rate (peer-adjusted).
    """
    rng = np.random.default_rng(seed)
    c = _peer_rates(counts) if adjust else counts.assign(peer_rate=1.0)
    c = c.assign(e=c["n"] * c["peer_rate"])
    ap = c.groupby(["agent_id", "period"], sort=True)[["n", "k", "e"]].sum().reset_index()
    rows = []
    for agent, g in ap.groupby("agent_id", sort=True):
        g = g.sort_values("period")
        per = g["period"].to_numpy()
        n, k, e = g["n"].to_numpy(), g["k"].to_numpy(), g["e"].to_numpy()
        for i in range(len(g)):
            base = np.arange(len(g)) < i if baseline == "earlier" else np.arange(len(g)) != i
            nb, kb, eb = n[base].sum(), k[base].sum(), e[base].sum()
            if n[i] < min_calls or nb < min_calls:
                continue
            tot = int(k[i] + kb)
            pi = e[i] / (e[i] + eb)
            if tot == 0:
                p = 1.0 if not randomized else float(rng.uniform())
            else:
                p_ge = stats.binom.sf(k[i] - 1, tot, pi)
                if randomized:
                    p = float(p_ge - rng.uniform() * stats.binom.pmf(k[i], tot, pi))
                else:
                    p = float(p_ge)
            expected = e[i] * (kb / eb) if eb > 0 else np.nan
            rows.append(dict(agent_id=agent, period=per[i], n=int(n[i]), k=int(k[i]),
                             n_base=int(nb), k_base=int(kb), expected=float(expected),
                             p_value=p, base_periods=f"{per[base][0]}..{per[base][-1]}"))
    cols = ["agent_id", "period", "n", "k", "n_base", "k_base", "expected", "p_value",
            "base_periods"]
    return pd.DataFrame(rows, columns=cols)


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
    """Short calls against peers in the same queue (and shift): beta-binomial null.

    See the module docstring for the null model, the columns and what it cannot see.
    """
    name = "short_calls_peer"
    if why := _needs(ctx):
        return CheckResult(name, pd.DataFrame(columns=FLAG_COLUMNS), skipped=why)
    counts, what = short_call_counts(ctx)
    shift = _shift_of(ctx)
    tab = short_calls_peer_table(
        counts,
        min_calls=int(opt(ctx, "min_calls")),
        min_peers=int(ctx.options.get("min_peers", 5)),
        shift=shift,
        randomized=bool(ctx.options.get("randomized", False)),
        seed=int(opt(ctx, "seed")) + 11,
    )
    notes = [f"short = {what}; peers = same queue" + (" and shift" if shift else "")
             + " and period (beta-binomial, leave-one-out, extreme peers trimmed)"]
    untested = counts.groupby(["agent_id", "period"]).ngroups - len(tab)
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
