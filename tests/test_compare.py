"""Model comparison: agreement, W, stability, fairness, gaming sensitivity, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.compare import (
    agreement_table,
    compare_models,
    fairness,
    gaming_sensitivity,
    kendall_w,
    partial_eta_squared,
    stability,
)
from analysis.models.config import load_model_config


def _long(wide: pd.DataFrame, period: str = "P1") -> pd.DataFrame:
    out = wide.reset_index().melt(id_vars="agent_id", var_name="model", value_name="score")
    out["period"] = period
    return out


def test_agreement_is_scipy_tau_b_on_agent_means():
    rng = np.random.default_rng(0)
    agents = [f"a{i}" for i in range(15)]
    w1 = pd.DataFrame({"m1": rng.normal(size=15), "m2": rng.normal(size=15),
                       "m3": np.round(rng.normal(size=15), 0)}, index=pd.Index(agents,
                                                                               name="agent_id"))
    w2 = w1 + rng.normal(0, 0.5, w1.shape)
    scores = pd.concat([_long(w1, "P1"), _long(w2, "P2")], ignore_index=True)
    ag = agreement_table(scores).set_index(["model_a", "model_b"])
    mean = (w1 + w2) / 2
    for a, b in [("m1", "m2"), ("m1", "m3"), ("m2", "m3")]:
        ref = stats.kendalltau(mean[a], mean[b], variant="b")
        assert ag.loc[(a, b), "kendall_tau"] == pytest.approx(ref.statistic)
        assert ag.loc[(a, b), "p_value"] == pytest.approx(ref.pvalue)
        assert ag.loc[(a, b), "n"] == 15
        per = [stats.kendalltau(w[a], w[b]).statistic for w in (w1, w2)]
        assert ag.loc[(a, b), "tau_period_mean"] == pytest.approx(np.mean(per))


def test_kendall_w_orientation_and_direct_formula():
    agents = [f"a{i}" for i in range(6)]
    idx = pd.Index(agents, name="agent_id")
    same = pd.DataFrame({m: np.arange(6.0) for m in ("x", "y", "z")}, index=idx)
    assert kendall_w(_long(same))["value"] == pytest.approx(1.0)
    # 3 models ranking 6 agents, no ties: W = 12 S / (m^2 (n^3 - n))
    r = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "y": [2, 1, 4, 3, 6, 5],
                      "z": [6, 5, 4, 3, 2, 1]}, index=idx, dtype=float)
    m, n = 3, 6
    rsum = r.sum(axis=1)
    s = ((rsum - rsum.mean()) ** 2).sum()
    expected = 12 * s / (m**2 * (n**3 - n))
    res = kendall_w(_long(r))
    assert res["value"] == pytest.approx(expected)
    assert res["n_agents"] == 6 and res["models"] == ["x", "y", "z"]


def test_stability_is_icc_consistency():
    rng = np.random.default_rng(3)
    n, k = 20, 3
    y = rng.normal(size=n)[:, None] + np.array([0.0, 1.0, 2.0]) + rng.normal(0, 0.7, (n, k))
    s = pd.DataFrame([(f"a{i}", f"P{j}", y[i, j]) for i in range(n) for j in range(k)],
                     columns=["agent_id", "period", "score"])
    out = stability(s)
    # two-way ANOVA by hand: ICC(C,1) = (MSR - MSE) / (MSR + (k - 1) MSE)
    grand = y.mean()
    msr = k * ((y.mean(1) - grand) ** 2).sum() / (n - 1)
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + grand
    mse = (resid**2).sum() / ((n - 1) * (k - 1))
    assert out["value"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse))
    assert out["n_agents"] == n and out["n_periods"] == k
    assert stability(s[s.period == "P0"])["value"] is None


def test_partial_eta_squared_matches_statsmodels():
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(4)
    d = pd.DataFrame({"g": rng.choice(list("abcd"), 80), "p": rng.choice(["P1", "P2"], 80)})
    d["y"] = d["g"].map({"a": 0, "b": 0.5, "c": 1, "d": 0.2}) + rng.normal(size=80)
    aov = anova_lm(smf.ols("y ~ C(p) + C(g)", data=d).fit(), typ=2)
    ref = aov.loc["C(g)", "sum_sq"] / (aov.loc["C(g)", "sum_sq"] + aov.loc["Residual", "sum_sq"])
    assert partial_eta_squared(d["y"], d["g"], d["p"]) == pytest.approx(ref)
    panel = d.assign(agent_id=[f"a{i}" for i in range(80)], period=d["p"], main_queue=d["g"])
    out = fairness(panel.rename(columns={"y": "score"}), panel, by=["main_queue", "shift"],
                   n_boot=50, seed=1)
    assert out["main_queue"]["value"] == pytest.approx(ref)
    lo, hi = out["main_queue"]["ci"]
    assert lo <= ref <= hi
    assert out["shift"]["value"] is None and "roster" in out["shift"]["reason"]


def test_gaming_sensitivity_toy():
    s = pd.DataFrame({"agent_id": list("abcde"), "period": "P",
                      "score": [5.0, 4.0, 3.0, 2.0, 1.0]})
    flags = pd.DataFrame({"agent_id": list("abcde"), "flagged": [True, False, False, False,
                                                                  False]})
    out = gaming_sensitivity(s, flags, n_boot=100)
    assert out["value"] == pytest.approx(50.0)  # the flagged agent is the best: 100th pct
    assert out["honest_mean_percentile"] == pytest.approx(37.5)
    flags["flagged"] = [True, False, False, False, True]
    assert gaming_sensitivity(s, flags, n_boot=100)["value"] == pytest.approx(0.0)
    assert gaming_sensitivity(s, None)["value"] is None


@pytest.fixture(scope="module")
def hangup_center():
    from analysis.panel import build_panel
    from analysis.synth import generate_center

    # 40 agents from Mon 5 Jan 2026 for 55 days; 6 agents hang up on 15% of their calls
    # from day 27 (1 Feb) on: January is their honest baseline, February gaming.
    c = generate_center(agents=40, days=55, seed=3, gaming="hangup=6@0.15:27-54")
    return build_panel(c.calls), c.truth


def test_aht_heavy_kpi_rewards_hangup_gamers_but_scorecard_does_not(hangup_center):
    """methods.md: gamers rise under an AHT-only KPI and stay put under a scorecard."""
    panel, truth = hangup_center
    assert sorted(panel["period"].unique()) == ["2026-01", "2026-02"]
    cfg = load_model_config(override={
        "kpi": {"normalisation": "zscore",
                "metrics": {"csat_mean": None, "qa_mean": None, "resolved_rate": None,
                            "transfer_rate": None, "aht_s": {"weight": 1.0}}},
        "compare": {"n_boot": 300}, "models": ["kpi", "bsc"]})
    comp = compare_models(panel, config=cfg, flagged=truth)
    kpi = comp.summary["models"]["kpi"]["gaming_sensitivity"]
    bsc = comp.summary["models"]["bsc"]["gaming_sensitivity"]
    assert kpi["n_flagged"] == 6 and kpi["by_behaviour"]["hangup"]["n_flagged"] == 6
    # against their own honest January, the gamers climb under the AHT KPI ...
    own_kpi, own_bsc = kpi["vs_own_baseline"], bsc["vs_own_baseline"]
    assert own_kpi["n"] == 6
    assert own_kpi["value"] > 5 and own_kpi["ci"][0] > 0
    # ... and fall under the scorecard (resolution, repeat calls, short calls count)
    assert own_bsc["value"] < 0 and own_bsc["ci"][1] < 5
    # pooled over both months (gamers' natural standing mixed in): higher under the KPI
    # (seeds 3-8 checked: the own-baseline comparison above held in every one)
    assert kpi["value"] > bsc["value"]
    # independent check of vs_own_baseline from the scores table
    s = comp.scores[comp.scores["model"] == "kpi"].copy()
    g = s.groupby("period")["score"]
    s["pct"] = 100 * (g.rank() - 1) / (g.transform("size") - 1)
    gam = s[s["agent_id"].isin(truth.loc[truth["gaming"], "agent_id"])]
    w = gam.pivot_table(index="agent_id", columns="period", values="pct")
    assert own_kpi["value"] == pytest.approx((w["2026-02"] - w["2026-01"]).mean())


def test_compare_handles_missing_inputs():
    panel = pd.DataFrame({"agent_id": [f"a{i}" for i in range(8)], "period": "2026-01",
                          "calls": 100, "aht_s": np.linspace(250, 400, 8),
                          "main_queue": ["q1", "q2"] * 4})
    cfg = load_model_config(override={"min_calls": 1, "compare": {"n_boot": 20}})
    comp = compare_models(panel, config=cfg)
    m = comp.summary["models"]
    assert not m["360"]["computable"] and "ratings" in m["360"]["reason"]
    assert m["kpi"]["computable"]
    assert m["kpi"]["stability"]["value"] is None  # one period
    assert m["kpi"]["validity"]["value"] is None
    assert m["kpi"]["gaming_sensitivity"]["value"] is None
    assert set(comp.scores["model"]) == {"kpi", "okr", "bsc", "kpi_okr"}  # hybrids by default
    assert list(comp.scores.columns) == ["agent_id", "period", "model", "score", "rank"]


def test_cli_compare_on_synth_folder(synth_center, tmp_path):
    from analysis.cli import main

    folder = Path(synth_center["calls"]).parent
    out = tmp_path / "cmp"
    rc = main(["compare", "--calls", str(folder), "--truth", str(synth_center["truth"]),
               "--n-boot", "50", "--no-figures", "--out", str(out)])
    assert rc == 0
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["agent_id", "period", "model", "score", "rank"]
    assert set(scores["model"]) == {"kpi", "okr", "bsc", "kpi_okr"}  # hybrids by default
    ag = pd.read_csv(out / "agreement.csv")
    assert len(ag) == 6 and ag["kendall_tau"].between(-1, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    m360 = summary["models"]["360"]
    assert m360["computable"] is False and "ratings" in m360["reason"]
    assert m360["stability"]["value"] is None
    assert summary["kendall_w"]["value"] is not None
    assert summary["models"]["kpi"]["gaming_sensitivity"]["n_flagged"] > 0


def test_cli_compare_with_ratings_okr_roster_and_figures(synth_center, tmp_path):
    from analysis.cli import main

    out = tmp_path / "cmp2"
    rc = main(["compare", "--calls", str(synth_center["calls"]),
               "--ratings", str(synth_center["ratings"]), "--okr", str(synth_center["okr"]),
               "--roster", str(synth_center["roster"]), "--truth", str(synth_center["truth"]),
               "--n-boot", "30", "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    m360 = summary["models"]["360"]
    assert m360["computable"] is True
    rel = m360["reliability"]
    assert -1 <= rel["krippendorff_alpha_interval"] <= 1 and rel["icc1"] is not None
    assert summary["models"]["kpi"]["fairness"]["shift"]["value"] is not None
    for f in ("agreement.png", "scores_by_model.png", "gaming_sensitivity.png"):
        assert (out / f).stat().st_size > 1000
    bad = tmp_path / "bad.yml"
    bad.write_text("kpi: {normalisation: median}\n")
    assert main(["compare", "--calls", str(synth_center["calls"]), "--config", str(bad),
                 "--out", str(out)]) == 2


def test_figures_accept_translated_labels():
    from matplotlib.figure import Figure

    from analysis.figures import (
        plot_agreement_heatmap,
        plot_gaming_sensitivity,
        plot_scores_by_model,
    )

    ag = pd.DataFrame({"model_a": ["kpi"], "model_b": ["bsc"], "kendall_tau": [0.4]})
    fig = plot_agreement_heatmap(ag, labels={"title": "模型一致性", "kpi": "关键绩效指标"})
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "模型一致性"
    assert "关键绩效指标" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    scores = pd.DataFrame({"agent_id": list("abcabc"), "period": "P",
                           "model": ["kpi"] * 3 + ["bsc"] * 3,
                           "score": [1.0, 2, 3, 3, 2, 1]})
    fig = plot_scores_by_model(scores, flagged=["a"], labels={"y": "百分位"})
    assert fig.axes[0].get_ylabel() == "百分位"
    summ = {"models": {"kpi": {"gaming_sensitivity": {"value": 20.0, "ci": [5.0, 30.0]}},
                       "360": {"gaming_sensitivity": {"value": None}}}}
    fig = plot_gaming_sensitivity(summ, labels={"title": "博弈敏感度"})
    assert fig.axes[0].get_title() == "博弈敏感度"
    summ["models"]["kpi"]["gaming_sensitivity"]["vs_own_baseline"] = {"value": 30.0, "ci": None}
    fig = plot_gaming_sensitivity(summ, own_baseline=True)
    assert "before" in fig.axes[0].get_xlabel() and fig.axes[0].get_xlim() == (-100, 100)
    assert isinstance(plot_gaming_sensitivity({"models": {}}), Figure)


def test_gaming_sensitivity_ci_covers_zero_when_flags_are_random():
    """Null world: flags unrelated to scores -> the 95% CI covers 0 about 95% of the time."""
    rng = np.random.default_rng(7)
    n_rep, covered = 300, 0
    agents = [f"a{i}" for i in range(40)]
    for _ in range(n_rep):
        s = pd.DataFrame({"agent_id": agents * 2, "period": ["P1"] * 40 + ["P2"] * 40,
                          "score": rng.normal(size=80)})
        flags = pd.DataFrame({"agent_id": agents, "flagged": False})
        flags.loc[rng.choice(40, 8, replace=False), "flagged"] = True
        lo, hi = gaming_sensitivity(s, flags, n_boot=200, seed=int(rng.integers(1e9)))["ci"]
        covered += lo <= 0 <= hi
    # bootstrap over the flagged agents only ignores the finite population: at worst
    # slightly conservative; binomial sd at 95% over 300 reps is 1.3 points
    assert 0.90 <= covered / n_rep <= 0.995


def test_interval_outside_its_estimate_is_drawn():
    """A percentile bootstrap interval need not contain the point estimate (the bank's
    gaming sensitivity did not): the bars go from the interval's ends, no negative xerr."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.figures import plot_gaming_sensitivity

    summ = {"models": {"kpi": {"gaming_sensitivity": {"value": 12.0, "ci": [14.0, 30.0]}},
                       "okr": {"gaming_sensitivity": {"value": -5.0, "ci": [-20.0, -8.0]}}}}
    fig = plot_gaming_sensitivity(summ)
    ax = fig.axes[0]
    segs = [s for c in ax.collections for s in getattr(c, "get_segments", lambda: [])()]
    ends = sorted(tuple(sorted((float(p[0][0]), float(p[1][0])))) for p in segs)
    assert ends == [(-20.0, -8.0), (14.0, 30.0)]


def _validity_world(seed: int = 3, n: int = 60):
    """Three months of 60 agents: a persistent resolution habit, and a skill that the
    next month's resolution follows. ``own`` scores resolution (plus other metrics'
    noise), ``skill`` the skill alone."""
    rng = np.random.default_rng(seed)
    habit, skill = rng.normal(size=n), rng.normal(size=n)
    rows, scores = [], []
    for per in ["2026-01", "2026-02", "2026-03"]:
        res = 0.8 + 0.05 * habit + 0.02 * skill + rng.normal(0, 0.01, n)
        for i in range(n):
            rows.append({"agent_id": f"a{i}", "period": per, "resolution_rate": res[i]})
            scores.append({"agent_id": f"a{i}", "period": per, "model": "own",
                           "score": res[i] + rng.normal(0, 0.02)})
            scores.append({"agent_id": f"a{i}", "period": per, "model": "skill",
                           "score": skill[i] + rng.normal(0, 0.3)})
    return pd.DataFrame(rows), pd.DataFrame(scores)


def test_predictive_validity_is_the_recommendation_criterion_by_hand():
    """Mean over (period, later period) pairs of Spearman's rho (scipy), and for an own
    component the partial rank correlation given the outcome in the scoring period."""
    from analysis.compare import predictive_validity

    panel, scores = _validity_world()
    pw = panel.pivot(index="agent_id", columns="period", values="resolution_rate")
    for model, own in (("skill", set()), ("own", {"resolution_rate"})):
        sw = scores[scores.model == model].pivot(index="agent_id", columns="period",
                                                 values="score")
        ref = []
        for i, j in [(0, 1), (0, 2), (1, 2)]:
            x, y, z = (stats.rankdata(v) for v in (sw.iloc[:, i], pw.iloc[:, j], pw.iloc[:, i]))
            if own:  # residualise the ranks on the scoring period's outcome ranks
                x = x - np.polyval(np.polyfit(z, x, 1), z)
                y = y - np.polyval(np.polyfit(z, y, 1), z)
                ref.append(np.corrcoef(x, y)[0, 1])
            else:
                ref.append(stats.spearmanr(sw.iloc[:, i], pw.iloc[:, j]).statistic)
        got = predictive_validity(scores[scores.model == model], panel,
                                  outcomes={"resolution_rate": "higher"}, own=own, n_boot=50)
        assert got["value"] == pytest.approx(np.mean(ref), abs=1e-12)
        assert got["own"] == sorted(own)
        lo, hi = got["ci"]
        assert lo <= got["value"] <= hi


def test_a_model_gets_no_validity_credit_for_containing_the_outcome():
    """A score made of the outcome predicts next month's at rho ~0.8 (its persistence);
    beyond that persistence it predicts nothing, while the skill score keeps its value.
    The comparison used to report the first (KPI 0.71 on page 3 of a synthetic center's
    report beside 0.23 in the recommendation's evidence, in reverse order of models)."""
    from analysis.compare import predictive_validity

    panel, scores = _validity_world()
    out = {"resolution_rate": "higher"}
    raw = predictive_validity(scores[scores.model == "own"], panel, outcomes=out, n_boot=0)
    own = predictive_validity(scores[scores.model == "own"], panel, outcomes=out,
                              own={"resolution_rate"}, n_boot=0)
    skill = predictive_validity(scores[scores.model == "skill"], panel, outcomes=out,
                                n_boot=0)
    assert raw["value"] > 0.6
    assert abs(own["value"]) < 0.25
    assert skill["value"] > own["value"] + 0.1
