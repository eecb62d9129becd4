"""No step pulls the calls into pandas (issue #6, part 3).

The gaming battery and the model comparison work from per-agent tables the engine
computes: every result fetched from DuckDB into Python is counted
(:func:`analysis.gaming._context.count_fetches`, or a counting ``duckdb.connect`` for
the panel) and none may have more than a tenth of the center's calls. The center is
sized so that its per-agent tables (agents x days, agents x handle-time bins) are far
below that, while any per-call fetch (even of one call in ten) is above it.

Raw exports reach the engine through a Parquet spill of the loader's valid rows
(:mod:`analysis.load.spill`), not as a DataFrame copied into the database.
"""

from __future__ import annotations

import gc

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.compare import compare_models
from analysis.gaming import CHECKS, run_checks
from analysis.gaming._context import CountingConnection, FetchLog, build_context, count_fetches
from analysis.load import load_calls, load_calls_to_parquet, schema_for, spill_valid
from analysis.models.config import load_model_config
from analysis.panel import build_panel


@pytest.fixture(scope="module")
def center(tmp_path_factory):
    """24 agents, 61 days, the default gaming mix (~61k calls), as Parquet and as a CSV
    export with a few rows the loader must quarantine."""
    from analysis.synth import generate_center, write_center

    c = generate_center(agents=24, days=61, seed=3)
    d = tmp_path_factory.mktemp("fetch_center")
    paths = write_center(c, d)
    raw = c.calls.copy()
    bad = raw.sample(n=30, random_state=1).index
    raw.loc[bad[:10], "outcome"] = "lost"  # unknown outcome
    raw.loc[bad[10:20], "talk_s"] = -5.0  # negative duration
    raw = pd.concat([raw, raw.loc[bad[20:]]], ignore_index=True)  # 10 repeated call ids
    raw.to_csv(d / "export.csv", index=False)
    return dict(c=c, parquet=paths["calls"], csv=d / "export.csv", n=len(c.calls))


def test_counter_sees_a_per_call_fetch_and_costs_nothing_when_off(center):
    ctx, info = build_context(center["parquet"])
    assert type(ctx.con) is duckdb.DuckDBPyConnection  # no wrapper outside count_fetches
    with count_fetches() as log:
        ctx, info = build_context(center["parquet"])
        n0 = len(log)
        cur = ctx.con.cursor()  # checks run on cursors of the context's connection
        got = cur.execute("SELECT * FROM calls").df()
        cur.execute("SELECT agent_id FROM calls LIMIT 7").fetchall()
        cur.sql("SELECT agent_id FROM calls").limit(3).fetchall()  # a relation from a relation
    assert len(got) == info["valid_rows"]
    assert [r for _, r, _ in log[n0:]] == [info["valid_rows"], 7, 3]
    assert log.max_rows == info["valid_rows"] and log.largest(1)[0][0] == "df"


def test_gaming_battery_fetches_only_per_agent_tables(center):
    c = center["c"]
    with count_fetches() as log:
        rep = run_checks(str(center["csv"]), ratings=c.ratings, okr=c.okr, roster=c.roster)
    n = center["n"]
    assert rep.info["source"].startswith("raw export")
    assert rep.info["quarantined_by_loader"] == 30
    # every registered check ran or said why not (none failed), most of them ran
    assert set(rep.ran) | set(rep.skipped) == set(CHECKS.names())
    assert not [r for r in rep.skipped.values() if r.startswith("failed")], rep.skipped
    assert len(rep.ran) >= len(CHECKS.names()) - 2, rep.skipped
    # the counter saw the checks' queries (at least one each; some checks share one)
    assert len(log) >= len(rep.ran)
    assert log.max_rows <= n // 10, log.largest()
    assert log.total_rows <= n // 2, log.largest()


def test_panel_and_comparison_fetch_only_per_agent_tables(center, monkeypatch):
    log = FetchLog()
    real = duckdb.connect
    monkeypatch.setattr(duckdb, "connect",
                        lambda *a, **k: CountingConnection(real(*a, **k), log))
    c = center["c"]
    panel = build_panel(center["parquet"])
    config = load_model_config(override={"compare": {"n_boot": 50}})
    comp = compare_models(panel, config=config, ratings=c.ratings, okr=c.okr)
    n = center["n"]
    assert len(log) >= 2 and len(panel) <= n // 10
    assert log.max_rows <= n // 10, log.largest()
    assert comp.scores["agent_id"].nunique() == 24


def test_spill_holds_exactly_the_loaders_valid_rows(center, tmp_path):
    res = load_calls(center["csv"])
    sp = load_calls_to_parquet(center["csv"])
    folder = sp.path.parent
    assert (sp.rows_read, sp.valid_rows, sp.quarantined) == (
        res.rows_read, len(res.valid), len(res.quarantine))
    assert sp.reason_counts == res.reason_counts() and sp.reason_counts["duplicate_call_id"] == 10
    t = pq.read_table(sp.path)
    assert t.schema.equals(schema_for("calls"), check_metadata=False)
    assert t.schema.metadata[b"ccpm.rows_read"] == str(res.rows_read).encode()
    back = t.to_pandas(types_mapper=lambda ty: pd.BooleanDtype() if str(ty) == "bool" else None)
    pd.testing.assert_frame_equal(back, res.valid)
    # slices of any size give the same file contents
    small = spill_valid(res, tmp_path / "small.parquet", chunk_rows=7_001)
    assert pq.read_table(small).equals(t)
    sp.cleanup()
    assert not folder.exists()


def test_raw_export_is_read_from_the_spill_with_the_same_results(center):
    ctx, info = build_context(str(center["csv"]))
    (sp,) = ctx.resources
    folder = sp.path.parent
    view = ctx.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = '_src'").fetchone()[0]
    assert "read_parquet" in view and str(sp.path) in view
    assert "_src_df" not in {r[0] for r in ctx.con.execute("SHOW TABLES").fetchall()}
    # the same checks on the loader's valid rows handed over as a DataFrame
    checks = ["short_calls_peer", "survey_selection", "repeat_after_short"]
    a = run_checks(str(center["csv"]), checks=checks)
    b = run_checks(load_calls(center["csv"]).valid, checks=checks)
    assert a.ran == b.ran == checks
    pd.testing.assert_frame_equal(a.flags, b.flags)
    assert a.info["valid_rows"] == b.info["valid_rows"] == info["valid_rows"]
    del ctx, sp
    gc.collect()
    assert not folder.exists()  # the temporary spill goes with the context


def test_counting_connection_counts_every_fetch_kind():
    log = FetchLog()
    con = CountingConnection(duckdb.connect(), log)
    con.execute("CREATE TABLE t AS SELECT range AS x FROM range(25)")
    q = "SELECT x FROM t"
    con.execute(q).fetchnumpy()
    con.sql(q).to_arrow_table()
    reader = con.sql(q).to_arrow_reader(10)
    assert sum(b.num_rows for b in reader) == 25
    assert len(list(con.sql(q).filter("x < 5").iter_rows())) == 5
    con.execute(q).fetchmany(4)
    assert [r for _, r, _ in log] == [25, 25, 25, 5, 4] and log.total_rows == 84
    assert all(s.startswith(q) for _, _, s in log)
    con.close()
