"""The results bundle: every number, table and decision the report shows, computed once
per run and written without language or prose.

The analysis pieces (panel, model comparison, gaming checks, recommendation, what-if) are
computed on first use and kept under ``<build_dir>/results/<name>/``: each table as
Parquet, the values beside them in ``meta.json`` (a :class:`Bundle` reads them back), so
the four notebooks of a run compute them once, whatever the language (``build_report``
clears the folder when a run starts). The center's own figures (calls
per day, coverage, KPIs, volume, days per month) are queried from the prepared calls with
DuckDB and kept the same way (:func:`center`).

Nothing here knows a language: a result that is missing says why with a message-catalog
key (e.g. ``"trade.na.aht"``), which :mod:`analysis.report.present` turns into words.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
from pathlib import Path

import duckdb
import pandas as pd

from ..config import DEFAULT_ALPHA
from ..escape import sql_quote_path
from .inputs import ReportInputs

__all__ = ["PIECES", "available", "importable", "connect", "results_dir", "Bundle",
           "save_bundle", "load_bundle", "center", "daily_calls", "coverage", "center_kpis", "volume",
           "period_days", "ranked_period", "panel", "model_config", "comparison", "gaming",
           "flagged_agents", "truth_gamers", "known_gamers", "flag_ids", "kendall_w", "summary_value",
           "CRITERIA_ORDER", "criteria", "full_comparison", "recommendation",
           "recommendation_dict", "TRADEOFFS", "tradeoff_data", "whatif_result",
           "whatif_recommendation"]

#: piece -> the module a missing piece is named by
PIECES = {
    "load": "analysis.load",
    "panel": "analysis.panel",
    "metrics": "analysis.metrics",
    "compare": "analysis.compare",
    "figures": "analysis.figures",
    "gaming": "analysis.gaming",
    "model_config": "analysis.models.config",
    "recommend": "analysis.recommend",
    "tradeoffs": "analysis.tradeoffs",
    "whatif": "analysis.whatif",
}


def importable(module: str, attr: str | None = None) -> bool:
    """Can ``module`` be imported (and has it ``attr``)?"""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return attr is None or hasattr(mod, attr)


def _exists(module: str) -> bool:
    """Does ``module`` exist (found without importing it: pingouin and friends are slow)?"""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


#: piece -> the module whose presence means the piece is installed
_PROBES = {
    "load": "analysis.load.calls",
    "panel": "analysis.panel",
    "metrics": "analysis.metrics",
    "compare": "analysis.compare",
    "figures": "analysis.figures",
    "gaming": "analysis.gaming.runner",
    "model_config": "analysis.models.config",
    "recommend": "analysis.recommend",
    "tradeoffs": "analysis.tradeoffs",
    "whatif": "analysis.whatif",
}


def available() -> dict[str, bool]:
    """Which library pieces this build has: ``{piece: bool}`` (checked without importing)."""
    return {piece: _exists(mod) for piece, mod in _PROBES.items()}


def connect(inputs: ReportInputs) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the prepared calls as the view ``calls``."""
    con = duckdb.connect()
    with contextlib.suppress(duckdb.Error):  # no progress widget in the executed notebook
        con.execute("SET enable_progress_bar = false")
    src = sql_quote_path(inputs.calls_path)
    con.execute(f"CREATE VIEW calls AS SELECT * FROM read_parquet({src})")
    return con


def daily_calls(inputs: ReportInputs) -> pd.DataFrame:
    """Calls per day and outcome: ``date, outcome, calls``."""
    con = connect(inputs)
    try:
        return con.execute(
            "SELECT CAST(arrival_ts AS DATE) AS date, outcome, count(*) AS calls "
            "FROM calls GROUP BY ALL ORDER BY 1, 2").fetchdf()
    finally:
        con.close()


#: Contract columns whose default (0) stands in for a field the export lacks.
_DEFAULTED = ("hold_s", "acw_s")


def coverage(inputs: ReportInputs) -> pd.Series:
    """Share of values per column of the prepared calls that carry data (index: column).

    Non-missing values, except that a defaulted column (:data:`_DEFAULTED`) that is zero
    on every row carries none: the contract's default filled it (the Anonymous Bank logs
    have service time only), as the panel's ``not_recorded`` metrics.
    """
    con = connect(inputs)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE calls").fetchall()]
        expr = ", ".join(f'avg(CASE WHEN "{c}" IS NULL THEN 0 ELSE 1 END) AS "{c}"' for c in cols)
        cov = con.execute(f"SELECT {expr} FROM calls").fetchdf().iloc[0].astype(float)
        for c in _DEFAULTED:
            if c in cols and not con.execute(
                    f'SELECT bool_or(coalesce("{c}", 0) <> 0) FROM calls').fetchone()[0]:
                cov[c] = 0.0
        return cov
    finally:
        con.close()


def center_kpis(inputs: ReportInputs, short_call_s: float | None = None) -> dict:
    """Center-level KPIs over the report's calls, computed in DuckDB: ``offered, handled,
    agents, abandon, aht, talk, short, transfer, n_transfer, resolved, csat`` (rates as
    shares; None where the data has no such field); short calls by the run's threshold
    (``inputs.short_call_s``) unless given."""
    short_call_s = inputs.short_call_s if short_call_s is None else short_call_s
    con = connect(inputs)
    try:
        cols = {r[0] for r in con.execute("DESCRIBE calls").fetchall()}
        hold = "coalesce(hold_s, 0)" if "hold_s" in cols else "0"
        acw = "coalesce(acw_s, 0)" if "acw_s" in cols else "0"
        q = f"""
            SELECT count(*) AS offered,
                   count(*) FILTER (WHERE outcome IN ('answered','transferred')) AS handled,
                   avg(CASE WHEN outcome = 'abandoned' THEN 1.0 ELSE 0.0 END) AS abandon,
                   avg(talk_s + {hold} + {acw}) FILTER (WHERE outcome IN ('answered','transferred')) AS aht,
                   avg(talk_s) FILTER (WHERE outcome IN ('answered','transferred')) AS talk,
                   avg(CASE WHEN talk_s < {float(short_call_s)} THEN 1.0 ELSE 0.0 END)
                       FILTER (WHERE outcome IN ('answered','transferred')) AS short,
                   avg(CASE WHEN outcome = 'transferred' THEN 1.0 ELSE 0.0 END)
                       FILTER (WHERE outcome IN ('answered','transferred')) AS transfer,
                   count(*) FILTER (WHERE outcome = 'transferred') AS n_transfer,
                   {"avg(CAST(resolved AS DOUBLE))" if "resolved" in cols else "NULL"} AS resolved,
                   {"avg(csat)" if "csat" in cols else "NULL"} AS csat,
                   count(DISTINCT agent_id) AS agents
            FROM calls"""
        r = con.execute(q).fetchdf().iloc[0]
    finally:
        con.close()
    out = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
           for k, v in r.items()}  # plain numbers: the values go into meta.json
    out["short_call_s"] = float(short_call_s)
    return out


def volume(inputs: ReportInputs) -> dict:
    """The report's calls in numbers: ``calls, agents, queues, start, end`` (ISO dates)."""
    con = connect(inputs)
    try:
        r = con.execute(
            "SELECT count(*), count(DISTINCT agent_id), count(DISTINCT queue), "
            "min(arrival_ts), max(arrival_ts) FROM calls").fetchone()
    finally:
        con.close()
    return {"calls": int(r[0]), "agents": int(r[1]), "queues": int(r[2]),
            "start": pd.Timestamp(r[3]).strftime("%Y-%m-%d"),
            "end": pd.Timestamp(r[4]).strftime("%Y-%m-%d")}


def center(inputs: ReportInputs) -> Bundle:
    """The center's own figures, from the prepared calls (kept in ``results/center/`` when
    ``inputs`` has a build folder): tables ``daily`` (:func:`daily_calls`) and
    ``coverage`` (``column, non_missing``: :func:`coverage`); values ``kpis``
    (:func:`center_kpis` at the run's threshold), ``volume`` (:func:`volume`) and
    ``period_days`` (:func:`period_days`)."""
    folder = None if inputs.build_dir is None else results_dir(inputs.build_dir) / "center"
    b = None if folder is None else load_bundle(folder)
    if b is not None and b.kpis.get("short_call_s") == float(inputs.short_call_s):
        return b
    cov = coverage(inputs)
    tables = {"daily": daily_calls(inputs),
              "coverage": pd.DataFrame({"column": cov.index.astype(str),
                                        "non_missing": cov.to_numpy(dtype=float)})}
    values = {"kpis": center_kpis(inputs), "volume": volume(inputs),
              "period_days": period_days(inputs)}
    if folder is None:
        return Bundle(**tables, **values)
    save_bundle(folder, tables, values)
    return load_bundle(folder)


def recommendation_dict(build_dir) -> dict:
    """The run's ``Recommendation.to_dict()`` as kept in the bundle (empty when the
    recommendation has none)."""
    meta = results_dir(build_dir) / "recommend" / "meta.json"
    d = json.loads(meta.read_text(encoding="utf-8")).get("as_dict") if meta.is_file() else None
    return d if isinstance(d, dict) else {}


def period_days(inputs: ReportInputs) -> dict[str, int]:
    """Days with calls per calendar month (``YYYY-MM``) of the report's calls."""
    con = connect(inputs)
    try:
        rows = con.execute("SELECT strftime(arrival_ts, '%Y-%m'), count(DISTINCT "
                           "CAST(arrival_ts AS DATE)) FROM calls GROUP BY 1").fetchall()
    finally:
        con.close()
    return {str(p): int(d) for p, d in rows}


def ranked_period(periods: list[str], days: dict[str, int] | None) -> tuple[str, str]:
    """The period to rank on: the latest one with at least half the days of the fullest
    (a stub month at the end is skipped), and a note naming a partial one ("" if none)."""
    periods = sorted(periods)
    if not days or not all(p in days for p in periods):
        return periods[-1], ""
    full = max(days[p] for p in periods)
    pick = next(p for p in reversed(periods) if days[p] >= 0.5 * full)
    later = [p for p in periods if p > pick]
    return pick, (later[-1] if later else "")


def results_dir(build_dir) -> Path:
    """``<build_dir>/results/``, the run's results bundle (created)."""
    p = Path(build_dir) / "results"
    p.mkdir(parents=True, exist_ok=True)
    return p


class Bundle:
    """One analysis of the bundle, read back from ``<build_dir>/results/<name>/``: its
    tables (``<table>.parquet``) and values (``meta.json``) as attributes."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def save_bundle(folder: Path, tables: dict, meta: dict) -> None:
    """Write ``tables`` (DataFrames; anything else is skipped) as Parquet and ``meta``
    (plain values) as ``meta.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if isinstance(df, pd.DataFrame):
            df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "meta.json").write_text(json.dumps(meta, default=str, indent=1), encoding="utf-8")


def load_bundle(folder: Path) -> Bundle | None:
    """The :class:`Bundle` written into ``folder``, or None when there is none yet."""
    if not (folder / "meta.json").is_file():
        return None
    kw = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    for f in folder.glob("*.parquet"):
        kw[f.stem] = pd.read_parquet(f)
    return Bundle(**kw)


def panel(inputs: ReportInputs, build_dir, *, period: str = "month") -> pd.DataFrame | None:
    """The agent x period panel (cached); None when :mod:`analysis.panel` is missing."""
    if not importable("analysis.panel", "build_panel"):
        return None
    path = results_dir(build_dir) / f"panel-{period}-{inputs.short_call_s:g}s.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    from ..panel import build_panel

    p = build_panel(str(inputs.calls_path), period=period, short_call_s=inputs.short_call_s)
    p.to_parquet(path, index=False)
    return p


def model_config(inputs: ReportInputs):
    """The run's model configuration (its file, else the defaults); None when
    :mod:`analysis.models.config` is missing."""
    if not importable("analysis.models.config", "load_model_config"):
        return None
    from ..models.config import load_model_config

    return load_model_config(inputs.config_path) if inputs.config_path else load_model_config()


def flagged_agents(inputs: ReportInputs, build_dir) -> pd.DataFrame | None:
    """``agent_id, flagged``: whether the gaming checks flagged each agent in any period
    (None when nothing was tested)."""
    g = gaming(inputs, build_dir)
    if g is None or not hasattr(g, "flags") or g.flags.empty:
        return None
    f = g.flags.assign(flagged=g.flags["flagged"].astype(bool))
    return f.groupby("agent_id", as_index=False)["flagged"].any()


def comparison(inputs: ReportInputs, build_dir):
    """Model comparison (cached): ``.scores``, ``.agreement``, ``.summary``; None if missing.

    ``flagged`` (agents the gaming checks flagged) is passed on when the gaming checks
    exist; with synthetic data, the planted gamers (``truth``) are used for gaming
    sensitivity instead, as they are known. The whole
    :class:`~analysis.compare.Comparison` is kept too (``comparison.pkl``), for the
    recommendation, trade-off and what-if views.
    """
    if not importable("analysis.compare", "compare_models"):
        return None
    folder = results_dir(build_dir) / "compare"
    cached = load_bundle(folder)
    if cached is not None and _signed_bytes(folder / "comparison.pkl") is not None:
        return cached
    from ..compare import compare_models

    p = panel(inputs, build_dir)
    flagged = inputs.truth if inputs.truth is not None and "gaming" in inputs.truth else None
    if flagged is None:
        flagged = flagged_agents(inputs, build_dir)
    if inputs.roster is not None and "agent_id" in inputs.roster:  # fairness by shift, team
        extra = [c for c in ("team", "shift", "site") if c in inputs.roster.columns
                 and c not in p.columns]
        if extra:
            r = inputs.roster[["agent_id", *extra]].drop_duplicates("agent_id")
            attrs = p.attrs  # the panel's settings (period, data end) for the what-if
            p = p.merge(r.assign(agent_id=r["agent_id"].astype(str)), on="agent_id",
                        how="left")
            p.attrs = attrs
    res = compare_models(p, config=model_config(inputs), ratings=inputs.ratings,
                         okr=inputs.okr, flagged=flagged)
    summary = getattr(res, "summary", {}) or {}
    folder.mkdir(parents=True, exist_ok=True)
    _dump_signed(res, folder / "comparison.pkl")
    save_bundle(folder, {"scores": res.scores, "agreement": res.agreement},
                 {"summary": summary})
    return load_bundle(folder)


def truth_gamers(inputs: ReportInputs) -> pd.DataFrame | None:
    """``agent_id`` of the gamers planted in synthetic data (``truth``); None without it
    (:func:`analysis.gaming._recovery.planted` reads the truth)."""
    from ..gaming._recovery import planted

    tr = inputs.truth
    if tr is None or "agent_id" not in tr.columns:
        return None
    gaming = planted(tr)
    if gaming is None:
        return None
    return tr.loc[gaming.to_numpy(bool), ["agent_id"]].drop_duplicates().reset_index(drop=True)


def known_gamers(inputs: ReportInputs) -> list[str]:
    """Agent ids planted as gamers in synthetic data (``truth``); empty otherwise."""
    g = truth_gamers(inputs)
    return [] if g is None else g["agent_id"].astype(str).tolist()


def gaming(inputs: ReportInputs, build_dir):
    """Gaming checks (cached): ``.flags``, ``.changepoints``, ``.skipped``, ``.summary_text``."""
    if not importable("analysis.gaming", "run_checks"):
        return None
    folder = results_dir(build_dir) / "gaming"
    cached = load_bundle(folder)
    if cached is not None:
        return cached
    from ..gaming import run_checks

    res = run_checks(str(inputs.calls_path), ratings=inputs.ratings, okr=inputs.okr,
                     roster=inputs.roster, options={"short_call_s": inputs.short_call_s})
    skipped = res.skipped
    if isinstance(skipped, dict):
        skipped = pd.DataFrame({"check": list(skipped), "skipped_reason": list(skipped.values())})
    text_ = res.summary_text() if callable(getattr(res, "summary_text", None)) else ""
    info = getattr(res, "info", None) or {}
    cps = res.changepoints if isinstance(res.changepoints, pd.DataFrame) else pd.DataFrame()
    agents = getattr(res, "agents", None)  # agent-level decisions, where the runner has them
    power, power_meta = None, None
    if getattr(inputs, "power_rounds", 0) and isinstance(agents, pd.DataFrame):
        # how many planted gamers the checks find in these calls (analysis.detection)
        from ..detection import detection_power

        dp = detection_power(str(inputs.calls_path), res, options=info.get("options"),
                             rounds=int(inputs.power_rounds),
                             run_kwargs={"ratings": inputs.ratings, "okr": inputs.okr,
                                         "roster": inputs.roster})
        power = dp.table
        power_meta = {"start": dp.start, "rounds": int(inputs.power_rounds),
                      "per": dp.per,
                      "not_planted": sorted(dp.not_planted),
                      "others": int(dp.others)}
    save_bundle(folder, {"flags": res.flags, "changepoints": cps,
                          "skipped": skipped if isinstance(skipped, pd.DataFrame) else None,
                          "agents": agents if isinstance(agents, pd.DataFrame) else None,
                          "power": power},
                 {"summary_text": text_, "alpha": float(getattr(res, "alpha", DEFAULT_ALPHA)),
                  "power_meta": power_meta,
                  "agent_fdr": getattr(res, "agent_fdr", None),
                  # stub end periods whose calls the checks counted with a neighbour
                  "period_folds": [[k, v, int(info.get("period_fold_days", {}).get(k, 0))]
                                   for k, v in info.get("period_folds", {}).items()]})
    b = load_bundle(folder)
    for name in ("changepoints", "skipped"):
        if not hasattr(b, name):
            setattr(b, name, pd.DataFrame())
    return b


def summary_value(v):
    """A summary entry's number: ``v`` itself, or ``v["value"]`` (None when missing)."""
    if isinstance(v, dict):
        v = v.get("value")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
        return float(v)
    return None


def kendall_w(cmp) -> float | None:
    """Kendall's W across all models (None when not computable)."""
    return summary_value((getattr(cmp, "summary", {}) or {}).get("kendall_w"))


#: every criterion key the recommendation has used, in the order the report lists them
#: (older keys gaming/separation/data, interface C's gaming_resistance/agreement/coverage)
CRITERIA_ORDER = ("validity", "gaming_resistance", "gaming", "stability", "fairness",
                  "agreement", "separation", "coverage", "data")


def criteria(rec) -> list[str]:
    """The criteria this recommendation has (known ones in report order, then any new)."""
    have = list(dict.fromkeys([*map(str, rec.evidence["criterion"].unique()),
                               *map(str, rec.weights)]))
    return [c for c in CRITERIA_ORDER if c in have] + [c for c in have
                                                       if c not in CRITERIA_ORDER]


_FULL: dict[str, object] = {}  # comparison.pkl already read by this process


def full_comparison(inputs: ReportInputs, build_dir):
    """The :class:`analysis.compare.Comparison` behind :func:`comparison` (None if missing)."""
    path = results_dir(build_dir) / "compare" / "comparison.pkl"
    if comparison(inputs, build_dir) is None or not path.is_file():
        return None
    key = f"{path}|{path.stat().st_mtime_ns}"
    if key not in _FULL:
        obj = _load_signed(path)  # comparison() rewrote it if it was not this user's
        if obj is None:
            return None
        _FULL[key] = obj
    return _FULL[key]


# ----------------------------------------------------------------------------- signed pickle
# The full comparison is kept as a pickle (numpy, pandas and model objects). A pickle runs
# code when it is loaded, and a report reuses the results of an earlier output folder
# (--results-from, or its own --out): anyone who can write to a shared report folder could
# have the next report run their code. So the pickle is signed with a key only this user
# can read (HMAC-SHA256, ~/.cache/ccpm/results.key, mode 0600) and loaded only when the
# signature holds; otherwise the comparison is recomputed from the inputs.

def _results_key() -> bytes | None:
    """This user's key for signing cached results (created once), or None if it cannot be
    kept: then nothing cached is trusted. In the user's cache folder, else (no writable
    home, as on some CI runners) in a private folder under the temporary folder."""
    import tempfile

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ccpm"
    for base in (cache, Path(tempfile.gettempdir()) / f"ccpm-{os.getuid()}"):
        key = _key_in(base)
        if key is not None:
            return key
    return None


def _key_in(base: Path, tries: int = 2) -> bytes | None:
    import secrets

    path = base / "results.key"
    try:
        if not path.is_file():
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        st, folder = path.stat(), base.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or folder.st_uid != os.getuid():
            return None  # readable or owned by someone else: not a secret
        key = path.read_bytes()
        return key if len(key) >= 32 else None
    except FileExistsError:  # another process created it meanwhile
        return _key_in(base, tries - 1) if tries > 0 else None
    except OSError:
        return None


def _dump_signed(obj, path: Path) -> None:
    import hmac
    import pickle

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    key = _results_key()
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    sig = path.with_name(path.name + ".sig")
    if key is None:
        sig.unlink(missing_ok=True)
        return
    sig.write_text(hmac.new(key, data, "sha256").hexdigest(), encoding="ascii")



def _signed_bytes(path: Path) -> bytes | None:
    """The bytes at ``path`` if this user's key signed them, else None."""
    import hmac

    key = _results_key()
    sig = path.with_name(path.name + ".sig")
    if key is None or not path.is_file() or not sig.is_file():
        return None
    data = path.read_bytes()
    good = hmac.new(key, data, "sha256").hexdigest()
    if not hmac.compare_digest(good, sig.read_text(encoding="ascii").strip()):
        return None
    return data


def _load_signed(path: Path):
    """The object pickled at ``path`` if this user's key signed it, else None."""
    import pickle

    data = _signed_bytes(path)
    return None if data is None else pickle.loads(data)  # noqa: S301 (signed: this user's)


def recommendation(inputs: ReportInputs, build_dir):
    """The models ranked for this center (cached): an
    :class:`analysis.recommend.Recommendation`, or None when the comparison or the
    recommendation module is missing."""
    if not importable("analysis.recommend", "recommend"):
        return None
    from ..recommend import Recommendation, recommend

    folder = results_dir(build_dir) / "recommend"
    b = load_bundle(folder)
    if b is None:
        comp = full_comparison(inputs, build_dir)
        if comp is None:
            return None
        import inspect

        # gaming resistance is measured by planting behaviours into the center's own calls
        kw = ({"calls": str(inputs.calls_path)}
              if "calls" in inspect.signature(recommend).parameters else {})
        rec = recommend(comp, **kw)
        as_dict = rec.to_dict() if callable(getattr(rec, "to_dict", None)) else None
        save_bundle(folder, {"ranking": rec.ranking, "evidence": rec.evidence,
                              "pairwise": rec.pairwise, "requirements": rec.requirements},
                     {"weights": rec.weights, "not_assessed": rec.not_assessed,
                      "ci": rec.ci, "n_boot": rec.n_boot, "as_dict": as_dict})
        b = load_bundle(folder)
    return Recommendation(ranking=b.ranking, evidence=b.evidence, pairwise=b.pairwise,
                          weights=b.weights, not_assessed=b.not_assessed,
                          requirements=getattr(b, "requirements", None), ci=b.ci,
                          n_boot=b.n_boot)


TRADEOFFS = ("efficiency", "service", "satisfaction", "process")


def min_calls(inputs: ReportInputs) -> int:
    """Calls an agent-period needs to be scored (``min_calls`` of the configuration)."""
    cfg = model_config(inputs) or {}
    return int(cfg.get("min_calls", 1))


def _has(df: pd.DataFrame | None, col: str, n: int = 1) -> bool:
    return df is not None and col in df.columns and int(df[col].notna().sum()) >= n


def tradeoff_data(kind: str, inputs: ReportInputs, build_dir) -> tuple[object, str | None]:
    """``(data, None)`` for a trade-off view, or ``(None, reason key)`` when its inputs are
    missing. ``kind``: ``efficiency`` and ``process`` give a quadrant table,
    ``satisfaction`` a quadrant table (x = satisfaction) and the per-agent table,
    ``service`` a dict with the staffing table and the busiest hour."""
    if kind not in TRADEOFFS:
        raise ValueError(f"unknown trade-off view {kind!r} (known: {', '.join(TRADEOFFS)})")
    if not importable("analysis.tradeoffs", "service_cost"):
        return None, "unavailable"
    from .. import tradeoffs as tr

    p = panel(inputs, build_dir)
    if p is None:
        return None, "unavailable"
    if kind == "efficiency":
        if not _has(p, "aht_s"):
            return None, "trade.na.aht"
        q = tr.efficiency_quality(p, min_calls=min_calls(inputs))
        return (q, None) if len(q) else (None, "trade.na.eff")
    if kind == "process":
        if not _has(p, "qa_mean"):
            return None, "trade.na.qa"
        q = tr.results_vs_process(p, min_calls=min_calls(inputs))
        return (q, None) if len(q) else (None, "trade.na.eff")
    comp = full_comparison(inputs, build_dir)
    if comp is None:
        return None, "unavailable"
    if kind == "service":
        if not _has(p, "aht_s"):
            return None, "trade.na.aht"
        if comp.scores.dropna(subset=["score"]).empty:
            return None, "trade.na.models"
        load = tr.hourly_load(str(inputs.calls_path))
        if load.empty:
            return None, "trade.na.aht"
        peak = load.iloc[0]
        cost = tr.service_cost(comp, calls_per_hour=float(peak["calls_per_hour"]))
        if cost.empty:
            return None, "trade.na.aht"
        return {"cost": cost, "dow": int(peak["dow"]), "hour": int(peak["hour"]),
                "calls_per_hour": float(peak["calls_per_hour"]), "target_sl": 0.8,
                "target_s": 20.0}, None
    # satisfaction against 360 and staff stability
    per = tr.satisfaction_vs_360(comp, roster=inputs.roster)
    if not _has(per, "csat_mean", 4):
        return None, "trade.na.csat"
    others = [c for c in ("score_360", "tenure_days") if _has(per, c, 4)]
    if not others:
        return None, "trade.na.people"
    q = pd.concat([tr.quadrants(per, "csat_mean", y) for y in others], ignore_index=True)
    if q.groupby("y_metric").size().max() < 4:
        return None, "trade.na.few"
    return {"quadrants": q, "per_agent": per}, None


def flag_ids(inputs: ReportInputs, build_dir) -> list[str]:
    """Agents to ring in the figures: the planted gamers (synthetic), else those flagged."""
    known = known_gamers(inputs)
    if known:
        return known
    f = flagged_agents(inputs, build_dir) if available().get("gaming") else None
    return [] if f is None else f.loc[f["flagged"], "agent_id"].astype(str).tolist()


def whatif_result(inputs: ReportInputs, build_dir):
    """The what-if (cached): ``.status`` (``ok``, or a reason key: no gaming checks, no
    flags, nothing removable), ``.models``, ``.removed``, ``.skipped``, the recommendation
    before and after (``.best_before``, ``.best_after``, ``.ranking_after``,
    ``.pairwise_after``); None when the comparison or the what-if module is missing.

    Re-scores with the gaming checks' flags (``analysis.whatif.whatif``); the
    recommendation before is the report's own (:func:`recommendation`), the one after
    keeps resistance to gaming as measured on all calls."""
    if not (importable("analysis.whatif", "whatif") and available().get("compare")):
        return None
    folder = results_dir(build_dir) / "whatif"
    b = load_bundle(folder)
    if b is not None:
        return b
    comp = full_comparison(inputs, build_dir)
    rec = recommendation(inputs, build_dir)
    if comp is None or rec is None:
        return None
    g = gaming(inputs, build_dir) if available().get("gaming") else None
    status = "ok"
    if g is None:
        status = "whatif.na.gaming"
    elif g.flags.empty or not g.flags["flagged"].astype(bool).any():
        status = "whatif.na.flags"
    r = rec.ranking
    meta = {"status": status, "best_before": rec.best, "best_after": None, "ci": rec.ci,
            "n_boot": rec.n_boot, "handled_calls": None,
            "tied_before": [str(m) for m in r.loc[r["tied_with_best"].astype(bool), "model"]]}
    tables: dict = {}
    if status == "ok":
        from ..recommend import recommend
        from ..whatif import whatif

        w = whatif(comp, str(inputs.calls_path), g.flags, ratings=inputs.ratings,
                   okr=inputs.okr, recommend_models=False, n_boot=0)
        tables = {"removed": w.removed, "skipped": w.skipped}
        if w.removed.empty:
            meta["status"] = "whatif.na.removable"
        else:
            after = recommend(w.after, gaming_from=comp)
            models = w.models.copy()
            r_b, r_a = rec.ranking.set_index("model"), after.ranking.set_index("model")
            for col, r in (("before", r_b), ("after", r_a)):
                m = models["model"].astype(str)
                models[f"overall_{col}"] = m.map(r["overall"]).astype(float)
                models[f"rank_{col}"] = m.map(r["rank"]).astype(float)
            models["rank_change"] = models["rank_before"] - models["rank_after"]
            tables.update(models=models, ranking_after=after.ranking,
                          pairwise_after=after.pairwise, evidence_after=after.evidence)
            meta.update(best_after=after.best, weights_after=after.weights,
                        not_assessed_after=after.not_assessed,
                        handled_calls=int(comp.panel["calls"].sum()))
    save_bundle(folder, tables, meta)
    return load_bundle(folder)


def whatif_recommendation(w):
    """The recommendation after the what-if (:func:`whatif_result`) as a
    :class:`analysis.recommend.Recommendation`."""
    from ..recommend import Recommendation

    return Recommendation(ranking=w.ranking_after, evidence=w.evidence_after,
                          pairwise=w.pairwise_after, weights=w.weights_after,
                          not_assessed=w.not_assessed_after, ci=w.ci, n_boot=w.n_boot)
