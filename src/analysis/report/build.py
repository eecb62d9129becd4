"""One report run: inputs -> executed notebooks (the record) -> PDF and deck -> manifest.

Output folder layout::

    OUT/report.pdf           the management report
    OUT/report.pptx          headline-findings deck
    OUT/manifest.json        inputs (hashes, rows), parameters, software, outputs (hashes)
    OUT/tables/*.csv         scores, flags, recommendation and what-if behind the report
                             (ids pseudonymized if asked)
    OUT/notebooks/*.ipynb    the executed notebooks: the run's record (manifest in metadata)
    OUT/build/               prepared inputs, results bundle, markdown, Typst source, figures

The results bundle (``OUT/build/results/``) is language-free. A run given earlier outputs
(``reuse``: the previous output of the same folder, another language's report of the same
data) copies their prepared inputs and bundle instead of recomputing them when its key
(:func:`results_key`: the parameters but the language, the inputs' checksums, the code
outside the message catalogs) is the same, so the second language of a report, or a
re-render after a translator edited ``messages/*.yml``, costs the rendering only.

A failing cell stops the run (:class:`analysis.report.execute.CellError`, exit 1);
:func:`build_report` keeps the partial executed notebook in ``OUT/notebooks/``, while
``ccpm report`` writes through :func:`analysis.outdir.staged_output`, so its output folder
is complete or absent.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import TEMPLATES_DIR
from ..escape import safe_csv
from . import i18n
from .engines import RenderMeta, select_engine
from .execute import REPORT_NOTEBOOKS, execute_notebook, run_side_by_side
from .fonts import report_fonts
from .i18n import t
from .inputs import _is_path, file_sha256, prepare_inputs
from .results import results_dir

__all__ = ["build_report", "ReportResult", "report_parameters", "data_label"]


@dataclass
class ReportResult:
    """Paths a run wrote, and how long each step took (``timings``, seconds)."""

    out: Path
    pdf: Path
    deck: Path | None
    manifest: Path
    notebooks: list[Path]
    engine: str
    timings: dict[str, float] = field(default_factory=dict)


def _abs(p) -> str | None:
    return None if p in (None, "") else str(Path(p).expanduser().resolve())


#: files of the package that do not change a result: the message catalogs (prose only)
_PROSE_DIRS = ("messages",)
_KEY_FILE = "key.json"


def _code_digest() -> str:
    """SHA-256 over the analysis package's files, the message catalogs left out."""
    root = Path(__file__).resolve().parents[1]  # src/analysis
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if (not f.is_file() or "__pycache__" in rel.parts or f.suffix == ".pyc"
                or (rel.parts[:1] == ("report",) and rel.parts[1:2] and rel.parts[1] in _PROSE_DIRS)):
            continue
        h.update(str(rel.as_posix()).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def results_key(params: dict, manifest: dict, templates=None) -> str:
    """What the results bundle depends on: the run's parameters but the language and the
    build folder, the inputs' checksums and pseudonymization (with the salt's id, through
    the prepared inputs' fingerprint ``key``: pseudonyms of another salt must not be
    reused), and the code."""
    basis = {
        "params": {k: v for k, v in params.items() if k not in ("lang", "build_dir")},
        "inputs": [[r["kind"], r["sha256"]] for r in manifest.get("inputs", [])],
        "pseudonymized": manifest.get("pseudonymized"),
        "prepared": manifest.get("key"),  # the inputs' fingerprint: salt_id included
        "code": _code_digest(),
        # templates from another folder (--templates) may ask for other results
        "templates": None if templates is None or Path(templates).resolve() == TEMPLATES_DIR.resolve()
        else sorted([f.name, file_sha256(f)] for f in Path(templates).glob("*.ipynb")),
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def _build_dirs(reuse) -> list[Path]:
    """The build folders of the earlier outputs in ``reuse`` (report folders or their
    ``build/``), in order."""
    out = []
    for cand in reuse or ():
        if cand in (None, ""):
            continue
        b = Path(cand).expanduser().resolve()
        out.append(b if b.name == "build" else b / "build")
    return out


def _reusable(builds: list[Path], key: str) -> Path | None:
    """The first of ``builds`` whose results bundle has this ``key``."""
    for b in builds:
        try:
            if json.loads((b / "results" / _KEY_FILE).read_text(encoding="utf-8")).get("key") == key:
                return b
        except (OSError, ValueError, AttributeError):
            continue
    return None


def report_parameters(*, calls, build_dir, mapping=None, ratings=None, okr=None, roster=None,
                      config=None, truth=None, period=None, lang="en", pseudonymize=False,
                      salt_file=None, seed=None, short_call_s=None,
                      power_rounds: int = 0) -> dict:
    """The papermill parameters every template takes (literals; paths absolute)."""
    from ..config import DEFAULT_SEED, DEFAULT_SHORT_CALL_S

    return {
        "calls": _abs(calls), "mapping": _abs(mapping) if _is_path(mapping) else mapping,
        "ratings": _abs(ratings),
        "okr": _abs(okr), "roster": _abs(roster), "config": _abs(config),
        "truth": _abs(truth), "period": period, "lang": lang,
        "pseudonymize": bool(pseudonymize), "salt_file": _abs(salt_file),
        "build_dir": _abs(build_dir), "seed": int(DEFAULT_SEED if seed is None else seed),
        "short_call_s": float(DEFAULT_SHORT_CALL_S if short_call_s is None else short_call_s),
        "power_rounds": int(power_rounds or 0),
    }


def data_label(manifest: dict, lang: str = "en") -> str:
    """The calls input named as a whole: the file, or for several files their folder,
    how many and the first and last name (never just the first file)."""
    files = [r for r in manifest.get("inputs", []) if r["kind"] == "calls"]
    if len(files) == 1:
        return str(files[0]["file"])
    names = sorted(str(r["file"]) for r in files)
    folder = ""
    if not manifest.get("pseudonymized"):
        parents = {Path(r.get("path", "")).parent.name for r in files}
        folder = parents.pop() if len(parents) == 1 else ""
    return t("doc.source.files", lang, folder=folder or t("input.calls", lang), n=len(names))


def _say(progress: Callable[[str], None] | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def build_report(
    calls,
    *,
    out,
    mapping=None,
    ratings=None,
    okr=None,
    roster=None,
    config=None,
    truth=None,
    period: str | None = None,
    lang: str = "en",
    pseudonymize: bool = False,
    salt_file=None,
    engine: str = "auto",
    seed: int | None = None,
    short_call_s: float | None = None,
    power_rounds: int = 0,
    notebooks_dir=None,
    deck: bool = True,
    parallel: bool = True,
    reuse=(),
    progress: Callable[[str], None] | None = lambda m: print(m, file=sys.stderr, flush=True),
) -> ReportResult:
    """Build the management report (PDF), the deck (PPTX) and the run's record into ``out``.

    Parameters
    ----------
    calls, mapping, ratings, okr, roster, config, truth, period, pseudonymize, salt_file
        As for :func:`analysis.report.inputs.prepare_inputs`.
    out : path
        Output folder (created).
    lang : {"en", "zh-CN"}
        Report language (zh-CN needs a CJK font; checked before anything runs).
    short_call_s : float, optional
        Short-call threshold in seconds (talk time) for the panel, the gaming checks and
        the headline numbers (default :data:`analysis.config.DEFAULT_SHORT_CALL_S`).
    power_rounds : int
        Rounds of the gaming section's detection power (:mod:`analysis.detection`; 0: not
        measured).
    engine : {"auto", "builtin", "quarto"}
        Render engine (:data:`analysis.report.engines.ENGINES`).
    notebooks_dir : path, optional
        Folder of the templates (default :data:`analysis.config.TEMPLATES_DIR`,
        ``analysis/report/templates/`` inside the package).
    parallel : bool
        Run independent notebooks side by side (in spawned processes).
    reuse : sequence of paths
        Earlier report folders (or their ``build/``) whose prepared inputs and results
        bundle this run may take instead of recomputing them: used only where their key
        matches this run's (same parameters but the language, same input files, same
        code outside the message catalogs); anything else is recomputed.

    Returns
    -------
    ReportResult

    Raises
    ------
    InputError, ConfigError
        Bad input or setting (before any notebook runs).
    CellError
        A notebook cell failed; the partial notebook is kept.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    i18n.check_lang(lang)
    eng = select_engine(engine)
    report_fonts(lang)  # zh-CN without a CJK font: stop now, with a clear message
    out = Path(out).expanduser().resolve()
    build_dir = out / "build"
    nb_out = out / "notebooks"
    build_dir.mkdir(parents=True, exist_ok=True)
    nb_dir = Path(notebooks_dir) if notebooks_dir else TEMPLATES_DIR
    # the results bundle is shared by the notebooks of one run; a result left by an
    # earlier run may come from other inputs, settings or code: only a bundle of this
    # run's key is taken (below), anything else is cleared
    shutil.rmtree(results_dir(build_dir), ignore_errors=True)
    builds = _build_dirs(reuse)

    _say(progress, "report: preparing inputs")
    inputs = prepare_inputs(calls, build_dir=build_dir, mapping=mapping, ratings=ratings,
                            okr=okr, roster=roster, config=config, truth=truth, period=period,
                            pseudonymize=pseudonymize, salt_file=salt_file,
                            short_call_s=short_call_s, reuse=builds)
    timings["inputs"] = time.perf_counter() - t0
    params = report_parameters(calls=calls, build_dir=build_dir, mapping=mapping,
                               ratings=ratings, okr=okr, roster=roster, config=config,
                               truth=truth, period=period, lang=lang,
                               pseudonymize=pseudonymize, salt_file=salt_file, seed=seed,
                               short_call_s=short_call_s, power_rounds=power_rounds)
    key = results_key(params, inputs.manifest, nb_dir)
    reused_from = _reusable(builds, key)
    if reused_from is not None:
        _say(progress, f"report: reusing the results of {reused_from.parent} (same data, "
                       "settings and code)")
        shutil.rmtree(results_dir(build_dir))
        shutil.copytree(reused_from / "results", build_dir / "results")
    executed: dict[str, Path] = {}
    n_total, done = len(REPORT_NOTEBOOKS["execute"]), 0
    for phase in REPORT_NOTEBOOKS["phases"]:
        names = list(phase)
        _say(progress, f"report: [{done + 1}/{n_total}] executing "
                       + " and ".join(f"{n}.ipynb" for n in names))
        s = time.perf_counter()
        jobs = [(nb_dir / f"{n}.ipynb", nb_out / f"{n}.ipynb", params, lang, build_dir)
                for n in names]
        if parallel and len(jobs) > 1:
            executed.update(zip(names, _execute_parallel(jobs), strict=True))
        else:
            executed.update((n, _execute_one(j)) for n, j in zip(names, jobs, strict=True))
        timings["nb:" + "+".join(names)] = time.perf_counter() - s
        done += len(names)

    (results_dir(build_dir) / _KEY_FILE).write_text(json.dumps({"key": key}),
                                                     encoding="utf-8")
    manifest = {
        "ccpm_report": 1,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parameters": {k: v for k, v in params.items() if k != "build_dir"},
        "engine": eng.name,
        "results_reused": reused_from is not None,
        **{k: inputs.manifest[k] for k in ("inputs", "quarantine", "calls_in_report",
                                            "packages", "git_commit", "anonymous_bank",
                                            "pseudonymized")},
    }
    scrub = None
    if pseudonymize:  # input file names (a per-agent alice.csv) in parameters: F- names
        from ..privacy import Pseudonymizer, resolve_salt

        scrub = Pseudonymizer(resolve_salt(salt_file), keep=())
        scrub.learn_files(calls, ratings, okr, roster, truth)
        manifest["parameters"] = scrub.obj(manifest["parameters"])
    for path in executed.values():  # the record carries its provenance
        nb = nbformat.read(path, as_version=4)
        nb.metadata["ccpm"] = manifest
        if scrub is not None:
            nb = scrub.notebook(nb)
        nbformat.write(nb, path)

    _say(progress, f"report: rendering PDF ({eng.name})")
    s = time.perf_counter()
    source = calls_file = data_label(inputs.manifest, lang)
    if inputs.manifest.get("anonymous_bank"):
        source = t("doc.source.anonymous_bank", lang, file=calls_file)
    today = _dt.date.today().isoformat()
    meta = RenderMeta(
        title=t("doc.title", lang),
        subtitle=t("doc.subtitle", lang),
        date=t("doc.generated", lang, date=today),
        source=t("doc.source", lang, source=source),
        period=t("doc.period", lang, period=period or t("doc.all_periods", lang)),
        marking=t("doc.confidential" if pseudonymize else "doc.not_pseudonymized", lang),
        lang=lang,
        page_label=t("doc.page", lang),
    )
    pdf = eng.render([executed[n] for n in REPORT_NOTEBOOKS["render"]], out / "report.pdf",
                     meta=meta, build_dir=build_dir)
    timings["render"] = time.perf_counter() - s

    deck_path = None
    if deck:
        _say(progress, "report: writing slide deck")
        from .deck import build_deck

        s = time.perf_counter()
        deck_path = build_deck(build_dir, out / "report.pptx", lang=lang,
                               subtitle=f"{meta.period} · {meta.source} · {today}",
                               manifest=manifest)
        timings["deck"] = time.perf_counter() - s

    tables = _export_tables(build_dir, out / "tables")
    outputs = [pdf] + ([deck_path] if deck_path else []) + tables
    manifest["outputs"] = [{"file": str(p.relative_to(out)), "sha256": file_sha256(p)}
                           for p in outputs]
    manifest["notebooks"] = [str(p.relative_to(out)) for p in executed.values()]
    timings["total"] = time.perf_counter() - t0
    manifest["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    mpath = out / "manifest.json"
    tmp = mpath.with_name("manifest.json.part")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str),
                   encoding="utf-8")
    os.replace(tmp, mpath)
    _say(progress, f"report: done in {timings['total']:.1f} s")
    return ReportResult(out=out, pdf=pdf, deck=deck_path, manifest=mpath,
                        notebooks=list(executed.values()), engine=eng.name, timings=timings)


def _execute_one(job: tuple) -> Path:
    template, output, params, lang, cwd = job
    return execute_notebook(template, output, params, lang=lang, cwd=cwd)


def _execute_parallel(jobs: list[tuple]) -> list[Path]:
    """Run independent notebooks side by side, each in a spawned process (its kernel is
    its own); the first failure (in template order) is raised after all have finished;
    Ctrl-C stops the workers and their kernels (:func:`~.execute.run_side_by_side`)."""
    return run_side_by_side(_execute_one, jobs)


#: bundle table -> exported CSV: ``(analysis folder, table, CSV name)``
EXPORTS = (("compare", "scores", "scores"), ("compare", "agreement", "agreement"),
           ("recommend", "ranking", "recommendation"),
           ("recommend", "pairwise", "recommendation_pairwise"),
           ("whatif", "models", "whatif"), ("whatif", "removed", "whatif_removed"),
           ("gaming", "flags", "flags"), ("gaming", "changepoints", "changepoints"))


def _export_tables(build_dir: Path, dest: Path) -> list[Path]:
    """Scores, agreement, recommendation, what-if and flags from the results bundle as CSV
    (customer ids never included)."""
    import pandas as pd

    written = []
    for sub, table, name in EXPORTS:
        src = results_dir(build_dir) / sub / f"{table}.parquet"
        if not src.is_file():
            continue
        df = pd.read_parquet(src)
        df = df.drop(columns=[c for c in df.columns if "customer" in str(c)])
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"{name}.csv"
        safe_csv(df, path, index=False)
        written.append(path)
    return written
