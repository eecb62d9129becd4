"""Fonts for reports and figures, CJK included.

Typst and matplotlib are both pointed at the system font folders (plus any listed in
``CCPM_FONT_PATHS``, separated by ``os.pathsep``). A Simplified-Chinese report needs a
CJK font; when none is found the run stops with a message saying how to install one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

__all__ = [
    "CJK_FAMILIES",
    "LATIN_FAMILIES",
    "font_dirs",
    "typst_families",
    "report_fonts",
    "use_matplotlib_fonts",
]

#: Simplified-Chinese families, best first.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Serif CJK SC",
    "Sarasa Gothic SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing CN",
)
#: Latin families, best first (Typst embeds Libertinus Serif, so one always exists).
LATIN_FAMILIES = ("DejaVu Sans", "Liberation Sans", "Noto Sans", "Libertinus Serif")

_SYSTEM_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)

_NO_CJK = (
    "no CJK font found for a zh-CN report: install one (Debian/Ubuntu: "
    "`make system-deps`, i.e. apt-get install fonts-noto-cjk) or list a folder holding "
    "one in CCPM_FONT_PATHS"
)


def font_dirs() -> list[str]:
    """Existing font folders: ``CCPM_FONT_PATHS`` first, then the usual system folders."""
    extra = [p for p in os.environ.get("CCPM_FONT_PATHS", "").split(os.pathsep) if p]
    out = []
    for p in [*extra, *_SYSTEM_DIRS]:
        path = Path(p).expanduser()
        if path.is_dir() and str(path) not in out:
            out.append(str(path))
    return out


@lru_cache(maxsize=4)
def _typst_families(dirs: tuple[str, ...]) -> frozenset[str]:
    import typst

    return frozenset(typst.Fonts(include_system_fonts=True, font_paths=list(dirs)).families())


def typst_families() -> frozenset[str]:
    """Font families Typst sees (system, embedded and :func:`font_dirs`)."""
    return _typst_families(tuple(font_dirs()))


def report_fonts(lang: str, available: frozenset[str] | None = None) -> list[str]:
    """Typst font fallback list for ``lang``: a Latin family, then (zh-CN) a CJK family.

    Raises
    ------
    ConfigError
        ``lang`` is ``zh-CN`` and no CJK family is available.
    """
    have = typst_families() if available is None else available
    latin = [f for f in LATIN_FAMILIES if f in have][:1] or ["Libertinus Serif"]
    if lang != "zh-CN":
        return latin + [f for f in CJK_FAMILIES if f in have][:1]
    cjk = [f for f in CJK_FAMILIES if f in have]
    if not cjk:
        raise ConfigError(_NO_CJK)
    return latin + cjk[:1]


def _font_files(dirs: list[str]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        for ext in ("*.ttc", "*.otf", "*.ttf"):
            files.extend(p for p in Path(d).rglob(ext) if "CJK" in p.name or "Han" in p.name)
    return files


def use_matplotlib_fonts(lang: str) -> str | None:
    """Set matplotlib's sans-serif list so figure text renders in ``lang``.

    Registers CJK font files from :func:`font_dirs` that matplotlib's cache missed (it is
    built once, maybe before the fonts were installed). Returns the CJK family used, or
    None (English without a CJK font).

    Raises
    ------
    ConfigError
        ``lang`` is ``zh-CN`` and no CJK font is found.
    """
    import matplotlib as mpl
    from matplotlib import font_manager as fm

    names = {f.name for f in fm.fontManager.ttflist}
    if lang == "zh-CN" and not any(f in names for f in CJK_FAMILIES):
        for path in _font_files(font_dirs()):
            try:
                fm.fontManager.addfont(str(path))
            except (OSError, RuntimeError, ValueError):  # an unreadable file: skip it
                continue
        names = {f.name for f in fm.fontManager.ttflist}
    cjk = next((f for f in CJK_FAMILIES if f in names), None)
    if lang == "zh-CN" and cjk is None:
        raise ConfigError(_NO_CJK)
    sans = ["DejaVu Sans"] if lang != "zh-CN" else []
    if cjk:
        sans.append(cjk)
    if lang == "zh-CN":
        sans.append("DejaVu Sans")
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["font.sans-serif"] = sans + [
        f for f in mpl.rcParams["font.sans-serif"] if f not in sans
    ]
    mpl.rcParams["axes.unicode_minus"] = False
    return cjk
