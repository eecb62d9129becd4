"""``ccpm batch SCHEDULE.yml``: many reports (centers x periods x languages) in parallel."""

from __future__ import annotations

import argparse
import sys

from . import at_least

__all__ = ["register", "run"]


def register(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="run the reports of a schedule (YAML) in parallel, skipping unchanged ones",
        description="Build every report a schedule lists, in worker processes. A job whose "
        "inputs and parameters have not changed since its last complete build is skipped. "
        "One failing job does not stop the others, but makes the exit code 1.",
    )
    p.add_argument("schedule", help="schedule file (see reports/config/schedule.example.yml)")
    p.add_argument("--workers", type=at_least(1), default=2,
                   help="parallel worker processes (2)")
    p.add_argument("--force", action="store_true", help="rebuild even unchanged outputs")
    p.add_argument("--dry-run", action="store_true",
                   help="list the jobs and whether each is current; build nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import is_current, load_schedule, run_batch

    jobs = load_schedule(args.schedule)
    if args.dry_run:
        for job in jobs:
            state = "current" if is_current(job) and not args.force else "to build"
            print(f"{job.name}\t{state}\t{job.out}")
        return 0
    res = run_batch(jobs, workers=max(1, args.workers), force=args.force,
                    progress=not args.no_progress)
    for r in res.itertuples():
        line = f"{r.status:8s} {r.name}  {r.out}  ({r.seconds:.1f} s)"
        if r.status == "failed":
            line += f"\n         error: {r.error}\n         log: {r.log or '-'}"
        print(line)
    n_fail = int((res["status"] == "failed").sum())
    counts = res["status"].value_counts().to_dict()
    print("ccpm batch: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    return 1 if n_fail else 0
