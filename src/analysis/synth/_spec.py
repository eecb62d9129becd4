"""The ``--gaming`` specification: which behaviours are planted, in how many agents."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = [
    "BEHAVIOURS",
    "GAMING_BEHAVIOURS",
    "HONEST_BEHAVIOURS",
    "DEFAULT_STRENGTH",
    "DEFAULT_GAMING",
    "GamingItem",
    "parse_gaming_spec",
    "default_gaming_spec",
]

HONEST_BEHAVIOURS = ("honest", "novice", "hard_queue")
GAMING_BEHAVIOURS = (
    "hangup",
    "bunching",
    "acw_padding",
    "transfer_dumping",
    "end_of_day_stretch",
    "sandbagging",
    "reciprocal",
    "survey_selection",
)
BEHAVIOURS = HONEST_BEHAVIOURS + GAMING_BEHAVIOURS

#: Strength used when an item gives none, and the allowed (low, high] range of each.
#: hangup: share of the agent's calls cut short; bunching: share of the calls just above
#: the target that are pushed below it; acw_padding: relative increase of after-call
#: work; transfer_dumping: added transfer probability; end_of_day_stretch: relative
#: increase of talk time in the last hour of the shift; sandbagging: how much easier
#: (relative) the agent's own OKR targets are than their trend; reciprocal: points
#: (1-5 scale) added to the ratings the two partners give each other; survey_selection
#: (not in the default mix): share of the surveys on bad calls (short or unresolved)
#: that the agent keeps from happening.
DEFAULT_STRENGTH = {
    "hangup": 0.15,
    "bunching": 0.8,
    "acw_padding": 0.5,
    "transfer_dumping": 0.15,
    "end_of_day_stretch": 1.0,
    "sandbagging": 0.1,
    "reciprocal": 1.0,
    "survey_selection": 0.7,
}
_STRENGTH_RANGE = {
    "hangup": (0.0, 1.0),
    "bunching": (0.0, 1.0),
    "acw_padding": (0.0, 10.0),
    "transfer_dumping": (0.0, 1.0),
    "end_of_day_stretch": (0.0, 10.0),
    "sandbagging": (0.0, 1.0),
    "reciprocal": (0.0, 4.0),
    "survey_selection": (0.0, 1.0),
}

#: The mix planted when ``--gaming`` is omitted (for 60 or more agents; fewer scale down).
DEFAULT_GAMING = (
    "hangup=3,bunching=2,acw_padding=2,transfer_dumping=2,"
    "end_of_day_stretch=2,sandbagging=2,reciprocal=2"
)

_ITEM = re.compile(
    r"^(?P<name>[a-z_]+)=(?P<count>\d+)"
    r"(?:@(?P<strength>[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?))?"
    r"(?::(?P<start>\d+)-(?P<end>\d+))?$"
)


@dataclass(frozen=True)
class GamingItem:
    """One planted behaviour: ``count`` agents, ``strength``, active days ``start..end``.

    ``start_day`` and ``end_day`` are 0-based day offsets, both inclusive; ``None``
    means the start / the end of the window.
    """

    behaviour: str
    count: int
    strength: float
    start_day: int | None = None
    end_day: int | None = None


def parse_gaming_spec(spec: str | None, *, days: int | None = None) -> list[GamingItem]:
    """Parse a gaming specification.

    Grammar: comma-separated items ``behaviour=count[@strength][:start-end]``, e.g.
    ``hangup=3@0.15,bunching=2,acw_padding=2@0.5:0-30``; ``none`` (or ``""`` after
    stripping is an error) plants nothing. Behaviours: ``hangup``, ``bunching``,
    ``acw_padding``, ``transfer_dumping``, ``end_of_day_stretch``, ``sandbagging``,
    ``reciprocal`` (count must be even: partners come in pairs), ``survey_selection``.
    ``start-end`` are
    0-based day offsets (inclusive) within the window of ``days`` days.

    Parameters
    ----------
    spec : str or None
        The specification; ``None`` gives :data:`DEFAULT_GAMING`.
    days : int, optional
        Length of the window, to validate ``start-end``.

    Returns
    -------
    list of GamingItem
        One item per behaviour, in the order given.

    Raises
    ------
    ConfigError
        With a one-line message naming the offending item.
    """
    if spec is None:
        spec = DEFAULT_GAMING
    text = str(spec).strip()
    if text == "":
        raise ConfigError("gaming spec is empty (use 'none' for a world without gaming)")
    if text.lower() == "none":
        return []
    items: list[GamingItem] = []
    seen: set[str] = set()
    for raw in text.split(","):
        part = raw.strip()
        m = _ITEM.match(part)
        if not m:
            raise ConfigError(
                f"gaming spec item {part!r} is not of the form behaviour=count[@strength][:start-end]"
            )
        name = m["name"]
        if name not in GAMING_BEHAVIOURS:
            raise ConfigError(
                f"gaming spec item {part!r}: unknown behaviour {name!r} "
                f"(choose from {', '.join(GAMING_BEHAVIOURS)})"
            )
        if name in seen:
            raise ConfigError(f"gaming spec names {name!r} twice")
        seen.add(name)
        count = int(m["count"])
        if name == "reciprocal" and count % 2:
            raise ConfigError(f"gaming spec item {part!r}: reciprocal needs an even count (pairs)")
        strength = float(m["strength"]) if m["strength"] is not None else DEFAULT_STRENGTH[name]
        lo, hi = _STRENGTH_RANGE[name]
        if not (lo < strength <= hi):
            raise ConfigError(
                f"gaming spec item {part!r}: strength {strength:g} outside ({lo:g}, {hi:g}]"
            )
        start = end = None
        if m["start"] is not None:
            start, end = int(m["start"]), int(m["end"])
            if start > end:
                raise ConfigError(
                    f"gaming spec item {part!r}: start day {start} after end day {end}"
                )
            if days is not None and end >= days:
                raise ConfigError(
                    f"gaming spec item {part!r}: end day {end} outside the window (days 0-{days - 1})"
                )
            if name in ("sandbagging", "reciprocal"):
                raise ConfigError(
                    f"gaming spec item {part!r}: {name} has no active days (it is not in the calls)"
                )
        items.append(GamingItem(name, count, strength, start, end))
    return items


def default_gaming_spec(agents: int) -> str:
    """The default mix, scaled down for centers with fewer than 60 agents."""
    if agents >= 60:
        return DEFAULT_GAMING
    parts = []
    for item in parse_gaming_spec(DEFAULT_GAMING):
        n = int(item.count * agents / 60)
        if item.behaviour == "reciprocal":
            n = 2 if agents >= 20 else 0
        n = max(n, 1) if agents >= 20 else n
        if n:
            parts.append(f"{item.behaviour}={n}")
    return ",".join(parts) if parts else "none"
