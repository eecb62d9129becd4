"""Pseudonymization: stable per salt, keyed (HMAC-SHA256), missing values kept."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.errors import ConfigError
from analysis.privacy import pseudonym, pseudonymize, resolve_salt


def test_pseudonym_is_hmac_sha256_of_the_value():
    # hand calculation with the standard library, independent of the module's code path
    expected = "A-" + hmac.new(b"s3cret", b"agent-7", hashlib.sha256).hexdigest()[:10]
    assert pseudonym("agent-7", b"s3cret", "A-") == expected


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True))
def test_stable_and_distinct_per_salt(ids):
    df = pd.DataFrame({"agent_id": ids})
    a = pseudonymize(df, ["agent_id"], "salt-one")
    b = pseudonymize(df, ["agent_id"], "salt-one")
    c = pseudonymize(df, ["agent_id"], "salt-two")
    assert a["agent_id"].tolist() == b["agent_id"].tolist()
    assert a["agent_id"].nunique() == len(ids)  # 40 bits: no collision among a few ids
    assert not set(a["agent_id"]) & set(ids)
    assert (a["agent_id"] != c["agent_id"]).all()


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
    first = resolve_salt(path)
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert resolve_salt(path) == first  # stored once, reused
    monkeypatch.setenv("CCPM_SALT", "from-env")
    assert resolve_salt(path) == b"from-env"
    monkeypatch.delenv("CCPM_SALT")
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        resolve_salt(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_salt(tmp_path / "nope", create=False)
