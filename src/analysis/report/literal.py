"""One escaping layer per report output format: data is always shown as literal text.

Names, file names and free text (agent ids, model labels from a configuration, input file
names, the loader's reasons) reach three formats in a report run:

- **Markdown** (Pandoc): the notebooks' ``text/markdown`` outputs, converted to Typst by
  Pandoc. :func:`md_text` backslash-escapes every ASCII punctuation character (Pandoc's
  ``all_symbols_escapable``), so ``[x](http://e)``, ``**b**``, `` `x`{=typst} ``, ``$x$``,
  ``@ref``, ``<label>`` and ``--`` stay text; Pandoc's Typst writer then escapes them again
  for Typst, and nothing is executed.
- **Typst** strings and markup written by the engine itself: :func:`typst_str` (a string
  literal, shown with ``#value`` as text) and :func:`typst_text` (markup).
- **HTML** (tables in the executed notebooks, seen in JupyterLab): :func:`html_text`.

Matplotlib figures turn off math text (``text.parse_math``), so ``$x$`` in a name is drawn
as typed (:func:`analysis.report.blocks.setup`).

Long words. Typst breaks lines only where Unicode allows (spaces, hyphens, between CJK
characters), so a name with no such place (a 300-character id, a long e-mail address) ran
out of its table column and off the page. :func:`md_text` and :func:`typst_text` put a
zero-width space (U+200B, invisible, a break opportunity) after every :data:`BREAK_EVERY`
characters of a longer run without spaces; :func:`md_plain` takes them out again.

References
----------
.. [1] Pandoc User's Guide, "Backslash escapes" (extension ``all_symbols_escapable``).
.. [2] Typst reference, "Syntax: escape sequences".
"""

from __future__ import annotations

import html
import re
import string

__all__ = ["md_text", "md_plain", "typst_text", "typst_str", "html_text", "MdRaw", "plain"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_MD_ESCAPE = {c: "\\" + c for c in string.punctuation}
_TYPST_SPECIAL = set('\\#$*_`<>@=-+/[]~"\'.:')

#: A run of more characters than this without a space gets a break opportunity (U+200B)
#: after every this many (see "Long words").
BREAK_EVERY = 30
_ZWSP = "\u200b"
_LONG_RUN = re.compile(rf"\S{{{BREAK_EVERY + 1},}}")


def _breakable(s: str) -> str:
    """``s`` with a zero-width space after every :data:`BREAK_EVERY` characters of a run
    without spaces longer than that (a place where the line may break)."""
    def cut(m: re.Match) -> str:
        w = m.group(0)
        return _ZWSP.join(w[i:i + BREAK_EVERY] for i in range(0, len(w), BREAK_EVERY))
    return _LONG_RUN.sub(cut, s)


#: A hyphen-minus starting a word, before a digit: Typst's markup draws it as a minus sign
#: (U+2212), and Pandoc's Typst writer does not escape it, so an agent id
#: ``-3+cmd|' /C calc'!A0`` was printed as ``−3+cmd...``. In such a word that is not a
#: number, :func:`md_text` writes the hyphen as raw Typst ``\-`` (a literal hyphen);
#: numbers (``-0.23``) keep Typst's minus sign.
_RAW_HYPHEN = "`\\-`{=typst}"
_MINUS_LIKE = re.compile(r"(?<!\S)-\d\S*")
_NUMBER = re.compile(r"-\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?%?")


class MdRaw(str):
    """Markdown written by the report code itself (never data): passed through unescaped."""


def plain(value: object) -> str:
    """``value`` as one line of text: control characters dropped, line breaks as spaces."""
    s = str(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return _CONTROL.sub("", s)


def md_text(value: object) -> str:
    """``value`` as literal Pandoc-Markdown text (one line; every ASCII symbol escaped).

    >>> md_text("**b** [x](http://e)")
    '\\\\*\\\\*b\\\\*\\\\* \\\\[x\\\\]\\\\(http\\\\:\\\\/\\\\/e\\\\)'
    """
    if isinstance(value, MdRaw):
        return str(value)
    s = _breakable(plain(value))
    out = [_MD_ESCAPE.get(c, c) for c in s]
    for m in _MINUS_LIKE.finditer(s):  # see "A hyphen that Typst reads as a minus"
        if not _NUMBER.fullmatch(m.group(0)):
            out[m.start()] = _RAW_HYPHEN
    return "".join(out)


def typst_text(value: object) -> str:
    """``value`` as literal Typst markup (every markup character escaped)."""
    return "".join("\\" + c if c in _TYPST_SPECIAL else c for c in _breakable(plain(value)))


def typst_str(value: object) -> str:
    """``value`` as a Typst string literal (``"..."``), to be shown as text."""
    s = plain(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def html_text(value: object) -> str:
    """``value`` as HTML text (``& < > " '`` escaped)."""
    return html.escape(plain(value), quote=True)


_MD_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def md_plain(value: object) -> str:
    """Markdown written by the report (``tm``) as plain text, for slides and HTML:
    backslash escapes resolved, ``**``/``*`` emphasis markers removed."""
    s = str(value).replace(_RAW_HYPHEN, "-")
    s = re.sub(r"(?<!\\)\*\*", "", s)
    s = re.sub(r"(?<![\\\w])\*(?=\S)|(?<=\S)(?<!\\)\*(?!\w)", "", s)
    return _MD_UNESCAPE.sub(r"\1", s).replace(_ZWSP, "")
