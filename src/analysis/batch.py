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
beside its output (``.<out>.tmp-<host>-<pid>``) and renamed into place only when complete,
with a stamp file (``.ccpm-stamp.json``: input hashes, parameters, template hashes, and
the size of every output file) written last, after every output file has been flushed to
disk (fsync). A re-run skips a job whose stamp matches and whose files are all there at
their stamped sizes. An interrupted job -- a killed worker, a full disk, an input that
cannot be read -- leaves no stamp, so the re-run builds it again: a failed one keeps its
partial output in ``<out>.failed/`` with ``report.log``; the temporary folders of a killed
one are removed by the next run (those of processes no longer alive on this host). Each
job runs in its own worker process, so a worker killed from outside (out of memory, a
signal) fails its job only; the others go on. :func:`run_batch` reports every job's
status.

The jobs of one analysis (a center and period in several languages, :func:`plan_reuse`)
are computed once: the later ones start when the first has ended and render from its
language-free results (and each job may reuse its own previous output's), where the
report's key says they match.

Test-only hooks (environment variables, read by the worker; see
``tests/test_batch_faults.py``): ``CCPM_BATCH_TEST_BUILDER=module:function`` replaces
:func:`analysis.report.build_report` by a cheap stand-in with the same signature, and
``CCPM_BATCH_TEST_KILL=<job name>:<stage>`` makes the worker kill itself (SIGKILL) at a
stage of the job's commit (:data:`_STAGES`), to prove that no stage leaves an output a
re-run would take as done. Neither is meant for use outside tests.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import yaml

from . import __version__
from ._yamltext import yaml_text
from .config import TEMPLATES_DIR
from .errors import CcpmError, ConfigError
from .outdir import (
    _HOST,  # noqa: F401  (tests and older callers import it from here)
    MARKER,
    OutputError,
    _alive,  # noqa: F401
    check_inputs_outside,
    check_output_path,
    clean_stale,
    fsync_path,
    scratch_path,
    sync_tree,
    write_marker,
)

__all__ = ["Job", "load_schedule", "job_key", "is_current", "run_job", "run_batch", "STAMP",
           "JOB_KEYS", "clean_stale", "plan_reuse"]

STAMP = ".ccpm-stamp.json"
_PATH_KEYS = ("calls", "mapping", "ratings", "okr", "roster", "config", "truth", "salt_file",
              "templates")
#: Settings a job (or ``defaults``, or a center) may carry.
JOB_KEYS = (*_PATH_KEYS, "period", "lang", "pseudonymize", "engine", "seed", "deck", "out",
            "name", "power")


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
    #: rounds of the gaming section's detection power (``ccpm report --power``; 0: none)
    power: int = 0
    extra: dict = field(default_factory=dict)
    #: earlier outputs of the same analysis (another language's job): their results are
    #: reused where they match (:func:`analysis.report.build_report`'s ``reuse``); set by
    #: :func:`run_batch`, not a schedule key, and not part of the job's key
    reuse_from: tuple[str, ...] = ()


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
        doc = yaml.safe_load(yaml_text(path, f"schedule {path.name}")) or {}
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
        _check_job(path, kw)
        jobs.append(Job(**kw))
    _check_outputs(path, jobs)
    return jobs


def _check_job(path: Path, kw: dict) -> None:
    """Refuse (one line) a job the schedule itself makes impossible, as unknown keys are: an
    unknown language, a period that is no year, month or day (``--dry-run`` listed them
    "to build"). A missing calls file is the run's business: that job fails, the others
    run."""
    from .report.i18n import check_lang
    from .report.inputs import check_span

    try:
        check_lang(kw.get("lang", "en"))
        check_span(kw.get("period"))
        power = kw.get("power", 0)
        if isinstance(power, bool) or not isinstance(power, int) or power < 0:
            raise ConfigError(f"power must be a whole number of rounds (0: none), got {power!r}")
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: job {kw['name']!r}: {exc}") from None


def _check_outputs(path: Path, jobs: list[Job]) -> None:
    """Refuse (one line) a job whose ``out`` could delete what ccpm did not write: the
    current folder or above, a folder holding files without ccpm's marker, or a folder
    holding another job's output (:func:`analysis.outdir.check_output_path`)."""
    outs = {Path(os.path.abspath(j.out)): j for j in jobs}
    for out, job in outs.items():
        try:
            check_output_path(out)
            check_inputs_outside(out, {k: getattr(job, k) for k in (
                "calls", "mapping", "ratings", "okr", "roster", "config", "truth",
                "salt_file", "templates")})
        except OutputError as exc:
            raise ConfigError(f"{path.name}: job {job.name!r}: {exc}") from None
        for other, ojob in outs.items():
            if other != out and out in other.parents:
                raise ConfigError(f"{path.name}: job {job.name!r}: its output folder {out} "
                                  f"holds the output of job {ojob.name!r}; give each job a "
                                  "folder of its own")


def _files(p: str) -> list[Path]:
    path = Path(p)
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    return [path] if path.is_file() else []


def _job_pseudonymizer(job: Job):
    """The pseudonymizer a pseudonymized job would use, or the reason there is none."""
    from .privacy import Pseudonymizer, resolve_salt

    try:
        # not created here (a dry run makes no salt): the job generates it, the next
        # run's key then holds its fingerprint
        return Pseudonymizer(resolve_salt(job.salt_file, create=False), keep=())
    except CcpmError as exc:  # no salt yet, or one the job itself will refuse
        return f"unusable: {exc}"


def job_key(job: Job) -> dict:
    """What a job's output depends on: input hashes, parameters (with the salt's
    fingerprint when pseudonymized), templates, version.

    A pseudonymized job names its input files by their pseudonyms (the stamp is written
    into the output folder: a per-agent ``alice.csv`` must not appear there)."""
    from .report.inputs import file_sha256

    pz = _job_pseudonymizer(job) if job.pseudonymize else None
    hidden = pz if pz is not None and not isinstance(pz, str) else None

    def name(f: Path) -> str:
        return str(f) if hidden is None else hidden.pseudonym(str(f), "F-", learn=False)

    inputs = {}
    for k in _PATH_KEYS:
        v = getattr(job, k)
        if v in (None, "") or k in ("salt_file", "templates"):
            continue
        files = _files(v)
        inputs[k] = ({name(f): file_sha256(f) for f in files} if files
                     else name(Path(str(v))))
    params = {k: v for k, v in asdict(job).items()
              if k not in _PATH_KEYS and k not in ("name", "out", "extra", "reuse_from")}
    if pz is not None:  # a new salt gives new pseudonyms: the job is rebuilt
        params["salt_id"] = pz if hidden is None else hidden.salt_id
    tdir = Path(job.templates) if job.templates else TEMPLATES_DIR
    templates = {p.name: file_sha256(p) for p in sorted(tdir.glob("*.ipynb"))}
    body = {"inputs": inputs, "params": params, "templates": templates, "ccpm": __version__}
    body["key"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


def is_current(job: Job, key: dict | None = None) -> bool:
    """True when ``job.out`` holds a complete output built from the same key: its stamp
    matches and every file the stamp lists is there, at its stamped size."""
    out = Path(job.out)
    stamp = out / STAMP
    if not stamp.is_file():
        return False
    key = key or job_key(job)
    try:
        body = json.loads(stamp.read_text(encoding="utf-8"))
        if body.get("key") != key["key"]:
            return False
        for rel, size in (body.get("files") or {}).items():
            if (out / rel).stat().st_size != size:
                return False
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    return True


#: The commit of a built job, in order; ``CCPM_BATCH_TEST_KILL`` may stop a worker at each.
_STAGES = ("built", "stamped", "swapped", "renamed")


def _test_kill(job: Job, stage: str) -> None:
    """Test-only: SIGKILL this process at ``stage`` of ``job`` (``CCPM_BATCH_TEST_KILL``)."""
    if os.environ.get("CCPM_BATCH_TEST_KILL") == f"{job.name}:{stage}":
        os.kill(os.getpid(), signal.SIGKILL)


def _builder():
    """:func:`analysis.report.build_report`, or the test-only stand-in named by
    ``CCPM_BATCH_TEST_BUILDER`` (``module:function``)."""
    spec = os.environ.get("CCPM_BATCH_TEST_BUILDER")
    if spec:
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)
    from .report.build import build_report

    return build_report


# the temporary folders, the marker and the flushing are those of every command
# (analysis.outdir); the names stay importable from here
_scratch = scratch_path
_fsync = fsync_path
_sync_tree = sync_tree


def _write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


def _describe(exc: BaseException) -> str:
    """One line for an exception; a full disk says so and what to do."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return (f"no space left on the device{where} ({exc.strerror or 'ENOSPC'}): "
                "free some space and run the batch again")
    if isinstance(exc, CcpmError):
        return " ".join(str(exc).split())
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def run_job(job: Job) -> dict:
    """Build one job's report (in a worker process). Never raises: returns a status dict
    ``name, status (done|skipped|failed), out, seconds, error, log``.

    The output appears at ``job.out`` only complete, stamped and on disk; whatever stops
    the job before (an exception, a full disk, ``KeyboardInterrupt``, SIGKILL) leaves no
    stamp there, so a re-run builds the job again.
    """
    t0 = time.perf_counter()
    out = Path(job.out)
    status = {"name": job.name, "out": str(out), "status": "failed", "error": "", "log": "",
              "seconds": 0.0}
    tmp = old = None
    try:
        clean_stale(out)
        key = job_key(job)
        failed = out.with_name(out.name + ".failed")
        if is_current(job, key):
            _remove_failed(failed)  # left by a run killed after its rename
            status.update(status="skipped", seconds=round(time.perf_counter() - t0, 2))
            return status
        check_output_path(out)  # never replace a folder ccpm did not write
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = _scratch(out, "tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_marker(tmp)
        error = _build(job, tmp)
        if error:
            _remove_failed(failed)
            os.replace(tmp, failed)
            tmp = None
            status.update(error=error[:500], log=str(failed / "report.log"))
            return status
        _test_kill(job, "built")
        write_marker(tmp, [f.relative_to(tmp).as_posix() for f in tmp.rglob("*")
                           if f.is_file() or f.is_symlink()])
        files = _sync_tree(tmp)
        _write_json_atomic(tmp / STAMP, {**key, "job": job.name, "files": files,
                                         "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())})
        _test_kill(job, "stamped")
        check_output_path(out)  # again: the folder may have changed during the build
        if out.exists():
            old = _scratch(out, "old")
            os.replace(out, old)
        _test_kill(job, "swapped")
        os.replace(tmp, out)
        tmp = None
        _fsync(out.parent)
        _test_kill(job, "renamed")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            old = None
        _remove_failed(failed)
        status.update(status="done", log=str(out / "report.log"))
    except Exception as exc:  # an OS error (full disk, ...) or a bug: still one status line
        status["error"] = _describe(exc)[:500]
    finally:
        if old is not None and not out.exists():  # the swap did not finish: put it back
            try:
                os.replace(old, out)
            except OSError:
                pass
        if tmp is not None:  # never renamed into place: nothing of it is kept
            shutil.rmtree(tmp, ignore_errors=True)
    status["seconds"] = round(time.perf_counter() - t0, 2)
    return status


def _remove_failed(failed: Path) -> None:
    """Remove ``<out>.failed`` of an earlier run, only if ccpm wrote it (its marker)."""
    if failed.is_dir() and not failed.is_symlink() and (failed / MARKER).is_file():
        shutil.rmtree(failed, ignore_errors=True)


def _build(job: Job, tmp: Path) -> str:
    """Run the report into ``tmp`` with its log; return the error ('' when it worked)."""
    log = tmp / "report.log"
    fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed below, even on a full disk

    def write(text: str) -> None:
        try:
            fh.write(text)
            fh.flush()
        except OSError:  # a full disk must not hide the job's own error
            pass

    try:
        _builder()(job.calls, out=tmp, mapping=job.mapping, ratings=job.ratings,
                   okr=job.okr, roster=job.roster, config=job.config, truth=job.truth,
                   period=job.period, lang=job.lang, pseudonymize=job.pseudonymize,
                   salt_file=job.salt_file, engine=job.engine, seed=job.seed,
                   deck=job.deck, notebooks_dir=job.templates,
                   power_rounds=int(job.power or 0), reuse=list(job.reuse_from),
                   progress=lambda msg: write(msg + "\n"))
    except Exception as exc:
        msg = _describe(exc)
        write(f"FAILED: {msg}\n")
        if not isinstance(exc, CcpmError):
            write(traceback.format_exc())
        return msg
    finally:
        try:
            fh.close()
        except OSError:
            pass
    return ""


def _interrupt(signum, _frame):
    """Signal handler: end the run as Ctrl-C does (``finally`` blocks clean up)."""
    raise KeyboardInterrupt(f"signal {signum}")


def _worker(job: Job, conn, parent: int | None = None) -> None:
    """Entry of a job's worker process: run it, send back its status.

    SIGTERM ends it like Ctrl-C (a render engine it runs is killed by ``subprocess.run``,
    notebook kernels are shut down, its temporary folder is removed on the way out), and
    on Linux it is killed when the batch dies, even by SIGKILL (``PR_SET_PDEATHSIG``).
    """
    from ._parent import die_with_parent

    die_with_parent(parent)  # exits if the batch (pid ``parent``) is already gone
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        res = run_job(job)
    except KeyboardInterrupt:
        res = {"name": job.name, "out": job.out, "status": "failed", "error": "interrupted",
               "log": "", "seconds": 0.0}
    with contextlib.suppress(OSError, ValueError):
        conn.send(res)
        conn.close()


#: Seconds the workers have to clean up after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0


def _stop_workers(procs: list) -> None:
    """End running workers: SIGTERM (each cleans up as on Ctrl-C), up to
    :data:`STOP_GRACE_S` to do so, then SIGKILL."""
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.exitcode is None:
            with contextlib.suppress(OSError):
                proc.kill()
        proc.join()


def _stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker (a helper process the spawned workers
    share); it would otherwise outlive an interrupted batch while anything holds its pipe."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()


def _died(job: Job, exitcode: int | None) -> dict:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
        if exitcode == -signal.SIGKILL:
            how += " (out of memory, or killed from outside?)"
    else:
        how = f"exited with code {exitcode}"
    return {"name": job.name, "out": job.out, "status": "failed", "log": "", "seconds": 0.0,
            "error": f"worker died: {how}; its partial output was removed, run the batch "
                     "again to rebuild it"}


#: job settings that do not change the analysis, only how it is shown
_PRESENTATION_KEYS = ("name", "out", "lang", "engine", "deck", "extra", "reuse_from")


def plan_reuse(jobs: list[Job], *, previous: bool = True) -> list[Job]:
    """The jobs with ``reuse_from`` set: each job's previous output (unless ``previous``
    is false: ``--force``), and for the jobs of one analysis (the same inputs and
    settings in other languages or renderings) the first such job's output, whose results
    they take instead of recomputing them where the keys match. Order is kept;
    :func:`_run_parallel` starts a job only after the job it reuses has ended."""
    first: dict[str, Job] = {}
    out = []
    for job in jobs:
        ident = json.dumps({k: v for k, v in asdict(job).items()
                            if k not in _PRESENTATION_KEYS}, sort_keys=True, default=str)
        src = first.setdefault(ident, job)
        reuse = ((job.out,) if previous else ()) + (() if src is job else (src.out,))
        out.append(replace(job, reuse_from=reuse))
    return out


def _run_parallel(jobs: list[Job], workers: int, done) -> None:
    """Each job in its own spawned process, ``workers`` at a time; ``done(job, status)``
    as each ends. A worker that dies (killed, out of memory) fails its job only."""
    # spawn, not fork: forking a process that runs threads (progress bars, kernels'
    # I/O, test runners) can deadlock the child
    ctx = multiprocessing.get_context("spawn")
    pending = list(jobs)
    running: dict[int, tuple] = {}
    by_out = {j.out: j.name for j in jobs}

    def ready() -> int | None:
        """The first pending job whose reused job has ended (or any, if nothing runs)."""
        busy = {j.name for j in pending} | {job.name for _p, _r, job in running.values()}
        for i, j in enumerate(pending):
            if not any(by_out.get(src) in busy - {j.name} for src in j.reuse_from):
                return i
        return 0 if not running else None

    try:
        while pending or running:
            while pending and len(running) < workers and (i := ready()) is not None:
                job = pending.pop(i)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(job, send, os.getpid()),
                                   name=f"ccpm-batch:{job.name}")
                proc.start()
                send.close()
                running[proc.sentinel] = (proc, recv, job)
            for sentinel in multiprocessing.connection.wait(list(running)):
                proc, recv, job = running.pop(sentinel)
                res = None
                try:
                    if recv.poll():
                        res = recv.recv()
                except (EOFError, OSError):
                    pass
                recv.close()
                proc.join()
                if res is None:
                    res = _died(job, proc.exitcode)
                    # what the dead worker was building: never taken as done, but not
                    # left lying around either
                    clean_stale(job.out)
                done(job, res)
    finally:
        # interrupted (Ctrl-C, SIGTERM) or failed: end what still runs, with its children
        _stop_workers([proc for proc, _recv, _job in running.values()])
        for _proc, recv, _ in running.values():
            recv.close()
        for job in (j for _p, _r, j in running.values()):
            clean_stale(job.out)
        _stop_resource_tracker()


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
    jobs = plan_reuse(jobs, previous=not force)
    results: dict[str, dict] = {}
    bar = tqdm(total=len(jobs), desc="reports", unit="report", disable=not progress,
               file=sys.stderr)

    def done(job: Job, res: dict) -> None:
        results[job.name] = res
        bar.set_postfix_str(f"{job.name}: {res['status']}")
        bar.update()

    # SIGTERM (a scheduler stopping the batch) ends it like Ctrl-C: workers stopped,
    # temporary folders removed
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        if workers <= 1:
            for job in jobs:
                done(job, run_job(job))
        else:
            _run_parallel(jobs, workers, done)
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        bar.close()
    cols = ["name", "status", "out", "seconds", "error", "log"]
    return pd.DataFrame([results[j.name] for j in jobs], columns=cols)
