"""A synthetic contact center with planted gaming, for tests, benchmarks and the sample report.

:func:`generate_center` draws a center that looks like a real one: four queues with
their own service-time distributions (lognormal talk, hold on some calls, after-call
work), a weekly and daily arrival pattern within opening hours (Mon-Sat 07:00-21:00),
early / day / late shifts (an agent answers calls only within their shift), agents
who differ in speed, resolution and habits and who learn with tenure (novices get
faster and resolve more over the weeks), abandons that rise with waiting, natural
transfers, repeat callers (unresolved calls are followed by a call from the same
customer within 72 h with some probability), satisfaction surveys on 15 % of
handled calls (half that after very short calls), QA scores on 2 %, rare complaints,
a roster with a few leavers, a 360-degree rating round each calendar month (self,
supervisor, 3-6 peers, 3-5 customers; rater leniency, halo, inflated self-ratings)
and an ``okr.yml``. Honest agents' natural short-call and transfer rates are
beta-distributed around a queue mean (and their after-call work, hold and
disconnecting habits differ too), so gaming checks must be calibrated against real
between-agent heterogeneity. Agents whose truth is ``novice`` (hired around the start)
or ``hard_queue`` (primary queue tech_support) are honest agents who merely differ.

Gaming specification (``gaming=``, ``ccpm synth --gaming``): comma-separated items
``behaviour=count[@strength][:start-end]``, e.g.
``hangup=3@0.15,bunching=2,acw_padding=2@0.5:0-30``; ``none`` plants nothing (a
null world that is still heterogeneous); omitted, :data:`DEFAULT_GAMING` (scaled down
below 60 agents). ``start-end`` are 0-based day offsets, inclusive. Behaviours and
what ``strength`` means:

- ``hangup`` (0.15): that share of the agent's calls is cut short by the agent (talk
  3-15 s, not resolved, more complaints, low csat); 60 % of them are recorded as
  ended by the agent, 40 % as ended by the customer (dead air: about 30 % of natural
  short calls are agent-ended, so ``ended_by`` is a hint, not a label); the customer
  calls back within hours (p 0.85, mean delay 1.5 h).
- ``bunching`` (0.8): that share of the calls whose handle time lands within 60 s
  above ``aht_target`` is compressed to 1-15 s below it (and resolves less).
- ``acw_padding`` (0.5): after-call work multiplied by ``1 + strength``.
- ``transfer_dumping`` (0.15): that share of the agent's calls (other than natural
  short calls) is transferred out early (talk 20-80 s), on top of natural transfers.
- ``end_of_day_stretch`` (1.0): talk time multiplied by ``1 + strength`` for calls
  answered in the last hour of the shift (so fewer calls are taken).
- ``sandbagging`` (0.1): the agent's own OKR targets in ``okr.yml`` are easier than
  their own trend by that relative amount.
- ``reciprocal`` (1.0; even count): partners in the same team add that many points
  to the 360 ratings they give each other.
- ``survey_selection`` (0.7; not in the default mix): that share of the post-call
  surveys on the agent's bad calls (short or unresolved) never happens.

Stress worlds (``stress=``, ``ccpm synth --stress messy``) add what real centers
have and the checks' null models do not assume: agent-day random effects, a smooth
center-wide handle-time and short-call drift, new hires' learning curves, a weekday
cycle, heavy-tailed agent propensities shared across queues, hang-ups mostly
recorded as customer-ended, optionally no ``ended_by`` (see
:mod:`analysis.synth._stress`).

Examples
--------
>>> from analysis.synth import generate_center, write_center
>>> center = generate_center(agents=20, days=10, seed=1, gaming="hangup=2")
>>> sorted(center.truth.behaviour.unique())[:2]  # doctest: +SKIP
['hangup', 'hard_queue']
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..contract import CALL_ID_UNIQUE_META, CALL_SCHEMA, ENDED_BY, OUTCOMES
from ..errors import ConfigError
from ._calls import KIND_NAMES, CallArrays, generate_calls
from ._people import make_okr, make_ratings, make_roster, make_truth, okr_to_yaml
from ._spec import (
    BEHAVIOURS,
    DEFAULT_GAMING,
    DEFAULT_STRENGTH,
    GAMING_BEHAVIOURS,
    GamingItem,
    default_gaming_spec,
    parse_gaming_spec,
)
from ._stress import STRESS_PRESETS, Stress, parse_stress, stress_arrays
from ._world import Q_SHORT, Q_TRANSFER, QUEUE_NAMES, make_agents, staffing_plan

__all__ = [
    "SynthCenter",
    "generate_center",
    "estimate_size",
    "write_center",
    "sample_center",
    "parse_gaming_spec",
    "GamingItem",
    "BEHAVIOURS",
    "GAMING_BEHAVIOURS",
    "DEFAULT_GAMING",
    "DEFAULT_STRENGTH",
    "QUEUE_NAMES",
    "KIND_NAMES",
    "calls_table",
    "Stress",
    "STRESS_PRESETS",
    "parse_stress",
]

DEFAULT_START = "2026-01-05"
DEFAULT_AHT_TARGET = 300.0
_BATCH = 1_000_000
# Output order of outcome / ended_by codes in _calls.
_OUTCOME_NAMES = pa.array(["answered", "abandoned", "transferred"])
_ENDED_NAMES = pa.array(["agent", "customer", "system"])
assert set(_OUTCOME_NAMES.to_pylist()) == set(OUTCOMES)
assert set(_ENDED_NAMES.to_pylist()) == set(ENDED_BY)


@dataclass
class SynthCenter:
    """A generated center.

    Attributes
    ----------
    calls : DataFrame
        Contract columns (``CALL_SCHEMA``), one row per offered call, by arrival time
        (built on first access; :func:`write_center` streams it instead).
    roster : DataFrame
        agent_id, team, supervisor_id, hire_date, termination_date, shift, site.
    ratings : DataFrame
        period, ratee_id, rater_id, rater_group, competency, score.
    okr : dict
        Objectives with key results, and per-agent targets under ``agents``.
    truth : DataFrame
        agent_id, behaviour, gaming, strength, start_day, end_day.
    partners : dict
        Reciprocal partner of each ``reciprocal`` agent (agent_id -> agent_id).
    call_kind : ndarray of str
        Internal label of each call (normal, short, hangup, dumped, transfer, bunched,
        stretched, abandoned), aligned with ``calls``: for tests and benchmarks only.
    """

    arrays: CallArrays
    roster: pd.DataFrame
    ratings: pd.DataFrame
    okr: dict
    truth: pd.DataFrame
    agent_ids: list[str]
    start: dt.date
    days: int
    seed: int
    aht_target: float
    gaming: str
    partners: dict[str, str] = field(default_factory=dict)
    stress: Stress = field(default_factory=Stress)
    _calls: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def n_calls(self) -> int:
        return len(self.arrays)

    @property
    def calls(self) -> pd.DataFrame:
        if self._calls is None:
            self._calls = calls_table(self).to_pandas(
                types_mapper={pa.bool_(): pd.BooleanDtype()}.get
            )
        return self._calls

    @property
    def call_kind(self) -> np.ndarray:
        return np.asarray(KIND_NAMES, dtype=object)[self.arrays.kind]

    def iter_batches(self, size: int = _BATCH):
        """Arrow tables of up to ``size`` calls each (``CALL_SCHEMA``), in order."""
        for lo in range(0, max(self.n_calls, 1), size):
            yield calls_table(self, lo, min(lo + size, self.n_calls))


def calls_table(center: SynthCenter, lo: int = 0, hi: int | None = None) -> pa.Table:
    """Calls ``lo:hi`` of a center as an Arrow table with exactly ``CALL_SCHEMA``."""
    c = center.arrays
    hi = len(c) if hi is None else hi
    sl = slice(lo, hi)
    n_total = len(c)
    width = max(7, len(str(max(n_total - 1, 0))))
    ids = pc.cast(pa.array(np.arange(lo, hi, dtype=np.int64)), pa.string())
    call_id = pc.binary_join_element_wise("C", pc.utf8_lpad(ids, width, "0"), "")
    epoch = np.datetime64(center.start.isoformat(), "us").astype(np.int64)
    arrival = c.arrival[sl].astype(np.int64)
    handled = c.agent[sl] >= 0
    arr_us = epoch + arrival * 1_000_000
    ans_us = epoch + (arrival + c.wait[sl]) * 1_000_000
    agent_names = pa.array(center.agent_ids, pa.string())
    agent = pa.array(c.agent[sl], mask=~handled)
    cust_w = max(7, len(str(max(2 * n_total, 1000))))
    cust = pc.binary_join_element_wise(
        "K", pc.utf8_lpad(pc.cast(pa.array(c.customer[sl]), pa.string()), cust_w, "0"), ""
    )

    def dur(x: np.ndarray) -> pa.Array:
        return pa.array(x.astype(np.float64), mask=x < 0)

    csat = c.csat[sl]
    qa = c.qa[sl]
    res = c.resolved[sl]
    cols = {
        "call_id": call_id,
        "queue": pc.take(pa.array(QUEUE_NAMES, pa.string()), pa.array(c.queue[sl])),
        "arrival_ts": pa.array(arr_us, pa.timestamp("us")),
        "outcome": pc.take(_OUTCOME_NAMES, pa.array(c.outcome[sl])),
        "agent_id": pc.take(agent_names, agent),
        "answer_ts": pa.array(ans_us, pa.timestamp("us"), mask=~handled),
        "talk_s": dur(c.talk[sl]),
        "hold_s": dur(c.hold[sl]),
        "acw_s": dur(c.acw[sl]),
        "customer_id": cust,
        "ended_by": (pc.take(_ENDED_NAMES, pa.array(c.ended_by[sl])) if center.stress.ended_by
                     else pa.nulls(hi - lo, pa.string())),
        "resolved": pa.array(res == 1, mask=res < 0),
        "csat": pa.array(csat.astype(np.float64), mask=csat == 0),
        "qa_score": pa.array(qa.astype(np.float64), mask=qa < 0),
        "complaint": pa.array(c.complaint[sl]),
    }
    return pa.table([cols[f.name].cast(f.type) for f in CALL_SCHEMA], schema=CALL_SCHEMA)


#: calls per agent and calendar day in the synthetic world (Sundays closed included), and
#: the memory a call takes while the center is generated: for :func:`estimate_size`
CALLS_PER_AGENT_DAY = 45
BYTES_PER_CALL = 300


def estimate_size(agents: int, days: int) -> tuple[int, int]:
    """``(calls, bytes of memory)`` :func:`generate_center` will roughly need."""
    calls = int(agents) * int(days) * CALLS_PER_AGENT_DAY
    return calls, calls * BYTES_PER_CALL + 200 * 2**20


def _parse_start(start: str | dt.date) -> dt.date:
    if isinstance(start, dt.date):
        return start
    try:
        return dt.date.fromisoformat(str(start))
    except ValueError:
        raise ConfigError(f"start date {start!r} is not YYYY-MM-DD") from None


def generate_center(
    agents: int = 60,
    days: int = 61,
    seed: int = 7,
    gaming: str | None = None,
    start: str | dt.date = DEFAULT_START,
    aht_target: float = DEFAULT_AHT_TARGET,
    *,
    short_kappa: float = 60.0,
    novice_share: float = 0.15,
    stress=None,
    progress: bool = False,
) -> SynthCenter:
    """Generate a synthetic contact center with planted gaming.

    Parameters
    ----------
    agents : int
        Number of agents (at least 4).
    days : int
        Length of the window in calendar days (Sundays are closed).
    seed : int
        Random seed; the same arguments give the same center, byte for byte.
    gaming : str, optional
        Gaming specification (see the module docstring); ``None``: the default mix.
    start : str or date
        First day of the window (``YYYY-MM-DD``).
    aht_target : float
        Handle-time target in seconds, the threshold bunchers aim below.
    short_kappa : float
        Concentration of the beta distribution of honest agents' natural short-call
        rates around the queue mean (smaller: more heterogeneous agents). The
        between-agent variance of the rate is ``m (1 - m) / (short_kappa + 1)``.
    novice_share : float
        Share of agents hired around the start of the window.
    stress : None, str, dict or Stress
        Real-world mess the checks' null models do not assume (see
        :mod:`analysis.synth._stress`): ``None`` a clean world, ``"messy"``
        agent-day random effects, a smooth +12 % handle-time drift, a smooth
        short-call drift, new hires' learning curve in the short-call rate, a
        weekday cycle, heavy-tailed agent propensities shared across queues and
        hang-ups mostly recorded as customer-ended; a dict or
        ``"messy,ended_by=false"`` sets single features (``ended_by=false``
        leaves the column empty; ``habit_tail=0.8`` gives honest after-call
        work and hold habits a Student-t3 tail). The clean world of the same seed is kept
        underneath: stress draws come from their own generator.
    progress : bool
        Print a line per step to stderr.

    Returns
    -------
    SynthCenter
        ``calls``, ``roster``, ``ratings``, ``okr``, ``truth`` (see :class:`SynthCenter`).

    Raises
    ------
    ConfigError
        On an invalid argument or gaming specification.
    """
    if not isinstance(agents, int | np.integer) or agents < 4:
        raise ConfigError(f"agents must be an integer >= 4, got {agents!r}")
    if not isinstance(days, int | np.integer) or days < 1:
        raise ConfigError(f"days must be an integer >= 1, got {days!r}")
    if not (np.isfinite(aht_target) and aht_target > 60):
        raise ConfigError(f"aht-target must be a number of seconds > 60, got {aht_target!r}")
    if not (short_kappa > 0):
        raise ConfigError(f"short_kappa must be > 0, got {short_kappa!r}")
    if not (0 <= novice_share < 1):
        raise ConfigError(f"novice_share must be in [0, 1), got {novice_share!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    start_d = _parse_start(start)
    try:
        start_d + dt.timedelta(days=int(days) + 7)  # the last day, and the week after it
    except OverflowError:
        raise ConfigError(f"start {start_d.isoformat()} + {days} days runs past the last "
                          "date there is (9999-12-31): give an earlier --start") from None
    st = parse_stress(stress)
    spec = default_gaming_spec(int(agents)) if gaming is None else gaming
    items = parse_gaming_spec(spec, days=int(days))
    n_gaming = sum(i.count for i in items)
    if n_gaming > agents:
        raise ConfigError(f"gaming spec plants {n_gaming} agents but the center has {agents}")
    if any(i.behaviour == "reciprocal" and i.count for i in items) and agents < 4:
        raise ConfigError("reciprocal pairs need at least 4 agents")

    def say(msg: str) -> None:
        if progress:
            print(f"ccpm synth: {msg}", file=sys.stderr, flush=True)

    ss = np.random.SeedSequence(int(seed))
    r_agents, r_staff, r_time, r_attr, r_link, r_rate = (
        np.random.default_rng(s) for s in ss.spawn(6)
    )
    ag = make_agents(
        r_agents, int(agents), int(days), items, short_kappa=short_kappa, novice_share=novice_share
    )
    works, occ = staffing_plan(r_staff, ag, int(days), start_d.weekday())
    st_arrays = None
    if not st.is_clean:
        st_arrays, ag.p_short, ag.p_transfer = stress_arrays(
            st, int(seed), ag.n, int(days), start_d.weekday(), ag.p_short, ag.p_transfer,
            Q_SHORT, Q_TRANSFER,
        )
        if st_arrays.acw_mult is not None:
            ag.acw_f = ag.acw_f * st_arrays.acw_mult
            ag.hold_f = ag.hold_f * st_arrays.hold_mult
    say(f"{int(works.sum()):,} agent-days; generating calls")

    def prog(done: int, total: int) -> None:
        say(f"  agent-days {done:,}/{total:,}")

    calls = generate_calls(
        r_time, r_attr, r_link, ag, works, occ, aht_target=float(aht_target),
        progress=prog if progress else None, stress=st_arrays,
        hangup_disguise=st.hangup_disguise,
    )  # fmt: skip
    say(f"{len(calls):,} calls; roster, ratings, OKRs")
    center = SynthCenter(
        arrays=calls,
        roster=make_roster(ag, start_d),
        ratings=make_ratings(r_rate, ag, start_d, int(days)),
        okr=make_okr(calls, ag, start_d, int(days)),
        truth=make_truth(ag),
        agent_ids=list(ag.ids),
        start=start_d,
        days=int(days),
        seed=int(seed),
        aht_target=float(aht_target),
        gaming=spec,
        partners={ag.ids[i]: ag.ids[p] for i, p in enumerate(ag.partner) if p >= 0},
        stress=st,
    )
    return center


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n", float_format="%.6g")


def write_center(
    center: SynthCenter, out_dir: str | os.PathLike, *, progress: bool = False
) -> dict:
    """Write ``calls.parquet``, ``roster.csv``, ``ratings_360.csv``, ``okr.yml``, ``truth.csv``.

    Calls are streamed in batches of a million rows (``pyarrow.parquet.ParquetWriter``),
    so memory stays modest for ten million calls. Same center, same bytes.

    Returns
    -------
    dict
        ``{"calls", "roster", "ratings", "okr", "truth"}`` -> :class:`pathlib.Path`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "calls": out / "calls.parquet",
        "roster": out / "roster.csv",
        "ratings": out / "ratings_360.csv",
        "okr": out / "okr.yml",
        "truth": out / "truth.csv",
    }
    tmp = paths["calls"].with_suffix(".parquet.tmp")
    # call ids are unique by construction (the panel need not recount them)
    schema = CALL_SCHEMA.with_metadata({CALL_ID_UNIQUE_META: b"true"})
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for i, batch in enumerate(center.iter_batches()):
            writer.write_table(batch, row_group_size=_BATCH)
            if progress:
                done = min((i + 1) * _BATCH, center.n_calls)
                print(f"ccpm synth: wrote {done:,}/{center.n_calls:,} calls", file=sys.stderr)
    tmp.replace(paths["calls"])
    _write_csv(center.roster, paths["roster"])
    _write_csv(center.ratings, paths["ratings"])
    paths["okr"].write_text(okr_to_yaml(center.okr), encoding="utf-8")
    _write_csv(center.truth, paths["truth"])
    return paths


#: file of each input of a center written by :func:`write_center`
CENTER_FILES = {"calls": "calls.parquet", "roster": "roster.csv", "ratings": "ratings_360.csv",
                "okr": "okr.yml", "truth": "truth.csv"}


def sample_center(out_dir: str | os.PathLike | None = None, *, progress: bool = False) -> dict:
    """The sample center's files, written first when any is missing.

    The sample is the center ``make report`` and the research notebooks use by default:
    :func:`generate_center` with its defaults (60 agents, 61 days, seed 7, the default
    gaming mix), the same as ``ccpm synth --out data/sample``.

    Parameters
    ----------
    out_dir : path, optional
        Folder of the sample (default :data:`analysis.config.SAMPLE_DIR`, ``data/sample/``
        of the checkout, whatever the working directory).

    Returns
    -------
    dict
        ``{"calls", "roster", "ratings", "okr", "truth"}`` -> :class:`pathlib.Path`, as
        :func:`write_center`.
    """
    from ..config import SAMPLE_DIR

    out = Path(out_dir) if out_dir is not None else SAMPLE_DIR
    paths = {k: out / name for k, name in CENTER_FILES.items()}
    if all(p.is_file() for p in paths.values()):
        return paths
    return write_center(generate_center(), out, progress=progress)
