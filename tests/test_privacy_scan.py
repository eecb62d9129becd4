"""A scanner over every output of every command under ``--pseudonymize`` (issue #16).

One tiny synthetic center is given ids a hostile supplier or an ordinary site would use:
agents named like the kept words (``360``, ``kpi``, ``center``, a supervisor ``bsc``), with
spaces, CJK, an apostrophe, an e-mail; customers as phone numbers; one calls file per agent
(``Dana Cohen.csv``); headers spelled ``Agent_ID`` and ``Customer_ID `` (trailing space);
untrimmed ids; a free-text column repeating the caller's number and the agent's name; and
a second export read by a custom mapping from ``Agent Name``. Then validate, panel, gaming,
compare (on the raw files and, pass-through, on validate's pseudonymized output) and a
batch that builds the report (PDF, deck, notebooks, tables; rendered once) all run with
one salt, and every byte they write is read: CSV/JSON/text, Parquet values and metadata,
PDF text (pypdf), pptx XML, notebook JSON. No raw id and no per-agent file name may
survive; id columns hold only pseudonyms; the pass-through run joins validate's output.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.cli import main
from analysis.privacy import ID_PREFIXES, header_key
from analysis.synth import generate_center, write_center

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SALT = "scan-salt-0123456789-abcdefghij-KLMNOP"
AGENTS = {"A0001": "360", "A0002": "kpi", "A0003": "center", "A0004": "Dana Cohen",
          "A0005": "张伟", "A0006": "o'brien", "A0007": "A0007", "A0008": "bo.li@example"}
SUPERVISORS = {"S01": "bsc", "S02": "Sup Two"}
KEPT = {"360", "kpi", "center", "bsc"}
TEAM_FILE = "roster of Sup Two.csv"  # also labels (model names, center-level rows)
CHECKS = "reciprocity_360,okr_sandbagging,transfer_dumping,changepoints"


def _hand(raw: str, prefix: str) -> str:
    """The expected pseudonym, by hand with the standard library."""
    norm = unicodedata.normalize("NFKC", raw).strip()
    return prefix + hmac.new(SALT.encode(), norm.encode(), hashlib.sha256).hexdigest()[:16]


def _file_stem(agent: str) -> str:
    return agent.replace("'", "")  # an apostrophe in a path is wt-escape's test


def _run(argv: list[str]) -> None:
    assert main(argv) == 0, argv


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy_scan")
    c = root / "center"
    write_center(generate_center(agents=12, days=24, seed=3,
                                 gaming="hangup=2@0.3,reciprocal=2,sandbagging=2",
                                 progress=False), c, progress=False)
    calls = pd.read_parquet(c / "calls.parquet")
    people = {**AGENTS, **SUPERVISORS}
    custs = {k: f"05{int(hashlib.md5(k.encode()).hexdigest(), 16) % 10**8:08d}"
             for k in calls["customer_id"].dropna().unique()}
    calls["agent_id"] = calls["agent_id"].map(lambda a: AGENTS.get(a, a))
    calls["customer_id"] = calls["customer_id"].map(lambda k: custs.get(k, k))
    calls["comment"] = ("call back " + calls["customer_id"].fillna("") + " for "
                        + calls["agent_id"].fillna(""))
    calls.loc[calls.index[::97], "talk_s"] = -5.0  # quarantined, raw ids in every column
    pad = calls.index[1::50]
    calls.loc[pad, "agent_id"] = " " + calls.loc[pad, "agent_id"] + " "  # untrimmed
    calls = calls.rename(columns={"agent_id": "Agent_ID", "customer_id": "Customer_ID "})
    cdir = root / "calls"
    cdir.mkdir()
    files = set()
    for agent, rows in calls.groupby(calls["Agent_ID"].str.strip(), dropna=True):
        name = f"{_file_stem(agent)}.csv"
        rows.to_csv(cdir / name, index=False)
        files.add(name)
    # a second export, read by a custom mapping from "Agent Name"
    custom = calls.rename(columns={"Agent_ID": "Agent Name"}).head(400)
    custom.to_csv(root / "custom.csv", index=False)
    (root / "custom.yml").write_text("kind: calls\ncolumns:\n  agent_id: Agent Name\n")
    for name in ("ratings_360.csv", "roster.csv"):
        df = pd.read_csv(c / name, dtype=str)
        for col in df.columns:
            if col in ID_PREFIXES:
                df[col] = df[col].map(lambda v: people.get(v, v))
        df.to_csv(root / name, index=False)
    okr = (c / "okr.yml").read_text()
    for raw, new in AGENTS.items():
        okr = okr.replace(f"  {raw}:", f"  {json.dumps(new, ensure_ascii=False)}:")
    (root / "okr.yml").write_text(okr, encoding="utf-8")
    (root / "models.yml").write_text("compare:\n  n_boot: 40\nrecommendation:\n  n_boot: 40\n")
    (root / "salt").write_text(SALT + "\n")

    out = root / "out"
    priv = ["--pseudonymize", "--salt-file", str(root / "salt")]
    r, ro, okr_p, cfg = (str(root / n) for n in ("ratings_360.csv", "roster.csv", "okr.yml",
                                                 "models.yml"))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CCPM_SALT", raising=False)
        mp.setenv("CCPM_SALT_FILE", str(root / "unused-default-salt"))
        v = out / "validate"
        _run(["validate", "--calls", str(cdir), "--roster", ro, "--ratings", r, "--quiet",
              "--out", str(v), *priv])
        _run(["validate", "--calls", str(root / "custom.csv"), "--mapping",
              str(root / "custom.yml"), "--quiet", "--out", str(out / "validate-custom"),
              *priv])
        for tag, src, rat, ros in (("raw", str(cdir), r, ro),
                                   ("pass", str(v / "valid.parquet"),
                                    str(v / "ratings_valid.parquet"),
                                    str(v / "roster_valid.parquet"))):
            _run(["panel", "--calls", src, "--out", str(out / f"panel-{tag}" / "panel.parquet"),
                  *priv])
            _run(["gaming", "--calls", src, "--ratings", rat, "--okr", okr_p, "--roster", ros,
                  "--seed", "1", "--checks", CHECKS, "--out", str(out / f"gaming-{tag}"), *priv])
            whatif = ["--whatif"] if tag == "pass" else []  # the what-if reads Parquet
            _run(["compare", "--calls", src, "--ratings", rat, "--okr", okr_p, "--roster", ros,
                  "--flags", str(out / f"gaming-{tag}" / "gaming_flags.csv"), *whatif,
                  "--models", "kpi,okr,bsc,360", "--n-boot", "20", "--no-figures",
                  "--out", str(out / f"compare-{tag}"), *priv])
    secrets = ({a.strip() for a in AGENTS.values()} | set(SUPERVISORS.values())
               | set(custs.values()) | files | {_file_stem(a) for a in AGENTS.values()}
               | {TEAM_FILE})
    return {"root": root, "out": out, "secrets": secrets, "customers": set(custs.values()),
            "files": files, "inputs": {"calls": str(cdir), "ratings": r, "okr": okr_p,
                                       "roster": ro, "config": cfg}}


@pytest.fixture(scope="module")
def report(scan):
    """The report of the same center, built once by a pseudonymized batch job."""
    root, out = scan["root"], scan["out"] / "batch"
    team = root / TEAM_FILE  # a single input file named after a person
    team.write_bytes(Path(scan["inputs"]["roster"]).read_bytes())
    (root / "batch.yml").write_text(json.dumps({
        "out_root": str(out),
        "jobs": [{"name": "scan", **scan["inputs"], "roster": str(team), "pseudonymize": True,
                  "salt_file": str(root / "salt"), "engine": "builtin", "deck": True}]}))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CCPM_SALT", raising=False)
        mp.setenv("CCPM_SALT_FILE", str(root / "unused-default-salt"))
        _run(["batch", str(root / "batch.yml"), "--workers", "1", "--no-progress"])
    return out


# ------------------------------------------------------------------------- reading outputs


def _text(path: Path) -> str:
    """Everything a person or a program could read in one output file."""
    suf = path.suffix.lower()
    if suf == ".parquet":
        table = pq.ParquetFile(path).read()
        meta = " ".join(f"{k.decode(errors='replace')} {v.decode(errors='replace')}"
                        for k, v in (table.schema.metadata or {}).items())
        cells = " ".join(" ".join(map(str, table.column(c).to_pylist()))
                         for c in table.column_names)
        return meta + " " + " ".join(table.column_names) + " " + cells
    if suf == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        meta = " ".join(str(v) for v in (reader.metadata or {}).values())
        return meta + " " + " ".join(page.extract_text() or "" for page in reader.pages)
    if suf in (".pptx", ".xlsx", ".docx"):
        with zipfile.ZipFile(path) as z:
            return " ".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist()
                            if n.endswith((".xml", ".rels")))
    if suf in (".png", ".jpg", ".svg", ".gz", ".zip"):
        return ""  # figures show no ids (docs/privacy.md); compressed inputs are not written
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if suf in (".json", ".ipynb"):  # escaped characters (\u5f20) as they read
        try:
            raw += " " + json.dumps(json.loads(raw), ensure_ascii=False)
        except ValueError:
            pass
    return raw


def _outputs(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, folder
    return files


def _hits(text: str, secret: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(secret)}(?![A-Za-z0-9_])", text) is not None


def _found(text: str, secrets: set[str]) -> list[str]:
    """The secrets standing as words in ``text`` (one word: by set look-up, fast)."""
    words = set(re.findall(r"[A-Za-z0-9_]+", text))
    simple = {s for s in secrets if re.fullmatch(r"[A-Za-z0-9_]+", s)}
    return sorted((simple & words) | {s for s in secrets - simple if _hits(text, s)})


# ------------------------------------------------------------------------- the tests


def _leaks(folder: Path, scan) -> dict:
    leaks = {}
    for p in _outputs(folder):
        found = _found(_text(p), scan["secrets"] - KEPT)
        if found:
            leaks[str(p.relative_to(folder))] = found[:4]
    return leaks


@pytest.mark.slow  # one fixture: 10 command runs (~40 s)
def test_no_raw_id_or_file_name_in_any_output_of_any_command(scan):
    files = _outputs(scan["out"])
    assert {".parquet", ".csv", ".json", ".txt"} <= {p.suffix for p in files}
    assert not _leaks(scan["out"], scan)
    # the scan can fail: the inputs hold them
    inputs = " ".join(_text(p) for p in _outputs(scan["root"] / "calls"))
    assert all(_hits(inputs, s) for s in ("Dana Cohen", "o'brien", "bo.li@example"))
    assert _found(inputs, scan["secrets"] - KEPT)


@pytest.mark.slow  # renders the report once (40-60 s on an idle machine)
def test_no_raw_id_or_file_name_in_the_report_pdf_deck_notebooks_and_tables(scan, report):
    files = _outputs(report)
    kinds = {p.suffix for p in files}
    assert {".parquet", ".csv", ".json", ".pdf", ".pptx", ".ipynb"} <= kinds, kinds
    assert not _leaks(report, scan)
    pdf = next(p for p in files if p.suffix == ".pdf")
    text = _text(pdf)
    assert len(text) > 2000 and re.search(r"F-[0-9a-f]{16}\.csv", text)  # the inputs table
    bad = {(str(p.relative_to(report)), c, v) for p, c, v in _id_cells(files)
           if v and v != "center" and not re.fullmatch(r"[ACX]-[0-9a-f]{16}", v)}
    assert not bad, sorted(bad)[:8]  # "center": the centre-level rows (inputs pseudonymized)


def _id_cells(files):
    """(file, column, value) of every cell of an id column, CSV and Parquet."""
    for p in files:
        if p.suffix == ".csv":
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
        elif p.suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            continue
        for col in df.columns:
            if header_key(col) in {header_key(k) for k in ID_PREFIXES}:
                for v in pd.unique(df[col].dropna().astype(str)):
                    yield p, col, v


@pytest.mark.slow
def test_id_columns_hold_only_pseudonyms_even_for_kept_words(scan):
    cells = list(_id_cells(p for p in _outputs(scan["out"])
                           if not p.is_relative_to(scan["out"] / "batch")))
    assert len(cells) > 50
    bad = {(str(p.relative_to(scan["out"])), c, v) for p, c, v in cells
           if v and not re.fullmatch(r"[ACX]-[0-9a-f]{16}", v)}
    assert not bad, sorted(bad)[:8]
    # the agents named like kept words are there, pseudonymized (not dropped, not kept)
    scores = pd.read_csv(scan["out"] / "compare-raw" / "scores.csv", dtype=str)
    for kept in ("360", "kpi", "center"):
        assert _hand(kept, "A-") in set(scores["agent_id"]), kept
    # the model labels are still there
    assert {"kpi", "360", "bsc"} <= set(scores["model"])


@pytest.mark.slow
def test_quarantine_loses_header_variants_free_text_numbers_and_file_names(scan):
    q = pd.read_csv(scan["out"] / "validate" / "quarantine.csv", dtype=str,
                    keep_default_na=False)
    cust = next(c for c in q.columns if header_key(c) == "customer_id")  # header as read
    assert len(q) >= 5 and {"Agent_ID", "comment"} <= set(q.columns)
    assert q["Agent_ID"].str.fullmatch(r"A-[0-9a-f]{16}").all()
    assert q[cust].str.fullmatch(r"C-[0-9a-f]{16}").all()
    assert q["_source_file"].str.fullmatch(r"F-[0-9a-f]{16}\.csv").all()
    text = " ".join(q["comment"])
    assert not any(_hits(text, s) for s in scan["customers"])
    # the free text keeps its shape, with the pseudonyms in place of the ids
    assert q["comment"].str.fullmatch(r"call back C-[0-9a-f]{16} for A-[0-9a-f]{16}").all()
    # the custom mapping's "Agent Name" column
    qc = pd.read_csv(scan["out"] / "validate-custom" / "quarantine.csv", dtype=str,
                     keep_default_na=False)
    named = qc["Agent Name"][qc["Agent Name"] != ""]  # abandoned calls have no agent
    assert len(named) and named.str.fullmatch(r"A-[0-9a-f]{16}").all()
    # an untrimmed id gets the pseudonym of the trimmed one (one pseudonym per agent)
    valid = pd.read_parquet(scan["out"] / "validate" / "valid.parquet")
    agents = set(valid["agent_id"].dropna())
    assert {_hand(a, "A-") for a in AGENTS.values()} <= agents and len(agents) == 12
    assert set(q["Agent_ID"]) <= set(valid["agent_id"])


@pytest.mark.slow
def test_validate_output_passes_through_later_commands_and_joins(scan):
    out = scan["out"]
    valid = set(pd.read_parquet(out / "validate" / "valid.parquet")["agent_id"])
    meta = pq.read_schema(out / "validate" / "valid.parquet").metadata
    salt_id = json.loads(meta[b"ccpm.privacy"])["salt_id"]
    for tag in ("raw", "pass"):  # same pseudonyms whether from raw files or validate's
        panel = set(pd.read_parquet(out / f"panel-{tag}" / "panel.parquet")["agent_id"])
        assert panel == valid, tag
        scores = set(pd.read_csv(out / f"compare-{tag}" / "scores.csv")["agent_id"])
        assert scores and scores <= valid, tag
        man = json.loads((out / f"gaming-{tag}" / "manifest.json").read_text())
        assert man["privacy"]["salt_id"] == salt_id
    flags = pd.read_csv(out / "gaming-pass" / "gaming_flags.csv", dtype=str)
    assert set(flags.loc[flags["level"] == "agent", "agent_id"]) <= valid
