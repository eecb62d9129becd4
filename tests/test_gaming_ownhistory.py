"""Own-history step checks (acw_step, hold_step, transfer_step): the scan and its p-value
pinned to independent computations, calibration on clean and messy null worlds, power and
step date on a planted mid-window step, no step from a center-wide one, registration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cli.gaming import CHECK_OPTIONS
from analysis.errors import ConfigError
from analysis.gaming._agents import BEHAVIOUR_OF, SIGNATURE_OF, agent_table
from analysis.gaming._sigsim import make_context, simulate_calls
from analysis.gaming.own_history import (
    check_acw_step,
    check_hold_step,
    check_transfer_step,
    daily_contrasts,
    diff_scale,
    scan_pvalue,
    siegmund_tail,
    step_check,
    step_scan,
)
from analysis.report.present.findings import CHECK_BEHAVIOUR

STEPS = ["acw_step", "hold_step", "transfer_step"]
START = pd.Timestamp("2026-01-05")


# --- the statistic and its p-value, pinned -------------------------------------------

def test_scan_statistic_matches_a_brute_force_loop():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(23) + np.r_[np.zeros(12), np.full(11, 0.8)]
    sc = step_scan(x, 0.9, 4)
    best = (-np.inf, None)
    for k in range(4, 23 - 4 + 1):
        a, b = x[:k], x[k:]
        # Welch-free pooled two-sample z with known scale 0.9
        z = (b.mean() - a.mean()) / (0.9 * np.sqrt(1 / k + 1 / (23 - k)))
        assert sc.z_path[k - 4] == pytest.approx(z, rel=1e-12)
        best = max(best, (z, k), key=lambda t: t[0])
    assert sc.z == pytest.approx(best[0], rel=1e-12) and sc.k == best[1]
    assert sc.size == pytest.approx(x[sc.k:].mean() - x[:sc.k].mean(), rel=1e-12)
    # z equals the two-sample t statistic's numerator scaled: scipy's t with the pooled SD
    t_sp = stats.ttest_ind(x[sc.k:], x[:sc.k]).statistic
    sp = np.sqrt(((sc.k - 1) * x[:sc.k].var(ddof=1) + (23 - sc.k - 1) * x[sc.k:].var(ddof=1))
                 / (23 - 2))
    assert sc.z * 0.9 / sp == pytest.approx(t_sp, rel=1e-10)


def test_scan_pvalue_matches_monte_carlo_of_the_max():
    """Siegmund's tail (with the discrete-time correction) and the MC bulk against an
    independent brute-force simulation of max_k Z_k (20,000 Gaussian series, other seed)."""
    t, m = 61, 7
    rng = np.random.default_rng(12345)
    x = rng.standard_normal((20000, t))
    zmax = np.array([step_scan(r, 1.0, m).z for r in x])
    for b in (2.2, 2.8, 3.2):
        mc = float(np.mean(zmax >= b))
        se = np.sqrt(mc * (1 - mc) / zmax.size)
        assert abs(scan_pvalue(b, t, m) - mc) < 4 * se + 0.1 * mc, b
    # the tail formula itself where it is used (p < .02): within 15% of the simulation
    b = 3.2
    mc = float(np.mean(zmax >= b))
    assert siegmund_tail(b, t, m) == pytest.approx(mc, rel=0.15)
    # without the overshoot correction (nu = 1) the approximation is far too large: the
    # comparison above can fail
    ks = np.arange(m, t - m + 1)
    naive = b * stats.norm.pdf(b) / 2 * np.sum(t / (ks * (t - ks)))
    assert naive > 1.5 * mc
    # a studentised scan (estimated scale) maps through Student t: larger p-value
    assert scan_pvalue(4.0, t, m, df=20) > scan_pvalue(4.0, t, m)


def test_diff_scale_ignores_a_single_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    assert diff_scale(x) == pytest.approx(1.0, abs=0.06)
    assert diff_scale(x + np.r_[np.zeros(2000), np.full(2000, 5.0)]) == pytest.approx(
        diff_scale(x), abs=0.01)
    # while the plain MAD of the series is inflated by the step
    mad = 1.4826 * np.median(np.abs(x - np.median(x)))
    y = x + np.r_[np.zeros(2000), np.full(2000, 1.0)]
    assert 1.4826 * np.median(np.abs(y - np.median(y))) > 1.05 * mad


# --- calibration on null worlds ----------------------------------------------------------

def _step_pvalues(worlds, **kw):
    out = {c: [] for c in STEPS}
    for i, df in enumerate(worlds):
        ctx = make_context(df, options={"seed": i, **kw})
        for c in STEPS:
            out[c].append(step_check(ctx, c).flags["p_value"].to_numpy(float))
    return {c: np.concatenate(v) for c, v in out.items()}


def _within_binomial(p: np.ndarray, alpha: float) -> bool:
    """Rejections at alpha within the one-sided 99.9% binomial bound."""
    k = int(np.sum(p < alpha))
    return k <= stats.binom.ppf(0.999, p.size, alpha)


@pytest.mark.parametrize("messy", [False, True])
def test_null_worlds_are_calibrated_in_the_tail(messy):
    """6 null worlds x 150 agents x 61 days; messy: heavy-tailed agents, agent-day noise,
    12% center drift, weekday cycle, new hires' learning curve."""
    worlds = [simulate_calls(n_agents=150, days=61, seed=2000 + 10 * messy + i, messy=messy)
              for i in range(6)]
    pv = _step_pvalues(worlds)
    allp = np.concatenate(list(pv.values()))
    assert allp.size >= 2500
    for c, p in pv.items():
        assert np.isfinite(p).all() and len(p) == 900, c
        for a in (0.05, 0.01, 0.001):
            assert _within_binomial(p, a), (c, a, float(np.mean(p < a)))
        # and not uselessly conservative: the bulk is near uniform
        assert 0.02 <= np.mean(p < 0.05) and 0.35 <= np.mean(p < 0.5) <= 0.65, c
    for a in (0.01, 0.001):
        assert _within_binomial(allp, a), (a, float(np.mean(allp < a)))


def test_messy_acw_needs_the_empirical_null():
    """Without the empirical null the learning curve of new hires (a drift of the peers'
    median) leaves honest agents' ACW contrast trending up: the theoretical p-values are
    too small. The empirical null brings the tail back (test above)."""
    worlds = [simulate_calls(n_agents=150, days=61, seed=2010 + i, messy=True)
              for i in range(4)]
    ctx_p = [step_check(make_context(df, options={"step_empirical_null": False}),
                        "acw_step").flags["p_value"].to_numpy(float) for df in worlds]
    p = np.concatenate(ctx_p)
    assert np.mean(p < 0.05) > 0.075


# --- power, date, drift -------------------------------------------------------------------

@pytest.mark.parametrize("messy", [False, True])
def test_finds_a_mid_window_acw_step_and_dates_it(messy):
    pad = [f"A{i:03d}" for i in range(8)]
    df = simulate_calls(n_agents=150, days=61, seed=77, messy=messy,
                        effects={a: {"acw": 1.3, "onset": 30} for a in pad})
    f = check_acw_step(make_context(df)).flags.set_index("agent_id")
    p = f.loc[pad, "p_value"]
    # clean: most padders; messy (agent-day noise, the empirical null's shift): half
    assert (p < 0.01).sum() >= (4 if messy else 6), p.to_dict()
    honest = f.drop(index=pad)["p_value"]
    assert np.median(p) < np.quantile(honest, 0.01)
    found = p.index[p < 0.01]
    days = pd.to_datetime(f.loc[found, "detail"].str.extract(r"from (\d{4}-\d\d-\d\d)")[0])
    off = np.abs((days - (START + pd.Timedelta(days=30))).dt.days)
    assert np.median(off) <= 3, off.tolist()
    assert f.loc[found, "effect"].between(10, 60).all()  # planted: +30%


def test_padding_from_day_one_leaves_no_step():
    pad = [f"A{i:03d}" for i in range(8)]
    df = simulate_calls(n_agents=120, days=61, seed=78,
                        effects={a: {"acw": 1.3} for a in pad})
    p = check_acw_step(make_context(df)).flags.set_index("agent_id").loc[pad, "p_value"]
    assert (p < 0.01).sum() <= 1


def test_center_wide_step_is_not_an_agent_step():
    """Every agent's ACW, hold and transfers step up on day 30 (a new system, a new
    policy): the peers' same-day level moves too, so no agent is flagged."""
    n = 120
    eff = {f"A{i:03d}": {"acw": 1.5, "hold": 1.5, "transfer": 1.8, "onset": 30}
           for i in range(n)}
    pv = _step_pvalues([simulate_calls(n_agents=n, days=61, seed=79 + i, messy=True,
                                       effects=eff) for i in range(2)])
    for c, p in pv.items():
        assert _within_binomial(p, 0.01) and _within_binomial(p, 0.001), c
        assert np.mean(p < 0.05) < 0.1, c


def test_hold_and_transfer_steps_are_found():
    eff = {f"A{i:03d}": {"hold": 1.6, "onset": 25} for i in range(5)}
    eff.update({f"A{i:03d}": {"transfer": 2.0, "onset": 25} for i in range(5, 10)})
    ctx = make_context(simulate_calls(n_agents=120, days=61, seed=80, effects=eff))
    h = check_hold_step(ctx).flags.set_index("agent_id")["p_value"]
    t = check_transfer_step(ctx).flags.set_index("agent_id")["p_value"]
    assert (h.iloc[:5] < 0.02).sum() >= 4 and (t.iloc[5:10] < 0.02).sum() >= 4
    assert (h.iloc[5:10] < 0.01).sum() <= 1 and (t.iloc[:5] < 0.01).sum() <= 1


def test_hold_parts_pinned_against_pandas():
    """The two parts of hold: the log-odds of a call being held, and the mean log length of
    the held calls (cells with 2 of them, weighted by them), each minus the queue-day
    median of the agents' cells, then the weighted mean over the agent's queues."""
    calls = simulate_calls(n_agents=12, days=3, seed=5, customers=False)
    ctx = make_context(calls)
    h = calls[calls["agent_id"].notna() & calls["answer_ts"].notna()
              & calls["outcome"].isin(["answered", "transferred"])].copy()
    h["day"] = h["answer_ts"].dt.normalize()
    h["held"] = h["hold_s"] > 0
    h["lh"] = np.where(h["held"], np.log(h["hold_s"].clip(lower=1.0)), np.nan)
    c = h.groupby(["agent_id", "queue", "day"]).agg(
        n=("held", "size"), nh=("held", "sum"), lh=("lh", "mean")).reset_index()
    for part, y, w, ok in (
        ("hold_share", np.log((c["nh"] + 0.5) / (c["n"] - c["nh"] + 0.5)), c["n"], c["n"] >= 5),
        ("hold_length", c["lh"], c["nh"], c["nh"] >= 2),
    ):
        cc = c.assign(y=y, w=w)[ok.to_numpy()]
        g = cc.groupby(["queue", "day"])["y"]
        cc = cc.assign(med=g.transform("median"), peers=g.transform("size"))
        cc = cc[cc["peers"] >= 5]
        want = (cc.assign(wx=(cc["y"] - cc["med"]) * cc["w"]).groupby(["agent_id", "day"])
                [["wx", "w"]].sum())
        want = (want["wx"] / want["w"]).rename("x")
        got = daily_contrasts(ctx, part).set_index(["agent_id", "day"])["x"]
        assert len(got) >= 20, part
        assert np.allclose(got.sort_index().to_numpy(), want.sort_index().to_numpy(),
                           atol=1e-6), part


def test_hold_step_finds_more_calls_put_on_hold():
    """Three of 150 agents put 1.3x as many calls on hold from day 25 (35 % -> 45.5 %, the
    length of a hold unchanged): the hold step finds them through the share part, where the
    single series of log(1 + mean hold seconds), the statistic before 2026-12-07, gives
    p ~ .01-.02."""
    from analysis.gaming.own_history import _scan_agents

    calls = simulate_calls(n_agents=150, days=61, seed=81)
    rng = np.random.default_rng(81)
    gamers = [f"A{i:03d}" for i in range(3)]
    late = calls["answer_ts"] >= START + pd.Timedelta(days=25)
    pick = (calls["agent_id"].isin(gamers) & late & (calls["hold_s"] == 0)
            & calls["outcome"].isin(["answered", "transferred"]))
    move = pick & (rng.random(len(calls)) < 0.105 / 0.65)  # of the 65 % not held yet
    pool = calls.loc[calls["agent_id"].isin(gamers) & (calls["hold_s"] > 0), "hold_s"]
    calls.loc[move, "hold_s"] = rng.choice(pool.to_numpy(), int(move.sum()))
    ctx = make_context(calls)
    res = check_hold_step(ctx)
    f = res.flags.set_index("agent_id")
    assert (f.loc[gamers, "p_value"] < 1e-3).all()
    assert f.loc[gamers, "detail"].str.contains("share of calls put on hold").all()
    assert (f.drop(index=gamers)["p_value"] < 1e-3).sum() <= 1
    assert any(n.startswith("share of calls put on hold") for n in res.notes)
    single, _ = _scan_agents(ctx, daily_contrasts(ctx, "hold"), 7)
    single = single.set_index("agent_id")["p"]
    assert (f.loc[gamers, "p_value"] * 10 < single.loc[gamers]).all()


def test_many_steppers_do_not_hide_in_the_tail_they_make():
    """15 of 150 agents pad after-call work by 1.3x from day 30 (a new target, widely
    gamed). Fitted to every scan (``step_null=self``) the empirical null's tail is the
    steppers' own (t, ~1 df) and none of them is below .001; fitted to the scans it does
    not itself call extreme (the default, ``trimmed``) every one is, and honest agents
    stay clean."""
    pad = [f"A{i:03d}" for i in range(15)]
    df = simulate_calls(n_agents=150, days=61, seed=91,
                        effects={a: {"acw": 1.3, "onset": 30} for a in pad})
    got = {}
    for how in ("self", "trimmed"):
        res = step_check(make_context(df, options={"step_null": how}), "acw_step")
        got[how] = res.flags.set_index("agent_id")["p_value"]
        assert any(n.startswith("tail calibration") for n in res.notes)
    assert (got["self"].loc[pad] < 1e-3).sum() <= 2
    assert (got["trimmed"].loc[pad] < 1e-3).all()
    assert (got["trimmed"].drop(index=pad) < 0.01).sum() <= 1
    # a value it does not know is a clear error
    with pytest.raises(ConfigError, match="step_null"):
        step_check(make_context(df, options={"step_null": "both"}), "acw_step")


@pytest.mark.parametrize("n", [150, 2000])
def test_trimmed_empirical_null_ignores_a_cluster_of_non_nulls(n):
    """z-scores drawn directly, 40 samples: 90 % N(0, 1) and 10 % N(5, 1). Fitted to all,
    the null is a heavy-tailed t (the non-nulls are its 95th percentile) under which z = 4
    has p ~ .05; trimmed, it is N(0, 1) up to the quartiles' sampling noise, as fitted to
    the null z-scores alone. On a pure N(0, 1) sample both fits agree; on t with 3 df the
    trimmed fit never makes the tail lighter than a normal's."""
    from analysis.gaming._empnull import fit_empirical_null

    k = n // 10
    full, cut, alone = [], [], []
    for s in range(40):
        rng = np.random.default_rng(s)
        z0 = rng.standard_normal(n - k)
        p = stats.norm.sf(np.r_[z0, rng.normal(5.0, 1.0, k)])
        full.append(fit_empirical_null(p, min_n=50, level=0.2))
        cut.append(fit_empirical_null(p, min_n=50, level=0.2, trim=0.01))
        alone.append(fit_empirical_null(stats.norm.sf(z0), min_n=50, level=0.2))
    four = np.array([4.0])
    assert np.median([f.sf(four)[0] for f in full]) > 0.01
    assert np.median([c.sf(four)[0] for c in cut]) < 2e-4
    for attr in ("loc", "scale"):
        got = np.median([getattr(c, attr) for c in cut])
        assert abs(got - np.median([getattr(a, attr) for a in alone])) < 0.05, attr
    assert np.mean([np.isfinite(c.df) for c in cut]) <= 0.25
    assert np.mean([np.isfinite(f.df) for f in full]) >= 0.9
    rng = np.random.default_rng(99)
    p0 = stats.norm.sf(rng.standard_normal(n))
    a, b = (fit_empirical_null(p0, min_n=50, level=0.2, trim=t) for t in (None, 0.01))
    assert abs(a.loc - b.loc) < 0.1 and abs(a.scale - b.scale) < 0.1
    pt = stats.norm.sf(rng.standard_t(3, n))
    c = fit_empirical_null(pt, min_n=50, level=0.2, trim=0.01)
    assert c.sf(np.array([3.5]))[0] >= stats.norm.sf(3.5)


# --- decision, registration, edges -----------------------------------------------------

def test_strong_step_is_not_diluted_by_the_level_check():
    """A step p of 1e-7 beside a level p capped at 0.99 (and other neutral checks): as its
    own signature it keeps the agent's combined p near 1e-6; pooled into the acw_padding
    signature by Stouffer it would fall to ~1e-2."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(100):
        a = f"A{i:03d}"
        for c in ("acw_inflation", "hold_inflation", "transfer_dumping", "short_calls_peer"):
            for per in ("2026-01", "2026-02"):
                rows.append((a, per, c, 0.99 if (i == 0 and c == "acw_inflation")
                             else float(rng.uniform())))
        for c in STEPS:
            rows.append((a, "all", c, 1e-7 if (i == 0 and c == "acw_step")
                         else float(rng.uniform())))
    f = pd.DataFrame(rows, columns=["agent_id", "period", "check", "p_value"]).assign(
        effect=1.0, effect_unit="u")
    a, _ = agent_table(f, alpha=0.05)
    top = a[(a["scope"] == "all") & (a["agent_id"] == "A000")].iloc[0]
    assert top["flagged"] and top["p_value"] < 1e-5
    assert "acw_padding" in top["behaviours"] and "acw_step" in top["checks"]


def test_registered_everywhere():
    from analysis.gaming import CHECKS

    for c, beh in zip(STEPS, ["acw_padding", "hold_padding", "transfer_dumping"], strict=True):
        assert CHECKS.get(c) is not None
        assert BEHAVIOUR_OF[c] == beh and CHECK_BEHAVIOUR[c] == beh
        assert SIGNATURE_OF[c] == c  # its own signature
    assert {"step_min_days", "step_min_calls", "step_min_peers", "step_empirical_null",
            "step_null_min"} <= CHECK_OPTIONS


def test_skips_and_min_days_option():
    df = simulate_calls(n_agents=30, days=12, seed=5)
    r = check_acw_step(make_context(df, drop=("acw_s",)))
    assert r.skipped and "acw_s" in r.skipped
    r = check_acw_step(make_context(df))  # 12 days < 2 x 7
    assert r.skipped and "days" in r.skipped
    r = check_acw_step(make_context(df, options={"step_min_days": 3}))
    assert not r.skipped and len(r.flags) == 30
    assert (r.flags["period"] == "all").all() and r.flags["p_value"].between(0, 1).all()
    k = r.flags["k"].astype(int)
    assert k.between(3, 9).all()  # days after the step respect the minimum


def test_runner_dates_a_flagged_step():
    from analysis.gaming import run_checks

    pad = [f"A{i:03d}" for i in range(3)]
    df = simulate_calls(n_agents=80, days=61, seed=81,
                        effects={a: {"acw": 1.5, "onset": 30} for a in pad})
    rep = run_checks(df, checks=["acw_step"], options={"raise_errors": True})
    a = rep.agents[rep.agents["scope"] == "all"].set_index("agent_id")
    assert a.loc[pad, "flagged"].all() and not a.drop(index=pad)["flagged"].any()
    first = pd.to_datetime(a.loc[pad, "first_date"])
    assert (np.abs((first - (START + pd.Timedelta(days=30))).dt.days) <= 3).all()
    # change points: only steps that survive BH across agents, levels relative to peers
    cp = rep.changepoints
    steps = cp[cp["source"].astype(str) == "acw_step"]
    assert set(steps["agent_id"]) <= set(pad) and len(steps) >= 2
    assert (steps["before"] == 1.0).all() and (steps["after"] > 1.2).all()
    f = rep.flags[rep.flags["check"] == "acw_step"].set_index("agent_id")
    listed = f.loc[steps["agent_id"], "effect"].to_numpy()
    assert np.allclose(1 + listed / 100, steps["after"].to_numpy())
