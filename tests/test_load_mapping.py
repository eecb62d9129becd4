"""Mappings: validation on load (ConfigError naming the key) and every field option."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
import yaml

from analysis.config import MAPPINGS_DIR
from analysis.errors import ConfigError, InputError
from analysis.load import builtin_mappings, load_calls, resolve_mapping


def _csv(tmp_path, text: str, name: str = "x.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ----------------------------------------------------------------------------- built-ins


def test_builtin_mappings_exist_and_validate():
    names = builtin_mappings()
    assert {"anonymous-bank", "pwc-excel", "contract", "honeycomb-360"} <= set(names)
    for name, path in names.items():
        assert path.parent == MAPPINGS_DIR
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = data.get("kind", "calls")
        m = resolve_mapping(name, kind=kind)
        assert m.name == name and m.kind == kind


def test_declared_reasons_are_the_mappings_own():
    """The reasons a mapping sets by design (rules, quarantined values): the report's page 1
    does not ask to fix an export for them (the bank's calls abandoned in the voice menu)."""
    assert resolve_mapping("anonymous-bank").declared_reasons == {
        "abandoned_in_vru", "hang_with_server", "phantom"}
    assert resolve_mapping(None).declared_reasons == set()


def test_builtin_anonymous_bank_on_a_hand_made_month(tmp_path):
    """The bank format's traps, one row each, in a gzipped tab file like the source."""
    header = ("vru+line\tcall_id\tcustomer_id\tpriority\ttype\tdate\tvru_entry\tvru_exit\tvru_time\t"
              "q_start\tq_exit\tq_time\toutcome\tser_start\tser_exit\tser_time\tserver")
    rows = [
        # queued, answered after midnight (rolled to the next day)
        "AA0101\t1\t123\t2\tPS\t990105\t23:59:40\t23:59:45\t5\t23:59:45\t0:00:20\t35\tAGENT\t0:00:19\t0:02:00\t101\tDORIT",
        # straight to an agent: arrival = ser_start (1 s before vru_exit)
        "AA0101\t2\t0\t0\tNW\t990105\t10:00:00\t10:00:10\t10\t0:00:00\t0:00:00\t0\tAGENT\t10:00:09\t10:01:00\t51\tAVI",
        # abandoned in the queue
        "AA0101\t3\t6.02E+11\t1\tPS\t990105\t10:05:00\t10:05:05\t5\t10:05:05\t10:06:00\t55\tHANG\t0:00:00\t0:00:00\t0\tNO_SERVER",
        # hung up in the VRU: never offered
        "AA0101\t4\t0\t0\tPS\t990105\t10:07:00\t10:07:09\t9\t0:00:00\t0:00:00\t0\tHANG\t0:00:00\t0:00:00\t0\tNO_SERVER",
        "AA0101\t5\t7\t2\tPS\t990105\t10:08:00\t10:08:05\t5\t10:08:05\t10:08:30\t25\tPHANTOM\t10:08:29\t10:08:33\t4\tNO_SERVER",
        "AA0101\t6\t0\t0\tPS\t990105\t10:09:00\t10:09:10\t10\t0:00:00\t0:00:00\t0\tAGENT\t10:09:09\t10:09:12\t3\tNO_SERVER",
        # same call_id on another VRU line: a different call
        "AA0202\t1\t0\t0\tPS\t990105\t11:00:00\t11:00:10\t10\t11:00:10\t11:00:30\t20\tAGENT\t11:00:29\t11:03:00\t151\tNO_SERVERAMA",
    ]
    p = tmp_path / "01_January.txt.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write(header + "\n" + "\n".join(rows) + "\n")
    res = load_calls(p, "anonymous-bank")
    assert res.rows_read == 7
    reasons = dict(zip(res.quarantine["call_id"], res.quarantine["reason"], strict=True))
    assert reasons == {"4": "abandoned_in_vru", "5": "phantom", "6": "missing_agent_id"}
    v = res.valid.set_index("call_id")
    assert v.loc["AA0101-1", "answer_ts"] == pd.Timestamp("1999-01-06 00:00:19")
    assert v.loc["AA0101-1", "arrival_ts"] == pd.Timestamp("1999-01-05 23:59:45")
    assert v.loc["AA0101-2", "arrival_ts"] == v.loc["AA0101-2", "answer_ts"] == pd.Timestamp("1999-01-05 10:00:09")
    assert pd.isna(v.loc["AA0101-2", "customer_id"])
    assert pd.isna(v.loc["AA0101-3", "customer_id"])  # 6.02E+11: spreadsheet-mangled id
    assert v.loc["AA0101-1", "customer_id"] == "123"
    assert v.loc["AA0101-3", "outcome"] == "abandoned" and pd.isna(v.loc["AA0101-3", "talk_s"])
    assert v.loc["AA0202-1", "agent_id"] == "NO_SERVERAMA"
    assert v.loc["AA0101-1", "talk_s"] == 101.0


# ----------------------------------------------------------------------------- bad mappings


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"colums": {}}, "colums"),
        ({"kind": "tickets"}, "kind"),
        ({"columns": {"call_idd": "x"}}, "columns.call_idd"),
        ({"columns": {"call_id": 5.5}}, "columns.call_id"),
        ({"columns": {"call_id": {"from": "a", "const": "b"}}}, "columns.call_id"),
        ({"columns": {"call_id": {"frm": "a"}}}, "columns.call_id.frm"),
        ({"columns": {"arrival_ts": {"date": "d", "date_format": "DDMMYY"}}}, "columns.arrival_ts.date_format"),
        ({"columns": {"talk_s": {"from": "t", "unit": "fortnights"}}}, "columns.talk_s.unit"),
        ({"columns": {"outcome": {"from": "o", "values": []}}}, "columns.outcome.values"),
        ({"columns": {"outcome": {"from": "o", "quarantine": {"X": "Bad Reason"}}}}, "columns.outcome.quarantine"),
        ({"columns": {"customer_id": {"from": "c", "missing_pattern": "("}}}, "columns.customer_id.missing_pattern"),
        ({"read": {"delimiter": ",,"}}, "read.delimiter"),
        ({"read": {"encoding": "klingon"}}, "read.encoding"),
        ({"read": {"sheeet": 1}}, "read.sheeet"),
        ({"checks": {"clock_tolerance_s": -1}}, "checks.clock_tolerance_s"),
        ({"checks": {"max_talk": 5}}, "checks.max_talk"),
        ({"rules": [{"reason": "x"}]}, "rules[0]"),
        ({"rules": [{"reason": "x", "when": ""}]}, "rules[0].when"),
        ({"scale": {"min": 5, "max": 1}}, "scale"),
        ({"melt": {"id_columns": ["a"]}}, "melt"),
    ],
)
def test_bad_mapping_names_the_key(mapping, key):
    with pytest.raises(ConfigError) as err:
        resolve_mapping(mapping)
    assert f"'{key}'" in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_rule_sql_names_the_rule(tmp_path):
    p = _csv(tmp_path, "call_id,queue,arrival_ts,outcome\n1,a,2026-01-01 10:00,abandoned\n")
    with pytest.raises(ConfigError, match=r"'rules\[0\]\.when'"):
        load_calls(p, {"rules": [{"reason": "odd", "when": "no_such_column = 1"}]})


def test_bad_yaml_file_and_unknown_name(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("columns: {call_id: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_mapping(bad)
    with pytest.raises(ConfigError, match="unknown mapping 'nope'"):
        resolve_mapping("nope")
    with pytest.raises(InputError, match="no such file"):
        resolve_mapping(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="is for ratings"):
        resolve_mapping("honeycomb-360", kind="calls")


def test_mapping_column_absent_from_input(tmp_path):
    p = _csv(tmp_path, "id,q,t,o\n1,a,2026-01-01 10:00,abandoned\n")
    m = {"columns": {"call_id": "id", "queue": "q", "arrival_ts": "t", "outcome": "Result"}}
    with pytest.raises(InputError, match=r"'Result'.*columns\.outcome"):
        load_calls(p, m)


# ----------------------------------------------------------------------------- field options


def test_field_options_convert_and_combine(tmp_path):
    text = (
        "Line;Id;Day;Start;Wait;Talk;Status;Agent;Cust;Score;Done\n"
        "7;1;260105;9:00:00;30;0:02:00;OK;a1;0;4,5;yes\n"
        "7;2;260105;23:59:30;40;61;OK;a2;55;;no\n"
        "7;3;260105;10:00:00;;;LOST;NONE;0;;\n"
        "7;4;260105;10:01:00;;;TEST;NONE;0;;\n"
        "8;1;260105;25:00:00;5;10;OK;a1;9;;\n"
    )
    p = _csv(tmp_path, text)
    mapping = {
        "columns": {
            "call_id": {"concat": ["Line", "Id"], "sep": ":"},
            "queue": {"const": "main"},
            "arrival_ts": {"date": "Day", "time": "Start", "date_format": "YYMMDD"},
            "answer_ts": {"date": "Day", "time": "Start", "date_format": "YYMMDD",
                          "plus_seconds": "Wait"},
            "talk_s": "Talk",
            "outcome": {"from": "Status", "values": {"OK": "answered", "LOST": "abandoned"},
                        "quarantine": {"TEST": "test_call"}},
            "agent_id": {"from": "Agent", "missing": ["NONE"]},
            "customer_id": {"from": "Cust", "missing": ["0"]},
            "csat": "Score",
            "resolved": {"from": "Done"},
        }
    }
    res = load_calls(p, mapping)
    assert res.rows_read == 5
    reasons = dict(zip(res.quarantine["Line"] + ":" + res.quarantine["Id"],
                       res.quarantine["reason"], strict=True))
    assert reasons == {"7:4": "test_call", "8:1": "unparseable_arrival_ts;unparseable_answer_ts"}
    v = res.valid.set_index("call_id")
    assert v.loc["7:1", "answer_ts"] == pd.Timestamp("2026-01-05 09:00:30")
    assert v.loc["7:2", "answer_ts"] == pd.Timestamp("2026-01-06 00:00:10")  # wait crosses midnight
    assert v.loc["7:1", "talk_s"] == 120.0 and v.loc["7:2", "talk_s"] == 61.0
    assert v.loc["7:1", "csat"] == 4.5  # decimal comma
    assert v.loc["7:1", "resolved"] and not v.loc["7:2", "resolved"]
    assert pd.isna(v.loc["7:1", "customer_id"]) and v.loc["7:2", "customer_id"] == "55"
    assert v.loc["7:3", "outcome"] == "abandoned" and pd.isna(v.loc["7:3", "agent_id"])
    assert (v["queue"] == "main").all()


def test_clock_tolerance_and_rollover(tmp_path):
    text = (
        "call_id,queue,d,arr,ans,outcome,agent_id,talk_s\n"
        "1,q,2026-01-05,10:00:05,10:00:04,answered,a,5\n"  # 1 s early: clamped
        "2,q,2026-01-05,10:00:05,10:00:01,answered,a,5\n"  # 4 s early: quarantined
        "3,q,2026-01-05,23:59:00,0:01:00,answered,a,5\n"  # past midnight
    )
    p = _csv(tmp_path, text)
    m = {"columns": {"arrival_ts": {"date": "d", "time": "arr"},
                     "answer_ts": {"date": "d", "time": "ans", "rollover_after": "arr"}},
         "checks": {"clock_tolerance_s": 2}}
    res = load_calls(p, m)
    assert res.quarantine["reason"].tolist() == ["answer_before_arrival"]
    v = res.valid.set_index("call_id")
    assert v.loc["1", "answer_ts"] == v.loc["1", "arrival_ts"]
    assert v.loc["3", "answer_ts"] == pd.Timestamp("2026-01-06 00:01:00")
    assert any("1 answer times" in n for n in res.notes)
    # without the rollover the after-midnight answer is "before arrival"
    m["columns"]["answer_ts"].pop("rollover_after")
    res = load_calls(p, m)
    assert res.quarantine["reason"].tolist() == ["answer_before_arrival"] * 2


def test_coalesce_missing_if_and_rules(tmp_path):
    text = (
        "id,q,t1,t2,o,a,talk\n"
        "1,x,2026-01-05 10:00:00,,answered,ag,5\n"
        "2,x,,2026-01-05 11:00:00,abandoned,,9\n"
        "3,x,,,abandoned,,0\n"
        "4,y,2026-01-05 12:00:00,,abandoned,,0\n"
    )
    p = _csv(tmp_path, text)
    m = {
        "columns": {
            "call_id": "id", "queue": "q", "outcome": "o", "agent_id": "a",
            "arrival_ts": {"coalesce": [{"from": "t1"}, {"from": "t2"}]},
            "answer_ts": {"from": "t1", "missing_if": {"o": ["abandoned"]}},
            "talk_s": {"from": "talk", "missing_if": {"o": ["abandoned"]}},
        },
        "rules": [{"reason": "queue_y", "when": "q = 'y'"}],
    }
    res = load_calls(p, m)
    reasons = dict(zip(res.quarantine["id"], res.quarantine["reason"], strict=True))
    assert reasons == {"3": "missing_arrival_ts", "4": "queue_y"}
    v = res.valid.set_index("call_id")
    assert v.loc["2", "arrival_ts"] == pd.Timestamp("2026-01-05 11:00:00")
    assert pd.isna(v.loc["2", "talk_s"])


def test_timestamps_with_offsets_keep_wall_clock(tmp_path):
    p = _csv(tmp_path, "call_id,queue,arrival_ts,outcome\n"
                       "1,q,2026-01-05T10:00:00+08:00,abandoned\n"
                       "2,q,2026-01-05T10:00:00Z,abandoned\n"
                       "3,q,2026-01-05 10:00,abandoned\n")
    v = load_calls(p).valid
    assert (v["arrival_ts"] == pd.Timestamp("2026-01-05 10:00:00")).all()


def test_yes_no_values_are_not_yaml_booleans(tmp_path):
    y = tmp_path / "m.yml"
    y.write_text("columns:\n  outcome: {from: o, values: {yes: answered, no: abandoned}}\n"
                 "  resolved: {from: r, values: {Y: true, N: false}}\n")
    m = resolve_mapping(y)
    assert m.columns["outcome"].values == {"yes": "answered", "no": "abandoned"}
    assert m.columns["resolved"].values == {"Y": True, "N": False}


def test_contract_name_is_identity_for_every_kind(tmp_path):
    for kind in ("calls", "roster", "ratings"):
        m = resolve_mapping("contract", kind=kind)
        assert m.kind == kind and not m.columns


def test_source_column_called_reason_is_kept(tmp_path):
    p = _csv(tmp_path, "call_id,queue,arrival_ts,outcome,reason\n1,q,2026-01-05 10:00,lost,x\n")
    q = load_calls(p).quarantine
    assert q.loc[0, "reason_raw"] == "x" and q.loc[0, "reason"] == "unknown_outcome"
