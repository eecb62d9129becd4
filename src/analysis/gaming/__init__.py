"""Statistical checks for metric gaming (see :mod:`._base` for the interface)."""

from ._base import CHECKS, FLAG_COLUMNS, CheckResult, GamingContext

__all__ = ["CHECKS", "FLAG_COLUMNS", "CheckResult", "GamingContext"]
