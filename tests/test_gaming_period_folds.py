"""Stub periods (a day or two of data at either end) join their neighbours (_sigutil.period_folds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.gaming import run_checks
from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming._sigutil import STUB_SHARE, fold_note, period_folds, period_sql


def _calls(first: str, last: str, per_day: int = 3) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    ts = np.repeat(days.values, per_day) + np.tile(
        np.arange(per_day) * np.timedelta64(3600, "s"), len(days))
    n = len(ts)
    return pd.DataFrame({"call_id": [f"c{i}" for i in range(n)], "agent_id": "A1",
                         "queue": "q", "arrival_ts": ts, "answer_ts": ts,
                         "outcome": "answered", "talk_s": 100.0})


def _labels(ctx) -> list[str]:
    return sorted(ctx.con.execute(f"SELECT DISTINCT {period_sql(ctx)} FROM calls").df()
                  .iloc[:, 0].astype(str))


def test_stubs_at_both_ends_join_their_neighbours():
    # 2 days of January, all of February, 1 day of March
    ctx = make_context(_calls("2026-01-30", "2026-03-01"))
    assert period_folds(ctx) == {"2026-01": ("2026-02", 2), "2026-03": ("2026-02", 1)}
    assert _labels(ctx) == ["2026-02"]
    note = fold_note(period_folds(ctx))
    assert "2026-01 (2 days of data) is counted with 2026-02" in note
    assert "2026-03 (1 day of data)" in note


def test_full_or_long_enough_periods_are_kept():
    # 8 days of March is more than a quarter of the fullest month (31 days): kept
    ctx = make_context(_calls("2026-01-01", "2026-03-08"))
    assert 8 >= STUB_SHARE * 31
    assert period_folds(ctx) == {}
    assert _labels(ctx) == ["2026-01", "2026-02", "2026-03"]
    # 7 days of March is less than a quarter of 31: folded into February
    ctx = make_context(_calls("2026-01-01", "2026-03-07"))
    assert period_folds(ctx) == {"2026-03": ("2026-02", 7)}


@pytest.mark.parametrize("period", ["day", "all"])
def test_day_and_all_periods_are_never_folded(period):
    ctx = make_context(_calls("2026-01-30", "2026-03-01"), options={"period": period})
    assert period_folds(ctx) == {}


def test_one_short_period_alone_is_not_folded():
    ctx = make_context(_calls("2026-01-30", "2026-01-31"))
    assert period_folds(ctx) == {}
    assert _labels(ctx) == ["2026-01"]


def test_weeks_fold_a_one_day_week():
    # Sunday 2026-01-04 closes ISO week 1; then two full weeks and a Monday
    ctx = make_context(_calls("2026-01-04", "2026-01-19"), options={"period": "week"})
    folds = period_folds(ctx)
    assert set(folds) == {"2026-W01", "2026-W04"}
    assert folds["2026-W01"][0] == "2026-W02" and folds["2026-W04"][0] == "2026-W03"


def test_battery_tests_no_stub_period_and_says_so():
    # 61 days from 2026-01-05: January (27 days), February, and 6 days of March
    df = simulate_calls(n_agents=30, days=61, seed=3)
    rep = run_checks(df, checks=["acw_inflation", "transfer_dumping", "short_calls_peer",
                                 "repeat_after_short", "end_of_day_stretch"],
                     options={"seed": 1, "raise_errors": True})
    periods = set(rep.flags["period"].astype(str))
    assert "2026-03" not in periods
    assert {"2026-01", "2026-02"} <= periods
    assert rep.info["period_folds"] == {"2026-03": "2026-02"}
    assert "2026-03 (6 days of data) is counted with 2026-02" in rep.summary_text()
    # the March calls are not lost: February's short-call counts hold them
    per = rep.flags[(rep.flags["check"] == "short_calls_peer")
                    & (rep.flags["period"] == "2026-02")]
    feb_mar = df[(pd.to_datetime(df["answer_ts"]) >= "2026-02-01")
                 & df["outcome"].isin(["answered", "transferred"])]
    assert per["n"].sum() == len(feb_mar[feb_mar["agent_id"].isin(per["agent_id"])])


def test_the_report_says_which_period_was_folded(tmp_path):
    from types import SimpleNamespace

    from analysis.report import results
    from analysis.report.i18n import tm

    path = tmp_path / "calls.parquet"
    _calls("2026-01-30", "2026-03-01").to_parquet(path, index=False)
    inputs = SimpleNamespace(calls_path=path, ratings=None, okr=None, roster=None,
                             short_call_s=20.0)
    g = results.gaming(inputs, tmp_path / "build")
    assert g.period_folds == [["2026-01", "2026-02", 2], ["2026-03", "2026-02", 1]]
    # read back from the cache the same way
    assert results.gaming(inputs, tmp_path / "build").period_folds == g.period_folds
    for lang in ("en", "zh-CN"):
        s = str(tm("gaming.folded", lang, stub="2026-03", into="2026-02", days=1))
        s = s.replace("\\", "")  # the labels come Markdown-escaped (2026\\-03)
        assert "2026-03" in s and "2026-02" in s and " 1 " in s and "{" not in s


@pytest.mark.parametrize("alias, canonical", [("monthly", "month"), ("Weekly", "week"),
                                              ("q", "quarter"), ("none", "all")])
def test_period_aliases_are_accepted_where_the_option_is_validated(alias, canonical):
    """The run validates ``period`` when it builds the context (period_expr) and the checks
    label calls with period_sql: both read the same spellings (``monthly`` was rejected
    by the first and accepted by the second)."""
    df = _calls("2026-01-01", "2026-03-31")
    got, want = (_labels(make_context(df, options={"period": p})) for p in (alias, canonical))
    assert got == want and len(want) >= 1
    sim = simulate_calls(n_agents=30, days=40, seed=1)
    got, want = (set(run_checks(sim, checks=["short_calls_peer"], options={"period": p})
                     .flags["period"]) for p in (alias, canonical))
    assert got == want and len(want) >= 1


def test_an_unknown_period_is_a_clear_error():
    from analysis.errors import ConfigError

    with pytest.raises(ConfigError, match="fortnight.*month, week, quarter, year, day, all"):
        run_checks(_calls("2026-01-01", "2026-01-31"), checks=["short_calls_peer"],
                   options={"period": "fortnight"})
