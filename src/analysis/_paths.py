"""Is a path a glob pattern or a name? One rule for every reader.

A user's file or folder may carry glob characters in its name (``calls[1].parquet``,
``exports [March]/``): a path that exists is always read as the name it is, and only a
path that names nothing is expanded as a pattern (``*``, ``?``, ``[...]``).
"""

from __future__ import annotations

import glob as _glob
import os
from pathlib import Path

__all__ = ["GLOB_CHARS", "is_pattern", "glob_files"]

#: characters that make a path a pattern (when it names no existing file or folder)
GLOB_CHARS = "*?["


def is_pattern(path: str | os.PathLike) -> bool:
    """True when ``path`` names no existing file or folder and holds glob characters."""
    text = os.fspath(path)
    return any(ch in text for ch in GLOB_CHARS) and not Path(text).expanduser().exists()


def glob_files(pattern: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Sorted files matching ``pattern`` (folders it matches are left out)."""
    return sorted(Path(f) for f in _glob.glob(os.fspath(pattern), recursive=recursive)
                  if Path(f).is_file())
