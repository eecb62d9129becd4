"""Loaders: raw exports -> contract rows (valid) + quarantine (with reasons).

Every loader reads a file, a folder or a glob (CSV/TSV in any common delimiter
and encoding, gzip, zip, Parquet, Excel), maps columns through a YAML mapping
(:func:`resolve_mapping`; built-ins in ``data/mappings/``), checks every row and
returns a :class:`LoadResult` whose ``rows_read == len(valid) + len(quarantine)``.

>>> res = load_calls("exports/", mapping="anonymous-bank")   # doctest: +SKIP
>>> write_validated(res, "out/")                             # doctest: +SKIP
"""

from __future__ import annotations

from ._ids import normalize_id
from ._mapping import Mapping, builtin_mappings, resolve_mapping
from ._result import LoadResult, schema_for, write_validated
from ._stream import StreamStats, stream_calls, validate_calls
from .calls import CALL_REASONS, load_calls
from .entry import ContractCalls, is_trusted_calls_file, open_contract_calls
from .ratings import RATINGS_REASONS, load_ratings, rescale
from .roster import ROSTER_REASONS, load_roster
from .spill import SpilledCalls, load_calls_to_parquet, spill_valid  # noqa: F401

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

