"""Loaders: raw exports -> contract rows (valid) + quarantine (with reasons).

Every loader reads a file, a folder or a glob (CSV/TSV in any common delimiter
and encoding, gzip, zip, Parquet, Excel), maps columns through a YAML mapping
(:func:`resolve_mapping`; built-ins in ``data/mappings/``), checks every row and
returns a :class:`LoadResult` whose ``rows_read == len(valid) + len(quarantine)``.

>>> res = load_calls("exports/", mapping="anonymous-bank")   # doctest: +SKIP
>>> write_validated(res, "out/")                             # doctest: +SKIP
"""

from __future__ import annotations

import importlib

# where each name below lives: imported on first use (PEP 562), so that a command which
# needs only a light part (``ccpm validate`` of a contract CSV by the fast path, see
# :mod:`._quick`) does not pay for pandas at start-up
_HOME = {
    "normalize_id": "._ids",
    "Mapping": "._mapping", "builtin_mappings": "._mapping", "resolve_mapping": "._mapping",
    "LoadResult": "._result", "schema_for": "._result", "write_validated": "._result",
    "StreamStats": "._stream", "stream_calls": "._stream", "validate_calls": "._stream",
    "CALL_REASONS": ".calls", "load_calls": ".calls",
    "ContractCalls": ".entry", "is_trusted_calls_file": ".entry",
    "open_contract_calls": ".entry",
    "RATINGS_REASONS": ".ratings", "load_ratings": ".ratings", "rescale": ".ratings",
    "ROSTER_REASONS": ".roster", "load_roster": ".roster",
    "SpilledCalls": ".spill", "load_calls_to_parquet": ".spill", "spill_valid": ".spill",
}


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


__all__ = [
    "load_calls",
    "normalize_id",
    "stream_calls",
    "validate_calls",
    "StreamStats",
    "open_contract_calls",
    "ContractCalls",
    "is_trusted_calls_file",
    "load_roster",
    "load_ratings",
    "write_validated",
    "LoadResult",
    "Mapping",
    "resolve_mapping",
    "builtin_mappings",
    "schema_for",
    "rescale",
    "CALL_REASONS",
    "ROSTER_REASONS",
    "RATINGS_REASONS",
]

