"""Contract Parquet checked on entry: panel, gaming and compare see one row set (issue 16.4).

A contract-shaped Parquet that ccpm did not write goes through the loader's rules on the
way into every command, so infinite durations, duplicate ids and sentinel dates are
excluded the same way everywhere; wrong types or zero rows are refused with one line and
exit 2, naming the loader's reasons.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.contract import CALL_SCHEMA
from analysis.errors import InputError
from analysis.load import is_trusted_calls_file, open_contract_calls


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=12, days=10, seed=3, gaming="none")
    return write_center(center, tmp_path_factory.mktemp("entry_world"))


def _foreign(world, tmp_path) -> tuple:
    """The world's calls rewritten by "someone else": no ccpm mark, 3 duplicated ids, an
    infinite talk time and a 1970 sentinel arrival."""
    df = pq.read_table(world["calls"]).to_pandas()
    answered = df.index[df["outcome"] == "answered"]
    df.loc[answered[0], "talk_s"] = math.inf
    df.loc[answered[1], "arrival_ts"] = pd.Timestamp("1970-01-01")
    df = pd.concat([df, df.iloc[[5, 6, 7]]], ignore_index=True)
    p = tmp_path / "foreign.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p)
    return p, len(df)


def test_ccpm_written_contract_parquet_is_read_as_it_is(world):
    assert is_trusted_calls_file(world["calls"])
    with open_contract_calls(world["calls"]) as cc:
        assert not cc.checked and str(cc.path) == str(world["calls"])
        assert cc.valid_rows == pq.read_metadata(world["calls"]).num_rows


def test_foreign_contract_parquet_goes_through_the_loader(world, tmp_path):
    p, n = _foreign(world, tmp_path)
    assert not is_trusted_calls_file(p)
    with open_contract_calls(p) as cc:
        assert cc.checked and cc.rows_read == n
        assert cc.reason_counts == {"duplicate_call_id": 3, "absurd_talk_s": 1,
                                    "implausible_arrival_ts": 1}
        assert cc.valid_rows == n - 5
        valid = pq.read_table(cc.path)
        assert valid.schema.remove_metadata().equals(CALL_SCHEMA)
        assert np.isfinite(valid["talk_s"].to_numpy(zero_copy_only=False)[
            ~np.isnan(valid["talk_s"].to_numpy(zero_copy_only=False))]).all()
    assert not cc.path.exists()  # the spill goes with the object


def test_panel_and_gaming_see_the_same_rows(world, tmp_path):
    from argparse import Namespace

    from analysis.cli.panel import panel_from_args
    from analysis.gaming._context import build_context

    p, n = _foreign(world, tmp_path)
    with open_contract_calls(p) as cc:
        expected = cc.valid_rows
    ctx, info = build_context(str(p))
    try:
        assert info["valid_rows"] == expected and info["rows"] == expected
        assert info["quarantined_by_loader"] == 5
        assert not info["excluded"]  # nothing left for gaming's own filter to remove
    finally:
        ctx.con.close()
    args = Namespace(calls=str(p), mapping=None, period="month", short_call_s=10.0,
                     repeat_window_h=72.0, engine="duckdb", spark_master=None)
    info = panel_from_args(args).attrs["ccpm_panel"]
    assert info["rows_read"] == n and info["quarantined_on_load"] == 5
    assert info["handled_rows"] + info["abandoned_rows"] == expected
    assert info.get("duplicate_call_id", 0) == 0


def _bad_files(world, tmp_path) -> dict:
    df = pq.read_table(world["calls"]).to_pandas()
    out = {}
    wrong = df.copy()
    wrong["arrival_ts"] = wrong["arrival_ts"].astype("int64")  # epoch numbers, not times
    out["wrong_type"] = (wrong, "unparseable_arrival_ts")
    text = df.copy()
    text["outcome"] = 7  # a number where the vocabulary is expected
    out["outcome_numbers"] = (text, "unknown_outcome")
    out["zero_rows"] = (df.iloc[:0], "no data rows")
    paths = {}
    for name, (frame, msg) in out.items():
        p = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), p)
        paths[name] = (p, msg)
    # a zero-row file that carries ccpm's mark is refused too
    p = tmp_path / "zero_marked.parquet"
    pq.write_table(pa.Table.from_pandas(df.iloc[:0], schema=CALL_SCHEMA, preserve_index=False)
                   .replace_schema_metadata({b"ccpm.call_id_unique": b"true"}), p)
    paths["zero_marked"] = (p, "no call rows")
    return paths


@pytest.mark.parametrize("name", ["wrong_type", "outcome_numbers", "zero_rows", "zero_marked"])
def test_bad_contract_parquet_refused_with_one_line(world, tmp_path, name):
    p, msg = _bad_files(world, tmp_path)[name]
    with pytest.raises(InputError, match=msg):
        open_contract_calls(p)


@pytest.mark.parametrize("command", ["panel", "gaming", "compare"])
@pytest.mark.parametrize("name", ["wrong_type", "zero_rows"])
def test_every_command_exits_2_with_the_loaders_reason(world, tmp_path, capsys, command, name):
    p, msg = _bad_files(world, tmp_path)[name]
    out = tmp_path / ("panel.parquet" if command == "panel" else "out")
    argv = {"panel": ["panel", "--calls", str(p), "--out", str(out)],
            "gaming": ["gaming", "--calls", str(p), "--out", str(out)],
            "compare": ["compare", "--calls", str(p), "--out", str(out), "--no-figures"]}
    assert main(argv[command]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1 and lines[0].startswith(f"ccpm {command}: error:"), err
    assert msg in lines[0], lines[0]
