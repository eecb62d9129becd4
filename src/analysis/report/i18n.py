"""Every translatable string of the reports: per-language message catalogs (YAML data).

The prose lives in ``analysis/report/messages/<lang>.yml`` (one ``key: text`` per line,
as Quarto keeps its UI strings in ``_language-<lang>.yml``), so a translator or manager
edits text, not Python. ``t(key, lang, **fields)`` looks a key up and fills ``str.format``
fields; :func:`tm` does the same for Markdown output, showing every field literally
(:func:`analysis.report.literal.md_text`). Both languages hold exactly the same keys and
fields (``tests/test_report_i18n.py`` checks), so a report never falls back to English
half-way through.

Figure and table labels are keys too (``col.*`` for table headers, ``model.*`` for
model names, ``check.*`` for gaming checks); :func:`labels` returns them as a plain
dict for plotting functions that take a ``labels`` mapping.
"""

from __future__ import annotations

from importlib import resources

import yaml

from ..errors import ConfigError
from .literal import MdRaw, md_text

__all__ = ["LANGS", "SOURCE_LANG", "STRINGS", "t", "tm", "labels", "check_lang",
           "translate_columns", "catalog_path", "reads_source"]

LANGS = ("en", "zh-CN")

#: the language of the library's own free text (the loader's notes, the gaming runner's
#: reasons for skipping a check): shown as written in a report of this language, and
#: summarised by a catalog message in any other
SOURCE_LANG = "en"


def catalog_path(lang: str):
    """The message catalog of ``lang`` (a YAML file inside the package)."""
    return resources.files("analysis.report").joinpath("messages", f"{lang}.yml")


def _load(lang: str) -> dict[str, str]:
    data = yaml.safe_load(catalog_path(lang).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"report messages for {lang}: expected 'key: text' lines")
    return {str(k): v for k, v in data.items()}


STRINGS: dict[str, dict[str, str]] = {lang: _load(lang) for lang in LANGS}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is supported, else raise :class:`ConfigError`."""
    if lang not in STRINGS:
        raise ConfigError(f"unknown report language {lang!r} (known: {', '.join(LANGS)})")
    return lang


def reads_source(lang: str) -> bool:
    """Does a report in ``lang`` show the library's free text as written
    (:data:`SOURCE_LANG`)?"""
    return check_lang(lang) == SOURCE_LANG


def t(key: str, lang: str = "en", **fields: object) -> str:
    """The text of ``key`` in ``lang``, with ``str.format`` ``fields`` filled in.

    An unknown key raises ``KeyError`` (a missing translation is a bug, never a silent
    fallback to another language).
    """
    text = STRINGS[check_lang(lang)][key]
    return text.format(**fields) if fields else text


def tm(key: str, lang: str = "en", **fields: object) -> MdRaw:
    """:func:`t` for Markdown output: the catalog text is Markdown, each field literal text.

    A field that is itself Markdown written by the report code is passed as
    :class:`analysis.report.literal.MdRaw`; numbers keep their format specs.
    """
    return MdRaw(t(key, lang, **{k: md_text(v) if isinstance(v, str) else v
                                 for k, v in fields.items()}))


def labels(lang: str = "en", prefix: str | None = None) -> dict[str, str]:
    """All strings of ``lang`` as ``{name: text}``.

    With ``prefix`` (e.g. ``"col"`` or ``"model"``) only keys ``prefix.*`` are returned,
    keyed by the part after the prefix: ``labels("zh-CN", "model")["bsc"] == "平衡计分卡"``.
    Unprefixed, the dict holds column and model labels under their bare names plus every
    full key, which is what the plotting functions' ``labels`` argument expects.
    """
    table = STRINGS[check_lang(lang)]
    if prefix is not None:
        p = prefix + "."
        return {k[len(p) :]: v for k, v in table.items() if k.startswith(p)}
    out = dict(table)
    for pre in ("col", "model", "check"):
        out.update(labels(lang, pre))
    return out


def translate_columns(df, lang: str = "en"):
    """``df`` with its column names replaced by their ``col.*`` labels where one exists."""
    cols = labels(lang, "col")
    return df.rename(columns={c: cols.get(str(c), str(c)) for c in df.columns})
