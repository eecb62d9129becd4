"""Results files whose tables a benchmark regenerates and whose notes are written by hand."""

from __future__ import annotations

from pathlib import Path


def write_keeping_notes(path: Path, lines: list[str], marker: str) -> None:
    """Write the generated ``lines`` to ``path``, then ``marker`` and whatever followed
    ``marker`` in the file before (the notes written by hand, kept on a rerun). Written
    aside and moved into place, so a failed run leaves the old file whole."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    hand = old.split(marker, 1)[1].lstrip("\n") if marker in old else ""
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n" + marker + "\n\n" + hand, encoding="utf-8")
    tmp.replace(path)
