"""Performance-management models behind one interface (see :mod:`._base`)."""

from ._base import MODELS, ModelResult

__all__ = ["MODELS", "ModelResult"]
