"""Property: loader + panel account for every row (issue 7, part 1).

Random small call tables -- good calls of a few agents over three months, with random
contract-breaking rows mixed in -- are written as CSV, loaded with ``load_calls`` and
turned into the panel. Whatever the table:

* rows read == valid + quarantined, and the quarantined rows are exactly the planted bad
  ones (each with a reason of the planted kind);
* the panel's ``calls`` summed over agent-periods == valid answered/transferred rows;
* every ``*_rate`` lies in [0, 1];
* ``aht_s`` == a plain pandas mean of talk + hold + acw per agent and month of answer_ts,
  and ``calls`` == the plain pandas count.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.load import load_calls
from analysis.panel import build_panel

HEADER = ["call_id", "queue", "arrival_ts", "outcome", "agent_id", "answer_ts", "talk_s",
          "hold_s", "acw_s", "customer_id", "csat", "resolved", "ended_by"]
T0 = pd.Timestamp("2026-01-01 08:00:00")

#: bad kind -> the reason the loader must give it
BAD = {
    "negative_talk": "negative_talk_s",
    "unknown_outcome": "unknown_outcome",
    "before_arrival": "answer_before_arrival",
    "no_agent": "missing_agent_id",
    "bad_time": "unparseable_arrival_ts",
    "absurd_acw": "absurd_acw_s",
    "csat_range": "csat_out_of_range",
    "duplicate": "duplicate_call_id",
}

good_call = st.fixed_dictionaries({
    "agent": st.sampled_from(["A1", "A2", "A3", "张三"]),
    "minute": st.integers(0, 89 * 24 * 60),  # Jan-Mar 2026
    "wait": st.integers(0, 600),
    "outcome": st.sampled_from(["answered", "answered", "transferred", "abandoned"]),
    "talk": st.one_of(st.integers(0, 3600).map(str),
                      st.floats(0, 3600, allow_nan=False).map(lambda x: f"{x:.3f}"),
                      st.integers(0, 3599).map(lambda s: f"0:{s // 60:02d}:{s % 60:02d}")),
    "hold": st.sampled_from(["", "0", "15", "7.5"]),
    "acw": st.sampled_from(["", "0", "30", "120.25"]),
    "cust": st.sampled_from(["", "K1", "K2", "K3"]),
    "csat": st.sampled_from(["", "1", "3", "5"]),
    "resolved": st.sampled_from(["", "true", "false"]),
    "ended_by": st.sampled_from(["", "agent", "customer", "system"]),
})


def _row(i: int, g: dict) -> list[str]:
    arr = T0 + pd.Timedelta(minutes=g["minute"])
    handled = g["outcome"] != "abandoned"
    ans = arr + pd.Timedelta(seconds=g["wait"])
    return [f"c{i}", "q", str(arr), g["outcome"], g["agent"] if handled else "",
            str(ans) if handled else "", g["talk"] if handled else "", g["hold"], g["acw"],
            g["cust"], g["csat"], g["resolved"], g["ended_by"]]


def _break(row: list[str], kind: str, first_id: str) -> list[str]:
    r = list(row)
    r[3] = "answered"
    r[4] = r[4] or "A1"
    r[5] = r[5] or r[2]
    r[6] = r[6] or "60"
    if kind == "negative_talk":
        r[6] = "-12"
    elif kind == "unknown_outcome":
        r[3] = "dropped"
    elif kind == "before_arrival":
        r[5] = str(pd.Timestamp(r[2]) - pd.Timedelta(minutes=5))
    elif kind == "no_agent":
        r[4] = ""
    elif kind == "bad_time":
        r[2] = "yesterday"
    elif kind == "absurd_acw":
        r[8] = "200000"
    elif kind == "csat_range":
        r[10] = "9"
    elif kind == "duplicate":
        r[0] = first_id
    return r


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(goods=st.lists(good_call, min_size=1, max_size=40),
       bads=st.lists(st.tuples(st.sampled_from(sorted(BAD)), st.integers(0, 10**6)),
                     max_size=8),
       period=st.sampled_from(["month", "week"]))
def test_loader_and_panel_account_for_every_row(tmp_path_factory, goods, bads, period):
    rows = [_row(i, g) for i, g in enumerate(goods)]
    planted = {}
    for j, (kind, pos) in enumerate(bads):
        bad = _break(_row(10_000 + j, goods[pos % len(goods)]), kind, first_id="c0")
        if kind != "duplicate":
            planted[bad[0]] = BAD[kind]
        rows.insert(1 + pos % len(rows), bad)  # after c0, so c0 is the id kept
    dup_ids = {f"c0#{k}" for k in range(1, 1 + sum(k == "duplicate" for k, _ in bads))}
    path = tmp_path_factory.mktemp("prop") / "calls.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)

    res = load_calls(path)
    assert res.rows_read == len(rows)
    assert len(res.valid) + len(res.quarantine) == res.rows_read
    # exactly the planted rows are quarantined, each with (at least) its planted reason
    got, k = {}, 0
    for cid, reason in zip(res.quarantine["call_id"], res.quarantine["reason"], strict=True):
        if cid == "c0":
            k += 1
            assert "duplicate_call_id" in reason.split(";")
            got[f"c0#{k}"] = "duplicate_call_id"
        else:
            got[cid] = reason
    assert set(got) == set(planted) | dup_ids
    for cid, reason in planted.items():
        assert reason in got[cid].split(";"), (cid, got[cid])
    assert set(res.valid["call_id"]) == {f"c{i}" for i in range(len(goods))}

    v = res.valid
    handled = v[v["outcome"].isin(["answered", "transferred"])].copy()
    if handled.empty:
        return
    panel = build_panel(v, period=period)
    assert int(panel["calls"].sum()) == len(handled)
    rates = [c for c in panel.columns if c.endswith("_rate")]
    assert rates
    for c in rates:
        x = panel[c].dropna()
        assert ((x >= 0) & (x <= 1)).all(), (c, x.tolist())

    # plain pandas reference
    ts = handled["answer_ts"]
    if period == "month":
        handled["period"] = ts.dt.strftime("%Y-%m")
    else:
        iso = ts.dt.isocalendar()
        handled["period"] = [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"],
                                                              strict=True)]
    handled["handle"] = (handled["talk_s"].astype(float)
                         + handled["hold_s"].astype(float).fillna(0)
                         + handled["acw_s"].astype(float).fillna(0))
    ref = handled.groupby(["agent_id", "period"]).agg(calls=("handle", "size"),
                                                       aht_s=("handle", "mean"))
    got_p = panel.set_index(["agent_id", "period"])[["calls", "aht_s"]].sort_index()
    ref = ref.sort_index()
    assert list(got_p.index) == list(ref.index)
    assert (got_p["calls"].to_numpy() == ref["calls"].to_numpy()).all()
    np.testing.assert_allclose(got_p["aht_s"].to_numpy(float), ref["aht_s"].to_numpy(float),
                               rtol=1e-9, atol=1e-6)
