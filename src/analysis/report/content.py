"""Report sections as tables, figures and markdown, for the notebook templates.

The notebooks only call these functions and display what they return; every text is
looked up in :mod:`analysis.report.i18n`. Expensive results (panel, model comparison,
gaming checks, recommendation, what-if) are cached in ``<build_dir>/cache/`` so the four
notebooks of a run compute them once (``build_report`` clears the cache when a run
starts). A section whose library piece is not installed says so (:func:`unavailable`)
instead of showing anything made up; a view whose inputs are missing says which.

The model-choice views (issue #8): :func:`recommendation_summary` opens the management
summary; :func:`recommendation_evidence`, :func:`tradeoff_view` (:data:`TRADEOFFS`) and
:func:`whatif_view` are sections of the model comparison, each with its figure function.
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

from ..config import DEFAULT_ALPHA, MIN_360_GROUP
from ..escape import sql_quote_path
from . import i18n
from .i18n import t, tm  # t: plain text (figures); tm: Markdown (fields literal)
from .inputs import ReportInputs
from .literal import MdRaw, html_text, md_plain, md_text

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
    "recommendation",
    "recommendation_summary",
    "recommendation_lead",
    "recommendation_table",
    "recommendation_figure",
    "recommendation_evidence",
    "evidence_table",
    "criteria_list",
    "pairwise_table",
    "indistinguishable_text",
    "TRADEOFFS",
    "tradeoff_data",
    "tradeoff_table",
    "tradeoff_view",
    "tradeoff_figure",
    "whatif_result",
    "whatif_view",
    "whatif_figure",
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


class MdCell:
    """A table cell written in Markdown by the report itself (e.g. a bold total): pandas
    keeps it as an object (a ``str`` subclass would be turned into plain ``str``)."""

    __slots__ = ("md",)

    def __init__(self, md: str) -> None:
        self.md = md

    def __str__(self) -> str:
        return md_plain(self.md)


def _fmt(v, digits: int) -> str:
    if isinstance(v, MdCell):
        return MdRaw(v.md)
    if isinstance(v, MdRaw):
        return v
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
                 caption: str | None = None, before: str = "", after: str = "") -> None:
        self.df = df
        self.lang = lang
        self.digits = digits
        self.caption = caption
        self.before = before  # Markdown written by the report (tm), shown above / below
        self.after = after

    def _cells(self) -> tuple[list[str], list[list[str]], list[bool]]:
        shown = i18n.translate_columns(self.df, self.lang)
        header = [str(c) for c in shown.columns]
        rows = [[_fmt(v, self.digits) for v in row] for row in shown.itertuples(index=False)]
        numeric = [pd.api.types.is_numeric_dtype(self.df[c]) and
                   not pd.api.types.is_bool_dtype(self.df[c]) for c in self.df.columns]
        return header, rows, numeric

    def _repr_markdown_(self) -> str:
        header, rows, numeric = self._cells()

        esc = md_text  # every cell and header is literal text (names are hostile)

        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join("--:" if n else ":--" for n in numeric) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        out = "\n".join(lines)
        if self.caption:
            out += f"\n\n: {md_text(self.caption)}"
        if self.before:
            out = f"{self.before}\n\n{out}"
        if self.after:
            out = f"{out}\n\n{self.after}"
        return out

    def _repr_html_(self) -> str:
        header, rows, _ = self._cells()
        th = "".join(f"<th>{html_text(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html_text(_unmark(c))}</td>" for c in r)
                       + "</tr>" for r in rows)
        cap = f"<caption>{html_text(self.caption)}</caption>" if self.caption else ""
        pre = f"<p>{html_text(md_plain(self.before))}</p>" if self.before else ""
        post = f"<p>{html_text(md_plain(self.after))}</p>" if self.after else ""
        return (f"{pre}<table>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
                f"{post}")


def _unmark(cell: str) -> str:
    """A cell's text without the report's own Markdown (``MdRaw`` bold), for HTML."""
    return md_plain(cell) if isinstance(cell, MdRaw) else cell


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
    mpl.rcParams["text.parse_math"] = False  # "$x$" in a name is drawn as typed
    mpl.rcParams["text.usetex"] = False


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
    return Markdown("#" * level + " " + tm(key, lang, **fields))


def text(key: str, lang: str = "en", **fields) -> Markdown:
    """A translated paragraph (fields shown literally)."""
    return Markdown(tm(key, lang, **fields))


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
    "recommend": "analysis.recommend",
    "tradeoffs": "analysis.tradeoffs",
    "whatif": "analysis.whatif",
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
    "recommend": "analysis.recommend",
    "tradeoffs": "analysis.tradeoffs",
    "whatif": "analysis.whatif",
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
            "input": tm(f"input.{r['kind']}", lang),
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
    df["reason"] = [_punct("pairs", lang).join(reason_text(r, lang) for r in x.split(";"))
                    for x in df["reason"].astype(str)]
    df["rows"] = df["rows"].astype("int64")
    share = df["rows"] / max(int(calls.get("rows_read") or 0), 1)
    df["share"] = [f"{100 * x:.2f}%" if x >= 0.0001 else "<0.01%" for x in share]
    return Table(df, lang, digits=4)


def reason_text(reason: str, lang: str = "en") -> str:
    """A quarantine reason code in plain words (``missing_agent_id`` -> "answered call
    without an agent"); ``unparseable_<column>`` and friends name the column."""
    strings = i18n.STRINGS[lang]
    if f"qreason.{reason}" in strings:
        return t(f"qreason.{reason}", lang)
    for pre in ("unparseable", "negative", "absurd"):
        if reason.startswith(pre + "_"):
            col = reason[len(pre) + 1:]
            return t(f"qreason.{pre}", lang, column=strings.get(f"field.{col}", col))
    return reason


def _con(inputs: ReportInputs) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    with contextlib.suppress(duckdb.Error):  # no progress widget in the executed notebook
        con.execute("SET enable_progress_bar = false")
    src = sql_quote_path(inputs.calls_path)
    con.execute(f"CREATE VIEW calls AS SELECT * FROM read_parquet({src})")
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
    strings = i18n.STRINGS[lang]
    df = pd.DataFrame({"column": [strings.get(f"field.{c}", c) for c in row.index.astype(str)],
                       "non_missing": [f"{100 * v:.1f}%" for v in row.values.astype(float)]})
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
        parts.append(tm("dq.pseudonymized", lang))
    if lang == "en":
        parts += [f"*{md_text(note)}*" for note in inputs.notes]  # the loader's notes: data
    elif inputs.notes:  # English data: counted here, kept in manifest.json
        parts.append("*" + tm("dq.notes.other", lang, n=len(inputs.notes)) + "*")
    if inputs.manifest.get("anonymous_bank"):
        parts.append(f"**{tm('dq.acknowledgement', lang)}.** "
                     + tm("dq.acknowledgement.anonymous_bank", lang))
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
                 short_call_s: float | None = None) -> Table:
    """Center-level KPIs over the report's calls (``measure, value``), computed in DuckDB;
    short calls by the run's threshold (``inputs.short_call_s``) unless given."""
    short_call_s = inputs.short_call_s if short_call_s is None else short_call_s
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
                   count(*) FILTER (WHERE outcome = 'transferred') AS n_transfer,
                   {"avg(CAST(resolved AS DOUBLE))" if "resolved" in cols else "NULL"} AS resolved,
                   {"avg(csat)" if "csat" in cols else "NULL"} AS csat,
                   count(DISTINCT agent_id) AS agents
            FROM calls"""
        r = con.execute(q).fetchdf().iloc[0]
    finally:
        con.close()
    rows = [
        (tm("kpi.calls_offered", lang), f"{int(r['offered']):,}"),
        (tm("kpi.calls_handled", lang), f"{int(r['handled']):,}"),
        (tm("kpi.agents", lang), f"{int(r['agents']):,}"),
        (tm("kpi.abandon_rate", lang), _pct(r["abandon"])),
        (tm("kpi.aht", lang), _num(r["aht"], 0)),
        (tm("kpi.talk", lang), _num(r["talk"], 0)),
        (tm("kpi.short_share", lang, s=short_call_s), _pct(r["short"])),
        # no transferred call at all: the source has no transfer field (the Anonymous
        # Bank logs, the PwC export), so the rate is absent, not 0%
        (tm("kpi.transfer_rate", lang), _pct(r["transfer"]) if r["n_transfer"] else "–"),
        (tm("kpi.resolution", lang), _pct(r["resolved"])),
        (tm("kpi.csat", lang), _num(r["csat"], 2)),
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
        "name": [strings.get(f"axis.{n}", strings.get(f"field.{n}", n)) for n in d["name"]],
        "definition": [strings.get(f"metric.{n}", desc) for n, desc in
                       zip(d["name"], d["description"], strict=True)],
        "unit": [strings.get(f"unit.{u}", str(u)) for u in d["unit"].astype(str)],
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
    path = _cache(build_dir) / f"panel-{period}-{inputs.short_call_s:g}s.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    from ..panel import build_panel

    p = build_panel(str(inputs.calls_path), period=period, short_call_s=inputs.short_call_s)
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
    sensitivity instead, as they are known. The whole
    :class:`~analysis.compare.Comparison` is kept too (``comparison.pkl``), for the
    recommendation, trade-off and what-if views.
    """
    if not _importable("analysis.compare", "compare_models"):
        return None
    import pickle

    folder = _cache(build_dir) / "compare"
    cached = _load_bundle(folder)
    if cached is not None and (folder / "comparison.pkl").is_file():
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
            attrs = p.attrs  # the panel's settings (period, data end) for the what-if
            p = p.merge(r.assign(agent_id=r["agent_id"].astype(str)), on="agent_id",
                        how="left")
            p.attrs = attrs
    res = compare_models(p, config=_model_config(inputs), ratings=inputs.ratings,
                         okr=inputs.okr, flagged=flagged)
    summary = getattr(res, "summary", {}) or {}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "comparison.pkl.part"
    with open(tmp, "wb") as fh:
        pickle.dump(res, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / "comparison.pkl")
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
                     roster=inputs.roster, options={"short_call_s": inputs.short_call_s})
    skipped = res.skipped
    if isinstance(skipped, dict):
        skipped = pd.DataFrame({"check": list(skipped), "skipped_reason": list(skipped.values())})
    text_ = res.summary_text() if callable(getattr(res, "summary_text", None)) else ""
    cps = res.changepoints if isinstance(res.changepoints, pd.DataFrame) else pd.DataFrame()
    agents = getattr(res, "agents", None)  # agent-level decisions, where the runner has them
    _save_bundle(folder, {"flags": res.flags, "changepoints": cps,
                          "skipped": skipped if isinstance(skipped, pd.DataFrame) else None,
                          "agents": agents if isinstance(agents, pd.DataFrame) else None},
                 {"summary_text": text_, "alpha": float(getattr(res, "alpha", DEFAULT_ALPHA)),
                  "agent_fdr": getattr(res, "agent_fdr", None)})
    b = _load_bundle(folder)
    for name in ("changepoints", "skipped"):
        if not hasattr(b, name):
            setattr(b, name, pd.DataFrame())
    return b


# --------------------------------------------------------------------------- model tables


def _model_label(model: str, lang: str) -> str:
    return i18n.STRINGS[lang].get(f"model.{model}", str(model))


def period_days(inputs: ReportInputs) -> dict[str, int]:
    """Days with calls per calendar month (``YYYY-MM``) of the report's calls."""
    con = _con(inputs)
    try:
        rows = con.execute("SELECT strftime(arrival_ts, '%Y-%m'), count(DISTINCT "
                           "CAST(arrival_ts AS DATE)) FROM calls GROUP BY 1").fetchall()
    finally:
        con.close()
    return {str(p): int(d) for p, d in rows}


def _ranked_period(periods: list[str], days: dict[str, int] | None) -> tuple[str, str]:
    """The period to rank on: the latest one with at least half the days of the fullest
    (a stub month at the end is skipped), and a note naming a partial one ("" if none)."""
    periods = sorted(periods)
    if not days or not all(p in days for p in periods):
        return periods[-1], ""
    full = max(days[p] for p in periods)
    pick = next(p for p in reversed(periods) if days[p] >= 0.5 * full)
    later = [p for p in periods if p > pick]
    return pick, (later[-1] if later else "")


def model_top_bottom(cmp, model: str, lang: str = "en", n: int = 5, *,
                     inputs: ReportInputs | None = None) -> Table | Markdown:
    """Top and bottom ``n`` agents of ``model`` in the latest full period (``rank,
    agent_id, score``); with ``inputs``, a partial last period (a stub month) is skipped
    and named."""
    s = cmp.scores
    s = s[s["model"].astype(str) == model]
    if s.empty or s["score"].isna().all():
        return Markdown(tm("models.not_computable", lang, model=_model_label(model, lang),
                          reason=_reason(cmp, model)))
    days = period_days(inputs) if inputs is not None else None
    scored = s.dropna(subset=["score"])["period"].astype(str).unique().tolist()
    last, stub = _ranked_period(scored, days)
    s = s[s["period"].astype(str) == last].dropna(subset=["score"]).sort_values("rank")
    pick = pd.concat([s.head(n), s.tail(n)]).drop_duplicates(subset=["agent_id"])
    note = (tm("models.top.partial", lang, period=last, stub=stub, days=days[stub])
            if stub and days else tm("models.top.period", lang, period=last,
                                     days=(days or {}).get(last, "–")))
    return Table(pick[["rank", "agent_id", "score"]].reset_index(drop=True), lang, digits=2,
                 before=note)


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
            v = info.get(k)
            if k == "fairness" and isinstance(v, dict) and "value" not in v:
                # by grouping (queue, shift): the largest group effect
                vals = [_value(x) for x in v.values()]
                vals = [x for x in vals if x is not None]
                v = max(vals) if vals else None
            v = _value(v)
            row[k] = np.nan if v is None else v
        rows.append(row)
    if not rows:
        return Markdown(tm("common.none_found", lang))
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
        return Markdown(tm("common.no_input", lang, what=tm("input.okr", lang)))
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
                        "metric": _metric_name(str(kr.get("metric", "")), lang),
                        "baseline": kr.get("baseline"),
                        "target": kr.get("target"),
                    })
    if not rows:
        return Markdown(tm("common.none_found", lang))
    df = pd.DataFrame(rows).drop_duplicates()
    for c in ("baseline", "target"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return Table(df.head(30), lang, digits=2)


def ratings_by_group(inputs: ReportInputs, lang: str = "en",
                     min_group: int | None = None) -> Table | Markdown:
    """360 ratings by rater group: ``rater_group, raters, mean_score, shown``.

    As in the 360 model: a ratee's group of an anonymous kind (``360.anonymous_groups``:
    peers, direct reports, customers) enters the mean only with at least ``min_group``
    raters in the period (``360.min_group`` of the configuration, never below
    :data:`~analysis.config.MIN_360_GROUP`); self-ratings are their own row; the
    supervisor, identified by design, is shown. ``shown`` is the share of ratee groups
    shown.
    """
    r = inputs.ratings
    if r is None or r.empty:
        return Markdown(tm("common.no_input", lang, what=tm("input.ratings", lang)))
    need = {"ratee_id", "rater_id", "rater_group", "score"}
    if not need <= set(r.columns):
        return Markdown(tm("common.none_found", lang))
    cfg = (_model_config(inputs) or {}).get("360") or {}
    asked = cfg.get("min_group", MIN_360_GROUP) if min_group is None else min_group
    min_group = max(int(asked), MIN_360_GROUP)
    anon = set(cfg.get("anonymous_groups", ["peer", "direct_report", "customer"]))
    keys = ["rater_group", "ratee_id"] + (["period"] if "period" in r.columns else [])
    per = r.groupby(keys).agg(raters=("rater_id", "nunique"),
                              score=("score", "mean")).reset_index()
    per["shown"] = ~per["rater_group"].isin(anon) | (per["raters"] >= min_group)
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
        df["period"] = df["period"].astype(str).replace({"all": tm("doc.all_periods", lang)})
    return df


def flags_table(g, lang: str = "en", limit: int = 40) -> Table | Markdown:
    """Flagged agent-periods, strongest evidence first."""
    f = g.flags
    if f.empty or not f["flagged"].astype(bool).any():
        return Markdown(tm("common.none_found", lang))
    f = f[f["flagged"].astype(bool)].sort_values(["q_value", "p_value"]).head(limit).copy()
    if "level" in f.columns:  # center-level rows name no agent
        f["agent_id"] = f["agent_id"].astype(str).where(
            f["level"].astype(str) != "center", tm("gaming.scope.center", lang))
    f["effect"] = [_effect_text(e, c, lang) for e, c in zip(f["effect"], f["check"],
                                                            strict=True)]
    cols = [c for c in ("agent_id", "period", "check", "effect", "n", "k", "q_value")
            if c in f.columns]
    out = f[cols].reset_index(drop=True)
    for c in ("n", "k"):
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    return Table(_label_checks(out, lang), lang, digits=3, after=tm("gaming.flags.note", lang))


def _effect_text(effect, check: str, lang: str) -> str:
    """An effect with its (short) unit: ``+67.5%``, ``+12.0 per 100 calls``."""
    if effect is None or pd.isna(effect):
        return "–"
    unit = i18n.STRINGS[lang].get(f"unitshort.{check}", "")
    return f"{float(effect):+.1f}{unit}"


def checks_table(g, lang: str = "en") -> Table | Markdown:
    """Per check: tests run, agent-periods flagged and the effect's unit
    (``check, tests, flags, effect_unit``)."""
    f = g.flags
    if f.empty:
        return Markdown(tm("common.none_found", lang))
    out = f.groupby("check").agg(tests=("p_value", "size"),
                                 flags=("flagged", lambda s: int(s.astype(bool).sum())),
                                 effect_unit=("effect_unit", "first"))
    out = out.reset_index()
    strings = i18n.STRINGS[lang]  # the units are English text from the checks: translated
    out["effect_unit"] = [strings.get(f"unit.{c}", u if lang == "en" else "–")
                          for c, u in zip(out["check"], out["effect_unit"], strict=True)]
    out["tests"] = out["tests"].astype("int64")
    out["flags"] = out["flags"].astype("int64")
    return Table(_label_checks(out, lang), lang)


def changepoints_table(g, lang: str = "en", limit: int = 20) -> Table | Markdown:
    """Change points significant at the run's alpha (``scope, metric, date, before, after,
    p_value``): the center's steps first, levels with their units."""
    from .changes import _fmt_level, _iso, _metric, significant_changepoints

    cp = significant_changepoints(g)
    if cp.empty:
        return Markdown(tm("gaming.changepoints.none", lang))
    cp = cp.head(limit)
    df = pd.DataFrame({
        "scope": [tm("gaming.scope.center", lang) if lv == "center" else str(a)
                  for lv, a in zip(cp["level"], cp["agent_id"], strict=True)],
        "metric": [_metric(str(m), lang) for m in cp["metric"]],
        "date": [_iso(d) for d in cp["date"]],
        "before": [_fmt_level(str(m), v) for m, v in zip(cp["metric"], cp["before"],
                                                         strict=True)],
        "after": [_fmt_level(str(m), v) for m, v in zip(cp["metric"], cp["after"],
                                                        strict=True)],
        "p_value": pd.to_numeric(cp["p_value"], errors="coerce"),
    })
    return Table(df, lang)


def skipped_table(g, lang: str = "en") -> Table | Markdown:
    """Checks that did not run and why (``check, skipped_reason``)."""
    s = getattr(g, "skipped", None)
    if s is None or s.empty:
        return Markdown(tm("common.none_found", lang))
    s = s.rename(columns={"reason": "skipped_reason"})
    s = s.assign(skipped_reason=[skip_reason_text(str(x), lang) for x in s["skipped_reason"]])
    return Table(_label_checks(s, lang) if "check" in s.columns else s, lang)


#: the gaming runner's reasons for not running a check (English data) -> catalog keys
_SKIP_PATTERNS = (
    ("no change point", "skip.no_changepoint"),
    ("is zero on every handled call", "skip.zero_column"),
    ("360 ratings", "skip.no_ratings"),
    ("no okr", "skip.no_okr"),
    ("no key result with per-agent targets", "skip.no_kr_targets"),
    ("enough calls in two periods", "skip.two_periods"),
    ("csat is missing", "skip.no_csat"),
    ("'transferred'", "skip.no_transfers"),
)


def skip_reason_text(reason: str, lang: str = "en") -> str:
    """Why a check did not run, in ``lang`` and in words (no column names); an unknown
    reason is kept as the runner wrote it in English, summarised in other languages."""
    low = reason.lower()
    for pattern, key in _SKIP_PATTERNS:
        if pattern in low:
            col = reason.split(" ", 1)[0]
            return t(key, lang, column=i18n.STRINGS[lang].get(f"field.{col}", col))
    return reason if lang == "en" else t("skip.other", lang)


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


def headlines(inputs: ReportInputs, build_dir, lang: str = "en", *,
              with_recommendation: bool = True) -> list[str]:
    """The management summary's key findings, each a sentence, the recommendation first;
    all of them are written to ``<build_dir>/headlines.json`` for the slide deck. Only
    findings whose library piece exists are included.

    ``with_recommendation=False`` leaves the recommendation's findings out of the list
    returned (for a page that states the recommendation just above)."""
    con = _con(inputs)
    try:
        r = con.execute(
            "SELECT count(*), count(DISTINCT agent_id), count(DISTINCT queue), "
            "min(arrival_ts), max(arrival_ts) FROM calls").fetchone()
    finally:
        con.close()
    rec_lines = _recommendation_headlines(inputs, build_dir, lang)
    out = list(rec_lines)
    out.append(tm("summary.finding.volume", lang, calls=f"{r[0]:,}", agents=r[1], queues=r[2],
                 start=pd.Timestamp(r[3]).strftime("%Y-%m-%d"),
                 end=pd.Timestamp(r[4]).strftime("%Y-%m-%d")))
    calls = next(x for x in inputs.manifest["inputs"] if x["kind"] == "calls")
    nq = int(calls.get("quarantined") or 0)
    if nq:
        share = nq / max(int(calls.get("rows_read") or 0), 1)
        q = inputs.quarantine
        top = (q.sort_values("rows", ascending=False).iloc[0] if q is not None and not q.empty
               else None)
        out.append(tm("summary.finding.quarantine", lang, n=f"{nq:,}",
                      share=f"{100 * share:.1f}%",
                      reason="–" if top is None else reason_text(str(top["reason"]), lang),
                      k="–" if top is None else f"{int(top['rows']):,}"))
    cmp = comparison(inputs, build_dir)
    if cmp is not None:
        w = kendall_w(cmp)
        if w is not None:
            level = "high" if w >= 0.7 else "mid" if w >= 0.4 else "low"
            out.append(tm("summary.finding.agreement", lang, w=f"{w:.2f}",
                         level=tm(f"summary.finding.agreement.{level}", lang)))
    # the gaming finding (agents named, dates) is on page 1 itself (findings.page_one)
    (Path(build_dir) / "headlines.json").write_text(
        json.dumps({"lang": lang, "findings": [md_plain(x) for x in out]}, ensure_ascii=False,
                   indent=1),  # plain text for the deck; the report shows the Markdown
        encoding="utf-8")
    return out if with_recommendation else out[len(rec_lines):]


# --------------------------------------------------------------------------- model choice
# The recommendation (analysis.recommend), the trade-offs (analysis.tradeoffs) and the
# what-if (analysis.whatif). They need the whole Comparison (results, panel, flags), which
# comparison() keeps in the cache next to its tables; each result is cached in turn, so
# the notebooks of a run compute it once.

#: every criterion key the recommendation has used, in the order the report lists them
#: (older keys gaming/separation/data, interface C's gaming_resistance/agreement/coverage)
CRITERIA_ORDER = ("validity", "gaming_resistance", "gaming", "stability", "fairness",
                  "agreement", "separation", "coverage", "data")


def _criteria(rec) -> list[str]:
    """The criteria this recommendation has (known ones in report order, then any new)."""
    have = list(dict.fromkeys([*map(str, rec.evidence["criterion"].unique()),
                               *map(str, rec.weights)]))
    return [c for c in CRITERIA_ORDER if c in have] + [c for c in have
                                                       if c not in CRITERIA_ORDER]
_FULL: dict[str, object] = {}  # comparison.pkl already read by this process


def _full_comparison(inputs: ReportInputs, build_dir):
    """The :class:`analysis.compare.Comparison` behind :func:`comparison` (None if missing)."""
    import pickle

    path = _cache(build_dir) / "compare" / "comparison.pkl"
    if comparison(inputs, build_dir) is None or not path.is_file():
        return None
    key = f"{path}|{path.stat().st_mtime_ns}"
    if key not in _FULL:
        with open(path, "rb") as fh:  # written by comparison() into this build folder
            _FULL[key] = pickle.load(fh)
    return _FULL[key]


_PUNCT = {"en": {"sentence": " ", "list": ", ", "colon": ": ", "pairs": "; "},
          "zh-CN": {"sentence": "", "list": "、", "colon": "：", "pairs": "；"}}


def _punct(kind: str, lang: str) -> str:
    """Joining punctuation: Chinese runs sentences together and lists with 、."""
    return _PUNCT.get(lang, _PUNCT["en"])[kind]


def _pct_text(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{100 * float(v):.0f}%"


def _crit_label(c: str, lang: str) -> str:
    key = f"crit.{c}"
    return tm(key, lang) if key in i18n.STRINGS[lang] else c


def recommendation(inputs: ReportInputs, build_dir):
    """The models ranked for this center (cached): an
    :class:`analysis.recommend.Recommendation`, or None when the comparison or the
    recommendation module is missing."""
    if not _importable("analysis.recommend", "recommend"):
        return None
    from ..recommend import Recommendation, recommend

    folder = _cache(build_dir) / "recommend"
    b = _load_bundle(folder)
    if b is None:
        comp = _full_comparison(inputs, build_dir)
        if comp is None:
            return None
        import inspect

        # gaming resistance is measured by planting behaviours into the center's own calls
        kw = ({"calls": str(inputs.calls_path)}
              if "calls" in inspect.signature(recommend).parameters else {})
        rec = recommend(comp, **kw)
        as_dict = rec.to_dict() if callable(getattr(rec, "to_dict", None)) else None
        _save_bundle(folder, {"ranking": rec.ranking, "evidence": rec.evidence,
                              "pairwise": rec.pairwise, "requirements": rec.requirements},
                     {"weights": rec.weights, "not_assessed": rec.not_assessed,
                      "ci": rec.ci, "n_boot": rec.n_boot, "as_dict": as_dict})
        b = _load_bundle(folder)
    return Recommendation(ranking=b.ranking, evidence=b.evidence, pairwise=b.pairwise,
                          weights=b.weights, not_assessed=b.not_assessed,
                          requirements=getattr(b, "requirements", None), ci=b.ci,
                          n_boot=b.n_boot)


def _num2(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):.2f}"


def _interval(lo, hi) -> str:
    return "–" if lo is None or pd.isna(lo) or pd.isna(hi) else f"[{lo:.2f}, {hi:.2f}]"


def _tied_lines(rec, lang: str) -> list[str]:
    """One sentence per model the data cannot tell apart from the top one."""
    r = rec.ranking
    comp = r[r["computable"].astype(bool) & r["overall"].notna()]
    if comp.empty:
        return []
    top = str(comp.iloc[0]["model"])
    pct = f"{rec.ci:.0%}"
    out = []
    pw = rec.pairwise
    for m in comp["model"].iloc[1:].astype(str):
        row = pw[((pw["model_a"] == top) & (pw["model_b"] == m))
                 | ((pw["model_a"] == m) & (pw["model_b"] == top))]
        if row.empty or bool(row["distinguishable"].iloc[0]):
            continue
        row = row.iloc[0]
        sgn = 1 if row["model_a"] == top else -1
        lo, hi = sorted((sgn * row["diff_lo"], sgn * row["diff_hi"]))
        out.append(tm("rec.tied", lang, a=_model_label(top, lang), b=_model_label(m, lang),
                     d=f"{sgn * row['diff']:.2f}", ci=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))
    return out


def _na_reason(c: str, why: str, lang: str) -> str:
    if why.startswith("not assessable for every model"):
        inner = why[why.find("(") + 1: why.rfind(")")] if "(" in why else ""
        models = _punct("list", lang).join(_model_label(m.strip(), lang)
                                           for m in inner.split(",") if m.strip())
        return tm("rec.na.partial", lang, models=models)
    key = f"rec.na.{c}"
    return tm(key, lang) if key in i18n.STRINGS[lang] else why


def _status_text(row, lang: str) -> str:
    """Why a model is not computable ("" when it is)."""
    if bool(row["computable"]):
        return ""
    reason = str(row["status"]).removeprefix("not computable:").strip()
    if "360 ratings" in reason or "--ratings" in reason:
        reason = t("rec.reason.no_ratings", lang)
    return t("rec.not_computable", lang, reason=reason)  # a table cell: literal text


def _missing_text(row, lang: str) -> str:
    """The inputs a model needs that the center lacks, named in ``lang`` ("" if none)."""
    if not row.get("missing_data"):
        return ""
    strings = i18n.STRINGS[lang]
    names = [strings.get(f"metric.{x}", strings.get(f"input.{x}", x))
             for x in str(row["missing_data"]).split(", ")]
    return t("rec.missing", lang, inputs=_punct("list", lang).join(names))


def recommendation_lead(rec, lang: str = "en") -> list[Markdown]:
    """The recommendation in words: the model, its score, interval and P(best); every
    model the data cannot tell apart from it; criteria not assessed."""
    r = rec.ranking
    comp = r[r["computable"].astype(bool) & r["overall"].notna()]
    if comp.empty:
        return [text("rec.none", lang)]
    top = comp.iloc[0]
    name = _model_label(str(top["model"]), lang)
    if pd.notna(top["overall_lo"]):
        lead = tm("rec.lead", lang, model=name, overall=f"{top['overall']:.2f}",
                 ci=f"{rec.ci:.0%}", lo=f"{top['overall_lo']:.2f}",
                 hi=f"{top['overall_hi']:.2f}", p=_pct_text(top["p_best"]),
                 n_boot=f"{int(rec.n_boot):,}")
    else:
        lead = tm("rec.lead.plain", lang, model=name, overall=f"{top['overall']:.2f}")
    tied = _tied_lines(rec, lang)
    parts = [lead] + (tied if tied else ([tm("rec.ahead", lang, model=name)]
                                         if len(comp) > 1 else []))
    out = [Markdown(_punct("sentence", lang).join(parts))]
    na = _not_assessed_text(rec, lang)
    return out + ([Markdown(na)] if na else [])


def _not_assessed_text(rec, lang: str) -> str:
    """One line naming the criteria left out, and why (empty when all were assessed)."""
    items = [tm("rec.not_assessed.item", lang, criterion=_crit_label(c, lang),
               why=_na_reason(c, str(why), lang))
             for c, why in (rec.not_assessed or {}).items()]
    return ("*" + tm("rec.not_assessed", lang, items=MdRaw(_punct("pairs", lang).join(items))) + "*"
            if items else "")


def _metric_name(metric: str, lang: str) -> str:
    """A metric's human name (``aht_s`` -> "Handle time (s)")."""
    strings = i18n.STRINGS[lang]
    for k in (f"axis.{metric}", f"field.{metric}", f"metric.{metric}"):
        if k in strings:
            return strings[k]
    return metric


def _strong_weak(rec, model: str, lang: str) -> tuple[str, str]:
    ev = rec.evidence
    # a criterion on which every model scores the same separates nothing: never a
    # model's strongest or weakest point
    spread = ev[ev["score"].notna()].groupby("criterion")["score"].agg(lambda x: x.max() - x.min())
    flat = set(spread[spread < 0.01].index)
    e = ev[(ev["model"] == model) & ev["weight"].gt(0) & ev["score"].notna()
           & ~ev["criterion"].isin(flat)]
    if len(e) < 2:
        return "", ""
    return (_crit_label(e.loc[e["score"].idxmax(), "criterion"], lang),
            _crit_label(e.loc[e["score"].idxmin(), "criterion"], lang))


def recommendation_table(rec, lang: str = "en") -> Table:
    """The ranking: ``rank, model, overall, interval, p_best, tied_with_best, strongest,
    weakest, note`` (note, when any: why a model is not computable)."""
    rows = []
    for _, x in rec.ranking.iterrows():
        strong, weak = _strong_weak(rec, str(x["model"]), lang)
        ok = bool(x["computable"]) and pd.notna(x["overall"])
        rows.append({"rank": int(x["rank"]), "model": _model_label(str(x["model"]), lang),
                     "overall": float(x["overall"]) if ok else np.nan,
                     "interval": _interval(x["overall_lo"], x["overall_hi"]) if ok else "–",
                     "p_best": _pct_text(x["p_best"]) if ok else "–",
                     "tied_with_best": bool(x["tied_with_best"]) and ok,
                     "strongest": strong, "weakest": weak, "note": _status_text(x, lang)})
    df = pd.DataFrame(rows)
    if not df["note"].astype(bool).any():
        df = df.drop(columns="note")
    return Table(df, lang, digits=2)


def recommendation_summary(inputs: ReportInputs, build_dir, lang: str = "en", *,
                           lead: bool = True) -> list:
    """The recommendation in words (``lead``; page 1 states it as a decision instead), the
    ranking, and what the what-if did to it (or why there is no recommendation)."""
    if not available().get("compare"):
        return [unavailable("compare", lang)]
    rec = recommendation(inputs, build_dir)
    if rec is None:
        return [unavailable("recommend", lang)]
    out: list = recommendation_lead(rec, lang) if lead or rec.best is None else []
    if rec.best is not None:
        out.append(recommendation_table(rec, lang))
        w = whatif_result(inputs, build_dir)
        line = _whatif_sentence(w, lang)
        if line:
            out.append(Markdown(line))
    return out


def recommendation_figure(inputs: ReportInputs, build_dir, lang: str = "en"):
    """:func:`analysis.figures.plot_recommendation` in ``lang`` (empty without a ranking)."""
    rec = recommendation(inputs, build_dir) if available().get("compare") else None
    if rec is None or rec.best is None or not _importable("analysis.figures",
                                                          "plot_recommendation"):
        return Markdown("")
    from ..figures import plot_recommendation

    lab = figure_labels("recommendation", lang)
    lab.update({c: _crit_label(c, lang) for c in rec.weights})
    return figure(plot_recommendation(rec, labels=lab))


def evidence_table(rec, lang: str = "en") -> Table:
    """Criteria (rows) by model (columns): each model's 0-1 score and its interval, and
    the weight the criterion carries."""
    ev = rec.evidence
    models = [m for m in rec.ranking["model"].astype(str) if m in set(ev["model"])]
    rows = []
    for c in _criteria(rec):
        row = {"criterion": _crit_label(c, lang), "weight": f"{rec.weights.get(c, 0):.0%}"}
        for m in models:
            e = ev[(ev["model"] == m) & (ev["criterion"] == c)]
            if e.empty or pd.isna(e["score"].iloc[0]) or rec.weights.get(c, 0) == 0:
                cell = tm("rec.not_assessed_cell", lang) if c in rec.not_assessed else "–"
            elif pd.notna(e["score_lo"].iloc[0]) and c not in ("data", "coverage"):
                cell = (f"{e['score'].iloc[0]:.2f} "
                        f"{_interval(e['score_lo'].iloc[0], e['score_hi'].iloc[0])}")
            else:
                cell = f"{e['score'].iloc[0]:.2f}"
            row[_model_label(m, lang)] = cell
        rows.append(row)
    r = rec.ranking.set_index("model")
    total = {"criterion": MdCell("**" + tm("crit.overall", lang) + "**"), "weight": "100%"}
    for m in models:
        total[_model_label(m, lang)] = MdCell(
            f"**{r.loc[m, 'overall']:.2f}** "
            + md_text(_interval(r.loc[m, 'overall_lo'], r.loc[m, 'overall_hi'])))
    rows.append(total)
    return Table(pd.DataFrame(rows), lang)


def criteria_list(rec, lang: str = "en") -> Markdown:
    """What each criterion measures, and the weights (bullets)."""
    colon = _punct("colon", lang)
    crits = _criteria(rec)
    items = [f"**{_crit_label(c, lang)}**{colon}{tm(f'crit.{c}.def', lang)}"
             for c in crits if f"crit.{c}.def" in i18n.STRINGS[lang]]
    weights = _punct("list", lang).join(f"{_crit_label(c, lang)} {rec.weights.get(c, 0):.0%}"
                                        for c in crits if rec.weights.get(c, 0) > 0)
    return Markdown(bullets(items).text + "\n\n" + tm("rec.weights", lang, weights=weights))


def pairwise_table(rec, lang: str = "en") -> Table | Markdown:
    """Every pair of scored models: difference in overall score, its interval, P(A better),
    and whether the data tells them apart."""
    pw = rec.pairwise
    if pw is None or pw.empty:
        return Markdown(tm("common.none_found", lang))
    df = pd.DataFrame({
        "model_a": pw["model_a"].astype(str).map(lambda m: _model_label(m, lang)),
        "model_b": pw["model_b"].astype(str).map(lambda m: _model_label(m, lang)),
        "diff": [_num2(v) for v in pw["diff"]],
        "interval": [_interval(a, b) for a, b in zip(pw["diff_lo"], pw["diff_hi"],
                                                     strict=True)],
        "p_a_better": [_pct_text(v) for v in pw["p_a_better"]],
        "distinguishable": [tm("value.yes" if v else "value.no", lang)
                            for v in pw["distinguishable"].astype(bool)],
    })
    return Table(df, lang, digits=2)


def indistinguishable_text(rec, lang: str = "en") -> Markdown:
    """Plainly: which pairs of models the data cannot tell apart."""
    pw = rec.pairwise
    if pw is None or pw.empty:
        return Markdown("")
    same = pw[~pw["distinguishable"].astype(bool)]
    if same.empty:
        return text("rec.all_distinguishable", lang)
    sep = _punct("pairs", lang)
    pairs = sep.join(f"{_model_label(a, lang)} – {_model_label(b, lang)}"
                     for a, b in zip(same["model_a"], same["model_b"], strict=True))
    return text("rec.indistinguishable", lang, pairs=pairs)


def recommendation_evidence(inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """The evidence behind the ranking: criteria by model with intervals, what the criteria
    measure and weigh, and the pairwise differences (or why there is none)."""
    if not available().get("compare"):
        return [unavailable("compare", lang)]
    rec = recommendation(inputs, build_dir)
    if rec is None:
        return [unavailable("recommend", lang)]
    if rec.best is None:
        return [text("rec.none", lang)]
    out = [text("rec.evidence.intro", lang, ci=f"{rec.ci:.0%}", n_boot=f"{int(rec.n_boot):,}"),
           evidence_table(rec, lang)]
    lacks = [f"{_model_label(str(x['model']), lang)}{_punct('colon', lang)}"
             f"{_missing_text(x, lang)}" for _, x in rec.ranking.iterrows()
             if _missing_text(x, lang)]
    if lacks:  # what the data-coverage criterion counts
        out.append(bullets(lacks))
    na = _not_assessed_text(rec, lang)
    out += [Markdown(na)] if na else []
    out += [heading("rec.criteria", lang, level=3), criteria_list(rec, lang),
            heading("rec.pairwise", lang, level=3), indistinguishable_text(rec, lang),
            pairwise_table(rec, lang)]
    return out


# ---- trade-offs

TRADEOFFS = ("efficiency", "service", "satisfaction", "process")
_TRADE_KEYS = {"efficiency": "eff", "service": "svc", "satisfaction": "sat", "process": "proc"}
_TRADE_FIG = {"efficiency": "tradeoff_efficiency", "service": "tradeoff_service",
              "satisfaction": "tradeoff_satisfaction", "process": "tradeoff_process"}


def _min_calls(inputs: ReportInputs) -> int:
    cfg = _model_config(inputs) or {}
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
    if not _importable("analysis.tradeoffs", "service_cost"):
        return None, "unavailable"
    from .. import tradeoffs as tr

    p = panel(inputs, build_dir)
    if p is None:
        return None, "unavailable"
    if kind == "efficiency":
        if not _has(p, "aht_s"):
            return None, "trade.na.aht"
        q = tr.efficiency_quality(p, min_calls=_min_calls(inputs))
        return (q, None) if len(q) else (None, "trade.na.eff")
    if kind == "process":
        if not _has(p, "qa_mean"):
            return None, "trade.na.qa"
        q = tr.results_vs_process(p, min_calls=_min_calls(inputs))
        return (q, None) if len(q) else (None, "trade.na.eff")
    comp = _full_comparison(inputs, build_dir)
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


def _reading(lo, hi, lang: str) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "–"
    if lo > 0:
        return tm("trade.reading.together", lang)
    if hi < 0:
        return tm("trade.reading.tradeoff", lang)
    return tm("trade.reading.unclear", lang)


def _axis(metric: str, lang: str) -> str:
    key = f"axis.{metric}"
    return t(key, lang) if key in i18n.STRINGS[lang] else metric


def tradeoff_table(q: pd.DataFrame, view: str, lang: str = "en") -> Table:
    """Per pair of measures (the view's x measure against each y, named by y): agents,
    signed Spearman rho with its 95% interval, a reading (go together / trade off / no
    clear relation) and the agents in each quadrant."""
    from ..tradeoffs import QUADRANTS, tradeoff_correlations

    c = tradeoff_correlations(q)
    df = pd.DataFrame({
        "against": [_axis(y, lang) for y in c["y_metric"]],
        "agents": c["n"].astype("int64"),
        "rho": c["rho_better"].astype(float),
        "interval": [_interval(a, b) for a, b in zip(c["ci_lo"], c["ci_hi"], strict=True)],
        "reading": [_reading(a, b, lang) for a, b in zip(c["ci_lo"], c["ci_hi"], strict=True)],
    })
    for k in QUADRANTS:
        df[tm(f"quad.{view}.{k}", lang)] = c[k].astype("int64")
    return Table(df, lang, digits=2)


def _service_table(cost: pd.DataFrame, lang: str) -> Table:
    df = pd.DataFrame({
        "model": cost["model"].astype(str).map(lambda m: _model_label(m, lang)),
        "agents_rewarded": cost["agents_rewarded"].astype("int64"),
        "aht_s": cost["aht_s"].round(0),
        "agents_needed": cost["agents_needed"].astype("int64"),
        "agents_vs_center": [f"{v:.0%}" for v in cost["agents_vs_center"]],
        "service_level": [_pct_text(v) for v in cost["service_level_at_center_staff"]],
        "asa_s": [("∞" if not np.isfinite(v) else f"{v:.0f}")
                  for v in cost["asa_s_at_center_staff"]],
        "occupancy": [_pct_text(v) for v in cost["occupancy"]],
    })
    return Table(df, lang, digits=0)


def tradeoff_view(kind: str, inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """A trade-off view's heading, text and table, or its heading and one line saying why
    it is not available (``kind`` one of :data:`TRADEOFFS`)."""
    key = _TRADE_KEYS[kind]
    out: list = [heading(f"trade.{key}.title", lang, level=3)]
    data, why = tradeoff_data(kind, inputs, build_dir)
    if data is None:
        if why == "unavailable":
            return out + [unavailable("tradeoffs", lang)]
        return out + [Markdown("*" + tm("trade.na", lang, why=tm(why, lang)) + "*")]
    if kind == "service":
        cost = data["cost"]
        center = cost[cost["model"] == "center"].iloc[0]
        out.append(text("trade.svc.intro", lang, day=tm(f"dow.{data['dow']}", lang),
                        hour=f"{data['hour']:02d}", cph=f"{data['calls_per_hour']:,.0f}",
                        sl=f"{data['target_sl']:.0%}", s=f"{data['target_s']:.0f}",
                        n=int(center["agents_needed"]), aht=f"{center['aht_s']:.0f}"))
        out += [_service_table(cost, lang), text("trade.svc.note", lang)]
        return out
    out.append(text(f"trade.{key}.intro", lang))
    q = data["quadrants"] if kind == "satisfaction" else data
    out.append(tradeoff_table(q, key, lang))
    if kind == "satisfaction":
        per = data["per_agent"].dropna(subset=["csat_mean"])
        known = per[per["left"].notna()]
        gone = known["left"].astype(bool)
        if gone.any() and not gone.all():  # leavers and stayers: compare their customers
            comp = _full_comparison(inputs, build_dir)
            end = (comp.panel.attrs.get("ccpm_panel", {}) or {}).get("data_end_ts")
            out.append(text("trade.sat.left", lang, k=int(gone.sum()), n=len(known),
                            date=pd.Timestamp(end).strftime("%Y-%m-%d") if end else "–",
                            a=f"{known.loc[gone, 'csat_mean'].mean():.2f}",
                            b=f"{known.loc[~gone, 'csat_mean'].mean():.2f}"))
    return out


def _flag_ids(inputs: ReportInputs, build_dir) -> list[str]:
    """Agents to ring in the figures: the planted gamers (synthetic), else those flagged."""
    known = known_gamers(inputs)
    if known:
        return known
    f = _flagged_agents(inputs, build_dir) if available().get("gaming") else None
    return [] if f is None else f.loc[f["flagged"], "agent_id"].astype(str).tolist()


def tradeoff_figure(kind: str, inputs: ReportInputs, build_dir, lang: str = "en"):
    """The view's figure (quadrants, or staffing by model); empty when not available."""
    data, _ = tradeoff_data(kind, inputs, build_dir)
    if data is None or not _importable("analysis.figures", "plot_quadrants"):
        return Markdown("")
    from .. import figures as fg

    if kind == "service":
        lab = figure_labels("tradeoff_service", lang)
        return figure(fg.plot_service_cost(data["cost"], labels=lab))
    key = _TRADE_KEYS[kind]
    q = data["quadrants"] if kind == "satisfaction" else data
    lab = {"title": t(f"fig.{_TRADE_FIG[kind]}", lang),
           **{k: t(f"quad.{key}.{k}", lang) for k in ("both", "x_only", "y_only", "neither")},
           "flagged": t("figlab.quadrants.flagged", lang),
           "none": t("figlab.quadrants.none", lang)}
    lab.update({m: _axis(m, lang) for m in set(q["x_metric"]) | set(q["y_metric"])})
    return figure(fg.plot_quadrants(q, labels=lab, flagged=_flag_ids(inputs, build_dir)))


# ---- what-if


def whatif_result(inputs: ReportInputs, build_dir):
    """The what-if (cached): ``.status`` (``ok``, or a reason key: no gaming checks, no
    flags, nothing removable), ``.models``, ``.removed``, ``.skipped``, the recommendation
    before and after (``.best_before``, ``.best_after``, ``.ranking_after``,
    ``.pairwise_after``); None when the comparison or the what-if module is missing.

    Re-scores with the gaming checks' flags (``analysis.whatif.whatif``); the
    recommendation before is the report's own (:func:`recommendation`), the one after
    keeps resistance to gaming as measured on all calls."""
    if not (_importable("analysis.whatif", "whatif") and available().get("compare")):
        return None
    folder = _cache(build_dir) / "whatif"
    b = _load_bundle(folder)
    if b is not None:
        return b
    comp = _full_comparison(inputs, build_dir)
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
    _save_bundle(folder, tables, meta)
    return _load_bundle(folder)


def _whatif_sentence(w, lang: str, *, headline: bool = False) -> str | None:
    if w is None or getattr(w, "status", "") != "ok" or not w.best_before or not w.best_after:
        return None
    n = f"{int(w.removed['calls_removed'].sum()):,}"
    before, after = _model_label(w.best_before, lang), _model_label(w.best_after, lang)
    was_tied = w.best_after in set(getattr(w, "tied_before", None) or [])
    if headline:
        if w.best_before == w.best_after:
            return tm("summary.finding.whatif.same", lang, n=n, model=after)
        return tm("summary.finding.whatif.changed_tied" if was_tied
                 else "summary.finding.whatif.changed", lang, n=n, before=before, after=after)
    lead = tm("whatif.removed", lang, n=n, agents=w.removed["agent_id"].nunique(),
             share=_pct1(w.removed["calls_removed"].sum() / max(w.handled_calls or 1, 1)))
    if w.best_before == w.best_after:
        verdict = tm("whatif.stays", lang, model=after)
    else:  # a change between models the data could not tell apart is no real change
        verdict = tm("whatif.changes_tied" if was_tied else "whatif.changes", lang,
                    before=before, after=after)
    return lead + _punct("sentence", lang) + verdict


def _pct1(v) -> str:
    return f"{100 * float(v):.1f}%"


def _whatif_rec(w):
    from ..recommend import Recommendation

    return Recommendation(ranking=w.ranking_after, evidence=w.evidence_after,
                          pairwise=w.pairwise_after, weights=w.weights_after,
                          not_assessed=w.not_assessed_after, ci=w.ci, n_boot=w.n_boot)


def whatif_view(inputs: ReportInputs, build_dir, lang: str = "en") -> list:
    """The what-if: what was removed (by check), the checks that remove nothing, each
    model before and after, and the recommendation before and after; or one line saying
    why it is not available."""
    w = whatif_result(inputs, build_dir)
    if w is None:
        return [unavailable("whatif", lang)]
    out: list = []
    if w.status != "ok":
        out.append(Markdown("*" + tm("trade.na", lang, why=tm(w.status, lang)) + "*"))
    else:
        out.append(text("whatif.intro", lang))
        out.append(Markdown(_whatif_sentence(w, lang) or ""))
        out += [Markdown(s) for s in _tied_lines(_whatif_rec(w), lang)]
        rm = w.removed
        by = rm.groupby("check", sort=True).agg(rule=("rule", "first"),
                                                agents=("agent_id", "nunique"),
                                                agent_periods=("period", "size"),
                                                calls_removed=("calls_removed", "sum"))
        by = by.reset_index()
        by["what"] = by["rule"].map(lambda r: tm(f"whatif.rule.{r}", lang)
                                    if f"whatif.rule.{r}" in i18n.STRINGS[lang] else r)
        by = by[["check", "what", "agents", "agent_periods", "calls_removed"]]
        for c in ("agents", "agent_periods", "calls_removed"):
            by[c] = by[c].astype("int64")
        out += [heading("whatif.by_check", lang, level=3), Table(_label_checks(by, lang), lang)]
    sk = getattr(w, "skipped", None)
    if sk is not None and len(sk):
        sk = sk.assign(reason=[tm(f"whatif.skip.{c}", lang)
                               if f"whatif.skip.{c}" in i18n.STRINGS[lang] else r
                               for c, r in zip(sk["check"], sk["reason"], strict=True)])
        sk = sk.rename(columns={"reason": "skipped_reason"})
        sk["n_flags"] = sk["n_flags"].astype("int64")
        out += [heading("whatif.skipped", lang, level=3),
                Table(_label_checks(sk[["check", "n_flags", "skipped_reason"]], lang), lang)]
    if w.status == "ok":
        m = w.models
        df = pd.DataFrame({
            "model": m["model"].astype(str).map(lambda x: _model_label(x, lang)),
            "overall_before": m["overall_before"], "overall_after": m["overall_after"],
            "rank_before": m["rank_before"].astype("Int64"),
            "rank_after": m["rank_after"].astype("Int64"),
            "flagged_pct_before": m["flagged_pct_before"].astype(float).round(0).astype("Int64"),
            "flagged_pct_after": m["flagged_pct_after"].astype(float).round(0).astype("Int64"),
            "kendall_tau_agents": m["kendall_tau_agents"],
        })
        out += [heading("whatif.models", lang, level=3), Table(df, lang, digits=2),
                text("whatif.models.note", lang)]
    return out


def whatif_figure(inputs: ReportInputs, build_dir, lang: str = "en"):
    """Overall score and rank of each model before and after (empty when not available)."""
    w = whatif_result(inputs, build_dir)
    if w is None or w.status != "ok" or not _importable("analysis.figures",
                                                        "plot_rank_changes"):
        return Markdown("")
    from ..figures import plot_rank_changes

    return figure(plot_rank_changes(w.models, labels=figure_labels("whatif", lang)))


def _recommendation_headlines(inputs: ReportInputs, build_dir, lang: str) -> list[str]:
    """The recommended model (and the models it cannot be told from), and whether it
    survives removing the flagged calls."""
    if not available().get("compare"):
        return []
    rec = recommendation(inputs, build_dir)
    if rec is None or rec.best is None:
        return []
    r = rec.ranking
    top = r.iloc[0]
    tied = [_model_label(str(m), lang) for m in r.loc[r["tied_with_best"].astype(bool)
                                                      & r["computable"].astype(bool),
                                                      "model"].iloc[1:]]
    sep = _punct("list", lang)
    out = [tm("summary.finding.recommended_tied", lang, model=_model_label(rec.best, lang),
             others=sep.join(tied)) if tied else
           tm("summary.finding.recommended", lang, model=_model_label(rec.best, lang),
             p=_pct_text(top["p_best"]))]
    line = _whatif_sentence(whatif_result(inputs, build_dir), lang, headline=True)
    return out + ([line] if line else [])
