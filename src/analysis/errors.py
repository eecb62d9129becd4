"""Errors the CLI turns into a one-line message and an exit code."""

from __future__ import annotations

__all__ = ["CcpmError", "InputError", "ConfigError"]


class CcpmError(Exception):
    """Base class: a problem the user can fix; printed without a traceback."""

    exit_code = 2


class InputError(CcpmError):
    """An input file is missing, empty, unreadable or lacks a required column."""


class ConfigError(CcpmError):
    """A YAML configuration or mapping is invalid; the message names the key."""
