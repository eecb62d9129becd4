"""Figures that compare the models (seaborn on the Agg backend).

Every function returns a :class:`matplotlib.figure.Figure` and accepts
``labels``, a dict overriding any of its titles and axis labels (keys listed in
each docstring), so reports can be written in other languages, e.g.
``labels={"title": "模型一致性 (Kendall tau-b)"}``. For Chinese text, a CJK font
must be installed (``make system-deps``).
"""

from __future__ import annotations

import matplotlib


def _inline_backend() -> bool:
    """Is a Jupyter kernel showing figures inline (ipykernel sets ``MPLBACKEND``)?"""
    try:
        backend = matplotlib.rcParams._get_backend_or_none()  # without resolving "auto"
    except AttributeError:  # pragma: no cover - older matplotlib
        backend = None
    import os

    return "inline" in str(backend or os.environ.get("MPLBACKEND", ""))


# Agg for the CLI and the report; in a notebook the inline backend is left alone, so that
# importing this module does not stop the notebook's own seaborn plots from showing
if not _inline_backend():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if _inline_backend():
    # load the inline backend now: it registers the notebook's display of a Figure, which
    # this module's figures (built outside pyplot, see _subplots) need to be shown
    try:
        plt._get_backend_mod()
    except Exception:  # pragma: no cover - a private helper; the figures still return
        pass

__all__ = ["plot_agreement_heatmap", "plot_scores_by_model", "plot_gaming_sensitivity",
           "plot_recommendation", "plot_quadrants", "plot_service_cost", "plot_rank_changes",
           "plot_agent_decision", "neg_log10_capped", "daily_calls", "plot_daily_calls",
           "plot_calls_per_period", "tested_agent_means", "plot_flagged_rates"]

_CJK = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
        "SimHei", "Microsoft YaHei", "DejaVu Sans"]


def _subplots(*args, **kwargs):
    """``plt.subplots`` without pyplot's figure manager: the figure is returned, not also
    shown by a notebook's inline backend at the end of the cell (so it appears once)."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(*args, **kwargs)


def _labels(defaults: dict, labels: dict | None) -> dict:
    out = dict(defaults)
    out.update(labels or {})
    if any(any(ord(ch) > 0x2E80 for ch in str(v)) for v in out.values()):
        plt.rcParams["font.sans-serif"] = _CJK + list(plt.rcParams["font.sans-serif"])
        plt.rcParams["axes.unicode_minus"] = False
    return out


def plot_agreement_heatmap(agreement: pd.DataFrame, *, labels: dict | None = None,
                           value: str = "kendall_tau"):
    """Heatmap of pairwise agreement (Kendall's tau-b) between models.

    Parameters
    ----------
    agreement : DataFrame
        From :func:`analysis.compare.agreement_table` (``model_a, model_b, kendall_tau``).
    labels : dict, optional
        Keys ``title``, ``colorbar``, and model names (to translate them).
    """
    lab = _labels({"title": "Agreement between models (Kendall tau-b)",
                   "colorbar": "tau-b"}, labels)
    models = list(dict.fromkeys(list(agreement["model_a"]) + list(agreement["model_b"])))
    m = pd.DataFrame(np.eye(len(models)), index=models, columns=models)
    for _, r in agreement.iterrows():
        m.loc[r["model_a"], r["model_b"]] = r[value]
        m.loc[r["model_b"], r["model_a"]] = r[value]
    names = [lab.get(x, x) for x in models]
    m.index, m.columns = names, names
    fig, ax = _subplots(figsize=(1.2 * len(models) + 2.5, 1.0 * len(models) + 1.8))
    sns.heatmap(m.astype(float), annot=True, fmt=".2f", vmin=-1, vmax=1, cmap="vlag",
                square=True, ax=ax, cbar_kws={"label": lab["colorbar"]})
    ax.set_title(lab["title"])
    fig.tight_layout()
    return fig


def plot_scores_by_model(scores: pd.DataFrame, *, labels: dict | None = None,
                         flagged=None):
    """Each agent's percentile rank under each model (mean over periods), one line per
    agent; agents in ``flagged`` (ids) highlighted.

    Parameters
    ----------
    scores : DataFrame
        ``agent_id, period, model, score``.
    labels : dict, optional
        Keys ``title``, ``x``, ``y``, ``flagged``, ``other`` and model names.
    """
    lab = _labels({"title": "Agents' standing under each model", "x": "model",
                   "y": "percentile rank (100 = best)", "flagged": "flagged",
                   "other": "other agents"}, labels)
    s = scores.dropna(subset=["score"]).copy()
    g = s.groupby(["model", "period"])["score"]
    n = g.transform("size")
    s["pct"] = 100 * (g.rank(method="average") - 1) / (n - 1).where(n > 1)
    per = s.groupby(["agent_id", "model"], as_index=False)["pct"].mean()
    models = list(dict.fromkeys(scores["model"]))
    per["model_label"] = per["model"].map(lambda x: lab.get(x, x))
    order = [lab.get(x, x) for x in models]
    fl = set(str(a) for a in (flagged or []))
    per["group"] = np.where(per["agent_id"].isin(fl), lab["flagged"], lab["other"])
    fig, ax = _subplots(figsize=(1.6 * len(models) + 3, 4.5))
    for agent, d in per.groupby("agent_id"):
        d = d.set_index("model_label").reindex(order)
        hot = agent in fl
        ax.plot(range(len(order)), d["pct"], color="crimson" if hot else "0.7",
                lw=1.6 if hot else 0.6, alpha=0.9 if hot else 0.5, zorder=3 if hot else 1)
    # a percentile needs at least two agents in a model-period; with fewer there is nothing to box
    ranked = per.dropna(subset=["pct"])
    if ranked.empty:
        ax.set_xticks(range(len(order)), order)
        ax.text(0.5, 0.5, lab.get("too_few", "fewer than two agents scored per period"),
                ha="center", va="center", transform=ax.transAxes, color="0.4")
    else:
        sns.boxplot(data=ranked, x="model_label", y="pct", order=order, ax=ax, color="white",
                    width=0.35, fliersize=0, boxprops={"zorder": 2, "alpha": 0.6})
    ax.set_xlabel(lab["x"])
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    ax.set_ylim(-3, 103)
    if fl:
        ax.plot([], [], color="crimson", label=lab["flagged"])
        ax.plot([], [], color="0.7", label=lab["other"])
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_gaming_sensitivity(summary: dict, *, labels: dict | None = None,
                            own_baseline: bool = False):
    """Mean percentile of flagged agents minus 50, per model, with its CI.

    Parameters
    ----------
    summary : dict
        ``Comparison.summary`` (uses ``models.<m>.gaming_sensitivity``).
    labels : dict, optional
        Keys ``title``, ``x``, ``y``, ``none`` and model names.
    own_baseline : bool
        Plot ``vs_own_baseline`` instead: flagged agents' percentile while gaming minus
        before it.
    """
    x_default = ("percentile while gaming - percentile before" if own_baseline
                 else "mean percentile of flagged agents - 50")
    lab = _labels({"title": "How far flagged agents rise in each ranking",
                   "x": x_default, "y": "model",
                   "none": "no gaming flags: nothing to show"}, labels)
    rows = []
    for name, m in (summary.get("models") or {}).items():
        gs = m.get("gaming_sensitivity") or {}
        if own_baseline:
            gs = gs.get("vs_own_baseline") or {}
        if gs.get("value") is None:
            continue
        lo, hi = gs["ci"] if gs.get("ci") else (np.nan, np.nan)
        rows.append({"model": lab.get(name, name), "value": gs["value"], "lo": lo, "hi": hi})
    fig, ax = _subplots(figsize=(6, 0.6 * max(len(rows), 2) + 1.5))
    if not rows:
        ax.text(0.5, 0.5, lab["none"], ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(lab["title"])
        return fig
    d = pd.DataFrame(rows)
    sns.barplot(data=d, y="model", x="value", ax=ax, color="steelblue", orient="h")
    y = np.arange(len(d))
    _interval_bars(ax, y, d["lo"].to_numpy(float), d["hi"].to_numpy(float))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(-100 if own_baseline else -50, 100 if own_baseline else 50)
    ax.set_xlabel(lab["x"])
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    fig.tight_layout()
    return fig


def _interval_bars(ax, y, lo, hi) -> None:
    """Horizontal interval bars from ``lo`` to ``hi`` at heights ``y``, with end caps.

    Drawn from the interval's ends, not as errors around the estimate: a percentile
    bootstrap interval need not contain the point estimate (matplotlib's ``xerr`` then
    gets a negative length and raises). Rows with a missing end are skipped.
    """
    y, lo, hi = (np.asarray(v, dtype=float) for v in (y, lo, hi))
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return
    ax.hlines(y[ok], lo[ok], hi[ok], color="black", lw=1)
    ax.plot(np.r_[lo[ok], hi[ok]], np.r_[y[ok], y[ok]], "|", color="black", ms=8)


def plot_recommendation(rec, *, labels: dict | None = None):
    """The models ranked for this center: overall score with its interval and P(best)
    (left), and each criterion's 0-1 score (right; blank = not assessed).

    Parameters
    ----------
    rec : analysis.recommend.Recommendation
    labels : dict, optional
        Keys ``title``, ``overall``, ``criteria``, ``p_best`` (a format with ``{p}``),
        ``not_computable``, criterion names and model names.
    """
    lab = _labels({"title": "Which model suits this center", "overall": "overall score",
                   "criteria": "criterion score (1 = best)", "p_best": "best in {p:.0%}",
                   "not_computable": "not computable"}, labels)
    r = rec.ranking.reset_index(drop=True)
    names = [lab.get(m, m) for m in r["model"]]
    crit = [c for c in rec.weights]
    fig, (ax, ax2) = _subplots(1, 2, figsize=(9, 0.55 * len(r) + 2),
                                  gridspec_kw={"width_ratios": [1, 1.15]})
    y = np.arange(len(r))[::-1]
    ok = r["overall"].notna().to_numpy()
    _interval_bars(ax, y, r["overall_lo"].to_numpy(float), r["overall_hi"].to_numpy(float))
    ax.plot(r["overall"][ok], y[ok], "o", color="steelblue", zorder=3)
    for yi, (_, row) in zip(y, r.iterrows(), strict=True):
        if pd.notna(row["overall"]):
            ax.annotate(lab["p_best"].format(p=row["p_best"]), (row["overall"], yi),
                        xytext=(6, 6), textcoords="offset points", fontsize=9)
        else:
            ax.annotate(lab["not_computable"], (0.02, yi), fontsize=8, color="0.4",
                        va="center")
    ax.set_yticks(y, names)
    ax.set_ylim(-0.5, len(r) - 0.5)  # rows level with the heatmap's
    ax.set_xlim(0, 1)
    ax.set_xlabel(lab["overall"])
    ax.set_title(lab["title"])
    m = r.set_index("model")[crit].astype(float)
    m.index = names
    m.columns = [lab.get(c, c) for c in crit]
    sns.heatmap(m, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="RdYlGn", ax=ax2,
                annot_kws={"fontsize": 8}, cbar_kws={"label": lab["criteria"]})
    ax2.set_yticklabels([])
    ax2.set_ylabel("")
    ax2.tick_params(axis="x", rotation=35)
    for tl in ax2.get_xticklabels():
        tl.set_horizontalalignment("right")
        tl.set_rotation_mode("anchor")
    fig.tight_layout()
    return fig


def plot_quadrants(q: pd.DataFrame, *, labels: dict | None = None, flagged=None):
    """Agents in quadrants (one panel per ``y_metric``), split at the center's medians.

    Parameters
    ----------
    q : DataFrame
        From :func:`analysis.tradeoffs.efficiency_quality`,
        :func:`~analysis.tradeoffs.results_vs_process` or
        :func:`~analysis.tradeoffs.quadrants` (``x_metric, x, y_metric, y, x_median,
        y_median, quadrant, calls``).
    labels : dict, optional
        Keys ``title``, ``both``, ``x_only``, ``y_only``, ``neither``, ``flagged``,
        ``none`` and metric names (axis labels).
    flagged : list of str, optional
        Agent ids to ring in red (e.g. flagged for gaming).
    """
    lab = _labels({"title": "Trade-off per agent (split at the center's medians)",
                   "both": "better on both", "x_only": "better on x only",
                   "y_only": "better on y only", "neither": "better on neither",
                   "flagged": "flagged", "none": "no data for this view"}, labels)
    ys = list(dict.fromkeys(q["y_metric"])) if len(q) else []
    n = max(len(ys), 1)  # narrower panels when there are several: readable when scaled
    fig, axes = _subplots(1, n, figsize=(4.6 if n == 1 else 3.5 * n, 4.0 if n == 1 else 3.6),
                             squeeze=False)
    if not ys:
        axes[0, 0].text(0.5, 0.5, lab["none"], ha="center", va="center",
                        transform=axes[0, 0].transAxes)
        axes[0, 0].set_axis_off()
        fig.suptitle(lab["title"])
        return fig
    palette = {"both": "seagreen", "x_only": "darkorange", "y_only": "royalblue",
               "neither": "firebrick"}
    fl = set(str(a) for a in (flagged or []))
    for ax, ym in zip(axes[0], ys, strict=True):
        d = q[q["y_metric"] == ym]
        size = 20 + 80 * d["calls"] / max(float(d["calls"].max()), 1.0)
        for quad in palette:  # the same legend order in every panel
            g = d[d["quadrant"] == quad]
            ax.scatter(g["x"], g["y"], s=size[g.index], color=palette[quad],
                       alpha=0.75, label=lab.get(quad, quad), edgecolor="white", lw=0.5)
        hot = d[d["agent_id"].isin(fl)]
        if len(hot):
            ax.scatter(hot["x"], hot["y"], s=120, facecolor="none", edgecolor="red", lw=1.4,
                       label=lab["flagged"])
        ax.axvline(d["x_median"].iloc[0], color="0.3", lw=0.8, ls="--")
        ax.axhline(d["y_median"].iloc[0], color="0.3", lw=0.8, ls="--")
        xm = d["x_metric"].iloc[0]
        ax.set_xlabel(lab.get(xm, xm))
        ax.set_ylabel(lab.get(ym, ym))
    handles, names = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:  # a ring for flagged agents may appear in a later panel only
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.suptitle(lab["title"])
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, names, loc="lower center", ncols=min(len(names), 5), fontsize=9,
               frameon=False)
    return fig


def plot_service_cost(cost: pd.DataFrame, *, labels: dict | None = None):
    """Agents needed (Erlang C) at the handle time each model rewards, with the service
    level the center's own staffing would give.

    Parameters
    ----------
    cost : DataFrame
        From :func:`analysis.tradeoffs.service_cost`.
    labels : dict, optional
        Keys ``title``, ``x``, ``y``, ``sl`` (a format with ``{sl}`` and ``{aht}``) and
        model names.
    """
    lab = _labels({"title": "Staffing implied by the handle time each model rewards",
                   "x": "agents needed (Erlang C)", "y": "model",
                   "sl": "AHT {aht:.0f} s; SL at center staffing {sl:.0%}"}, labels)
    d = cost.reset_index(drop=True)
    fig, ax = _subplots(figsize=(7, 0.55 * max(len(d), 2) + 1.5))
    names = [lab.get(m, m) for m in d["model"]]
    colors = ["0.55" if m == "center" else "steelblue" for m in d["model"]]
    ax.barh(names[::-1], d["agents_needed"][::-1], color=colors[::-1])
    for i, (_, row) in enumerate(d[::-1].iterrows()):
        ax.annotate(lab["sl"].format(sl=row["service_level_at_center_staff"],
                                     aht=row["aht_s"]),
                    (row["agents_needed"], i), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.set_xlim(0, float(d["agents_needed"].max()) * 1.6 if len(d) else 1)
    ax.set_xlabel(lab["x"])
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    fig.tight_layout()
    return fig


def plot_rank_changes(models: pd.DataFrame, *, labels: dict | None = None):
    """What-if: each model's overall score and rank before and after removing the calls
    the gaming checks flagged (a slope chart).

    Parameters
    ----------
    models : DataFrame
        From :func:`analysis.whatif.whatif` (``WhatIf.models``: ``model,
        overall_before, overall_after, rank_before, rank_after``).
    labels : dict, optional
        Keys ``title``, ``before``, ``after``, ``y`` and model names.
    """
    lab = _labels({"title": "Recommendation before and after removing flagged calls",
                   "before": "as recorded", "after": "flagged calls removed",
                   "y": "overall score"}, labels)
    d = models.dropna(subset=["overall_before", "overall_after"]).reset_index(drop=True)
    fig, ax = _subplots(figsize=(5.5, 4.5))
    ys = d[["overall_before", "overall_after"]].to_numpy(float)
    lo, hi = (float(ys.min()), float(ys.max())) if len(d) else (0.0, 1.0)
    gap = 0.06 * max(hi - lo, 0.05)  # labels at least this far apart (no overlap)
    order = np.argsort(d["overall_after"].to_numpy(float))
    pos = d["overall_after"].to_numpy(float).copy()
    for a, b in zip(order[:-1], order[1:], strict=True):
        pos[b] = max(pos[b], pos[a] + gap)
    for i, r in d.iterrows():
        line = ax.plot([0, 1], [r["overall_before"], r["overall_after"]], marker="o")[0]
        ax.annotate(f"{lab.get(r['model'], r['model'])} ({int(r['rank_before'])}"
                    f"\u2192{int(r['rank_after'])})", (1, r["overall_after"]),
                    xytext=(1.08, pos[i]), textcoords="data", va="center", fontsize=9,
                    color=line.get_color(),
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})
    ax.set_xticks([0, 1], [lab["before"], lab["after"]])
    ax.set_xlim(-0.2, 1.9)
    if len(d):
        ax.set_ylim(lo - gap, max(hi, float(pos.max())) + gap)
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    fig.tight_layout()
    return fig


def neg_log10_capped(q, floor: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """``-log10(q)`` with q below ``floor`` (and q = 0, a combined p-value that underflowed)
    capped at ``-log10(floor)``; returns the values and a mask of the capped ones.

    Without a cap a q of 0 (clipped to 1e-300) draws a bar of 300 and every other bar,
    and the alpha line near 1.3, shrinks to nothing."""
    q = np.asarray(q, dtype=float)
    capped = np.isfinite(q) & (q < floor)
    with np.errstate(divide="ignore"):
        v = -np.log10(np.where(capped, floor, q))
    return v, capped


def plot_agent_decision(decision: pd.DataFrame, *, alpha: float = 0.05, top: int = 25,
                        floor: float = 1e-10, labels: dict | None = None):
    """The agent-level decision for the ``top`` strongest agents: one bar of
    ``-log10(q)`` per agent, the dashed line at ``q = alpha``, each bar labelled with its
    q-value (``1.2e-05``); q below ``floor`` is capped at ``-log10(floor)`` and labelled
    ``< 1e-10``, hatched, so that an underflowed q = 0 does not squash the rest.

    Parameters
    ----------
    decision : DataFrame
        ``agent_id, q_value`` and optionally ``gaming`` (planted truth: bars coloured by
        it), e.g. :func:`analysis.gaming.agent_decision`.
    labels : dict, optional
        Keys ``title``, ``x``, ``gaming``, ``honest``.
    """
    from .notebook import format_p

    lab = _labels({"title": f"Agent-level decision ({top} strongest; dashed: q = alpha)",
                   "x": "-log10 q (agent level)", "gaming": "planted gamer",
                   "honest": "honest"}, labels)
    d = decision.dropna(subset=["q_value"]).sort_values("q_value", kind="stable").head(top)
    d = d.reset_index(drop=True)
    v, capped = neg_log10_capped(d["q_value"], floor)
    cap = -np.log10(floor)
    fig, ax = _subplots(figsize=(7, 0.28 * max(len(d), 4) + 1.4))
    y = np.arange(len(d))
    if "gaming" in d and d["gaming"].notna().any():
        g = d["gaming"].fillna(False).astype(bool).to_numpy()
        colors = np.where(g, "crimson", "steelblue")
    else:
        colors = np.full(len(d), "steelblue")
    bars = ax.barh(y, v, color=colors)
    for b, c in zip(bars, capped, strict=True):
        if c:
            b.set_hatch("//")
            b.set_edgecolor("white")
    for yi, vi, qi, ci in zip(y, v, d["q_value"], capped, strict=True):
        ax.annotate(f"< {floor:.0e}" if ci else format_p(qi), (vi, yi),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.axvline(-np.log10(alpha), color="black", linestyle="--", lw=1)
    ax.set_yticks(y, d["agent_id"].astype(str))
    ax.invert_yaxis()
    top_v = max(float(np.nanmax(v)) if len(v) else 0.0, -np.log10(alpha))
    ax.set_xlim(0, min(top_v, cap) * 1.18 + 0.1)
    ax.set_xlabel(lab["x"] + (f" (capped at {cap:g}: q < {floor:.0e})" if capped.any() else ""))
    ax.set_title(lab["title"])
    if "gaming" in d and d["gaming"].notna().any():
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="crimson", label=lab["gaming"]),
                           Patch(color="steelblue", label=lab["honest"])],
                  loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def daily_calls(calls: pd.DataFrame, *, ts: str = "arrival_ts", by: str = "outcome"
                ) -> pd.DataFrame:
    """Calls per calendar day and ``by`` (wide: one column per value), with **every**
    day from the first to the last arrival: a day with no calls at all is NaN in every
    column (a gap, e.g. a missing export file or a closed day), a day with calls but none
    of one outcome is 0 there."""
    day = pd.to_datetime(calls[ts]).dt.floor("D")
    wide = day.groupby([day, calls[by]]).size().unstack(by, fill_value=0).sort_index()
    wide.columns = wide.columns.astype(str)
    if wide.empty:
        return wide.astype(float)
    every = pd.date_range(wide.index.min(), wide.index.max(), freq="D", name="day")
    return wide.reindex(every).astype(float)


def plot_daily_calls(calls: pd.DataFrame, *, ts: str = "arrival_ts", by: str = "outcome",
                     labels: dict | None = None):
    """Calls per day by outcome from :func:`daily_calls`: days with no calls are gaps in
    the lines (not straight lines drawn over them), shaded in grey, and the date axis is
    labelled concisely so the labels do not overlap.

    Parameters
    ----------
    labels : dict, optional
        Keys ``title``, ``y``, ``gap`` and outcome names.
    """
    import matplotlib.dates as mdates

    lab = _labels({"title": "Calls per day", "y": "calls", "gap": "no calls"}, labels)
    wide = daily_calls(calls, ts=ts, by=by)
    fig, ax = _subplots(figsize=(10, 4))
    for col in wide.columns:  # matplotlib breaks a line at NaN; seaborn would join it
        ax.plot(wide.index, wide[col], lw=1, label=lab.get(col, col))
    empty = wide.isna().all(axis=1)
    if empty.any():
        one = pd.Timedelta(days=1)
        for i, day in enumerate(wide.index[empty]):
            ax.axvspan(day - one / 2, day + one / 2, color="0.85", lw=0, zorder=0,
                       label=lab["gap"] if i == 0 else None)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylim(bottom=0)
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_calls_per_period(panel: pd.DataFrame, *, min_calls: int | None = None,
                          max_legend: int = 12, bins: int = 30, labels: dict | None = None):
    """Handled calls per agent-period, stacked by period in calendar order, with the
    ``min_calls`` line. With more than ``max_legend`` periods (weeks of a year) the legend
    goes outside the plot in columns, so it never covers the bars.

    Parameters
    ----------
    panel : DataFrame
        ``period, calls`` (from :func:`analysis.panel.build_panel`).
    labels : dict, optional
        Keys ``title``, ``x``, ``y``, ``legend``.
    """
    lab = _labels({"title": "Handled calls per agent and period"
                   + (" (dashed: min_calls)" if min_calls is not None else ""),
                   "x": "handled calls", "y": "agent-periods", "legend": "period"}, labels)
    d = panel.assign(period=panel["period"].astype(str))
    order = sorted(d["period"].unique())  # ISO labels: 1998-W53 < 1999-W01 < 1999-W02
    many = len(order) > max_legend
    fig, ax = _subplots(figsize=(10 if many else 7, 4.5))
    palette = sns.color_palette("viridis" if many else "tab10", len(order))
    sns.histplot(d, x="calls", hue="period", hue_order=order, multiple="stack", bins=bins,
                 palette=palette, ax=ax, legend=True)
    if min_calls is not None:
        ax.axvline(min_calls, color="black", linestyle="--")
    leg = ax.get_legend()
    if leg is not None:
        if many:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False,
                            ncol=-(-len(order) // 22), fontsize=7, title=lab["legend"],
                            title_fontsize=8)
        else:
            sns.move_legend(ax, "upper right", fontsize=8, title=lab["legend"])
    ax.set(xlabel=lab["x"], ylabel=lab["y"], title=lab["title"])
    fig.tight_layout()
    return fig


def tested_agent_means(panel: pd.DataFrame, flagged=(), *, min_calls: int = 30,
                       metrics=("short_call_rate", "transfer_rate", "aht_s")) -> pd.DataFrame:
    """Each agent's mean rates over the agent-periods the gaming checks test (at least
    ``min_calls`` handled calls, the checks' ``min_calls`` option), with ``flagged``:
    an agent with 3 calls is never tested, so showing it beside the flagged agents would
    make it look like a miss. Agents with no such period are left out."""
    from .tradeoffs import agent_means

    tested = panel[panel["calls"] >= min_calls]
    out = agent_means(tested, list(metrics)) if len(tested) else pd.DataFrame(
        columns=["agent_id", "calls", *metrics])
    out["flagged"] = out["agent_id"].astype(str).isin({str(a) for a in flagged})
    out.attrs["left_out"] = sorted(set(panel["agent_id"].astype(str)) - set(out["agent_id"]))
    return out


def plot_flagged_rates(panel: pd.DataFrame, flagged=(), *, min_calls: int = 30,
                       labels: dict | None = None):
    """Short-call rate against transfer rate per agent (:func:`tested_agent_means`: only
    the agent-periods the checks test), flagged agents marked, point size = handle time."""
    lab = _labels({"title": "Agents' mean rates (periods with >= {min_calls} calls; "
                   "{left} agents with fewer left out)", "x": "short-call rate",
                   "y": "transfer rate"}, labels)
    m = tested_agent_means(panel, flagged, min_calls=min_calls)
    fig, ax = _subplots(figsize=(7, 5))
    sns.scatterplot(m, x="short_call_rate", y="transfer_rate", hue="flagged",
                    hue_order=[False, True], palette={False: "steelblue", True: "crimson"},
                    size="aht_s", sizes=(15, 120), ax=ax)
    ax.set(xlabel=lab["x"], ylabel=lab["y"],
           title=lab["title"].format(min_calls=min_calls, left=len(m.attrs["left_out"])))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
