"""An independent synthetic contact-center world ("outside" world).

Written without reading the toolkit's own simulator or gaming checks, from
general knowledge of how call centers behave, to validate the detectors on data
their authors did not generate.  numpy + pandas only; everything is drawn from
one ``np.random.default_rng(seed)``.

World
-----
* Calendar: ``days`` days from ``start``.  Mon-Fri open 07:00-21:00, Saturday
  08:00-18:00, Sunday closed; 30-minute routing slots.  Holidays (fixed-date
  ones plus Easter 2026; at least two "low days" are drawn when the window holds
  fewer) get 30% of the volume and ~35% of the staff.
* Queues (QUEUES table): billing, tech_support, sales, general, retention, each
  with its own volume share, talk-time mixture (lognormal / gamma components),
  natural short-call, transfer, resolution and hold base rates, ACW median,
  caller patience and wait factor.
* Volume: Poisson counts per (day, slot, queue) with mean VOL_PER_AGENT x
  n_agents x weekday factor x intraday double-hump profile (sales peaks later)
  x gamma day, day-queue and day-slot multipliers (overdispersion).
* Agents: 8 traits (talk speed, ACW habit, hold habit, transfer propensity,
  short-call propensity, resolution skill, "agent ends the call" habit,
  empathy) drawn from a correlated multivariate t (df=5), 3% outliers pushed
  2.5 sd on one trait, plus agent x queue talk proficiency.  Shifts: 85%
  full-time 8.5 h with a 30-minute break, 15% part-time 4-5 h on 3 weekdays;
  start times set by a greedy workforce-management pass that follows the
  weekday demand curve (peaks and evenings stay somewhat understaffed); 45% of
  full-timers work Saturday with a weekday off; sick spells, one vacation week
  for ~35%.  ~8% new hires join mid-window with a
  learning curve (exp(-tenure/14 d): longer talk, more holds, more transfers,
  lower resolution), ~5% leave.  Skills: 1-4 queues with Dirichlet(0.8) mixes;
  ~7% switch to a new mix mid-window.  Agent-day noise on talk, 5% bad days
  (slower, worse resolution, longer ACW).  Drift: talk -6%, ACW -5% over the
  window.  One center-wide IVR change (day drawn in 40-70% of the window) raises
  every agent's short-call log-odds by 0.4 and transfer log-odds by 0.3.
* Routing: a call goes to an agent on shift in that slot, weighted by skill
  mix x capacity (fast agents and hang-up gamers take more calls; new hires
  and end-of-day stretchers in their last hour take fewer); overflow to anyone
  on shift when nobody holds the skill.  Wait = 3 s + exponential with a mean
  8*exp(4*(rho-.75)) s from the slot's load rho; abandoned when Weibull(1.2)
  patience (queue scale) < wait (~6% overall, more at peaks / late evening).
* Customers: pool of ~base/1.4 ids with gamma(0.5) calling propensity
  (frequent callers).  Follow-ups are generated in vectorised rounds and routed
  like any call: unresolved -> callback p=.42 (45% within ~30 min, else ~20 h,
  lognormal), resolved -> .06 (~3 d), abandoned -> retry .55 (~6 min),
  transferred -> 40% become a new offered call in another queue seconds later,
  else callback .25; natural short calls by type (wrong number .06, quick info
  .05, customer hang-up .30 ~90 min, line drop .65 ~4 min).  Out-of-hours
  callbacks move to the next opening.
* Natural short calls: wrong number (ended_by mostly customer), quick info
  (resolved), customer hang-up (customer), line drop (system).  Normal calls
  end by the agent with an agent-specific probability (~42% on average).
* csat surveyed on ~15% (more often when unresolved), 1-5 integer driven by
  resolution, transfer, wait, empathy; qa_score on ~1.2% of handled calls;
  complaint rare, more likely unresolved / after long waits / gamed calls.

Gaming (gaming=True): 3-4 full-time, stable agents per behaviour per 120
agents; about half from day 0, the rest from a day in 30-60% of the window.
``strength`` in truth:
* hangup: share s~U(.04,.10) of regular calls cut to 2-28 s talk, unresolved,
  little ACW; 35% disguised (ended_by customer, dead air), rest ended_by
  agent; the caller calls back with p=.72 after ~10 min (lognormal).
* acw_padding: ACW x f, f~U(1.3,1.6).
* hold_padding: f~U(1.4,2.0); half the gamers multiply hold length by f, the
  other half the probability of holding a call.
* transfer_dumping: transfer probability x f, f~U(1.8,2.5); the extra
  transfers happen after ~35 s of talk.
* end_of_day_stretch: talk x f, f~U(1.3,1.5), on regular calls answered in the
  last hour of the agent's shift (they also take fewer calls then).
* bunching: share s~U(.35,.6) of regular calls whose talk_s falls in
  [300, 400) s is cut to U(270, 299) s (handle-time target 300 s), with lower
  resolution and ended_by mostly agent.
Honest agents have start_day -1 and strength 0.  Abandoned rows: agent_id/answer_ts/durations/csat/qa
empty, resolved False, ended_by 'customer'.  Times are whole seconds.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

BEHAVIOURS = ("hangup", "acw_padding", "hold_padding", "transfer_dumping", "end_of_day_stretch", "bunching")
HANG, ACWP, HOLDP, DUMP, EOD, BUNCH = range(1, 7)
STRENGTH = {HANG: (.04, .10), ACWP: (1.3, 1.6), HOLDP: (1.4, 2.0), DUMP: (1.8, 2.5), EOD: (1.3, 1.5), BUNCH: (.35, .6)}
SLOT, OPEN_S, S, DAY = 1800, 7 * 3600, 28, 86400
VOL_PER_AGENT = 25.0
# name, share, talk mixture [(w, kind, median|mean, sigma|shape)], short, transfer, resolve, hold, acw med,
# patience scale (s), wait factor, talk median used for scaling
QUEUES = [
    ("billing", .30, [(.7, "ln", 210, .5), (.3, "ln", 480, .55)], .03, .06, .80, .25, 40, 300, 1.0, 260),
    ("tech_support", .24, [(.55, "g", 360, 2.2), (.45, "ln", 660, .6)], .025, .10, .66, .35, 55, 400, 1.3, 480),
    ("sales", .14, [(.6, "ln", 260, .6), (.4, "g", 520, 3.0)], .05, .04, .84, .15, 35, 220, 0.8, 340),
    ("general", .22, [(.8, "ln", 130, .6), (.2, "ln", 300, .5)], .08, .12, .83, .12, 25, 250, 1.0, 150),
    ("retention", .10, [(.75, "g", 500, 2.5), (.25, "ln", 900, .45)], .02, .05, .62, .30, 50, 450, 0.7, 560),
]
Q = len(QUEUES)
QNAME = np.array([x[0] for x in QUEUES], dtype=object)
QSHARE = np.array([x[1] for x in QUEUES])
SHORT_B, XFER_B, RES_B, HOLD_B, ACW_M, PAT, WAITF, QMED = (np.array([x[i] for x in QUEUES]) for i in range(3, 11))
T_TALK, T_ACW, T_HOLD, T_XFER, T_SHORT, T_SKILL, T_END, T_EMP = range(8)
TRAIT_SD = np.array([.18, .45, .5, .45, .4, .45, .5, .3])
CORR = [(0, 1, .3), (0, 2, .35), (0, 3, .15), (0, 4, -.2), (0, 5, .1), (2, 3, .25), (3, 5, -.45), (2, 5, -.2),
        (4, 5, -.15), (4, 6, .3), (5, 7, .4), (1, 5, .1), (0, 7, .2)]
HOLIDAYS = ("01-01", "05-01", "12-25", "12-26", "2026-04-03", "2026-04-06", "2026-05-25")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _ln(rng, med, sigma, n=None):
    return np.asarray(med) * np.exp(sigma * rng.standard_normal(n if n is not None else np.shape(med)))


def _talk(rng, q):
    out = np.empty(len(q))
    for k, (_, _, mix, *_r) in enumerate(QUEUES):
        idx = np.flatnonzero(q == k)
        comp = rng.choice(len(mix), size=len(idx), p=[m[0] for m in mix])
        for j, (_, kind, loc, par) in enumerate(mix):
            ii = idx[comp == j]
            out[ii] = _ln(rng, loc, par, len(ii)) if kind == "ln" else rng.gamma(par, loc / par, len(ii))
    return np.maximum(out, 20.0)


def _calendar(rng, start, days):
    dates = pd.Timestamp(start).normalize() + pd.to_timedelta(np.arange(days), unit="D")
    dow = np.asarray(dates.day_of_week)
    hol = np.isin(dates.strftime("%m-%d"), HOLIDAYS) | np.isin(dates.strftime("%Y-%m-%d"), HOLIDAYS)
    hol &= dow < 5
    wk = np.flatnonzero((dow < 5) & ~hol)
    if hol.sum() < 2 and len(wk) > 4:
        hol[rng.choice(wk, 2 - hol.sum(), replace=False)] = True
    lo = np.where(dow < 5, 0, np.where(dow == 5, 2, 0))
    hi = np.where(dow < 5, S, np.where(dow == 5, 22, 0))
    return dates, dow, hol, lo, hi


def _profile():
    """Intraday arrival shape (unnormalised) per [weekday|saturday, queue, slot]."""
    h = 7 + (np.arange(S) + .5) / 2
    prof = np.empty((2, Q, S))
    for q in range(Q):
        ev = (.35 if q == 2 else .1) * np.exp(-((h - 18.5) / 1.5) ** 2)
        prof[0, q] = .3 + np.exp(-((h - 10.5) / 1.8) ** 2) + .75 * np.exp(-((h - 14.5) / 2.2) ** 2) + ev
        prof[1, q] = .5 + np.exp(-((h - 11.5) / 2.5) ** 2)
    return prof


def _agents(rng, A, days, dow, hol, gaming):
    C = np.eye(8)
    for i, j, r in CORR:
        C[i, j] = C[j, i] = r
    w, V = np.linalg.eigh(C)
    C = V @ np.diag(np.clip(w, 1e-3, None)) @ V.T
    C /= np.sqrt(np.outer(np.diag(C), np.diag(C)))  # nearest valid correlation matrix
    z = rng.standard_normal((A, 8)) @ np.linalg.cholesky(C).T * np.sqrt(3.0 / rng.chisquare(5, A))[:, None]
    out = rng.random(A) < .03
    z[out, rng.integers(0, 8, out.sum())] += rng.choice([-2.5, 2.5], out.sum())
    z *= TRAIT_SD
    # workforce management: greedy shift starts that follow the weekday demand curve (with noise)
    stype = np.where(rng.random(A) < .15, 3, 0)  # 0 full-time (8.5 h incl. break), 3 part-time (4-5 h)
    ln_ = np.where(stype == 3, rng.integers(8, 11, A), 17)
    pr = _profile()[0]
    need = (QSHARE * QMED) @ (pr / pr.sum(1, keepdims=True))
    need *= ln_.sum() / need.sum()  # agents wanted per slot
    cover, lo = np.zeros(S), np.zeros(A, int)
    for k in np.concatenate([rng.permutation(np.flatnonzero(stype == 0)), rng.permutation(np.flatnonzero(stype == 3))]):
        st = np.arange(S - ln_[k] + 1)
        gap = np.array([(1 - cover / need)[x:x + ln_[k]].mean() for x in st])
        lo[k] = st[np.argmax(gap + rng.gumbel(0, .05, len(st)))]
        cover[lo[k]:lo[k] + ln_[k]] += 1
    hi = lo + ln_
    brk = np.where(stype == 3, -1, lo + 8 + rng.integers(0, 2, A))
    sl = np.arange(S)[:, None]
    on = np.stack([(sl >= lo) & (sl < hi) & (sl != brk)] * 2)  # [weekday, saturday]
    on[1] &= (sl >= 2) & (sl < 22)
    # working days
    sat_worker = (stype < 3) & (rng.random(A) < .45)
    off_wd = np.where(sat_worker, rng.choice(5, A, p=[.05, .2, .25, .25, .25]), -1)
    pt_days = np.argsort(rng.random((A, 5)), 1)[:, :3]
    d5 = dow[:, None]
    pres = np.where(stype == 3, (pt_days[None, :, :] == d5[:, :, None]).any(2) | ((d5 == 5) & (rng.random(A) < .3)),
                    ((d5 < 5) & (d5 != off_wd)) | ((d5 == 5) & sat_worker))
    hire = np.where(rng.random(A) < .08, rng.integers(5, max(6, int(.7 * days)), A), 0)
    leave = np.where((hire == 0) & (rng.random(A) < .05), rng.integers(int(.3 * days), max(int(.3 * days) + 1, days - 3), A), days)
    dd = np.arange(days)[:, None]
    pres &= (dd >= hire) & (dd < leave)
    sick = np.zeros(A, bool)
    for d in range(days):  # sick spells (short loop over days, vectorised over agents)
        sick = np.where(sick, rng.random(A) < .5, rng.random(A) < .025)
        pres[d] &= ~sick
    vac, v0 = rng.random(A) < .35, rng.integers(0, max(1, days - 7), A)  # one vacation week
    pres &= ~(vac & (dd >= v0) & (dd < v0 + 7))
    pres[hol] &= rng.random((hol.sum(), A)) < .35
    # skills
    mix = np.zeros((2, A, Q))
    for m in range(2):
        k = rng.choice([1, 2, 3, 4], A, p=[.1, .45, .35, .1])
        for a in range(A):
            qs = rng.choice(Q, k[a], replace=False, p=QSHARE)
            mix[m, a, qs] = rng.dirichlet(np.full(k[a], .8))
    switch = np.where(rng.random(A) < .07, rng.integers(int(.25 * days), int(.75 * days) + 1, A), days + 1)
    # gaming
    beh, sday, stren = np.zeros(A, int), np.full(A, -1), np.zeros(A)
    hold_mode = rng.random(A) < .5  # True: longer holds, False: more holds
    if gaming:
        elig = rng.permutation(np.flatnonzero((stype < 3) & (hire == 0) & (leave == days)))
        pos = 0
        for b in range(1, 7):
            n = max(1, int(round(A / 120 * rng.integers(3, 5))))
            ids, pos = elig[pos:pos + n], pos + n
            beh[ids] = b
            starts = np.array([0 if i % 2 == 0 else rng.integers(int(.3 * days), int(.6 * days) + 1) for i in range(len(ids))])
            sday[ids] = rng.permutation(starts)
            stren[ids] = rng.uniform(*STRENGTH[b], len(ids))
    return dict(z=z, aq=rng.normal(0, .1, (A, Q)), lo=lo, hi=hi, on=on, pres=pres, hire=hire, leave=leave,
                mix=mix, switch=switch, beh=beh, sday=sday, stren=stren, hold_mode=hold_mode, stype=stype)


def _to_open(rng, t, arr, lo, hi, days):
    """Move times outside opening hours to the next opening (+ a morning backlog delay)."""
    for _ in range(6):
        d = np.floor(t / DAY).astype(int)
        keep = d < days
        t, d, arr = t[keep], d[keep], {k: v[keep] for k, v in arr.items()}
        sod = t - d * DAY
        lo_s, hi_s = OPEN_S + lo[d] * SLOT, OPEN_S + hi[d] * SLOT
        early = (sod < lo_s) & (hi[d] > lo[d])
        late = ~early & ((sod >= hi_s) | (hi[d] <= lo[d]))
        if not (early.any() or late.any()):
            break
        t = np.where(early, d * DAY + lo_s + rng.exponential(2400, len(t)), t)
        t = np.where(late, (d + 1) * DAY, t)
    return t, arr


def simulate(seed: int, n_agents: int = 120, days: int = 61, gaming: bool = True, ended_by: bool = True,
             start: str = "2026-03-02") -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    A = n_agents
    dates, dow, hol, lo, hi = _calendar(rng, start, days)
    ag = _agents(rng, A, days, dow, hol, gaming)
    z, beh, sday, stren = ag["z"], ag["beh"], ag["sday"], ag["stren"]
    ivr_day = int(rng.integers(int(.4 * days), int(.7 * days) + 1))
    # ---- volume ---------------------------------------------------------------------------------
    prof = _profile()
    dayf = np.array([1.12, 1.04, 1.0, .97, .92, .4, 0.0])[dow] * np.where(hol, .3, 1.0) * rng.gamma(30, 1 / 30, days)
    open_m = (np.arange(S)[None, :] >= lo[:, None]) & (np.arange(S)[None, :] < hi[:, None])  # (days, S)
    sat = (dow == 5).astype(int)
    p = prof[sat] * open_m[:, None, :]
    p /= np.maximum(p.sum(2, keepdims=True), 1e-12)
    lam = (VOL_PER_AGENT * A * dayf[:, None, None] * QSHARE[None, :, None] * rng.gamma(50, 1 / 50, (days, Q, 1))
           * p * rng.gamma(25, 1 / 25, (days, 1, S)))  # (days, Q, S)
    lam = lam.transpose(0, 2, 1)  # (days, S, Q)
    cnt = rng.poisson(lam).ravel()
    cell = np.repeat(np.arange(cnt.size), cnt)
    d0, s0, q0 = cell // (S * Q), (cell // Q) % S, cell % Q
    t0 = d0 * DAY + OPEN_S + (s0 + rng.random(cell.size)) * SLOT
    prop = rng.gamma(.5, 1, ncust := max(100, int(cell.size / 1.4)))  # calling propensity
    cust0 = rng.choice(ncust, cell.size, p=prop / prop.sum())
    # ---- routing weights ------------------------------------------------------------------------
    dd = np.arange(days)[:, None]
    lc = np.where(ag["hire"] > 0, np.exp(-np.maximum(dd - ag["hire"], 0) / 14.0), 0.0)  # learning curve (days, A)
    bad, adn = rng.random((days, A)) < .05, rng.normal(0, .07, (days, A))  # bad days, agent-day noise
    act = (beh[None, :] > 0) & (dd >= sday[None, :]) & (sday[None, :] >= 0)
    cap = np.exp(-.8 * z[:, T_TALK])[None, :] / (1 + .4 * lc) / np.where(bad, 1.2, 1.0)
    cap = cap * np.where(act & (beh == HANG), 1 + 1.5 * stren, 1.0)
    onday = ag["on"][sat].astype(float) * ag["pres"][:, None, :]  # (days, S, A)
    hi_a = np.where(sat[:, None] == 1, np.minimum(ag["hi"], 22)[None, :], ag["hi"][None, :])  # (days, A)
    eodw = np.where(act[:, None, :] & (beh == EOD) & (np.arange(S)[None, :, None] >= hi_a[:, None, :] - 2),
                    1 / np.maximum(stren, 1), 1.0)
    base_w = onday * cap[:, None, :] * eodw  # (days, S, A)
    mix_d = np.where((dd >= ag["switch"][None, :])[:, :, None], ag["mix"][1][None], ag["mix"][0][None])  # (days, A, Q)
    W = base_w[:, :, None, :] * mix_d.transpose(0, 2, 1)[:, None, :, :]  # (days, S, Q, A)
    empty = W.sum(3) == 0
    W = np.where(empty[..., None], base_w[:, :, None, :], W).reshape(-1, A)
    tot = W.sum(1)
    cum = np.cumsum(W, 1) / np.where(tot > 0, tot, 1)[:, None]
    cum[:, -1] = 1.0
    flat = (np.arange(len(W))[:, None] + cum).ravel()
    rho = lam.sum(2) * 1.25 * 430 / SLOT / np.maximum(onday.sum(2) * .88, .5)  # slot load / staffed capacity
    mwait = np.clip(8 * np.exp(4 * (rho - .75)), 3, 600)  # (days, S)
    hold_len = ag["hold_mode"]

    def handle(t, q, cu):
        n = len(t)
        d = np.floor(t / DAY).astype(int)
        s = np.clip(((t - d * DAY - OPEN_S) // SLOT).astype(int), 0, S - 1)
        c = (d * S + s) * Q + q
        wait = 3 + mwait[d, s] * WAITF[q] * rng.exponential(1, n)
        pat = PAT[q] * rng.weibull(1.2, n)
        ab = (pat < wait) | (tot[c] == 0)
        wait = np.where(ab, np.minimum(pat, wait), wait)
        m = len(i := np.flatnonzero(~ab))
        ci, di, qi = c[i], d[i], q[i]
        a = np.clip(np.searchsorted(flat, ci + rng.random(m) * (1 - 1e-12), side="right") - ci * A, 0, A - 1)
        zi, lci, bd = z[a], lc[di, a], bad[di, a].astype(float)
        ivr = (di >= ivr_day).astype(float)
        b, f, drift, ans_t = np.where(act[di, a], beh[a], 0), stren[a], di / days, t[i] + wait[i]
        talk = (_talk(rng, qi) * np.exp(zi[:, T_TALK] + ag["aq"][a, qi] + adn[di, a] + .2 * bd - .06 * drift)
                * (1 + .4 * lci))
        # natural short calls
        short = rng.random(m) < _sig(_logit(SHORT_B[qi]) + zi[:, T_SHORT] + .4 * ivr)
        stype = np.where(short, rng.choice(4, m, p=[.35, .3, .2, .15]), -1)
        st = np.select([stype == 0, stype == 1, stype == 2], [_ln(rng, 9, .5, m), _ln(rng, 22, .4, m), _ln(rng, 6, .6, m)],
                       rng.uniform(1, 60, m))
        talk = np.where(short, np.maximum(st, 1), talk)
        # transfers
        px = _sig(_logit(XFER_B[qi]) + zi[:, T_XFER] + .3 * ivr + 1.0 * lci)
        u = rng.random(m)
        natx = ~short & (u < px)
        dump = ~short & ~natx & (b == DUMP) & (u < px * f)
        xfer = natx | dump
        talk = np.where(natx, talk * rng.beta(2, 2.5, m) + 15, talk)
        talk = np.where(dump, np.clip(_ln(rng, 35, .5, m), 8, 120), talk)
        # gamed hang-ups
        hang = ~short & ~xfer & (b == HANG) & (rng.random(m) < f)
        disg = hang & (rng.random(m) < .35)
        talk = np.where(hang, np.clip(_ln(rng, np.where(disg, 13, 9), .55), 2, 28), talk)
        reg = ~short & ~xfer & ~hang
        # end-of-day stretch: answered within the last hour of the agent's shift
        sod = ans_t - di * DAY
        endt = OPEN_S + hi_a[di, a] * SLOT
        eod = reg & (b == EOD) & (sod >= endt - 3600) & (sod < endt)
        talk = np.where(eod, talk * f * _ln(rng, 1, .05, m), talk)
        bunch = reg & (b == BUNCH) & (talk >= 300) & (talk < 400) & (rng.random(m) < f)
        talk = np.where(bunch, rng.uniform(270, 299.5, m), talk)
        talk = np.round(talk)
        # hold
        ph = _sig(_logit(HOLD_B[qi]) + zi[:, T_HOLD] + .5 * np.log(talk / QMED[qi]) + 1.0 * lci) * np.where(dump, .3, 1)
        ph = np.where((b == HOLDP) & ~hold_len[a], np.minimum(.95, ph * f), ph)
        has = (reg | xfer) & (rng.random(m) < ph)
        hold = np.clip(_ln(rng, 45 * np.exp(.5 * zi[:, T_HOLD]), .8) * (1 + .5 * lci), 5, 1200)
        hold = np.where((b == HOLDP) & hold_len[a], hold * f, hold)
        hold = np.where(has, np.round(hold), 0.0)
        # after-call work
        acw = _ln(rng, ACW_M[qi] * np.exp(zi[:, T_ACW] + .3 * bd - .05 * drift) * (1 + .5 * lci)
                  * np.clip(talk / QMED[qi], .05, 20) ** .15, .55)
        acw *= np.select([short | hang, xfer], [.35, .6], 1.0) * (rng.random(m) >= .04)
        acw = np.round(np.where(b == ACWP, acw * f * _ln(rng, 1, .08, m), acw))
        # resolution
        pr = _sig(_logit(RES_B[qi]) + zi[:, T_SKILL] - .5 * bd - .9 * lci - .3 * np.log(talk / QMED[qi]) - .7 * bunch)
        res = np.select([reg, stype == 0, stype == 1], [rng.random(m) < pr, rng.random(m) < .4, rng.random(m) < .9], False)
        # ended_by
        u = rng.random(m)
        pag = np.where(bunch, .85, _sig(_logit(.42) + zi[:, T_END]))
        pag_s = _sig(np.select([stype == 0, stype == 1], [_logit(.4), _logit(.35)], -9.0) + .5 * zi[:, T_END])
        eb = np.where(u < pag, "agent", np.where(u < pag + .015, "system", "customer"))
        eb = np.where(short, np.where(stype == 3, np.where(u < .92, "system", "customer"),
                                      np.where(u < pag_s, "agent", np.where(stype == 2, np.where(u > .95, "system", "customer"), "customer"))), eb)
        eb = np.where(xfer, np.where(u < .85, "agent", np.where(u < .95, "customer", "system")), eb)
        eb = np.where(hang, np.where(disg, "customer", "agent"), eb)
        # survey, QA, complaint
        wa = wait[i]
        srv = rng.random(m) < .13 + .07 * ~res
        lat = (3.0 + 1.4 * res - .6 * xfer - .003 * np.minimum(wa, 600) + 1.3 * zi[:, T_EMP] - .8 * hang
               + rng.normal(0, .9, m))
        csat = np.where(srv, np.clip(np.round(lat), 1, 5), np.nan)
        qa = np.clip(82 + 5 * zi[:, T_SKILL] / .45 + 8 * zi[:, T_EMP] - 25 * hang - 10 * dump - 6 * ~res + rng.normal(0, 6, m), 0, 100)
        qa = np.where(rng.random(m) < .012, np.round(qa, 1), np.nan)
        comp = rng.random(m) < _sig(-6.5 + 2.0 * ~res + 1.0 * hang + .6 * xfer + .5 * (wa > 300) - .8 * short)
        # follow-ups
        tend = ans_t + talk + hold
        cbp = np.select([hang, stype == 0, stype == 1, stype == 2, stype == 3, dump, natx, res],
                        [.72, .06, .05, .30, .65, .35, .25, .06], .42)
        dmed = np.select([hang, stype == 3, stype == 2, stype == 0, dump, xfer | res | (stype == 1)],
                         [600, 240, 5400, 3600, 7200, 86400], np.where(rng.random(m) < .45, 1800, 72000))
        dsig = np.select([hang, stype == 3, res], [.9, .8, .8], 1.1)
        leg = xfer & (rng.random(m) < .4)
        cb = ~leg & (rng.random(m) < cbp)
        cbt = tend + _ln(rng, np.where(res & ~short, 3 * 86400, dmed), dsig)
        cbq = np.where(rng.random(m) < .85, qi, rng.choice(Q, m, p=QSHARE))
        lq = rng.choice(Q, m, p=QSHARE)
        lq = np.where(lq == qi, (qi + 1 + rng.integers(0, Q - 1, m)) % Q, lq)
        ra = ab & (rng.random(n) < .55)
        nt = np.concatenate([cbt[cb], tend[leg] + rng.uniform(5, 40, leg.sum()), t[ra] + wait[ra] + _ln(rng, 360, 1.0, ra.sum())])
        nq = np.concatenate([cbq[cb], lq[leg], q[ra]])
        nc = np.concatenate([cu[i][cb], cu[i][leg], cu[ra]])
        # scatter into full-length record
        def F(v, fill):
            o = np.full(n, fill, dtype=object if v.dtype == object else (float if fill is np.nan else v.dtype))
            o[i] = v
            return o
        out = dict(t=t, q=q, cust=cu, outcome=np.where(ab, "abandoned", "answered").astype(object),
                   agent=F(a, -1), ans=F(ans_t, np.nan), talk=F(talk, np.nan), hold=F(hold, np.nan), acw=F(acw, np.nan),
                   eb=F(eb.astype(object), "customer"), res=F(res, False), csat=F(csat, np.nan), qa=F(qa, np.nan),
                   comp=np.where(ab, rng.random(n) < .002, False))
        out["comp"][i] = comp
        out["outcome"][i[xfer]] = "transferred"
        return out, nt, nq, nc

    parts, t, q, cu = [], t0, q0, cust0
    for _ in range(10):
        if len(t) == 0:
            break
        t, arr = _to_open(rng, t, dict(q=q, cu=cu), lo, hi, days)
        out, t, q, cu = handle(np.round(t), arr["q"], arr["cu"])
        parts.append(out)
    R = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(R["t"], kind="stable")
    R = {k: v[order] for k, v in R.items()}
    base = pd.Timestamp(start).normalize()
    ans = R["outcome"] != "abandoned"
    aid = np.array([f"A{k + 1:03d}" for k in range(A)], dtype=object)
    calls = pd.DataFrame({
        "call_id": [f"C{k:07d}" for k in range(1, len(order) + 1)],
        "queue": QNAME[R["q"]],
        "arrival_ts": base + pd.to_timedelta(R["t"], unit="s"),
        "outcome": R["outcome"],
        "agent_id": np.where(ans, aid[np.maximum(R["agent"], 0)], None),
        "answer_ts": base + pd.to_timedelta(np.round(R["ans"]), unit="s"),
        "talk_s": R["talk"], "hold_s": R["hold"], "acw_s": R["acw"],
        "customer_id": np.char.add("K", np.char.zfill(R["cust"].astype(str), 7)).astype(object),
        "ended_by": R["eb"] if ended_by else np.full(len(order), None, dtype=object),
        "resolved": R["res"].astype(bool), "csat": R["csat"], "qa_score": R["qa"], "complaint": R["comp"].astype(bool),
    })
    for col in ("queue", "outcome", "agent_id", "customer_id", "ended_by"):
        calls[col] = calls[col].astype(object)
    truth = pd.DataFrame({"agent_id": aid, "behaviour": np.array(("honest",) + BEHAVIOURS, dtype=object)[beh],
                          "start_day": sday.astype(int), "strength": np.round(stren, 4)})
    # the center-wide non-gaming event, for judging change points (not a data column)
    truth.attrs["ivr_date"] = str((pd.Timestamp(start) + pd.Timedelta(days=ivr_day)).date())
    return calls, truth


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k, v in (("--seed", 1), ("--agents", 120), ("--days", 61)):
        ap.add_argument(k, type=int, default=v)
    ap.add_argument("--start", default="2026-03-02")
    ap.add_argument("--null", action="store_true", help="no gaming agents")
    ap.add_argument("--no-ended-by", action="store_true", help="leave ended_by empty")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    calls, truth = simulate(a.seed, a.agents, a.days, gaming=not a.null, ended_by=not a.no_ended_by, start=a.start)
    (out := Path(a.out)).mkdir(parents=True, exist_ok=True)
    calls.to_parquet(out / "calls.parquet", index=False)
    truth.to_csv(out / "truth.csv", index=False)
    print(f"rows={len(calls)} agents={truth.shape[0]} gamers={(truth.behaviour != 'honest').sum()} "
          f"seconds={time.perf_counter() - t0:.1f} out={out}")


if __name__ == "__main__":
    main()
