"""Detection power on the center's own calls: would the gaming checks find a gamer here?

"No agent is flagged" means little unless the checks could have found one in *these*
calls: with few agents, few days, heavy-tailed honest habits or no ``ended_by`` they find
fewer (``benchmarks/results/outside_worlds.md``: hang-ups 0.77 of planted agents on
61-day centers of 120 agents, 0.22 on 20-day ones). So the behaviours are planted into a
few of the center's own unflagged agents, in their own calls, from the middle of the
window on (an agent who takes up a behaviour, as after a new target), and the whole
battery is run again with the same options: the share of planted agents it flags is the
center's detection rate for that behaviour at that dose, measured on its own mess rather
than on a simulator's.

Doses (:data:`DOSES`, "moderate", the middle of the outside worlds' ranges): hang-ups on
7 % of answered calls (3-15 s talk, ended by the agent, unresolved; 70 % of the customers
call back 15 minutes later, to another agent of the queue); as many answered calls dumped
by transfer (after 20-80 s) as the center transfers in all, a typical agent's transfers
doubled (a fixed share would be a flood where nobody transfers and nothing where a third of
the calls are: on the outside worlds a fixed 5 % was measured at 0.21 where the generator's
doubling dumpers were found at 0.67); after-call work +45 %; hold time +70 % on the calls
put on hold; the last hour's talk +40 %; and 10 % of handled calls pushed from just above
the handle-time target to just below it (the ``aht_target`` option, or the center's median
handle time rounded to 10 s). What is planted is
:func:`analysis.counterfactual.plant_behaviour`'s.

Does the number mean anything? On the outside worlds (``benchmarks/bench_detection_power.py``,
``benchmarks/results/detection_power.md``) the rate measured by planting follows the recall
of that generator's own mid-window gamers: hang-ups 1.00 against 0.78 (61 days) and 0.04
against 0.10 (20 days), hold padding 0.50 against 0.50, transfer dumping 0.58 against 0.67.

Read with care: a rate from six agents is coarse (each is a sixth); the planted agents are
average agents of the center (calls in both halves of the window, not the quietest
quarter), so a part-timer or an agent with an extreme honest habit is harder to find; the
checks' decision across agents moves a little because the planted agents join it (they
are usually found or not on their own evidence). Behaviours the data cannot carry are not
planted (no wrap-up or hold times; no transfer recorded anywhere in the source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .counterfactual import BEHAVIOURS, PHANTOM, plant_behaviour
from .workcopy import raw_tempdir

__all__ = ["DOSES", "DetectionPower", "detection_power"]

#: behaviour -> dose planted (see the module docstring).
#: ``transfer_dumping`` None: the center's own share of handled calls transferred.
DOSES = {"hangups": 0.07, "transfer_dumping": None, "acw_padding": 0.45, "hold_padding": 0.7,
         "end_of_day_stretch": 0.40, "bunching": 0.10}
#: Share of hung-up customers who call back, and after how many minutes.
CALLBACK_SHARE, CALLBACK_MIN = 0.7, 15.0

POWER_COLUMNS = ["behaviour", "dose", "what", "planted", "found", "named", "rate"]


@dataclass
class DetectionPower:
    """Result of :func:`detection_power`.

    ``table``: one row per behaviour (:data:`POWER_COLUMNS`): agents ``planted``, how many
    of them the rerun flags (``found``) and flags for that behaviour (``named``), and
    ``rate`` = found / planted. ``start``: the first day planted into; ``per``: agents per
    behaviour in each round. ``others``: agents not planted into whose flag changed in a
    rerun (counted once per rerun). ``notes``: behaviours not planted and why, in words;
    ``not_planted``: behaviour -> why.
    """

    table: pd.DataFrame
    start: str = ""
    per: int = 0
    others: int = 0
    notes: list[str] = field(default_factory=list)
    not_planted: dict[str, str] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Plain sentences for summary.txt."""
        if self.table.empty:
            return ["Detection power: not measured (" + "; ".join(self.notes) + ")"]
        lines = [f"Detection power on these calls (behaviours planted into unflagged agents "
                 f"from {self.start} on, the checks rerun with the same options):"]
        for r in self.table.itertuples(index=False):
            lines.append(f"  {r.what}: {r.found} of {r.planted} agents flagged"
                         + (f" ({r.named} for it)" if r.named != r.found else ""))
        lines += [f"  not planted: {n}" for n in self.notes]
        if self.others:
            lines.append(f"  {self.others} time(s) an agent not planted into changed flag in a "
                         "rerun")
        return lines


def _what(behaviour: str, dose: float) -> str:
    return BEHAVIOURS[behaviour].format(dose=dose)


def _facts(path) -> dict:
    """What the calls can carry, the window's middle day and per-agent call counts."""
    from .panel import calls_view

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        calls_view(con, path, "calls")
        cols = {r[0] for r in con.execute("DESCRIBE calls").fetchall()}
        hold = "coalesce(hold_s, 0)" if "hold_s" in cols else "0"
        acw = "coalesce(acw_s, 0)" if "acw_s" in cols else "0"
        handled = "outcome IN ('answered', 'transferred')"
        # one scan for what the calls carry and the window
        n_acw, n_held, n_x, n_h, lo, hi, med = con.execute(f"""SELECT
                count(*) FILTER (WHERE {acw} > 0), count(*) FILTER (WHERE {hold} > 0),
                count(*) FILTER (WHERE outcome = 'transferred'), count(*) FILTER (WHERE {handled}),
                min(answer_ts), max(answer_ts),
                median(talk_s + {hold} + {acw}) FILTER (WHERE {handled})
            FROM calls""").fetchone()
        counts = con.execute("""SELECT CAST(agent_id AS VARCHAR) AS agent_id,
                   count(*) FILTER (WHERE answer_ts < ?) AS before,
                   count(*) FILTER (WHERE answer_ts >= ?) AS after
            FROM calls WHERE agent_id IS NOT NULL AND outcome IN ('answered', 'transferred')
            GROUP BY ALL ORDER BY agent_id""", [_mid(lo, hi)] * 2).df()
    finally:
        con.close()
    return dict(acw=bool(n_acw), held=bool(n_held), xfer=bool(n_x),
                xfer_share=n_x / n_h if n_h else 0.0, lo=lo, hi=hi, median_handle=med,
                counts=counts)


def _mid(lo, hi) -> pd.Timestamp:
    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
    return (lo + (hi - lo) / 2).normalize()


def detection_power(calls, report, *, options: dict | None = None, per_behaviour: int = 2,
                    rounds: int = 3, doses: dict | None = None, seed: int = 0,
                    progress=None, run_kwargs: dict | None = None) -> DetectionPower:
    """Plant each behaviour into unflagged agents and rerun the checks, ``rounds`` times.

    Parameters
    ----------
    calls : str or Path
        Contract-shaped calls (Parquet), the ones ``report`` was computed from.
    report : analysis.gaming.GamingReport
        The real run: its flagged agents are not planted into.
    options : dict
        The run's options (the reruns use the same).
    per_behaviour, rounds : int
        Agents per behaviour in each round (each behaviour its own agents, all planted at
        once: a floor where a few agents game, not half of it), and rounds, each with
        other agents where the center has enough (``rounds x per_behaviour`` per
        behaviour in all).
    doses : dict, optional
        behaviour -> dose (default :data:`DOSES`).
    seed : int
        Which agents and which calls.
    progress : callable, optional
        Called with a line of text before each round.
    run_kwargs : dict
        More arguments for :func:`analysis.gaming.run_checks` (ratings, roster, engine...).

    Returns
    -------
    DetectionPower
    """
    from .gaming import run_checks

    options = dict(options or {})
    facts = _facts(calls)
    doses = {**DOSES, **(doses or {})}
    if doses["transfer_dumping"] is None:  # a typical agent's transfers, doubled
        doses["transfer_dumping"] = round(min(max(facts["xfer_share"], 0.01), 0.5), 3)
    skipped = {}
    if not facts["acw"]:
        skipped["acw_padding"] = "no after-call work recorded"
    if not facts["held"]:
        skipped["hold_padding"] = "no hold time recorded"
    if not facts["xfer"]:
        skipped["transfer_dumping"] = "the source records no transfer"
    behaviours = [b for b in DOSES if b not in skipped]
    notes = [f"{b} ({why})" for b, why in skipped.items()]
    empty = pd.DataFrame(columns=POWER_COLUMNS)
    if facts["lo"] is None:
        return DetectionPower(empty, notes=["no answered call"], not_planted=skipped)
    start = _mid(facts["lo"], facts["hi"])
    ag = report.agents
    old = ag[ag["scope"] == "all"].set_index("agent_id")["flagged"].astype(bool)
    c = facts["counts"]
    c = c[~c["agent_id"].isin(set(old.index[old])) & (c["agent_id"] != PHANTOM)]
    # agents with calls in both halves (not the quietest quarter of either): a part-timer
    # is harder to find, and not who the rate is about
    c = c[(c["before"] >= c["before"].quantile(0.25)) & (c["after"] >= c["after"].quantile(0.25))]
    # at most half of them gaming in any round
    per = min(int(per_behaviour), len(c) // (2 * max(len(behaviours), 1)))
    if per < 1 or not behaviours:
        why = "too few unflagged agents with calls in both halves of the window"
        return DetectionPower(empty, start=str(start.date()),
                              notes=[*notes, why] if behaviours else notes,
                              not_planted=skipped)
    target = options.get("aht_target") or float(np.round(float(facts["median_handle"]), -1))
    rng = np.random.default_rng(seed)
    pool: list[str] = []
    tally = {b: [0, 0, 0] for b in behaviours}  # planted, found, named
    others = 0
    for r in range(max(int(rounds), 1)):
        need = per * len(behaviours)
        if len(pool) < need:  # a fresh order of the agents not yet used, then reuse
            pool += [a for a in rng.permutation(sorted(c["agent_id"])).tolist()
                     if a not in pool[-need:]]
        drawn, pool = pool[:need], pool[need:]
        assign = {b: sorted(drawn[i * per:(i + 1) * per]) for i, b in enumerate(behaviours)}
        if progress:
            progress(f"detection power: round {r + 1} of {rounds}, planting "
                     f"{', '.join(behaviours)} into {per} agent(s) each from {start.date()}")
        with raw_tempdir("power") as tmp:
            path = plant_behaviour(calls, {a: b for b in behaviours for a in assign[b]},
                                   out=Path(tmp) / "planted.parquet", dose=doses,
                                   aht_target=float(target), seed=seed + r, whole=True,
                                   start=start, callback_share=CALLBACK_SHARE,
                                   callback_min=CALLBACK_MIN, callbacks_to="peers")
            rerun = run_checks(str(path), options=options, **(run_kwargs or {}))
        new = rerun.agents[rerun.agents["scope"] == "all"].set_index("agent_id")
        for b in behaviours:
            got = new.reindex(assign[b])
            found = got["flagged"].fillna(False).astype(bool)
            named = found & got["behaviours"].fillna("").astype(str).str.split(";").map(
                lambda v, b=b: b in v)
            tally[b][0] += len(assign[b])
            tally[b][1] += int(found.sum())
            tally[b][2] += int(named.sum())
        both = old.index.intersection(new.index).difference(drawn)
        others += int((old.reindex(both) != new["flagged"].reindex(both).astype(bool)).sum())
    rows = [dict(behaviour=b, dose=doses[b], what=_what(b, doses[b]), planted=n, found=f,
                 named=k, rate=f / n) for b, (n, f, k) in tally.items()]
    return DetectionPower(pd.DataFrame(rows, columns=POWER_COLUMNS), start=str(start.date()),
                          per=per, others=others, notes=notes, not_planted=skipped)
