"""The metric panel, pinned to a hand-worked example and to plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import metrics
from analysis.errors import InputError
from analysis.panel import build_panel

T = pd.Timestamp


def _call(cid, arrival, agent, outcome="answered", talk=60.0, hold=0.0, acw=0.0, cust=None,
          resolved=None, csat=np.nan, queue="care", answer=None):
    handled = outcome in ("answered", "transferred")
    return {
        "call_id": cid, "queue": queue, "arrival_ts": T(arrival), "outcome": outcome,
        "agent_id": agent if handled else None,
        "answer_ts": (T(answer) if answer else T(arrival)) if handled else pd.NaT,
        "talk_s": talk if handled else np.nan, "hold_s": hold, "acw_s": acw,
        "customer_id": cust, "resolved": resolved, "csat": csat,
    }


def hand_calls() -> pd.DataFrame:
    """12 calls, 3 agents, 2 months. Data end = last arrival = 2026-02-28 18:00."""
    rows = [
        # A, Jan: c1 is followed by X's c2 24 h later -> repeat; c2 not followed -> 0
        _call("c01", "2026-01-10 09:00", "A", talk=100, hold=20, acw=30, cust="X",
              resolved=True, csat=4.0),
        _call("c02", "2026-01-11 09:00", "A", talk=10, acw=20, cust="X", resolved=False),
        # B, Jan: transferred, answered 10:00:30; Y calls again (abandons) 71h59m30s later
        _call("c03", "2026-01-20 10:00", "B", outcome="transferred", talk=200, cust="Y",
              csat=2.0, answer="2026-01-20 10:00:30"),
        _call("c04", "2026-01-23 10:00", None, outcome="abandoned", cust="Y"),
        # C, Jan: Z calls again 72 h + 1 s after c05's answer -> not a repeat
        _call("c05", "2026-01-25 12:00:00", "C", talk=60, cust="Z", resolved=True),
        _call("c06", "2026-01-28 12:00:01", "C", talk=40, cust="Z"),
        # A, Feb: c07 no customer (NULL); c09 window runs past the data end (censored)
        _call("c07", "2026-02-05 09:00", "A", talk=300, hold=60, acw=60, queue="sales"),
        _call("c09", "2026-02-27 09:00", "A", talk=120, cust="V"),
        # B, Feb: c08 short; c11 breaks the contract (no talk time: excluded from B's
        # metrics, but W did call again 48 h after c08, so c08 is a repeat); c12's
        # window ends exactly at the data end (observed, not a repeat)
        _call("c08", "2026-02-10 09:00", "B", talk=15, cust="W", resolved=False, csat=1.0),
        _call("c11", "2026-02-12 09:00", "B", talk=np.nan, cust="W"),
        _call("c12", "2026-02-25 18:00", "B", talk=30, cust="U"),
        # C, Feb: censored
        _call("c10", "2026-02-28 18:00", "C", talk=50, cust="V"),
    ]
    df = pd.DataFrame(rows)
    df["resolved"] = df["resolved"].astype("boolean")
    return df


# Worked by hand from the comments above (aht = mean of talk + hold + acw).
EXPECTED = pd.DataFrame(
    [
        # agent, period, calls, aht, talk, hold, acw, short, transfer, repeat, rep_obs,
        # resolved, csat, csat_n
        ("A", "2026-01", 2, 90.0, 55.0, 10.0, 25.0, 0.5, 0.0, 0.5, 2, 0.5, 4.0, 1),
        ("A", "2026-02", 2, 270.0, 210.0, 30.0, 30.0, 0.0, 0.0, np.nan, 0, np.nan, np.nan, 0),
        ("B", "2026-01", 1, 200.0, 200.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1, np.nan, 2.0, 1),
        ("B", "2026-02", 2, 22.5, 22.5, 0.0, 0.0, 0.5, 0.0, 0.5, 2, 0.0, 1.0, 1),
        ("C", "2026-01", 2, 50.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2, 1.0, np.nan, 0),
        ("C", "2026-02", 1, 50.0, 50.0, 0.0, 0.0, 0.0, 0.0, np.nan, 0, np.nan, np.nan, 0),
    ],
    columns=["agent_id", "period", "calls", "aht_s", "talk_s", "hold_s", "acw_s",
             "short_call_rate", "transfer_rate", "repeat_call_rate", "repeat_calls_observed",
             "resolved_rate", "csat_mean", "csat_responses"],
)


def test_hand_worked_panel():
    p = build_panel(hand_calls())
    got = p[EXPECTED.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)
    info = p.attrs["ccpm_panel"]
    assert info["rows_read"] == 12
    assert info["handled_rows"] == 11
    assert info["abandoned_rows"] == 1
    assert info["invalid_handled"] == 1  # c11: counted, not silently dropped
    # queue mix: A in Feb split 1:1 -> main queue is the first by name
    a2 = p[(p.agent_id == "A") & (p.period == "2026-02")].iloc[0]
    assert a2["queue_share__care"] == 0.5 and a2["queue_share__sales"] == 0.5
    assert a2["main_queue"] == "care"
    assert p["qa_mean"].isna().all()


def test_fields_the_source_does_not_record_are_empty_not_zero():
    """An export without hold, wrap-up or transfers (the Anonymous Bank logs): the contract
    fills hold_s = acw_s = 0 and no call is ever transferred. Those are not measured
    zeros (a KPI would give every agent full marks on them), so the panel leaves them
    empty and lists them; one held call, one wrap-up and one transfer anywhere keep them."""
    calls = hand_calls().assign(hold_s=0.0, acw_s=0.0)
    calls.loc[calls["outcome"] == "transferred", "outcome"] = "answered"
    p = build_panel(calls)
    assert p.attrs["ccpm_panel"]["not_recorded"] == ["hold_s", "acw_s", "transfer_rate"]
    assert p[["hold_s", "acw_s", "transfer_rate"]].isna().all().all()
    assert p["aht_s"].notna().all() and (p["aht_s"] == p["talk_s"]).all()
    full = build_panel(hand_calls())
    assert full.attrs["ccpm_panel"]["not_recorded"] == []
    assert (full["transfer_rate"] == 0).sum() >= 4  # measured zeros stay zeros


def test_repeat_window_and_short_threshold_are_parameters():
    # 24 h window: c03's next call is 71h59m later -> no longer a repeat
    p = build_panel(hand_calls(), repeat_window_h=24, short_call_s=12)
    b1 = p[(p.agent_id == "B") & (p.period == "2026-01")].iloc[0]
    assert b1["repeat_call_rate"] == 0.0
    a1 = p[(p.agent_id == "A") & (p.period == "2026-01")].iloc[0]
    assert a1["short_call_rate"] == 0.5  # talk 10 < 12
    b2 = p[(p.agent_id == "B") & (p.period == "2026-02")].iloc[0]
    assert b2["short_call_rate"] == 0.0  # talk 15 >= 12
    assert b2["repeat_call_rate"] == 0.0  # c11 came 48 h after c08: outside 24 h
    # with 24 h, A's c09 (Feb 27 09:00) window ends Feb 28 09:00 < data end: observed
    a2 = p[(p.agent_id == "A") & (p.period == "2026-02")].iloc[0]
    assert a2["repeat_calls_observed"] == 1 and a2["repeat_call_rate"] == 0.0


def test_no_customer_id_gives_nan_repeat_rate():
    df = hand_calls().drop(columns=["customer_id", "csat", "resolved"])
    p = build_panel(df)
    assert p["repeat_call_rate"].isna().all()
    assert (p["repeat_calls_observed"] == 0).all()
    assert p["csat_mean"].isna().all() and p["resolved_rate"].isna().all()
    assert p["aht_s"].tolist() == EXPECTED["aht_s"].tolist()


def test_period_labels():
    df = hand_calls()
    w = build_panel(df, period="week")
    assert set(w["period"]) >= {"2026-W02", "2026-W04"}  # Jan 10 2026 is in ISO week 2
    d = build_panel(df, period="day")
    assert "2026-01-10" in set(d["period"])
    with pytest.raises(Exception, match="period"):
        build_panel(df, period="quarter")
    # the Python label function agrees with the SQL labels
    from analysis.panel import period_label

    h = df[df["outcome"] != "abandoned"].dropna(subset=["talk_s"])
    for per, frame in (("week", w), ("day", d), ("month", build_panel(df))):
        assert set(frame["period"]) == {period_label(t, per) for t in h["answer_ts"]}


def _pandas_panel(calls: pd.DataFrame, short_s: float, window_h: float) -> pd.DataFrame:
    """Independent plain-pandas implementation of the same definitions."""
    c = calls.sort_values(["customer_id", "arrival_ts", "call_id"]).copy()
    c["next_arrival"] = c.groupby("customer_id")["arrival_ts"].shift(-1)
    end = calls["arrival_ts"].max()
    win = pd.Timedelta(hours=window_h)
    h = c[c["outcome"].isin(["answered", "transferred"])].copy()
    rep = np.where(h["next_arrival"].notna() & (h["next_arrival"] <= h["answer_ts"] + win),
                   1.0, 0.0)
    rep = np.where(h["answer_ts"] + win > end, np.nan, rep)
    h["rep"] = rep
    h["period"] = h["answer_ts"].dt.strftime("%Y-%m")
    h["handle"] = h["talk_s"] + h["hold_s"] + h["acw_s"]
    h["short"] = (h["talk_s"] < short_s).astype(float)
    h["tr"] = (h["outcome"] == "transferred").astype(float)
    h["res"] = h["resolved"].astype("float")
    g = h.groupby(["agent_id", "period"])
    return pd.DataFrame({
        "calls": g.size(), "aht_s": g["handle"].mean(), "short_call_rate": g["short"].mean(),
        "transfer_rate": g["tr"].mean(), "repeat_call_rate": g["rep"].mean(),
        "resolved_rate": g["res"].mean(), "csat_mean": g["csat"].mean(),
        "csat_responses": g["csat"].count(),
    }).reset_index()


def test_matches_plain_pandas_on_random_calls(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    arr = T("2026-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 70 * 86400, n)), unit="s")
    out = rng.choice(["answered", "transferred", "abandoned"], n, p=[0.8, 0.1, 0.1])
    handled = out != "abandoned"
    df = pd.DataFrame({
        "call_id": [f"k{i:05d}" for i in range(n)],
        "queue": rng.choice(["a", "b"], n),
        "arrival_ts": arr,
        "outcome": out,
        "agent_id": np.where(handled, rng.choice(["A1", "A2", "A3", "A4"], n), None),
        "answer_ts": pd.Series(arr + pd.to_timedelta(rng.uniform(0, 300, n), unit="s"))
        .where(handled),
        "talk_s": np.where(handled, rng.lognormal(4, 1, n), np.nan),
        "hold_s": rng.exponential(10, n),
        "acw_s": rng.exponential(20, n),
        "customer_id": [f"c{x}" for x in rng.integers(0, 400, n)],
        "resolved": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.7),
                             dtype="boolean"),
        "csat": np.where(rng.random(n) < 0.3, rng.integers(1, 6, n), np.nan),
    })
    path = tmp_path / "calls.parquet"
    df.to_parquet(path)
    got = build_panel(path, short_call_s=30, repeat_window_h=48)  # via Parquet this time
    exp = _pandas_panel(df, 30, 48)
    assert len(got) == len(exp)
    for col in exp.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(float), exp[col].to_numpy(float),
                                   rtol=1e-9, err_msg=col)
    # folder input finds calls.parquet
    assert len(build_panel(tmp_path)) == len(exp)


def test_describe_lists_every_metric_once():
    d = metrics.describe()
    assert list(d.columns) == ["name", "description", "direction", "unit", "sql"]
    assert d["name"].is_unique
    assert {"aht_s", "repeat_call_rate", "short_call_rate", "csat_mean"} <= set(d["name"])
    assert set(d["direction"]) <= set(metrics.DIRECTIONS)
    # portable SQL: no DuckDB-only functions in the definitions
    assert not d["sql"].str.contains("strftime|epoch|list_|::", regex=True).any()


def test_per_call_sql_is_the_argument_of_each_mean_metric():
    assert metrics.per_call_sql("aht_s") == "handle_s"
    assert metrics.per_call_sql("short_call_rate", short_call_s=12.5) == (
        "CAST(CASE WHEN talk_s < 12.5 THEN 1 ELSE 0 END AS DOUBLE)")
    for name in ("calls", "repeat_calls_observed", "csat_responses"):
        with pytest.raises(ValueError, match="not the mean"):
            metrics.per_call_sql(name)
    with pytest.raises(KeyError):
        metrics.per_call_sql("no_such_metric")
    # the mean of the per-call value over the panel's relation is the panel's column
    import duckdb

    from analysis.panel import panel_sql

    calls = hand_calls()
    means = [m.name for m in metrics.METRICS if m.sql.startswith("AVG(")]
    assert len(means) >= 10
    sql = panel_sql(list(calls.columns), source="src", short_call_s=20.0)
    con = duckdb.connect()
    con.register("src", calls)
    cols = ", ".join(f"AVG({metrics.per_call_sql(m, short_call_s=20.0)}) AS {m}" for m in means)
    got = con.execute(f"SELECT agent_id, strftime(period, '%Y-%m') AS period, {cols} "
                      f"FROM ({sql['calls']}) c GROUP BY ALL ORDER BY ALL").df()
    con.close()
    want = build_panel(calls, short_call_s=20.0)[["agent_id", "period", *means]]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_bad_inputs_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        build_panel(tmp_path / "missing.parquet")
    with pytest.raises(InputError, match="required column"):
        build_panel(hand_calls().drop(columns=["talk_s"]))
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(InputError, match="not Parquet"):
        build_panel(csv)


def test_cli_panel_writes_parquet(tmp_path):
    from analysis.cli import main

    src = tmp_path / "valid.parquet"
    hand_calls().to_parquet(src)
    out = tmp_path / "panel.parquet"
    assert main(["panel", "--calls", str(tmp_path), "--out", str(out)]) == 0
    back = pd.read_parquet(out)
    assert len(back) == 6 and back.loc[0, "aht_s"] == 90.0
    assert main(["panel", "--calls", str(tmp_path / "nope.parquet"), "--out", str(out)]) == 2


def test_cli_panel_raw_export_through_the_loader(tmp_path, capsys):
    """A CSV goes through analysis.load (mapping 'contract'); quarantined rows are counted."""
    from analysis.cli import main

    df = hand_calls()
    csv = tmp_path / "export.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "panel.parquet"
    assert main(["panel", "--calls", str(csv), "--mapping", "contract", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    # c11 (answered without talk time) breaks the contract: the loader quarantines it
    assert "1 quarantined on load" in err
    back = pd.read_parquet(out)
    exp = EXPECTED.copy()
    # without c11 in the data, W's second call is gone: c08 is no longer a repeat
    exp.loc[(exp.agent_id == "B") & (exp.period == "2026-02"), "repeat_call_rate"] = 0.0
    pd.testing.assert_frame_equal(back[exp.columns], exp, check_dtype=False)


def test_duplicate_ids_counted_unless_the_file_is_marked_unique(tmp_path):
    """The exact duplicate-id count runs on foreign Parquet and on several files; a single
    file that ccpm marked unique when writing it (validate, synth) is not recounted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.contract import CALL_ID_UNIQUE_META
    from analysis.load import load_calls, write_validated

    calls = hand_calls()
    dup = pd.concat([calls, calls.iloc[:2]], ignore_index=True)  # two ids twice
    plain = tmp_path / "plain.parquet"
    dup.to_parquet(plain)
    assert build_panel(str(plain)).attrs["ccpm_panel"]["duplicate_call_id"] == 2

    # validate quarantines the duplicates and marks its valid.parquet
    csv = tmp_path / "dup.csv"
    dup.to_csv(csv, index=False)
    res = load_calls(csv, "contract")
    write_validated(res, tmp_path / "v")
    valid = tmp_path / "v" / "valid.parquet"
    assert pq.read_schema(valid).metadata[CALL_ID_UNIQUE_META] == b"true"
    assert build_panel(str(valid)).attrs["ccpm_panel"]["duplicate_call_id"] == 0
    assert (res.quarantine["reason"] == "duplicate_call_id").sum() == 2

    # two marked files whose ids repeat across them: recounted
    both = tmp_path / "both"
    both.mkdir()
    t = pa.Table.from_pandas(calls, preserve_index=False)
    t = t.replace_schema_metadata({**(t.schema.metadata or {}), CALL_ID_UNIQUE_META: b"true"})
    pq.write_table(t, both / "a.parquet")
    pq.write_table(t, both / "b.parquet")
    assert build_panel(str(both)).attrs["ccpm_panel"]["duplicate_call_id"] == len(calls)
