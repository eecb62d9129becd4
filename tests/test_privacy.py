"""Pseudonymization: stable per salt, keyed (HMAC-SHA256), missing values kept; the
write-time :class:`Pseudonymizer` (ids in columns, objects and free text, row order)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.errors import ConfigError
from analysis.manifest import build_manifest
from analysis.privacy import (
    Pseudonymizer,
    looks_pseudonymized,
    normalize_id,
    pseudonym,
    pseudonymize,
    resolve_salt,
)


def test_pseudonym_is_hmac_sha256_of_the_value():
    # hand calculation with the standard library, independent of the module's code path
    expected = "A-" + hmac.new(b"s3cret", b"agent-7", hashlib.sha256).hexdigest()[:16]
    assert pseudonym("agent-7", b"s3cret", "A-") == expected
    assert len(expected) == 2 + 16  # 64 bits


@settings(suppress_health_check=[HealthCheck.too_slow])  # a shared, loaded test machine
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True))
@example([" ", "\r"])  # two blank ids: both empty, not one made-up person
@example(["A1", " A1", "B"])  # one agent written two ways: one pseudonym
def test_stable_and_distinct_per_salt(ids):
    df = pd.DataFrame({"agent_id": ids})
    a = pseudonymize(df, ["agent_id"], "salt-one")
    b = pseudonymize(df, ["agent_id"], "salt-one")
    c = pseudonymize(df, ["agent_id"], "salt-two")
    assert a["agent_id"].tolist() == b["agent_id"].tolist()
    # ids are compared as the loader compares them (" A1" is "A1"); a blank one is no id
    norm = [normalize_id(i) for i in ids]
    blank = np.array([n == "" for n in norm])
    assert (a["agent_id"][blank] == "").all()
    named = a["agent_id"][~blank]
    assert named.nunique() == len({n for n in norm if n})  # 64 bits: no collision
    assert not set(named) & set(ids)
    assert (named != c["agent_id"][~blank]).all()


def test_same_agent_same_pseudonym_across_columns_and_tables():
    calls = pd.DataFrame({"agent_id": ["x1", "x2", None], "customer_id": ["c1", "c1", "c2"]})
    ratings = pd.DataFrame({"ratee_id": ["x2"], "rater_id": ["x1"]})
    pc = pseudonymize(calls, ["agent_id", "customer_id"], "k")
    pr = pseudonymize(ratings, ["ratee_id"], "k")
    assert pr.loc[0, "ratee_id"] == pc.loc[1, "agent_id"]
    assert pc["agent_id"].isna().tolist() == [False, False, True]
    assert pc["customer_id"].str.startswith("C-").all()
    assert pc.loc[0, "customer_id"] == pc.loc[1, "customer_id"]
    assert list(pc.columns) == list(calls.columns)
    assert calls.loc[0, "agent_id"] == "x1"  # input untouched


def test_salt_from_env_file_or_generated_once(tmp_path, monkeypatch):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    path = tmp_path / "cfg" / "salt"
    with pytest.raises(ConfigError, match="does not exist.*--new-salt"):
        resolve_salt(path)  # a salt file named but missing: a typo, not a new salt
    assert not (tmp_path / "cfg").exists()
    first = resolve_salt(path, new=True)
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert resolve_salt(path) == first  # stored once, reused
    assert resolve_salt(path, new=True) == first  # an existing salt is kept
    monkeypatch.setenv("CCPM_SALT", "from-env-0123456789-abcdefghij")
    assert resolve_salt(path) == b"from-env-0123456789-abcdefghij"
    monkeypatch.delenv("CCPM_SALT")
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        resolve_salt(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_salt(tmp_path / "nope", create=False)


# ----------------------------------------------------------------- Pseudonymizer


def test_text_replaces_ids_as_words_only():
    pz = Pseudonymizer("k")
    pz.learn(pd.DataFrame({"agent_id": ["A0001", "ag-7", "2026", "Dana Cohen", "张伟"]}))
    a1, a7, n, dc, zw = (pseudonym(x, "k", "A-") for x in
                         ("A0001", "ag-7", "2026", "Dana Cohen", "张伟"))
    assert pz.text("partner A0001: gives 3.2") == f"partner {a1}: gives 3.2"
    assert pz.text("flagged: A0001.") == f"flagged: {a1}."
    assert pz.text("pair A0001-ag-7") == "pair A0001-ag-7"  # not every part is an id
    assert pz.text("A0001-2026 (x)") == f"{a1}-{n} (x)"  # sentence: digits too
    assert pz.text("A00011 and xA0001") == "A00011 and xA0001"  # other words untouched
    assert pz.text("坐席A0001的目标") == f"坐席{a1}的目标"  # no spaces in Chinese
    assert pz.text("rated by Dana Cohen, and 张伟。") == f"rated by {dc}, and {zw}。"
    # an all-digit id: the whole cell or a word of a sentence, never inside a value
    assert pz.text("2026") == n
    assert pz.text("2026-01") == "2026-01" and pz.text("14:20:26") == "14:20:26"
    assert pz.text("period 2026 of 12") == f"period {n} of 12"
    assert pz.text("center") == "center"  # a sentinel, kept


def test_customer_ids_are_replaced_in_their_columns_not_in_text():
    pz = Pseudonymizer("k")
    df = pd.DataFrame({"customer_id": ["77", "0"], "talk_s": ["77", "0"]})
    out = pz.frame(df)
    assert out["customer_id"].tolist() == [pseudonym("77", "k", "C-"), pseudonym("0", "k", "C-")]
    assert out["talk_s"].tolist() == ["77", "0"]


@given(st.lists(st.from_regex(r"[A-Z]{1,3}[0-9]{1,4}", fullmatch=True), min_size=1,
                max_size=8, unique=True),
       st.lists(st.sampled_from(["gives", "3.2", "(", ")", ":", ",", "vs", "z", "p", "-"]),
                max_size=6),
       st.randoms(use_true_random=False))
def test_no_known_id_survives_in_a_sentence(ids, filler, rnd):
    pz = Pseudonymizer("k", keep=())
    pz.learn({"agent_id": ids})
    words = ids + filler
    rnd.shuffle(words)
    out = pz.text(" ".join(words) + ".")
    assert not set(re.findall(r"[A-Za-z0-9_]+", out)) & set(ids)
    assert out.count("A-") >= len(ids)


def test_rows_listed_by_id_are_put_in_pseudonym_order():
    pz = Pseudonymizer("k")
    ids = [f"A{i:04d}" for i in range(1, 9)]
    long = pd.DataFrame({"model": ["kpi"] * 8 + ["okr"] * 8, "agent_id": ids * 2,
                         "score": range(16)})
    out = pz.frame(long)
    for _, g in out.groupby("model", sort=False):  # each block in pseudonym order
        assert g["agent_id"].is_monotonic_increasing
    # the same rows: each agent keeps its own scores
    back = {pseudonym(a, "k", "A-"): a for a in ids}
    merged = out.assign(agent_id=out["agent_id"].map(back)).sort_values(["model", "agent_id"])
    assert merged["score"].tolist() == list(range(16))
    assert list(out.index) == list(range(16))
    # a table ordered by something else keeps its order
    ranked = pd.DataFrame({"agent_id": ["A0003", "A0001", "A0002"], "rank": [1, 2, 3]})
    assert pz.frame(ranked)["rank"].tolist() == [1, 2, 3]


@dataclass
class _Result:
    notes: list
    table: pd.DataFrame
    info: dict = field(default_factory=dict)


def test_obj_walks_dataclasses_dicts_and_learns_first():
    pz = Pseudonymizer("k", keep=("center", "360"))
    res = _Result(notes=["1 agent (B-12) has no target", "model 360"],
                  table=pd.DataFrame({"agent_id": ["B-12", "center"], "x": [1.0, 2.0]}),
                  info={"agents": {"C7": {"t": 1}}, "rater_id": "D9", "n": 3})
    out = pz.obj(res)
    b12 = pseudonym("B-12", "k", "A-")
    assert out.notes == [f"1 agent ({b12}) has no target", "model 360"]
    assert out.table["agent_id"].tolist() == [b12, "center"]
    assert out.info == {"agents": {pseudonym("C7", "k", "A-"): {"t": 1}},
                        "rater_id": pseudonym("D9", "k", "A-"), "n": 3}
    assert res.notes[0] == "1 agent (B-12) has no target"  # input untouched


def test_unmask_turns_this_runs_pseudonyms_back():
    pz = Pseudonymizer("k")
    pz.learn(pd.DataFrame({"agent_id": ["a1", "a2"]}))
    other = pseudonym("a1", "another salt", "A-")
    s = pd.Series([pseudonym("a2", "k", "A-"), "a1", other])
    assert pz.unmask(s).tolist() == ["a2", "a1", other]
    assert looks_pseudonymized(other) and not looks_pseudonymized("a1")


def test_manifest_records_pseudonymization_and_holds_no_raw_id():
    plain = build_manifest(command="x", args={"out": "o"}, rows={"n": 1})
    assert plain["privacy"] == {"pseudonymized": False}
    pz = Pseudonymizer("k")
    pz.learn(pd.DataFrame({"agent_id": ["MICHAL"]}))
    man = build_manifest(command="x", args={"out": "o", "note": "only MICHAL"},
                         rows={"agent": "MICHAL"}, extra={"options": {"x": "MICHAL"}},
                         privacy=pz)
    assert "MICHAL" not in json.dumps(man)
    assert man["privacy"]["pseudonymized"] is True
    assert man["privacy"]["salt_id"] == Pseudonymizer("k").salt_id != Pseudonymizer("j").salt_id
