"""Render engines: executed notebooks -> one PDF.

An engine is registered by name with :data:`ENGINES` and is an object with

- ``available() -> bool``: can it run here (e.g. is Quarto on PATH)?
- ``render(notebooks, pdf, *, meta, build_dir) -> Path``: write ``pdf``.

``builtin`` (papermill output -> markdown -> Pandoc -> Typst -> PDF) always exists;
``quarto`` is used by ``auto`` when the ``quarto`` command is on PATH. A new engine is
one new module in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..._registry import Registry
from ...errors import ConfigError

__all__ = ["ENGINES", "RenderMeta", "select_engine", "RenderError"]

ENGINES: Registry = Registry("render engine", "analysis.report.engines")


class RenderError(ConfigError):
    """A render step (Pandoc, Typst, Quarto) failed; the message says which and why."""

    exit_code = 1


@dataclass
class RenderMeta:
    """What the title block, header and footer show."""

    title: str
    subtitle: str = ""
    date: str = ""
    source: str = ""
    period: str = ""
    marking: str = ""
    lang: str = "en"
    page_label: str = "Page"
    extra: dict = field(default_factory=dict)


def select_engine(name: str = "auto"):
    """The engine called ``name``; ``auto`` is ``quarto`` when available, else ``builtin``.

    Raises
    ------
    ConfigError
        Unknown engine, or the named engine cannot run here.
    """
    if name == "auto":
        for candidate in ("quarto", "builtin"):
            if candidate in ENGINES and ENGINES.get(candidate).available():
                return ENGINES.get(candidate)
        raise ConfigError("no render engine is available")
    engine = ENGINES.get(name)
    if not engine.available():
        raise ConfigError(f"render engine {name!r} is not available here: {engine.requirement}")
    return engine
