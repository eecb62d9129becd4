"""The privacy threat model of docs/privacy.md, one attack at a time (issue #16), fast.

Normalised ids (one pseudonym for ``" A1 "``, ``"Ａ1"``, ``"A\\u200b1"``), 64-bit pseudonyms
and the birthday bound the docs state, the salt's minimum strength, kept words that never
shadow an id, id columns found by the loader's header matching, file names, the quarantine's
free text, pass-through of same-salt input (another salt refused), and the batch job key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.errors import ConfigError
from analysis.privacy import (
    _DIGITS,
    MIN_SALT_BITS,
    Pseudonymizer,
    check_salt,
    file_pseudonym,
    header_key,
    normalize_id,
    pseudonym,
    resolve_salt,
    salt_bits,
)
from analysis.synth import generate_center

SALT = "threat-model-salt-0123456789-abcdefghij"
OTHER = "another-salt-for-threats-9876543210-zyx"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "privacy.md"


def _hand(raw: str, salt: str = SALT, prefix: str = "A-") -> str:
    return prefix + hmac.new(salt.encode(), raw.encode(), hashlib.sha256).hexdigest()[:16]


# ------------------------------------------------------------------ the pseudonym


def test_untrimmed_fullwidth_and_zero_width_ids_share_the_trimmed_ids_pseudonym():
    want = _hand("K1")
    for raw in ("K1", " K1", "K1 \t", "Ｋ1", "K\u200b1", "\ufeffK1", " Ｋ\u200d1 "):
        assert normalize_id(raw) == "K1"
        assert pseudonym(raw, SALT, "A-") == want, repr(raw)
    assert pseudonym("K2", SALT, "A-") != want
    pz = Pseudonymizer(SALT, keep=())
    out = pz.frame(pd.DataFrame({"agent_id": [" K1 ", "K1", "Ｋ1"]}))
    assert set(out["agent_id"]) == {want}


def test_pseudonyms_keep_64_bits_and_the_docs_state_the_birthday_bound():
    p = pseudonym("x", SALT, "C-")
    assert re.fullmatch(r"C-[0-9a-f]{16}", p) and _DIGITS * 4 >= 64
    # expected colliding pairs among n ids: n(n-1)/2 / 2^bits (hand calculation)
    n = 10_000_000
    pairs = n * (n - 1) / 2 / 2 ** (4 * _DIGITS)
    assert pairs < 1e-5
    assert f"{pairs:.1e}" in DOCS.read_text(encoding="utf-8")  # 2.7e-06
    old = n * (n - 1) / 2 / 2 ** 40  # the 10-hex-digit pseudonyms of before
    assert 40 < old < 50


def test_docs_state_the_threat_model_in_the_terms_tested_here():
    docs = DOCS.read_text(encoding="utf-8")
    for term in ("## Threat model", "## The salt's life cycle", "## What is not pseudonymized",
                 "## Pass-through", f"{MIN_SALT_BITS} bits", "16 hex", "salt_id",
                 "CCPM_SALT=1", "another salt", "NFKC", "`Agent_ID`", "`Customer_ID `",
                 "`Agent Name`", "Kept words never shadow an id", "`F-`", "_source_file",
                 "job key"):
        assert term in docs, term


def test_file_names_are_pseudonymized_with_a_data_extension_only():
    for name, ext in (("alice.csv", ".csv"), ("Dana.Cohen.csv", ".csv"),
                      ("bo.txt.gz", ".txt.gz"), ("bob", "")):
        p = file_pseudonym(name, SALT)
        assert p == _hand(name, prefix="F-") + ext
        assert "Cohen" not in p and "alice" not in p


# ------------------------------------------------------------------ the salt


@pytest.mark.parametrize("weak", ["1", "password", "salt-one", "a" * 64, "0123456789" * 3,
                                  "abcdabcdabcdabcd"])
def test_weak_salts_are_refused(weak):
    assert salt_bits(weak) < MIN_SALT_BITS
    with pytest.raises(ConfigError, match="too weak"):
        check_salt(weak.encode(), "CCPM_SALT")


def test_random_salts_pass():
    import secrets

    for _ in range(20):
        assert salt_bits(secrets.token_hex(16)) >= MIN_SALT_BITS  # 128 bits in 32 hex
        assert salt_bits(secrets.token_bytes(16)) >= MIN_SALT_BITS
    assert salt_bits(SALT) >= MIN_SALT_BITS


def test_weak_ccpm_salt_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CCPM_SALT", "1")
    code = main(["panel", "--calls", str(tmp_path / "x.parquet"),
                 "--out", str(tmp_path / "p.parquet"), "--pseudonymize"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "CCPM_SALT is too weak" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "p.parquet").exists()


def test_weak_salt_file_is_refused_and_a_generated_salt_is_strong(tmp_path, monkeypatch):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "weak").write_text("secret\n")
    with pytest.raises(ConfigError, match="weak"):
        resolve_salt(tmp_path / "weak")
    made = resolve_salt(tmp_path / "new", new=True)  # a missing file only on purpose
    assert salt_bits(made) >= 256


# ------------------------------------------------------------------ kept words


def test_kept_words_never_shadow_an_id():
    pz = Pseudonymizer(SALT, keep=("center", "360", "kpi"))
    pz.learn(pd.DataFrame({"agent_id": ["360", "kpi", "center", "A7"]}))
    scores = pd.DataFrame({"model": ["360", "kpi", "360", "kpi"],
                           "agent_id": ["360", "kpi", "center", "A7"], "score": [1, 2, 3, 4]})
    out = pz.frame(scores)
    assert set(out["agent_id"]) == {_hand(a) for a in ("360", "kpi", "center", "A7")}
    assert sorted(out["model"]) == ["360", "360", "kpi", "kpi"]  # labels stay labels
    # in a sentence an id wins over the label (over-replacing, never leaking)
    assert pz.text("partner 360 rated A7") == f"partner {_hand('360')} rated {_hand('A7')}"
    # a sentinel that is no input id stays (gaming's center-level rows)
    plain = Pseudonymizer(SALT)
    plain.learn(pd.DataFrame({"agent_id": ["A7"]}))
    rows = plain.frame(pd.DataFrame({"agent_id": ["center", "A7"]}))
    assert rows["agent_id"].tolist() == ["center", _hand("A7")]


# ------------------------------------------------------------------ headers


def test_id_columns_found_by_the_loaders_header_matching():
    assert header_key("Customer_ID ") == header_key("customer id") == "customer_id"
    pz = Pseudonymizer(SALT, keep=())
    df = pd.DataFrame({"Agent_ID": ["a1"], "Customer_ID ": ["0501234567"],
                       "RATER-ID": ["a2"], "talk_s": ["12"]})
    out = pz.frame(df)
    assert out.iloc[0].tolist() == [_hand("a1"), _hand("0501234567", prefix="C-"),
                                    _hand("a2"), "12"]


# ------------------------------------------------------------------ validate


def _calls_csv(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    calls = generate_center(agents=4, days=2, seed=1, gaming="none", progress=False).calls
    calls = calls[calls["agent_id"].notna()].groupby("agent_id").head(10).reset_index(
        drop=True)
    calls["agent_id"] = calls["agent_id"].map({"A0001": "Dana Cohen", "A0002": "360"}).fillna(
        calls["agent_id"])
    calls["customer_id"] = [f"05{i:08d}" for i in range(len(calls))]
    calls.loc[3, "talk_s"] = -5.0
    calls.loc[3, "agent_id"] = " Dana Cohen "  # untrimmed, in a quarantined row
    calls.loc[5, "talk_s"] = -5.0
    calls["note"] = ("call back " + calls["customer_id"] + " for "
                     + calls["agent_id"].fillna("nobody").str.strip())
    return tmp_path, calls


@pytest.mark.parametrize("variant", ["headers", "mapping"])
def test_validate_quarantine_holds_no_raw_id_whatever_the_header(tmp_path, monkeypatch,
                                                                 variant):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    _, calls = _calls_csv(tmp_path)
    agent_col = "Agent_ID" if variant == "headers" else "Agent Name"
    raw = calls.rename(columns={"agent_id": agent_col, "customer_id": "Customer_ID "})
    raw.to_csv(tmp_path / "alice.csv", index=False)
    extra = []
    if variant == "mapping":
        (tmp_path / "m.yml").write_text("kind: calls\ncolumns:\n  agent_id: Agent Name\n")
        extra = ["--mapping", str(tmp_path / "m.yml")]
    (tmp_path / "salt").write_text(SALT)
    assert main(["validate", "--calls", str(tmp_path / "alice.csv"), "--out",
                 str(tmp_path / "o"), "--quiet", "--pseudonymize", "--salt-file",
                 str(tmp_path / "salt"), *extra]) == 0
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in (tmp_path / "o").iterdir() if p.suffix in (".csv", ".json"))
    for secret in ("Dana Cohen", "alice", *calls["customer_id"]):
        assert secret not in text, secret
    q = pd.read_csv(tmp_path / "o" / "quarantine.csv", dtype=str, keep_default_na=False)
    assert len(q) == 2
    row = q.set_index("call_id").loc[calls.loc[3, "call_id"]]
    cust = next(c for c in q.columns if header_key(c) == "customer_id")
    assert row[agent_col] == _hand("Dana Cohen")  # the trimmed id's pseudonym
    assert row[cust] == _hand(calls.loc[3, "customer_id"], prefix="C-")
    assert row["note"] == (f"call back {_hand(calls.loc[3, 'customer_id'], prefix='C-')}"
                           f" for {_hand('Dana Cohen')}")
    assert set(q["_source_file"]) == {_hand("alice.csv", prefix="F-") + ".csv"}
    valid = pd.read_parquet(tmp_path / "o" / "valid.parquet")
    assert _hand("Dana Cohen") in set(valid["agent_id"]) and _hand("360") in set(
        valid["agent_id"])
    meta = json.loads(pq.read_schema(tmp_path / "o" / "valid.parquet").metadata[b"ccpm.privacy"])
    assert meta["salt_id"] == Pseudonymizer(SALT).salt_id and "salt" not in json.dumps(
        meta).replace("salt_id", "")


def test_pseudonymized_input_passes_through_and_another_salt_is_refused(tmp_path,
                                                                        monkeypatch, capsys):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    _, calls = _calls_csv(tmp_path)
    calls.to_csv(tmp_path / "calls.csv", index=False)
    (tmp_path / "salt").write_text(SALT)
    (tmp_path / "other").write_text(OTHER)
    assert main(["validate", "--calls", str(tmp_path / "calls.csv"), "--out",
                 str(tmp_path / "v"), "--quiet", "--pseudonymize", "--salt-file",
                 str(tmp_path / "salt")]) == 0
    valid = tmp_path / "v" / "valid.parquet"
    assert main(["panel", "--calls", str(valid), "--out", str(tmp_path / "p.parquet"),
                 "--pseudonymize", "--salt-file", str(tmp_path / "salt")]) == 0
    panel = pd.read_parquet(tmp_path / "p.parquet")
    assert set(panel["agent_id"]) == set(pd.read_parquet(valid)["agent_id"].dropna())  # joins
    capsys.readouterr()
    code = main(["panel", "--calls", str(valid), "--out", str(tmp_path / "q.parquet"),
                 "--pseudonymize", "--salt-file", str(tmp_path / "other")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "another salt" in err[0], err
    assert not (tmp_path / "q.parquet").exists()
    # without --pseudonymize the pseudonyms are read as ids: nothing raw to refuse
    assert main(["panel", "--calls", str(valid), "--out", str(tmp_path / "r.parquet")]) == 0


# ------------------------------------------------------------------ batch


def test_batch_job_key_changes_with_the_salt_and_names_no_input_file(tmp_path, monkeypatch):
    from analysis.batch import Job, job_key

    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "alice.csv").write_text("agent_id\nalice\n")
    (tmp_path / "s1").write_text(SALT)
    (tmp_path / "s2").write_text(OTHER)
    one = job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(tmp_path / "alice.csv"),
                      pseudonymize=True, salt_file=str(tmp_path / "s1")))
    again = job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(tmp_path / "alice.csv"),
                        pseudonymize=True, salt_file=str(tmp_path / "s1")))
    two = job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(tmp_path / "alice.csv"),
                      pseudonymize=True, salt_file=str(tmp_path / "s2")))
    assert one["key"] == again["key"] != two["key"]
    assert one["params"]["salt_id"] == Pseudonymizer(SALT).salt_id
    assert "alice" not in json.dumps(one) and SALT not in json.dumps(one)
    plain = job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(tmp_path / "alice.csv")))
    assert "salt_id" not in plain["params"]


# ------------------------------------------------------------------ file names in a report


def test_notebook_parameters_and_outputs_lose_input_file_names(tmp_path):
    import nbformat

    (tmp_path / "alice.csv").write_text("x\n")
    pz = Pseudonymizer(SALT, keep=())
    pz.learn_files(tmp_path / "alice.csv")
    path = str(tmp_path / "alice.csv")
    nb = nbformat.v4.new_notebook(metadata={"papermill": {"parameters": {"calls": path}}})
    cell = nbformat.v4.new_code_cell(f"calls = {path!r}")
    cell.outputs = [nbformat.v4.new_output("stream", text=f"read {path}\n"),
                    nbformat.v4.new_output("display_data", data={
                        "text/plain": "alice.csv: 3 rows", "image/png": "aGVsbG8="})]
    nb.cells.append(cell)
    out = json.dumps(pz.notebook(nb))
    want = _hand("alice.csv", prefix="F-") + ".csv"
    assert "alice" not in out and out.count(want) == 4
    assert "aGVsbG8=" in out  # images untouched


def test_non_ascii_names_in_papermills_parameter_cell_are_replaced(tmp_path):
    """papermill writes a parameter's non-ASCII characters as escapes, so an OKR file
    okr_王芳_9090.yml (an agent's name in a file name) survived in every executed
    notebook's parameters cell as okr_\\u738b\\u82b3_9090.yml (reviewer, 2026-12-08)."""
    import nbformat
    from papermill.translators import translate_parameters

    okr = tmp_path / "okr_王芳_9090.yml"
    okr.write_text("objectives: []\n", encoding="utf-8")
    pz = Pseudonymizer(SALT, keep=())
    pz.learn_files(okr)
    for who in ("José_Núñez", "张伟_7731"):
        pz.pseudonym(who)
    params = {"okr": str(okr), "agent": "José_Núñez", "focus": "张伟_7731"}
    source = translate_parameters("python", "Parameters", params, "# Parameters")
    assert "\\u738b" in source and "Jos\\xe9" in source  # the spelling that leaked
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    out = pz.notebook(nb).cells[0].source
    for raw in ("王芳", "\\u738b", "José", "Jos\\xe9", "N\\xfa\\xf1ez", "张伟", "\\u5f20", "7731",
                "9090"):
        assert raw not in out, (raw, out)
    assert _hand("okr_王芳_9090.yml", prefix="F-") + ".yml" in out
    assert _hand("José_Núñez") in out and _hand("张伟_7731") in out


def test_binary_salt_that_decodes_as_ascii_counts_8_bits_a_byte():
    # 16 random bytes are all below 0x80 once in 65,536 draws; control characters are not
    # punctuation, so such a salt is still binary (found by a CI run drawing b'\x12@\x18q...').
    salt = b"\x12@\x18q\x01\x16e$r\x06\x15\x1f\x1dJ\x08\x18"
    assert salt_bits(salt) == 128


def test_a_killed_runs_spill_of_raw_rows_is_removed_by_the_next_run(tmp_path, monkeypatch):
    """The loader spills the input's valid rows (raw ids) to a temporary folder; a run killed
    outright (SIGKILL, the OOM killer) left it in /tmp for good, under --pseudonymize too.
    The next run removes the spills of dead ccpm processes, and only those."""
    import os
    import subprocess
    import sys
    import tempfile

    from analysis.load import spill

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"ccpm-spill-{spill._HOST}@{dead}-abc"
    live = tmp_path / f"ccpm-spill-{spill._HOST}@{os.getppid()}-def"
    mine = tmp_path / "ccpm-spill-notours"
    for d in (stale, live, mine):
        d.mkdir()
        (d / "valid.parquet").write_bytes(b"Zhang_Wei_4471")
    calls = generate_center(agents=4, days=3, seed=1, gaming="none", progress=False).calls
    src = tmp_path / "calls.csv"
    calls.to_csv(src, index=False)
    sp = spill.load_calls_to_parquet(str(src))
    try:
        assert not stale.exists() and live.exists() and mine.exists()
        assert sp.path.parent.name.startswith(f"ccpm-spill-{spill._HOST}@{os.getpid()}-")
    finally:
        sp.cleanup()
    assert not sp.path.parent.exists()


_KILLED_LOADER = """
import os, signal, sys
from analysis.load import _stream
def _die(*a, **k):  # every slice read and checked: the raw working copies are all on disk
    os.kill(os.getpid(), signal.SIGKILL)
_stream._duplicates = _die
from analysis.load import load_calls
load_calls(sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="POSIX signals")
def test_a_killed_loaders_raw_working_copies_are_removed_by_the_next_command(tmp_path,
                                                                              monkeypatch):
    """A command killed outright while loading left ``$TMPDIR/ccpm-stream-*/cand.parquet``
    (raw agent ids, queues, call ids) and ``$TMPDIR/ccpm-load-*/`` for good: named unlike
    the spills, no later command removed them. Every working copy now carries the host and
    pid; the next command (any: here validate) removes those of dead processes on this host,
    files too, and keeps those of live processes and of other hosts."""
    import os
    import subprocess
    import sys
    import tempfile

    from analysis.load.spill import _HOST as HOST

    calls = generate_center(agents=4, days=3, seed=1, gaming="none", progress=False).calls
    calls["arrival_ts"] = calls["arrival_ts"].astype(str)
    calls.loc[calls.index[0], "arrival_ts"] = "not a time"  # one bad row: the full loader
    src = tmp_path / "calls.csv"
    calls.to_csv(src, index=False)
    tmpk = tmp_path / "tmpk"
    tmpk.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpk), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", _KILLED_LOADER, str(src)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    left = sorted(tmpk.iterdir())
    assert any((d / "cand.parquet").is_file() for d in left if d.is_dir()), left
    assert all(d.name.startswith(f"ccpm-spill-{HOST}@") for d in left), left
    dead = left[0].name[len(f"ccpm-spill-{HOST}@"):].split("-", 1)[0]
    stale_file = tmpk / f"ccpm-spill-{HOST}@{dead}-utf8-abc.csv"  # a transcoded copy
    stale_file.write_text("agent_id\nZhang_Wei_4471\n")
    live = tmpk / f"ccpm-spill-{HOST}@{os.getppid()}-stream-def"
    elsewhere = tmpk / f"ccpm-spill-not{HOST}@{dead}-stream-ghi"
    for d in (live, elsewhere):
        d.mkdir()
        (d / "cand.parquet").write_bytes(b"Zhang_Wei_4471")

    monkeypatch.setattr(tempfile, "tempdir", str(tmpk))
    good = tmp_path / "good.csv"
    calls.iloc[1:].to_csv(good, index=False)
    assert main(["validate", "--calls", str(good), "--out", str(tmp_path / "v"), "--quiet"]) == 0
    assert sorted(tmpk.iterdir()) == sorted([live, elsewhere])


def test_working_copies_of_a_host_whose_name_begins_with_this_ones_are_kept(tmp_path,
                                                                           monkeypatch):
    """Host ``web`` read host ``web-999999999``'s working copy
    (``ccpm-spill-web-999999999-<pid>-…``) as its own process 999999999's, found it dead and
    removed it under that host's live run (a TMPDIR shared over the network). The host now
    ends at an ``@``, which no host name's slug holds. Copies named the old way, of a dead
    process of this host, are still removed; every command cleans, ``--help`` too."""
    import os
    import subprocess
    import sys
    import tempfile

    from analysis import workcopy
    from analysis.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setattr(workcopy, "HOST", "web-999999999")  # the other host, a live run
    other = tmp_path / (workcopy.prefix("stream") + "abc")
    other.mkdir()
    (other / "cand.parquet").write_bytes(b"Zhang_Wei_4471")
    monkeypatch.setattr(workcopy, "HOST", "web")
    legacy = tmp_path / f"ccpm-spill-web-{dead}-load-def"  # this host's, named the old way
    stale = tmp_path / (workcopy.prefix("load").replace(str(os.getpid()), dead) + "ghi")
    for d in (legacy, stale):
        d.mkdir()
        (d / "valid.parquet").write_bytes(b"Zhang_Wei_4471")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert sorted(tmp_path.iterdir()) == [other]


def test_a_queue_named_after_an_agent_is_pseudonymized_in_the_reports_inputs(tmp_path):
    """Personal queues ("queue of Dana_Cohen_8855") named the agent in the report's tables
    and sentences under --pseudonymize (ccpm gaming already replaced the id inside them)."""
    from analysis.privacy import Pseudonymizer
    from analysis.report.inputs import _write_calls

    calls = generate_center(agents=4, days=2, seed=1, gaming="none", progress=False).calls
    agent = str(calls["agent_id"].dropna().iloc[0])
    calls["queue"] = calls["queue"].astype(object)
    calls.loc[calls.index[:5], "queue"] = f"queue of {agent}"
    calls.loc[calls.index[5:8], "queue"] = agent
    pz = Pseudonymizer(b"s" * 32, keep=())
    out = tmp_path / "calls.parquet"
    assert _write_calls(calls, out, period=None, pz=pz) == len(calls)
    q = pd.read_parquet(out)["queue"].astype(str)
    assert not q.str.contains(agent, regex=False).any()
    who = pz.pseudonym(agent)
    assert (q == f"queue of {who}").sum() == 5 and (q == who).sum() == 3
    assert set(q) - {f"queue of {who}", who} == set(calls["queue"].iloc[8:].astype(str))


def test_a_cached_comparison_is_unpickled_only_when_this_users_key_signed_it(tmp_path,
                                                                            monkeypatch):
    """A report reuses the results of an earlier output folder, whose comparison is a
    pickle: a pickle planted in a shared folder ran its code at the next report. Only a
    pickle signed with this user's key (mode 0600) is loaded."""
    import os
    import pickle

    from analysis.report import results as R

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "comparison.pkl"
    R._dump_signed({"scores": [1, 2, 3]}, path)
    assert R._load_signed(path) == {"scores": [1, 2, 3]}
    key = tmp_path / "cache" / "ccpm" / "results.key"
    assert key.stat().st_mode & 0o777 == 0o600

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    path.write_bytes(pickle.dumps(Evil()))  # the signature no longer matches
    assert R._load_signed(path) is None and not (tmp_path / "PWNED").exists()
    path.with_name("comparison.pkl.sig").unlink()
    assert R._load_signed(path) is None and not (tmp_path / "PWNED").exists()
    R._dump_signed({"ok": 1}, path)
    key.chmod(0o644)  # a key others can read signs nothing
    assert R._load_signed(path) is None


# ------------------------------------------------------------------ ids inside other text
#: Agent ids planted inside queue names, roster text and OKR titles (issue: a reviewer's
#: hostile inputs): spaces, ``_``-joined words, a CJK neighbour.
_PLANTED = {"A0001": "Dana_Cohen_8855", "A0002": "张伟_7731", "A0003": "Moshe_Katz_2718",
            "A0004": "87654321"}
_SUP = "Sup_Rachel_Levi_3141"


def _planted_calls(tmp_path: Path) -> Path:
    calls = generate_center(agents=4, days=2, seed=1, gaming="none", progress=False).calls
    calls["agent_id"] = calls["agent_id"].map(_PLANTED).fillna(calls["agent_id"])
    calls["queue"] = calls["queue"].astype(object)
    n = len(calls) // 4
    calls.loc[calls.index[:n], "queue"] = "VIP desk of Dana_Cohen_8855"
    calls.loc[calls.index[n:2 * n], "queue"] = "张伟_7731专线"
    calls.loc[calls.index[2 * n:3 * n], "queue"] = "sales_Moshe_Katz_2718"
    calls.loc[calls.index[3 * n:], "queue"] = "vip_87654321"  # an all-digit agent id
    # a call id holding the agent's id (some switches build them from the extension)
    calls["call_id"] = [f"CALLID_{a}_{i}" for i, a in enumerate(calls["agent_id"])]
    path = tmp_path / "calls.csv"
    calls.to_csv(path, index=False)
    return path


def _planted_roster(tmp_path: Path) -> Path:
    roster = pd.DataFrame({
        "agent_id": [*_PLANTED.values()],
        "team": ["Team Dana_Cohen_8855", "张伟_7731组", f"squad_{_SUP}", "north"],
        "supervisor_id": [_SUP, "Dana_Cohen_8855", _SUP, _SUP],
        "site": ["south", "south", "home office of Moshe_Katz_2718", "north"]})
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    return path


def _every_text(folder: Path) -> str:
    """Every output under ``folder`` as text: Parquet values, column names and schema
    metadata (pandas metadata included), other files as they are."""
    parts = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            t = pq.read_table(p)
            parts += [repr(t.schema.metadata), repr(t.column_names),
                      t.to_pandas().to_csv(index=False)]
        else:
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _raw_ids_in(text: str) -> list[str]:
    return [i for i in (*_PLANTED.values(), _SUP) if i in text]


def test_validate_replaces_ids_inside_queue_names_and_roster_text(tmp_path, monkeypatch):
    """valid.parquet kept "VIP desk of Dana_Cohen_8855" and roster_valid.parquet kept
    "Team Dana_Cohen_8855" / "squad_Sup_Rachel_Levi_3141" under --pseudonymize."""
    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "salt").write_text(SALT)
    assert main(["validate", "--calls", str(_planted_calls(tmp_path)), "--roster",
                 str(_planted_roster(tmp_path)), "--out", str(tmp_path / "o"), "--quiet",
                 "--pseudonymize", "--salt-file", str(tmp_path / "salt")]) == 0
    assert _raw_ids_in(_every_text(tmp_path / "o")) == []
    q = set(pd.read_parquet(tmp_path / "o" / "valid.parquet")["queue"].astype(str))
    assert {f"VIP desk of {_hand('Dana_Cohen_8855')}", f"{_hand('张伟_7731')}专线",
            f"sales_{_hand('Moshe_Katz_2718')}", f"vip_{_hand('87654321')}"} <= q
    ids = pd.read_parquet(tmp_path / "o" / "valid.parquet")["call_id"].astype(str)
    for raw in _PLANTED.values():
        assert ids.str.startswith(f"CALLID_{_hand(raw)}_").any(), raw
    assert ids.is_unique
    ro = pd.read_parquet(tmp_path / "o" / "roster_valid.parquet")
    assert f"squad_{_hand(_SUP)}" in set(ro["team"])
    assert f"home office of {_hand('Moshe_Katz_2718')}" in set(ro["site"])


def test_panel_queue_columns_hold_no_id(tmp_path, monkeypatch):
    """Queue names became column names (queue_share__VIP_desk_of_Dana_Cohen_8855), in the
    Parquet's pandas metadata too, where the id is no longer a word of its own."""
    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "salt").write_text(SALT)
    out = tmp_path / "o" / "panel.parquet"
    assert main(["panel", "--calls", str(_planted_calls(tmp_path)), "--out", str(out),
                 "--pseudonymize", "--salt-file", str(tmp_path / "salt")]) == 0
    assert _raw_ids_in(_every_text(tmp_path / "o")) == []
    cols = set(pq.read_schema(out).names)
    assert f"queue_share__VIP_desk_of_{_hand('Dana_Cohen_8855').replace('-', '_')}" in cols
    assert "calls" in cols and "repeat_calls_observed" in cols


def test_report_inputs_lose_ids_in_roster_text_and_okr_titles(tmp_path, monkeypatch):
    """build/inputs/roster.parquet kept a team named after an agent and okr.json the
    objective titles naming agents (then the PDF and notebooks showed them)."""
    from analysis.report.inputs import prepare_inputs

    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "salt").write_text(SALT)
    (tmp_path / "okr.yml").write_text(
        "objectives:\n"
        "- id: efficiency\n  title: 'Handle calls efficiently (owner: Dana_Cohen_8855)'\n"
        "  key_results:\n  - id: kr_aht\n    metric: aht_s\n    direction: lower\n"
        "    baseline: 346\n    target: 312\n"
        "- id: coach_张伟_7731\n  title: Coaching plan for 张伟_7731 and Moshe_Katz_2718\n"
        "  key_results:\n  - id: kr_csat_Moshe_Katz_2718\n    metric: csat_mean\n"
        "    direction: higher\n    baseline: 3.8\n    target: 4.2\n", encoding="utf-8")
    prepare_inputs(_planted_calls(tmp_path), build_dir=tmp_path / "build",
                   okr=tmp_path / "okr.yml", roster=_planted_roster(tmp_path),
                   pseudonymize=True, salt_file=tmp_path / "salt")
    assert _raw_ids_in(_every_text(tmp_path / "build" / "inputs")) == []
    okr = json.loads((tmp_path / "build" / "inputs" / "okr.json").read_text(encoding="utf-8"))
    objs = okr["objectives"]
    assert objs[0]["title"] == f"Handle calls efficiently (owner: {_hand('Dana_Cohen_8855')})"
    assert objs[1]["id"] == f"coach_{_hand('张伟_7731')}"
    assert [kr["metric"] for o in objs for kr in o["key_results"]] == ["aht_s", "csat_mean"]
    ro = pd.read_parquet(tmp_path / "build" / "inputs" / "roster.parquet")
    assert f"Team {_hand('Dana_Cohen_8855')}" in set(ro["team"])


def test_ids_joined_by_underscores_are_replaced_in_values_not_in_column_names():
    pz = Pseudonymizer(SALT, keep=())
    for raw in ("Moshe_Katz_2718", "王芳_9090", "calls", "8855"):
        pz.pseudonym(raw)
    who, wang = _hand("Moshe_Katz_2718"), _hand("王芳_9090")
    assert pz.text("sales_Moshe_Katz_2718") == f"sales_{who}"
    assert pz.text("coach_王芳_9090/kr_csat_Moshe_Katz_2718") == f"coach_{wang}/kr_csat_{who}"
    assert pz.text("Moshe_Katz_27189") == "Moshe_Katz_27189"  # not a whole run
    assert pz.text("vip_8855") == "vip_8855"  # all-digit ids: never inside a word
    df = pd.DataFrame({"queue": ["sales_Moshe_Katz_2718"], "repeat_calls_observed": [1]})
    out = pz.frame(df)
    assert list(out.columns) == ["queue", "repeat_calls_observed"]
    assert out["queue"].iloc[0] == f"sales_{who}"
