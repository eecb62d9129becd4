"""Transfer dumping (check ``transfer_dumping``).

An agent who "dumps" calls transfers them out instead of handling them: their
transfer rate is high, and their transfers come early in the call (little talk
before the transfer, compared with how peers transfer). The check combines
two tests per agent x period:

1. **Rate.** The agent's transfers ``k`` out of ``n`` handled calls, per queue,
   against a beta-binomial fitted to the *other* agents of the same queue and
   period (leave-one-out refit for every agent above the crowd; no trimming:
   iterative trimming of extreme peers collapsed the fitted dispersion to the
   binomial with about a dozen agents a queue and flagged honest agents). Agents working several queues get
   the exact tail of the sum of their per-queue beta-binomials (the pmfs are
   convolved). A pooled binomial would be miscalibrated because honest agents'
   natural transfer rates differ (``methods.md``).
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

Assumption: honest agents' natural transfer rates are beta-distributed
around the queue's rate (as in :mod:`analysis.synth`; calibrated there and in
the tests). Under a heavier-tailed spread (log-normal rates, SD 0.35 on the
log scale) the rate part rejected 2.9 % of honest agents at alpha 0.01.

What it cannot see: where the call went and whether the transfer was right
(a specialist queue may legitimately receive early transfers: read the
queue); dumping by releasing calls (hang-ups; see ``short_calls``); a whole
queue dumping together (peers move with it: see ``changepoints``).

References
----------
Skellam, J. G. (1948). A probability distribution derived from the binomial
distribution by regarding the probability of success as variable between the
sets of trials. *JRSS B* 10, 257–261.
Fisher, R. A. (1932). *Statistical Methods for Research Workers*, 4th ed.
(combining independent p-values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal

from ._base import CHECKS, CheckResult, GamingContext
from ._betabinom import betabinom_logpmf_range, betabinom_pvalue, fit_betabinom
from ._sigutil import (
    HANDLED,
    fisher_combine,
    make_flags,
    option,
    peer_test_by_period,
    period_sql,
    seed,
    skipped,
)

__all__ = ["check_transfer_dumping", "sum_betabinom_sf", "transfer_cells"]


def sum_betabinom_sf(k: int, ns, alphas, betas) -> float:
    """P(K >= k) for K the sum of independent BetaBinomial(n_j, a_j, b_j).

    One component is the ordinary beta-binomial upper tail; more are convolved
    (FFT for long pmfs).
    """
    pmf = np.array([1.0])
    for n, a, b in zip(ns, alphas, betas, strict=True):
        lp = betabinom_logpmf_range(int(n), float(a), float(b))
        p = np.exp(lp - lp.max())
        p /= p.sum()
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
        FROM (SELECT *, CAST(round(ln(1 + talk_s) * 1e12) AS HUGEINT) AS li
              FROM calls WHERE {HANDLED} AND talk_s >= 0)
        GROUP BY ALL ORDER BY agent_id, period, queue
        """
    ).df()
    df["agent_id"] = df["agent_id"].astype(str)
    df["period"] = df["period"].astype(str)
    df["queue"] = df["queue"].astype(str)
    return df


def _loo_fits(k: np.ndarray, n: np.ndarray, *, screen_p: float = 0.3, min_peers: int = 3):
    """Per-agent beta-binomial null fitted to the other agents of the group.

    The leave-one-out refit only matters for agents above the crowd, so it is
    done for agents whose tail p-value under the all-agents fit is below
    ``screen_p``; the others keep the all-agents fit (which includes them, so
    their p-value is, if anything, a little conservative).
    """
    m = len(k)
    a = np.full(m, np.nan)
    b = np.full(m, np.nan)
    if int((n > 0).sum()) <= min_peers:
        return a, b
    full = fit_betabinom(k, n)
    a[:], b[:] = full
    p_full = betabinom_pvalue(k.astype(int), n.astype(int), full[0], full[1])
    for i in np.nonzero(p_full < screen_p)[0]:
        w = (n > 0).astype(float)
        w[i] = 0.0
        if w.sum() < min_peers:
            a[i] = b[i] = np.nan
            continue
        a[i], b[i] = fit_betabinom(k, n, weights=w, start=full)
    return a, b


def _rate_pvalues(cells: pd.DataFrame) -> pd.DataFrame:
    """Per agent x period: beta-binomial tail p of the transfer count and its expectation."""
    cells = cells.copy()
    cells["a"] = np.nan
    cells["b"] = np.nan
    for _, idx in cells.groupby(["period", "queue"]).groups.items():
        g = cells.loc[idx]
        a, b = _loo_fits(g["k"].to_numpy(float), g["n"].to_numpy(float))
        cells.loc[idx, "a"] = a
        cells.loc[idx, "b"] = b
    cells = cells[np.isfinite(cells["a"])]
    rows = []
    for (aid, per), g in cells.groupby(["agent_id", "period"], sort=True):
        k = int(g["k"].sum())
        p = sum_betabinom_sf(k, g["n"], g["a"], g["b"])
        exp = float((g["n"] * g["a"] / (g["a"] + g["b"])).sum())
        rows.append(dict(agent_id=aid, period=per, n=int(g["n"].sum()), k=k, p_rate=p,
                         expected=exp))
    return pd.DataFrame(rows, columns=["agent_id", "period", "n", "k", "p_rate", "expected"])


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
    """Transfer dumping: beta-binomial transfer rate and early transfers (module docstring).

    Options: ``min_calls`` (default 30), ``min_peers`` (8), ``min_transfers`` (5).

    Returns
    -------
    CheckResult; flags have ``effect`` = excess transfers per 100 handled calls
    over the same-queue expectation, ``n`` = handled calls, ``k`` = transfers,
    ``p_value`` = Fisher combination of the rate and early-transfer p-values.
    """
    name = "transfer_dumping"
    if "outcome" not in ctx.columns or "talk_s" not in ctx.columns:
        return skipped(name, "outcome or talk_s is missing")
    n_tr = ctx.con.execute(
        f"SELECT count(*) FILTER (WHERE outcome = 'transferred') FROM calls WHERE {HANDLED}"
    ).fetchone()[0]
    if not n_tr:
        return skipped(name, "no call has outcome 'transferred' (the source records no transfers)")
    min_calls = int(option(ctx, "min_calls", 30))
    min_peers = int(option(ctx, "min_peers", 8))
    min_tr = int(option(ctx, "min_transfers", 5))
    cells = transfer_cells(ctx)
    rate = _rate_pvalues(cells)
    rate = rate[rate["n"] >= min_calls]
    notes = []
    counts = rate.groupby("period").size()
    small = counts[counts < min_peers]
    if len(small):
        notes.append(f"periods with fewer than {min_peers} agents not tested: "
                     f"{', '.join(map(str, small.index))}")
        rate = rate[~rate["period"].isin(small.index)]
    early = _early_table(cells, min_tr)
    early = early.merge(rate[["agent_id", "period"]], on=["agent_id", "period"])
    etest, n2 = peer_test_by_period(early, min_peers=min_peers,
                                    rng=np.random.default_rng(seed(ctx, 21)))
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
                        f"{100 * r.expected / r.n:.1f}% (beta-binomial p {r.p_rate:.3g}); "
                        + early_txt),
            )
        )
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
