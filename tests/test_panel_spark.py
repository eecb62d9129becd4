"""The Spark engine runs the same metric SQL as DuckDB and gives the same panel.

Needs pyspark and Java; skipped (with the reason) otherwise. One SparkSession
(``local[2]``, two shuffle partitions, UI off) serves the whole test session.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'ccpm[spark]')")
if shutil.which("java") is None:
    pytest.skip("Java not found on PATH (Spark needs Java 17+)", allow_module_level=True)

from analysis.panel import build_panel  # noqa: E402

pytestmark = pytest.mark.spark

T = pd.Timestamp


@pytest.fixture(scope="session")
def spark():
    from analysis.engines.spark import get_spark

    return get_spark()  # local[2]; reused by build_panel(engine="spark")


def assert_same_panel(got: pd.DataFrame, exp: pd.DataFrame, tol: float = 1e-6) -> None:
    """Same rows, columns and labels; every numeric column equal to ``tol``."""
    assert list(got.columns) == list(exp.columns)
    assert len(got) == len(exp)
    for col in exp.columns:
        if pd.api.types.is_numeric_dtype(exp[col]):
            np.testing.assert_allclose(got[col].to_numpy(float), exp[col].to_numpy(float),
                                       rtol=tol, atol=tol, equal_nan=True, err_msg=col)
        else:
            assert got[col].astype(str).tolist() == exp[col].astype(str).tolist(), col
    keys = ("rows_read", "handled_rows", "abandoned_rows", "unknown_outcome",
            "invalid_handled", "duplicate_call_id", "data_start_ts", "data_end_ts")
    for k in keys:
        assert got.attrs["ccpm_panel"][k] == exp.attrs["ccpm_panel"][k], k


def test_hand_worked_panel_on_spark(spark):
    from test_panel import EXPECTED, hand_calls

    got = build_panel(hand_calls(), engine="spark")
    pd.testing.assert_frame_equal(got[EXPECTED.columns].reset_index(drop=True), EXPECTED,
                                  check_dtype=False)
    assert got.attrs["ccpm_panel"]["engine"] == "spark"
    assert_same_panel(got, build_panel(hand_calls()))


@pytest.fixture(scope="module")
def small_center(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=5, days=15, seed=3, gaming="hangup=1@0.2,transfer_dumping=1")
    return write_center(center, tmp_path_factory.mktemp("spark_center"))["calls"]


@pytest.mark.parametrize("period", ["month", "week", "day"])
def test_synth_center_equals_duckdb(spark, small_center, period):
    n = pd.read_parquet(small_center, columns=["call_id"]).shape[0]
    assert 1000 < n < 20000  # a few thousand calls
    kw = dict(period=period, short_call_s=15.0, repeat_window_h=36.5)
    assert_same_panel(build_panel(small_center, engine="spark", **kw),
                      build_panel(small_center, **kw))


def test_messy_calls_equal_duckdb(spark, tmp_path):
    """Nulls, ties, duplicates, a missing column and bad rows: the engines still agree."""
    rng = np.random.default_rng(8)
    n = 2500
    arr = T("2026-03-25") + pd.to_timedelta(rng.integers(0, 20 * 86400, n) // 600 * 600,
                                            unit="s")  # 10-minute grid: many ties
    out = rng.choice(["answered", "transferred", "abandoned", "weird"], n,
                     p=[0.75, 0.1, 0.13, 0.02])
    handled = np.isin(out, ["answered", "transferred"])
    cust = np.array([f"c{x}" for x in rng.integers(0, 150, n)], dtype=object)
    cust[rng.random(n) < 0.05] = None
    talk = np.where(handled, rng.lognormal(4, 1, n), np.nan)
    talk[rng.random(n) < 0.01] = -3.0  # breaks the contract
    df = pd.DataFrame({
        "call_id": [f"k{i % (n - 20):05d}" for i in range(n)],  # 20 duplicates
        "queue": rng.choice(["care", "sales", "tech support"], n),
        "arrival_ts": arr,
        "outcome": out,
        "agent_id": np.where(handled, rng.choice(["A1", "A2", "B1"], n), None),
        "answer_ts": pd.Series(arr + pd.to_timedelta(rng.integers(0, 300, n), unit="s"))
        .where(handled),
        "talk_s": talk,
        "hold_s": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(10, n)),
        "customer_id": cust,
        "ended_by": rng.choice(["agent", "customer", None], n),
        "resolved": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.7),
                             dtype="boolean"),
        "csat": np.where(rng.random(n) < 0.3, rng.integers(1, 6, n), np.nan),
    })  # no acw_s, qa_score or complaint columns
    path = tmp_path / "calls.parquet"
    df.to_parquet(path)
    for period in ("month", "week"):
        dk = build_panel(path, period=period)
        assert dk.attrs["ccpm_panel"]["duplicate_call_id"] == 20
        assert_same_panel(build_panel(path, period=period, engine="spark"), dk)
    # DataFrame input and an explicit data end
    kw = dict(data_end="2026-04-10 00:00:00", repeat_window_h=24)
    assert_same_panel(build_panel(df, engine="spark", **kw), build_panel(df, **kw))


def test_cli_panel_engine_spark(spark, tmp_path, capsys):
    from analysis.cli import main
    from test_panel import hand_calls

    hand_calls().to_parquet(tmp_path / "valid.parquet")
    out_s, out_d = tmp_path / "spark.parquet", tmp_path / "duck.parquet"
    assert main(["panel", "--calls", str(tmp_path), "--engine", "spark",
                 "--spark-master", "local[2]", "--out", str(out_s)]) == 0
    assert "(spark;" in capsys.readouterr().err
    assert main(["panel", "--calls", str(tmp_path), "--out", str(out_d)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out_s), pd.read_parquet(out_d))


def test_check_aggregations_equal_duckdb(spark, small_center):
    """Every named check aggregation gives the same table on Spark as on DuckDB."""
    from analysis.engines import run_aggregation
    from analysis.metrics import AGGREGATIONS

    for name, agg in AGGREGATIONS.items():
        kw = dict(period="day", short_call_s=15.0, repeat_window_h=36.5)
        duck = run_aggregation(small_center, name, **kw)
        got = run_aggregation(small_center, name, engine="spark", **kw)
        assert len(duck) > 20, name  # agents x (queues) x days
        assert list(got.columns) == list(duck.columns) == [*agg.keys, *(v for v, _ in agg.values)]
        for col in duck.columns:
            if col in agg.keys:
                assert got[col].tolist() == duck[col].tolist(), (name, col)
            elif pd.api.types.is_integer_dtype(duck[col]):
                assert got[col].dtype == duck[col].dtype and (got[col] == duck[col]).all(), \
                    (name, col)
            else:
                np.testing.assert_allclose(got[col], duck[col], rtol=1e-12, equal_nan=True,
                                           err_msg=f"{name}.{col}")
    short = run_aggregation(small_center, "short_calls", period="day", short_call_s=15.0)
    assert short["short_agent_ended"].sum() > 0  # the planted hang-up agent shows
