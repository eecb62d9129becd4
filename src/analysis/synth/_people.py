"""Roster, 360 ratings, OKRs and the truth table of a synthetic center."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ._calls import OUT_ABANDONED, CallArrays
from ._world import SHIFTS, Agents

__all__ = ["make_roster", "make_truth", "make_ratings", "make_okr", "okr_to_yaml", "COMPETENCIES"]

COMPETENCIES = ("product_knowledge", "empathy", "communication", "problem_solving", "teamwork")
SITES = ("north", "south")


def make_roster(ag: Agents, start: dt.date) -> pd.DataFrame:
    """agent_id, team, supervisor_id, hire_date, termination_date, shift, site."""
    hire = [start + dt.timedelta(days=int(h)) for h in ag.hire_day]
    term = [start + dt.timedelta(days=int(t)) if t < 10**6 else None for t in ag.term_day]
    return pd.DataFrame(
        {
            "agent_id": ag.ids,
            "team": [f"T{t + 1:02d}" for t in ag.team],
            "supervisor_id": [f"S{t + 1:02d}" for t in ag.team],
            "hire_date": pd.to_datetime(hire).date,
            "termination_date": pd.Series(pd.to_datetime(term)).dt.date.astype(object),
            "shift": [SHIFTS[s][0] for s in ag.shift],
            "site": [SITES[t % len(SITES)] for t in ag.team],
        }
    )


def make_truth(ag: Agents) -> pd.DataFrame:
    """agent_id, behaviour, gaming, strength, start_day, end_day (one row per agent)."""
    gaming = ~np.isin(ag.behaviour, ["honest", "novice", "hard_queue"])
    return pd.DataFrame(
        {
            "agent_id": ag.ids,
            "behaviour": ag.behaviour.astype(str),
            "gaming": gaming,
            "strength": np.where(gaming, ag.strength, 0.0),
            "start_day": ag.g_start.astype(np.int64),
            "end_day": ag.g_end.astype(np.int64),
        }
    )


def _months(start: dt.date, days: int) -> list[tuple[str, int, int]]:
    """Calendar months in the window: (YYYY-MM, first day offset, last day offset)."""
    out: list[tuple[str, int, int]] = []
    for d in range(days):
        label = (start + dt.timedelta(days=d)).strftime("%Y-%m")
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], d)
        else:
            out.append((label, d, d))
    return out


def make_ratings(rng: np.random.Generator, ag: Agents, start: dt.date, days: int) -> pd.DataFrame:
    """360 ratings: one round a calendar month; self, supervisor, 3-6 peers, 3-5 customers.

    A rating is ``3.2 + 0.5 * true competency + rater leniency + halo(rater, ratee)
    + noise`` rounded to 1-5; self-ratings are inflated by 0.6; reciprocal partners
    add their strength to the ratings they give each other. Peers are drawn from the
    ratee's team each month (partners always rate each other).
    """
    n = ag.n
    nc = len(COMPETENCIES)
    skill_z = (ag.res_skill / 0.35 + ag.quality) / 2.0
    comp = 0.7 * skill_z[:, None] + 0.7 * rng.standard_normal((n, nc))
    n_sup = ag.n_teams
    # Rater index: agents 0..n-1, supervisors n..n+n_sup-1.
    leniency = rng.normal(0.0, 0.3, n + n_sup)
    leniency[n:] = rng.normal(0.0, 0.15, n_sup)
    halo = rng.normal(0.0, 0.3, (n + n_sup, n))
    sup_ids = [f"S{t + 1:02d}" for t in range(n_sup)]
    rater_names = np.array(list(ag.ids) + sup_ids, dtype=object)
    frames = []
    for label, d0, d1 in _months(start, days):
        employed = (ag.hire_day <= d1) & (ag.term_day > d0)
        idx = np.nonzero(employed)[0]
        if len(idx) == 0:
            continue
        r_list, e_list, g_list = [], [], []
        for i in idx:
            r_list.append(i)
            e_list.append(i)
            g_list.append("self")
            r_list.append(n + ag.team[i])
            e_list.append(i)
            g_list.append("supervisor")
            mates = idx[(ag.team[idx] == ag.team[i]) & (idx != i)]
            k = min(len(mates), int(rng.integers(3, 7)))
            peers = list(rng.choice(mates, size=k, replace=False)) if k else []
            p = ag.partner[i]
            if p >= 0 and p in mates and p not in peers:
                if peers:
                    peers[-1] = p
                else:
                    peers = [p]
            for j in peers:
                r_list.append(int(j))
                e_list.append(i)
                g_list.append("peer")
        rater = np.repeat(np.array(r_list), nc)
        ratee = np.repeat(np.array(e_list), nc)
        group = np.repeat(np.array(g_list, dtype=object), nc)
        c = np.tile(np.arange(nc), len(r_list))
        lrn = np.exp(-(d1 - ag.hire_day[ratee]).clip(min=0) / 60.0)
        latent = (
            3.2
            + 0.5 * (comp[ratee, c] - 0.8 * lrn)
            + leniency[rater]
            + halo[rater, ratee]
            + 0.45 * rng.standard_normal(len(rater))
        )
        latent += np.where(group == "self", 0.6, 0.0)
        recip = (group == "peer") & (ag.partner[ratee] == rater)
        latent += np.where(recip, ag.strength[ratee], 0.0)
        # Customers (3-5 a ratee, each rating once): no halo from working together,
        # their own leniency, scores track resolution and quality; no teamwork item.
        n_cust = rng.integers(3, 6, size=len(idx))
        c_ratee = np.repeat(idx, n_cust)
        c_items = np.array([i for i, k in enumerate(COMPETENCIES) if k != "teamwork"])
        c_rater = np.arange(len(c_ratee))
        cr = np.repeat(c_rater, len(c_items))
        ce = np.repeat(c_ratee, len(c_items))
        cc = np.tile(c_items, len(c_ratee))
        c_len = rng.normal(0.0, 0.5, len(c_ratee))[cr]
        c_latent = (
            3.5
            + 0.35 * (ag.quality[ce] + ag.res_skill[ce] / 0.35) / 2.0
            + 0.2 * comp[ce, cc]
            + c_len
            + 0.5 * rng.standard_normal(len(cr))
        )
        cust_ids = np.array(
            [f"X{label.replace('-', '')}{k:06d}" for k in range(len(c_ratee))], dtype=object
        )
        cust_frame = pd.DataFrame(
            {
                "period": label,
                "ratee_id": np.array(ag.ids, dtype=object)[ce],
                "rater_id": cust_ids[cr],
                "rater_group": "customer",
                "competency": np.array(COMPETENCIES, dtype=object)[cc],
                "score": np.clip(np.rint(c_latent), 1, 5).astype(float),
            }
        )
        frames.append(
            pd.DataFrame(
                {
                    "period": label,
                    "ratee_id": np.array(ag.ids, dtype=object)[ratee],
                    "rater_id": rater_names[rater],
                    "rater_group": group,
                    "competency": np.array(COMPETENCIES, dtype=object)[c],
                    "score": np.clip(np.rint(latent), 1, 5).astype(float),
                }
            )
        )
        frames.append(cust_frame)
    if not frames:
        return pd.DataFrame(
            {k: pd.Series(dtype=t) for k, t in
             [("period", str), ("ratee_id", str), ("rater_id", str), ("rater_group", str),
              ("competency", str), ("score", float)]}
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _agent_fit(day: np.ndarray, y: np.ndarray, agent: np.ndarray, n: int, x_proj: float):
    """Per agent: mean of y and a linear trend in day projected to ``x_proj``."""
    w = np.bincount(agent, minlength=n).astype(float)
    sx = np.bincount(agent, weights=day, minlength=n)
    sy = np.bincount(agent, weights=y, minlength=n)
    sxx = np.bincount(agent, weights=day * day, minlength=n)
    sxy = np.bincount(agent, weights=day * y, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / w, sy / w
        var = sxx / w - mx * mx
        slope = np.where(var > 1e-9, (sxy / w - mx * my) / np.where(var > 1e-9, var, 1.0), 0.0)
    proj = my + slope * (x_proj - mx)
    return w, my, proj


def make_okr(c: CallArrays, ag: Agents, start: dt.date, days: int) -> dict:
    """Center OKRs with baselines from the first calendar month, and per-agent targets.

    Honest agents set targets a little more ambitious than both their baseline and
    their own trend (first month's linear trend projected to the window's end);
    sandbaggers set targets easier than their trend by their strength.
    """
    months = _months(start, days)
    first_end = months[0][2]
    handled = c.outcome != OUT_ABANDONED
    answer = c.arrival + np.where(handled, c.wait, 0)
    day = answer // 86400
    fp = handled & (day <= first_end)  # the first calendar month, by answer time
    handle = (c.talk + c.hold + c.acw).astype(float)
    aht = float(handle[fp].mean()) if fp.any() else 300.0
    # Repeat rate as the metric panel defines it: the same customer's next call arrives
    # within 72 h of the answer; calls whose window passes the data's end are censored.
    order = np.lexsort((np.arange(len(c)), c.arrival, c.customer))
    nxt_sorted = np.full(len(c), np.iinfo(np.int64).max)
    same = c.customer[order][1:] == c.customer[order][:-1]
    nxt_sorted[:-1] = np.where(same, c.arrival[order][1:], np.iinfo(np.int64).max)
    nxt = np.empty(len(c), dtype=np.int64)
    nxt[order] = nxt_sorted
    window = 72 * 3600
    observed = answer + window <= (c.arrival.max() if len(c) else 0)
    repeat = nxt <= answer + window
    obs = fp & observed
    rep_rate = float(repeat[obs].mean()) if obs.any() else 0.18
    surveyed = fp & (c.csat > 0)
    csat = float(c.csat[surveyed].mean()) if surveyed.any() else 4.0

    okr: dict = {
        "objectives": [
            {
                "id": "efficiency",
                "title": "Handle calls efficiently",
                "key_results": [
                    {
                        "id": "kr_aht",
                        "metric": "aht_s",
                        "direction": "lower",
                        "baseline": round(aht),
                        "target": round(aht * 0.9),
                        "stretch": round(aht * 0.85),
                    }
                ],
            },
            {
                "id": "quality",
                "title": "Resolve on first contact",
                "key_results": [
                    {
                        "id": "kr_repeat",
                        "metric": "repeat_call_rate",
                        "direction": "lower",
                        "baseline": round(rep_rate, 3),
                        "target": round(rep_rate * 0.7, 3),
                    },
                    {
                        "id": "kr_csat",
                        "metric": "csat_mean",
                        "direction": "higher",
                        "baseline": round(csat, 2),
                        "target": round(min(csat + 0.4, 5.0), 2),
                    },
                ],
            },
        ],
        "agents": {},
    }
    n = ag.n
    ai = c.agent[fp].astype(np.int64)
    dfp = day[fp].astype(float)
    w, base_aht, proj_aht = _agent_fit(dfp, handle[fp], ai, n, days - 1)
    sv = surveyed[fp]
    wc, base_cs, proj_cs = _agent_fit(dfp[sv], c.csat[fp][sv].astype(float), ai[sv], n, days - 1)
    for i in range(n):
        if w[i] < 20:
            continue
        b_aht = float(base_aht[i])
        p_aht = float(np.clip(proj_aht[i], 0.7 * b_aht, 1.3 * b_aht))
        entry: dict = {}
        if ag.behaviour[i] == "sandbagging":
            t_aht = p_aht * (1.0 + ag.strength[i])
        else:
            t_aht = min(0.95 * b_aht, 0.97 * p_aht)
        entry["kr_aht"] = {"baseline": round(b_aht), "target": round(t_aht)}
        if wc[i] >= 5:
            b_cs = float(base_cs[i])
            p_cs = float(np.clip(proj_cs[i], b_cs - 0.5, b_cs + 0.5))
            if ag.behaviour[i] == "sandbagging":
                t_cs = p_cs * (1.0 - ag.strength[i])
            else:
                t_cs = max(b_cs + 0.1, p_cs + 0.05)
            entry["kr_csat"] = {"baseline": round(b_cs, 2), "target": round(min(t_cs, 5.0), 2)}
        okr["agents"][ag.ids[i]] = entry
    return okr


def _flow(d: dict) -> str:
    parts = []
    for k, v in d.items():
        parts.append(f"{k}: {_flow(v)}" if isinstance(v, dict) else f"{k}: {v}")
    return "{" + ", ".join(parts) + "}"


def okr_to_yaml(okr: dict) -> str:
    """The OKR dict in the exact layout of the brief (flow mappings for key results)."""
    lines = ["objectives:"]
    for obj in okr["objectives"]:
        lines.append(f"  - id: {obj['id']}")
        lines.append(f"    title: {obj['title']}")
        lines.append("    key_results:")
        for kr in obj["key_results"]:
            lines.append(f"      - {_flow(kr)}")
    agents = okr.get("agents") or {}
    if agents:
        lines.append("agents:")
        for aid, entry in agents.items():
            lines.append(f"  {aid}: {_flow(entry)}")
    return "\n".join(lines) + "\n"
