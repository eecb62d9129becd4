"""``--pseudonymize`` on every command that writes outputs (validate, panel, gaming, compare).

One small synthetic center with planted gaming (reciprocal 360 raters, so the flags'
``detail`` sentences name partners; sandbagging, so compare's notes name agents) is run
through every command twice, raw and pseudonymized with one salt. The tests then read
every file written: no raw agent, rater, supervisor or customer id anywhere; the same
agent has the same pseudonym in every command (the HMAC computed here by hand); the
pseudonymized outputs are the raw outputs with the ids replaced (same rows, same numbers);
and compare reads the pseudonymized gaming flags back (its what-if matches the raw run).
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
from analysis.synth import generate_center, write_center

SALT = "salt-one-for-the-privacy-cli-tests"  # >= 128 bits by the estimate
GAMING = "hangup=2@0.3,reciprocal=2,sandbagging=2,transfer_dumping=1@0.3"
CHECKS = "reciprocity_360,okr_sandbagging,transfer_dumping,changepoints"


def _hand_pseudonym(raw: str, salt: str, prefix: str = "A-") -> str:
    return prefix + hmac.new(salt.encode(), raw.encode(), hashlib.sha256).hexdigest()[:16]


def _run(argv: list[str]) -> None:
    assert main(argv) == 0, argv


def _commands(c: Path, out: Path, extra: list[str]) -> None:
    calls, ratings, okr, roster = (str(c / n) for n in ("calls.parquet", "ratings_360.csv",
                                                        "okr.yml", "roster.csv"))
    _run(["validate", "--calls", calls, "--roster", roster, "--ratings", ratings, "--quiet",
          "--out", str(out / "validate"), *extra])
    _run(["panel", "--calls", calls, "--out", str(out / "panel" / "panel.parquet"), *extra])
    _run(["gaming", "--calls", calls, "--ratings", ratings, "--okr", okr, "--roster", roster,
          "--seed", "1", "--checks", CHECKS, "--out", str(out / "gaming"), *extra])
    _run(["compare", "--calls", calls, "--ratings", ratings, "--okr", okr, "--roster", roster,
          "--flags", str(out / "gaming" / "gaming_flags.csv"), "--whatif",
          "--models", "kpi,okr,360", "--n-boot", "20", "--no-figures",
          "--out", str(out / "compare"), *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy_cli")
    center = generate_center(agents=16, days=35, seed=5, gaming=GAMING, progress=False)
    write_center(center, root / "center", progress=False)
    (root / "salt").write_text(SALT + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CCPM_SALT", raising=False)
        mp.setenv("CCPM_SALT_FILE", str(root / "unused-default-salt"))
        _commands(root / "center", root / "raw", [])
        _commands(root / "center", root / "pseudo",
                  ["--pseudonymize", "--salt-file", str(root / "salt")])
    calls = pd.read_parquet(root / "center" / "calls.parquet")
    roster = pd.read_csv(root / "center" / "roster.csv", dtype=str)
    ratings = pd.read_csv(root / "center" / "ratings_360.csv", dtype=str)
    people = (set(calls["agent_id"].dropna()) | set(roster["agent_id"])
              | set(roster["supervisor_id"]) | set(ratings["rater_id"])
              | set(ratings["ratee_id"]))
    customers = set(calls["customer_id"].dropna()) - people
    assert people and customers
    return {"root": root, "raw": root / "raw", "pseudo": root / "pseudo",
            "agents": set(calls["agent_id"].dropna()), "people": people,
            "customers": customers}


def _words(path: Path) -> set[str]:
    """Every word of a file: cells and metadata of a Parquet file, else its text."""
    if path.suffix == ".parquet":
        pf = pq.ParquetFile(path)
        table = pf.read()
        text = " ".join(f"{k!r} {v!r}" for k, v in (table.schema.metadata or {}).items())
        for col in table.column_names:
            text += " " + " ".join(map(str, table.column(col).to_pylist()))
    else:
        text = path.read_bytes().decode("utf-8")
    return set(re.findall(r"[A-Za-z0-9_]+", text))


def _outputs(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files
    return files


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_no_raw_id_in_any_pseudonymized_output(runs):
    files = _outputs(runs["pseudo"])
    kinds = {p.suffix for p in files}
    assert {".parquet", ".csv", ".json", ".txt"} <= kinds
    for p in files:
        words = _words(p)
        assert not words & runs["people"], (p.name, sorted(words & runs["people"])[:5])
        assert not words & runs["customers"], (p.name, sorted(words & runs["customers"])[:5])
    # the check can fail: the raw run's texts and tables do name them
    raw_words = set().union(*(_words(p) for p in _outputs(runs["raw"])))
    assert runs["agents"] <= raw_words and raw_words & runs["customers"]
    detail = pd.read_csv(runs["raw"] / "gaming" / "gaming_flags.csv")["detail"]
    assert detail.str.contains(r"partner A\d+").any()  # free text names partners


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_manifests_record_pseudonymization_without_the_salt(runs):
    for run, flag in (("raw", False), ("pseudo", True)):
        mans = list(runs[run].rglob("*manifest.json"))
        assert len(mans) == 4
        for m in mans:
            man = json.loads(m.read_text())
            assert man["privacy"]["pseudonymized"] is flag, m
            assert SALT not in m.read_text()
            if flag:
                assert re.fullmatch(r"[0-9a-f]{16}", man["privacy"]["salt_id"])
                assert man["parameters"]["pseudonymize"] is True


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_same_agent_same_pseudonym_in_every_command(runs):
    p = runs["pseudo"]
    expected = {_hand_pseudonym(a, SALT) for a in runs["agents"]}
    seen = {
        "validate": set(pd.read_parquet(p / "validate" / "valid.parquet")["agent_id"].dropna()),
        "panel": set(pd.read_parquet(p / "panel" / "panel.parquet")["agent_id"]),
        "gaming": set(pd.read_csv(p / "gaming" / "gaming_flags.csv").query("level == 'agent'")
                      ["agent_id"]),
        "compare": set(pd.read_csv(p / "compare" / "scores.csv")["agent_id"]),
    }
    assert seen["validate"] == seen["panel"] == expected
    assert seen["gaming"] and seen["gaming"] <= expected
    assert seen["compare"] and seen["compare"] <= expected
    # a person keeps one pseudonym whichever column holds them: self-ratings stay visible
    r = pd.read_parquet(p / "validate" / "ratings_valid.parquet")
    raw_r = pd.read_parquet(runs["raw"] / "validate" / "ratings_valid.parquet")
    assert ((r["rater_id"] == r["ratee_id"]).sum()
            == (raw_r["rater_id"] == raw_r["ratee_id"]).sum() > 0)
    roster = pd.read_parquet(p / "validate" / "roster_valid.parquet")
    assert set(roster["supervisor_id"]) <= set(r["rater_id"])


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_another_salt_gives_other_pseudonyms(runs, tmp_path, monkeypatch):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    (tmp_path / "salt2").write_text("salt-two-for-the-privacy-cli-tests\n")
    _run(["panel", "--calls", str(runs["root"] / "center" / "calls.parquet"),
          "--out", str(tmp_path / "panel.parquet"), "--pseudonymize",
          "--salt-file", str(tmp_path / "salt2")])
    one = pd.read_parquet(runs["pseudo"] / "panel" / "panel.parquet")
    two = pd.read_parquet(tmp_path / "panel.parquet")
    assert len(one) == len(two)
    assert not set(one["agent_id"]) & set(two["agent_id"])
    assert set(two["agent_id"]) == {_hand_pseudonym(a, "salt-two-for-the-privacy-cli-tests")
                                    for a in runs["agents"]}


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for p in _outputs(folder):
        if p.suffix == ".csv":
            out[str(p.relative_to(folder))] = pd.read_csv(p, dtype=str, keep_default_na=False)
        elif p.suffix == ".parquet":
            df = pd.read_parquet(p).astype(object)
            out[str(p.relative_to(folder))] = df.where(df.notna(), "").astype(str)
    return out


def _to_pseudo(df: pd.DataFrame, salt: str) -> pd.DataFrame:
    prefixes = {"agent_id": "A-", "ratee_id": "A-", "rater_id": "A-", "supervisor_id": "A-",
                "customer_id": "C-"}
    df = df.copy()
    for c, pre in prefixes.items():
        if c in df.columns:
            df[c] = df[c].map(lambda v, pre=pre: v if v in ("", "center")
                              else _hand_pseudonym(v, salt, pre))
    if "scope" in df.columns:  # an agent (change points), else "all", a period, "center"
        df["scope"] = df["scope"].map(
            lambda v: _hand_pseudonym(v, salt) if re.fullmatch(r"A\d{4}", v) else v)
    if "_source_file" in df.columns:  # input file names: F- + 16 hex + extension
        df["_source_file"] = df["_source_file"].map(
            lambda v: _hand_pseudonym(v, salt, "F-") + v[v.index("."):] if v else v)
    if "detail" in df.columns:
        df["detail"] = df["detail"].str.replace(
            r"\bA\d{4}\b", lambda m: _hand_pseudonym(m.group(0), salt), regex=True)
    return df


def _canon(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_pseudonymized_tables_are_the_raw_ones_with_ids_replaced(runs):
    raw, pseudo = _tables(runs["raw"]), _tables(runs["pseudo"])
    assert raw.keys() == pseudo.keys() and len(raw) >= 12
    for name, r in raw.items():
        p = pseudo[name]
        assert len(p) == len(r) and list(p.columns) == list(r.columns), name
        # same rows once ids are mapped (rows listed by id come in pseudonym order)
        pd.testing.assert_frame_equal(_canon(_to_pseudo(r, SALT)), _canon(p), obj=name)


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_compare_reads_pseudonymized_gaming_flags_back(runs):
    removed = pd.read_csv(runs["raw"] / "compare" / "whatif_removed.csv")
    assert removed["calls_removed"].sum() > 0  # the flags removed calls in the raw run
    for name in ("whatif.csv", "agreement.csv", "recommendation.json"):
        assert ((runs["raw"] / "compare" / name).read_bytes()
                == (runs["pseudo"] / "compare" / name).read_bytes()), name


@pytest.mark.slow  # shares one fixture: 8 command runs, ~30 s in all
def test_summary_text_names_pseudonyms(runs):
    text = (runs["pseudo"] / "gaming" / "summary.txt").read_text()
    agents = pd.read_csv(runs["pseudo"] / "gaming" / "gaming_agents.csv")  # the decision
    flagged = set(agents.loc[agents["flagged"] & (agents["scope"] == "all"), "agent_id"])
    assert flagged and all(re.search(rf"^- {a}\b", text, re.M) for a in flagged)


def test_malformed_and_mapped_quarantine_rows_are_pseudonymized(tmp_path, monkeypatch):
    monkeypatch.delenv("CCPM_SALT", raising=False)
    center = generate_center(agents=4, days=2, seed=1, gaming="none", progress=False)
    calls = center.calls.head(30).copy()
    calls.loc[3, "talk_s"] = -5.0  # quarantined, ids in their own columns
    calls.to_csv(tmp_path / "calls.csv", index=False)
    lines = (tmp_path / "calls.csv").read_text().splitlines()
    lines.append(lines[6].replace(",", ",x,", 2))  # malformed: fields shifted
    (tmp_path / "calls.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "salt").write_text(SALT)
    _run(["validate", "--calls", str(tmp_path / "calls.csv"), "--out", str(tmp_path / "o"),
          "--pseudonymize", "--salt-file", str(tmp_path / "salt"), "--quiet"])
    q = pd.read_csv(tmp_path / "o" / "quarantine.csv", dtype=str, keep_default_na=False)
    assert q["reason"].tolist() == ["negative_talk_s", "malformed_row"]
    raw = set(calls["agent_id"].dropna()) | set(calls["customer_id"].dropna())
    assert not _words(tmp_path / "o" / "quarantine.csv") & raw
    assert q.loc[0, "customer_id"] == _hand_pseudonym(calls.loc[3, "customer_id"], SALT, "C-")
    assert q.loc[0, "queue"] == calls.loc[3, "queue"]  # other fields kept for diagnosis
    assert all(v.startswith("X-") for v in q.iloc[1][:15] if v)  # a malformed line's cells
    assert len(pd.read_parquet(tmp_path / "o" / "valid.parquet")) == len(calls) - 1


def test_salt_file_without_pseudonymize_is_refused(tmp_path, capsys):
    assert main(["panel", "--calls", "x.parquet", "--out", str(tmp_path / "p.parquet"),
                 "--salt-file", str(tmp_path / "s")]) == 2
    assert "--salt-file needs --pseudonymize" in capsys.readouterr().err


def test_a_missing_salt_file_is_refused_unless_new_salt(tmp_path, capsys, monkeypatch):
    """A typo in --salt-file used to generate a new salt (and its folders) silently, so
    the pseudonyms joined nothing written before; a folder gave two messages."""
    from analysis.cli import main as cli_main

    monkeypatch.delenv("CCPM_SALT", raising=False)
    calls = tmp_path / "calls.csv"
    calls.write_text("call_id,queue,arrival_ts,outcome,agent_id,answer_ts,talk_s\n"
                     "c1,q,2026-01-05 08:00:00,answered,A1,2026-01-05 08:00:05,60\n")
    typo = tmp_path / "no_such" / "salt"
    argv = ["validate", "--calls", str(calls), "--pseudonymize", "--out", str(tmp_path / "o")]
    assert cli_main([*argv, "--salt-file", str(typo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "does not exist" in err[-1] and "--new-salt" in err[-1]
    assert not any("generat" in line for line in err[:-1])
    assert not (tmp_path / "no_such").exists() and not (tmp_path / "o").exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    assert cli_main([*argv, "--salt-file", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ccpm validate: error: salt file {folder} is a folder, not a file: "
                   "give the salt file itself"]
    assert cli_main([*argv, "--salt-file", str(typo), "--new-salt"]) == 0
    assert typo.is_file()
    assert "generated one there" in capsys.readouterr().err


def _per_agent_folder(tmp_path):
    folder = tmp_path / "per_agent"
    folder.mkdir()
    head = "call_id,queue,arrival_ts,outcome,agent_id,answer_ts,talk_s\n"
    for i, name in enumerate(("Dana Cohen", "Li Wei", "Ann Smith")):
        (folder / f"{name}.csv").write_text(
            head + f"c{i},q,2026-01-05 08:0{i}:00,answered,{name},2026-01-05 08:0{i}:05,60\n")
    return folder


def test_validate_quiet_prints_no_progress_lines(tmp_path, capsys):
    from analysis.cli import main as cli_main

    folder = _per_agent_folder(tmp_path)
    assert cli_main(["validate", "--calls", str(folder), "--quiet",
                     "--out", str(tmp_path / "o")]) == 0
    got = capsys.readouterr()
    assert got.err == "", got.err  # it printed "validating calls:" and a line per file
    assert "calls: 3 rows read = 3 valid + 0 quarantined" in got.out


def test_validate_progress_names_no_agent_file_under_pseudonymize(tmp_path, capsys,
                                                                  monkeypatch):
    from analysis.cli import main as cli_main

    monkeypatch.setenv("CCPM_SALT", "progress-salt-0123456789abcdefXYZ")
    folder = _per_agent_folder(tmp_path)
    assert cli_main(["validate", "--calls", str(folder), "--pseudonymize",
                     "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "reading 1/3: F-" in err, err
    for name in ("Dana", "Cohen", "Li Wei", "Smith"):
        assert name not in err, err
    assert cli_main(["validate", "--calls", str(folder / "Li Wei.csv"), "--pseudonymize",
                     "--out", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert "Li Wei" not in err and "validating calls: " in err, err
