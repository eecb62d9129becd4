"""The gaming runner: context, FDR across all checks, outputs, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.cli import main
from analysis.errors import InputError
from analysis.gaming import CHECKS, GamingReport, run_checks
from analysis.gaming._coresim import simulate_calls
from analysis.gaming._fdr import bh_qvalues
from analysis.gaming.runner import CHANGEPOINT_COLUMNS, REPORT_FLAG_COLUMNS

CORE = ["short_calls_peer", "short_calls_trend", "bunching_center", "bunching_agent"]


@pytest.fixture(scope="module")
def planted():
    """40 agents, 3 months: A000 hangs up on 15% of calls, A002 bunches under 300 s."""
    calls, truth = simulate_calls(n_agents=40, months=3, hangup={0: (0.15, 0)},
                                  bunch={2: 0.6}, seed=11)
    return calls, truth


@pytest.fixture(scope="module")
def planted_report(planted):
    calls, _ = planted
    return run_checks(calls, options={"aht_target": 300, "raise_errors": True}, checks=CORE)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bh_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, 20)])
    p[rng.integers(0, 220, 5)] = np.nan
    q = bh_qvalues(p)
    ok = np.isfinite(p)
    ref = multipletests(p[ok], method="fdr_bh")[1]
    assert np.allclose(q[ok], ref, rtol=1e-12, atol=0)
    assert np.all(np.isnan(q[~ok]))


def test_bh_ties_and_edges():
    assert np.allclose(bh_qvalues([0.01, 0.01, 0.04, 1.0]),
                       multipletests([0.01, 0.01, 0.04, 1.0], method="fdr_bh")[1])
    assert bh_qvalues([]).size == 0
    assert np.isnan(bh_qvalues([np.nan])).all()


def test_core_checks_are_registered():
    for name in CORE:
        assert name in CHECKS
    for name in CORE:
        fn = CHECKS.get(name)
        doc = fn.__doc__ or ""
        assert "null" in (doc + (__import__(fn.__module__).__doc__ or "")).lower() or doc


def test_report_shape_and_fdr_across_all_checks(planted_report):
    rep = planted_report
    assert isinstance(rep, GamingReport)
    assert list(rep.flags.columns) == REPORT_FLAG_COLUMNS
    assert list(rep.changepoints.columns) == CHANGEPOINT_COLUMNS
    assert set(rep.ran) == set(CORE)
    f = rep.flags
    # one BH over every check together (not per check); a center row's q is the one its
    # decision uses, BH among the center rows
    assert f["check"].nunique() == 4
    ref = multipletests(f["p_value"].to_numpy(), method="fdr_bh")[1]
    cen = (f["level"] == "center").to_numpy()
    assert cen.any() and (~cen).any()
    assert np.allclose(f["q_value"].to_numpy()[~cen], ref[~cen])
    ref_c = multipletests(f.loc[cen, "p_value"].to_numpy(), method="fdr_bh")[1]
    assert np.allclose(f.loc[cen, "q_value"].to_numpy(), ref_c)
    assert (f.loc[cen, "flagged"] == (f.loc[cen, "q_value"] < 0.05)).all()
    # flagged = evidence rows of agents flagged at the agent level (not q < alpha per test)
    a = rep.agents
    chosen = set(a.loc[(a["scope"] == "all") & a["flagged"], "agent_id"])
    ag = f["level"] == "agent"
    assert set(f.loc[f["flagged"] & ag, "agent_id"]) == chosen
    assert (f.loc[f["flagged"] & ag, "p_value"] < 0.05).all()
    assert f["p_value"].between(0, 1).all()
    assert (f["k"] <= f["n"]).all()


def test_planted_gamers_are_flagged_with_readable_evidence(planted_report):
    rep = planted_report
    fa = rep.flagged_agents()
    agents = set(fa["agent_id"])
    assert {"A000", "A002"} <= agents
    honest = agents - {"A000", "A002", "center"}
    assert len(honest) <= 1
    a0 = fa.set_index("agent_id").loc["A000"]
    assert "short" in a0["best_check"]
    assert a0["best_effect"] > 8  # ~15 excess short calls per 100 calls
    a2 = fa.set_index("agent_id").loc["A002"]
    assert "bunching" in a2["checks"]
    text = rep.summary_text()
    assert "A000" in text and "A002" in text
    assert "excess short calls per 100 calls" in text
    assert "Checks run" in text


def test_flagged_short_agent_gets_a_changepoint():
    """A001 starts hanging up in month 2: the change point of its daily rate says when."""
    calls, _ = simulate_calls(n_agents=30, months=3, hangup={1: (0.2, 1)}, seed=5)
    rep = run_checks(calls, options={"raise_errors": True},
                     checks=["short_calls_peer", "short_calls_trend"])
    cp = rep.changepoints
    row = cp[(cp["level"] == "agent") & (cp["agent_id"] == "A001")
             & (cp["metric"] == "short_call_rate")]
    assert len(row) == 1
    r = row.iloc[0]
    assert pd.Timestamp("2024-01-24") <= r["date"] <= pd.Timestamp("2024-02-08")
    assert r["after"] > 3 * r["before"]
    assert r["p_value"] < 0.01
    assert r["date_lo"] <= r["date"] <= r["date_hi"]


def test_to_dir_writes_the_three_files(planted_report, tmp_path):
    paths = planted_report.to_dir(tmp_path / "out")
    flags = pd.read_csv(paths["flags"])
    assert list(flags.columns) == REPORT_FLAG_COLUMNS
    assert len(flags) == len(planted_report.flags)
    cp = pd.read_csv(paths["changepoints"])
    assert list(cp.columns) == CHANGEPOINT_COLUMNS
    assert paths["summary"].read_text().startswith("Gaming checks: summary")


def test_invalid_rows_are_excluded_and_counted(planted):
    calls, _ = planted
    bad = calls.head(500).copy()
    bad.loc[bad.index[:3], "outcome"] = "lost"
    handled = bad.index[bad["outcome"] == "answered"]
    bad.loc[handled[3:5], "talk_s"] = -1.0
    bad.loc[handled[5:6], "agent_id"] = None
    rep = run_checks(bad, options={"raise_errors": True}, checks=["short_calls_trend"])
    ex = rep.info["excluded"]
    assert ex == {"unknown outcome": 3, "negative duration": 2,
                  "handled call without agent_id": 1}
    assert rep.info["valid_rows"] == 500 - 6
    assert "excluded: 3 rows (unknown outcome)" in rep.summary_text()


def test_a_failing_check_is_reported_not_fatal(planted, monkeypatch):
    calls, _ = planted

    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(CHECKS._items, "zz_broken", broken)
    rep = run_checks(calls.head(3000), checks=["zz_broken", "short_calls_trend"])
    assert "boom" in rep.skipped["zz_broken"]
    assert "short_calls_trend" in rep.ran
    with pytest.raises(RuntimeError):
        run_checks(calls.head(3000), checks=["zz_broken"], options={"raise_errors": True})


def test_missing_required_column_is_an_input_error(planted):
    calls, _ = planted
    with pytest.raises(InputError, match="talk_s"):
        run_checks(calls.drop(columns="talk_s"))


def test_parquet_path_and_cli(planted, tmp_path, capsys):
    calls, _ = planted
    path = tmp_path / "calls.parquet"
    calls.to_parquet(path)
    out = tmp_path / "cli"
    rc = main(["gaming", "--calls", str(path), "--aht-target", "300", "--out", str(out),
               "--checks", ",".join(CORE), "--option", "bunch_boot=99"])
    assert rc == 0
    flags = pd.read_csv(out / "gaming_flags.csv")
    assert set(flags["check"]) == set(CORE)
    assert "A000" in set(flags.loc[flags["flagged"], "agent_id"])
    assert (out / "summary.txt").is_file() and (out / "changepoints.csv").is_file()
    err = capsys.readouterr().err
    assert "flagged" in err


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    rc = main(["gaming", "--calls", str(tmp_path / "none.parquet"), "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "not found" in err[-1] and "Traceback" not in "".join(err)
    rc = main(["gaming", "--calls", "x.parquet", "--alpha", "2", "--out", str(tmp_path)])
    assert rc == 2


def test_a_flagged_agents_rows_are_the_evidence_of_the_named_behaviours():
    """A flagged agent's row at p < alpha counts as evidence only for a behaviour the
    decision names (or as the agent's strongest test): an agent flagged for stretching
    calls was listed under "short calls" at q .77 on the sample report, and such rows made
    short calls the longest bar of the per-check figure."""
    from analysis.gaming.runner import _evidence_rows

    flags = pd.DataFrame({
        "level": "agent", "agent_id": ["A", "A", "A", "B", "B"],
        "check": ["end_of_day_stretch", "short_calls_peer", "end_of_day_stretch",
                  "short_calls_peer", "transfer_dumping"],
        "p_value": [1e-6, 0.02, 0.01, 0.03, 0.2], "q_value": 0.5})
    agents = pd.DataFrame({"agent_id": ["A", "B"], "scope": "all", "flagged": [True, False],
                           "behaviours": ["end_of_day_stretch", ""]})
    got = _evidence_rows(flags, agents, 0.05)
    assert got.tolist() == [True, False, True, False, False]
    # an agent flagged on evidence too spread to name a behaviour keeps its strongest row
    agents.loc[0, "behaviours"] = ""
    assert _evidence_rows(flags, agents, 0.05).tolist() == [True, False, False, False, False]
    # callbacks after short calls are evidence of a named hang-up behaviour
    flags.loc[1, "check"] = "repeat_after_short"
    agents.loc[0, "behaviours"] = "hangups"
    assert _evidence_rows(flags, agents, 0.05).tolist() == [True, True, False, False, False]
