"""Stress worlds: what real centers have and the gaming checks' null models do not assume.

A clean synthetic center draws its agents from the same assumptions the checks
make (independent beta short-call rates per queue, days exchangeable, one
``ended_by`` code per planted hang-up). A *stressed* center adds, on top of the
clean one and without moving any of its random draws:

``agent_day_sd`` (messy 0.35)
    Agent-day random effects: each working day an agent's short-call and
    transfer log-odds and their talk-time log-multiplier get their own normal
    shock (SD ``agent_day_sd``, half that for talk). Agent-day counts are then
    over-dispersed against the binomial.
``handle_drift`` (messy 0.12)
    A center-wide smooth handle-time drift: talk and after-call work are
    multiplied by ``1 + handle_drift * r(d)``, with ``r`` a half-cosine ramp from
    0 on the first day to 1 on the last (a +12 % drift over the window,
    steepest in the middle, no step).
``short_drift`` (messy -0.25)
    A center-wide smooth drift of the short-call and transfer log-odds by
    ``log(1 + short_drift) * r(d)`` (the same ramp: -25 % odds by the end).
``learning_short`` (messy 0.8)
    New hires' learning curve in the short-call rate: log-odds
    ``+ learning_short * exp(-tenure / 30 d)`` (their talk time and resolution
    already learn in the clean world).
``weekday`` (messy 1.0)
    Amplitude of a weekday cycle: short-call log-odds ``+0.15`` on Mondays to
    ``-0.15`` on Saturdays and handle time ``+5 %`` to ``-5 %``, times ``weekday``.
``propensity`` (messy ``"t"``)
    Heavy-tailed agent propensities shared across queues: an agent's natural
    short-call log-odds in queue ``q`` is ``logit(m_q) + 0.45 z_i + 0.1 e_iq``
    with ``z_i`` Student-t (4 df, unit variance) shared by all the agent's
    queues (likewise, with its own ``z``, the transfer rate), instead of
    independent beta draws per queue. ``"lognormal"``: ``z_i`` is a centred,
    standardised lognormal (sigma 0.8; right-skewed). ``"beta"``: as clean.
``hangup_disguise`` (clean 0.4, messy 0.7)
    Share of the planted hang-ups recorded as ended by the customer (dead air,
    the caller gives up) rather than by the agent. In the real data about 30 %
    of natural short calls are agent-ended, so ``0.7`` leaves ``ended_by`` no
    more telling for hang-ups than for natural short calls.
``ended_by`` (messy True)
    ``False`` leaves the ``ended_by`` column empty (a center whose switch does
    not record who hung up); the checks then treat it as absent.
``habit_tail`` (messy 0, not in the preset)
    Heavy-tailed honest habits: every agent's after-call-work factor and
    hold-probability factor are multiplied by ``exp(habit_tail T / sqrt 3)``,
    ``T`` Student t3, one draw per agent and habit (``messy,habit_tail=0.8``: a
    few honest agents wrap up or hold several times as much as their peers;
    hold's probability stays capped at 0.9). Drawn after every other stress
    draw, so the rest of the world does not move.

The stress draws come from their own generator (seeded from the world's seed
and a fixed key), so a stressed world is the clean world of the same seed plus
the mess, and ``stress=None`` gives the clean world byte for byte.

References
----------
Brown, L. et al. (2005). Statistical analysis of a telephone call center: a
queueing-science perspective. *JASA* 100(469), 36-50 (day-to-day variation,
the spike of very short calls, agent heterogeneity).
Gans, N., Koole, G. & Mandelbaum, A. (2003). Telephone call centers: tutorial,
review, and research prospects. *M&SOM* 5(2), 79-141 (learning, drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..errors import ConfigError

__all__ = ["Stress", "STRESS_PRESETS", "parse_stress", "stress_arrays", "CLEAN_DISGUISE"]

#: Share of planted hang-ups recorded as customer-ended in a clean world.
CLEAN_DISGUISE = 0.4
#: Random-stream key of the stress generator (independent of the clean streams).
_STRESS_KEY = 0x57E55
#: Weekday shapes, Monday..Sunday (Sunday is closed).
_WD_SHORT = np.array([0.15, 0.06, 0.0, -0.03, -0.06, -0.15, 0.0])
_WD_HANDLE = np.array([0.05, 0.02, 0.0, -0.01, -0.02, -0.05, 0.0])


@dataclass(frozen=True)
class Stress:
    """Settings of a stressed world (see the module docstring); defaults are clean."""

    agent_day_sd: float = 0.0
    handle_drift: float = 0.0
    short_drift: float = 0.0
    learning_short: float = 0.0
    weekday: float = 0.0
    propensity: str = "beta"
    hangup_disguise: float = CLEAN_DISGUISE
    ended_by: bool = True
    habit_tail: float = 0.0

    @property
    def is_clean(self) -> bool:
        return self == Stress()

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


STRESS_PRESETS = {
    "none": Stress(),
    "clean": Stress(),
    "messy": Stress(agent_day_sd=0.35, handle_drift=0.12, short_drift=-0.25,
                    learning_short=0.8, weekday=1.0, propensity="t", hangup_disguise=0.7,
                    ended_by=True),
}

_RANGES = {
    "agent_day_sd": (0.0, 3.0),
    "handle_drift": (-0.9, 5.0),
    "short_drift": (-0.95, 5.0),
    "learning_short": (-5.0, 5.0),
    "weekday": (0.0, 5.0),
    "hangup_disguise": (0.0, 1.0),
    "habit_tail": (0.0, 3.0),
}


def _coerce(key: str, value) -> object:
    if key == "propensity":
        v = str(value).strip().lower()
        if v not in ("beta", "t", "lognormal"):
            raise ConfigError(f"stress propensity {value!r} is not beta, t or lognormal")
        return v
    if key == "ended_by":
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("1", "true", "yes", "on", "keep"):
            return True
        if v in ("0", "false", "no", "off", "drop"):
            return False
        raise ConfigError(f"stress ended_by {value!r} is not true/false")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"stress {key} {value!r} is not a number") from None
    lo, hi = _RANGES[key]
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ConfigError(f"stress {key} {v:g} outside [{lo:g}, {hi:g}]")
    return v


def parse_stress(stress) -> Stress:
    """A :class:`Stress` from ``None``, a preset name, a dict or a ``key=value`` list.

    Parameters
    ----------
    stress : None, str, dict or Stress
        ``None``/``"none"``: clean. ``"messy"``: every feature of the module
        docstring. A dict (or ``"messy,ended_by=false,weekday=2"``: a preset
        then ``key=value`` overrides, comma-separated) sets single features on
        top of the clean world (or of the preset named first).

    Raises
    ------
    ConfigError
        Unknown preset or key, or a value out of range (one line).
    """
    if stress is None:
        return Stress()
    if isinstance(stress, Stress):
        return stress
    base = Stress()
    items: dict = {}
    if isinstance(stress, dict):
        items = dict(stress)
        if "preset" in items:
            name = str(items.pop("preset")).strip().lower()
            if name not in STRESS_PRESETS:
                raise ConfigError(f"unknown stress preset {name!r} (none, messy)")
            base = STRESS_PRESETS[name]
    else:
        text = str(stress).strip()
        if not text:
            raise ConfigError("stress spec is empty (use 'none' or 'messy')")
        for i, part in enumerate(p.strip() for p in text.split(",")):
            if "=" not in part:
                name = part.lower()
                if i != 0 or name not in STRESS_PRESETS:
                    raise ConfigError(
                        f"stress item {part!r} is neither a preset (none, messy) first "
                        "nor key=value"
                    )
                base = STRESS_PRESETS[name]
                continue
            key, _, value = part.partition("=")
            items[key.strip()] = value.strip()
    known = {f.name for f in fields(Stress)}
    out = base.to_dict()
    for key, value in items.items():
        if key not in known:
            raise ConfigError(f"unknown stress setting {key!r} (choose from {', '.join(sorted(known))})")
        out[key] = _coerce(key, value)
    return Stress(**out)


def ramp(days: int) -> np.ndarray:
    """Half-cosine ramp from 0 (first day) to 1 (last day): smooth, no step."""
    if days <= 1:
        return np.zeros(max(days, 0))
    x = np.arange(days) / (days - 1)
    return 0.5 * (1.0 - np.cos(np.pi * x))


@dataclass
class StressArrays:
    """Per agent-day and per day effects the call generator adds (None: clean)."""

    short_ad: np.ndarray  # (days, n) log-odds shock of short-call and transfer rates
    trans_ad: np.ndarray  # (days, n)
    talk_ad: np.ndarray  # (days, n) log multiplier of talk time
    short_day: np.ndarray  # (days,) center log-odds shift (drift + weekday)
    handle_day: np.ndarray  # (days,) center multiplier of talk and acw
    learning_short: float
    hangup_disguise: float
    acw_mult: np.ndarray | None = None  # (n,) factor of each agent's after-call work
    hold_mult: np.ndarray | None = None  # (n,) factor of each agent's hold probability


def stress_arrays(st: Stress, seed: int, n: int, days: int, weekday0: int,
                  p_short: np.ndarray, p_transfer: np.ndarray, q_short: np.ndarray,
                  q_transfer: np.ndarray) -> tuple[StressArrays, np.ndarray, np.ndarray]:
    """Draw the stress effects; returns them and the (possibly replaced) agent rates."""
    rng = np.random.default_rng([int(seed), _STRESS_KEY])
    sd = st.agent_day_sd
    short_ad = sd * rng.standard_normal((days, n))
    trans_ad = sd * rng.standard_normal((days, n))
    talk_ad = 0.5 * sd * rng.standard_normal((days, n))
    r = ramp(days)
    wd = (weekday0 + np.arange(days)) % 7
    short_day = math.log1p(st.short_drift) * r + st.weekday * _WD_SHORT[wd]
    handle_day = (1.0 + st.handle_drift * r) * (1.0 + st.weekday * _WD_HANDLE[wd])
    if st.propensity != "beta":
        nq = len(q_short)

        def shared() -> np.ndarray:
            if st.propensity == "t":
                return rng.standard_t(4, n) / math.sqrt(2.0)
            s = 0.8
            x = rng.lognormal(0.0, s, n)
            m = math.exp(s * s / 2)
            return (x - m) / math.sqrt((math.exp(s * s) - 1) * m * m)

        def draw(q: np.ndarray) -> np.ndarray:
            lo = np.log(q / (1 - q))[None, :]
            z = shared()[:, None]
            return 1.0 / (1.0 + np.exp(-(lo + 0.45 * z + 0.1 * rng.standard_normal((n, nq)))))

        p_short = draw(np.asarray(q_short, float))
        p_transfer = draw(np.asarray(q_transfer, float))
    acw_mult = hold_mult = None
    if st.habit_tail:
        acw_mult = np.exp(st.habit_tail * rng.standard_t(3, n) / math.sqrt(3.0))
        hold_mult = np.exp(st.habit_tail * rng.standard_t(3, n) / math.sqrt(3.0))
    arrays = StressArrays(short_ad=short_ad, trans_ad=trans_ad, talk_ad=talk_ad,
                          short_day=short_day, handle_day=handle_day,
                          learning_short=st.learning_short,
                          hangup_disguise=st.hangup_disguise,
                          acw_mult=acw_mult, hold_mult=hold_mult)
    return arrays, p_short, p_transfer
