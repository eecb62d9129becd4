"""One spelling per id: Unicode NFKC, zero-width characters removed, whitespace trimmed.

Ids typed by people or exported by different systems arrive as ``K1``, ``K\\u200b1``
(a zero-width space), ``Ｋ1`` (a full-width letter) or ``" K1 "``: one caller or agent,
four spellings. Every id column is normalised before duplicate checks and before it is
written, and the pseudonymizer applies the same function, so one id gets one pseudonym.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

__all__ = ["normalize_id", "normalize_id_series", "ID_COLUMNS"]

#: Contract columns holding ids (normalised by the loader).
ID_COLUMNS = frozenset({"call_id", "agent_id", "customer_id", "supervisor_id", "ratee_id",
                        "rater_id"})

# zero-width and invisible formatting characters that people never mean as part of an id
_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def normalize_id(value):
    """The canonical spelling of one id.

    Parameters
    ----------
    value : str, None or any scalar
        The id as read. Non-strings are returned unchanged (``None``, NaN, numbers).

    Returns
    -------
    str or None
        NFKC-normalised text (full-width and compatibility forms folded: ``Ｋ1`` -> ``K1``),
        with zero-width / invisible format characters removed and surrounding whitespace
        trimmed; ``None`` when nothing is left.

    Examples
    --------
    >>> normalize_id("K\\u200b1") == normalize_id("Ｋ1") == normalize_id(" K1 ") == "K1"
    True
    """
    if not isinstance(value, str):
        return value
    if value.isascii():
        out = value.strip()
    else:
        out = _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", value)).strip()
    return out or None


def normalize_id_series(s: pd.Series) -> pd.Series:
    """:func:`normalize_id` on a text Series already trimmed by the loader (only cells
    with non-ASCII characters take the slow path; one left empty becomes missing)."""
    special = s.str.contains(_NON_ASCII.pattern, regex=True).fillna(False).to_numpy(dtype=bool)
    if not special.any():
        return s
    fixed = [normalize_id(v) for v in s[special].tolist()]
    out = s.copy()
    out[special] = pd.Series(fixed, index=s.index[special], dtype="str")
    return out
