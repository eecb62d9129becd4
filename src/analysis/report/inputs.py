"""A report's inputs, prepared once: loaded, checked, filtered, pseudonymized, recorded.

:func:`prepare_inputs` loads the call records through :mod:`analysis.load` (rows that
break the contract are quarantined and counted), keeps the report period, replaces
agent and customer ids by salted pseudonyms when asked, and writes the result to
``<build_dir>/inputs/``: ``calls.parquet`` (valid rows), ``quarantine.csv`` (counts by
reason only: quarantined rows are never copied, they may hold raw ids), the optional
tables and ``inputs.json`` (the manifest: file names, SHA-256 hashes, row counts,
package versions). Every notebook of a run calls it with the same arguments and reuses
the prepared files, so the data is read once and all sections see the same rows.

The heavy work (period filter, pseudonym join, Parquet write) runs in DuckDB.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from .. import __version__
from .._paths import glob_files, is_pattern
from .._yamltext import yaml_text
from ..config import DEFAULT_SHORT_CALL_S, REPO_ROOT
from ..errors import ConfigError, InputError
from ..escape import safe_csv, sql_quote_path

__all__ = [
    "ReportInputs",
    "prepare_inputs",
    "file_sha256",
    "package_versions",
    "is_anonymous_bank",
    "input_groups",
    "MANIFEST_VERSION",
]

#: Version of the cached inputs' record (part of their key): 2 added the calls mapping's
#: own quarantine reasons (``mapping_reasons``), so older caches are rebuilt.
MANIFEST_VERSION = 2
_PACKAGES = (
    "ccpm", "pandas", "numpy", "scipy", "statsmodels", "pingouin", "duckdb", "pyarrow",
    "matplotlib", "seaborn", "papermill", "nbformat", "pypandoc-binary", "typst",
    "python-pptx", "ruptures",
)
_PERIOD_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_ID_COLS = {
    "calls": ("agent_id", "customer_id"),
    "ratings": ("ratee_id", "rater_id"),
    "roster": ("agent_id", "supervisor_id"),
    "truth": ("agent_id",),
}


@dataclass
class ReportInputs:
    """What every report section reads.

    Attributes
    ----------
    calls_path : Path
        Parquet of the valid call records (period-filtered, pseudonymized if asked);
        hand it to :func:`analysis.panel.build_panel` or query it with DuckDB.
    quarantine : DataFrame
        ``reason, rows``: rows set aside by the loader, by reason.
    ratings, roster, truth : DataFrame or None
        Optional tables (ids pseudonymized like the calls).
    okr : dict or None
        OKR definitions (YAML).
    config_path : Path or None
        Model configuration (YAML) for :func:`analysis.models.config.load_model_config`.
    manifest : dict
        Provenance: ``inputs`` (kind, file, sha256, bytes, rows_read, valid,
        quarantined), ``quarantine``, ``packages``, ``period``, ``pseudonymized``,
        ``anonymous_bank``, ``created_utc``, ``git_commit``.
    build_dir : Path or None
        The run's build folder (its results bundle is ``<build_dir>/results/``).
    """

    calls_path: Path
    quarantine: pd.DataFrame
    manifest: dict
    ratings: pd.DataFrame | None = None
    roster: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    okr: dict | None = None
    config_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    short_call_s: float = DEFAULT_SHORT_CALL_S  # the run's short-call threshold (seconds)
    build_dir: Path | None = None
    power_rounds: int = 0  # rounds of the gaming section's detection power (0: none)

    @property
    def pseudonymized(self) -> bool:
        return bool(self.manifest.get("pseudonymized"))

    @property
    def period(self) -> str | None:
        return self.manifest.get("period")

    def calls(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The valid calls as a DataFrame (``customer_id`` is never among the defaults)."""
        con = duckdb.connect()
        try:
            have = [r[0] for r in con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?)", [str(self.calls_path)]).fetchall()]
            cols = columns or [c for c in have if c != "customer_id"]
            sel = ", ".join(f'"{c}"' for c in cols)
            return con.execute(
                f"SELECT {sel} FROM read_parquet(?)", [str(self.calls_path)]).fetchdf()
        finally:
            con.close()


from ..manifest import file_sha256  # noqa: E402  (one implementation, shared with the CLI)

#: what a folder of exports holds that the loader reads (documentation, checksums and
#: notes beside the data are not inputs)
_DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".bz2", ".xz", ".zst", ".zip", ".parquet",
                  ".xlsx", ".xls", ".json", ".jsonl")


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                      and p.name.lower().endswith(_DATA_SUFFIXES))
    if is_pattern(path):
        return glob_files(path)
    return [path]


def package_versions() -> dict[str, str]:
    """Versions of Python, pandoc and the packages a report depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import pypandoc

        out["pandoc"] = pypandoc.get_pandoc_version()
    except (ImportError, OSError, RuntimeError):
        pass
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None


def is_anonymous_bank(*paths: str | os.PathLike | None) -> bool:
    """True when an input path or mapping name says the data is the Anonymous Bank data."""
    for p in paths:
        if p and re.search(r"anonymous[_\-\s]?bank", str(p), re.IGNORECASE):
            return True
    return False


def input_groups(manifest: dict) -> list[tuple[str, list[dict]]]:
    """The manifest's input records grouped by kind, in order of first appearance.

    The loader counts rows for the whole input (a folder of nine monthly files is one
    load), and the manifest keeps those counts on the kind's first record: a group of
    several files must show them as the group's total, not as the first file's."""
    groups: dict[str, list[dict]] = {}
    for r in manifest.get("inputs", []):
        groups.setdefault(r["kind"], []).append(r)
    return list(groups.items())


def _declared_reasons(mapping) -> list[str]:
    """The quarantine reasons the calls mapping sets by design (sorted; none for the
    contract itself, or without the loader, as in :func:`_load_calls`)."""
    try:
        from ..load import resolve_mapping
    except ImportError:
        return []
    return sorted(resolve_mapping(mapping).declared_reasons)


def _load_calls(path: Path, mapping):
    """``(valid DataFrame, quarantine counts, rows_read, notes)`` via :mod:`analysis.load`."""
    try:
        from ..load import load_calls
    except ImportError:
        load_calls = None
    if load_calls is None:
        if path.suffix.lower() != ".parquet":
            raise InputError(f"{path}: the loader (analysis.load) is not installed yet; "
                             "only contract-shaped Parquet can be read")
        df = pd.read_parquet(path)
        return df, pd.DataFrame({"reason": [], "rows": []}), len(df), [
            "analysis.load not available: calls read as contract-shaped Parquet "
            "without contract checks"]
    res = load_calls(path, mapping=mapping) if mapping else load_calls(path)
    valid = res.valid
    if not isinstance(valid, pd.DataFrame):  # a path to valid.parquet
        valid = pd.read_parquet(valid)
    q = getattr(res, "quarantine", None)
    if isinstance(q, pd.DataFrame) and len(q):
        rcol = "reason" if "reason" in q.columns else q.columns[-1]
        qc = q.groupby(rcol, dropna=False).size().rename("rows").reset_index()
        qc = qc.rename(columns={rcol: "reason"}).sort_values("rows", ascending=False)
    else:
        qc = pd.DataFrame({"reason": pd.Series([], dtype="str"), "rows": pd.Series([], dtype="int64")})
    rows_read = int(getattr(res, "rows_read", len(valid) + int(qc["rows"].sum())))
    return valid, qc.reset_index(drop=True), rows_read, []


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{kind} {path}: cannot read: {exc}".splitlines()[0]) from None


def _load_optional(kind: str, path: Path) -> pd.DataFrame:
    if kind == "ratings":
        try:
            from ..load import load_ratings
        except ImportError:
            load_ratings = None
        if load_ratings is not None:
            res = load_ratings(path)
            return res.valid if hasattr(res, "valid") else res
    if kind == "roster":
        try:
            from ..load import load_roster
        except ImportError:
            load_roster = None
        if load_roster is not None:
            res = load_roster(path)
            return res.valid if hasattr(res, "valid") else res
    return _read_table(path, kind)


def check_span(period) -> None:
    """Refuse a span that is not a year, a month or a day that exists (``2026-13`` said
    "no valid calls in period 2026-13" after the calls were loaded)."""
    if period is None:
        return
    text = str(period)
    if not _PERIOD_RE.match(text):
        raise ConfigError(f"period {period!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    parts = [int(x) for x in text.split("-")]
    if len(parts) >= 2 and not 1 <= parts[1] <= 12:
        raise ConfigError(f"period {text}: invalid month {text[5:7]} (01-12)")
    if len(parts) == 3:
        try:
            _dt.date(*parts)
        except ValueError:
            raise ConfigError(f"period {text}: invalid date (no such day)") from None


def _check_file(path: str | os.PathLike | None, kind: str) -> Path | None:
    if path in (None, ""):
        return None
    p = Path(path).expanduser()
    if p.is_dir() and kind in ("mapping", "okr", "config"):  # one YAML file each
        raise InputError(f"{kind} {p} is a folder, not a YAML file")
    if p.is_dir() and not _files_of(p):  # the words the other commands use
        raise InputError(f"{p}: folder holds no table files "
                         f"({', '.join(sorted(set(_DATA_SUFFIXES)))})")
    if is_pattern(p) and not p.exists() and not _files_of(p):
        raise InputError(f"{p}: no file matches")
    if not _files_of(p) or not all(f.exists() for f in _files_of(p)):
        raise InputError(f"{kind} file not found: {p}")
    return p


def _is_path(value) -> bool:
    """A mapping given as a file (else it is a built-in mapping name, or None)."""
    if value in (None, ""):
        return False
    s = str(value)
    return Path(s).expanduser().exists() or s.endswith((".yml", ".yaml")) or os.sep in s


def _fingerprint(paths: dict[str, Path | None], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for kind in sorted(paths):
        p = paths[kind]
        if p is None:
            continue
        for f in _files_of(p):
            st = f.stat()
            h.update(f"{kind}|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _pseudo_map(values: pd.Series, pz, prefix: str) -> pd.DataFrame:
    u = pd.Series(pd.unique(values.dropna().astype(str)), dtype="str")
    return pd.DataFrame({"raw": u, "pseudo": [pz.pseudonym(v, prefix) for v in u]})


def _pseudonymizer(salt: bytes, paths: dict):
    """The report's pseudonymizer: no sentinel word is kept, and inputs already
    pseudonymized with this salt (``validate --pseudonymize``) pass through; another
    salt is refused (see docs/privacy.md)."""
    from ..privacy import Pseudonymizer, input_salt_ids

    pz = Pseudonymizer(salt, keep=())
    for kind in ("calls", "ratings", "roster"):
        seen = input_salt_ids(paths[kind]) if paths[kind] is not None else set()
        if seen - {pz.salt_id}:
            raise ConfigError(f"{kind} {paths[kind].name} was pseudonymized with another "
                              f"salt (salt_id {sorted(seen - {pz.salt_id})[0]}, this "
                              f"run's {pz.salt_id}): give the salt that wrote it")
        pz.passthrough = pz.passthrough or bool(seen)
    return pz


def _private_tmp(path: Path) -> Path:
    """A temporary name beside ``path`` of this process and thread's own: two processes
    preparing one build folder at once (a report's notebooks run in parallel) collided on
    a shared ``.tmp`` (DuckDB: "Could not set lock on file"); each writes its own and
    replaces ``path`` atomically."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


def _write_calls(valid: pd.DataFrame, out: Path, *, period: str | None,
                 pz=None) -> int:
    """Filter to ``period``, pseudonymize ids (``pz``, a Pseudonymizer), write Parquet;
    return the row count."""
    from ..privacy import ID_PREFIXES

    con = duckdb.connect()
    try:
        with contextlib.suppress(duckdb.Error):
            con.execute("SET enable_progress_bar = false")
        con.register("valid_df", valid)
        where = ""
        if period:
            n = len(period)
            where = f"WHERE strftime(arrival_ts, '%Y-%m-%d')[1:{n}] = '{period}'"
        select = "SELECT v.* FROM valid_df v"
        if pz is not None:
            reps, joins = [], []
            for i, col in enumerate(("agent_id", "customer_id")):
                if col not in valid.columns:
                    continue
                con.register(f"m{i}", _pseudo_map(valid[col], pz, ID_PREFIXES[col]))
                joins.append(f"LEFT JOIN m{i} ON CAST(v.{col} AS VARCHAR) = m{i}.raw")
                reps.append(f"m{i}.pseudo AS {col}")
            for col in ("queue", "call_id"):
                # a queue named after an agent (a personal queue, "queue of Dana Cohen")
                # names that agent in every table and sentence about queues, and a call id
                # may hold the agent's id (CALLID_Dana_Cohen_8855_0): the agent ids just
                # learned are replaced inside them too (validate does both, gaming queues)
                if col not in valid.columns:
                    continue
                u = pd.Series(valid[col].dropna().astype(str).unique())
                qmap = pd.DataFrame({"raw": u, "pseudo": [pz.text(q) for q in u]})
                qmap = qmap[qmap["raw"] != qmap["pseudo"]]
                if len(qmap):
                    con.register(f"m_{col}", qmap)
                    joins.append(f"LEFT JOIN m_{col} ON CAST(v.{col} AS VARCHAR) = m_{col}.raw")
                    reps.append(f"coalesce(m_{col}.pseudo, v.{col}) AS {col}")
            if reps:
                select = (f"SELECT v.* REPLACE ({', '.join(reps)}) FROM valid_df v "
                          + " ".join(joins))
        con.execute(f"CREATE VIEW prepared AS {select} {where.replace('arrival_ts', 'v.arrival_ts')}")
        tmp = _private_tmp(out)
        try:
            con.execute("COPY (SELECT * FROM prepared ORDER BY arrival_ts) "
                        f"TO {sql_quote_path(tmp)} (FORMAT parquet)")
            n = con.execute("SELECT count(*) FROM read_parquet(?)", [str(tmp)]).fetchone()[0]
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)  # gone after the replace; a failed write's part
        return int(n)
    finally:
        con.close()


def prepare_inputs(
    calls: str | os.PathLike,
    *,
    build_dir: str | os.PathLike,
    mapping: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    okr: str | os.PathLike | None = None,
    roster: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
    truth: str | os.PathLike | None = None,
    period: str | None = None,
    pseudonymize: bool = False,
    salt_file: str | os.PathLike | None = None,
    short_call_s: float | None = None,
    reuse: Sequence[str | os.PathLike] = (),
    power_rounds: int = 0,
) -> ReportInputs:
    """Load, check, filter and (optionally) pseudonymize a report's inputs; cache them.

    Parameters
    ----------
    calls : path
        Call records in any format :func:`analysis.load.load_calls` reads (with
        ``mapping``), or contract-shaped Parquet.
    build_dir : path
        The run's build folder; prepared files go to ``<build_dir>/inputs/``. A second
        call with the same arguments and unchanged files reuses them.
    ratings, okr, roster, config, truth : path, optional
        360 ratings, OKR definitions (YAML), roster, model configuration (YAML) and the
        planted truth of synthetic data.
    period : str, optional
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``: keep calls that arrived then.
    pseudonymize : bool
        Replace agent, rater, supervisor and customer ids by salted pseudonyms
        (:mod:`analysis.privacy`).
    salt_file : path, optional
        Where the salt is kept (see :func:`analysis.privacy.resolve_salt`).
    short_call_s : float, optional
        A handled call shorter than this (talk time, seconds) is "short" in the panel, the
        gaming checks and the headline numbers (default
        :data:`analysis.config.DEFAULT_SHORT_CALL_S`).
    reuse : sequence of paths
        Other build folders: the first whose prepared inputs were prepared from the same
        files with the same arguments is copied (whole); the others are ignored.
    power_rounds : int
        Rounds of detection power for the gaming section (:mod:`analysis.detection`;
        0: none). Like ``short_call_s`` a setting of the run, not of the prepared files.

    Returns
    -------
    ReportInputs

    Raises
    ------
    InputError
        A file is missing or unreadable, or no call is left after the period filter.
    """
    check_span(period)
    paths = {
        "calls": _check_file(calls, "calls"),
        "mapping": _check_file(mapping, "mapping") if _is_path(mapping) else None,
        "ratings": _check_file(ratings, "ratings"),
        "okr": _check_file(okr, "okr"),
        "roster": _check_file(roster, "roster"),
        "config": _check_file(config, "config"),
        "truth": _check_file(truth, "truth"),
    }
    if paths["calls"] is None:
        raise InputError("no calls file given")
    if paths["config"] is not None:  # a bad configuration stops the run before any notebook
        from ..models.config import load_model_config

        load_model_config(paths["config"])
    params = {"period": period, "pseudonymize": bool(pseudonymize), "v": MANIFEST_VERSION,
              "mapping": None if paths["mapping"] else mapping}
    pz = None
    if pseudonymize:  # a new salt rebuilds the cached inputs
        from ..privacy import resolve_salt

        pz = _pseudonymizer(resolve_salt(salt_file), paths)
        params["salt_id"] = pz.salt_id
    key = _fingerprint(paths, params)
    idir = Path(build_dir) / "inputs"
    manifest_path = idir / "inputs.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("key") == key:
            return _with_threshold(_from_dir(idir, manifest, paths), short_call_s, power_rounds)
    elif not idir.exists():
        for other in (Path(b) / "inputs" for b in reuse):
            try:
                manifest = json.loads((other / "inputs.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("key") == key:
                shutil.copytree(other, idir)
                return _with_threshold(_from_dir(idir, manifest, paths), short_call_s, power_rounds)
    idir.mkdir(parents=True, exist_ok=True)
    valid, qcounts, rows_read, notes = _load_calls(paths["calls"], paths["mapping"] or mapping)
    n_valid_all = len(valid)
    optional = {kind: _load_optional(kind, paths[kind])
                for kind in ("ratings", "roster", "truth") if paths[kind] is not None}
    okr_doc = None
    if paths["okr"] is not None:
        try:
            okr_doc = yaml.safe_load(yaml_text(paths["okr"], f"okr {paths['okr'].name}"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"okr {paths['okr']}: invalid YAML: {exc}".splitlines()[0]) from None
    if pz is not None:
        # every input's person ids first, so that text anywhere (a queue name, a roster
        # team, an OKR title) loses an id read from any of them
        if "agent_id" in valid.columns:
            pz.learn(valid[["agent_id"]])
        pz.learn(*optional.values())
        if okr_doc is not None:
            pz.learn(_okr_ids(okr_doc))
    n_calls = _write_calls(valid, idir / "calls.parquet", period=period, pz=pz)
    if n_calls == 0:
        raise InputError(f"no valid calls{' in period ' + period if period else ''}")
    safe_csv(qcounts, idir / "quarantine.csv", index=False)

    records = []
    for kind, p in paths.items():
        if p is None:
            continue
        for f in _files_of(p):
            rec = {"kind": kind, "file": f.name, "path": str(f.resolve()),
                   "sha256": file_sha256(f), "bytes": f.stat().st_size}
            if pz is not None:  # a per-agent file name (alice.csv) names a person
                rec["file"] = rec["path"] = pz.file_name(f.name)
            records.append(rec)
    calls_rec = [r for r in records if r["kind"] == "calls"]
    if calls_rec:
        calls_rec[0].update(rows_read=rows_read, valid=n_valid_all,
                            quarantined=int(qcounts["rows"].sum()), in_period=n_calls,
                            mapping_reasons=_declared_reasons(paths["mapping"] or mapping))

    from ..privacy import ID_PREFIXES

    for kind in ("ratings", "roster", "truth"):
        if paths[kind] is None:
            continue
        df = optional[kind]
        rec = next(r for r in records if r["kind"] == kind)
        rec.update(rows_read=len(df), valid=len(df))
        if pz is not None:
            df = df.copy()
            done = []
            for c in _ID_COLS[kind]:
                if c in df.columns:
                    df[c] = pz.ids(df[c], ID_PREFIXES[c])
                    done.append(c)
            # every other text cell (a team named after its supervisor, a site)
            df = pz.frame(df, done=done)
        df.to_parquet(idir / f"{kind}.parquet", index=False)
    if okr_doc is not None:
        if pz is not None:
            okr_doc = _pseudo_okr(okr_doc, pz)
        (idir / "okr.json").write_text(json.dumps(okr_doc, default=str), encoding="utf-8")

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "key": key,
        "ccpm_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": period,
        "pseudonymized": bool(pseudonymize),
        "anonymous_bank": is_anonymous_bank(paths["calls"], mapping),
        "mapping": str(mapping) if mapping else None,
        "inputs": records,
        "quarantine": qcounts.to_dict("records"),
        "calls_in_report": n_calls,
        "packages": package_versions(),
        "git_commit": _git_commit(),
        "notes": notes,
    }
    tmp = _private_tmp(manifest_path)
    try:
        tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, manifest_path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the replace; a failed write's part
    return _with_threshold(_from_dir(idir, manifest, paths), short_call_s, power_rounds)


_OKR_ID_KEYS = ("agent_id", "owner", "owner_id")
#: Values the models look up (a metric name, ``higher``/``lower``): labels, not text.
_OKR_LABEL_KEYS = ("metric", "direction")


def _okr_ids(doc) -> dict:
    """The person ids of an OKR document (``agents`` keys, ``agent_id``/``owner`` values),
    as a table the pseudonymizer can learn."""
    found: list = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("agents"), dict):
                found.extend(x["agents"])
            for k, v in x.items():
                if k in _OKR_ID_KEYS and isinstance(v, (str, int)) and not isinstance(v, bool):
                    found.append(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return {"agent_id": [str(v) for v in found]}


def _pseudo_okr(doc, pz):
    """Pseudonymize ``agent_id``/``owner`` values and ``agents`` keys anywhere in an OKR
    document, and every other string value (an objective or key-result title that names
    an agent) loses the run's ids (:meth:`~analysis.privacy.Pseudonymizer.text`), except
    the labels of :data:`_OKR_LABEL_KEYS`; keys are the document's structure and stay."""
    from ..privacy import ID_PREFIXES

    if isinstance(doc, dict):
        agents = doc.get("agents")
        if isinstance(agents, dict):  # per-agent key results, keyed by agent id
            doc = {**doc, "agents": {pz.pseudonym(k, ID_PREFIXES["agent_id"]): v
                                     for k, v in agents.items()}}
        return {k: (pz.pseudonym(v, ID_PREFIXES["agent_id"])
                    if k in _OKR_ID_KEYS and v is not None
                    else v if k in _OKR_LABEL_KEYS and isinstance(v, str)
                    else _pseudo_okr(v, pz)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_pseudo_okr(v, pz) for v in doc]
    if isinstance(doc, str):
        return pz.text(doc)
    return doc


def _with_threshold(inputs: ReportInputs, short_call_s: float | None,
                    power_rounds: int = 0) -> ReportInputs:
    inputs.power_rounds = max(int(power_rounds or 0), 0)
    if short_call_s is not None:
        s = float(short_call_s)
        if not 0 < s < 3600:
            raise ConfigError(f"--short-call-s must be between 0 and 3600 seconds, got {s:g}")
        inputs.short_call_s = s
    return inputs


def _from_dir(idir: Path, manifest: dict, paths: dict) -> ReportInputs:
    def opt(name: str) -> pd.DataFrame | None:
        p = idir / f"{name}.parquet"
        return pd.read_parquet(p) if p.is_file() else None

    okr_p = idir / "okr.json"
    q = pd.read_csv(idir / "quarantine.csv") if (idir / "quarantine.csv").is_file() else None
    if q is None or q.empty:
        q = pd.DataFrame({"reason": pd.Series([], dtype="str"),
                          "rows": pd.Series([], dtype="int64")})
    return ReportInputs(
        calls_path=idir / "calls.parquet",
        quarantine=q,
        manifest=manifest,
        ratings=opt("ratings"),
        roster=opt("roster"),
        truth=opt("truth"),
        okr=json.loads(okr_p.read_text(encoding="utf-8")) if okr_p.is_file() else None,
        config_path=paths.get("config"),
        notes=list(manifest.get("notes", [])),
        build_dir=idir.parent,
    )
