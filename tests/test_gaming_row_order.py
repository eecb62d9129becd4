"""Gaming checks give the same p-values whatever the order of the input rows.

The peer tests draw random numbers agent by agent; if the agents' order follows
DuckDB's (unordered) GROUP BY output, the same seed gives other p-values from run to run.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.handle_inflation import check_acw_inflation, check_hold_inflation
from analysis.gaming.repeat_after_short import check_repeat_after_short
from analysis.gaming.survey_selection import check_survey_selection
from analysis.gaming.transfers import check_transfer_dumping


@pytest.mark.parametrize("check", [check_acw_inflation, check_hold_inflation,
                                   check_survey_selection, check_transfer_dumping,
                                   check_repeat_after_short])
def test_row_order_does_not_change_p_values(check):
    calls = simulate_calls(n_agents=30, days=20, seed=77, customers=True)
    shuffled = calls.sample(frac=1.0, random_state=3).reset_index(drop=True)
    key = ["agent_id", "period"]
    a = check(make_context(calls)).flags.sort_values(key).reset_index(drop=True)
    b = check(make_context(shuffled)).flags.sort_values(key).reset_index(drop=True)
    assert len(a) > 10
    pd.testing.assert_series_equal(a["p_value"], b["p_value"], rtol=1e-9)
    pd.testing.assert_series_equal(a["effect"], b["effect"], rtol=1e-9)


def test_checks_run_two_at_a_time_give_the_same_report():
    """``check_threads`` changes only the wall time: flags, agents and change points equal."""
    from analysis.errors import ConfigError
    from analysis.gaming import run_checks

    calls = simulate_calls(n_agents=30, days=40, seed=5, customers=True)
    one = run_checks(calls, options={"check_threads": 1, "raise_errors": True})
    two = run_checks(calls, options={"check_threads": 2, "raise_errors": True})
    assert len(one.ran) >= 8 and one.ran == two.ran
    assert list(one.info["seconds"]) == list(two.info["seconds"])
    pd.testing.assert_frame_equal(one.flags, two.flags)
    pd.testing.assert_frame_equal(one.agents, two.agents)
    pd.testing.assert_frame_equal(one.changepoints, two.changepoints)
    for bad in (0, "two"):
        with pytest.raises(ConfigError, match="check_threads"):
            run_checks(calls, options={"check_threads": bad})
