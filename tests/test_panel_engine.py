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


def _messy_calls(seed: int, n: int = 1500):
    """Ties, calls without customer, missing durations, bad rows, no qa/complaint columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    arr = pd.Timestamp("2026-03-25") + pd.to_timedelta(
        rng.integers(0, 40 * 86400, n) // 900 * 900, unit="s")  # 15-minute grid: ties
    out = rng.choice(["answered", "transferred", "abandoned", "odd"], n,
                     p=[0.7, 0.12, 0.15, 0.03])
    handled = np.isin(out, ["answered", "transferred"])
    cust = np.array([f"c{x}" for x in rng.integers(0, 120, n)], dtype=object)
    cust[rng.random(n) < 0.07] = None
    talk = np.where(handled, rng.lognormal(4, 1, n), np.nan)
    talk[rng.random(n) < 0.02] = -1.0
    return pd.DataFrame({
        "call_id": [f"k{i % (n - 9):05d}" for i in range(n)],
        "queue": rng.choice(["care", "sales"], n),
        "arrival_ts": arr,
        "outcome": out,
        "agent_id": np.where(handled & (rng.random(n) > 0.01), rng.choice(["A", "B", "C"], n),
                             None),
        "answer_ts": pd.Series(arr + pd.to_timedelta(rng.integers(0, 200, n), unit="s"))
        .where(handled),
        "talk_s": talk,
        "hold_s": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(10, n)),
        "customer_id": cust,
        "ended_by": rng.choice(["agent", "customer", None], n),
        "resolved": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.7),
                             dtype="boolean"),
        "csat": np.where(rng.random(n) < 0.3, rng.integers(1, 6, n), np.nan),
    })


@pytest.mark.parametrize("seed,period", [(1, "month"), (2, "week"), (3, "day")])
def test_two_part_panel_equals_the_one_relation_panel(seed, period):
    """build_panel runs the repeat-window metrics over a narrow window and the rest over a
    plain aggregate; both must equal every metric over the one per-call relation."""
    import duckdb
    import numpy as np
    import pandas as pd

    from analysis.panel import period_label

    calls = _messy_calls(seed)
    kw = dict(period=period, short_call_s=25.0, repeat_window_h=30.0)
    got = build_panel(calls, **kw)
    sql = panel_sql(list(calls.columns), source="src", **kw)
    con = duckdb.connect()
    con.register("src", calls)
    con.execute(f"CREATE VIEW calls AS {sql['calls']}")
    exp = con.execute(sql["panel"] + " ORDER BY agent_id, period").df()
    con.close()
    exp["period"] = [period_label(t, period) for t in exp["period"]]
    assert len(got) == len(exp) > 3
    assert got["period"].tolist() == exp["period"].tolist()
    assert got["repeat_calls_observed"].sum() > 0 and got["repeat_call_rate"].max() > 0
    unrecorded = got.attrs["ccpm_panel"]["not_recorded"]
    for m in metrics.metric_names():
        if m in unrecorded:  # zero for everyone in the SQL: the source lacks the field
            assert (exp[m] == 0).all() and got[m].isna().all(), m
            continue
        np.testing.assert_allclose(got[m].to_numpy(float), exp[m].to_numpy(float),
                                   rtol=1e-12, atol=0, equal_nan=True, err_msg=m)
    assert (got["calls"] == exp["calls"]).all() and got["calls"].sum() < (
        calls["outcome"].isin(["answered", "transferred"]).sum())  # bad rows left out
    pd.testing.assert_index_equal(got.columns[:17], pd.Index(
        ["agent_id", "period", *metrics.metric_names()]))
