"""Quick callbacks after an agent's short calls (check ``quick_callback_after_short``).

A caller whose call the agent cut off rings back at once, usually within the hour,
while the repeat calls that follow honest short calls (wrong numbers, a question
answered in ten seconds, a dropped line that the customer shrugs off) and the agent's
ordinary calls are spread over the following days. So the share of an agent's short
calls after which the *same customer calls back within* ``quick_callback_h`` hours
(default 6) is a quicker and more specific trace of a hang-up than
``repeat_after_short`` (72 h window, log odds ratio against the peers' odds ratios).

Statistic
---------
The panel's repeat flag with a ``quick_callback_h``-hour window (the same relation,
censoring and definition of a short call as :func:`.repeat_after_short.repeat_counts`):
per agent x period ``k_s`` quick callbacks after ``n_s`` short calls and ``k_o`` after
``n_o`` other calls, and the same over the whole window (period ``all``, so a
persistent excess accumulates over the periods).

Null model (conditional, rate-ratio)
------------------------------------
Customers differ in how often they call, and agents differ in whose calls they take
(a queue of frequent callers, a shift of impatient ones), so the agent's overall
callback rate is a nuisance. Conditioning on the agent's total ``K = k_s + k_o``
removes it: if the agent's callback rate after short calls is ``theta`` times the rate
after their other calls, ``k_s | K ~ Binomial(K, pi)``, ``pi = n_s theta / (n_s theta +
n_o)`` (the conditional test of two Poisson rates; Przyborowski & Wilenski 1940).
``theta`` is the center's ratio in the period, leave-one-out (the agent's own calls
do not set their baseline). Honest agents differ in ``theta`` too (how often their
honest short calls are a customer's false start), so ``pi`` is given a beta mixing
distribution: ``k_s | K ~ BetaBinomial(K, A pi, A (1 - pi))`` with one precision
``A`` fitted across agents (:func:`._betabinom.fit_precision`). The first fit
uses only the rows within 2.5 robust SDs of the median standardized residual
(widened by the variance that trim removes from a normal, as in
``short_calls_trend``); then rows extreme against the null (p < ``trim_p``,
0.005) are left out of ``theta`` and ``A`` and everything is refitted (three
times at most), so gamers widen neither and cannot mask each other. One-sided: more
callbacks after short calls.

The fitted precision is treated as known, which makes the far tail somewhat liberal
(methods.md); the check is therefore among the tail-calibrated checks of the runner
(``--option empirical_null=true``). Tests: ``tests/test_gaming_quick_callback.py``
(null worlds in which customers differ tenfold in their calling rate; p-values
uniform at .05, .01 and .001).

Known limit, measured: the beta has a light upper tail on the log-ratio scale. Where
honest agents' ratios spread log-normally (SD 0.3-0.6 on the log scale; 30 agents, two
months and ``all``, 27,000 rows) it puts them below .001 2.2-3.4 times and below 1e-4
6-12 times too often (120 agents, SD 0.6: 2.3x and 1.4x). Two alternatives were tried
(2026-12): integrating over the precision's likelihood (predictive, flat prior on
``log A``) took 1e-4 from 8.5x to 4x but left .001 at 2.8x; a logit-normal null with an
offset ``log(n_s / n_o)`` and a scale per period fitted with each period's top quarter
censored was calibrated there (1.5x / 1.7x) but on the outside worlds
(``benchmarks/worlds_outside.py``) its per-period scale read the noise of ~8 callbacks an
agent and the agents gaming other metrics as spread (0.27-0.40 against the beta's ~0.1),
and hang-up recall fell from 0.77 to 0.69 (61 days) and 0.22 to 0.16 (20 days). Neither
was landed. What the excess comes from: the trimming that keeps gamers out of the fit.
Without it (``trim_p=0``) the same worlds give 0.8x at .001 and 0.4x at 1e-4 (the
light-tailed beta, fitted to every row, widens itself for the log-normal tail), but the
gamers then widen the null too: on the outside worlds hang-up recall fell to 0.64 (61
days) and 0.14 (20 days). A precision fitted with each period's top quarter (or tenth)
censored instead of trimmed stays near the trimmed one (3.7x / 3.2x at .001): fitted to
the body, the beta does not reach the log-normal's tail. A null both robust to gamers and
right in the tail needs the tail's shape from the data, which ~100 rows a period do not
give.

Columns needed: ``customer_id`` (calls without one, or with ``0``, are not linked),
``answer_ts``, ``talk_s``; ``arrival_ts`` (else the answer time stands in). Skipped
without ``customer_id``. ``ended_by`` is not used: the check is meant for data
without it.

What it cannot see: callbacks through other channels; customers not identified;
a gamer whose victims give up or call back after the window; a hang-up on a
customer who would have called back anyway (the contrast is against the agent's own
other calls).

Options: ``quick_callback_h`` (6), ``min_short`` (10), ``randomized`` (False),
``seed``.

References
----------
Przyborowski, J. & Wilenski, H. (1940). Homogeneity of results in testing samples
from Poisson series. *Biometrika* 31, 313-323.
Skellam, J. G. (1948). A probability distribution derived from the binomial
distribution by regarding the probability of success as variable between the sets
of trials. *JRSS B* 10, 257-261.
Efron, B. (2004). Large-scale simultaneous hypothesis testing: the choice of a null
hypothesis. *JASA* 99, 96-104 (the runner's tail calibration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import CHECKS, CheckResult, GamingContext
from ._betabinom import betabinom_pvalue, fit_precision, predictive_ab
from ._sigutil import flag_option, make_flags, option, seed, skipped
from .repeat_after_short import repeat_counts
from .short_calls import _TRIM_VAR_2_5

_MAD = 1.482602218505602  # 1 / Phi^-1(3/4)

__all__ = ["QUICK_CALLBACK_H", "check_quick_callback_after_short", "quick_callback_table"]

#: Default window (hours from the answer) of a quick callback.
QUICK_CALLBACK_H = 6.0


def _theta(k_s, n_s, k_o, n_o, keep, cell) -> np.ndarray:
    """Leave-one-out center ratio of callback rates (short / other) per cell.

    Sums over the kept rows of the row's cell minus the row itself (if kept); a
    half is added to every count so an empty cell gives a finite ratio.
    """
    d = pd.DataFrame({"cell": cell, "ks": np.where(keep, k_s, 0), "ns": np.where(keep, n_s, 0),
                      "ko": np.where(keep, k_o, 0), "no": np.where(keep, n_o, 0)})
    tot = d.groupby("cell")[["ks", "ns", "ko", "no"]].transform("sum")
    ks = tot["ks"] - d["ks"] + 0.5
    ns = tot["ns"] - d["ns"] + 1.0
    ko = tot["ko"] - d["ko"] + 0.5
    no = tot["no"] - d["no"] + 1.0
    return ((ks / ns) / (ko / no)).to_numpy(float)


def quick_callback_table(counts: pd.DataFrame, *, min_short: int = 10, trim_p: float = 0.005,
                         randomized: bool = False, seed: int | None = None) -> pd.DataFrame:
    """Conditional beta-binomial test of quick callbacks after short vs other calls.

    Parameters
    ----------
    counts
        ``agent_id, period, n_short, k_short, n_other, k_other`` (one row per agent x
        period; a period ``all`` is a cell of its own).
    min_short
        Rows need this many short and other calls with an observed window.
    trim_p
        Rows with p below it are left out of the center ratio and of the precision.
    randomized
        Randomized p-values (exactly uniform under the null; for calibration studies).

    Returns
    -------
    DataFrame ``agent_id, period, n_short, k_short, n_other, k_other, theta, pi,
    expected, p_value``: ``theta`` is the center's (leave-one-out) ratio of the
    callback rate after short calls to that after other calls, ``pi`` the share of the
    agent's callbacks expected after short calls, ``expected`` the callbacks expected
    after short calls given the agent's total. ``attrs["precision"]`` holds ``A``.
    """
    cols = ["agent_id", "period", "n_short", "k_short", "n_other", "k_other", "theta", "pi",
            "expected", "p_value"]
    t = counts[(counts["n_short"] >= min_short) & (counts["n_other"] >= min_short)]
    t = t.reset_index(drop=True).copy()
    if t.empty:
        return pd.DataFrame(columns=cols)
    ks, ns = t["k_short"].to_numpy(np.int64), t["n_short"].to_numpy(float)
    ko, no = t["k_other"].to_numpy(np.int64), t["n_other"].to_numpy(float)
    tot = ks + ko
    cell = t["period"].astype(str).to_numpy()
    keep = np.ones(len(t), dtype=bool)
    prec = np.inf
    for _pass in range(4):
        theta = _theta(ks, ns, ko, no, keep, cell)
        pi = np.clip(ns * theta / (ns * theta + no), 1e-9, 1 - 1e-9)
        fit = keep & (tot > 0)
        inflate = 1.0
        if _pass == 0 and trim_p > 0:
            # robust start: only rows within 2.5 robust SDs of the median standardized
            # residual enter the first fit (then widened by the variance such a trim
            # removes from a normal), so a group of gamers cannot widen the null enough
            # to hide in it (masking); later passes trim by p-value
            z = (ks - tot * pi) / np.sqrt(np.maximum(tot * pi * (1 - pi), 1e-9))
            zf = z[fit]
            mad = _MAD * np.median(np.abs(zf - np.median(zf))) if fit.any() else 0.0
            if np.isfinite(mad) and mad > 0:
                fit &= np.abs(z - np.median(zf)) <= 2.5 * mad
                inflate = 1.0 / _TRIM_VAR_2_5
        prec = fit_precision(ks[fit], tot[fit], pi[fit]) if fit.sum() >= 2 else np.inf
        if inflate != 1.0 and fit.any() and np.isfinite(prec):
            kk = float(np.median(tot[fit]))
            over = (1.0 + max(kk - 1.0, 0.0) / (prec + 1.0)) * inflate - 1.0
            if over > 0:
                prec = float(np.clip(max(kk - 1.0, 1e-9) / over - 1.0, 1e-3, 1e7))
        a, b = predictive_ab(pi, prec)
        pos = tot > 0
        p = np.ones(len(t))
        p[pos] = betabinom_pvalue(ks[pos], tot[pos], a[pos], b[pos])
        new_keep = p >= trim_p
        if _pass == 3 or trim_p <= 0 or (_pass > 0 and np.array_equal(new_keep, keep)):
            break
        keep = new_keep
    if randomized:
        rng = np.random.default_rng(seed)
        u = rng.uniform(size=len(t))
        p_gt = np.zeros(len(t))
        nz = pos & (ks < tot)
        p_gt[nz] = betabinom_pvalue(ks[nz] + 1, tot[nz], a[nz], b[nz])
        p = np.where(pos, p_gt + u * (p - p_gt), u)
    t["theta"], t["pi"], t["expected"], t["p_value"] = theta, pi, tot * pi, p
    out = t[cols]
    out.attrs["precision"] = float(prec)
    return out


@CHECKS.register("quick_callback_after_short")
def check_quick_callback_after_short(ctx: GamingContext) -> CheckResult:
    """Quick callbacks after short calls vs after the agent's other calls (module docstring).

    Options: ``quick_callback_h`` (6), ``min_short`` (10), ``randomized``, ``seed``.

    Returns
    -------
    CheckResult; flags have ``effect`` = quick callbacks per 100 short calls above the
    number expected from the agent's own other calls and the center's ratio,
    ``n`` = short calls with an observed window, ``k`` = those followed by a quick
    callback. Rows per period and, with more than one period, over the whole window
    (period ``all``).
    """
    name = "quick_callback_after_short"
    if "customer_id" not in ctx.columns:
        return skipped(name, "customer_id is missing: callbacks cannot be linked")
    window = float(option(ctx, "quick_callback_h", QUICK_CALLBACK_H))
    if not window > 0:
        from ..errors import ConfigError

        raise ConfigError(f"quick_callback_h must be > 0, got {window!r}")
    min_short = int(option(ctx, "min_short", 10))
    counts = repeat_counts(ctx, window_h=window)
    num = ["n_short", "k_short", "n_other", "k_other", "censored"]
    if counts["period"].nunique() > 1:
        whole = counts.groupby("agent_id", as_index=False, sort=True)[num].sum()
        counts = pd.concat([counts, whole.assign(period="all")], ignore_index=True)
    tab = quick_callback_table(counts, min_short=min_short,
                               randomized=flag_option(ctx, "randomized", False),
                               seed=seed(ctx, 43))
    if tab.empty:
        return skipped(name, f"no agent has {min_short} short and {min_short} other calls "
                       f"with an observed {window:g}-hour window")
    unit = (f"more quick callbacks (same customer within {window:g} h) per 100 short calls "
            "than expected from the agent's other calls")
    rows = []
    for r in tab.itertuples(index=False):
        rows.append(dict(
            agent_id=r.agent_id, period=r.period, check=name,
            effect=100.0 * (r.k_short - r.expected) / r.n_short, effect_unit=unit,
            p_value=r.p_value, n=int(r.n_short), k=int(r.k_short),
            detail=(f"{r.k_short} of {r.n_short} short calls called back within {window:g} h "
                    f"({100 * r.k_short / r.n_short:.1f}%) vs {r.k_other} of {r.n_other} other "
                    f"calls ({100 * r.k_other / r.n_other:.1f}%); {r.expected:.1f} expected at "
                    f"the center's ratio {r.theta:.2f}"),
        ))
    notes = [f"quick callback: same customer within {window:g} h of the answer; calls whose "
             "window passes the end of the data are censored; conditional beta-binomial test "
             f"(precision {tab.attrs['precision']:.3g} fitted across agents)"]
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
