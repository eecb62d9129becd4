"""Agent-level decisions: ACAT pinned to hand computations, FDR across agents, calibration
under dependence, the empirical-null tail check, evidence that accumulates over periods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.errors import ConfigError
from analysis.gaming import run_checks
from analysis.gaming._agents import AGENT_COLUMNS, FACE_Z_CAP, agent_table
from analysis.gaming._combine import P_CAP, acat, acat_groups, by_qvalues
from analysis.gaming._coresim import simulate_calls
from analysis.gaming._empnull import calibrate_pvalues, fit_empirical_null


def _acat_by_hand(p, w):
    w = np.asarray(w, float) / np.sum(w)
    p = np.clip(np.asarray(p, float), 1e-300, P_CAP)
    return stats.cauchy.sf(np.sum(w * stats.cauchy.isf(p)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acat_matches_the_cauchy_distribution(seed):
    rng = np.random.default_rng(seed)
    for m in (1, 2, 7, 30):
        p = rng.uniform(1e-4, 0.98, m)
        w = rng.uniform(0.1, 2.0, m)
        assert acat(p, w) == pytest.approx(_acat_by_hand(p, w), rel=1e-9)
        assert acat(p) == pytest.approx(_acat_by_hand(p, np.ones(m)), rel=1e-9)


def test_acat_edges():
    # one p-value is returned as is; a tiny one keeps its precision (tan overflows naively)
    assert acat([0.3]) == pytest.approx(0.3, rel=1e-12)
    assert acat([1e-20]) == pytest.approx(1e-20, rel=1e-9)
    # two equal weights, one tiny: T ~ 1 / (2 pi p): the combination is ~2p (Bonferroni-like)
    assert acat([1e-20, 0.5]) == pytest.approx(2e-20, rel=1e-6)
    # NaN is left out with its weight; p = 1 is capped and does not cancel strong evidence
    assert acat([1e-8, np.nan], [1, 5]) == pytest.approx(1e-8, rel=1e-9)
    assert acat([1e-8, 1.0]) < 1e-7
    assert np.isnan(acat([np.nan]))
    labels, pv = acat_groups([0.01, 0.2, 1e-9, np.nan, 0.5], [1, 1, 2, 1, 1],
                             ["b", "b", "a", "c", "a"])
    assert list(labels) == ["a", "b"]
    assert pv[0] == pytest.approx(acat([1e-9, 0.5], [2, 1]), rel=1e-12)
    assert pv[1] == pytest.approx(acat([0.01, 0.2]), rel=1e-12)


def test_by_matches_statsmodels():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(size=150), rng.uniform(0, 1e-3, 10)])
    assert np.allclose(by_qvalues(p), multipletests(p, method="fdr_by")[1], rtol=1e-12)
    q = by_qvalues(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(q[1]) and np.allclose(q[[0, 2]],
                                          multipletests([0.01, 0.02], method="fdr_by")[1])


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_acat_tail_calibrated_under_dependence(rho):
    """Equicorrelated one-sided z-tests (m = 12) and 26 independent ones (capped at 0.99):
    rejection at .05, .001, .0001 within sampling error of nominal (ACAT's tail is valid
    under dependence, Liu & Xie 2020)."""
    rng = np.random.default_rng(11)
    n, m = 300_000, 12
    z = np.sqrt(rho) * rng.standard_normal((n, 1)) + np.sqrt(1 - rho) * rng.standard_normal(
        (n, m))
    p = stats.norm.sf(z)
    _, comb = acat_groups(p.ravel(), np.ones(p.size), np.repeat(np.arange(n), m))
    for a in (0.05, 0.001, 0.0001):
        rate = np.mean(comb < a)
        se = np.sqrt(a / n)
        # ACAT's validity under dependence is a tail property: at .05 it rejects up to
        # ~1.3x nominal under moderate dependence (1.32x at rho 0.5 here); at .001 and
        # beyond, where an FDR step over agents decides, it is within sampling error
        bound = 1.4 * a if a >= 0.01 else a
        assert rate <= bound + 4 * se + 0.15 * a
        if a < 0.01:
            assert rate >= 0.5 * a - 4 * se


def _flags_frame(rows):
    f = pd.DataFrame(rows, columns=["agent_id", "period", "check", "p_value"])
    f["effect"] = 1.0
    f["effect_unit"] = "unit"
    return f


def test_agent_table_weights_and_fdr_by_hand():
    rows = [
        # A: hang-up signature (2 short-call checks + repeat calls) and one acw test
        ("A", "2024-01", "short_calls_peer", 1e-6), ("A", "2024-02", "short_calls_peer", 0.2),
        ("A", "2024-02", "short_calls_trend", 0.01), ("A", "2024-02", "repeat_after_short", 0.03),
        ("A", "2024-01", "acw_change", 0.9),
        ("B", "2024-01", "short_calls_peer", 0.5), ("B", "2024-02", "acw_change", 0.04),
        ("C", "2024-01", "transfer_dumping", 0.3), ("C", "all", "short_calls_peer", 0.002),
        ("center", "all", "bunching_center", 1e-9),
    ]
    f = _flags_frame(rows)
    agents, info = agent_table(f, alpha=0.05)
    assert list(agents.columns) == AGENT_COLUMNS
    assert info == {"method": "BH", "alpha": 0.05, "n_agents": 3, "combination": "ACAT"}
    assert "center" not in set(agents["agent_id"])
    al = agents[agents["scope"] == "all"].set_index("agent_id")
    # A, scope all: the hang-up signature's faces (short_calls_peer: ACAT of its two
    # periods, with repeat_after_short by Stouffer with the checks' correlation, fewer
    # than 20 agents: taken as 1, so the mean z; short_calls_trend alone, its partner
    # short_calls_change did not run), ACAT across the faces, then ACAT with acw (0.9);
    # inside a face of two present traces each z is capped at FACE_Z_CAP (4)
    z = stats.norm.isf([_acat_by_hand([1e-6, 0.2], [1, 1]), 0.03])
    assert z[0] > FACE_Z_CAP
    p_face = stats.norm.sf(np.minimum(z, FACE_Z_CAP).sum() / 2.0)
    p_sig = _acat_by_hand([p_face, 0.01], [1, 1])
    want_a = _acat_by_hand([p_sig, 0.9], [1, 1])
    assert al.loc["A", "p_value"] == pytest.approx(want_a, rel=1e-9)
    assert al.loc["B", "p_value"] == pytest.approx(_acat_by_hand([0.5, 0.04], [1, 1]), rel=1e-9)
    # the whole-window row belongs to scope all only
    assert al.loc["C", "p_value"] == pytest.approx(_acat_by_hand([0.3, 0.002], [1, 1]),
                                                   rel=1e-9)
    assert not ((agents["agent_id"] == "C") & (agents["scope"] == "all2")).any()
    assert set(agents.loc[agents["agent_id"] == "C", "scope"]) == {"all", "2024-01"}
    # BH across agents within the scope
    ref = multipletests(al["p_value"].to_numpy(), method="fdr_bh")[1]
    assert np.allclose(al["q_value"].to_numpy(), ref)
    assert (al["flagged"] == (al["q_value"] < 0.05)).all()
    assert al.loc["A", "flagged"]
    assert al.loc["A", "behaviours"].split(";")[0] == "hangups"
    assert "acw_padding" not in al.loc["A", "behaviours"]
    assert al.loc["A", "checks"].split(";")[0] == "short_calls_peer"
    assert "short_calls_peer in 2024-01" in al.loc["A", "detail"]
    # period scope: BH over the agents tested in that period
    jan = agents[agents["scope"] == "2024-01"]
    assert np.allclose(jan["q_value"], multipletests(jan["p_value"], method="fdr_bh")[1])
    by, info_by = agent_table(f, alpha=0.05, method="BY")
    assert info_by["method"] == "BY"
    m = by.merge(agents, on=["agent_id", "scope"])
    assert (m["q_value_x"] >= m["q_value_y"] - 1e-15).all()
    with pytest.raises(ValueError):
        agent_table(f, alpha=0.05, method="holm")


def test_pooled_rows_carry_half_of_their_checks_weight():
    """Two time scales inside a check: the whole-window row weighs as much as all the
    monthly rows together, so ten weaker months do not dilute a persistent excess."""
    months = [f"2024-{m:02d}" for m in range(1, 11)]
    rows = [("D", "all", "short_calls_peer", 1e-4)]
    rows += [("D", m, "short_calls_peer", 0.01) for m in months]
    rows += [("E", m, "short_calls_peer", 0.01) for m in months]  # no pooled row
    rows += [("F", "all", "acw_change", 0.5), ("F", "2024-01", "acw_change", 0.5)]
    agents, _ = agent_table(_flags_frame(rows), alpha=0.05)
    al = agents[agents["scope"] == "all"].set_index("agent_id")
    want_d = _acat_by_hand([1e-4] + [0.01] * 10, [0.5] + [0.05] * 10)
    assert al.loc["D", "p_value"] == pytest.approx(want_d, rel=1e-9)
    # equal weights per row would have given the pooled row 1/11: about 4x weaker here
    assert _acat_by_hand([1e-4] + [0.01] * 10, [1] * 11) > 3 * want_d
    assert al.loc["E", "p_value"] == pytest.approx(_acat_by_hand([0.01] * 10, [1] * 10),
                                                   rel=1e-9)
    # a period scope holds only its own month (the pooled row belongs to scope all)
    jan = agents[(agents["scope"] == "2024-01")].set_index("agent_id")
    assert jan.loc["D", "p_value"] == pytest.approx(0.01, rel=1e-9)
    # the decision's combination is still a valid test: with uniform p-values for every
    # row of 3,000 null agents the rejection rate at .01 is nominal within binomial limits
    rng = np.random.default_rng(5)
    null = [(f"N{i}", per, "short_calls_peer", float(rng.uniform()))
            for i in range(3000) for per in ["all", "2024-01", "2024-02", "2024-03"]]
    na, _ = agent_table(_flags_frame(null), alpha=0.05)
    rate = (na.loc[na["scope"] == "all", "p_value"] < 0.01).mean()
    assert 0.004 < rate < 0.016


def test_signature_stouffer_uses_the_estimated_correlation():
    """Two traces of one behaviour (peer test, repeat calls) for 300 agents, correlation 0.5:
    the estimated correlation enters the Stouffer variance (pinned by hand), the signature
    p-value is calibrated, and two moderate traces accumulate."""
    rng = np.random.default_rng(9)
    n = 3000
    u = rng.standard_normal(n)
    z1 = np.sqrt(0.5) * u + np.sqrt(0.5) * rng.standard_normal(n)
    z2 = np.sqrt(0.5) * u + np.sqrt(0.5) * rng.standard_normal(n)
    p1, p2 = stats.norm.sf(z1), stats.norm.sf(z2)
    rows = [(f"A{i:04d}", "2024-01", "short_calls_peer", p1[i]) for i in range(n)]
    rows += [(f"A{i:04d}", "2024-01", "repeat_after_short", p2[i]) for i in range(n)]
    a, _ = agent_table(_flags_frame(rows), alpha=0.05)
    al = a[a["scope"] == "all"].set_index("agent_id").loc[[f"A{i:04d}" for i in range(n)]]
    # each check's rows are first combined by ACAT, which caps p at P_CAP
    c1 = stats.norm.isf(np.minimum(p1, P_CAP))
    c2 = stats.norm.isf(np.minimum(p2, P_CAP))
    rs = pd.Series(c1).rank().corr(pd.Series(c2).rank())
    r = 2 * np.sin(np.pi * rs / 6)
    want = np.minimum(stats.norm.sf((c1 + c2) / np.sqrt(2 + 2 * r)), P_CAP)
    assert np.allclose(al["p_value"].to_numpy(), want, rtol=1e-6)
    assert abs(r - 0.5) < 0.05
    pv = al["p_value"].to_numpy()
    assert np.mean(pv < 0.05) == pytest.approx(0.05, abs=0.012)
    assert np.mean(pv < 0.005) <= 0.005 + 0.004
    # moderate, consistent traces (p .02 and .008) of uncorrelated checks: p well below both
    zq = stats.norm.isf([0.02, 0.008])
    assert stats.norm.sf(zq.sum() / np.sqrt(2)) < 1e-3


def test_agent_level_decision_is_calibrated_with_dependent_tests():
    """Null agents whose 20 tests share an agent effect (rho 0.6): the agent-level p-value
    is calibrated in the tail, and BH across 200 agents flags at most about alpha of the
    worlds."""
    rng = np.random.default_rng(8)
    n_agents, n_tests, worlds = 200, 20, 25
    checks = ["short_calls_peer", "short_calls_trend", "acw_change", "hold_change",
              "transfer_dumping"]
    allp, any_flag = [], 0
    for _w in range(worlds):
        u = rng.standard_normal((n_agents, 1))
        z = np.sqrt(0.6) * u + np.sqrt(0.4) * rng.standard_normal((n_agents, n_tests))
        p = stats.norm.sf(z)
        f = _flags_frame([
            (f"A{i:03d}", f"2024-{1 + j % 4:02d}", checks[j % 5], p[i, j])
            for i in range(n_agents) for j in range(n_tests)
        ])
        a, _ = agent_table(f, alpha=0.05)
        a = a[a["scope"] == "all"]
        allp.append(a["p_value"].to_numpy())
        any_flag += bool(a["flagged"].any())
    allp = np.concatenate(allp)
    # at .05 the combination is up to ~1.3x nominal (ACAT's validity is a tail property);
    # in the tail, where BH across agents decides, it is within sampling error
    assert np.mean(allp < 0.05) <= 0.075
    assert np.mean(allp < 0.001) <= 0.0025
    # full null: FDR = P(any flag) <= alpha (plus sampling error over 60 worlds)
    assert any_flag / worlds <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / worlds)


def test_empirical_null_weakens_heavy_tails_and_leaves_normal_tails():
    rng = np.random.default_rng(2)
    # model p-values of honest agents whose true spread is Student t (3 df) but whose
    # model assumed a normal: far too many tiny p-values
    z = stats.t.rvs(3, size=(40, 600), random_state=rng) / np.sqrt(3.0) * 1.0
    p = stats.norm.sf(z)
    raw, cal = [], []
    for row in p:
        raw.append(row)
        cal.append(calibrate_pvalues(row, fit_empirical_null(row)))
    raw, cal = np.concatenate(raw), np.concatenate(cal)
    assert np.mean(raw < 0.001) > 3 * 0.001
    assert np.mean(cal < 0.001) <= 2.2 * 0.001
    assert np.all(cal >= raw - 1e-15)  # only ever weaker
    # a normal world with 1% planted extremes at z = 6 (p 1e-9): they stay evidence, but
    # much weaker (the price of calibrating the tail, why the option is off by default)
    zn = rng.standard_normal(600)
    zn[:6] = 6.0
    pn = stats.norm.sf(zn)
    null = fit_empirical_null(pn)
    cn = calibrate_pvalues(pn, null)
    assert np.all(cn[:6] < 1e-3) and np.all(cn[:6] > pn[:6])
    assert fit_empirical_null(pn[:50]) is None  # too few to estimate a tail


def test_persistent_excess_accumulates_over_periods():
    """An agent about 3x the center's short-call share every month for six months: the
    monthly tests are weak, the whole-window test and the agent-level decision are not."""
    calls, _ = simulate_calls(n_agents=40, months=6, hangup={3: (0.06, 0)}, seed=21)
    rep = run_checks(calls, checks=["short_calls_peer"],
                     options={"raise_errors": True, "aht_target": 300})
    f = rep.flags[(rep.flags["agent_id"] == "A003")]
    monthly = f.loc[f["period"] != "all", "p_value"]
    pooled = f.loc[f["period"] == "all", "p_value"]
    assert len(monthly) == 6 and len(pooled) == 1
    assert pooled.iloc[0] < monthly.min()
    a = rep.agents
    row = a[(a["agent_id"] == "A003") & (a["scope"] == "all")].iloc[0]
    assert row["flagged"] and row["behaviours"].startswith("hangups")
    honest = a[(a["scope"] == "all") & (a["agent_id"] != "A003")]
    assert honest["flagged"].sum() <= 1


def test_report_files_and_options(tmp_path):
    calls, _ = simulate_calls(n_agents=30, months=2, hangup={0: (0.15, 0)}, seed=4)
    rep = run_checks(calls, checks=["short_calls_peer", "short_calls_trend"],
                     options={"raise_errors": True, "aht_target": 300})
    paths = rep.to_dir(tmp_path / "out")
    g = pd.read_csv(paths["agents"], dtype={"agent_id": str}, keep_default_na=False)
    assert list(g.columns) == AGENT_COLUMNS
    assert set(g["scope"]) >= {"all"}
    assert rep.agent_fdr["method"] == "BH" and rep.agent_fdr["combination"] == "ACAT"
    text = rep.summary_text()
    assert "agent-level false-discovery rate 0.05" in text
    assert "evidence" in text and "not the decision" in text
    fa = rep.flagged_agents()
    assert "A000" in set(fa["agent_id"])
    top = fa.set_index("agent_id").loc["A000"]
    assert top["agent_q"] < 0.05 and top["best_p"] < 0.05
    # flags.flagged marks exactly the evidence of agents flagged at the agent level
    chosen = set(rep.agents.loc[(rep.agents["scope"] == "all") & rep.agents["flagged"],
                                "agent_id"])
    assert set(rep.flags.loc[rep.flags["flagged"], "agent_id"]) == chosen
    rep_by = run_checks(calls, checks=["short_calls_peer"],
                        options={"raise_errors": True, "agent_fdr": "BY"})
    assert rep_by.agent_fdr["method"] == "BY"
    assert "Benjamini-Yekutieli" in rep_by.summary_text()
    with pytest.raises(ConfigError):
        run_checks(calls, checks=["short_calls_peer"], options={"agent_fdr": "holm"})


@pytest.mark.parametrize("uncapped, capped, p_strong, p_weak, period", [
    # the crackdown test's tail was measured conservative; the trend's reached 5x at .001
    ("short_calls_change", "short_calls_trend", 4e-7, 0.004, "1999-10-18"),
    # quick callbacks (against the agent's own other calls) measured calibrated to the cap;
    # the peers' short-call test is heavy-tailed in messy centers
    ("quick_callback_after_short", "short_calls_peer", 3e-8, 0.06, "2024-01"),
])
def test_uncapped_checks_keep_their_z_in_their_face(uncapped, capped, p_strong, p_weak,
                                                    period):
    """In a face of two traces each z is capped at FACE_Z_CAP unless its check is in
    UNCAPPED; fewer than 20 agents, so the face's correlation is taken as 1."""
    from analysis.gaming._agents import UNCAPPED

    assert uncapped in UNCAPPED and capped not in UNCAPPED
    for strong, weak in ((uncapped, capped), (capped, uncapped)):
        f = _flags_frame([("A", period, strong, p_strong), ("A", period, weak, p_weak)])
        agents, _ = agent_table(f, alpha=0.05)
        got = agents.loc[(agents["agent_id"] == "A") & (agents["scope"] == "all"),
                         "p_value"].iloc[0]
        z = stats.norm.isf([p_strong, p_weak])
        zs = z if strong == uncapped else np.minimum(z, FACE_Z_CAP)
        assert got == pytest.approx(stats.norm.sf(zs.sum() / 2.0), rel=1e-9), strong


def test_levels_against_peers_are_evidence_not_decisions():
    """An after-call-work or hold level far above the peers is listed as evidence but does
    not flag an agent: honest habits differ by more than padding does (``EVIDENCE_ONLY``);
    the same p-values as a change since the previous period do decide."""
    from analysis.gaming._agents import EVIDENCE_ONLY

    assert EVIDENCE_ONLY == {"acw_inflation", "hold_inflation"}
    rows = [("G", "2024-01", "acw_inflation", 1e-9), ("G", "2024-01", "short_calls_peer", 0.5),
            ("H", "2024-01", "hold_inflation", 1e-9), ("H", "2024-02", "hold_inflation", 1e-8)]
    rows += [(f"N{i}", "2024-01", "short_calls_peer", 0.5) for i in range(5)]
    agents, info = agent_table(_flags_frame(rows), alpha=0.05)
    al = agents[agents["scope"] == "all"].set_index("agent_id")
    assert info["n_agents"] == 7  # H, with evidence rows only, keeps its row
    assert al.loc["G", "p_value"] == pytest.approx(0.5, rel=1e-12)
    assert al.loc["H", "p_value"] == 1.0
    assert not al["flagged"].any()
    # the evidence column still shows the level for whoever reads the agent's row, but the
    # level is not named as a behaviour (a finding)
    assert al.loc["G", "checks"] == "acw_inflation"
    assert al.loc["H", "checks"].split(";")[0] == "hold_inflation"
    assert al.loc["G", "behaviours"] == "" and al.loc["H", "behaviours"] == ""
    assert "Cauchy combination of 0 test(s)" in al.loc["H", "detail"]
    assert "strongest: short_calls_peer" in al.loc["G", "detail"]
    moved = [(a, per, {"acw_inflation": "acw_change", "hold_inflation": "hold_change"}.get(c, c),
              p) for a, per, c, p in rows]
    agents2, _ = agent_table(_flags_frame(moved), alpha=0.05)
    al2 = agents2[agents2["scope"] == "all"].set_index("agent_id")
    assert al2.loc["G", "p_value"] == pytest.approx(_acat_by_hand([1e-9, 0.5], [1, 1]),
                                                    rel=1e-9)
    assert al2.loc["G", "flagged"] and al2.loc["H", "flagged"]


def test_a_behaviour_is_named_when_its_evidence_would_carry_the_decision():
    """The behaviours column (what page 1 names) lists a behaviour when its check-level p is
    below alpha over the agent's number of signatures; the checks column keeps every check
    below alpha as evidence."""
    rows = []
    for i in range(30):
        a = f"A{i:02d}"
        rows += [(a, "2024-01", "transfer_dumping", 1e-9 if i == 0 else 0.5),
                 (a, "all", "hold_step", 0.006 if i == 0 else 0.5),      # alpha / 5 = .01
                 (a, "all", "acw_step", 0.012 if i == 0 else 0.5),       # above .01
                 (a, "2024-01", "survey_selection", 0.5),
                 (a, "2024-01", "end_of_day_stretch", 0.5)]
    agents, _ = agent_table(_flags_frame(rows), alpha=0.05)
    top = agents[(agents["scope"] == "all") & (agents["agent_id"] == "A00")].iloc[0]
    assert top["flagged"]
    assert top["behaviours"].split(";") == ["transfer_dumping", "hold_padding"]
    assert top["checks"].split(";") == ["transfer_dumping", "hold_step", "acw_step"]
