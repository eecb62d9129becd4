"""``ccpm synth``: write a synthetic contact center with planted gaming."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register", "run"]

#: Same as ``analysis.synth.DEFAULT_GAMING`` (a test keeps them equal); repeated here so
#: that building the parser does not import pandas.
DEFAULT_GAMING = (
    "hangup=3,bunching=2,acw_padding=2,transfer_dumping=2,"
    "end_of_day_stretch=2,sandbagging=2,reciprocal=2"
)

_GAMING_HELP = """\
gaming specification: comma-separated items behaviour=count[@strength][:start-end],
e.g. 'hangup=3@0.15,bunching=2,acw_padding=2@0.5:0-30'; 'none' plants nothing (a null
world, still heterogeneous). start-end are 0-based day offsets (inclusive; default the
whole window). Behaviours (default strength): hangup (0.15, share of calls cut short by
the agent), bunching (0.8, share of calls just above --aht-target pushed just below it),
acw_padding (0.5, relative increase of after-call work), transfer_dumping (0.15, added
early-transfer probability), end_of_day_stretch (1.0, relative talk increase in the last
hour of the shift), sandbagging (0.1, own OKR targets easier than own trend), reciprocal
(1.0, even count: points partners add to each other's 360 ratings), survey_selection
(0.7, share of surveys on bad calls suppressed; not in the default). Default: {default}
(scaled down below 60 agents)."""


def register(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="write a synthetic contact center with planted gaming",
        description=(
            "Write a synthetic center (calls.parquet, roster.csv, ratings_360.csv, okr.yml, "
            "truth.csv) with known gaming agents. Same arguments, same bytes. Its ids "
            "(A0001, S01, K0000001) are made up, not personal data, so synth has no "
            "--pseudonymize; the commands run on its files have it."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_GAMING_HELP.format(default=DEFAULT_GAMING),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--agents", type=int, default=60, help="number of agents (default 60)")
    p.add_argument("--days", type=int, default=61, help="calendar days (default 61)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--gaming", default=None, metavar="SPEC", help="gaming specification (see below)"
    )
    p.add_argument("--start", default="2026-01-05", metavar="YYYY-MM-DD", help="first day")
    p.add_argument(
        "--aht-target",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="handle-time target that bunchers aim below (default 300)",
    )
    p.add_argument(
        "--stress",
        default=None,
        metavar="SPEC",
        help=(
            "real-world mess the checks do not assume: 'none' (default), 'messy' (agent-day "
            "random effects, smooth +12%% handle-time drift, short-call drift, learning "
            "curves, weekday cycle, heavy-tailed shared propensities, disguised hang-ups), "
            "or 'messy,ended_by=false' / 'weekday=1,agent_day_sd=0.3' (key=value "
            "overrides: agent_day_sd, handle_drift, short_drift, learning_short, weekday, "
            "propensity=beta|t|lognormal, hangup_disguise, ended_by, habit_tail)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run, staged="folder")  # complete or absent (analysis.outdir)


def _available_memory() -> int | None:
    """Bytes of memory this process may still take: the smaller of the system's
    available memory and the cgroup's (container's) room; None when unknown."""
    room = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    room.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
                room.append(int(limit) - int(fh.read().strip()))
    except (OSError, ValueError):
        pass
    return min(room) if room else None


#: synth refuses beyond this many estimated calls even where memory would allow it
MAX_CALLS = 200_000_000


def check_size(agents: int, days: int) -> None:
    """Refuse (ConfigError) a center too large to generate here, saying its estimated
    size, instead of being killed for lack of memory half-way."""
    from ..errors import ConfigError
    from ..synth import estimate_size

    if agents < 1 or days < 1:
        return  # generate_center words these
    calls, need = estimate_size(agents, days)
    room = _available_memory()
    if calls > MAX_CALLS or (room is not None and need > room):
        have = f"; this machine has about {room / 2**30:.1f} GB free" if room else ""
        raise ConfigError(
            f"--agents {agents} --days {days} is about {calls:,} calls and "
            f"{need / 2**30:,.1f} GB of memory{have} (limit {MAX_CALLS:,} calls): "
            "give fewer agents or days")


def run(args) -> int:
    from ..manifest import write_manifest
    from ..synth import generate_center, write_center
    from . import shown

    check_size(args.agents, args.days)
    started = time.time()
    t0 = time.perf_counter()
    center = generate_center(
        agents=args.agents,
        days=args.days,
        seed=args.seed,
        gaming=args.gaming,
        start=args.start,
        aht_target=args.aht_target,
        stress=args.stress,
        progress=not args.quiet,
    )
    paths = write_center(center, args.out, progress=not args.quiet)
    n_gaming = int(center.truth["gaming"].sum())
    write_manifest(args.out, command="synth", args=args, outputs=list(paths.values()),
                   rows={"calls": int(center.n_calls), "agents": len(center.truth),
                         "gaming_agents": n_gaming}, started=started)
    print(
        f"ccpm synth: {center.n_calls:,} calls, {len(center.truth)} agents "
        f"({n_gaming} gaming) -> {shown(args, paths['calls'].parent)} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0
