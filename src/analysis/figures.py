"""Figures that compare the models (seaborn on the Agg backend).

Every function returns a :class:`matplotlib.figure.Figure` and accepts
``labels``, a dict overriding any of its titles and axis labels (keys listed in
each docstring), so reports can be written in other languages, e.g.
``labels={"title": "模型一致性 (Kendall tau-b)"}``. For Chinese text, a CJK font
must be installed (``make system-deps``).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["plot_agreement_heatmap", "plot_scores_by_model", "plot_gaming_sensitivity"]

_CJK = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
        "SimHei", "Microsoft YaHei", "DejaVu Sans"]


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
    fig, ax = plt.subplots(figsize=(1.2 * len(models) + 2.5, 1.0 * len(models) + 1.8))
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
    fig, ax = plt.subplots(figsize=(1.6 * len(models) + 3, 4.5))
    for agent, d in per.groupby("agent_id"):
        d = d.set_index("model_label").reindex(order)
        hot = agent in fl
        ax.plot(range(len(order)), d["pct"], color="crimson" if hot else "0.7",
                lw=1.6 if hot else 0.6, alpha=0.9 if hot else 0.5, zorder=3 if hot else 1)
    sns.boxplot(data=per, x="model_label", y="pct", order=order, ax=ax, color="white",
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
    fig, ax = plt.subplots(figsize=(6, 0.6 * max(len(rows), 2) + 1.5))
    if not rows:
        ax.text(0.5, 0.5, lab["none"], ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(lab["title"])
        return fig
    d = pd.DataFrame(rows)
    sns.barplot(data=d, y="model", x="value", ax=ax, color="steelblue", orient="h")
    y = np.arange(len(d))
    err = np.vstack([d["value"] - d["lo"], d["hi"] - d["value"]])
    ok = np.isfinite(err).all(axis=0)
    ax.errorbar(d["value"][ok], y[ok], xerr=err[:, ok], fmt="none", ecolor="black", capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(-100 if own_baseline else -50, 100 if own_baseline else 50)
    ax.set_xlabel(lab["x"])
    ax.set_ylabel(lab["y"])
    ax.set_title(lab["title"])
    fig.tight_layout()
    return fig
