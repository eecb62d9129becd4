"""Scheduled batches of reports: many centers, periods and languages, in parallel workers.

A schedule (YAML) lists jobs, or a matrix of ``centers`` x ``periods`` x ``langs``::

    out_root: ../batch            # relative to the schedule file
    defaults: {pseudonymize: true, engine: builtin}
    centers:
      - name: sample
        calls: ../../data/sample/calls.parquet
        ratings: ../../data/sample/ratings_360.csv
    periods: [2026-01, 2026-02]
    langs: [en, zh-CN]
    jobs:                          # optional extra jobs, each with its own settings
      - {name: bank-1999-03, calls: /data/bank/03_March.txt.gz, mapping: anonymous-bank,
         period: 1999-03, lang: en}

Each job is one :func:`analysis.report.build_report` run, built in a temporary folder
beside its output and renamed into place only when complete, with a stamp file
(``.ccpm-stamp.json``: input hashes, parameters, template hashes) written last. A re-run
skips a job whose stamp matches; an interrupted or failed job leaves no stamp (a failed
one keeps its partial output in ``<out>.failed/`` with ``report.log``). One failure does
not stop the others; :func:`run_batch` reports every job's status.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from . import __version__
from .config import NOTEBOOKS_DIR
from .errors import CcpmError, ConfigError

__all__ = ["Job", "load_schedule", "job_key", "is_current", "run_job", "run_batch", "STAMP",
           "JOB_KEYS"]

STAMP = ".ccpm-stamp.json"
_PATH_KEYS = ("calls", "mapping", "ratings", "okr", "roster", "config", "truth", "salt_file",
              "templates")
#: Settings a job (or ``defaults``, or a center) may carry.
JOB_KEYS = (*_PATH_KEYS, "period", "lang", "pseudonymize", "engine", "seed", "deck", "out",
            "name")


@dataclass
class Job:
    """One report to build."""

    name: str
    out: str
    calls: str
    mapping: str | None = None
    ratings: str | None = None
    okr: str | None = None
    roster: str | None = None
    config: str | None = None
    truth: str | None = None
    salt_file: str | None = None
    period: str | None = None
    lang: str = "en"
    pseudonymize: bool = False
    engine: str = "auto"
    seed: int | None = None
    deck: bool = True
    templates: str | None = None
    extra: dict = field(default_factory=dict)


def _resolve(base: Path, value, key: str):
    if value in (None, "") or key not in _PATH_KEYS:
        return value
    if key == "mapping" and not (str(value).endswith((".yml", ".yaml")) or "/" in str(value)):
        return value  # a built-in mapping name
    p = Path(os.path.expandvars(str(value))).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text)).strip("-")


def load_schedule(path: str | os.PathLike) -> list[Job]:
    """Read a schedule file into jobs (paths resolved against the file's folder).

    Raises
    ------
    ConfigError
        Invalid YAML, an unknown key (named), a job without ``calls``, or duplicate outputs.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"schedule not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path.name}: the schedule must be a mapping")
    allowed = {"out_root", "defaults", "centers", "periods", "langs", "jobs"}
    unknown = set(doc) - allowed
    if unknown:
        raise ConfigError(f"{path.name}: unknown key {sorted(unknown)[0]!r} "
                          f"(known: {', '.join(sorted(allowed))})")
    base = path.parent.resolve()
    out_root = Path(_resolve(base, doc.get("out_root", "batch"), "calls"))
    defaults = doc.get("defaults") or {}
    raw: list[dict] = []
    centers = doc.get("centers") or []
    periods = doc.get("periods") or [None]
    langs = doc.get("langs") or [defaults.get("lang", "en")]
    for ci, c in enumerate(centers):
        if not isinstance(c, dict):
            raise ConfigError(f"{path.name}: centers[{ci}] must be a mapping")
        cname = c.get("name") or f"center{ci + 1}"
        for period in periods:
            for lang in langs:
                name = "-".join(_slug(x) for x in (cname, period or "all", lang))
                job = {**defaults, **c, "period": period if period is not None
                       else c.get("period", defaults.get("period")), "lang": lang, "name": name}
                job.setdefault("out", str(Path(_slug(cname)) / _slug(period or "all") / lang))
                raw.append(job)
    for ji, j in enumerate(doc.get("jobs") or []):
        if not isinstance(j, dict):
            raise ConfigError(f"{path.name}: jobs[{ji}] must be a mapping")
        job = {**defaults, **j}
        job.setdefault("name", f"job{ji + 1}")
        job.setdefault("out", _slug(job["name"]))
        raw.append(job)
    if not raw:
        raise ConfigError(f"{path.name}: no jobs (give 'centers' or 'jobs')")
    jobs, outs, names = [], set(), set()
    for j in raw:
        bad = set(j) - set(JOB_KEYS)
        if bad:
            raise ConfigError(f"{path.name}: job {j.get('name')!r}: unknown key "
                              f"{sorted(bad)[0]!r} (known: {', '.join(JOB_KEYS)})")
        if not j.get("calls"):
            raise ConfigError(f"{path.name}: job {j.get('name')!r} has no 'calls'")
        kw = {k: _resolve(base, v, k) for k, v in j.items()}
        out = Path(kw.pop("out"))
        kw["out"] = str(out if out.is_absolute() else out_root / out)
        if kw["out"] in outs or kw["name"] in names:
            raise ConfigError(f"{path.name}: job {kw['name']!r} repeats another job's name "
                              "or output folder")
        outs.add(kw["out"])
        names.add(kw["name"])
        if kw.get("period") is not None:
            kw["period"] = str(kw["period"])
        jobs.append(Job(**kw))
    return jobs


def _files(p: str) -> list[Path]:
    path = Path(p)
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    return [path] if path.is_file() else []


def job_key(job: Job) -> dict:
    """What a job's output depends on: input hashes, parameters, templates, version."""
    from .report.inputs import file_sha256

    inputs = {}
    for k in _PATH_KEYS:
        v = getattr(job, k)
        if v in (None, "") or k in ("salt_file", "templates"):
            continue
        files = _files(v)
        inputs[k] = {str(f): file_sha256(f) for f in files} if files else str(v)
    params = {k: v for k, v in asdict(job).items()
              if k not in _PATH_KEYS and k not in ("name", "out", "extra")}
    tdir = Path(job.templates) if job.templates else NOTEBOOKS_DIR
    templates = {p.name: file_sha256(p) for p in sorted(tdir.glob("*.ipynb"))}
    body = {"inputs": inputs, "params": params, "templates": templates, "ccpm": __version__}
    body["key"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


def is_current(job: Job, key: dict | None = None) -> bool:
    """True when ``job.out`` holds a complete output built from the same key."""
    stamp = Path(job.out) / STAMP
    if not stamp.is_file():
        return False
    key = key or job_key(job)
    try:
        return json.loads(stamp.read_text(encoding="utf-8")).get("key") == key["key"]
    except (OSError, ValueError):
        return False


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def run_job(job: Job) -> dict:
    """Build one job's report (in a worker process). Never raises: returns a status dict
    ``name, status (done|skipped|failed), out, seconds, error, log``."""
    t0 = time.perf_counter()
    out = Path(job.out)
    status = {"name": job.name, "out": str(out), "status": "failed", "error": "", "log": "",
              "seconds": 0.0}
    try:
        key = job_key(job)
        if is_current(job, key):
            status.update(status="skipped", seconds=round(time.perf_counter() - t0, 2))
            return status
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log = tmp / "report.log"
        from .report.build import build_report

        with open(log, "w", encoding="utf-8") as fh:
            def progress(msg: str) -> None:
                fh.write(msg + "\n")
                fh.flush()

            try:
                build_report(job.calls, out=tmp, mapping=job.mapping, ratings=job.ratings,
                             okr=job.okr, roster=job.roster, config=job.config,
                             truth=job.truth, period=job.period, lang=job.lang,
                             pseudonymize=job.pseudonymize, salt_file=job.salt_file,
                             engine=job.engine, seed=job.seed, deck=job.deck,
                             notebooks_dir=job.templates, progress=progress)
            except Exception as exc:
                msg = str(exc) if isinstance(exc, CcpmError) else f"{type(exc).__name__}: {exc}"
                fh.write(f"FAILED: {msg}\n")
                if not isinstance(exc, CcpmError):
                    fh.write(traceback.format_exc())
                failed = out.with_name(out.name + ".failed")
                shutil.rmtree(failed, ignore_errors=True)
                os.replace(tmp, failed)
                status.update(error=" ".join(msg.split())[:500], log=str(failed / "report.log"))
                return status
        _write_json_atomic(tmp / STAMP, {**key, "job": job.name,
                                         "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())})
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(out.with_name(out.name + ".failed"), ignore_errors=True)
        status.update(status="done", log=str(out / "report.log"))
    except Exception as exc:  # a bug or an OS error: still one status line
        status["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    status["seconds"] = round(time.perf_counter() - t0, 2)
    return status


def run_batch(jobs: list[Job], *, workers: int = 2, force: bool = False,
              progress: bool = True) -> pd.DataFrame:
    """Run ``jobs`` in ``workers`` processes; return one row per job.

    Parameters
    ----------
    jobs : list of Job
        From :func:`load_schedule`.
    workers : int
        Parallel worker processes (1: run in this process, in order).
    force : bool
        Rebuild even when a job's stamp says its output is current.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    DataFrame
        ``name, status, out, seconds, error, log`` (status: done, skipped or failed),
        in the order of ``jobs``.
    """
    from tqdm import tqdm

    if force:
        for job in jobs:
            (Path(job.out) / STAMP).unlink(missing_ok=True)
    results: dict[str, dict] = {}
    bar = tqdm(total=len(jobs), desc="reports", unit="report", disable=not progress,
               file=sys.stderr)
    if workers <= 1:
        for job in jobs:
            results[job.name] = run_job(job)
            bar.set_postfix_str(f"{job.name}: {results[job.name]['status']}")
            bar.update()
    else:
        # spawn, not fork: forking a process that runs threads (progress bars, kernels'
        # I/O, test runners) can deadlock the child
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {pool.submit(run_job, job): job for job in jobs}
            for fut in as_completed(futs):
                job = futs[fut]
                try:
                    results[job.name] = fut.result()
                except Exception as exc:  # the worker died
                    results[job.name] = {"name": job.name, "out": job.out, "status": "failed",
                                         "error": f"worker died: {type(exc).__name__}: {exc}",
                                         "log": "", "seconds": 0.0}
                bar.set_postfix_str(f"{job.name}: {results[job.name]['status']}")
                bar.update()
    bar.close()
    cols = ["name", "status", "out", "seconds", "error", "log"]
    return pd.DataFrame([results[j.name] for j in jobs], columns=cols)
