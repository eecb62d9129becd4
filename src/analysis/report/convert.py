"""Executed notebook -> Pandoc markdown, honouring Quarto cell options.

Cell options are ``#| key: value`` lines at the top of a code cell (YAML values):

- ``echo`` (default **false** in reports): show the code;
- ``output: false`` / ``include: false``: drop the outputs / the whole cell;
- ``label: fig-...`` and ``fig-cap``: the figure's cross-reference label and caption;
- ``out-width`` (e.g. ``60%``): the figure's width on the page;
- cell tags ``remove-cell``, ``remove-input``, ``remove-output`` (as in Quarto and
  Jupyter Book); ``parameters`` and ``injected-parameters`` cells are never shown.

Outputs become markdown: ``text/markdown`` as is, PNG images written to ``fig_dir`` and
linked, HTML tables (DataFrames) converted to Pandoc tables, plain text as a verbatim
block. Standard error and warnings are left out.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

__all__ = ["cell_options", "notebook_to_markdown", "Converted"]

_OPT = re.compile(r"^#\|\s?(.*)$")
_HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}


def cell_options(source: str) -> tuple[dict, str]:
    """``(options, code)``: the ``#|`` option lines of a cell parsed as YAML, and the rest."""
    lines = source.splitlines()
    opts_lines: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPT.match(lines[i])
        if not m:
            break
        opts_lines.append(m.group(1))
        i += 1
    opts: dict = {}
    if opts_lines:
        try:
            loaded = yaml.safe_load("\n".join(opts_lines))
            if isinstance(loaded, dict):
                opts = loaded
        except yaml.YAMLError:
            opts = {}
    return opts, "\n".join(lines[i:]).strip("\n")


@dataclass
class Converted:
    """A notebook as markdown, and the figures it wrote (``label -> path``)."""

    markdown: str
    figures: dict[str, Path] = field(default_factory=dict)


def _html_table_to_markdown(html: str) -> str:
    import pypandoc

    return pypandoc.convert_text(html, "markdown-raw_html-native_divs-native_spans",
                                 format="html", extra_args=["--wrap=none"])


def _as_text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def notebook_to_markdown(
    notebook: str | os.PathLike,
    fig_dir: str | os.PathLike,
    *,
    rel_to: str | os.PathLike | None = None,
    echo: bool = False,
    fig_width: str = "95%",
) -> Converted:
    """Convert an executed notebook to Pandoc markdown.

    Parameters
    ----------
    notebook : path
        An executed ``.ipynb``.
    fig_dir : path
        Where images are written (``<label>.png`` or ``<notebook>-<cell>-<k>.png``).
    rel_to : path, optional
        Image links are written relative to this folder (the Typst root).
    echo : bool
        Default for cells without an ``echo`` option (reports: no code).
    """
    nb_path = Path(notebook)
    nb = nbformat.read(nb_path, as_version=4)
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    base = Path(rel_to) if rel_to else fig_dir.parent
    parts: list[str] = []
    figures: dict[str, Path] = {}
    for ci, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _HIDDEN_TAGS:
            continue
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        if cell.cell_type != "code":
            continue
        opts, code = cell_options(cell.source)
        if opts.get("include") is False:
            continue
        if opts.get("echo", echo) is True and "remove-input" not in tags and code:
            parts.append(f"```python\n{code}\n```")
        if opts.get("output") is False or "remove-output" in tags:
            continue
        label = opts.get("label")
        cap = opts.get("fig-cap")
        n_img = 0
        for oi, out in enumerate(cell.get("outputs", [])):
            otype = out.get("output_type")
            if otype == "stream":
                if out.get("name") == "stdout" and _as_text(out.get("text", "")).strip():
                    parts.append("```\n" + _as_text(out["text"]).rstrip() + "\n```")
                continue
            if otype not in ("display_data", "execute_result"):
                continue
            data = out.get("data", {})
            if any(k.startswith("application/vnd.jupyter.widget") for k in data):
                continue  # progress bars and other widgets are not report content
            if "image/png" in data:
                n_img += 1
                if label and n_img == 1:
                    name = str(label)
                elif label:
                    name = f"{label}-{n_img}"
                else:
                    name = f"{nb_path.stem}-{ci}-{oi}"
                img = fig_dir / f"{name}.png"
                img.write_bytes(base64.b64decode(_as_text(data["image/png"])))
                figures[name] = img
                rel = os.path.relpath(img, base).replace(os.sep, "/")
                attrs = [f"width={opts.get('out-width', fig_width)}"]
                if label and n_img == 1 and str(label).startswith("fig-"):
                    attrs.insert(0, f"#{label}")
                caption = str(cap) if cap and n_img == 1 else ""
                if caption:
                    parts.append(f"![{caption}]({rel}){{{' '.join(attrs)}}}")
                else:  # no caption: an inline image, not a numbered figure
                    parts.append(f"![]({rel}){{{' '.join(attrs)}}}\\")
            elif "text/markdown" in data:
                parts.append(_as_text(data["text/markdown"]))
            elif "text/html" in data and "<table" in _as_text(data["text/html"]):
                parts.append(_html_table_to_markdown(_as_text(data["text/html"])))
            elif "text/plain" in data:
                text = _as_text(data["text/plain"])
                if not re.match(r"^<[\w.]+ (at|object|with|size)\b", text):
                    parts.append("```\n" + text.rstrip() + "\n```")
    return Converted("\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n", figures)
