"""The report's output primitives: Markdown, tables and figures as the notebooks display
them, and the one figure style.

A notebook cell displays these objects; the converter (:mod:`analysis.report.convert`)
copies their Markdown (``text/markdown``) and PNG outputs into the document, so what a
block writes is what the PDF shows. Every cell and header of a :class:`Table` is literal
text (:func:`analysis.report.literal.md_text`), headers are translated through the ``col.*``
keys; :func:`heading` and :func:`text` take a message-catalog key, never prose.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import i18n
from .i18n import tm
from .literal import MdRaw, html_text, md_plain, md_text

__all__ = ["Markdown", "MdCell", "Table", "setup", "figure", "heading", "text", "bullets",
           "table"]


class Markdown:
    """Markdown shown as such in Jupyter and copied verbatim into the report."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class MdCell:
    """A table cell written in Markdown by the report itself (e.g. a bold total): pandas
    keeps it as an object (a ``str`` subclass would be turned into plain ``str``)."""

    __slots__ = ("md",)

    def __init__(self, md: str) -> None:
        self.md = md

    def __str__(self) -> str:
        return md_plain(self.md)


def _fmt(v, digits: int) -> str:
    if isinstance(v, MdCell):
        return MdRaw(v.md)
    if isinstance(v, MdRaw):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if v != 0 and abs(v) < 10 ** (-digits):
            return f"{v:.1e}"
        if float(v).is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:,.{digits}f}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.strftime("%Y-%m-%d %H:%M")
    return str(v)


class Table:
    """A DataFrame rendered as a Pandoc pipe table (markdown) and HTML, headers translated."""

    def __init__(self, df: pd.DataFrame, lang: str = "en", *, digits: int = 3,
                 caption: str | None = None, before: str = "", after: str = "",
                 widths: dict[str, float] | None = None) -> None:
        self.df = df
        self.lang = lang
        self.digits = digits
        self.caption = caption
        self.before = before  # Markdown written by the report (tm), shown above / below
        self.after = after
        # relative column widths (column -> weight, default 1): Pandoc reads them from the
        # dashes under the header of a table wider than a text line; with equal dashes a
        # table of nine columns gave its free-text column a ninth of the page
        self.widths = widths or {}

    def _cells(self) -> tuple[list[str], list[list[str]], list[bool]]:
        shown = i18n.translate_columns(self.df, self.lang)
        header = [str(c) for c in shown.columns]
        rows = [[_fmt(v, self.digits) for v in row] for row in shown.itertuples(index=False)]
        numeric = [pd.api.types.is_numeric_dtype(self.df[c]) and
                   not pd.api.types.is_bool_dtype(self.df[c]) for c in self.df.columns]
        return header, rows, numeric

    def _repr_markdown_(self) -> str:
        header, rows, numeric = self._cells()

        esc = md_text  # every cell and header is literal text (names are hostile)

        dashes = ["-" * max(2, round(2 * float(self.widths.get(c, 1)))) for c in self.df.columns]
        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join(d + ":" if n else ":" + d for d, n in zip(dashes, numeric,
                                                                     strict=True)) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        out = "\n".join(lines)
        if self.caption:
            out += f"\n\n: {md_text(self.caption)}"
        if self.before:
            out = f"{self.before}\n\n{out}"
        if self.after:
            out = f"{out}\n\n{self.after}"
        return out

    def _repr_html_(self) -> str:
        header, rows, _ = self._cells()
        th = "".join(f"<th>{html_text(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html_text(_unmark(c))}</td>" for c in r)
                       + "</tr>" for r in rows)
        cap = f"<caption>{html_text(self.caption)}</caption>" if self.caption else ""
        pre = f"<p>{html_text(md_plain(self.before))}</p>" if self.before else ""
        post = f"<p>{html_text(md_plain(self.after))}</p>" if self.after else ""
        return (f"{pre}<table>{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
                f"{post}")


def _unmark(cell: str) -> str:
    """A cell's text without the report's own Markdown (``MdRaw`` bold), for HTML."""
    return md_plain(cell) if isinstance(cell, MdRaw) else cell


def setup(lang: str = "en") -> None:
    """Figure style and fonts for ``lang`` (CJK for zh-CN); call once per notebook."""
    import matplotlib as mpl
    import seaborn as sns

    from .fonts import use_matplotlib_fonts

    i18n.check_lang(lang)
    sns.set_theme(style="whitegrid", context="notebook")
    use_matplotlib_fonts(lang)
    mpl.rcParams["figure.dpi"] = 110
    mpl.rcParams["savefig.dpi"] = 150
    mpl.rcParams["figure.figsize"] = (7.5, 3.6)
    mpl.rcParams["text.parse_math"] = False  # "$x$" in a name is drawn as typed
    mpl.rcParams["text.usetex"] = False


def figure(fig):
    """A matplotlib figure (or Axes, or seaborn grid) as a PNG display object, closed after."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    if fig is None:
        return Markdown("")
    if isinstance(fig, (Image, Markdown)):  # already rendered
        return fig
    if isinstance(fig, (list, tuple)):  # (fig, ax) pairs
        fig = fig[0]
    fig = getattr(fig, "figure", fig)  # Axes and seaborn grids carry their figure
    fig = getattr(fig, "figure", fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Image(data=buf.getvalue(), format="png")


def heading(key: str, lang: str = "en", level: int = 1, **fields) -> Markdown:
    """A translated markdown heading."""
    return Markdown("#" * level + " " + tm(key, lang, **fields))


def text(key: str, lang: str = "en", **fields) -> Markdown:
    """A translated paragraph (fields shown literally)."""
    return Markdown(tm(key, lang, **fields))


def bullets(items: list[str]) -> Markdown:
    """A markdown bullet list."""
    return Markdown("\n".join(f"- {s}" for s in items) if items else "")


def table(df: pd.DataFrame, lang: str = "en", *, digits: int = 3, caption: str | None = None
          ) -> Table:
    """``df`` as a report table with translated headers."""
    return Table(df, lang, digits=digits, caption=caption)
