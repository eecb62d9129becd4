"""Run every registered gaming check, control the FDR across all of them, report.

:func:`run_checks` builds the DuckDB context (view ``calls`` over the valid
rows), runs the checks of :data:`~analysis.gaming.CHECKS`, puts every agent x
check (x period) test into one table, adds Benjamini-Hochberg q-values across
*all* agents and checks together, and collects the change points. For agents
flagged by a short-call check it adds the change point of that agent's daily
short-call rate (when the behaviour started or stopped).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ..errors import CcpmError
from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext
from ._context import build_context, opt
from ._fdr import bh_qvalues

__all__ = ["run_checks", "GamingReport", "REPORT_FLAG_COLUMNS", "CHANGEPOINT_COLUMNS"]

#: Columns of ``gaming_flags.csv`` / :attr:`GamingReport.flags`.
REPORT_FLAG_COLUMNS = [
    "agent_id", "period", "check", "effect", "effect_unit", "p_value", "q_value", "flagged",
    "n", "k", "detail",
]
#: Columns of ``changepoints.csv`` / :attr:`GamingReport.changepoints` (interface B;
#: see :data:`analysis.gaming.changepoints.CHANGEPOINT_COLUMNS`).
CHANGEPOINT_COLUMNS = ["level", "agent_id", "metric", "date", "date_lo", "date_hi", "before",
                       "after", "p_value", "source"]


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
        One row per agent x check (x period) test, columns
        :data:`REPORT_FLAG_COLUMNS`: ``effect`` in ``effect_unit`` (a size a
        manager reads), ``p_value``, ``q_value`` (Benjamini-Hochberg across all
        rows with a p-value), ``flagged`` (``q_value < alpha``), the counts ``n``,
        ``k`` and a ``detail`` sentence. Sorted by q-value.
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

    @property
    def alpha(self) -> float:
        return float(self.info.get("options", {}).get("alpha", 0.05))

    def flagged_agents(self) -> pd.DataFrame:
        """Flagged agents with their strongest evidence (lowest q-value first).

        Returns
        -------
        DataFrame ``agent_id, checks, n_flags, best_check, best_period, best_q,
        best_effect, effect_unit, detail``.
        """
        f = self.flags[self.flags["flagged"]]
        if f.empty:
            return pd.DataFrame(columns=["agent_id", "checks", "n_flags", "best_check",
                                         "best_period", "best_q", "best_effect",
                                         "effect_unit", "detail"])
        f = f.sort_values(["q_value", "p_value"])
        rows = []
        for aid, g in f.groupby("agent_id", sort=False):
            b = g.iloc[0]
            rows.append(dict(agent_id=aid, checks=", ".join(sorted(g["check"].unique())),
                             n_flags=len(g), best_check=b["check"], best_period=b["period"],
                             best_q=b["q_value"], best_effect=b["effect"],
                             effect_unit=b["effect_unit"], detail=b["detail"]))
        return pd.DataFrame(rows)

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
        lines.append(
            f"Settings: period {o.get('period')}, short call < {o.get('short_call_s'):g} s, "
            f"false-discovery level {self.alpha:g} (Benjamini-Hochberg across all "
            f"{int(self.flags['p_value'].notna().sum())} tests)."
        )
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
        center = fa[fa["agent_id"] == "center"]
        fa = fa[fa["agent_id"] != "center"]
        for r in center.itertuples(index=False):
            lines.append(f"Center level: {r.best_check} (q = {r.best_q:.2g}): {r.detail}.")
        if fa.empty:
            lines.append("No agent flagged.")
        else:
            lines.append(f"{len(fa)} agent(s) flagged (strongest evidence first):")
            for r in fa.itertuples(index=False):
                lines.append(
                    f"- {r.agent_id}: {r.best_effect:+.1f} {r.effect_unit} in {r.best_period} "
                    f"(q = {r.best_q:.2g}; {r.n_flags} flag(s): {r.checks}). {r.detail}."
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
        """Write ``gaming_flags.csv``, ``changepoints.csv`` and ``summary.txt`` to ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "flags": out / "gaming_flags.csv",
            "changepoints": out / "changepoints.csv",
            "summary": out / "summary.txt",
        }
        self.flags.to_csv(paths["flags"], index=False)
        cp = self.changepoints.copy()
        for col in ("date", "date_lo", "date_hi"):
            if col in cp.columns:
                cp[col] = pd.to_datetime(cp[col]).dt.strftime("%Y-%m-%d")
        cp.to_csv(paths["changepoints"], index=False)
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
        ``raise_errors`` (False: a check that fails is reported as skipped) and
        each check's own options (see their docstrings).
    ratings, okr, roster
        Optional inputs for the checks that use them.
    checks
        Names of the checks to run (default: all registered).
    progress
        Print a line per check to stderr.

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
                              okr=okr, roster=roster)
    skipped: dict[str, str] = {}
    _discover(skipped)
    names = list(checks) if checks else CHECKS.names()
    raise_errors = bool(ctx.options.get("raise_errors"))
    results: list[CheckResult] = []
    seconds: dict[str, float] = {}
    for name in names:
        fn = CHECKS.get(name)
        t0 = time.perf_counter()
        if progress:
            print(f"ccpm gaming: {name} ...", file=sys.stderr, flush=True)
        cur = ctx.con.cursor()  # each check on its own cursor: none can block another
        try:
            res = fn(replace(ctx, con=cur))
        except CcpmError as exc:
            if raise_errors:
                raise
            skipped[name] = str(exc)
            continue
        except Exception as exc:
            if raise_errors:
                raise
            skipped[name] = f"failed ({type(exc).__name__}: {exc})"
            continue
        finally:
            seconds[name] = round(time.perf_counter() - t0, 3)
            cur.close()
        if res.skipped:
            skipped[name] = res.skipped
        results.append(res)

    frames = [r.flags for r in results if r.flags is not None and len(r.flags)]
    flags = (pd.concat([f[FLAG_COLUMNS] for f in frames], ignore_index=True)
             if frames else pd.DataFrame(columns=FLAG_COLUMNS))
    flags["p_value"] = pd.to_numeric(flags["p_value"], errors="coerce").astype(float)
    flags["q_value"] = bh_qvalues(flags["p_value"].to_numpy())
    alpha = float(opt(ctx, "alpha"))
    flags["flagged"] = flags["q_value"].lt(alpha).fillna(False).astype(bool)
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
                  & (flags["agent_id"] != "center"), "agent_id"].unique()
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

    info["options"] = {k: v for k, v in ctx.options.items() if not str(k).startswith("_")}
    info["seconds"] = seconds
    ran = [r.name for r in results if not r.skipped]
    notes = {r.name: list(r.notes) for r in results}
    return GamingReport(flags=flags, changepoints=cp, skipped=skipped, ran=ran, notes=notes,
                        info=info)
