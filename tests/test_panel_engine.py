"""Engine plumbing of the panel that needs no Spark: one metric definition, rendered per engine."""

from __future__ import annotations

import re

import pytest

from analysis import metrics
from analysis.errors import ConfigError
from analysis.panel import ENGINES, build_panel, panel_sql

COLS = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
        "hold_s", "acw_s", "customer_id", "resolved", "csat"]


def test_every_metric_definition_is_shared_verbatim_by_all_engines():
    assert set(ENGINES) >= {"duckdb", "spark"}
    for eng in ENGINES:
        sql = panel_sql(COLS, engine=eng, short_call_s=17.0)["panel"]
        for m in metrics.METRICS:
            assert f"{m.render(short_call_s=17.0)} AS {m.name}" in sql, (eng, m.name)


def test_engine_specific_bits_differ_only_where_expected():
    d = panel_sql(COLS, engine="duckdb", period="week", repeat_window_h=36.5)
    s = panel_sql(COLS, engine="spark", period="week", repeat_window_h=36.5)
    assert "VARCHAR" not in s["calls"] and "STRING" in s["calls"]  # Spark has no bare VARCHAR
    assert "INTERVAL '2190' MINUTE" in d["calls"] and "INTERVAL '2190' MINUTE" in s["calls"]
    # normalising the type name and the date_trunc unit's case leaves identical SQL
    def norm(q: str) -> str:
        return re.sub(r"date_trunc\('(\w+)'", lambda m: f"date_trunc('{m.group(1).lower()}'",
                      q.replace("VARCHAR", "STRING"))
    for k in ("calls", "panel", "queues", "counts"):
        assert norm(d[k]) == norm(s[k]), k


def test_share_metrics_average_doubles_not_decimal_literals():
    # a bare 1.0 is DECIMAL in Spark SQL, and AVG of a decimal keeps only a few digits
    for m in metrics.METRICS:
        assert not re.search(r"THEN\s+1\.0|ELSE\s+0\.0", m.sql), m.name


def test_unknown_engine_and_unavailable_spark_are_config_errors(monkeypatch):
    from test_panel import hand_calls

    with pytest.raises(ConfigError, match="engine"):
        panel_sql(COLS, engine="polars")
    with pytest.raises(ConfigError, match="engine"):
        build_panel(hand_calls(), engine="polars")
    import analysis.engines.spark as sp

    monkeypatch.setattr(sp, "spark_available", lambda: "Java is not installed (test)")
    with pytest.raises(ConfigError, match="Java is not installed"):
        build_panel(hand_calls(), engine="spark")


def test_cli_spark_master_needs_engine_spark(tmp_path, capsys):
    from analysis.cli import main
    from test_panel import hand_calls

    hand_calls().to_parquet(tmp_path / "valid.parquet")
    rc = main(["panel", "--calls", str(tmp_path), "--spark-master", "local[1]",
               "--out", str(tmp_path / "p.parquet")])
    assert rc == 2
    assert "--spark-master needs --engine spark" in capsys.readouterr().err
