"""Agent-level decisions: one combined p-value per agent (and period), FDR across agents.

Every check gives per-test evidence (an agent x check x period p-value). The
decision, though, is about an agent, and an agent carries ~26 dependent tests.
So each agent's p-values are combined with the Cauchy combination test (ACAT,
:func:`._combine.acat`; valid under arbitrary dependence in the tail), once per
period and once over all periods (scope ``all``: the decision), and the
false-discovery rate is controlled across agents within each scope
(Benjamini-Hochberg by default; Benjamini-Yekutieli with ``agent_fdr="BY"``).

Structure. Each check's rows (periods) within an agent x scope are combined
by ACAT; the checks of one *signature* (one behaviour: a hang-up shows as
excess short calls against peers and against the agent's own history, and as
callers ringing back after short calls, soon or within days, so
``short_calls_*``, ``repeat_after_short`` and ``quick_callback_after_short``
form one signature) are grouped in *faces* (:data:`FACES`): pairs of traces
that must agree if the behaviour is there (excess short calls against peers
with repeat calls; with quick callbacks; the agent's own trend with the
center-wide change). Within a face, Stouffer's sum of z-scores with the checks'
correlation estimated across agents (Strube 1985; so two moderate, consistent
traces accumulate: p = .02 and .008 give about 7e-4 when uncorrelated); across
the faces, ACAT with equal weights (valid under their dependence: faces share
checks). One face holds two checks, each z-score capped at
:data:`FACE_Z_CAP` (4) where both are present (a Winsorized Stouffer: never
more significant than the plain one, so still valid), so one noisy check (a
heavy-tailed peer test in a messy center, p = 1e-6 for an honest agent) cannot
carry an honest agent alone (checks measured conservative in the tail,
:data:`UNCAPPED`, keep their z), while a Stouffer over every trace would let the checks without
signal dilute the two that have it. The signatures are combined by ACAT with
equal weights, so the number of tests of an unrelated check does not dilute a
behaviour's evidence.
The per-check and per-behaviour evidence columns use the ACAT weights
(equal per signature, per check, per row).

Accumulation across periods. ACAT is built for sparse signals: six monthly
p-values of .02 combine to about .02. A persistent excess therefore enters
through checks that pool the periods themselves (``short_calls_peer`` with
period ``all``: the agent's whole-window short-call share against the peers'
whole-window shares, whose between-agent spread is fitted on whole-window
rates, so an honest agent who is naturally quick every month is not counted as
evidence; ``quick_callback_after_short`` has one too, ``end_of_day_stretch``
(option ``eod_pooled``, on by default). ``repeat_after_short`` has
none: its contrast's between-agent spread dominates its sampling error, so on
61-day worlds a pooled row was weaker than the best month for most planted agents). The combined p-value of scope ``all`` includes those pooled rows,
and within a check they carry half its weight (:data:`POOLED_SHARE`), the
periods the other half: two time scales, one for a persistent excess and one for
a burst. With equal weights per row the pooled row of a ten-month window had a
weight of 1/11, so the ten weaker monthly rows diluted it about tenfold (the bank's
MORIAH, +25 short calls per 100 against peers in every month: pooled p = 1.2e-4,
the check's combination 7.7e-4); fixed weights keep ACAT valid under any dependence.

BH or BY. The agents' combined p-values are dependent only through shared peer
baselines (leave-one-out means over tens of agents: weak, mostly positive
dependence), the setting in which BH is known to keep its level (Benjamini &
Yekutieli 2001, PRDS; simulation in ``benchmarks/results/gaming_calibration.md``).
BY (a factor ``sum 1/i``, ~5 for 100 agents) is offered for when the
dependence is unknown or possibly negative (tiny peer groups, a handful of
agents, checks whose contrasts compete for the same calls).

References
----------
Liu, Y. & Xie, J. (2020). Cauchy combination test. *JASA* 115(529), 393-402.
Strube, M. J. (1985). Combining and comparing significance levels from
nonindependent hypothesis tests. *Psychological Bulletin* 97(2), 316-321.
Benjamini, Y. & Hochberg, Y. (1995). *JRSS B* 57(1), 289-300.
Benjamini, Y. & Yekutieli, D. (2001). *Ann. Statist.* 29(4), 1165-1188.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._combine import acat_groups, by_qvalues
from ._fdr import bh_qvalues

__all__ = ["AGENT_COLUMNS", "BEHAVIOUR_OF", "EVIDENCE_ONLY", "SIGNATURE_OF", "FACES", "FACE_Z_CAP", "UNCAPPED", "agent_table", "date_agents",
           "CENTER_ID"]

#: Columns of ``gaming_agents.csv`` / ``GamingReport.agents`` (interface A).
AGENT_COLUMNS = ["agent_id", "scope", "p_value", "q_value", "flagged", "behaviours", "checks",
                 "first_date", "last_date", "detail"]

#: agent_id of center-level rows in the flags (not an agent).
CENTER_ID = "center"

#: check -> behaviour key it is evidence of.
BEHAVIOUR_OF = {
    "short_calls_peer": "hangups",
    "short_calls_trend": "hangups",
    "short_calls_change": "hangups",
    "repeat_after_short": "repeat_calls",
    "quick_callback_after_short": "repeat_calls",
    "bunching_agent": "bunching",
    "bunching_center": "bunching",
    "acw_inflation": "acw_padding",
    "hold_inflation": "hold_padding",
    "transfer_dumping": "transfer_dumping",
    "end_of_day_stretch": "end_of_day_stretch",
    "survey_selection": "survey_selection",
    "reciprocity_360": "reciprocal_360",
    "okr_sandbagging": "okr_sandbagging",
    "acw_step": "acw_padding",
    "hold_step": "hold_padding",
    "transfer_step": "transfer_dumping",
    "acw_change": "acw_padding",
    "hold_change": "hold_padding",
}

#: Checks whose rows are evidence, listed and shown, but not part of the agent-level
#: decision: an agent's after-call work or hold *level* against peers. Honest habits differ
#: by more than padding does (of the 1.3-1.6x padders from day one in ``benchmarks/results/``,
#: ccpm's own clean, messy and heavy-habit worlds found none by a level and the outside
#: worlds one of 80), so a level alone names unusual agents, not gamers: on the outside worlds
#: (``benchmarks/worlds_outside.py``) 15 of the 19 honest agents flagged were wrap-up or
#: hold habits 3.7-43x the center median, flagged on their level alone. Padding that starts
#: within the data is decided on by the agent's own history (``acw_change``, ``hold_change``:
#: the change since the previous period against peers' changes; ``acw_step``, ``hold_step``).
EVIDENCE_ONLY = frozenset({"acw_inflation", "hold_inflation"})

#: check -> signature (one behaviour's several traces share one weight). The own-history
#: step checks are signatures of their own: pooled with the level check by Stouffer's
#: sum, a strong step (z 5) beside a neutral level (z 0) would fall to z 3.5.
SIGNATURE_OF = dict(BEHAVIOUR_OF, repeat_after_short="hangups",
                    quick_callback_after_short="hangups", acw_step="acw_step",
                    hold_step="hold_step", transfer_step="transfer_step")

#: signature -> its faces: groups of checks whose traces should agree when the behaviour
#: is there. Stouffer within a face, ACAT across the faces (see the module docstring).
#: A signature not listed has one face of all its checks; a check of a listed signature
#: that is in none of its faces gets a face of its own.
FACES = {
    "hangups": (
        ("short_calls_peer", "repeat_after_short"),          # excess short calls, rung back
        ("short_calls_peer", "quick_callback_after_short"),  # ... rung back at once
        ("short_calls_trend", "short_calls_change"),         # the agent's own history
    ),
}


def _weights(f: pd.DataFrame, scope_col: str) -> np.ndarray:
    """Hierarchical ACAT weights within each agent x scope (see the module docstring)."""
    key = [f["agent_id"], f[scope_col]]
    sig = f["check"].map(SIGNATURE_OF).fillna(f["check"])
    n_sig = sig.groupby(key).transform("nunique").to_numpy(float)
    n_chk = f["check"].groupby(key + [sig]).transform("nunique").to_numpy(float)
    ck_key = f["agent_id"] + "\x1f" + f[scope_col] + "\x1f" + f["check"]
    return _row_weights(f["period"], ck_key) / (n_sig * n_chk)


#: Share of a check's weight that its pooled whole-window rows (period ``all``) carry
#: where the check also has per-period rows (see "Accumulation across periods").
POOLED_SHARE = 0.5


def _row_weights(period: pd.Series, ck_key: pd.Series) -> np.ndarray:
    """Weights of a check's rows within one agent x scope, summing to one per ``ck_key``.

    Two time scales: the pooled whole-window rows (period ``all``) share
    :data:`POOLED_SHARE` and the per-period rows the rest, equally within each kind;
    a check with only one kind of row weighs its rows equally.
    """
    pooled = (period.astype(str) == "all").to_numpy()
    keys = ck_key.to_numpy()
    n_row = pd.Series(keys).map(pd.Series(keys).value_counts()).to_numpy(float)
    n_pool = pd.Series(pooled).groupby(keys).transform("sum").to_numpy(float)
    n_per = n_row - n_pool
    both = (n_pool > 0) & (n_per > 0)
    w_both = np.where(pooled, POOLED_SHARE / np.maximum(n_pool, 1.0),
                      (1.0 - POOLED_SHARE) / np.maximum(n_per, 1.0))
    return np.where(both, w_both, 1.0 / n_row)


def _dates(changepoints: pd.DataFrame | None, agents) -> dict[str, tuple[str, str]]:
    """agent -> (first_date, last_date) from agent-level change points (either schema)."""
    out: dict[str, tuple[str, str]] = {}
    if changepoints is None or changepoints.empty:
        return out
    cp = changepoints
    if "level" in cp.columns and "agent_id" in cp.columns:
        cp = cp[cp["level"].astype(str) == "agent"].assign(_a=cp["agent_id"].astype(str))
    elif "scope" in cp.columns:
        cp = cp[cp["scope"].astype(str) != CENTER_ID].assign(_a=cp["scope"].astype(str))
    else:
        return out
    cp = cp[cp["_a"].isin(set(agents))]
    if cp.empty or not {"date", "before", "after"} <= set(cp.columns):
        return out
    for aid, g in cp.sort_values("date").groupby("_a"):
        up = g[pd.to_numeric(g["after"], errors="coerce") > pd.to_numeric(g["before"],
                                                                          errors="coerce")]
        down = g[pd.to_numeric(g["after"], errors="coerce") < pd.to_numeric(g["before"],
                                                                            errors="coerce")]
        first = pd.Timestamp(up["date"].iloc[0]).strftime("%Y-%m-%d") if len(up) else ""
        last = ""
        if len(down):
            d = pd.Timestamp(down["date"].iloc[-1])
            if not first or d > pd.Timestamp(first):
                # the behaviour stopped the day before the new (lower) regime started
                last = (d - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        out[str(aid)] = (first, last)
    return out


def _signature_correlation(z: pd.DataFrame) -> np.ndarray:
    """Correlation of the checks' z-scores across agents (Spearman, as a Pearson value).

    Pairs with fewer than 20 agents in common get 1 (the conservative choice for a sum);
    negative values are set to 0 (a negative estimate would shrink the sum's variance).
    """
    cols = list(z.columns)
    r = np.eye(len(cols))
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            both = z[[cols[i], cols[j]]].dropna()
            if len(both) < 20:
                rij = 1.0
            else:
                rs = both[cols[i]].rank().corr(both[cols[j]].rank())
                rij = 2 * np.sin(np.pi * rs / 6) if np.isfinite(rs) else 1.0
            r[i, j] = r[j, i] = float(np.clip(rij, 0.0, 1.0))
    return r


#: Cap on each check's z-score inside a face with two or more traces present (p = 3.2e-5):
#: alone, one check at the cap gives a face z of 4 / sqrt(2 + 2 r) (p ~ .002-.005), far
#: from the ~1e-4 of a first BH rejection among hundreds of agents; with a consistent
#: partner it accumulates as before (z 4 and 2: p ~ 1e-5 for r = 0).
FACE_Z_CAP = 4.0

#: Checks whose z-score is not capped in a face: their null tail was measured conservative
#: where the capped checks' tails are heavy. ``short_calls_change`` (an agent's short calls
#: before a center-wide change against their own rate after it, scaled by the center's
#: factor) on 40 + 40 centers whose honest agents each respond to the change by their own
#: factor (log-SD 0.4 and 0.8; 2,400 p-values each): 0.25x nominal at .01 and 0.42x / 0x
#: at .001, while ``short_calls_trend`` in the same worlds reached 5x at .001 (so it stays
#: capped). Capped beside a weak partner, a crackdown test at p 4e-7 counted as p 3e-5.
#: ``quick_callback_after_short`` (an agent's quick callbacks after short calls given their
#: own callbacks after other calls: no between-agent spread to misjudge): over 40,120
#: agent x period tests of agents who do not hang up, in ccpm's clean, messy, heavy-habit
#: and 20-day worlds and the outside worlds (``benchmarks/worlds_outside.py``), 0.87x
#: nominal at .001, 3 below the cap's 3.2e-5 (1.3 expected), none below 1e-6. Capped, an
#: outside world's hang-up agent whose callers rang back within minutes (p 3e-8) beside
#: peers' short calls at p .06 had an agent p of .0014 (not flagged); uncapped 2e-5.
UNCAPPED = frozenset({"short_calls_change", "quick_callback_after_short"})


def _faces(sig: str, present: list[str]) -> list[tuple[str, ...]]:
    """The faces of signature ``sig`` restricted to its checks that ran (``present``).

    Faces that became a part of another face are dropped; checks in no face get a face
    of their own.
    """
    listed = FACES.get(sig)
    if not listed:
        return [tuple(present)]
    faces = [tuple(c for c in f if c in present) for f in listed]
    faces = [f for f in dict.fromkeys(faces) if f]
    # a face that lost a check and is now part of another face adds no trace of its own
    # (it would only let that check count twice)
    faces = [f for f in faces if not any(set(f) < set(g) for g in faces)]
    covered = {c for f in faces for c in f}
    faces += [(c,) for c in present if c not in covered]
    return faces


def _stouffer(g: pd.DataFrame, checks: list[str]) -> pd.DataFrame:
    """``key, p``: Stouffer's sum of the checks' z-scores per key, correlation across keys.

    Keys without any of the checks' rows are absent; a key with some of them sums those
    (the variance is that of the sum of the present ones).
    """
    from scipy import stats

    if len(checks) == 1:
        return g[["key", "p"]].reset_index(drop=True)
    zt = g.pivot_table(index="key", columns="check", values="z", aggfunc="first")
    zt = zt.reindex(columns=checks)
    r = _signature_correlation(zt)
    zv = zt.to_numpy(float)
    m = np.isfinite(zv)
    # where two or more traces are present, each z is capped at FACE_Z_CAP: min(z, c) <= z,
    # so the capped sum is stochastically smaller than Stouffer's and stays valid, while one
    # heavy-tailed check (a peer test in a messy center) cannot carry the face alone
    several = (m.sum(axis=1) >= 2)[:, None]
    capped = np.array([c not in UNCAPPED for c in checks])[None, :]
    zv = np.where(several & m & capped, np.minimum(zv, FACE_Z_CAP), zv)
    num = np.where(m, zv, 0.0).sum(axis=1)
    mf = m.astype(float)
    var = np.einsum("ki,ij,kj->k", mf, r, mf)
    zs = num / np.sqrt(np.maximum(var, 1e-12))
    return pd.DataFrame({"key": zt.index, "p": stats.norm.sf(zs)})


def _signature_combination(long: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Agent x scope p-values: faces, then signatures, then ACAT across signatures.

    Each check's rows within an agent x scope are combined by ACAT (:func:`_row_weights`:
    the pooled whole-window rows carry half, the periods the other half);
    the checks of one face of a signature (:data:`FACES`) by Stouffer's sum of z-scores
    with the checks' correlation estimated across agents (:func:`_stouffer`,
    :func:`_signature_correlation`; Strube 1985), so consistent moderate evidence in
    two traces of one behaviour accumulates; the faces of a signature by ACAT, and the
    signatures by ACAT with equal weights (valid under their unknown dependence).
    """
    from scipy import stats

    ck_key = long["key"] + "\x1f" + long["check"]
    lab, pc = acat_groups(long["p_value"].to_numpy(), _row_weights(long["period"], ck_key),
                          ck_key.to_numpy())
    ck = pd.DataFrame({"lab": lab, "p": pc})
    ck[["key", "check"]] = ck["lab"].str.rsplit("\x1f", n=1, expand=True)
    ck["sig"] = ck["check"].map(SIGNATURE_OF).fillna(ck["check"])
    ck["scope_all"] = ck["key"].str.endswith("\x1fall")
    ck["z"] = stats.norm.isf(np.clip(ck["p"].to_numpy(float), 1e-300, 1 - 1e-16))
    sig_rows = []
    for (sig, _whole), g in ck.groupby(["sig", "scope_all"], sort=False):
        present = sorted(g["check"].unique())
        faces = _faces(sig, present)
        face_rows = []
        for face in faces:
            gf = g[g["check"].isin(face)]
            face_rows.append(_stouffer(gf, sorted(face)))
        if len(face_rows) == 1:
            sig_rows.append(face_rows[0].assign(sig=sig))
            continue
        fp = pd.concat(face_rows, ignore_index=True)
        lab_f, p_f = acat_groups(fp["p"].to_numpy(), np.ones(len(fp)), fp["key"].to_numpy())
        sig_rows.append(pd.DataFrame({"key": lab_f, "p": p_f, "sig": sig}))
    sp = pd.concat(sig_rows, ignore_index=True)
    return acat_groups(sp["p"].to_numpy(), np.ones(len(sp)), sp["key"].to_numpy())


def date_agents(agents: pd.DataFrame, changepoints: pd.DataFrame | None) -> pd.DataFrame:
    """Fill ``first_date`` / ``last_date`` of flagged rows from agent-level change points."""
    if agents.empty:
        return agents
    dates = _dates(changepoints, agents.loc[agents["flagged"], "agent_id"].unique())
    if not dates:
        return agents
    a = agents.copy()
    for i in np.flatnonzero(a["flagged"].to_numpy()):
        d = dates.get(str(a.at[i, "agent_id"]))
        if d:
            a.at[i, "first_date"], a.at[i, "last_date"] = d
    return a


def _fmt_p(p: float) -> str:
    return f"{p:.2g}"


def agent_table(flags: pd.DataFrame, *, alpha: float, method: str = "BH",
                changepoints: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Combine each agent's tests and control the FDR across agents.

    Parameters
    ----------
    flags
        Per-test evidence (``agent_id, period, check, p_value, effect, effect_unit``...).
        Center-level rows (``agent_id == "center"``) are not agents and are left out.
    alpha
        False-discovery level across agents.
    method
        ``"BH"`` (Benjamini-Hochberg) or ``"BY"`` (Benjamini-Yekutieli).
    changepoints
        Optional change points; agent-level ones date the behaviour.

    Returns
    -------
    (agents, agent_fdr)
        ``agents`` with :data:`AGENT_COLUMNS`, one row per agent x scope
        (``all`` first, then the periods), sorted by scope then q-value;
        ``agent_fdr`` ``{"method", "alpha", "n_agents", "combination"}``.
    """
    method = str(method).upper()
    if method not in ("BH", "BY"):
        raise ValueError(f"agent_fdr must be BH or BY, got {method!r}")
    info = {"method": method, "alpha": float(alpha), "n_agents": 0, "combination": "ACAT"}
    agent_rows = (flags["level"] == "agent" if "level" in flags.columns
                  else flags["agent_id"].astype(str) != CENTER_ID)
    f = flags[agent_rows
              & np.isfinite(pd.to_numeric(flags["p_value"], errors="coerce"))].copy()
    if f.empty:
        return pd.DataFrame(columns=AGENT_COLUMNS), info
    f["agent_id"] = f["agent_id"].astype(str)
    f["period"] = f["period"].astype(str)
    f["p_value"] = f["p_value"].astype(float)
    # scope "all": every row; a period scope: that period's rows (pooled rows, period
    # "all", belong to scope "all" only)
    per = f[f["period"] != "all"].assign(scope=lambda d: d["period"])
    allf = f.assign(scope="all")
    long = pd.concat([allf, per], ignore_index=True)
    long["key"] = long["agent_id"] + "\x1f" + long["scope"]
    # the decision's tests (EVIDENCE_ONLY rows are listed as evidence, not combined); an
    # agent x scope with evidence rows only has p = 1 (kept, never flagged)
    dec = long[~long["check"].isin(EVIDENCE_ONLY)]
    long["w"] = _weights(long, "scope")
    keys = pd.unique(long["key"])
    p_of = dict(zip(*_signature_combination(dec), strict=True)) if len(dec) else {}
    labels = np.asarray(keys, dtype=object)
    p = np.array([p_of.get(k, 1.0) for k in labels], dtype=float)
    agent = np.array([lab.split("\x1f", 1)[0] for lab in labels], dtype=object)
    scope = np.array([lab.split("\x1f", 1)[1] for lab in labels], dtype=object)
    res = pd.DataFrame({"agent_id": agent, "scope": scope, "p_value": p})
    adj = by_qvalues if method == "BY" else bh_qvalues
    res["q_value"] = res.groupby("scope")["p_value"].transform(lambda s: adj(s.to_numpy()))
    res["flagged"] = res["q_value"].lt(alpha).astype(bool)
    info["n_agents"] = int((res["scope"] == "all").sum())

    # evidence per check and per behaviour (their own ACATs within agent x scope)
    ck_key = long["key"] + "\x1f" + long["check"]
    ck_lab, ck_p = acat_groups(long["p_value"].to_numpy(), long["w"].to_numpy(),
                               ck_key.to_numpy())
    ck = pd.DataFrame({"lab": ck_lab, "p": ck_p})
    ck[["key", "check"]] = ck["lab"].str.rsplit("\x1f", n=1, expand=True)
    ck["behaviour"] = ck["check"].map(BEHAVIOUR_OF).fillna(ck["check"])
    ck = ck.sort_values(["key", "p"], kind="stable")
    # behaviours are what the decision is about: an evidence-only level is listed among the
    # checks (the evidence), not as a behaviour (a manager reads "padding" as a finding)
    bh_p = ck[~ck["check"].isin(EVIDENCE_ONLY)].groupby(
        ["key", "behaviour"], sort=False)["p"].min().reset_index()
    bh_p = bh_p.sort_values(["key", "p"], kind="stable")
    # the strongest test and the counts in the detail are the decision's (evidence-only
    # rows where an agent x scope has nothing else)
    basis = pd.concat([dec, long[~long["key"].isin(set(dec["key"]))]], ignore_index=True)
    best = basis.sort_values(["key", "p_value"], kind="stable").drop_duplicates("key")
    best_of = dict(zip(best["key"], zip(best["check"], best["period"], best["p_value"],
                                        best["effect"], best["effect_unit"], strict=True),
                       strict=True))
    n_tests = dec.groupby("key").size().to_dict()
    n_per = basis.groupby("key")["period"].nunique().to_dict()

    def listing(tab: pd.DataFrame, col: str, level=alpha):
        """key, flagged -> the ``col`` values with p below ``level`` (a number, or one per
        row; in p order, each once), or for a flagged key without any, its strongest one.
        One pass over the table (a lookup per agent was most of the battery's time at 10 M
        calls)."""
        ev = tab[tab["p"].to_numpy() < level]
        joined = ev.groupby("key", sort=False)[col].agg(
            lambda v: ";".join(dict.fromkeys(v.astype(str)))).to_dict()
        strongest = tab.groupby("key", sort=False)[col].first().astype(str).to_dict()

        def get(key: str, flagged: bool) -> str:
            return joined.get(key) or (strongest.get(key, "") if flagged else "")
        return get

    # a behaviour is named (page 1 of the report reads these as findings) when its evidence
    # would carry the decision on its own: p below alpha over the number of the agent's
    # signatures (the equal-weight combination across them is about that strict); the
    # checks column keeps every check at p < alpha as the evidence. On the sample report a
    # transfer dumper was also said to pad hold on a hold step at p .010 (q .44).
    sig = dec["check"].map(SIGNATURE_OF).fillna(dec["check"])
    n_sig = sig.groupby(dec["key"]).nunique()
    beh_level = alpha / bh_p["key"].map(n_sig).fillna(1.0).clip(lower=1.0).to_numpy(float)
    beh_of = listing(bh_p, "behaviour", beh_level)
    chk_of = listing(ck, "check")
    dates = _dates(changepoints, res.loc[res["flagged"], "agent_id"].unique())
    beh, chk, first, last, detail = [], [], [], [], []
    for r in res.itertuples(index=False):
        key = r.agent_id + "\x1f" + r.scope
        beh.append(beh_of(key, r.flagged))
        chk.append(chk_of(key, r.flagged))
        d = dates.get(r.agent_id, ("", "")) if r.flagged else ("", "")
        first.append(d[0])
        last.append(d[1])
        b_check, b_period, b_p, b_effect, b_unit = best_of[key]
        where = "all periods" if r.scope == "all" else f"period {r.scope}"
        detail.append(
            f"Combined p = {_fmt_p(r.p_value)} (Cauchy combination of "
            f"{int(n_tests.get(key, 0))} test(s) over {int(n_per[key])} period(s), {where}); "
            f"strongest: {b_check} "
            f"in {b_period} (p = {_fmt_p(b_p)}, {b_effect:+.3g} "
            f"{b_unit})"
        )
    res["behaviours"] = beh
    res["checks"] = chk
    res["first_date"] = first
    res["last_date"] = last
    res["detail"] = detail
    res["_all"] = res["scope"] != "all"
    res = res.sort_values(["_all", "scope", "q_value", "p_value", "agent_id"],
                          ignore_index=True, kind="stable")
    return res[AGENT_COLUMNS], info
