"""Statistical checks for metric gaming (see :mod:`._base` for the interface).

:func:`run_checks` runs every registered check on a center's calls and
controls the false-discovery rate across all agents and checks.
"""

from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext
from ._catalog import describe_checks
from ._recovery import Recovery, agent_decision, truth_recovery
from .runner import GamingReport, run_checks

__all__ = ["CHECKS", "FLAG_COLUMNS", "CheckResult", "GamingContext", "GamingReport", "run_checks",
           "describe_checks", "agent_decision", "truth_recovery", "Recovery"]
