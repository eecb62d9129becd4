"""Trade-off views: Erlang C against hand work and other routes, quadrants, staffing."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.tradeoffs import (
    QUADRANT_COLUMNS,
    agent_means,
    agents_needed,
    average_speed_of_answer,
    efficiency_quality,
    erlang_c,
    hourly_load,
    quadrants,
    results_vs_process,
    satisfaction_vs_360,
    service_cost,
    service_level,
    tradeoff_correlations,
)


def test_erlang_c_hand_calculation_20_calls_an_hour():
    # 20 calls/h x 180 s = 1 Erlang on 2 agents:
    # C = (A^2/2! * 2/(2-1)) / (1 + A + A^2/2! * 2/(2-1)) = 1 / 3
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3)
    # SL(20 s) = 1 - C exp(-(N - A) t / AHT) = 1 - exp(-1/9) / 3 = 0.70172
    assert service_level(20, 180, 2, target_s=20) == pytest.approx(0.701720, abs=1e-6)
    # ASA = C AHT / (N - A) = 60 s
    assert average_speed_of_answer(20, 180, 2) == pytest.approx(60.0)
    # one agent cannot carry one Erlang
    assert erlang_c(1.0, 1) == 1.0 and service_level(20, 180, 1) == 0.0
    assert agents_needed(20, 180, target_sl=0.8, target_s=20) == 3


def _erlang_c_via_scipy(a: float, n: int) -> float:
    # Erlang B = Poisson pmf(n) / cdf(n); C = n B / (n - a (1 - B))
    b = stats.poisson.pmf(n, a) / stats.poisson.cdf(n, a)
    return n * b / (n - a * (1 - b))


def _erlang_c_direct(a: float, n: int) -> float:
    top = a ** n / math.factorial(n) * n / (n - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize("a,n", [(1.0, 2), (48.0, 55), (10.0, 14), (3.7, 5), (90.0, 100)])
def test_erlang_c_equals_the_textbook_formula_and_scipys_erlang_b(a, n):
    assert erlang_c(a, n) == pytest.approx(_erlang_c_direct(a, n), rel=1e-9)
    assert erlang_c(a, n) == pytest.approx(_erlang_c_via_scipy(a, n), rel=1e-9)


def test_erlang_c_service_level_matches_an_mm_n_simulation():
    """360 calls / half hour, 4-minute calls, 55 agents, 15 s target (a textbook case)."""
    rng = np.random.default_rng(0)
    lam, aht, n = 720 / 3600, 240.0, 55
    m = 400_000
    arr = np.cumsum(rng.exponential(1 / lam, m))
    serv = rng.exponential(aht, m)
    free = [0.0] * n
    waits = np.empty(m)
    for i in range(m):  # FIFO: the next call takes the earliest free agent
        t = heapq.heappop(free)
        start = max(t, arr[i])
        waits[i] = start - arr[i]
        heapq.heappush(free, start + serv[i])
    w = waits[m // 10:]  # drop warm-up
    sl = service_level(720, 240, 55, target_s=15)
    # batch-means standard error (autocorrelated waits)
    def batch_se(x):
        return np.std([b.mean() for b in np.array_split(x, 40)], ddof=1) / math.sqrt(40)

    assert abs((w <= 15).mean() - sl) < 4 * batch_se(w <= 15)
    assert abs((w > 0).mean() - erlang_c(48.0, 55)) < 4 * batch_se(w > 0)
    assert abs(w.mean() - average_speed_of_answer(720, 240, 55)) < 4 * batch_se(w)


def _panel():
    return pd.DataFrame({
        "agent_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "period": ["P1", "P2"] * 4,
        "calls": [100, 300, 200, 200, 100, 100, 50, 150],
        "aht_s": [300.0, 340, 400, 420, 250, 250, 500, 520],
        "resolved_rate": [0.8, 0.9, 0.7, 0.7, 0.6, 0.5, 0.9, 0.95],
        "csat_mean": [4.0, 5.0, 3.0, 3.0, np.nan, 4.0, 4.5, 4.5],
        "csat_responses": [10, 30, 5, 5, 0, 10, 10, 10],
        "qa_mean": [80.0, 90, 85, 85, 70, 70, 95, 95],
    })


def test_agent_means_weight_by_calls_and_responses():
    pa = agent_means(_panel()).set_index("agent_id")
    assert pa.loc["a", "calls"] == 400
    assert pa.loc["a", "aht_s"] == pytest.approx((100 * 300 + 300 * 340) / 400)
    assert pa.loc["a", "csat_mean"] == pytest.approx((10 * 4 + 30 * 5) / 40)
    assert pa.loc["c", "csat_mean"] == pytest.approx(4.0)  # the empty period carries no weight


def test_efficiency_quality_quadrants_by_hand():
    q = efficiency_quality(_panel(), quality=("resolved_rate",))
    assert list(q.columns) == QUADRANT_COLUMNS
    q = q.set_index("agent_id")
    # AHT: a 330, b 410, c 250, d 505 -> median 370; resolved: a .875, b .7, c .55, d .9375
    assert q["x_median"].iloc[0] == pytest.approx(370.0)
    assert q["y_median"].iloc[0] == pytest.approx((0.875 + 0.7) / 2)
    assert q.loc["a", "quadrant"] == "both" and q.loc["c", "quadrant"] == "x_only"
    assert q.loc["d", "quadrant"] == "y_only" and q.loc["b", "quadrant"] == "neither"
    corr = tradeoff_correlations(q.reset_index()).iloc[0]
    assert corr["n"] == 4 and corr["both"] == 1 and corr["neither"] == 1
    # "better" on both axes: fast (-AHT) vs resolved
    ref = stats.spearmanr(-q["x"], q["y"]).statistic
    assert corr["rho_better"] == pytest.approx(ref)


def test_results_vs_process_uses_qa_and_is_empty_without_it():
    q = results_vs_process(_panel(), outcomes=("resolved_rate", "csat_mean"))
    assert set(q["x_metric"]) == {"qa_mean"} and set(q["y_metric"]) == {"resolved_rate",
                                                                        "csat_mean"}
    assert results_vs_process(_panel().drop(columns="qa_mean")).empty
    lower = quadrants(agent_means(_panel()), "qa_mean", "aht_s").set_index("agent_id")
    assert not lower.loc["d", "y_better"]  # highest AHT is worse (lower is better)


class _Comp:
    def __init__(self, panel, scores, results=None):
        self.panel, self.scores, self.results = panel, scores, results or {}


def test_service_cost_staffing_follows_the_rewarded_agents_aht():
    panel = _panel()
    # model "fast" rewards the shortest handle time, "slow" the longest
    pa = agent_means(panel).set_index("agent_id")
    rows = []
    for m, sign in (("fast", -1), ("slow", 1)):
        for p in ("P1", "P2"):
            for a in pa.index:
                rows.append({"agent_id": a, "period": p, "model": m,
                             "score": sign * pa.loc[a, "aht_s"]})
    out = service_cost(_Comp(panel, pd.DataFrame(rows)), calls_per_hour=120,
                       top_share=0.25).set_index("model")
    assert out.loc["fast", "aht_s"] == pytest.approx(pa.loc["c", "aht_s"])
    assert out.loc["slow", "aht_s"] == pytest.approx(pa.loc["d", "aht_s"])
    center_aht = (pa["aht_s"] * pa["calls"]).sum() / pa["calls"].sum()
    assert out.loc["center", "aht_s"] == pytest.approx(center_aht)
    for m in out.index:
        assert out.loc[m, "agents_needed"] == agents_needed(120, out.loc[m, "aht_s"])
    assert out.loc["fast", "agents_needed"] < out.loc["slow", "agents_needed"]
    assert out.loc["slow", "service_level_at_center_staff"] < 0.8 <= out.loc[
        "center", "service_level_at_center_staff"]
    # every staffing column at the one staffing the center's AHT needs
    base = out.loc["center", "agents_needed"]
    for m in out.index:
        assert out.loc[m, "occupancy"] == pytest.approx(out.loc[m, "traffic_erlangs"] / base)


def test_hourly_load_by_hand():
    ts = pd.to_datetime(["2026-01-05 09:10", "2026-01-05 09:50", "2026-01-12 09:20",
                         "2026-01-05 10:00", "2026-01-06 09:00"])
    out = hourly_load(pd.DataFrame({"arrival_ts": ts}))
    top = out.iloc[0]
    # Mondays: 2 days with calls; 09h: 3 calls -> 1.5 per hour
    assert (top["dow"], top["hour"], top["calls_per_hour"], top["n_days"]) == (1, 9, 1.5, 2)


def test_satisfaction_vs_360_and_roster():
    from analysis.models import ModelResult

    panel = _panel()
    panel.attrs["ccpm_panel"] = {"data_end_ts": "2026-03-01 00:00:00"}
    s360 = pd.DataFrame({"agent_id": ["a", "a", "b"], "period": ["P1", "P2", "P1"],
                         "score": [4.0, 5.0, 3.0], "rank": [1, 1, 2]})
    comp = _Comp(panel, None, {"360": ModelResult("360", s360, pd.DataFrame())})
    roster = pd.DataFrame({"agent_id": ["a", "b", "c"],
                           "hire_date": ["2025-03-01", "2026-01-01", "2020-01-01"],
                           "termination_date": [None, "2026-02-01", None]})
    out = satisfaction_vs_360(comp, roster=roster).set_index("agent_id")
    assert out.loc["a", "score_360"] == pytest.approx(4.5) and np.isnan(out.loc["c",
                                                                                "score_360"])
    assert out.loc["a", "tenure_days"] == 365 and out.loc["b", "tenure_days"] == 31
    assert bool(out.loc["b", "left"]) and not bool(out.loc["a", "left"])
    assert pd.isna(out.loc["d", "left"]) and out.loc["a", "csat_responses"] == 40


def test_tradeoff_and_recommendation_figures_take_translated_labels():
    from matplotlib.figure import Figure

    from analysis.compare import compare_models
    from analysis.figures import (
        plot_quadrants,
        plot_rank_changes,
        plot_recommendation,
        plot_service_cost,
    )
    from analysis.models.config import load_model_config
    from analysis.recommend import recommend

    q = efficiency_quality(_panel())
    fig = plot_quadrants(q, labels={"title": "效率与质量", "aht_s": "平均处理时长"},
                         flagged=["a"])
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "效率与质量"
    assert fig.axes[0].get_xlabel() == "平均处理时长" and len(fig.axes) == 2  # no repeat calls
    assert isinstance(plot_quadrants(q.iloc[0:0]), Figure)
    cost = pd.DataFrame({"model": ["center", "kpi"], "agents_rewarded": [4, 1],
                         "aht_s": [350.0, 250.0], "traffic_erlangs": [11.7, 8.3],
                         "agents_needed": [15, 11], "agents_vs_center": [1.0, 11 / 15],
                         "service_level_at_center_staff": [0.82, 0.97],
                         "asa_s_at_center_staff": [12.0, 2.0], "occupancy": [0.78, 0.76]})
    fig = plot_service_cost(cost, labels={"x": "所需坐席", "kpi": "关键绩效指标"})
    assert fig.axes[0].get_xlabel() == "所需坐席"
    assert "关键绩效指标" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    rng = np.random.default_rng(0)
    panel = pd.DataFrame({"agent_id": [f"a{i}" for i in range(10)] * 2,
                          "period": ["2026-01"] * 10 + ["2026-02"] * 10, "calls": 100,
                          "aht_s": rng.normal(300, 30, 20),
                          "resolved_rate": rng.uniform(0.6, 0.9, 20)})
    cfg = load_model_config(override={"min_calls": 1, "compare": {"n_boot": 10},
                                      "models": ["kpi", "okr", "360"]})
    rec = recommend(compare_models(panel, config=cfg), n_boot=20)
    fig = plot_recommendation(rec, labels={"title": "推荐"})
    assert fig.axes[0].get_title() == "推荐"
    models = pd.DataFrame({"model": ["kpi", "bsc"], "overall_before": [0.6, 0.7],
                           "overall_after": [0.5, 0.72], "rank_before": [2, 1],
                           "rank_after": [2, 1]})
    fig = plot_rank_changes(models, labels={"after": "移除后"})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][1] == "移除后"
