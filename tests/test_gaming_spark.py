"""The gaming checks' aggregations on Spark give DuckDB's flags and p-values.

``run_checks(engine="spark")`` runs the checks' aggregation SQL (the per-agent counts
and sums) with Spark SQL and the statistics on the aggregated tables, as on DuckDB.
Needs pyspark and Java; skipped (with the reason) otherwise. The Spark session is
the one of tests/test_panel_spark.py (``local[2]``, reused for the whole run).
"""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'ccpm[spark]')")
if shutil.which("java") is None:
    pytest.skip("Java not found on PATH (Spark needs Java 17+)", allow_module_level=True)

from analysis.cli import main  # noqa: E402
from analysis.gaming import run_checks  # noqa: E402

pytestmark = pytest.mark.spark

#: Relative tolerance on p-values and effects. The aggregates are exact integer sums on
#: both engines where the statistics need the digits (sums of log talk times are summed
#: as integers in units of 1e-12); a few are float sums or averages whose last bits
#: depend on the engines' summation order, which moves a p-value by ~1e-15 at most.
RTOL = 1e-9


@pytest.fixture(scope="session")
def spark():
    from analysis.engines.spark import get_spark

    return get_spark()  # local[2]; reused by run_checks(engine="spark")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """16 agents over four weeks: hang-ups that stop after two weeks (a center-level
    change), a transfer dumper, ACW padding and bunching under the target."""
    from analysis.synth import generate_center, write_center

    center = generate_center(
        agents=16, days=28, seed=5,
        gaming="hangup=4@0.35:0-13,transfer_dumping=1,acw_padding=1,bunching=2")
    path = write_center(center, tmp_path_factory.mktemp("gaming_spark"))["calls"]
    return center, path


@pytest.fixture(scope="module")
def reports(spark, world):
    center, path = world
    kw = dict(options={"period": "week", "raise_errors": True}, okr=center.okr,
              roster=center.roster, ratings=center.ratings)
    return run_checks(path, **kw), run_checks(path, engine="spark", **kw)


def assert_same_flags(got: pd.DataFrame, exp: pd.DataFrame, rtol: float = RTOL) -> None:
    """Same tests in the same order, same decisions; numbers equal to ``rtol``."""
    assert list(got.columns) == list(exp.columns)
    key = ["level", "agent_id", "period", "check"]
    assert got[key].astype(str).values.tolist() == exp[key].astype(str).values.tolist()
    assert got["flagged"].tolist() == exp["flagged"].tolist()
    for col in ("n", "k"):
        assert got[col].astype("Float64").fillna(-1).tolist() == \
            exp[col].astype("Float64").fillna(-1).tolist(), col
    for col in ("p_value", "q_value", "effect"):
        np.testing.assert_allclose(got[col].to_numpy(float), exp[col].to_numpy(float),
                                   rtol=rtol, atol=0, equal_nan=True, err_msg=col)


def test_every_check_runs_on_spark_with_duckdbs_flags(reports):
    duck, spk = reports
    assert spk.info["engine"] == "spark" and duck.info["engine"] == "duckdb"
    # every check that ran on DuckDB ran on Spark, none failed on either
    assert spk.ran == duck.ran and spk.skipped == duck.skipped
    assert len(duck.ran) >= 15, duck.skipped  # the world exercises (nearly) every check
    assert duck.flags["flagged"].any()  # planted gaming is found: the test can see a change
    assert_same_flags(spk.flags, duck.flags)


def test_agent_decisions_and_change_points_equal(reports):
    duck, spk = reports
    a, b = spk.agents, duck.agents
    assert a[["agent_id", "scope", "flagged"]].values.tolist() == \
        b[["agent_id", "scope", "flagged"]].values.tolist()
    np.testing.assert_allclose(a["p_value"].to_numpy(float), b["p_value"].to_numpy(float),
                               rtol=RTOL, atol=0)
    assert len(duck.changepoints) > 0
    pd.testing.assert_frame_equal(spk.changepoints, duck.changepoints, check_exact=False,
                                  rtol=RTOL, atol=0)


def test_dataframe_input_and_monthly_periods(spark, world):
    """Calls as a DataFrame (Spark reads a temporary Parquet copy), monthly labels and the
    short-call threshold read from the data."""
    center, _ = world
    calls = center.calls.iloc[: len(center.calls) // 2]
    checks = ["short_calls_peer", "transfer_dumping", "acw_inflation", "end_of_day_stretch",
              "survey_selection"]
    kw = dict(options={"period": "month", "short_call_s": "auto", "raise_errors": True},
              checks=checks)
    duck = run_checks(calls, **kw)
    spk = run_checks(calls, engine="spark", **kw)
    assert spk.ran == duck.ran and len(duck.flags) > 0
    assert spk.info["short_call_s_auto"] == duck.info["short_call_s_auto"]
    assert spk.info["options"]["short_call_s"] == duck.info["options"]["short_call_s"]
    assert_same_flags(spk.flags, duck.flags)


@pytest.mark.parametrize("period", ["month", "week", "quarter", "year", "day"])
def test_period_labels_equal(spark, period):
    """The gaming period labels (ISO weeks at year ends included) on both engines."""
    from analysis.engines.duckdb import DIALECT as DUCK
    from analysis.engines.spark import DIALECT as SPARK

    days = [dt.datetime(2024, 12, 29, 23, 59), dt.datetime(2024, 12, 30, 0, 1),
            dt.datetime(2026, 1, 1, 12), dt.datetime(2027, 1, 1, 8),
            dt.datetime(2027, 1, 4, 8), dt.datetime(2026, 3, 31, 23, 59, 59)]
    lits = ", ".join(f"(TIMESTAMP '{d:%Y-%m-%d %H:%M:%S}')" for d in days)
    duck = duckdb.sql(f"SELECT {DUCK.period_label(period, 't')} AS l "
                      f"FROM (VALUES {lits}) v(t)").df()["l"].tolist()
    spk = [r["l"] for r in spark.sql(f"SELECT {SPARK.period_label(period, 't')} AS l "
                                     f"FROM VALUES {lits} AS v(t)").collect()]
    assert spk == duck
    if period == "week":  # ISO 8601, as Python counts it
        assert duck == [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in days]


def test_cli_engine_spark_writes_duckdbs_flags(spark, tmp_path, capsys):
    """``ccpm gaming --engine spark`` end to end on a tiny world: DuckDB's flags file."""
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=8, days=14, seed=11, gaming="hangup=2@0.3,bunching=1")
    calls = write_center(center, tmp_path / "world")["calls"]
    out = {}
    for engine in ("duckdb", "spark"):
        rc = main(["gaming", "--calls", str(calls), "--period", "week", "--engine", engine,
                   "--out", str(tmp_path / engine)])
        assert rc == 0, capsys.readouterr().err
        out[engine] = pd.read_csv(tmp_path / engine / "gaming_flags.csv",
                                  keep_default_na=False, na_values=[""])
    exp, got = out["duckdb"], out["spark"]
    assert len(exp) > 0
    assert_same_flags(got, exp)
    assert got["detail"].tolist() == exp["detail"].tolist()


@pytest.mark.slow
def test_cli_sample_world_flags_equal(spark, tmp_path, capsys):
    """The README's sample world (``make report``: 60 agents, 61 days, seed 7, with its
    ratings, OKRs and roster): ``ccpm gaming --engine spark`` writes DuckDB's flags and
    agent decisions (about 3 minutes: Spark runs each check's queries on 165,000 calls)."""
    rc = main(["synth", "--out", str(tmp_path / "sample"), "--agents", "60", "--days", "61",
               "--seed", "7"])
    assert rc == 0, capsys.readouterr().err
    s = tmp_path / "sample"
    inputs = ["--calls", str(s / "calls.parquet"), "--ratings", str(s / "ratings_360.csv"),
              "--okr", str(s / "okr.yml"), "--roster", str(s / "roster.csv")]
    flags, agents = {}, {}
    for engine in ("duckdb", "spark"):
        rc = main(["gaming", *inputs, "--engine", engine, "--out", str(tmp_path / engine)])
        assert rc == 0, capsys.readouterr().err
        flags[engine] = pd.read_csv(tmp_path / engine / "gaming_flags.csv",
                                    keep_default_na=False, na_values=[""])
        agents[engine] = pd.read_csv(tmp_path / engine / "gaming_agents.csv",
                                     keep_default_na=False, na_values=[""])
    assert flags["duckdb"]["flagged"].sum() > 0
    assert_same_flags(flags["spark"], flags["duckdb"])
    a, b = agents["spark"], agents["duckdb"]
    assert a[["agent_id", "scope", "flagged"]].values.tolist() == \
        b[["agent_id", "scope", "flagged"]].values.tolist()
    np.testing.assert_allclose(a["p_value"].to_numpy(float), b["p_value"].to_numpy(float),
                               rtol=RTOL, atol=0)
