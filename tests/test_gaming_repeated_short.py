"""repeated_short_calls: counts, wiring, calibration on null worlds, power, registration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.gaming._base import CHECKS
from analysis.gaming._empnull import calibrate_pvalues, fit_empirical_null
from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.repeat_after_short import (
    check_repeated_short_calls,
    repeat_counts,
    repeated_short_counts,
)
from analysis.gaming.short_calls import short_calls_peer_table

NAME = "repeated_short_calls"


def _world(seed, *, n_agents=60, days=20, messy=False, effects=None):
    df = simulate_calls(n_agents=n_agents, days=days, seed=seed, messy=messy, effects=effects)
    df["ended_by"] = None  # the check is for data without ended_by
    return df


def test_counts_agree_with_the_repeat_check_and_a_pandas_sum():
    """Summed over queues, ``k`` is repeat_after_short's repeats after short calls and ``n``
    its calls with an observed window (short + other), agent by agent; and the handled
    calls with a linked customer bound ``n`` from above (censored windows are left out)."""
    df = _world(3, n_agents=30, days=12)
    ctx = make_context(df)
    c = repeated_short_counts(ctx)
    r = repeat_counts(ctx).set_index(["agent_id", "period"])
    s = c.groupby(["agent_id", "period"])[["n", "k"]].sum()
    r = r.loc[s.index]
    assert (s["k"] == r["k_short"]).all()
    assert (s["n"] == r["n_short"] + r["n_other"]).all()
    handled = df[df["outcome"].isin(["answered", "transferred"]) & df["agent_id"].notna()]
    per_q = handled.groupby([handled["agent_id"].astype(str), handled["queue"].astype(str)]).size()
    cq = c.groupby(["agent_id", "queue"])["n"].sum()
    assert (cq <= per_q.reindex(cq.index)).all() and (cq < per_q.reindex(cq.index)).any()


def test_pvalues_are_the_peer_null_of_those_counts():
    """The check is the random-intercept logistic peer null (pinned to Monte Carlo and scipy
    in ``test_gaming_short.py``) applied to the repeated-short counts: same p-values."""
    ctx = make_context(_world(5, n_agents=50, days=15), options={"seed": 2})
    f = check_repeated_short_calls(ctx).flags.set_index("agent_id")
    tab = short_calls_peer_table(repeated_short_counts(ctx), seed=2 + 43).set_index("agent_id")
    assert len(f) == len(tab) > 40
    np.testing.assert_allclose(f["p_value"], tab.loc[f.index, "p_value"], rtol=1e-12)
    np.testing.assert_array_equal(f["k"], tab.loc[f.index, "k"])


@pytest.fixture(scope="module")
def null_pvals():
    """Randomized p-values, 8 clean and 8 messy null worlds (120 agents, 20 days)."""
    out = {}
    for messy in (False, True):
        ps = []
        for s in range(8):
            ctx = make_context(_world(700 + s, n_agents=120, messy=messy),
                               options={"randomized": True, "seed": s})
            ps.append(check_repeated_short_calls(ctx).flags["p_value"].to_numpy(float))
        out[messy] = ps
    return out


def _within_binomial_limits(p, alphas=(0.05, 0.01, 0.001)):
    for a in alphas:
        lo, hi = stats.binom.ppf([0.0005, 0.9995], len(p), a)
        assert lo <= np.sum(p < a) <= hi, (a, np.mean(p < a))


def test_calibrated_on_clean_null_worlds(null_pvals):
    """Honest agents who differ in their natural short-call rate and in how often their short
    calls are followed by repeats: randomized p-values uniform (KS) and within binomial
    limits at .05, .01 and .001 (~960 p-values)."""
    p = np.concatenate(null_pvals[False])
    assert len(p) > 900
    assert stats.kstest(p, "uniform").pvalue > 0.001
    _within_binomial_limits(p)


def test_messy_worlds_tail_calibrated_at_05_and_01(null_pvals):
    """Messy worlds (heavy-tailed propensities shared across queues and behaviours,
    agent-day swings) break the logit-normal mixing law; after the runner's
    empirical-null tail calibration (:mod:`analysis.gaming._empnull`) the rejection rates at .05 and
    .01 are within binomial limits (~960 p-values)."""
    cal = np.concatenate([calibrate_pvalues(p, fit_empirical_null(p)) for p in null_pvals[True]])
    assert len(cal) > 900
    _within_binomial_limits(cal, alphas=(0.05, 0.01))


@pytest.mark.xfail(strict=True, reason="known: on messy worlds the tail at .001 stays "
                   "~6x nominal after the per-world empirical null (120 agents); the same "
                   "holds for short_calls_peer (gaming_calibration.md). One reason "
                   "the check is not in the default battery.")
def test_messy_worlds_tail_calibrated_at_001(null_pvals):
    cal = np.concatenate([calibrate_pvalues(p, fit_empirical_null(p)) for p in null_pvals[True]])
    assert np.sum(cal < 0.001) <= stats.binom.ppf(0.9995, len(cal), 0.001)


def test_power_on_planted_hangups_without_ended_by():
    """Six agents hang up 10% of their calls (no ended_by, 20 days): most get p < .01 while
    honest agents stay near their nominal rate."""
    gamers = {f"A{i:03d}": {"hangup": 0.10} for i in range(6)}
    ctx = make_context(_world(11, n_agents=80, effects=gamers), options={"seed": 1})
    f = check_repeated_short_calls(ctx).flags.set_index("agent_id")["p_value"]
    planted = f.loc[list(gamers)]
    honest = f.drop(list(gamers))
    assert (planted < 0.01).mean() >= 0.8, planted
    assert (honest < 0.05).mean() <= 0.12


def test_study_check_not_in_the_default_battery_and_skipped_without_customers():
    """Not registered (it cost 61-day recall and honest flags when combined; see the
    check's docstring); without customer_id it skips instead of failing."""
    assert NAME not in CHECKS.names()
    df = _world(2, n_agents=20, days=5)
    res = check_repeated_short_calls(make_context(df, drop=("customer_id",)))
    assert res.skipped and res.flags.empty


def test_whole_window_row_when_several_periods():
    ctx = make_context(_world(4, n_agents=40, days=40), options={"seed": 0})
    f = check_repeated_short_calls(ctx).flags
    assert {"all"} < set(f["period"]) and f["period"].nunique() >= 3
    assert isinstance(f, pd.DataFrame) and f["p_value"].between(0, 1).all()
