"""The data-quality section (``data_quality.ipynb``) and the headline numbers: which data
the report was built from, what was set aside, coverage, calls per day, the center's KPIs,
the metric definitions and the software."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import i18n, results
from ..blocks import Markdown, Table, figure, text
from ..i18n import t, tm
from ..inputs import ReportInputs, input_groups
from ..literal import md_text
from .labels import library_text, num, pct, punct, reason_text, unavailable

__all__ = ["inputs_table", "quarantine_table", "coverage_table", "software_table",
           "provenance", "daily_calls_figure", "daily_segments", "kpi_overview", "metric_definitions"]


def inputs_table(inputs: ReportInputs, lang: str = "en") -> Table:
    """Inputs: kind, file, SHA-256 (first 12 hex digits), rows read, valid, quarantined.

    An input of several files lists each file with its checksum, then one row with the
    rows read, valid and quarantined over all of them."""
    counts = ("rows_read", "valid", "quarantined")
    rows = []
    for kind, recs in input_groups(inputs.manifest):
        label = tm(f"input.{kind}", lang)
        several = len(recs) > 1
        for r in recs:
            rows.append({"input": label, "file": r["file"], "sha256": r["sha256"][:12],
                         **{c: None if several else r.get(c) for c in counts}})
        if several:
            rows.append({"input": label, "file": tm("dq.inputs.all_files", lang, n=len(recs)),
                         "sha256": None, **{c: recs[0].get(c) for c in counts}})
    df = pd.DataFrame(rows)
    for c in counts:
        df[c] = df[c].astype("Int64")
    return Table(df, lang)


def quarantine_table(inputs: ReportInputs, lang: str = "en") -> Table | Markdown:
    """Quarantined rows by reason (``reason, rows, share`` of rows read)."""
    q = inputs.quarantine
    if q is None or q.empty:
        return text("dq.quarantine.none", lang)
    calls = next(r for r in inputs.manifest["inputs"] if r["kind"] == "calls")
    df = q[["reason", "rows"]].copy()
    df["reason"] = [punct("pairs", lang).join(reason_text(r, lang) for r in x.split(";"))
                    for x in df["reason"].astype(str)]
    df["rows"] = df["rows"].astype("int64")
    share = df["rows"] / max(int(calls.get("rows_read") or 0), 1)
    df["share"] = [f"{100 * x:.2f}%" if x >= 0.0001 else "<0.01%" for x in share]
    return Table(df, lang, digits=4)


def coverage_table(inputs: ReportInputs, lang: str = "en") -> Table:
    """Share of non-missing values per contract column (``column, non_missing``)."""
    cov = results.center(inputs).coverage
    strings = i18n.STRINGS[lang]
    df = pd.DataFrame({"column": [strings.get(f"field.{c}", c) for c in cov["column"]],
                       "non_missing": [f"{100 * v:.1f}%" for v in cov["non_missing"]]})
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
    if i18n.reads_source(lang):
        parts += [f"*{md_text(note)}*" for note in inputs.notes]  # the loader's notes: data
    elif inputs.notes:  # the library's English: counted here, kept in manifest.json
        parts.append("*" + tm("dq.notes.other", lang, n=len(inputs.notes)) + "*")
    if inputs.manifest.get("anonymous_bank"):
        # the label's own ending: "Acknowledgement." in English, "致谢：" (not "致谢.")
        parts.append(f"**{tm('dq.acknowledgement', lang)}{t('punct.label_end', lang)}** "
                     + tm("dq.acknowledgement.anonymous_bank", lang))
    return Markdown("\n\n".join(parts))


#: A run of more days than this without a single call is missing data (a month whose file
#: the source lacks), drawn as a gap; shorter runs are days the center was closed (0 calls).
MAX_CLOSED_DAYS = 7


def daily_segments(daily: pd.DataFrame, max_closed_days: int = MAX_CLOSED_DAYS) -> list:
    """Calls per day and outcome (``date, outcome, calls``) as wide tables (index: every
    day, columns: outcomes) split where more than ``max_closed_days`` days in a row have
    no call; the days missing within a segment are 0. The Anonymous Bank logs have no
    August: one area across it drew a month of calls that never were."""
    wide = daily.pivot_table(index="date", columns="outcome", values="calls", fill_value=0)
    if wide.empty:
        return []
    wide.index = pd.to_datetime(wide.index)
    wide = wide.sort_index()
    gap = wide.index.to_series().diff().dt.days.fillna(1).to_numpy() - 1
    starts = np.flatnonzero(gap > max_closed_days)
    out = []
    for part in np.split(np.arange(len(wide)), starts):
        w = wide.iloc[part]
        days = pd.date_range(w.index.min(), w.index.max(), freq="D")
        out.append(w.reindex(days, fill_value=0))
    return out


def daily_calls_figure(inputs: ReportInputs, lang: str = "en"):
    """Stacked area of calls offered per day by outcome (a gap where the data have none)."""
    import matplotlib.pyplot as plt

    parts = daily_segments(results.center(inputs).daily)
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    names = i18n.labels(lang, "outcome")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, wide in enumerate(parts):
        ax.stackplot(wide.index, wide.T.values, alpha=0.85,
                     colors=colors[: wide.shape[1]],
                     labels=[names.get(str(c), str(c)) for c in wide.columns] if j == 0 else ())
    ax.set_ylabel(t("col.calls", lang))
    ax.set_title(t("fig.daily", lang))
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    fig.autofmt_xdate()
    return figure(fig)


def kpi_overview(inputs: ReportInputs, lang: str = "en",
                 short_call_s: float | None = None) -> Table:
    """Center-level KPIs over the report's calls (``measure, value``;
    :func:`analysis.report.results.center_kpis`), short calls by the run's threshold
    (``inputs.short_call_s``) unless given."""
    if short_call_s is None or float(short_call_s) == float(inputs.short_call_s):
        r = results.center(inputs).kpis
    else:  # another threshold than the run's: not in the bundle
        r = results.center_kpis(inputs, short_call_s)
    rows = [
        (tm("kpi.calls_offered", lang), f"{int(r['offered']):,}"),
        (tm("kpi.calls_handled", lang), f"{int(r['handled']):,}"),
        (tm("kpi.agents", lang), f"{int(r['agents']):,}"),
        (tm("kpi.abandon_rate", lang), pct(r["abandon"])),
        (tm("kpi.aht", lang), num(r["aht"], 0)),
        (tm("kpi.talk", lang), num(r["talk"], 0)),
        (tm("kpi.short_share", lang, s=r["short_call_s"]), pct(r["short"])),
        # no transferred call at all: the source has no transfer field (the Anonymous
        # Bank logs, the PwC export), so the rate is absent, not 0%
        (tm("kpi.transfer_rate", lang), pct(r["transfer"]) if r["n_transfer"] else "–"),
        (tm("kpi.resolution", lang), pct(r["resolved"])),
        (tm("kpi.csat", lang), num(r["csat"], 2)),
    ]
    return Table(pd.DataFrame(rows, columns=["measure", "value"]), lang)


def metric_definitions(lang: str = "en") -> Table | Markdown:
    """The panel's metrics: ``name, definition, unit, direction`` (from analysis.metrics)."""
    if not results.importable("analysis.metrics", "describe"):
        return unavailable("metrics", lang)
    from ...metrics import describe

    d = describe()
    strings = i18n.STRINGS[lang]
    df = pd.DataFrame({
        "name": [strings.get(f"axis.{n}", strings.get(f"field.{n}", n)) for n in d["name"]],
        "definition": [strings.get(f"metric.{n}") or library_text(desc, lang) for n, desc in
                       zip(d["name"], d["description"], strict=True)],
        "unit": [strings.get(f"unit.{u}", str(u)) for u in d["unit"].astype(str)],
        "direction": [strings.get(f"direction.{x}", str(x)) for x in d["direction"]],
    })
    return Table(df, lang)
