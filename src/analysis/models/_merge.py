"""Deep merge of configuration mappings (below both models/config.py and models/hybrid.py)."""

from __future__ import annotations

import copy

__all__ = ["deep_merge"]


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override``: mappings merged recursively, other values replaced;
    a key whose override value is ``None`` is removed."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        k = str(k)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
