"""ccpm batch: schedules, parallel jobs, one failure does not stop the others, re-runs skip
unchanged outputs, interrupted builds are never taken as done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analysis.batch import STAMP, Job, is_current, job_key, load_schedule, run_batch, run_job
from analysis.cli import main as ccpm
from analysis.errors import ConfigError


@pytest.fixture(scope="module")
def center(tmp_path_factory) -> Path:
    from analysis.synth import generate_center, write_center

    out = tmp_path_factory.mktemp("center")
    write_center(generate_center(agents=8, days=12, seed=11), out)
    (out / "models.yml").write_text("compare:\n  n_boot: 40\n")
    (out / "broken.csv").write_text("this is not,a call export\n1,2\n")
    # small stand-ins for the four templates (same parameters cell, one section each):
    # batch mechanics are tested here; the real templates are tested in test_report.py
    import nbformat

    from analysis.config import TEMPLATES_DIR

    tdir = out / "templates"
    tdir.mkdir()
    for src in TEMPLATES_DIR.glob("*.ipynb"):
        nb = nbformat.read(src, as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        body = nbformat.v4.new_code_cell(
            "#| echo: false\nfrom analysis.report import blocks\n"
            "from analysis.report.present import quality\n"
            "from analysis.report import prepare_inputs\n"
            "inputs = prepare_inputs(calls, build_dir=build_dir, period=period)\n"
            "display(blocks.heading('summary.title', lang))\n"
            "display(quality.kpi_overview(inputs, lang))")
        nb.cells = [params, body]
        nbformat.write(nb, tdir / src.name)
    return out


def _schedule(tmp: Path, center: Path, **extra) -> Path:
    doc = {
        "out_root": "out",
        "defaults": {"engine": "builtin", "deck": False, "config": str(center / "models.yml"),
                     "templates": str(center / "templates")},
        "jobs": [
            {"name": "good", "calls": str(center / "calls.parquet"), "lang": "en"},
            {"name": "bad", "calls": str(center / "broken.csv"), "lang": "en"},
        ],
        **extra,
    }
    path = tmp / "schedule.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_schedule_matrix_and_paths(tmp_path):
    (tmp_path / "d").mkdir()
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump({
        "out_root": "reports",
        "defaults": {"pseudonymize": True},
        "centers": [{"name": "north", "calls": "d/calls.parquet"},
                    {"name": "south", "calls": "d/other.parquet", "lang": "ignored"}],
        "periods": ["2026-01", "2026-02"],
        "langs": ["en", "zh-CN"],
    }))
    jobs = load_schedule(path)
    assert len(jobs) == 2 * 2 * 2
    assert len({j.out for j in jobs}) == len(jobs) and len({j.name for j in jobs}) == len(jobs)
    j = next(j for j in jobs if j.name == "north-2026-01-zh-CN")
    assert j.calls == str((tmp_path / "d" / "calls.parquet").resolve())
    assert j.out == str(tmp_path.resolve() / "reports" / "north" / "2026-01" / "zh-CN")
    assert j.pseudonymize is True and j.lang == "zh-CN" and j.period == "2026-01"


@pytest.mark.parametrize("doc, match", [
    ({"jobs": [{"name": "a", "calls": "x", "colour": "red"}]}, "unknown key 'colour'"),
    ({"jobz": []}, "unknown key 'jobz'"),
    ({"jobs": [{"name": "a"}]}, "no 'calls'"),
    ({"jobs": [{"name": "a", "calls": "x", "lang": "fr"}]}, "unknown report language 'fr'"),
    ({"jobs": [{"name": "a", "calls": "x", "period": "2026-13"}]}, "invalid month 13"),
    ({"jobs": [{"name": "a", "calls": "x"}, {"name": "a", "calls": "y"}]}, "repeats"),
    ({"jobs": [{"name": "a", "calls": "x", "power": "yes"}]}, "power must be a whole number"),
    ({"jobs": [{"name": "a", "calls": "x", "power": -1}]}, "power must be a whole number"),
    ({}, "no jobs"),
])
def test_bad_schedules_name_the_problem(tmp_path, doc, match):
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=match):
        load_schedule(path)


def test_key_changes_with_inputs_and_parameters(tmp_path):
    f = tmp_path / "calls.parquet"
    f.write_bytes(b"one")
    job = Job(name="j", out=str(tmp_path / "o"), calls=str(f))
    k1 = job_key(job)["key"]
    assert job_key(job)["key"] == k1
    assert job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(f), lang="zh-CN"))[
        "key"] != k1
    # detection power changes the report: a job asking for it is rebuilt
    assert job_key(Job(name="j", out=str(tmp_path / "o"), calls=str(f), power=3))[
        "key"] != k1
    f.write_bytes(b"two")
    assert job_key(job)["key"] != k1


def test_interrupted_build_is_not_taken_as_done(tmp_path):
    f = tmp_path / "calls.parquet"
    f.write_bytes(b"x")
    job = Job(name="j", out=str(tmp_path / "o"), calls=str(f))
    out = Path(job.out)
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF-partial")  # no stamp: incomplete
    assert not is_current(job)
    (out / STAMP).write_text(json.dumps({"key": "stale"}))
    assert not is_current(job)
    (out / STAMP).write_text(json.dumps(job_key(job)))
    assert is_current(job)


def test_failing_job_is_reported_with_its_log(tmp_path, center):
    job = Job(name="bad", out=str(tmp_path / "bad"), calls=str(center / "broken.csv"),
              engine="builtin", deck=False)
    res = run_job(job)
    assert res["status"] == "failed" and res["error"]
    log = Path(res["log"])
    assert log.is_file() and "FAILED" in log.read_text()
    assert not Path(job.out).exists()  # nothing a re-run would take as done
    assert log.parent == tmp_path / "bad.failed"


@pytest.mark.slow
def test_one_failure_does_not_stop_the_others_and_rerun_skips(tmp_path, center, capsys):
    sched = _schedule(tmp_path, center)
    code = ccpm(["batch", str(sched), "--workers", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    good, bad = tmp_path / "out" / "good", tmp_path / "out" / "bad"
    assert (good / "report.pdf").is_file() and (good / STAMP).is_file()
    assert not bad.exists() and (bad.parent / "bad.failed" / "report.log").is_file()
    assert "failed   bad" in out and "done     good" in out
    assert not list((tmp_path / "out").glob(".*tmp-*"))  # no temp folders left behind
    stamp = json.loads((good / STAMP).read_text())
    assert stamp["key"] == job_key(load_schedule(sched)[0])["key"]

    # re-run: the good job is current and skipped; the bad one fails again
    pdf_mtime = (good / "report.pdf").stat().st_mtime_ns
    res = run_batch(load_schedule(sched), workers=1, progress=False)
    assert res.set_index("name")["status"].to_dict() == {"good": "skipped", "bad": "failed"}
    assert (good / "report.pdf").stat().st_mtime_ns == pdf_mtime

    # a changed parameter or template makes the job stale again
    jobs = load_schedule(sched)
    jobs[0].period = "2026-01"
    assert not is_current(jobs[0])
    tpl = center / "templates" / "data_quality.ipynb"
    tpl.write_text(tpl.read_text().replace("summary.title", "summary.findings"))
    assert not is_current(load_schedule(sched)[0])


def test_a_jobs_power_reaches_the_report_builder(tmp_path, monkeypatch):
    """``power: 2`` in a schedule is the report's ``--power 2`` (it was an unknown key)."""
    import analysis.batch as batch

    seen = {}

    def builder(calls, *, out, progress, power_rounds=0, **_):
        seen["power_rounds"] = power_rounds
        raise RuntimeError("stop here")

    monkeypatch.setattr(batch, "_builder", lambda: builder)
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump({"jobs": [{"name": "a", "calls": "x.parquet",
                                              "power": 2}]}))
    job = load_schedule(path)[0]
    assert job.power == 2
    out = tmp_path / "tmp"
    out.mkdir()
    assert "stop here" in batch._build(job, out)
    assert seen == {"power_rounds": 2}
