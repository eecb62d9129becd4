"""Names, numbers and notes in the report's language: the small words every section uses.

Model, criterion, metric and check names, joining punctuation, number formats, the plain
words for the loader's and the gaming runner's reason codes, figure labels, and the note
shown for a missing library piece. Every text comes from the message catalogs
(:mod:`analysis.report.i18n`); a code without a catalog entry is shown as given.
"""

from __future__ import annotations

import pandas as pd

from .. import i18n
from ..blocks import Markdown
from ..i18n import t, tm
from ..results import PIECES

__all__ = ["model_label", "crit_label", "metric_name", "axis_label", "punct", "pct", "num",
           "pct0", "pct1", "num2", "interval", "reason_text", "label_checks", "effect_text",
           "skip_reason_text", "library_text", "figure_labels", "unavailable"]


def model_label(model: str, lang: str) -> str:
    """A model's name in ``lang`` (``bsc`` -> "Balanced scorecard"); unknown ones as given."""
    return i18n.STRINGS[lang].get(f"model.{model}", str(model))


def crit_label(c: str, lang: str) -> str:
    """A recommendation criterion's name in ``lang`` (Markdown); unknown ones as given."""
    key = f"crit.{c}"
    return tm(key, lang) if key in i18n.STRINGS[lang] else c


def metric_name(metric: str, lang: str) -> str:
    """A metric's human name (``aht_s`` -> "Handle time (s)")."""
    strings = i18n.STRINGS[lang]
    for k in (f"axis.{metric}", f"field.{metric}", f"metric.{metric}"):
        if k in strings:
            return strings[k]
    return metric


def axis_label(metric: str, lang: str) -> str:
    """A measure's axis text (``axis.*``), for figures and trade-off tables."""
    key = f"axis.{metric}"
    return t(key, lang) if key in i18n.STRINGS[lang] else metric


def punct(kind: str, lang: str) -> str:
    """Joining punctuation (``kind``: sentence, list, colon, pairs) from the catalog
    (``punct.*``): Chinese runs sentences together and lists with 、."""
    return t(f"punct.{kind}", lang)


def pct(v) -> str:
    """A share as a percentage with one decimal ("–" when missing)."""
    return "–" if v is None or pd.isna(v) else f"{100 * float(v):.1f}%"


def num(v, digits: int) -> str:
    """A number with thousands separators and ``digits`` decimals ("–" when missing)."""
    return "–" if v is None or pd.isna(v) else f"{float(v):,.{digits}f}"


def pct0(v) -> str:
    """A share as a whole percentage ("–" when missing)."""
    return "–" if v is None or pd.isna(v) else f"{100 * float(v):.0f}%"


def pct1(v) -> str:
    """A share as a percentage with one decimal."""
    return f"{100 * float(v):.1f}%"


def num2(v) -> str:
    """A number with two decimals ("–" when missing)."""
    return "–" if v is None or pd.isna(v) else f"{float(v):.2f}"


def interval(lo, hi) -> str:
    """An interval as ``[lo, hi]`` with two decimals ("–" when missing)."""
    return "–" if lo is None or pd.isna(lo) or pd.isna(hi) else f"[{lo:.2f}, {hi:.2f}]"


def reason_text(reason: str, lang: str = "en") -> str:
    """A quarantine reason code in plain words (``missing_agent_id`` -> "answered call
    without an agent"); ``unparseable_<column>`` and friends name the column."""
    strings = i18n.STRINGS[lang]
    if f"qreason.{reason}" in strings:
        return t(f"qreason.{reason}", lang)
    for pre in ("unparseable", "negative", "absurd"):
        if reason.startswith(pre + "_"):
            col = reason[len(pre) + 1:]
            return t(f"qreason.{pre}", lang, column=strings.get(f"field.{col}", col))
    return reason


def label_checks(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``df`` with its ``check`` named in ``lang`` and a whole-window ``period`` in words."""
    names = i18n.labels(lang, "check")
    df = df.assign(check=df["check"].astype(str).map(lambda c: names.get(c, c)))
    if "period" in df.columns:  # a test over the whole window
        df["period"] = df["period"].astype(str).replace({"all": tm("doc.all_periods", lang)})
    return df


def effect_text(effect, check: str, lang: str) -> str:
    """An effect with its (short) unit: ``+67.5%``, ``+12.0 per 100 calls``."""
    if effect is None or pd.isna(effect):
        return "–"
    unit = i18n.STRINGS[lang].get(f"unitshort.{check}", "")
    return f"{float(effect):+.1f}{unit}"


#: the gaming runner's reasons for not running a check (English data) -> catalog keys
_SKIP_PATTERNS = (
    ("no change point", "skip.no_changepoint"),
    ("is zero on every handled call", "skip.zero_column"),
    ("360 ratings", "skip.no_ratings"),
    ("no okr", "skip.no_okr"),
    ("no key result with per-agent targets", "skip.no_kr_targets"),
    ("enough calls in two periods", "skip.two_periods"),
    ("csat is missing", "skip.no_csat"),
    ("'transferred'", "skip.no_transfers"),
)


def skip_reason_text(reason: str, lang: str = "en") -> str:
    """Why a check did not run, in ``lang`` and in words (no column names); an unknown
    reason is kept as the runner wrote it in English, summarised in other languages."""
    low = reason.lower()
    for pattern, key in _SKIP_PATTERNS:
        if pattern in low:
            col = reason.split(" ", 1)[0]
            return t(key, lang, column=i18n.STRINGS[lang].get(f"field.{col}", col))
    return reason if i18n.reads_source(lang) else t("skip.other", lang)


def library_text(text: str, lang: str) -> str:
    """Free text the library wrote in English (why a model or criterion could not be
    scored, a what-if rule without a catalog entry): as written in a report that reads it
    (:func:`analysis.report.i18n.reads_source`), else the catalog's ``common.reason_other``
    (the text itself stays in the run's record)."""
    return text if i18n.reads_source(lang) else t("common.reason_other", lang)


def figure_labels(kind: str, lang: str = "en") -> dict:
    """``labels`` for :mod:`analysis.figures` (``kind``: agreement, scores,
    gaming_sensitivity): titles, axis texts and model names in ``lang``."""
    lab = dict(i18n.labels(lang, "model"))
    lab["title"] = t(f"fig.{kind}", lang)
    prefix = f"figlab.{kind}."
    lab.update({k[len(prefix):]: v for k, v in i18n.STRINGS[lang].items()
                if k.startswith(prefix)})
    return lab


def unavailable(piece: str, lang: str = "en") -> Markdown:
    """The note shown in place of a section whose library piece is missing."""
    return Markdown("> " + t("common.unavailable", lang, what=f"`{PIECES.get(piece, piece)}`"))
