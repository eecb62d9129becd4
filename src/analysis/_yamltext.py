"""The text of a YAML file the user gave (mapping, model configuration, OKRs, batch
schedule), or a one-line :class:`~analysis.errors.ConfigError` when it is not UTF-8 text
(a Latin-1 or UTF-16 export, a binary file): never a UnicodeDecodeError."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["yaml_text"]

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def yaml_text(path: str | os.PathLike, label: str) -> str:
    """``path`` decoded as UTF-8 (a UTF-8 byte-order mark is dropped).

    ``label`` starts the message (``"mapping x.yml"``). OSError (missing file, a folder,
    no permission) is left to the caller, which words it for its file.
    """
    data = Path(path).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if data.startswith(_UTF16_BOMS) or data[:200].count(b"\x00") > len(data[:200]) // 4:
            kind = "is UTF-16 text"
        elif b"\x00" in data[:4096]:
            kind = "is not a text file"
        else:
            kind = (f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
                    f"{exc.start}; Latin-1 or Windows-1252?)")
        raise ConfigError(f"{label} {kind}: save it as UTF-8") from None
