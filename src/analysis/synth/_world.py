"""The center's fixed structure: queues, shifts, agents (skills, tenure, roster, gaming)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._spec import GAMING_BEHAVIOURS, GamingItem

__all__ = ["QUEUES", "SHIFTS", "HARD_QUEUE", "Agents", "make_agents", "staffing_plan"]

#: Queues: name, share of agents' primary queues, talk median (s) and log-sd, hold
#: probability and median hold (s), ACW median (s), base resolution probability,
#: natural transfer rate, natural short-call rate (mean over agents), wait factor.
QUEUES = (
    # name          share talk  sig   holdp hold  acw  res   trans  short wait
    ("general",      0.35, 210, 0.55, 0.12, 40.0, 25, 0.82, 0.05, 0.040, 1.0),
    ("billing",      0.25, 255, 0.50, 0.20, 60.0, 35, 0.80, 0.06, 0.030, 1.0),
    ("sales",        0.20, 235, 0.60, 0.10, 45.0, 40, 0.76, 0.04, 0.050, 0.8),
    ("tech_support", 0.20, 390, 0.55, 0.35, 90.0, 55, 0.62, 0.10, 0.025, 1.4),
)  # fmt: skip
QUEUE_NAMES = tuple(q[0] for q in QUEUES)
HARD_QUEUE = QUEUE_NAMES.index("tech_support")
Q_SHARE = np.array([q[1] for q in QUEUES])
Q_TALK_MU = np.log([q[2] for q in QUEUES])
Q_TALK_SIG = np.array([q[3] for q in QUEUES])
Q_HOLD_P = np.array([q[4] for q in QUEUES])
Q_HOLD_MU = np.log([q[5] for q in QUEUES])
Q_ACW_MU = np.log([q[6] for q in QUEUES])
Q_RES_LOGIT = np.log(np.array([q[7] for q in QUEUES]) / (1 - np.array([q[7] for q in QUEUES])))
Q_TRANSFER = np.array([q[8] for q in QUEUES])
Q_SHORT = np.array([q[9] for q in QUEUES])
Q_WAIT = np.array([q[10] for q in QUEUES])

#: Shifts: name -> (first hour, end hour); the center is open 07:00-21:00, Mon-Sat.
SHIFTS = (("early", 7, 15), ("day", 10, 18), ("late", 13, 21))
SHIFT_P = np.array([0.25, 0.45, 0.3])
OPEN_H, CLOSE_H = 7, 21
#: Relative call volume by weekday (Mon..Sun; Sunday closed) and by hour of day.
WEEKDAY_LOAD = np.array([1.2, 1.05, 1.0, 0.97, 0.92, 0.55, 0.0])
HOUR_LOAD = np.zeros(24)
HOUR_LOAD[7:21] = [0.35, 0.7, 0.95, 1.1, 1.15, 1.0, 0.95, 1.05, 1.1, 0.95, 0.75, 0.55, 0.4, 0.3]

BEHAVIOUR_CODE = {
    b: i for i, b in enumerate(("honest", "novice", "hard_queue") + GAMING_BEHAVIOURS)
}


@dataclass
class Agents:
    """Per-agent arrays (length ``n``); codes index :data:`QUEUES` / :data:`SHIFTS`."""

    n: int
    ids: list[str]
    team: np.ndarray
    n_teams: int
    shift: np.ndarray
    primary: np.ndarray
    hire_day: np.ndarray  # day offset relative to the window start (negative: before)
    term_day: np.ndarray  # first day no longer employed; large when employed
    off_weekday: np.ndarray
    speed: np.ndarray
    acw_f: np.ndarray
    hold_f: np.ndarray
    end_f: np.ndarray  # propensity to be the one who disconnects
    res_skill: np.ndarray
    quality: np.ndarray
    p_short: np.ndarray  # (n, queues)
    p_transfer: np.ndarray  # (n, queues)
    behaviour: np.ndarray  # object array of behaviour names
    strength: np.ndarray
    g_start: np.ndarray
    g_end: np.ndarray
    partner: np.ndarray  # reciprocal partner index, -1 if none


def make_agents(
    rng: np.random.Generator,
    n: int,
    days: int,
    items: list[GamingItem],
    *,
    short_kappa: float,
    novice_share: float,
) -> Agents:
    """Draw the agents, their skills, shifts, tenure and planted behaviours."""
    ids = [f"A{i + 1:04d}" for i in range(n)]
    n_teams = max(1, int(round(n / 10)))
    team = rng.permutation(np.arange(n) % n_teams)
    shift = rng.choice(len(SHIFTS), size=n, p=SHIFT_P)
    primary = rng.choice(len(QUEUES), size=n, p=Q_SHARE)
    off_weekday = np.where(rng.random(n) < 0.5, 5, rng.integers(0, 5, size=n))

    # Skills: speed (talk multiplier), wrap-up habit, hold habit, resolution, quality.
    speed = np.exp(rng.normal(0.0, 0.12, n))
    acw_f = np.exp(rng.normal(0.0, 0.2, n))
    hold_f = np.exp(rng.normal(0.0, 0.3, n))
    end_f = np.exp(rng.normal(0.0, 0.3, n))
    res_skill = rng.normal(0.0, 0.35, n)
    quality = 0.6 * res_skill / 0.35 + 0.8 * rng.normal(0.0, 1.0, n)
    # Natural short-call and transfer rates differ between agents (beta around the queue mean).
    m = Q_SHORT[None, :]
    p_short = rng.beta(m * short_kappa, (1 - m) * short_kappa, size=(n, len(QUEUES)))
    t = Q_TRANSFER[None, :]
    p_transfer = rng.beta(t * 80.0, (1 - t) * 80.0, size=(n, len(QUEUES)))

    # Planted behaviours.
    behaviour = np.array(["honest"] * n, dtype=object)
    strength = np.zeros(n)
    g_start = np.zeros(n, dtype=np.int64)
    g_end = np.full(n, days - 1, dtype=np.int64)
    partner = np.full(n, -1, dtype=np.int64)
    order = rng.permutation(n)
    pos = 0
    for item in items:
        chosen = order[pos : pos + item.count]
        pos += item.count
        behaviour[chosen] = item.behaviour
        strength[chosen] = item.strength
        g_start[chosen] = 0 if item.start_day is None else item.start_day
        g_end[chosen] = days - 1 if item.end_day is None else item.end_day
        if item.behaviour == "reciprocal":
            for a, b in zip(chosen[0::2], chosen[1::2], strict=True):
                partner[a], partner[b] = b, a
                team[b] = team[a]
    rest = order[pos:]
    n_nov = int(round(novice_share * n)) if n >= 5 else 0
    n_nov = min(n_nov, len(rest))
    novices = rest[:n_nov]
    behaviour[novices] = "novice"
    honest_rest = rest[n_nov:]
    behaviour[honest_rest[primary[honest_rest] == HARD_QUEUE]] = "hard_queue"

    # Tenure: novices start around the window's start; others have months to years.
    hire_day = -rng.integers(120, 2500, size=n)
    hire_day[novices] = rng.integers(-21, min(10, max(days // 3, 1)) + 1, size=len(novices))
    # Novices start slower and resolve less; they learn over the weeks (see _calls).
    term_day = np.full(n, 10**6, dtype=np.int64)
    leavers_pool = honest_rest
    n_leave = int(round(0.04 * n)) if days >= 14 else 0
    if n >= 20 and days >= 14:
        n_leave = max(n_leave, 1)
    n_leave = min(n_leave, len(leavers_pool))
    if n_leave:
        leavers = rng.choice(leavers_pool, size=n_leave, replace=False)
        term_day[leavers] = rng.integers(days // 3, days, size=n_leave)

    return Agents(
        n=n,
        ids=ids,
        team=team,
        n_teams=n_teams,
        shift=shift,
        primary=primary,
        hire_day=hire_day,
        term_day=term_day,
        off_weekday=off_weekday,
        speed=speed,
        acw_f=acw_f,
        hold_f=hold_f,
        end_f=end_f,
        res_skill=res_skill,
        quality=quality,
        p_short=p_short,
        p_transfer=p_transfer,
        behaviour=behaviour,
        strength=strength,
        g_start=g_start,
        g_end=g_end,
        partner=partner,
    )


def staffing_plan(
    rng: np.random.Generator, agents: Agents, days: int, weekday0: int
) -> tuple[np.ndarray, np.ndarray]:
    """Who works which day, and the occupancy of each (day, hour).

    Returns ``works`` (days x agents, bool) and ``occ`` (days x 24): the share of
    time a working agent is busy, high where calls per staffed agent peak.
    """
    d = np.arange(days)
    wd = (weekday0 + d) % 7
    works = (
        (wd[:, None] != 6)
        & (wd[:, None] != agents.off_weekday[None, :])
        & (d[:, None] >= agents.hire_day[None, :])
        & (d[:, None] < agents.term_day[None, :])
        & (rng.random((days, agents.n)) >= 0.04)
    )
    hours = np.arange(24)
    s_first = np.array([s[1] for s in SHIFTS])[agents.shift]
    s_end = np.array([s[2] for s in SHIFTS])[agents.shift]
    covers = (hours[None, :] >= s_first[:, None]) & (hours[None, :] < s_end[:, None])  # (n, 24)
    staff = works.astype(float) @ covers.astype(float)  # (days, 24)
    load = WEEKDAY_LOAD[wd][:, None] * HOUR_LOAD[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(staff > 0, load / np.maximum(staff, 1e-9), np.nan)
    ok = np.isfinite(ratio) & (ratio > 0)
    med = np.median(ratio[ok]) if ok.any() else 1.0
    occ = np.where(ok, np.clip(0.8 * ratio / med, 0.55, 0.95), 0.8)
    return works, occ
