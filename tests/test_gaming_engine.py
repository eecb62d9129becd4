"""Choosing the gaming checks' engine: errors without Spark, and the Spark adapter's SQL.

Runs without Java or pyspark (the Spark runs themselves are in tests/test_gaming_spark.py).
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cli import main
from analysis.errors import ConfigError
from analysis.gaming import run_checks


@pytest.fixture(scope="module")
def tiny_calls(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=4, days=3, seed=2, gaming="none")
    return write_center(center, tmp_path_factory.mktemp("tiny"))["calls"]


@pytest.fixture
def no_spark(monkeypatch):
    import analysis.engines.spark as sp

    monkeypatch.setattr(sp, "spark_available", lambda: "Java is not installed (test)")


def test_run_checks_without_spark_is_a_config_error(tiny_calls, no_spark):
    with pytest.raises(ConfigError, match="engine spark: Java is not installed"):
        run_checks(tiny_calls, engine="spark")


def test_run_checks_unknown_engine(tiny_calls):
    with pytest.raises(ConfigError, match="engine: 'sqlite' is not one of duckdb"):
        run_checks(tiny_calls, engine="sqlite")


def test_cli_engine_spark_without_spark_says_why(tiny_calls, tmp_path, capsys, no_spark):
    out = tmp_path / "out"
    rc = main(["gaming", "--calls", str(tiny_calls), "--engine", "spark", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0
    assert "--engine spark: Java is not installed (test)" in err
    assert "Traceback" not in err
    assert not (out / "gaming_flags.csv").exists()


def test_cli_spark_master_needs_engine_spark(tiny_calls, tmp_path, capsys):
    rc = main(["gaming", "--calls", str(tiny_calls), "--spark-master", "local[1]",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0
    assert "--spark-master needs --engine spark" in err and "Traceback" not in err


def test_cli_unknown_engine_is_refused(tiny_calls, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gaming", "--calls", str(tiny_calls), "--engine", "sqlite",
              "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "invalid choice: 'sqlite'" in capsys.readouterr().err


class _FakeSpark:
    """Records what the adapter hands to ``spark.sql``."""

    def __init__(self):
        self.calls = []

    def sql(self, sql, args=None):
        self.calls.append((sql, args))
        return None


class _FakeSession:
    def __init__(self):
        self.spark = _FakeSpark()


def test_adapter_turns_duckdb_parameters_into_sparks():
    from analysis.gaming._engine import SparkConnection

    con = SparkConnection(_FakeSession())
    con.execute("SELECT count(*) FILTER (WHERE talk_s < $short) AS k, '$x' AS lit, $w * 60 "
                "FROM calls", {"short": 20.0, "w": 60.0})
    sql, args = con.spark.calls[-1]
    assert sql == ("SELECT count(*) FILTER (WHERE talk_s < :short) AS k, '$x' AS lit, :w * 60 "
                   "FROM calls")
    assert args == {"short": 20.0, "w": 60.0}
    ts = pd.Timestamp("2026-03-02 10:00")
    con.execute("SELECT 1 FROM calls WHERE answer_ts < ?", [ts])
    sql, args = con.spark.calls[-1]
    assert sql.endswith("answer_ts < ?") and args == [ts.to_pydatetime()]
    con.execute("SELECT 1")
    assert con.spark.calls[-1] == ("SELECT 1", None)
