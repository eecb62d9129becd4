"""Run every registered gaming check, decide per agent, report.

:func:`run_checks` builds the DuckDB context (view ``calls`` over the valid
rows), runs the checks of :data:`~analysis.gaming.CHECKS` and puts every agent x
check (x period) test into one table (the *evidence*, ``gaming_flags.csv``, with
Benjamini-Hochberg q-values across all tests for reference). The *decision* is
made per agent (:mod:`._agents`): each agent's p-values are combined by the
Cauchy combination test (ACAT) per period and over all periods, and the FDR is
controlled across agents (``gaming_agents.csv``). For flagged agents whose
evidence includes a short-call check it adds the change point of that agent's
daily short-call rate (when the behaviour started or stopped).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CcpmError, ConfigError
from ..escape import safe_csv
from ._agents import AGENT_COLUMNS, BEHAVIOUR_OF, SIGNATURE_OF, agent_table, date_agents
from ._base import CENTER_LEVEL_CHECKS, CHECKS, FLAG_COLUMNS, CheckResult, GamingContext, dialect_of
from ._context import build_context, opt
from ._fdr import bh_qvalues
from ._sigutil import fold_note, period_folds

__all__ = ["run_checks", "GamingReport", "REPORT_FLAG_COLUMNS", "CHANGEPOINT_COLUMNS",
           "AGENT_COLUMNS"]

#: Columns of ``gaming_flags.csv`` / :attr:`GamingReport.flags`.
REPORT_FLAG_COLUMNS = [
    "level", "agent_id", "period", "check", "effect", "effect_unit", "p_value", "q_value", "flagged",
    "n", "k", "detail",
]
#: Columns of ``changepoints.csv`` / :attr:`GamingReport.changepoints` (interface B;
#: see :data:`analysis.gaming.changepoints.CHANGEPOINT_COLUMNS`).
CHANGEPOINT_COLUMNS = ["level", "agent_id", "metric", "date", "date_lo", "date_hi", "before",
                       "after", "p_value", "source"]


def _p(p: float) -> str:
    return f"{p:.2g}" if np.isfinite(p) else "n/a"


def _discover(errors: dict[str, str]) -> None:
    """Import every check module; a module that fails to import is reported, not fatal."""
    if getattr(CHECKS, "_loaded", True):
        return
    pkg = importlib.import_module("analysis.gaming")
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"analysis.gaming.{info.name}")
        except Exception as exc:  # another module may be half-written
            errors[f"module {info.name}"] = f"import failed: {type(exc).__name__}: {exc}"
    CHECKS._loaded = True


@dataclass
class GamingReport:
    """Result of :func:`run_checks`.

    Attributes
    ----------
    flags : DataFrame
        The evidence: one row per agent x check (x period) test, columns
        :data:`REPORT_FLAG_COLUMNS`: ``effect`` in ``effect_unit`` (a size a
        manager reads), ``p_value``, ``q_value`` (agent rows: Benjamini-Hochberg
        across all rows with a p-value, a per-test reference, *not* the decision;
        center rows: Benjamini-Hochberg among the center-level rows, their decision),
        ``flagged`` (agent rows: the agent is flagged at the agent level and
        this test carries its evidence, i.e. it is the agent's strongest test or has
        ``p_value < alpha`` and is evidence of a behaviour named in ``agents.behaviours``;
        center rows: ``q_value < alpha`` among the
        center-level tests), the counts ``n``, ``k`` and a ``detail`` sentence.
        Sorted by q-value.
    agents : DataFrame
        The decision: :data:`AGENT_COLUMNS` (interface A), one row per agent x
        scope (``all`` and each period); ``flagged`` of scope ``all`` decides.
    agent_fdr : dict
        ``{"method": "BH"|"BY", "alpha", "n_agents", "combination": "ACAT"}``.
    changepoints : DataFrame
        :data:`CHANGEPOINT_COLUMNS`; ``level`` is ``center`` or ``agent``
        (``agent_id`` empty for center rows), ``date_lo``/``date_hi`` a 90 %
        interval for the date, ``source`` the check (or ``agent_steps`` for
        flagged agents' short-call rate). Only significant steps are listed.
    skipped : dict
        check -> reason it did not run (missing column, input, or an error).
    ran : list
        Checks that ran.
    notes : dict
        check -> notes (settings, counts not tested).
    info : dict
        Input rows, excluded rows by reason, options, seconds per check.
    """

    flags: pd.DataFrame
    changepoints: pd.DataFrame
    skipped: dict[str, str]
    ran: list[str]
    notes: dict[str, list[str]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    agents: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AGENT_COLUMNS))
    agent_fdr: dict = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return float(self.info.get("options", {}).get("alpha", 0.05))

    def flagged_agents(self) -> pd.DataFrame:
        """Flagged agents (agent-level decision) with their strongest evidence.

        An agent is listed when its combined p-value over all periods (scope
        ``all`` of :attr:`agents`) has an agent-level q-value below ``alpha``;
        center-level rows (``level == "center"``, agent_id empty) are listed when their
        q-value among the center-level tests is below ``alpha``. Sorted by the
        agent-level q-value (center rows last).

        Returns
        -------
        DataFrame ``level, agent_id, checks, n_flags, best_check, best_period, best_q,
        best_effect, effect_unit, detail, agent_p, agent_q, behaviours, best_p``:
        ``checks``/``n_flags`` are the evidence rows (``flags.flagged``), ``best_*``
        the strongest of them (``best_q`` its per-test q-value), ``agent_p`` /
        ``agent_q`` the agent's combined p-value and its q-value across agents.
        """
        cols = ["level", "agent_id", "checks", "n_flags", "best_check", "best_period", "best_q",
                "best_effect", "effect_unit", "detail", "agent_p", "agent_q", "behaviours",
                "best_p"]
        f = self.flags[self.flags["flagged"]]
        if f.empty:
            return pd.DataFrame(columns=cols)
        f = f.sort_values(["p_value", "q_value"])
        a = self.agents
        a = a[a["scope"] == "all"].set_index("agent_id") if len(a) else None
        rows = []
        for (lvl, aid), g in f.groupby(["level", "agent_id"], sort=False):
            b = g.iloc[0]
            ap = aq = np.nan
            beh = ""
            if a is not None and lvl == "agent" and aid in a.index:
                ap, aq, beh = a.at[aid, "p_value"], a.at[aid, "q_value"], a.at[aid, "behaviours"]
            rows.append(dict(level=lvl, agent_id=aid, checks=", ".join(sorted(g["check"].unique())),
                             n_flags=len(g), best_check=b["check"], best_period=b["period"],
                             best_q=b["q_value"], best_effect=b["effect"],
                             effect_unit=b["effect_unit"], detail=b["detail"],
                             agent_p=ap, agent_q=aq, behaviours=beh,
                             best_p=b["p_value"]))
        out = pd.DataFrame(rows, columns=cols)
        out["_c"] = out["level"] == "center"
        return out.sort_values(["_c", "agent_q", "best_q"], ignore_index=True,
                               kind="stable")[cols]

    def summary_text(self) -> str:
        """A short plain-text summary a manager can read."""
        i = self.info
        o = i.get("options", {})
        lines = ["Gaming checks: summary", "=" * 22, ""]
        # rows the loader set aside never reach the checks' table, but they were read
        read = i.get("rows", 0) + i.get("quarantined_by_loader", 0)
        lines.append(f"Calls: {read:,} rows read, {i.get('valid_rows', 0):,} valid.")
        if i.get("quarantined_by_loader"):
            lines.append(f"  quarantined by the loader: {i['quarantined_by_loader']:,} rows")
            for reason, c in i.get("quarantine_reasons", {}).items():
                lines.append(f"    {reason}: {c:,}")
        for reason, c in i.get("excluded", {}).items():
            lines.append(f"  excluded: {c:,} rows ({reason})")
        fdr = self.agent_fdr or {}
        fdr_name = {"BH": "Benjamini-Hochberg", "BY": "Benjamini-Yekutieli"}.get(
            fdr.get("method", "BH"), str(fdr.get("method")))
        lines.append(
            f"Settings: period {o.get('period')}, short call < {o.get('short_call_s'):g} s, "
            f"agent-level false-discovery rate {self.alpha:g}."
        )
        lines.append(
            f"Decision: each agent's tests are combined into one p-value (Cauchy combination, "
            f"ACAT, over all periods), then {fdr_name} across the "
            f"{int(fdr.get('n_agents', 0))} agents tested: among the agents flagged, the "
            f"expected share of honest agents is at most {self.alpha:g}. The "
            f"{int(self.flags['p_value'].notna().sum())} per-test q-values in "
            f"gaming_flags.csv are evidence (which checks), not the decision."
        )
        if i.get("period_folds"):
            days = i.get("period_fold_days", {})
            folds = {k: (v, int(days.get(k, 0))) for k, v in i["period_folds"].items()}
            lines.append(f"  {fold_note(folds)}.")
        if i.get("short_call_s_auto"):
            lines.append(f"  short-call threshold from the data: {i['short_call_s_auto']}")
        lines.append("")
        lines.append("Checks run: " + (", ".join(self.ran) or "none"))
        for name in self.ran:
            for note in self.notes.get(name, []):
                lines.append(f"  {name}: {note}")
        if self.skipped:
            lines.append("Checks skipped:")
            for name, why in self.skipped.items():
                lines.append(f"  {name}: {why}")
        lines.append("")
        fa = self.flagged_agents()
        center = fa[fa["level"] == "center"]
        fa = fa[fa["level"] != "center"]
        for r in center.itertuples(index=False):
            lines.append(f"Center level: {r.best_check} (q = {r.best_q:.2g}): {r.detail}.")
        if fa.empty:
            lines.append("No agent flagged.")
        else:
            lines.append(f"{len(fa)} agent(s) flagged (strongest evidence first):")
            for r in fa.itertuples(index=False):
                lines.append(
                    f"- {r.agent_id} (agent q = {r.agent_q:.2g}; {r.behaviours or r.best_check})"
                    f": {r.best_effect:+.1f} {r.effect_unit} in {r.best_period} "
                    f"(test p = {_p(r.best_p)}; evidence: {r.checks}). {r.detail}."
                )
                cp = self.changepoints
                cp = cp[(cp["level"] == "agent") & (cp["agent_id"] == r.agent_id)
                        & (cp["metric"] == "short_call_rate")]
                for c in cp.itertuples(index=False):
                    lines.append(
                        f"    short-call rate stepped on {pd.Timestamp(c.date):%Y-%m-%d} "
                        f"(90% interval {pd.Timestamp(c.date_lo):%Y-%m-%d} to "
                        f"{pd.Timestamp(c.date_hi):%Y-%m-%d}): {100 * c.before:.1f}% before, "
                        f"{100 * c.after:.1f}% after (p = {c.p_value:.2g}, against peers)"
                    )
        cp_all = self.changepoints
        cc = cp_all[cp_all["level"] == "center"]
        n_agent = int((cp_all["level"] == "agent").sum())
        lines.append("")
        lines.append(
            f"Change points (steps at p <= {self.alpha:g} only, beyond a smooth trend and "
            f"weekday effects; agents against their peers): {len(cc)} center-level, "
            f"{n_agent} agent-level."
        )
        for c in cc.itertuples(index=False):
            fmt = (lambda v: f"{100 * v:.1f}%") if "rate" in c.metric else (
                lambda v: f"{v:.1f} s")
            lines.append(f"- {c.metric} on {pd.Timestamp(c.date):%Y-%m-%d} (90% interval "
                         f"{pd.Timestamp(c.date_lo):%Y-%m-%d} to "
                         f"{pd.Timestamp(c.date_hi):%Y-%m-%d}): {fmt(c.before)} before, "
                         f"{fmt(c.after)} after (p = {c.p_value:.2g})")
        lines.append("")
        lines.append("A flag is statistical evidence, not proof: review the calls before acting.")
        return "\n".join(lines) + "\n"

    def to_dir(self, out) -> dict[str, Path]:
        """Write ``gaming_flags.csv``, ``gaming_agents.csv``, ``changepoints.csv`` and
        ``summary.txt`` to ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "flags": out / "gaming_flags.csv",
            "agents": out / "gaming_agents.csv",
            "changepoints": out / "changepoints.csv",
            "summary": out / "summary.txt",
        }
        safe_csv(self.flags, paths["flags"], index=False)
        safe_csv(self.agents.reindex(columns=AGENT_COLUMNS), paths["agents"], index=False)
        cp = self.changepoints.copy()
        for col in ("date", "date_lo", "date_hi"):
            if col in cp.columns:
                cp[col] = pd.to_datetime(cp[col]).dt.strftime("%Y-%m-%d")
        safe_csv(cp, paths["changepoints"], index=False)
        paths["summary"].write_text(self.summary_text(), encoding="utf-8")
        return paths


def _agent_short_changepoints(ctx: GamingContext, agents: list[str]) -> pd.DataFrame:
    """When did each flagged agent's daily short-call rate step (start and/or end)?

    :func:`analysis.gaming.changepoints.agent_steps`: the agent's daily rate
    against the peers' that day, only significant steps, each with an interval.
    """
    if not agents:
        return pd.DataFrame(columns=CHANGEPOINT_COLUMNS)
    from .changepoints import agent_steps

    return agent_steps(ctx, agents).reindex(columns=CHANGEPOINT_COLUMNS)


def run_checks(
    calls,
    *,
    mapping=None,
    options: dict | None = None,
    ratings: pd.DataFrame | None = None,
    okr: dict | None = None,
    roster: pd.DataFrame | None = None,
    checks: list[str] | None = None,
    progress: bool = False,
    engine: str = "duckdb",
    engine_options: dict | None = None,
) -> GamingReport:
    """Run the gaming checks on a center's calls and control the FDR across all of them.

    Parameters
    ----------
    calls
        Contract-shaped Parquet (file, folder or glob), a raw export with
        ``mapping`` (loaded by :func:`analysis.load.load_calls`), or a DataFrame
        with contract columns.
    mapping
        Column mapping (name of a built-in mapping, YAML path or dict) for raw exports.
    options
        Run settings: ``alpha`` (0.05), ``period`` (``month``), ``short_call_s``
        (seconds or ``"auto"``), ``aht_target`` (seconds), ``seed``, ``min_calls``,
        ``raise_errors`` (False: a check that fails is reported as skipped),
        ``check_threads`` (checks run at once on DuckDB; default 2 on a machine
        with 2 cores or more, 1 on Spark; the results do not depend on it) and
        each check's own options (see their docstrings).
    ratings, okr, roster
        Optional inputs for the checks that use them.
    checks
        Names of the checks to run (default: all registered).
    progress
        Print a line per check to stderr.
    engine
        Where the checks' aggregations (the per-agent counts and sums) run: ``"duckdb"``
        (in process) or ``"spark"`` (Spark SQL; needs pyspark and Java). The same SQL
        runs on either (engine-specific spellings from :class:`analysis.engines.Dialect`)
        and the statistics run in Python on the aggregated tables, so both engines give
        the same flags.
    engine_options
        Passed to the engine's session, e.g. ``{"master": "spark://host:7077"}``.

    Returns
    -------
    GamingReport
        ``.flags`` (:data:`REPORT_FLAG_COLUMNS`), ``.changepoints``
        (:data:`CHANGEPOINT_COLUMNS`), ``.skipped``, ``.summary_text()``, ``.to_dir()``.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate.
    *JRSS B* 57(1), 289-300.
    """
    ctx, info = build_context(calls, mapping=mapping, options=options, ratings=ratings,
                              okr=okr, roster=roster, engine=engine,
                              engine_options=engine_options)
    try:
        return _run(ctx, info, checks=checks, progress=progress)
    finally:
        release = getattr(ctx.con, "release", None)  # Spark: the session's temporary files
        if release is not None:
            release()


def _check_threads(ctx: GamingContext, n_checks: int) -> int:
    """How many checks run at once: option ``check_threads`` (default: 2 where the
    machine has 2 cores or more); always 1 on Spark, whose session runs one job at
    a time from this driver."""
    if dialect_of(ctx).name != "duckdb":
        return 1
    want = ctx.options.get("check_threads")
    if want is None:
        want = min(2, os.cpu_count() or 1)
    try:
        want = int(want)
    except (TypeError, ValueError):
        raise ConfigError(f"check_threads must be a whole number, got {want!r}") from None
    if want < 1:
        raise ConfigError(f"check_threads must be at least 1, got {want}")
    return max(1, min(want, n_checks))


def _run(ctx: GamingContext, info: dict, *, checks: list[str] | None,
         progress: bool) -> GamingReport:
    """The checks on a built context, the agent-level decision and the change points."""
    skipped: dict[str, str] = {}
    _discover(skipped)
    names = list(checks) if checks else CHECKS.names()
    raise_errors = bool(ctx.options.get("raise_errors"))
    seconds: dict[str, float] = {}

    def one(name: str) -> CheckResult | str:
        """Run one check on its own cursor: its result, or why it was skipped."""
        fn = CHECKS.get(name)
        t0 = time.perf_counter()
        if progress:
            print(f"ccpm gaming: {name} ...", file=sys.stderr, flush=True)
        cur = ctx.con.cursor()  # each check on its own cursor: none can block another
        try:
            return fn(replace(ctx, con=cur))
        except CcpmError as exc:
            if raise_errors:
                raise
            return str(exc)
        except Exception as exc:
            if raise_errors:
                raise
            return f"failed ({type(exc).__name__}: {exc})"
        finally:
            seconds[name] = round(time.perf_counter() - t0, 3)
            cur.close()

    # a stub first or last period (a day or two of data) joins its neighbour: found once
    # here, before the checks share it (period_sql reads it from the run's cache)
    folds = period_folds(ctx)
    if folds:
        info["period_folds"] = {k: v for k, (v, _) in folds.items()}
        info["period_fold_days"] = {k: d for k, (_, d) in folds.items()}
    workers = _check_threads(ctx, len(names))
    if workers > 1:
        # checks are independent (own cursor, own seeded generator, shared caches hold
        # the same values whoever fills them): while one waits on DuckDB or in numpy,
        # the other runs; results are gathered in the registry's order
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ccpm-check") as pool:
            outcomes = list(pool.map(one, names))
    else:
        outcomes = [one(name) for name in names]
    # in the registry's order, not the order the threads finished
    seconds = {name: seconds[name] for name in names if name in seconds}
    results: list[CheckResult] = []
    for name, res in zip(names, outcomes, strict=True):
        if isinstance(res, str):
            skipped[name] = res
            continue
        if res.skipped:
            skipped[name] = res.skipped
        results.append(res)

    notes_extra: dict[str, list[str]] = {}
    frames = [r.flags for r in results if r.flags is not None and len(r.flags)]
    flags = (pd.concat([f[FLAG_COLUMNS] for f in frames], ignore_index=True)
             if frames else pd.DataFrame(columns=FLAG_COLUMNS))
    flags["p_value"] = pd.to_numeric(flags["p_value"], errors="coerce").astype(float)
    # the level is the check's, never read from agent_id: an agent whose id is "center"
    # is an agent (its rows must not mix with the center-level rows, raw or pseudonymized)
    center_rows = flags["check"].isin(CENTER_LEVEL_CHECKS).to_numpy()
    flags.insert(0, "level", np.where(center_rows, "center", "agent"))
    flags.loc[center_rows, "agent_id"] = ""
    # opt-in tail calibration of the fitted-model checks against their peers' z-scores
    # (off by default: it costs most cross-sectional power, see _empnull)
    if ctx.options.get("empirical_null", False) not in (False, None, "false", "no", 0):
        for name, lines in _calibrate_tails(flags, seed=int(opt(ctx, "seed"))).items():
            notes_extra.setdefault(name, []).extend(lines)
    # per-test evidence: BH across every test (for reference, not the decision); a
    # center-level row's q is the one its decision uses, BH among the center-level rows
    # (a summary line "bunching_center (q = 0.89)" stood beside a row flagged at p .03)
    flags["q_value"] = bh_qvalues(flags["p_value"].to_numpy())
    center_q = (flags["level"] == "center").to_numpy()
    if center_q.any():
        flags.loc[center_q, "q_value"] = bh_qvalues(flags.loc[center_q, "p_value"].to_numpy())
    alpha = float(opt(ctx, "alpha"))
    method = str(ctx.options.get("agent_fdr") or "BH").upper()
    if method not in ("BH", "BY"):
        raise ConfigError(f"agent_fdr must be BH or BY, got {ctx.options.get('agent_fdr')!r}")
    # the decision: per agent (ACAT over the agent's tests), FDR across agents
    agents, agent_fdr = agent_table(flags, alpha=alpha, method=method)
    flags["flagged"] = _evidence_rows(flags, agents, alpha)
    flags = flags.sort_values(["q_value", "p_value", "check", "agent_id", "period"],
                              na_position="last", ignore_index=True)[REPORT_FLAG_COLUMNS]

    cps = []
    for r in results:
        if r.changepoints is not None and len(r.changepoints):
            c = r.changepoints.copy()
            if "source" not in c.columns or c["source"].isna().all():
                c["source"] = r.name
            cps.append(c.reindex(columns=CHANGEPOINT_COLUMNS))
    short_flagged = sorted(
        flags.loc[flags["flagged"] & flags["check"].str.contains("short")
                  & (flags["level"] == "agent"), "agent_id"].unique()
    )
    # every agent flagged by a short-call check gets the start and/or end of the
    # behaviour (other checks may already give one split; duplicates are dropped)
    todo = list(short_flagged)
    if todo:
        t0 = time.perf_counter()
        cur = ctx.con.cursor()
        cps.append(_agent_short_changepoints(replace(ctx, con=cur), todo))
        cur.close()
        seconds["changepoints of flagged agents"] = round(time.perf_counter() - t0, 3)
    cp = (pd.concat(cps, ignore_index=True) if cps
          else pd.DataFrame(columns=CHANGEPOINT_COLUMNS))
    if len(cp):
        cp["date"] = pd.to_datetime(cp["date"])
        for col in ("date_lo", "date_hi"):
            cp[col] = pd.to_datetime(cp[col])
        cp["agent_id"] = cp["agent_id"].fillna("").astype(str)
        cp = cp.drop_duplicates(["level", "agent_id", "metric", "date"]).sort_values(
            ["level", "agent_id", "metric", "date"], ignore_index=True)
    agents = date_agents(agents, cp)

    info["options"] = {k: v for k, v in ctx.options.items() if not str(k).startswith("_")}
    info["seconds"] = seconds
    ran = [r.name for r in results if not r.skipped]
    notes = {r.name: list(r.notes) + notes_extra.get(r.name, []) for r in results}
    return GamingReport(flags=flags, changepoints=cp, skipped=skipped, ran=ran, notes=notes,
                        info=info, agents=agents, agent_fdr=agent_fdr)


#: Checks whose p-values come from a model fitted to the peers: their tails are checked
#: against the empirical null of their z-scores (:mod:`._empnull`).
TAIL_CALIBRATED = ("short_calls_peer", "transfer_dumping", "acw_inflation", "hold_inflation",
                   "acw_change", "hold_change",
                   "repeat_after_short", "quick_callback_after_short", "end_of_day_stretch",
                   "survey_selection")


#: Null p-value below which a test is left out of its check's empirical null fit
#: (:func:`._empnull.fit_empirical_null`'s ``trim``). Fitted to every test, the gamers set
#: the tail they are judged against: on the outside worlds (``benchmarks/worlds_outside.py``)
#: opting in cut 61-day hang-up recall from 0.77 to 0.31 and transfer dumping from 0.70 to
#: 0.22; trimmed, 0.73 and 0.48, with 4 honest flags in 80 worlds instead of 9 (2 untrimmed).
TAIL_NULL_TRIM = 0.01


def _calibrate_tails(flags: pd.DataFrame, *, seed: int) -> dict[str, list[str]]:
    """Replace the p-values of :data:`TAIL_CALIBRATED` checks by max(model, empirical null).

    One empirical null per check over its agents and periods (whole-window rows,
    period ``all``, get their own), fitted without the tests it calls extreme
    (:data:`TAIL_NULL_TRIM`); center rows are left alone. Returns check -> note.
    """
    from ._empnull import calibrate_pvalues, fit_empirical_null

    notes: dict[str, list[str]] = {}
    agent = (flags["level"] == "agent").to_numpy()
    pooled = flags["period"].astype(str) == "all"
    for name in TAIL_CALIBRATED:
        for part in (False, True):
            sel = (agent & (flags["check"] == name) & (pooled == part)).to_numpy()
            if not sel.any():
                continue
            p = flags.loc[sel, "p_value"].to_numpy(float)
            null = fit_empirical_null(p, seed=seed, trim=TAIL_NULL_TRIM)
            what = "whole-window rows" if part else "agent x period rows"
            if null is None:
                notes.setdefault(name, []).append(
                    f"tail calibration: too few or too lumpy p-values ({what}); "
                    "model p-values used as they are")
                continue
            new = calibrate_pvalues(p, null)
            flags.loc[sel, "p_value"] = new
            moved = int(np.sum(new > p * 1.0000001))
            notes.setdefault(name, []).append(
                f"tail calibration ({what}): {null.describe()}; {moved} p-value(s) "
                "raised to the empirical null's (Efron 2004)")
    return notes


def _evidence_rows(flags: pd.DataFrame, agents: pd.DataFrame, alpha: float) -> np.ndarray:
    """``flags.flagged``: the evidence rows of the agents flagged at the agent level.

    An agent row is flagged when its agent is flagged (scope ``all``) and the test is the
    agent's strongest, or has ``p_value < alpha`` and is evidence of a behaviour the
    decision names for the agent (``agents.behaviours``, via
    :data:`._agents.BEHAVIOUR_OF`); a center-level row when its ``q_value`` (BH among the
    center-level tests, set by :func:`_run`) is below ``alpha``. Any row at p < alpha of a
    flagged agent used to count: the sample report listed an agent flagged for stretching
    calls under "short calls" at q .77, and nine such rows made short calls the longest bar
    of the per-check figure, though no agent was flagged for hanging up.
    """
    aid = flags["agent_id"].astype(str)
    p = flags["p_value"].to_numpy(float)
    center = (flags["level"] == "center").to_numpy()
    out = np.zeros(len(flags), dtype=bool)
    out[center] = flags["q_value"].to_numpy(float)[center] < alpha
    if len(agents):
        a = agents[(agents["scope"] == "all") & agents["flagged"]]
        chosen = aid.isin(set(a["agent_id"])).to_numpy() & ~center
        strongest = np.zeros(len(flags), dtype=bool)
        fin = pd.Series(np.where(np.isfinite(p), p, np.inf), index=flags.index)
        idx = fin[chosen].groupby(aid[chosen]).idxmin()
        strongest[flags.index.get_indexer(idx.to_numpy())] = True
        named = {(str(r.agent_id), b) for r in a.itertuples(index=False)
                 for b in str(r.behaviours or "").split(";") if b}
        # a trace of a named behaviour's signature counts too (callbacks after short
        # calls are a hang-up's evidence though they are "repeat_calls" on their own)
        beh = flags["check"].map(BEHAVIOUR_OF).fillna(flags["check"]).astype(str)
        sig = flags["check"].map(SIGNATURE_OF).fillna(flags["check"]).astype(str)
        of_named = np.array([(x, b) in named or (x, g) in named
                             for x, b, g in zip(aid, beh, sig, strict=True)], dtype=bool)
        out |= chosen & (((np.nan_to_num(p, nan=1.0) < alpha) & of_named) | strongest)
    return out
