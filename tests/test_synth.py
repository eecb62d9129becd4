"""The synthetic center: determinism, contract shape, and each planted signature.

Expected values come from the generator's documented parameters (strengths, the beta
heterogeneity of short-call rates), with tolerances from binomial / sampling error,
never from the generator's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from analysis.contract import CALL_SCHEMA
from analysis.errors import ConfigError
from analysis.synth import (
    GAMING_BEHAVIOURS,
    generate_center,
    parse_gaming_spec,
    write_center,
)
from analysis.synth._world import HARD_QUEUE, Q_SHORT, QUEUE_NAMES

SHIFT_HOURS = {"early": (7, 15), "day": (10, 18), "late": (13, 21)}
PANEL_METRICS = {
    "calls", "aht_s", "talk_s", "hold_s", "acw_s", "short_call_rate", "transfer_rate",
    "repeat_call_rate", "resolved_rate", "csat_mean", "qa_mean",
}  # fmt: skip


def handled(center) -> pd.DataFrame:
    df = center.calls
    h = df[df.outcome != "abandoned"].copy()
    truth = center.truth.set_index("agent_id")
    h["behaviour"] = h.agent_id.map(truth.behaviour).astype(str)
    h["handle"] = h.talk_s + h.hold_s + h.acw_s
    h["day"] = (h.answer_ts - pd.Timestamp(center.start)).dt.days
    h["kind"] = center.call_kind[h.index.to_numpy()]
    return h


@pytest.fixture(scope="module")
def mixed():
    spec = (
        "hangup=4@0.2,bunching=3@0.8,acw_padding=3@0.5:15-29,transfer_dumping=3@0.15,"
        "end_of_day_stretch=3@1.0,sandbagging=2@0.1,reciprocal=4@1.0"
    )
    return generate_center(agents=70, days=30, seed=101, gaming=spec)


@pytest.fixture(scope="module")
def mixed_h(mixed):
    return handled(mixed)


# --- determinism and shape ---------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    files = ("calls.parquet", "roster.csv", "ratings_360.csv", "okr.yml", "truth.csv")
    kw = dict(agents=20, days=12, gaming="hangup=2,bunching=1,reciprocal=2")
    a = write_center(generate_center(seed=5, **kw), tmp_path / "a")
    b = write_center(generate_center(seed=5, **kw), tmp_path / "b")
    c = write_center(generate_center(seed=6, **kw), tmp_path / "c")
    for key, f in zip(("calls", "roster", "ratings", "okr", "truth"), files, strict=True):
        assert a[key].name == f
        assert a[key].read_bytes() == b[key].read_bytes(), f
    assert a["calls"].read_bytes() != c["calls"].read_bytes()
    assert a["ratings"].read_bytes() != c["ratings"].read_bytes()


def test_calls_follow_the_contract(mixed, tmp_path):
    paths = write_center(mixed, tmp_path)
    schema = pq.read_schema(paths["calls"])
    assert schema.remove_metadata().equals(CALL_SCHEMA)
    df = pq.read_table(paths["calls"]).to_pandas()
    assert len(df) == mixed.n_calls
    assert df.call_id.is_unique
    assert set(df.outcome) == {"answered", "abandoned", "transferred"}
    assert set(df["queue"]) == set(QUEUE_NAMES)
    ab = df.outcome == "abandoned"
    assert df.loc[ab, ["agent_id", "answer_ts", "talk_s"]].isna().all().all()
    h = df[~ab]
    assert h[["agent_id", "answer_ts", "talk_s", "hold_s", "acw_s"]].notna().all().all()
    assert (h.answer_ts >= h.arrival_ts).all()
    assert (h[["talk_s", "hold_s", "acw_s"]] >= 0).all().all()
    assert df.customer_id.notna().all()
    assert set(df.ended_by.dropna()) <= {"agent", "customer", "system"}
    cs = df.csat.dropna()
    assert cs.between(1, 5).all() and 0.08 < len(cs) / len(h) < 0.22
    qa = df.qa_score.dropna()
    assert qa.between(0, 100).all() and 0 < len(qa) / len(h) < 0.05
    assert 0 < df.complaint.mean() < 0.02
    assert df.arrival_ts.is_monotonic_increasing
    # Open Mon-Sat 07:00-21:00: no arrival on a Sunday or outside opening hours.
    assert (df.arrival_ts.dt.day_of_week < 6).all()
    assert df.arrival_ts.dt.hour.between(7, 20).all()


def test_agents_answer_only_within_their_shift_and_employment(mixed):
    df = mixed.calls
    h = df[df.outcome != "abandoned"]
    ro = mixed.roster.set_index("agent_id")
    first = h.agent_id.map(ro["shift"].map(lambda s: SHIFT_HOURS[s][0]))
    end = h.agent_id.map(ro["shift"].map(lambda s: SHIFT_HOURS[s][1]))
    hour = h.answer_ts.dt.hour + h.answer_ts.dt.minute / 60
    assert (hour >= first).all() and (hour < end).all()
    day = h.answer_ts.dt.date
    hire = h.agent_id.map(ro.hire_date)
    assert (day >= hire).all()
    leavers = ro[ro.termination_date.notna()]
    assert 1 <= len(leavers) <= 0.1 * len(ro)
    for aid, term in leavers.termination_date.items():
        assert (day[h.agent_id == aid] < term).all()


# --- the gaming specification ------------------------------------------------------------


def test_parse_gaming_spec_grammar():
    items = parse_gaming_spec("hangup=3@0.15,bunching=2,acw_padding=2@0.5:0-30", days=61)
    assert [(i.behaviour, i.count, i.strength, i.start_day, i.end_day) for i in items] == [
        ("hangup", 3, 0.15, None, None),
        ("bunching", 2, 0.8, None, None),
        ("acw_padding", 2, 0.5, 0, 30),
    ]
    assert parse_gaming_spec("none") == []
    assert parse_gaming_spec(" NONE ") == []


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "hangup",
        "hangup=x",
        "hangup=-1",
        "hangup=2@1.5",
        "hangup=2@0",
        "cheating=2",
        "honest=3",
        "hangup=2,hangup=1",
        "reciprocal=3",
        "hangup=2:5-3",
        "hangup=2:0-99",
        "sandbagging=2:0-5",
        "hangup=2;bunching=1",
    ],
)
def test_bad_specs_raise_config_error_with_one_line(spec):
    with pytest.raises(ConfigError) as err:
        parse_gaming_spec(spec, days=30)
    assert "\n" not in str(err.value) and str(err.value)


def test_more_gamers_than_agents_is_a_config_error():
    with pytest.raises(ConfigError, match="plants 9 agents"):
        generate_center(agents=8, days=5, gaming="hangup=5,bunching=4")


def test_truth_matches_the_spec(mixed):
    t = mixed.truth
    assert list(t.columns) == [
        "agent_id",
        "behaviour",
        "gaming",
        "strength",
        "start_day",
        "end_day",
    ]
    assert t.agent_id.is_unique and len(t) == 70
    counts = t.behaviour.value_counts()
    expect = {"hangup": 4, "bunching": 3, "acw_padding": 3, "transfer_dumping": 3,
              "end_of_day_stretch": 3, "sandbagging": 2, "reciprocal": 4}  # fmt: skip
    for b, n in expect.items():
        assert counts[b] == n
    assert (t.gaming == t.behaviour.isin(GAMING_BEHAVIOURS)).all()
    assert set(t.behaviour) <= set(GAMING_BEHAVIOURS) | {"honest", "novice", "hard_queue"}
    pad = t[t.behaviour == "acw_padding"]
    assert (pad.start_day == 15).all() and (pad.end_day == 29).all() and (pad.strength == 0.5).all()
    other = t[t.behaviour == "hangup"]
    assert (other.start_day == 0).all() and (other.end_day == 29).all()
    assert (other.strength == 0.2).all()
    assert (t.loc[~t.gaming, "strength"] == 0).all()
    assert counts.get("novice", 0) >= 3


def test_hard_queue_agents_work_mostly_the_hard_queue(mixed_h):
    hq = mixed_h[mixed_h.behaviour == "hard_queue"]
    assert len(hq) > 0
    share = (hq["queue"] == QUEUE_NAMES[HARD_QUEUE]).groupby(hq.agent_id).mean()
    assert (share > 0.7).all()


# --- planted signatures ------------------------------------------------------------------


def test_hangup_share_within_binomial_error(mixed_h):
    h = mixed_h[mixed_h.behaviour == "hangup"]
    # A share `strength` of all the agent's calls are hang-ups (binomial error, 4 sd).
    k = int((h.kind == "hangup").sum())
    n = len(h)
    assert abs(k / n - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)
    for _, sub in h.groupby("agent_id"):
        share = (sub.kind == "hangup").mean()
        assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / len(sub))
    hang = h[h.kind == "hangup"]
    # 60 % recorded as agent-ended, the rest customer-ended (binomial error, 4 sd)
    assert (hang.talk_s < 20).all() and set(hang.ended_by) == {"agent", "customer"}
    p_agent = (hang.ended_by == "agent").mean()
    assert abs(p_agent - 0.6) < 4 * math.sqrt(0.24 / len(hang))
    assert not hang.resolved.any()
    # Honest agents have none, and the observable short-call rate shows it.
    assert (mixed_h.loc[mixed_h.behaviour != "hangup", "kind"] != "hangup").all()
    short = (mixed_h.talk_s < 20).groupby(mixed_h.behaviour).mean()
    assert short["hangup"] > short["honest"] + 0.15


def _excess_variance(h: pd.DataFrame) -> list[float]:
    """Per queue: (between-agent variance of the short rate - binomial variance) / expected."""
    out = []
    for qi, qn in enumerate(QUEUE_NAMES):
        sub = h[h["queue"] == qn]
        g = (sub.talk_s < 20).groupby(sub.agent_id).agg(["mean", "size"])
        g = g[g["size"] >= 150]
        if len(g) < 8:
            continue
        binom = (g["mean"] * (1 - g["mean"]) / g["size"]).mean()
        out.append((g["mean"].var(ddof=1) - binom, Q_SHORT[qi]))
    return out


@pytest.mark.parametrize("kappa", [20.0, 60.0])
def test_honest_short_call_rates_are_overdispersed_as_configured(kappa):
    c = generate_center(agents=160, days=20, seed=int(kappa), gaming="none", short_kappa=kappa)
    h = handled(c)
    res = _excess_variance(h)
    assert len(res) >= 3
    # Method of moments: excess variance / (m(1-m)) estimates 1 / (kappa + 1).
    ratio = np.mean([ex / (m * (1 - m) / (kappa + 1)) for ex, m in res])
    assert 0.55 < ratio < 1.6, ratio


def test_homogeneous_world_has_binomial_short_rates():
    c = generate_center(agents=160, days=20, seed=3, gaming="none", short_kappa=1e7)
    res = _excess_variance(handled(c))
    ratio = np.mean([ex / (m * (1 - m) / 21) for ex, m in res])  # in units of kappa=20
    assert abs(ratio) < 0.2, ratio


def test_bunching_piles_mass_just_below_the_target_for_bunchers_only(mixed_h):
    h = mixed_h[mixed_h.outcome == "answered"]
    below = h.handle.between(285, 299)
    above = h.handle.between(301, 315)
    g = pd.DataFrame({"b": below, "a": above, "beh": h.behaviour}).groupby("beh")[["b", "a"]].sum()
    r_bunch = g.loc["bunching", "b"] / g.loc["bunching", "a"]
    rest = g.drop(index="bunching").sum()
    assert r_bunch > 3.0
    assert 0.8 < rest["b"] / rest["a"] < 1.3
    for aid, sub in h[h.behaviour == "bunching"].groupby("agent_id"):
        assert sub.handle.between(285, 299).sum() > 2 * sub.handle.between(301, 315).sum(), aid


def test_bunching_follows_the_aht_target():
    c = generate_center(agents=30, days=20, seed=9, gaming="bunching=4@1.0", aht_target=420)
    h = handled(c)
    b = h[h.behaviour == "bunching"]
    assert b.handle.between(405, 419).sum() > 4 * b.handle.between(421, 435).sum()
    assert abs(b.handle.between(285, 299).sum() / b.handle.between(301, 315).sum() - 1) < 0.5


def test_acw_padding_raises_mean_acw_by_strength_in_its_window(mixed_h):
    h = mixed_h
    late = h.day >= 15
    acw = h.groupby(["behaviour", late]).acw_s.mean().unstack()
    ratio = acw[True] / acw[False]
    assert abs(ratio["acw_padding"] - 1.5) < 0.12, ratio["acw_padding"]
    assert abs(ratio["honest"] - 1.0) < 0.06, ratio["honest"]


def test_transfer_dumpers_transfer_more_and_earlier(mixed_h):
    h = mixed_h
    # Planted: a share `strength` of the calls that are not natural short calls (binomial).
    d = h[(h.behaviour == "transfer_dumping") & (h.kind != "short")]
    n = len(d)
    assert abs((d.kind == "dumped").mean() - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    # Observable: the transfer rate rises by about that much over honest agents'.
    rate = (h.outcome == "transferred").groupby(h.behaviour).mean()
    assert rate["transfer_dumping"] > rate[["honest", "hard_queue"]].max() + 0.08
    tr = h[h.outcome == "transferred"]
    med = tr.groupby(tr.behaviour == "transfer_dumping").talk_s.median()
    assert med[True] < 0.6 * med[False]


def test_end_of_day_stretch(mixed_h, mixed):
    h = mixed_h[mixed_h.outcome == "answered"]
    ro = mixed.roster.set_index("agent_id")
    end = h.agent_id.map(ro["shift"].map(lambda s: SHIFT_HOURS[s][1]))
    last = h.answer_ts.dt.hour >= end - 1
    normal = h.talk_s >= 20
    talk = h[normal].groupby([h.behaviour, last]).talk_s.mean().unstack()
    ratio = talk[True] / talk[False]
    assert ratio["end_of_day_stretch"] > 1.7
    assert abs(ratio["honest"] - 1) < 0.1
    share = last.groupby(h.behaviour).mean()
    assert share["end_of_day_stretch"] < 0.85 * share["honest"]


def test_customers_call_back_after_hang_ups(mixed):
    df = mixed.calls.sort_values(["customer_id", "arrival_ts"])
    nxt = df.groupby("customer_id").arrival_ts.shift(-1)
    gap_h = (nxt - df.arrival_ts).dt.total_seconds() / 3600
    hang = (
        (df.talk_s < 20)
        & (df.ended_by == "agent")
        & df.agent_id.map(mixed.truth.set_index("agent_id").behaviour).eq("hangup")
    )
    end = df.arrival_ts < df.arrival_ts.max() - pd.Timedelta(days=2)  # censoring
    resolved_normal = (df.talk_s >= 60) & df.resolved.fillna(False).astype(bool)
    p_hang = (gap_h[hang & end] <= 4).mean()
    p_norm = (gap_h[resolved_normal & end] <= 4).mean()
    assert p_hang > 0.5 and p_norm < 0.1
    unresolved = (
        (df.talk_s >= 60) & (df.outcome == "answered") & ~df.resolved.fillna(True).astype(bool)
    )
    assert (gap_h[unresolved & end] <= 72).mean() > (
        gap_h[resolved_normal & end] <= 72
    ).mean() + 0.2


def test_abandons_rise_with_waiting(mixed):
    df = mixed.calls
    slot = df.arrival_ts.dt.floor("h")
    wait = (df.answer_ts - df.arrival_ts).dt.total_seconds()
    s = pd.DataFrame({"ab": df.outcome == "abandoned", "w": wait, "slot": slot}).groupby("slot")
    s = s.agg(ab=("ab", "mean"), w=("w", "mean"), n=("ab", "size"))
    s = s[s.n >= 50]
    rho = stats.spearmanr(s.w, s.ab).statistic
    assert rho > 0.5
    assert 0.02 < (df.outcome == "abandoned").mean() < 0.15


def test_novices_improve_over_the_weeks(mixed_h):
    h = mixed_h[(mixed_h.outcome == "answered") & (mixed_h.talk_s >= 20)]
    nov = h[h.behaviour == "novice"]
    hon = h[h.behaviour == "honest"]
    n0, n1 = nov[nov.day < 7], nov[nov.day >= 23]
    h0, h1 = hon[hon.day < 7], hon[hon.day >= 23]
    assert n1.talk_s.mean() < 0.92 * n0.talk_s.mean()
    assert n1.resolved.mean() > n0.resolved.mean() + 0.03
    assert abs(h1.talk_s.mean() / h0.talk_s.mean() - 1) < 0.05
    assert nov.talk_s.mean() > hon.talk_s.mean()


def test_repeat_callers_exist_and_weekly_pattern(mixed):
    df = mixed.calls
    per = df.customer_id.value_counts()
    assert (per > 1).mean() > 0.05
    dow = df.arrival_ts.dt.day_of_week.value_counts()
    assert dow[0] > dow[4] > dow[5]
    hour = df.arrival_ts.dt.hour.value_counts()
    midday = hour[[10, 11, 12, 13, 14, 15, 16]].mean()
    assert midday > 1.8 * hour[7] and midday > 1.8 * hour[20]


# --- 360 and OKR -------------------------------------------------------------------------


def test_360_ratings(mixed):
    r = mixed.ratings
    assert list(r.columns) == [
        "period",
        "ratee_id",
        "rater_id",
        "rater_group",
        "competency",
        "score",
    ]
    groups = {"self", "supervisor", "peer", "customer"}
    assert r.score.between(1, 5).all() and set(r.rater_group) == groups
    assert set(r.period) == {"2026-01", "2026-02"}
    m = r.groupby("rater_group").score.mean()
    assert m["self"] > max(m["peer"], m["supervisor"]) + 0.3
    assert m["self"] > m["customer"] + 0.15
    peers = r[r.rater_group == "peer"].groupby(["period", "ratee_id"]).rater_id.nunique()
    assert peers.between(1, 6).all() and (peers >= 3).mean() > 0.9
    cust = r[r.rater_group == "customer"].groupby(["period", "ratee_id"]).rater_id.nunique()
    assert cust.between(3, 5).all()
    assert "teamwork" not in set(r.loc[r.rater_group == "customer", "competency"])
    # Rater leniency: a rater's mean across ratees varies more than rating noise allows.
    sup = r[r.rater_group == "supervisor"].groupby("rater_id").score.mean()
    assert sup.std() > 0
    # Reciprocal partners rate each other higher than they rate their other peers.
    partners = mixed.partners
    assert len(partners) == 4 and all(partners[b] == a for a, b in partners.items())
    pr = r[(r.rater_group == "peer") & r.rater_id.isin(list(partners))]
    given = pr.groupby(["rater_id", "ratee_id"]).score.mean().reset_index()
    is_partner = given.ratee_id == given.rater_id.map(partners)
    assert is_partner.sum() == 4
    assert given.score[is_partner].mean() > given.score[~is_partner].mean() + 0.5


def test_360_scores_loosely_track_skill(mixed_h, mixed):
    res = mixed_h[mixed_h.outcome == "answered"].groupby("agent_id").resolved.mean()
    r = mixed.ratings
    sup = r[r.rater_group == "supervisor"].groupby("ratee_id").score.mean()
    rho = stats.spearmanr(res.reindex(sup.index), sup).statistic
    assert rho > 0.2


def test_okr_yml_schema_and_baselines(mixed, tmp_path):
    paths = write_center(mixed, tmp_path)
    okr = yaml.safe_load(paths["okr"].read_text())
    assert set(okr) == {"objectives", "agents"}
    krs = {}
    for obj in okr["objectives"]:
        assert set(obj) == {"id", "title", "key_results"}
        for kr in obj["key_results"]:
            assert {"id", "metric", "direction", "baseline", "target"} <= set(kr)
            assert kr["metric"] in PANEL_METRICS and kr["direction"] in {"lower", "higher"}
            krs[kr["id"]] = kr
    assert {"kr_aht", "kr_repeat", "kr_csat"} <= set(krs)
    aht = krs["kr_aht"]
    assert aht["stretch"] < aht["target"] < aht["baseline"]
    # Baseline = the first calendar month's AHT, recomputed here by hand.
    df = mixed.calls
    jan = df[(df.outcome != "abandoned") & (df.answer_ts < pd.Timestamp("2026-02-01"))]
    assert aht["baseline"] == round((jan.talk_s + jan.hold_s + jan.acw_s).mean())
    assert krs["kr_csat"]["baseline"] == round(jan.csat.mean(), 2)
    ids = set(mixed.truth.agent_id)
    assert set(okr["agents"]) <= ids and len(okr["agents"]) > 0.8 * len(ids)
    for entry in okr["agents"].values():
        assert set(entry) <= set(krs)
        for v in entry.values():
            assert set(v) == {"baseline", "target"}


def test_sandbaggers_set_easy_targets(mixed):
    t = mixed.truth.set_index("agent_id").behaviour
    ag = mixed.okr["agents"]
    for aid, entry in ag.items():
        kr = entry["kr_aht"]
        if t[aid] == "sandbagging":
            assert kr["target"] > kr["baseline"], aid
        else:
            assert kr["target"] < kr["baseline"], aid


def test_null_world_has_no_gamers():
    c = generate_center(agents=30, days=10, seed=4, gaming="none")
    assert not c.truth.gaming.any()
    assert set(c.truth.behaviour) <= {"honest", "novice", "hard_queue"}
    assert not np.isin(c.call_kind, ["hangup", "dumped", "bunched", "stretched"]).any()


def test_fixtures_write_a_center(synth_center, synth_null_center):
    for paths in (synth_center, synth_null_center):
        assert set(paths) == {"calls", "roster", "ratings", "okr", "truth"}
        assert all(p.is_file() for p in paths.values())
    t = pd.read_csv(synth_center["truth"])
    assert len(t) == 40 and t.gaming.sum() == 14
    assert not pd.read_csv(synth_null_center["truth"]).gaming.any()


def test_okr_baselines_match_the_metric_panel(mixed, tmp_path):
    """The center's first-month levels, recomputed by the panel (DuckDB) from the file."""
    panel_mod = pytest.importorskip("analysis.panel")
    paths = write_center(mixed, tmp_path)
    panel = panel_mod.build_panel(paths["calls"], period="month")
    jan = panel[panel.period == "2026-01"]
    krs = {kr["id"]: kr for o in mixed.okr["objectives"] for kr in o["key_results"]}
    aht = (jan.aht_s * jan.calls).sum() / jan.calls.sum()
    assert krs["kr_aht"]["baseline"] == round(aht)
    rep = (jan.repeat_call_rate * jan.repeat_calls_observed).sum() / jan.repeat_calls_observed.sum()
    assert krs["kr_repeat"]["baseline"] == pytest.approx(rep, abs=0.0006)
    cs = (jan.csat_mean * jan.csat_responses).sum() / jan.csat_responses.sum()
    assert krs["kr_csat"]["baseline"] == pytest.approx(cs, abs=0.006)


def test_survey_selection_keeps_bad_calls_out_of_the_survey():
    c = generate_center(agents=40, days=20, seed=21, gaming="survey_selection=4@0.8")
    h = handled(c)
    bad = (h.talk_s < 20) | ~h.resolved.astype(bool)
    normal_bad = bad & (h.talk_s >= 20)
    surveyed = h.csat.notna()
    sel = h.behaviour == "survey_selection"
    p_sel = surveyed[sel & normal_bad].mean()
    n_sel = int((sel & normal_bad).sum())
    assert abs(p_sel - 0.15 * 0.2) < 4 * math.sqrt(0.03 * 0.97 / n_sel)
    good = ~bad
    assert abs(surveyed[sel & good].mean() - 0.15) < 0.02
    assert abs(surveyed[~sel & normal_bad].mean() - 0.15) < 0.02
    # Honest agents: half the survey rate after very short calls.
    short = ~sel & (h.talk_s < 20)
    assert abs(surveyed[short].mean() - 0.075) < 4 * math.sqrt(0.075 * 0.925 / short.sum())


def test_call_level_gaming_only_in_its_active_days():
    c = generate_center(agents=24, days=20, seed=8, gaming="hangup=3@0.3:10-14,bunching=2@1.0:5-9")
    h = handled(c)
    hang = h[h.behaviour == "hangup"]
    inside = hang.day.between(10, 14)
    assert (hang.kind[~inside] != "hangup").all()
    share = (hang.kind[inside] == "hangup").mean()
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / inside.sum())
    b = h[h.behaviour == "bunching"]
    assert (b.kind[~b.day.between(5, 9)] != "bunched").all()
    assert (b.kind[b.day.between(5, 9)] == "bunched").sum() > 10


def test_queues_surveys_and_qa_look_like_a_center(mixed_h):
    h = mixed_h[(mixed_h.outcome == "answered") & (mixed_h.talk_s >= 20)]
    med = h.groupby("queue").talk_s.median()
    assert med["tech_support"] > 1.4 * med["general"]  # queues differ in service time
    held = (h.hold_s > 0).groupby(h["queue"]).mean()
    assert held.between(0.05, 0.5).all() and held["tech_support"] > held["general"]
    assert (h.acw_s > 0).mean() > 0.95
    # Talk is right-skewed (lognormal-ish): mean above median in every queue.
    assert (h.groupby("queue").talk_s.mean() > med).all()
    # Satisfaction tracks resolution; QA tracks the agent's quality.
    cs = h.groupby(h.resolved.astype(bool)).csat.mean()
    assert cs[True] > cs[False] + 0.5
    ag = h.groupby("agent_id").agg(cs=("csat", "mean"), qa=("qa_score", "mean"))
    assert stats.spearmanr(ag.cs, ag.qa, nan_policy="omit").statistic > 0.2


# --- stress worlds (issue #13 item 1) -----------------------------------------------------

STRESS_KW = dict(agents=100, days=61, seed=202, gaming="hangup=6@0.1")


@pytest.fixture(scope="module")
def clean_w():
    return handled(generate_center(**STRESS_KW))


@pytest.fixture(scope="module")
def messy_w():
    return handled(generate_center(**STRESS_KW, stress="messy"))


def _experienced(h: pd.DataFrame) -> pd.DataFrame:
    return h[h.behaviour.isin(["honest", "hard_queue"])]


def test_stress_spec_parsing_and_errors():
    from analysis.synth import STRESS_PRESETS, Stress, parse_stress

    assert parse_stress(None) == Stress() == parse_stress("none") == parse_stress({})
    assert parse_stress("messy") == STRESS_PRESETS["messy"]
    s = parse_stress("messy,ended_by=false,weekday=2")
    assert s.ended_by is False and s.weekday == 2.0 and s.agent_day_sd == 0.35
    assert parse_stress({"handle_drift": 0.12}).handle_drift == 0.12
    for bad in ["", "chaos", "weekday=x", "weekday=-1", "colour=3", "ended_by=maybe",
                "propensity=cauchy", "weekday=1,messy"]:
        with pytest.raises(ConfigError) as err:
            parse_stress(bad)
        assert "\n" not in str(err.value)


def test_clean_hangups_are_not_always_agent_ended(clean_w, messy_w):
    """Clean: 60 % of planted hang-ups agent-ended; messy: 30 %, as natural short calls."""
    for h, share in ((clean_w, 0.6), (messy_w, 0.3)):
        hang = h[h.kind == "hangup"]
        n = len(hang)
        got = (hang.ended_by == "agent").mean()
        assert abs(got - share) < 4 * math.sqrt(share * (1 - share) / n), (got, share)
        assert set(hang.ended_by) == {"agent", "customer"}
        nat = h[h.kind == "short"]
        p_nat = (nat.ended_by == "agent").mean()
        assert 0.2 < p_nat < 0.45  # natural short calls: about 30 % agent-ended


def test_stressed_world_keeps_the_clean_world_underneath(tmp_path):
    """Stress draws have their own stream: dropping ended_by changes nothing else."""
    kw = dict(agents=20, days=12, seed=5, gaming="hangup=2")
    a = generate_center(**kw).calls
    b = generate_center(**kw, stress={"ended_by": False}).calls
    assert b.ended_by.isna().all() and a.ended_by.notna().all()
    pd.testing.assert_frame_equal(a.drop(columns="ended_by"), b.drop(columns="ended_by"))
    paths = write_center(generate_center(**kw, stress="messy,ended_by=false"), tmp_path)
    df = pq.read_table(paths["calls"]).to_pandas()
    assert df.ended_by.isna().all() and len(df) > 0


def test_messy_handle_time_drifts_smoothly_by_12_percent(clean_w, messy_w):
    def ratio(h):
        e = _experienced(h)
        e = e[e.kind == "normal"]
        first = e[e.day < 7].handle.mean()
        last = e[e.day >= 54].handle.mean()
        mid = e[(e.day >= 27) & (e.day < 34)].handle.mean()
        return last / first, mid / first

    r_clean, _ = ratio(clean_w)
    r_messy, r_mid = ratio(messy_w)
    # half-cosine ramp: weeks 1 and 9 sit at r = 0.01 and 0.99, the middle week at 0.5
    assert abs(r_clean - 1.0) < 0.03
    assert abs(r_messy - 1.116) < 0.035
    assert abs(r_mid - 1.06) < 0.035  # a smooth ramp, not a step


def test_messy_weekday_cycle(clean_w, messy_w):
    def mon_sat(h):
        e = _experienced(h)
        dow = e.answer_ts.dt.day_of_week
        short = e.kind == "short"
        hnd = e[e.kind == "normal"]
        hdow = hnd.answer_ts.dt.day_of_week
        return (short[dow == 0].mean() / short[dow == 5].mean(),
                hnd.handle[hdow == 0].mean() / hnd.handle[hdow == 5].mean(), int((dow == 5).sum()))

    rs_c, rh_c, _ = mon_sat(clean_w)
    rs_m, rh_m, n_sat = mon_sat(messy_w)
    assert abs(rh_c - 1.0) < 0.03 and abs(rh_m - 1.05 / 0.95) < 0.035
    # short-call odds +0.15 on Mondays, -0.15 on Saturdays: rate ratio about 1.33
    assert rs_m > 1.18 and abs(rs_c - 1.0) < 0.15, (rs_m, rs_c, n_sat)


def test_messy_agent_day_effects_overdisperse_daily_counts(clean_w, messy_w):
    """Pearson dispersion of agent-day short counts around each agent's own rate."""
    def dispersion(h):
        e = _experienced(h)
        g = e.assign(s=e.kind == "short").groupby(["agent_id", "day"]).s.agg(["sum", "size"])
        g = g[g["size"] >= 20]
        p = g.groupby(level=0)["sum"].transform("sum") / g.groupby(level=0)["size"].transform("sum")
        chi = ((g["sum"] - g["size"] * p) ** 2 / (g["size"] * p * (1 - p))).sum()
        return chi / (len(g) - g.index.get_level_values(0).nunique())

    d_clean, d_messy = dispersion(clean_w), dispersion(messy_w)
    # binomial within agent: chi2 / df has sd about sqrt(2 / df) ~ 0.015 here
    assert abs(d_clean - 1.0) < 0.07, d_clean
    # logit shock SD 0.35 at about 2 expected short calls a day: about 1.25
    assert d_messy > 1.15, d_messy


def test_messy_short_rate_drifts_and_novices_learn(clean_w, messy_w):
    def early_late(h, who):
        e = h[h.behaviour.isin(who)]
        s = e.kind == "short"
        return s[e.day < 14].mean(), s[e.day >= 47].mean()

    c0, c1 = early_late(clean_w, ["honest", "hard_queue"])
    m0, m1 = early_late(messy_w, ["honest", "hard_queue"])
    assert abs(c1 / c0 - 1) < 0.12
    assert m1 / m0 < 0.85  # odds -25 % over the window (ramp 0.03 -> 0.96)
    n0, n1 = early_late(messy_w, ["novice"])
    assert n1 / n0 < 0.85 * (m1 / m0)  # novices' excess short calls fade with tenure


def test_messy_propensities_are_shared_across_queues_and_heavy_tailed(clean_w, messy_w):
    from analysis.synth._stress import Stress, stress_arrays

    def cross_queue_rho(h):
        e = _experienced(h)
        prim = e.groupby("agent_id")["queue"].agg(lambda q: q.mode().iloc[0])
        is_p = e["queue"] == e.agent_id.map(prim)
        s = e.kind == "short"
        a = s[is_p].groupby(e.agent_id[is_p]).mean()
        b = s[~is_p].groupby(e.agent_id[~is_p]).mean()
        return stats.spearmanr(a, b.reindex(a.index)).statistic

    assert cross_queue_rho(messy_w) > 0.35
    assert abs(cross_queue_rho(clean_w)) < 0.3
    # the shared latent is Student-t (4 df): heavy tails on a large draw
    q = np.array([0.04, 0.03, 0.05, 0.025])
    _, ps, _ = stress_arrays(Stress(propensity="t"), 1, 20_000, 10, 0, None, None, q, q)
    z = np.log(ps[:, 0] / (1 - ps[:, 0]))
    assert stats.kurtosis(z) > 1.0
    _, pl, _ = stress_arrays(Stress(propensity="lognormal"), 1, 20_000, 10, 0, None, None, q, q)
    assert stats.skew(np.log(pl[:, 0] / (1 - pl[:, 0]))) > 1.0


def test_habit_tail_gives_after_call_work_and_hold_a_heavy_tail_and_moves_nothing_else():
    from analysis.synth._stress import Stress, stress_arrays

    q = np.array([0.04, 0.03])
    base, _, _ = stress_arrays(Stress(propensity="t"), 1, 20_000, 10, 0, None, None, q, q)
    heavy, _, _ = stress_arrays(Stress(propensity="t", habit_tail=0.8), 1, 20_000, 10, 0,
                                None, None, q, q)
    assert base.acw_mult is None and base.hold_mult is None
    for m in (heavy.acw_mult, heavy.hold_mult):
        x = np.log(m)
        assert stats.kurtosis(x) > 3.0  # t3: far heavier than a normal's 0
        assert np.median(np.abs(x)) == pytest.approx(0.8 / np.sqrt(3) * 0.765, rel=0.05)
    # the other stress draws are the same (the habit draws come last)
    np.testing.assert_array_equal(base.short_ad, heavy.short_ad)
    np.testing.assert_array_equal(base.talk_ad, heavy.talk_ad)
    kw = dict(agents=40, days=10, seed=5)
    a = generate_center(**kw, stress="messy").calls
    b = generate_center(**kw, stress="messy,habit_tail=0.8").calls
    spread = [np.log((b.groupby("agent_id")[c].mean() + 1)
                     / (a.groupby("agent_id")[c].mean() + 1)).std() for c in ("acw_s", "talk_s")]
    assert spread[0] > 0.3 > 0.05 > spread[1]  # after-call work moved, talk did not


def test_idle_follows_the_hour_the_call_lands_in():
    """Honest agents' late idle does not depend on their handle time (issue #13).

    The idle before a call is read at the occupancy of the hour the call lands in. When
    it was read at the hour of a flat-idle first pass, agents with many short calls drifted
    furthest from it, so in the quiet hour before closing long-call agents got the true
    (long) idle and short-call agents an earlier hour's: on the late shift the end-of-day
    gap contrast (centred on the same hour's peers) rose with handle time (Spearman 0.52
    over these 154 agent-months) and honest long-call agents were flagged as avoiders.
    """
    from analysis.gaming._context import build_context
    from analysis.gaming.end_of_day import end_of_day_contrasts

    rows = []
    for seed in (3, 4, 5):  # one agent-month each (30 days: February's 3 join January)
        c = generate_center(agents=150, days=30, seed=seed)
        ctx, _ = build_context(c.calls)
        d = end_of_day_contrasts(ctx).merge(c.roster[["agent_id", "shift"]], on="agent_id")
        ca = c.calls
        aht = (ca.talk_s + ca.hold_s.fillna(0) + ca.acw_s.fillna(0)).groupby(ca.agent_id).mean()
        d["aht"] = d["agent_id"].map(aht)
        d = d.merge(c.truth[["agent_id", "behaviour"]], on="agent_id")
        rows.append(d[d["behaviour"].isin(["honest", "hard_queue", "novice"])
                      & (d["shift"] == "late")].dropna(subset=["d_gap"]))
    late = pd.concat(rows)
    assert len(late) > 120
    assert stats.spearmanr(late["aht"], late["d_gap"]).statistic < 0.2
