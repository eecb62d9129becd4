"""Report sections as tables, figures and markdown, for the notebook templates.

The notebooks only call these functions and display what they return; every text is
looked up in :mod:`analysis.report.i18n`. Expensive results (panel, model comparison,
gaming checks) are cached in ``<build_dir>/cache/`` so the four notebooks of a run
compute them once. A section whose library piece is not installed says so
(:func:`unavailable`) instead of showing anything made up.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..config import DEFAULT_ALPHA, DEFAULT_SHORT_CALL_S, MIN_360_GROUP
from . import i18n
from .i18n import t
from .inputs import ReportInputs

__all__ = [
    "Markdown",
    "Table",
    "setup",
    "heading",
    "text",
    "bullets",
    "table",
    "available",
    "unavailable",
    "inputs_table",
    "quarantine_table",
    "coverage_table",
    "software_table",
    "provenance",
    "daily_calls",
    "daily_calls_figure",
    "kpi_overview",
    "metric_definitions",
    "panel",
    "comparison",
    "gaming",
    "model_top_bottom",
    "model_properties",
    "agreement_table",
    "okr_table",
    "ratings_by_group",
    "flags_table",
    "checks_table",
    "changepoints_table",
    "skipped_table",
    "truth_recovery",
    "flags_figure",
    "headlines",
    "figure",
    "figure_labels",
    "known_gamers",
    "agreement_text",
    "kendall_w",
]

MODEL_KEYS = ("kpi", "okr", "bsc", "360")


class Markdown:
    """Markdown shown as such in Jupyter and copied verbatim into the report."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def _fmt(v, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if v != 0 and abs(v) < 10 ** (-digits):
            return f"{v:.1e}"
        if float(v).is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:,.{digits}f}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.strftime("%Y-%m-%d %H:%M")
    return str(v)


class Table:
    """A DataFrame rendered as a Pandoc pipe table (markdown) and HTML, headers translated."""

    def __init__(self, df: pd.DataFrame, lang: str = "en", *, digits: int = 3,
                 caption: str | None = None) -> None:
        self.df = df
        self.lang = lang
        self.digits = digits
        self.caption = caption

    def _cells(self) -> tuple[list[str], list[list[str]], list[bool]]:
        shown = i18n.translate_columns(self.df, self.lang)
        header = [str(c) for c in shown.columns]
        rows = [[_fmt(v, self.digits) for v in row] for row in shown.itertuples(index=False)]
        numeric = [pd.api.types.is_numeric_dtype(self.df[c]) and
                   not pd.api.types.is_bool_dtype(self.df[c]) for c in self.df.columns]
        return header, rows, numeric

    def _repr_markdown_(self) -> str:
        header, rows, numeric = self._cells()

        def esc(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join("--:" if n else ":--" for n in numeric) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        out = "\n".join(lines)
        if self.caption:
            out += f"\n\n: {self.caption}"
        return out

    def _repr_html_(self) -> str:
        header, rows, _ = self._cells()
        th = "".join(f"<th>{h}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
        cap = f"<caption>{self.caption}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def setup(lang: str = "en") -> None:
    """Figure style and fonts for ``lang`` (CJK for zh-CN); call once per notebook."""
    import matplotlib as mpl
    import seaborn as sns

    from .fonts import use_matplotlib_fonts

    i18n.check_lang(lang)
    sns.set_theme(style="whitegrid", context="notebook")
    use_matplotlib_fonts(lang)
    mpl.rcParams["figure.dpi"] = 110
    mpl.rcParams["savefig.dpi"] = 150
    mpl.rcParams["figure.figsize"] = (7.5, 3.6)


def figure(fig):
    """A matplotlib figure (or Axes, or seaborn grid) as a PNG display object, closed after."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    if fig is None:
        return Markdown("")
    if isinstance(fig, (Image, Markdown)):  # already rendered
        return fig
    if isinstance(fig, (list, tuple)):  # (fig, ax) pairs
        fig = fig[0]
    fig = getattr(fig, "figure", fig)  # Axes and seaborn grids carry their figure
    fig = getattr(fig, "figure", fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Image(data=buf.getvalue(), format="png")


def heading(key: str, lang: str = "en", level: int = 1, **fields) -> Markdown:
    """A translated markdown heading."""
    return Markdown("#" * level + " " + t(key, lang, **fields))


def text(key: str, lang: str = "en", **fields) -> Markdown:
    """A translated paragraph."""
    return Markdown(t(key, lang, **fields))


def bullets(items: list[str]) -> Markdown:
    """A markdown bullet list."""
    return Markdown("\n".join(f"- {s}" for s in items) if items else "")


def table(df: pd.DataFrame, lang: str = "en", *, digits: int = 3, caption: str | None = None
          ) -> Table:
    """``df`` as a report table with translated headers."""
    return Table(df, lang, digits=digits, caption=caption)


_PIECES = {
    "load": "analysis.load",
    "panel": "analysis.panel",
    "metrics": "analysis.metrics",
    "compare": "analysis.compare",
    "figures": "analysis.figures",
    "gaming": "analysis.gaming",
    "model_config": "analysis.models.config",
}


def _importable(module: str, attr: str | None = None) -> bool:
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
}


def available() -> dict[str, bool]:
    """Which library pieces this build has: ``{piece: bool}`` (checked without importing)."""
    return {piece: _exists(mod) for piece, mod in _PROBES.items()}


def unavailable(piece: str, lang: str = "en") -> Markdown:
    """The note shown in place of a section whose library piece is missing."""
    return Markdown("> " + t("common.unavailable", lang, what=f"`{_PIECES.get(piece, piece)}`"))


# --------------------------------------------------------------------------- data & quality


def inputs_table(inputs: ReportInputs, lang: str = "en") -> Table:
    """Inputs: kind, file, SHA-256 (first 12 hex digits), rows read, valid, quarantined."""
    rows = []
    for r in inputs.manifest["inputs"]:
        rows.append({
            "input": t(f"input.{r['kind']}", lang),
            "file": r["file"],
            "sha256": r["sha256"][:12],
            "rows_read": r.get("rows_read"),
            "valid": r.get("valid"),
            "quarantined": r.get("quarantined"),
        })
    df = pd.DataFrame(rows)
    for c in ("rows_read", "valid", "quarantined"):
        df[c] = df[c].astype("Int64")
    return Table(df, lang)


def quarantine_table(inputs: ReportInputs, lang: str = "en") -> Table | Markdown:
    """Quarantined rows by reason (``reason, rows, share`` of rows read)."""
    q = inputs.quarantine
    if q is None or q.empty:
        return text("dq.quarantine.none", lang)
    calls = next(r for r in inputs.manifest["inputs"] if r["kind"] == "calls")
    df = q[["reason", "rows"]].copy()
    df["rows"] = df["rows"].astype("int64")
    df["share"] = df["rows"] / max(int(calls.get("rows_read") or 0), 1)
    return Table(df, lang, digits=4)


def _con(inputs: ReportInputs) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    with contextlib.suppress(duckdb.Error):  # no progress widget in the executed notebook
        con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW calls AS SELECT * FROM read_parquet('{inputs.calls_path}')")
    return con


def coverage_table(inputs: ReportInputs, lang: str = "en") -> Table:
    """Share of non-missing values per contract column (``column, non_missing``)."""
    con = _con(inputs)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE calls").fetchall()]
        expr = ", ".join(f'avg(CASE WHEN "{c}" IS NULL THEN 0 ELSE 1 END) AS "{c}"' for c in cols)
        row = con.execute(f"SELECT {expr} FROM calls").fetchdf().iloc[0]
    finally:
        con.close()
    df = pd.DataFrame({"column": row.index.astype(str), "non_missing": row.values.astype(float)})
    return Table(df, lang, digits=3)


def software_table(inputs: ReportInputs, lang: str = "en") -> Table:
    """Package versions the report was built with (``package, version``)."""
    pk = dict(inputs.manifest.get("packages", {}))
    if inputs.manifest.get("git_commit"):
        pk["ccpm (git)"] = inputs.manifest["git_commit"]
    return Table(pd.DataFrame({"package": list(pk), "version": list(pk.values())}), lang)


def provenance(inputs: ReportInputs, lang: str = "en") -> Markdown:
    """Pseudonymization note and, for the Anonymous Bank data, the required acknowledgement."""
    parts = []
    if inputs.pseudonymized:
        parts.append(t("dq.pseudonymized", lang))
    for note in inputs.notes:
        parts.append(f"*{note}*")
    if inputs.manifest.get("anonymous_bank"):
        parts.append(f"**{t('dq.acknowledgement', lang)}.** "
                     + t("dq.acknowledgement.anonymous_bank", lang))
    return Markdown("\n\n".join(parts))


def daily_calls(inputs: ReportInputs) -> pd.DataFrame:
    """Calls per day and outcome: ``date, outcome, calls``."""
    con = _con(inputs)
    try:
        return con.execute(
            "SELECT CAST(arrival_ts AS DATE) AS date, outcome, count(*) AS calls "
            "FROM calls GROUP BY ALL ORDER BY 1, 2").fetchdf()
    finally:
        con.close()


def daily_calls_figure(inputs: ReportInputs, lang: str = "en"):
    """Stacked area of calls offered per day by outcome."""
    import matplotlib.pyplot as plt

    d = daily_calls(inputs)
    wide = d.pivot_table(index="date", columns="outcome", values="calls", fill_value=0)
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    names = i18n.labels(lang, "outcome")
    ax.stackplot(pd.to_datetime(wide.index), wide.T.values,
                 labels=[names.get(str(c), str(c)) for c in wide.columns], alpha=0.85)
    ax.set_ylabel(t("col.calls", lang))
    ax.set_title(t("fig.daily", lang))
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    fig.autofmt_xdate()
    return figure(fig)


def kpi_overview(inputs: ReportInputs, lang: str = "en",
                 short_call_s: float = DEFAULT_SHORT_CALL_S) -> Table:
    """Center-level KPIs over the report's calls (``measure, value``), computed in DuckDB."""
    con = _con(inputs)
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
                   {"avg(CAST(resolved AS DOUBLE))" if "resolved" in cols else "NULL"} AS resolved,
                   {"avg(csat)" if "csat" in cols else "NULL"} AS csat,
                   count(DISTINCT agent_id) AS agents
            FROM calls"""
        r = con.execute(q).fetchdf().iloc[0]
    finally:
        con.close()
    rows = [
        (t("kpi.calls_offered", lang), f"{int(r['offered']):,}"),
        (t("kpi.calls_handled", lang), f"{int(r['handled']):,}"),
        (t("kpi.agents", lang), f"{int(r['agents']):,}"),
        (t("kpi.abandon_rate", lang), _pct(r["abandon"])),
        (t("kpi.aht", lang), _num(r["aht"], 0)),
        (t("kpi.talk", lang), _num(r["talk"], 0)),
        (t("kpi.short_share", lang, s=short_call_s), _pct(r["short"])),
        (t("kpi.transfer_rate", lang), _pct(r["transfer"])),
        (t("kpi.resolution", lang), _pct(r["resolved"])),
        (t("kpi.csat", lang), _num(r["csat"], 2)),
    ]
    return Table(pd.DataFrame(rows, columns=["measure", "value"]), lang)


def _pct(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{100 * float(v):.1f}%"


def _num(v, digits: int) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):,.{digits}f}"


def metric_definitions(lang: str = "en") -> Table | Markdown:
    """The panel's metrics: ``name, definition, unit, direction`` (from analysis.metrics)."""
    if not _importable("analysis.metrics", "describe"):
        return unavailable("metrics", lang)
    from ..metrics import describe

    d = describe()
    strings = i18n.STRINGS[lang]
    df = pd.DataFrame({
        "name": d["name"].astype(str),
        "definition": [strings.get(f"metric.{n}", desc) for n, desc in
                       zip(d["name"], d["description"], strict=True)],
        "unit": d["unit"].astype(str),
        "direction": [strings.get(f"direction.{x}", str(x)) for x in d["direction"]],
    })
    return Table(df, lang)


# --------------------------------------------------------------------------- cached analyses


def _cache(build_dir) -> Path:
    p = Path(build_dir) / "cache"
    p.mkdir(parents=True, exist_ok=True)
    return p


def panel(inputs: ReportInputs, build_dir, *, period: str = "month") -> pd.DataFrame | None:
    """The agent x period panel (cached); None when :mod:`analysis.panel` is missing."""
    if not _importable("analysis.panel", "build_panel"):
        return None
    path = _cache(build_dir) / f"panel-{period}.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    from ..panel import build_panel

    p = build_panel(str(inputs.calls_path), period=period)
    p.to_parquet(path, index=False)
    return p


class _Bundle:
    """Tables of a cached analysis, read back from ``<build_dir>/cache/<name>/``."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def _save_bundle(folder: Path, tables: dict, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if isinstance(df, pd.DataFrame):
            df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "meta.json").write_text(json.dumps(meta, default=str, indent=1), encoding="utf-8")


def _load_bundle(folder: Path) -> _Bundle | None:
    if not (folder / "meta.json").is_file():
        return None
    kw = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    for f in folder.glob("*.parquet"):
        kw[f.stem] = pd.read_parquet(f)
    return _Bundle(**kw)


def _model_config(inputs: ReportInputs):
    if not _importable("analysis.models.config", "load_model_config"):
        return None
    from ..models.config import load_model_config

    return load_model_config(inputs.config_path) if inputs.config_path else load_model_config()


def _flagged_agents(inputs: ReportInputs, build_dir) -> pd.DataFrame | None:
    g = gaming(inputs, build_dir)
    if g is None or not hasattr(g, "flags") or g.flags.empty:
        return None
    f = g.flags.assign(flagged=g.flags["flagged"].astype(bool))
    return f.groupby("agent_id", as_index=False)["flagged"].any()


def comparison(inputs: ReportInputs, build_dir):
    """Model comparison (cached): ``.scores``, ``.agreement``, ``.summary``; None if missing.

    ``flagged`` (agents the gaming checks flagged) is passed on when the gaming checks
    exist; with synthetic data, the planted gamers (``truth``) are used for gaming
    sensitivity instead, as they are known.
    """
    if not _importable("analysis.compare", "compare_models"):
        return None
    folder = _cache(build_dir) / "compare"
    cached = _load_bundle(folder)
    if cached is not None:
        return cached
    from ..compare import compare_models

    p = panel(inputs, build_dir)
    flagged = inputs.truth if inputs.truth is not None and "gaming" in inputs.truth else None
    if flagged is None:
        flagged = _flagged_agents(inputs, build_dir)
    if inputs.roster is not None and "agent_id" in inputs.roster:  # fairness by shift, team
        extra = [c for c in ("team", "shift", "site") if c in inputs.roster.columns
                 and c not in p.columns]
        if extra:
            r = inputs.roster[["agent_id", *extra]].drop_duplicates("agent_id")
            p = p.merge(r.assign(agent_id=r["agent_id"].astype(str)), on="agent_id",
                        how="left")
    res = compare_models(p, config=_model_config(inputs), ratings=inputs.ratings,
                         okr=inputs.okr, flagged=flagged)
    summary = getattr(res, "summary", {}) or {}
    _save_bundle(folder, {"scores": res.scores, "agreement": res.agreement},
                 {"summary": summary})
    return _load_bundle(folder)


def _truth_gamers(inputs: ReportInputs) -> pd.DataFrame | None:
    tr = inputs.truth
    if tr is None or "agent_id" not in tr.columns:
        return None
    col = next((c for c in ("behaviour", "behavior") if c in tr.columns), None)
    if "gaming" not in tr.columns and col is not None:
        from ..synth._spec import HONEST_BEHAVIOURS

        g = tr.loc[~tr[col].astype(str).isin(HONEST_BEHAVIOURS), ["agent_id"]]
    elif "gaming" in tr.columns:
        v = tr["gaming"]
        if v.dtype != bool:
            v = v.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
        g = tr.loc[v, ["agent_id"]]
    else:
        return None
    return g.drop_duplicates().reset_index(drop=True)


def known_gamers(inputs: ReportInputs) -> list[str]:
    """Agent ids planted as gamers in synthetic data (``truth``); empty otherwise."""
    g = _truth_gamers(inputs)
    return [] if g is None else g["agent_id"].astype(str).tolist()


def gaming(inputs: ReportInputs, build_dir):
    """Gaming checks (cached): ``.flags``, ``.changepoints``, ``.skipped``, ``.summary_text``."""
    if not _importable("analysis.gaming", "run_checks"):
        return None
    folder = _cache(build_dir) / "gaming"
    cached = _load_bundle(folder)
    if cached is not None:
        return cached
    from ..gaming import run_checks

    res = run_checks(str(inputs.calls_path), ratings=inputs.ratings, okr=inputs.okr,
                     roster=inputs.roster)
    skipped = res.skipped
    if isinstance(skipped, dict):
        skipped = pd.DataFrame({"check": list(skipped), "skipped_reason": list(skipped.values())})
    text_ = res.summary_text() if callable(getattr(res, "summary_text", None)) else ""
    cps = res.changepoints if isinstance(res.changepoints, pd.DataFrame) else pd.DataFrame()
    _save_bundle(folder, {"flags": res.flags, "changepoints": cps,
                          "skipped": skipped if isinstance(skipped, pd.DataFrame) else None},
                 {"summary_text": text_, "alpha": DEFAULT_ALPHA})
    b = _load_bundle(folder)
    for name in ("changepoints", "skipped"):
        if not hasattr(b, name):
            setattr(b, name, pd.DataFrame())
    return b


# --------------------------------------------------------------------------- model tables


def _model_label(model: str, lang: str) -> str:
    return i18n.STRINGS[lang].get(f"model.{model}", str(model))


def model_top_bottom(cmp, model: str, lang: str = "en", n: int = 5) -> Table | Markdown:
    """Top and bottom ``n`` agents of ``model`` in its latest period (``rank, agent_id, score``)."""
    s = cmp.scores
    s = s[s["model"].astype(str) == model]
    if s.empty or s["score"].isna().all():
        return Markdown(t("models.not_computable", lang, model=_model_label(model, lang),
                          reason=_reason(cmp, model)))
    last = s["period"].astype(str).max()
    s = s[s["period"].astype(str) == last].dropna(subset=["score"]).sort_values("rank")
    pick = pd.concat([s.head(n), s.tail(n)]).drop_duplicates(subset=["agent_id"])
    return Table(pick[["rank", "agent_id", "period", "score"]].reset_index(drop=True), lang,
                 digits=2)


def _value(v):
    """A summary entry's number: ``v`` itself, or ``v["value"]`` (None when missing)."""
    if isinstance(v, dict):
        v = v.get("value")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
        return float(v)
    return None


def kendall_w(cmp) -> float | None:
    """Kendall's W across all models (None when not computable)."""
    return _value((getattr(cmp, "summary", {}) or {}).get("kendall_w"))


def agreement_text(cmp, lang: str = "en") -> Markdown:
    """One sentence with Kendall's W."""
    w = kendall_w(cmp)
    return text("models.agreement.text", lang, w="–" if w is None else f"{w:.2f}")


def figure_labels(kind: str, lang: str = "en") -> dict:
    """``labels`` for :mod:`analysis.figures` (``kind``: agreement, scores,
    gaming_sensitivity): titles, axis texts and model names in ``lang``."""
    lab = dict(i18n.labels(lang, "model"))
    lab["title"] = t(f"fig.{kind}", lang)
    prefix = f"figlab.{kind}."
    lab.update({k[len(prefix):]: v for k, v in i18n.STRINGS[lang].items()
                if k.startswith(prefix)})
    return lab


def _reason(cmp, model: str) -> str:
    summ = getattr(cmp, "summary", {}) or {}
    info = (summ.get("models") or {}).get(model) or {}
    return str(info.get("reason") or "–") if isinstance(info, dict) else "–"


def model_properties(cmp, lang: str = "en") -> Table | Markdown:
    """Per model: stability, validity, gaming sensitivity, fairness (from the summary)."""
    summ = getattr(cmp, "summary", {}) or {}
    models = summ.get("models") or {}
    rows = []
    for name, info in models.items():
        if not isinstance(info, dict):
            continue
        row = {"model": _model_label(name, lang)}
        for k in ("stability", "validity", "gaming_sensitivity", "fairness"):
            v = _value(info.get(k))
            row[k] = np.nan if v is None else v
        rows.append(row)
    if not rows:
        return Markdown(t("common.none_found", lang))
    return Table(pd.DataFrame(rows), lang, digits=2)


def agreement_table(cmp, lang: str = "en") -> Table:
    """Pairwise Kendall's tau-b between models (``model_a, model_b, kendall_tau, p_value``)."""
    a = cmp.agreement.copy()
    for c in ("model_a", "model_b"):
        a[c] = a[c].astype(str).map(lambda m: _model_label(m, lang))
    return Table(a[["model_a", "model_b", "kendall_tau", "p_value"]], lang, digits=3)


def okr_table(inputs: ReportInputs, lang: str = "en") -> Table | Markdown:
    """Objectives and key results of the OKR file (``objective, key_result, metric, baseline,
    target``)."""
    doc = inputs.okr
    if not doc:
        return Markdown(t("common.no_input", lang, what=t("input.okr", lang)))
    objs = doc.get("objectives", doc) if isinstance(doc, dict) else doc
    rows = []
    if isinstance(objs, list):
        for o in objs:
            if not isinstance(o, dict):
                continue
            name = o.get("objective") or o.get("name") or o.get("title") or o.get("id") or ""
            for kr in o.get("key_results") or o.get("krs") or []:
                if isinstance(kr, dict):
                    rows.append({
                        "objective": str(name),
                        "key_result": str(kr.get("name") or kr.get("id") or kr.get("metric", "")),
                        "metric": str(kr.get("metric", "")),
                        "baseline": kr.get("baseline"),
                        "target": kr.get("target"),
                    })
    if not rows:
        return Markdown(t("common.none_found", lang))
    df = pd.DataFrame(rows).drop_duplicates()
    for c in ("baseline", "target"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return Table(df.head(30), lang, digits=2)


def ratings_by_group(inputs: ReportInputs, lang: str = "en",
                     min_group: int = MIN_360_GROUP) -> Table | Markdown:
    """360 ratings by rater group: ``rater_group, raters, mean_score, shown`` (share of
    ratee groups with at least ``min_group`` raters; self and supervisor always shown)."""
    r = inputs.ratings
    if r is None or r.empty:
        return Markdown(t("common.no_input", lang, what=t("input.ratings", lang)))
    need = {"ratee_id", "rater_id", "rater_group", "score"}
    if not need <= set(r.columns):
        return Markdown(t("common.none_found", lang))
    per = r.groupby(["rater_group", "ratee_id"]).agg(raters=("rater_id", "nunique"),
                                                      score=("score", "mean")).reset_index()
    small_ok = per["rater_group"].isin(["self", "supervisor", "customer"])
    per["shown"] = small_ok | (per["raters"] >= min_group)
    out = per.groupby("rater_group").agg(
        raters=("raters", "sum"),
        mean_score=("score", lambda s: float(s[per.loc[s.index, "shown"]].mean())
                    if per.loc[s.index, "shown"].any() else np.nan),
        shown=("shown", "mean"),
    ).reset_index()
    out["raters"] = out["raters"].astype("int64")
    names = i18n.labels(lang, "rater")
    out["rater_group"] = out["rater_group"].astype(str).map(lambda g: names.get(g, g))
    return Table(out, lang, digits=2)


# --------------------------------------------------------------------------- gaming tables


def _label_checks(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    names = i18n.labels(lang, "check")
    df = df.assign(check=df["check"].astype(str).map(lambda c: names.get(c, c)))
    if "period" in df.columns:  # a test over the whole window
        df["period"] = df["period"].astype(str).replace({"all": t("doc.all_periods", lang)})
    return df


def flags_table(g, lang: str = "en", limit: int = 40) -> Table | Markdown:
    """Flagged agent-periods, strongest evidence first."""
    f = g.flags
    if f.empty or not f["flagged"].astype(bool).any():
        return Markdown(t("common.none_found", lang))
    f = f[f["flagged"].astype(bool)].sort_values(["q_value", "p_value"])
    cols = [c for c in ("agent_id", "period", "check", "effect", "n", "k", "q_value")
            if c in f.columns]
    return Table(_label_checks(f[cols].head(limit).reset_index(drop=True), lang), lang,
                 digits=3)


def checks_table(g, lang: str = "en") -> Table | Markdown:
    """Per check: tests run, agent-periods flagged and the effect's unit
    (``check, tests, flags, effect_unit``)."""
    f = g.flags
    if f.empty:
        return Markdown(t("common.none_found", lang))
    out = f.groupby("check").agg(tests=("p_value", "size"),
                                 flags=("flagged", lambda s: int(s.astype(bool).sum())),
                                 effect_unit=("effect_unit", "first"))
    if lang != "en":  # the units are English text from the checks
        out = out.drop(columns="effect_unit")
    out = out.reset_index()
    out["tests"] = out["tests"].astype("int64")
    out["flags"] = out["flags"].astype("int64")
    return Table(_label_checks(out, lang), lang)


def changepoints_table(g, lang: str = "en", limit: int = 20) -> Table | Markdown:
    """Change points (``scope, metric, date, before, after, p_value``)."""
    cp = getattr(g, "changepoints", None)
    if cp is None or cp.empty:
        return Markdown(t("common.none_found", lang))
    cols = [c for c in ("scope", "metric", "date", "before", "after", "p_value") if c in cp.columns]
    return Table(cp[cols].sort_values(cols[-1]).head(limit).reset_index(drop=True), lang)


def skipped_table(g, lang: str = "en") -> Table | Markdown:
    """Checks that did not run and why (``check, skipped_reason``)."""
    s = getattr(g, "skipped", None)
    if s is None or s.empty:
        return Markdown(t("common.none_found", lang))
    s = s.rename(columns={"reason": "skipped_reason"})
    return Table(_label_checks(s, lang) if "check" in s.columns else s, lang)


def truth_recovery(g, inputs: ReportInputs, lang: str = "en") -> Markdown | None:
    """With synthetic data: planted gamers found and honest agents flagged (None otherwise)."""
    gamers = _truth_gamers(inputs)
    if gamers is None or inputs.truth is None:
        return None
    flagged = set(g.flags.loc[g.flags["flagged"].astype(bool), "agent_id"].astype(str))
    pos = set(gamers["agent_id"].astype(str))
    everyone = set(inputs.truth["agent_id"].astype(str))
    tp, fp = len(pos & flagged), len((everyone - pos) & flagged)
    return text("gaming.truth.text", lang, tp=tp, pos=len(pos), fp=fp, neg=len(everyone - pos))


def flags_figure(g, lang: str = "en"):
    """Bar chart of flagged agent-periods per check (None when nothing was tested)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    f = g.flags
    if f.empty:
        return None
    d = f.groupby("check")["flagged"].apply(lambda s: int(s.astype(bool).sum())).reset_index()
    labels = i18n.labels(lang, "check")
    d["check"] = d["check"].astype(str).map(lambda c: labels.get(c, c))
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(d) + 1.2))
    sns.barplot(d, y="check", x="flagged", ax=ax, color="#1f4e79")
    ax.set_xlabel(t("col.flags", lang))
    ax.set_ylabel("")
    ax.set_title(t("fig.flags", lang))
    return figure(fig)


# --------------------------------------------------------------------------- headlines


def headlines(inputs: ReportInputs, build_dir, lang: str = "en") -> list[str]:
    """The management summary's key findings, each a sentence; also written to
    ``<build_dir>/headlines.json`` for the slide deck. Only findings whose library piece
    exists are included."""
    con = _con(inputs)
    try:
        r = con.execute(
            "SELECT count(*), count(DISTINCT agent_id), count(DISTINCT queue), "
            "min(arrival_ts), max(arrival_ts) FROM calls").fetchone()
    finally:
        con.close()
    out = [t("summary.finding.volume", lang, calls=f"{r[0]:,}", agents=r[1], queues=r[2],
             start=pd.Timestamp(r[3]).strftime("%Y-%m-%d"),
             end=pd.Timestamp(r[4]).strftime("%Y-%m-%d"))]
    calls = next(x for x in inputs.manifest["inputs"] if x["kind"] == "calls")
    nq = int(calls.get("quarantined") or 0)
    if nq:
        share = nq / max(int(calls.get("rows_read") or 0), 1)
        out.append(t("summary.finding.quarantine", lang, n=f"{nq:,}", share=f"{100 * share:.2f}%"))
    cmp = comparison(inputs, build_dir)
    if cmp is not None:
        summ = getattr(cmp, "summary", {}) or {}
        w = kendall_w(cmp)
        if w is not None:
            level = "high" if w >= 0.7 else "mid" if w >= 0.4 else "low"
            out.append(t("summary.finding.agreement", lang, w=f"{w:.2f}",
                         level=t(f"summary.finding.agreement.{level}", lang)))
        sens = {m: _value(i.get("gaming_sensitivity"))
                for m, i in (summ.get("models") or {}).items() if isinstance(i, dict)}
        sens = {m: v for m, v in sens.items() if v is not None}
        if sens:
            best = min(sens, key=sens.get)
            out.append(t("summary.finding.recommend", lang, model=_model_label(best, lang)))
    g = gaming(inputs, build_dir)
    if g is not None:
        nflag = int(g.flags["flagged"].astype(bool).sum()) if not g.flags.empty else 0
        alpha = getattr(g, "alpha", DEFAULT_ALPHA)
        out.append(t("summary.finding.flags", lang, n=nflag, alpha=alpha) if nflag
                   else t("summary.finding.noflags", lang, alpha=alpha))
        cp = getattr(g, "changepoints", None)
        if cp is not None and not cp.empty and "date" in cp.columns:
            first = pd.to_datetime(cp["date"]).min().strftime("%Y-%m-%d")
            out.append(t("summary.finding.changepoints", lang, n=len(cp), first=first))
    (Path(build_dir) / "headlines.json").write_text(
        json.dumps({"lang": lang, "findings": out}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    return out
