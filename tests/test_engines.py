"""The engine layer: registry, dialects, sessions and named check aggregations (DuckDB).

The same aggregations on Spark are compared with DuckDB in tests/test_panel_spark.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import engines, metrics
from analysis.errors import ConfigError
from test_panel import hand_calls


def test_registry_lists_engine_modules_default_first():
    assert engines.ENGINES[0] == "duckdb" and "spark" in engines.ENGINES
    for name in engines.ENGINES:
        mod = engines.get_engine(name)
        assert mod.DIALECT.name == name
        assert callable(mod.session) and callable(mod.available)
        assert set(mod.DIALECT.period) == {"month", "week", "day"}
    assert engines.get_engine("duckdb").available() is None
    with pytest.raises(ConfigError, match="engine: 'polars' is not one of duckdb"):
        engines.get_engine("polars")
    with pytest.raises(ConfigError, match="period"):
        engines.get_engine("duckdb").DIALECT.period_start("quarter")


def test_engines_do_not_import_the_layers_above():
    """No circle: the engines load without the panel or the checks."""
    code = ("import sys, analysis.engines.duckdb, analysis.engines.spark, "
            "analysis.engines._aggregate\n"
            "print(','.join(m for m in ('analysis.panel', 'analysis.gaming', 'pyspark') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_dialect_spells_intervals_and_periods():
    d = engines.get_engine("duckdb").DIALECT
    assert d.interval_hours(36.5) == "INTERVAL '2190' MINUTE"
    assert d.period_start("week", "x") == "date_trunc('week', x)"
    s = engines.get_engine("spark").DIALECT
    assert s.string == "STRING" and s.period_start("month") == "date_trunc('MONTH', answer_ts)"


def test_duckdb_session_runs_sql_over_parquet_and_frames(tmp_path):
    calls = hand_calls()
    calls.to_parquet(tmp_path / "calls.parquet")
    duck = engines.get_engine("duckdb")
    for src in (calls, tmp_path):
        with duck.session(src) as s:
            assert s.columns == list(calls.columns)
            assert s.files == ([] if src is calls else [str(tmp_path / "calls.parquet")])
            s.create_view("v", f"SELECT agent_id FROM {s.source} WHERE outcome = 'answered'")
            got = s.query("SELECT COUNT(*) AS n FROM v").iloc[0, 0]
            assert got == (calls["outcome"] == "answered").sum()


def _pandas_short_calls(calls: pd.DataFrame, short_s: float) -> pd.DataFrame:
    """The ``short_calls`` aggregation by hand: handled, valid calls by agent, queue, month."""
    h = calls[calls["outcome"].isin(["answered", "transferred"]) & calls["talk_s"].notna()
              & calls["agent_id"].notna()].copy()
    h["period"] = h["answer_ts"].dt.to_period("M").dt.start_time.astype("datetime64[us]")
    h["short"] = (h["talk_s"] < short_s).astype(int)
    ended = h["ended_by"] if "ended_by" in h else pd.Series(None, index=h.index, dtype=object)
    h["ae"] = np.where(ended.isna(), np.nan, (ended == "agent").astype(float))
    h["sae"] = ((h["short"] == 1) & (h["ae"] == 1)).astype(int)
    g = h.groupby(["agent_id", "queue", "period"])
    out = pd.DataFrame({"calls": g.size(), "short_calls": g["short"].sum(),
                        "agent_ended": g["ae"].sum(min_count=1),
                        "ended_known": g["ae"].count(),
                        "short_agent_ended": g["sae"].sum()}).reset_index()
    return out


def test_short_call_aggregation_matches_a_hand_count():
    calls = hand_calls()
    calls["ended_by"] = np.where(np.arange(len(calls)) % 3 == 0, "agent",
                                 np.where(np.arange(len(calls)) % 3 == 1, "customer", None))
    got = engines.run_aggregation(calls, "short_calls", period="month", short_call_s=20.0)
    exp = _pandas_short_calls(calls, 20.0)
    assert len(got) == len(exp) == 7  # A Jan, A Feb care/sales, B x2, C x2
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)
    assert got["calls"].sum() == 10  # 11 handled, c11 breaks the contract
    assert got["short_calls"].dtype == "int64"


def test_repeat_aggregation_uses_the_panels_window_and_censoring():
    from analysis.panel import build_panel

    calls = hand_calls()
    got = engines.run_aggregation(calls, "repeat_after_short", period="month",
                                  short_call_s=20.0)
    panel = build_panel(calls, short_call_s=20.0)
    assert got["observed"].tolist() == panel["repeat_calls_observed"].tolist()
    rate = got["repeats"] / got["observed"].where(got["observed"] > 0)
    np.testing.assert_allclose(rate, panel["repeat_call_rate"], equal_nan=True)
    # short calls: A's c02 (Jan, not a repeat) and B's c08 (Feb, repeat)
    assert got["short_observed"].tolist() == [1, 0, 0, 1, 0, 0]
    assert got["short_repeats"].tolist() == [0, 0, 0, 1, 0, 0]


def test_handle_time_sums_give_the_panels_means():
    from analysis.panel import build_panel

    calls = hand_calls()
    got = engines.run_aggregation(calls, "handle_time", period="month")
    per = got.groupby(["agent_id", "period"])[["calls", "handle_sum_s"]].sum().reset_index()
    panel = build_panel(calls)
    np.testing.assert_allclose(per["handle_sum_s"] / per["calls"], panel["aht_s"])
    assert (got["handle_sumsq_s2"] >= got["handle_sum_s"] ** 2 / got["calls"] - 1e-9).all()


def test_unknown_aggregation_names_the_known_ones():
    with pytest.raises(KeyError, match="short_calls"):
        engines.run_aggregation(hand_calls(), "no_such")
    with pytest.raises(KeyError, match="known"):
        metrics.aggregation_sql("no_such")
    assert "GROUP BY agent_id, queue, period" in metrics.aggregation_sql("short_calls",
                                                                         short_call_s=5)
