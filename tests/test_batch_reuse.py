"""A batch renders one analysis in several languages from one computation (issue 15: the
results bundle is written once): the jobs of the same inputs and settings reuse the first
job's output (``Job.reuse_from``), and in parallel runs wait for it to end.

The report is replaced by a recording stand-in (the ``CCPM_BATCH_TEST_BUILDER`` hook); that
:func:`analysis.report.build_report` really takes a matching bundle and refuses another is
tested in ``test_report.py``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

BUILDER = "test_batch_reuse:recording_build"


def recording_build(calls, *, out, progress, lang="en", period=None, reuse=(), **_):
    """Writes a tiny output; records when it ran and what it was offered to reuse."""
    t0 = time.time()
    time.sleep(0.3)
    out = Path(out)
    (out / "report.pdf").write_bytes(b"%PDF-stand-in\n")
    (out / "manifest.json").write_text("{}")
    rec = {"lang": lang, "period": period, "reuse": [str(r) for r in reuse],
           "start": t0, "end": time.time()}
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")
    progress("stand-in: done")


def _schedule(root: Path) -> Path:
    from analysis.synth import generate_center

    (root / "data").mkdir(parents=True)
    generate_center(agents=4, days=2, seed=1).calls.to_parquet(root / "data" / "c.parquet")
    sched = root / "schedule.yml"
    sched.write_text(yaml.safe_dump({
        "out_root": "out",
        "defaults": {"deck": False, "engine": "builtin"},
        "centers": [{"name": "c", "calls": "data/c.parquet"}],
        "periods": ["2026-01", "2026-02"],
        "langs": ["en", "zh-CN"],
    }))
    return sched


def test_plan_reuse_pairs_the_languages_of_one_analysis(tmp_path):
    from analysis.batch import load_schedule, plan_reuse

    jobs = {j.name: j for j in plan_reuse(load_schedule(_schedule(tmp_path)))}
    en, zh = jobs["c-2026-01-en"], jobs["c-2026-01-zh-CN"]
    assert en.reuse_from == (en.out,)  # its own previous output only
    assert zh.reuse_from == (zh.out, en.out)
    # another period is another analysis: nothing taken across periods
    assert jobs["c-2026-02-zh-CN"].reuse_from[1:] == (jobs["c-2026-02-en"].out,)
    forced = {j.name: j for j in plan_reuse(list(jobs.values()), previous=False)}
    assert forced["c-2026-01-en"].reuse_from == ()
    assert forced["c-2026-01-zh-CN"].reuse_from == (en.out,)


def test_reuse_is_not_part_of_the_jobs_key(tmp_path):
    from dataclasses import replace

    from analysis.batch import job_key, load_schedule

    job = load_schedule(_schedule(tmp_path))[0]
    assert job_key(job)["key"] == job_key(replace(job, reuse_from=("/x",)))["key"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_language_starts_after_the_job_it_reuses(tmp_path, monkeypatch, workers):
    from analysis.batch import load_schedule, run_batch

    monkeypatch.setenv("CCPM_BATCH_TEST_BUILDER", BUILDER)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("RECORD_FILE", str(record))
    jobs = load_schedule(_schedule(tmp_path))
    res = run_batch(jobs, workers=workers, progress=False)
    assert set(res["status"]) == {"done"}, res
    runs = {(r["period"], r["lang"]): r for r in map(json.loads, record.read_text().splitlines())}
    outs = {(j.period, j.lang): j.out for j in jobs}
    for period in ("2026-01", "2026-02"):
        en, zh = runs[(period, "en")], runs[(period, "zh-CN")]
        assert outs[(period, "en")] in zh["reuse"]
        assert zh["start"] >= en["end"]  # the English results exist when zh-CN starts
