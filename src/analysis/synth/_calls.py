"""Vectorised call generation.

Each working agent-day is a row of ``K`` call slots. An agent's day is a sequence
of (idle gap, call) cycles from the start of their shift: the answer time of a call
is the shift start plus the cumulative idle and handle time before it (a cumulative
sum over the row), and the agent takes calls while the answer time is before the
end of their shift. Idle gaps shrink when the center is busy (occupancy by day and
hour), so answered volume and waiting follow the weekly and daily pattern. Abandons
are drawn per (day, hour, queue) from the waiting there; repeat calls, transfer
continuations and call-backs after hang-ups link customers across calls.
No Python loop runs over calls: only over chunks of agent-days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._world import (
    BEHAVIOUR_CODE,
    HARD_QUEUE,  # noqa: F401  (re-exported for tests)
    Q_ACW_MU,
    Q_HOLD_MU,
    Q_HOLD_P,
    Q_RES_LOGIT,
    Q_SHARE,
    Q_TALK_MU,
    Q_TALK_SIG,
    Q_WAIT,
    QUEUES,
    SHIFTS,
    Agents,
)

__all__ = ["CallArrays", "KIND_NAMES", "generate_calls"]

#: Kinds of calls (internal labels, kept beside the calls for tests and benchmarks).
KIND_NAMES = (
    "normal",
    "short",  # natural short call (wrong number, quick question)
    "hangup",  # planted: cut short by the agent
    "dumped",  # planted: transferred early
    "transfer",  # natural transfer
    "bunched",  # planted: handle time pushed just below the target
    "stretched",  # planted: talk stretched in the last hour of the shift
    "abandoned",
)
K_NORMAL, K_SHORT, K_HANG, K_DUMP, K_TRANSFER, K_BUNCH, K_STRETCH, K_ABANDON = range(8)

OUT_ANSWERED, OUT_ABANDONED, OUT_TRANSFERRED = 0, 1, 2
END_AGENT, END_CUSTOMER, END_SYSTEM = 0, 1, 2

SHORT_S = 20  # natural short calls last under this many seconds
LEARN_TAU = 30.0  # days: novices' learning curve time constant
PATIENCE_S = 600.0  # mean caller patience in the queue
CHUNK_CELLS = 2_000_000


@dataclass
class CallArrays:
    """All calls as parallel arrays, sorted by arrival (row i is call_id i)."""

    arrival: np.ndarray  # int64 seconds since the window's first midnight
    queue: np.ndarray  # int8
    outcome: np.ndarray  # int8
    agent: np.ndarray  # int32, -1: none
    wait: np.ndarray  # int32 seconds from arrival to answer (-1: abandoned)
    talk: np.ndarray  # int32 (-1: null)
    hold: np.ndarray
    acw: np.ndarray
    customer: np.ndarray  # int64
    ended_by: np.ndarray  # int8
    resolved: np.ndarray  # int8: 1/0, -1 null
    csat: np.ndarray  # int8: 1-5, 0 null
    qa: np.ndarray  # int8: 0-100, -1 null
    complaint: np.ndarray  # bool
    kind: np.ndarray  # int8, KIND_NAMES

    def __len__(self) -> int:
        return len(self.arrival)

    def take(self, idx: np.ndarray) -> CallArrays:
        return CallArrays(**{k: v[idx] for k, v in self.__dict__.items()})


def _segment_starts(s0: np.ndarray, idle: np.ndarray, handle: np.ndarray) -> np.ndarray:
    """Answer times of each row's slots: shift start + idle before + handle before."""
    return s0[:, None] + np.cumsum(idle, axis=1) + (np.cumsum(handle, axis=1) - handle)


#: Passes of the idle-by-hour timeline (see :func:`_chunk`). On the sample center the
#: share of a shift's calls whose hour still moves is 43%, 13%, 5%, 4% after passes
#: 1-4 and stays about 3% after (calls at an hour's edge, whose idle then comes from
#: either neighbouring hour).
_IDLE_PASSES = 4


def _idle_mean(occ: np.ndarray) -> np.ndarray:
    return 300.0 * (1.0 - occ) / occ


def _chunk(
    rng: np.random.Generator,
    ag: Agents,
    rows_a: np.ndarray,
    rows_d: np.ndarray,
    occ: np.ndarray,
    aht_target: float,
    k_slots: int,
    stress=None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Generate the calls of a chunk of agent-days; returns (arrays, rows exhausted)."""
    R, K = len(rows_a), k_slots
    nq = len(QUEUES)
    a = rows_a[:, None]
    d = rows_d
    first_h = np.array([s[1] for s in SHIFTS])[ag.shift[rows_a]]
    end_h = np.array([s[2] for s in SHIFTS])[ag.shift[rows_a]]
    s0 = d * 86400 + first_h * 3600.0
    s1 = d * 86400 + end_h * 3600.0
    tenure = (d - ag.hire_day[rows_a]).astype(float)
    learn = np.exp(-np.maximum(tenure, 0.0) / LEARN_TAU)[:, None]
    beh = np.array([BEHAVIOUR_CODE[b] for b in ag.behaviour])[rows_a]
    active = (d >= ag.g_start[rows_a]) & (d <= ag.g_end[rows_a])
    st = ag.strength[rows_a][:, None]

    def act(name: str) -> np.ndarray:
        return ((beh == BEHAVIOUR_CODE[name]) & active)[:, None]

    # Queue of each slot: mostly the agent's primary queue.
    cum = np.cumsum(Q_SHARE)
    other = np.minimum(np.searchsorted(cum, rng.random((R, K)) * cum[-1], side="right"), nq - 1)
    q = np.where(rng.random((R, K)) < 0.8, ag.primary[rows_a][:, None], other).astype(np.int8)

    # Talk, hold and after-call work of ordinary calls.
    talk = np.exp(Q_TALK_MU[q] + Q_TALK_SIG[q] * rng.standard_normal((R, K)))
    talk *= ag.speed[rows_a][:, None] * (1.0 + 0.5 * learn)
    if stress is not None:  # agent-day talk shock, center drift and weekday cycle
        hday = stress.handle_day[d][:, None]
        talk *= np.exp(stress.talk_ad[d, rows_a])[:, None] * hday
    talk = np.maximum(talk, SHORT_S + 1.0)
    has_hold = rng.random((R, K)) < np.minimum(Q_HOLD_P[q] * ag.hold_f[rows_a][:, None], 0.9)
    hold = np.where(has_hold, np.exp(Q_HOLD_MU[q] + 0.7 * rng.standard_normal((R, K))), 0.0)
    acw = np.exp(Q_ACW_MU[q] + 0.5 * rng.standard_normal((R, K)))
    acw *= ag.acw_f[rows_a][:, None] * (1.0 + 0.5 * learn)
    p_short = ag.p_short[a, q]
    p_trans = ag.p_transfer[a, q]
    if stress is not None:
        acw *= hday
        shift = (stress.short_day[d] + stress.learning_short * learn[:, 0])[:, None]
        p_short = _shift_odds(p_short, stress.short_ad[d, rows_a][:, None] + shift)
        p_trans = _shift_odds(p_trans, stress.trans_ad[d, rows_a][:, None] + shift)

    kind = np.zeros((R, K), dtype=np.int8)
    short = rng.random((R, K)) < p_short
    # A share ``st`` of all the agent's calls (natural short calls are not replaced).
    hang = ~short & act("hangup") & (rng.random((R, K)) < st / np.maximum(1.0 - p_short, 1e-9))
    dump = ~short & ~hang & act("transfer_dumping") & (rng.random((R, K)) < st)
    ntr = ~short & ~hang & ~dump & (rng.random((R, K)) < p_trans)
    kind[ntr] = K_TRANSFER
    kind[dump] = K_DUMP
    kind[hang] = K_HANG
    kind[short] = K_SHORT
    u_len = rng.random((R, K))
    talk = np.where(short, 2.0 + u_len * (SHORT_S - 3.0), talk)
    talk = np.where(hang, 3.0 + u_len * 12.0, talk)
    talk = np.where(dump, 20.0 + u_len * 60.0, talk)
    hold = np.where(short | hang | dump, 0.0, hold)
    acw = acw * np.select([short, hang, dump | ntr], [0.4, 0.3, 0.5], 1.0)
    pad = act("acw_padding")
    acw = np.where(pad, acw * (1.0 + st), acw)

    talk = np.maximum(np.rint(talk), 1.0)
    hold = np.rint(hold)
    acw = np.rint(acw)

    # Bunching: handle times just above the target are compressed just below it.
    tgt = float(np.floor(aht_target))
    handle = talk + hold + acw
    u_b = rng.random((R, K))
    land = tgt - rng.integers(1, 16, size=(R, K))
    cand = (
        act("bunching") & (kind == K_NORMAL) & (handle > aht_target) & (handle <= aht_target + 60)
    )
    cand &= u_b < st
    scale = np.where(cand, (land - hold) / np.maximum(talk + acw, 1.0), 1.0)
    new_acw = np.floor(acw * scale)
    new_talk = land - hold - new_acw
    cand &= new_talk > SHORT_S
    talk = np.where(cand, new_talk, talk)
    acw = np.where(cand, new_acw, acw)
    kind[cand] = K_BUNCH
    handle = talk + hold + acw

    # Timeline, pass A: a flat idle gap; pass B: idle from the occupancy at the hour the
    # call lands in, plus a 30-minute break 3.5-5 hours in; pass C: end-of-day stretching.
    e = rng.standard_exponential((R, K))
    start = _segment_starts(s0, e * _idle_mean(0.8), handle)
    brk_at = s0 + (3.5 + 1.5 * rng.random(R)) * 3600.0  # staggered 30-minute break
    rows = np.arange(R)
    # Pass B is iterated to a fixed point: the idle drawn for the hour of pass A's
    # flat-idle timeline lands, once the real idles are summed, later in the day by the
    # extra idle so far (more for agents with many short calls), so a quiet last hour's
    # idle came from an earlier, busier hour for them and from the right hour for agents
    # with long calls: honest long-call agents looked like end-of-day avoiders (#13).
    # The draws (``e``, ``brk_at``) are fixed; only the hour each idle is read at moves.
    for _pass in range(_IDLE_PASSES):
        hour = np.clip(((start % 86400) // 3600).astype(np.int64), 0, 23)
        idle = e * _idle_mean(occ[d[:, None], hour])
        after = start >= brk_at[:, None]
        brk = np.argmax(after, axis=1)
        has_brk = after.any(axis=1)
        idle[rows[has_brk], brk[has_brk]] += 1800.0
        start = _segment_starts(s0, idle, handle)
    stretch_rows = act("end_of_day_stretch")[:, 0]
    if stretch_rows.any():
        late = (
            stretch_rows[:, None]
            & (start >= (s1 - 3600.0)[:, None])
            & ((kind == K_NORMAL) | (kind == K_TRANSFER))
        )
        talk = np.where(late, np.rint(talk * (1.0 + st)), talk)
        kind[late & (kind == K_NORMAL)] = K_STRETCH
        handle = talk + hold + acw
        start = _segment_starts(s0, idle, handle)

    start = np.rint(start)
    exhausted = start[:, -1] < s1  # rows that might have taken more calls than K
    valid = start < s1[:, None]
    ri, ci = np.nonzero(valid)
    out = {
        "answer": start[ri, ci].astype(np.int64),
        "queue": q[ri, ci],
        "agent": rows_a[ri].astype(np.int32),
        "day": d[ri].astype(np.int32),
        "talk": talk[ri, ci].astype(np.int32),
        "hold": hold[ri, ci].astype(np.int32),
        "acw": acw[ri, ci].astype(np.int32),
        "kind": kind[ri, ci],
        "learn": learn[ri, 0],
        "row": ri,
    }
    return out, exhausted


def _shift_odds(p: np.ndarray, dlogit: np.ndarray) -> np.ndarray:
    """``expit(logit(p) + dlogit)``."""
    return 1.0 / (1.0 + (1.0 - p) / p * np.exp(-dlogit))


def _truncexp(rng: np.random.Generator, mean: float, cap: float, n: int) -> np.ndarray:
    """Exponential(mean) truncated at ``cap`` (inverse CDF)."""
    u = rng.random(n)
    return -mean * np.log1p(-u * (1.0 - np.exp(-cap / mean)))


def _attributes(
    r: np.random.Generator, ag: Agents, occ: np.ndarray, cat: dict[str, np.ndarray],
    hangup_disguise: float = 0.4,
) -> dict[str, np.ndarray]:
    """Waiting, disposition, who hung up, survey, QA and complaint of a chunk's calls."""
    n = len(cat["answer"])
    q = cat["queue"].astype(np.int64)
    kind = cat["kind"]
    agent = cat["agent"]
    answer = cat["answer"]
    day = cat["day"].astype(np.int64)

    # Waiting before the answer grows with occupancy; never before opening time.
    hour = np.clip((answer % 86400) // 3600, 0, 23)
    o = occ[day, hour]
    wait = r.standard_exponential(n) * (4.0 + 350.0 * (o - 0.5) ** 2) * Q_WAIT[q]
    wait = np.minimum(np.rint(wait), answer - (day * 86400 + 7 * 3600)).astype(np.int64)
    wait = np.maximum(wait, 0)

    transferred = (kind == K_DUMP) | (kind == K_TRANSFER)
    logit = Q_RES_LOGIT[q] + ag.res_skill[agent] - 1.2 * cat["learn"]
    logit = np.where(kind == K_BUNCH, logit - 0.8, logit)
    p_res = 1.0 / (1.0 + np.exp(-logit))
    p_res = np.where(kind == K_SHORT, 0.5, p_res)
    p_res = np.where((kind == K_HANG) | transferred, 0.0, p_res)
    resolved = r.random(n) < p_res
    u = r.random(n)
    # Who disconnected: mostly the customer; agents differ in how often it is them.
    is_short = kind == K_SHORT
    p_agent = np.minimum(np.where(is_short, 0.30, 0.17) * ag.end_f[agent], 0.9)
    p_system = np.where(is_short, 0.05, 0.03)
    ended = np.where(
        u < p_agent, END_AGENT, np.where(u < p_agent + p_system, END_SYSTEM, END_CUSTOMER)
    )
    # Planted hang-ups: most are recorded as ended by the agent, a share
    # ``hangup_disguise`` as ended by the customer (dead air until the caller gives up);
    # ``u`` is that call's own draw, so no other call changes with the share.
    hang_end = np.where(u < 1.0 - hangup_disguise, END_AGENT, END_CUSTOMER)
    ended = np.where(kind == K_HANG, hang_end, ended)
    ended = np.where(transferred, END_AGENT, ended)
    quality = ag.quality[agent]
    # Surveys: 15 % of handled calls, half as often after a very short call (the caller
    # is gone before the IVR survey); survey selectors keep bad calls out of it.
    bad = (cat["talk"] < SHORT_S) | ~resolved
    p_survey = np.where(cat["talk"] < SHORT_S, 0.075, 0.15)
    sel = (ag.behaviour[agent] == "survey_selection") & (day >= ag.g_start[agent])
    sel &= day <= ag.g_end[agent]
    p_survey = np.where(sel & bad, p_survey * (1.0 - ag.strength[agent]), p_survey)
    surveyed = r.random(n) < p_survey
    score = (
        3.3
        + 1.0 * resolved
        + 0.35 * quality
        - 0.4 * (cat["hold"] > 120)
        - 1.2 * (kind == K_HANG)
        - 0.5 * transferred
        + 0.9 * r.standard_normal(n)
    )
    csat = np.where(surveyed, np.clip(np.rint(score), 1, 5), 0).astype(np.int8)
    qa_s = r.random(n) < 0.02
    qa_v = 72 + 7 * quality + 6 * resolved - 30 * (kind == K_HANG) - 10 * (kind == K_DUMP)
    qa_v = qa_v + 8 * r.standard_normal(n)
    qa = np.where(qa_s, np.clip(np.rint(qa_v), 0, 100), -1).astype(np.int8)
    p_comp = 0.002 + 0.008 * (~resolved) + 0.03 * (kind == K_HANG)
    complaint = r.random(n) < p_comp
    return {
        "arrival": answer - wait,
        "queue": cat["queue"],
        "outcome": np.where(transferred, OUT_TRANSFERRED, OUT_ANSWERED).astype(np.int8),
        "agent": agent,
        "wait": wait.astype(np.int32),
        "talk": cat["talk"],
        "hold": cat["hold"],
        "acw": cat["acw"],
        "ended_by": ended.astype(np.int8),
        "resolved": resolved.astype(np.int8),
        "csat": csat,
        "qa": qa,
        "complaint": complaint,
        "kind": kind,
        "slot": ((day * 24 + hour) * len(QUEUES) + q),
    }


_FIELDS = {
    "arrival": np.int64,
    "queue": np.int8,
    "outcome": np.int8,
    "agent": np.int32,
    "wait": np.int32,
    "talk": np.int32,
    "hold": np.int32,
    "acw": np.int32,
    "ended_by": np.int8,
    "resolved": np.int8,
    "csat": np.int8,
    "qa": np.int8,
    "complaint": np.bool_,
    "kind": np.int8,
}


def generate_calls(
    rng_time: np.random.Generator,
    rng_attr: np.random.Generator,
    rng_link: np.random.Generator,
    ag: Agents,
    works: np.ndarray,
    occ: np.ndarray,
    *,
    aht_target: float,
    progress=None,
    stress=None,
    hangup_disguise: float = 0.4,
) -> CallArrays:
    """All calls of the window, sorted by arrival time."""
    days = works.shape[0]
    nq = len(QUEUES)
    n_slots = days * 24 * nq
    cnt = np.zeros(n_slots)
    wsum = np.zeros(n_slots)
    dd, aa = np.nonzero(works)  # agent-days, ordered by day then agent
    k0 = 112
    rows_per_chunk = max(1, CHUNK_CELLS // k0)
    parts: list[dict[str, np.ndarray]] = []
    for lo in range(0, len(dd), rows_per_chunk):
        hi = min(lo + rows_per_chunk, len(dd))
        seed = int(rng_time.integers(0, 2**63 - 1))
        attr_seed = int(rng_attr.integers(0, 2**63 - 1))
        rows = np.arange(lo, hi)
        k = k0
        pieces = []
        while len(rows):
            # Rows whose K slots all fall within the shift are redrawn with twice the slots.
            out, exhausted = _chunk(
                np.random.default_rng([seed, k]), ag, aa[rows], dd[rows], occ, aht_target, k,
                stress,
            )
            keep = ~exhausted[out.pop("row")]
            pieces.append({key: v[keep] for key, v in out.items()})
            rows = rows[exhausted]
            k *= 2
        out = {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
        del pieces
        part = _attributes(np.random.default_rng(attr_seed), ag, occ, out, hangup_disguise)
        del out
        slot = part.pop("slot")
        cnt += np.bincount(slot, minlength=n_slots)
        wsum += np.bincount(slot, weights=part["wait"], minlength=n_slots)
        parts.append(part)
        if progress is not None:
            progress(hi, len(dd))

    # Abandons per (day, hour, queue), from the mean wait of the answered calls there.
    r = rng_attr
    with np.errstate(invalid="ignore", divide="ignore"):
        wmean = np.where(cnt > 0, wsum / np.maximum(cnt, 1), 0.0)
    pa = 1.0 - np.exp(-wmean / PATIENCE_S)
    n_ab = r.poisson(cnt * pa / (1.0 - pa))
    ab_slot = np.repeat(np.arange(n_slots), n_ab)
    m = len(ab_slot)
    parts.append(
        {
            "arrival": (ab_slot // nq) * 3600 + r.integers(0, 3600, size=m),
            "queue": ab_slot % nq,
            "outcome": np.full(m, OUT_ABANDONED),
            "agent": np.full(m, -1),
            "wait": np.full(m, -1),
            "talk": np.full(m, -1),
            "hold": np.full(m, -1),
            "acw": np.full(m, -1),
            "ended_by": np.full(m, END_CUSTOMER),
            "resolved": np.full(m, -1),
            "csat": np.zeros(m),
            "qa": np.full(m, -1),
            "complaint": np.zeros(m, dtype=bool),
            "kind": np.full(m, K_ABANDON),
        }
    )
    # Concatenate field by field (freeing the parts as we go), then sort by arrival.
    cols: dict[str, np.ndarray] = {}
    for key, dtype in _FIELDS.items():
        cols[key] = np.concatenate([p.pop(key).astype(dtype, copy=False) for p in parts])
    del parts
    order = np.lexsort((np.arange(len(cols["arrival"])), cols["arrival"]))
    for key in _FIELDS:
        cols[key] = cols[key][order]
    del order
    calls = CallArrays(customer=np.zeros(0, dtype=np.int64), **cols)
    del cols
    _link_customers(rng_link, calls)
    return calls


def _link_customers(rng: np.random.Generator, c: CallArrays) -> None:
    """Draw callers and link repeat calls, transfer legs and call-backs to one customer.

    Sources: a hang-up is followed by a call-back (p 0.85, mean 1.5 h); a transfer by a
    call in another queue minutes later (p 0.9); another unresolved call by a repeat
    within 72 h (p 0.45, truncated exponential, mean 18 h); an abandon by a retry
    (p 0.4, mean 30 min). The target is the first call in the target queue at or after
    the drawn time; chains are followed so a whole episode has one customer.
    """
    n = len(c)
    pool = max(1000, 2 * n)
    base = rng.integers(0, pool, size=n)
    if n == 0:
        c.customer = base
        return
    nq = len(QUEUES)
    handled = c.outcome != OUT_ABANDONED
    end = c.arrival + np.where(handled, c.wait + c.talk + c.hold, 60)
    kind = c.kind
    u = rng.random(n)
    hang = kind == K_HANG
    transfer = c.outcome == OUT_TRANSFERRED
    unres = handled & ~transfer & ~hang & (c.resolved == 0)
    ab = ~handled
    src = (hang & (u < 0.85)) | (transfer & (u < 0.9)) | (unres & (u < 0.45)) | (ab & (u < 0.4))
    delay = np.zeros(n)
    delay[hang] = rng.standard_exponential(int(hang.sum())) * 5400.0
    delay[transfer] = rng.standard_exponential(int(transfer.sum())) * 90.0
    delay[unres] = _truncexp(rng, 18 * 3600.0, 72 * 3600.0, int(unres.sum()))
    delay[ab] = rng.standard_exponential(int(ab.sum())) * 1800.0
    shift = rng.integers(1, nq, size=n)
    tq = np.where(transfer, (c.queue.astype(np.int64) + shift) % nq, c.queue.astype(np.int64))
    s_idx = np.nonzero(src)[0]
    t_time = end[s_idx] + np.rint(delay[s_idx]).astype(np.int64) + 1
    big = np.int64(10**11)
    key = c.queue.astype(np.int64) * big + c.arrival
    korder = np.argsort(key, kind="stable")
    ksorted = key[korder]
    pos = np.searchsorted(ksorted, tq[s_idx] * big + t_time, side="left")
    ok = pos < n
    pos = np.minimum(pos, n - 1)
    ok &= (ksorted[pos] // big) == tq[s_idx]
    tgt = korder[pos]
    s_idx, tgt = s_idx[ok], tgt[ok]
    # One source per target (the earliest), and a target must come after its source.
    first = np.unique(tgt, return_index=True)[1]
    s_idx, tgt = s_idx[first], tgt[first]
    keep = tgt > s_idx
    s_idx, tgt = s_idx[keep], tgt[keep]
    root = np.arange(n)
    root[tgt] = s_idx
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    c.customer = base[root]
