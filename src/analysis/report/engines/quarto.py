"""The Quarto engine: ``quarto render report.ipynb --to <format>`` on the executed notebooks.

The executed notebooks (already localized) are joined into one notebook whose first cell
is a raw YAML front matter (title, language, fonts, ``execute: echo: false``); Quarto
renders it without re-executing (an ``.ipynb`` input keeps its outputs) and honours the
same ``#|`` cell options and ``remove-cell`` tags as the builtin engine. The output
format is ``typst`` (Quarto's bundled Typst gives a PDF without a TeX installation);
set ``CCPM_QUARTO_FORMAT=pdf`` to go through LaTeX instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import yaml

from ..fonts import report_fonts
from . import ENGINES, RenderError, RenderMeta

__all__ = ["QuartoEngine", "combined_notebook"]


def combined_notebook(notebooks: list[Path], meta: RenderMeta, fonts: list[str]):
    """One notebook: a raw front-matter cell, then every cell of ``notebooks`` in order."""
    front = {
        "title": meta.title,
        "subtitle": meta.subtitle,
        "date": meta.date,
        "lang": meta.lang,
        "execute": {"echo": False, "warning": False},
        "mainfont": fonts[-1] if meta.lang == "zh-CN" else fonts[0],
        "fig-cap-location": "bottom",
        "tbl-cap-location": "top",
    }
    out = nbformat.v4.new_notebook()
    out.cells.append(nbformat.v4.new_raw_cell("---\n" + yaml.safe_dump(
        front, allow_unicode=True, sort_keys=False) + "---"))
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags or "injected-parameters" in tags:
                continue
            out.cells.append(cell)
        for key in ("kernelspec", "language_info"):
            if key in nb.metadata:
                out.metadata[key] = nb.metadata[key]
    return out


class QuartoEngine:
    """Quarto, when the ``quarto`` command is on PATH."""

    name = "quarto"
    requirement = "the quarto command on PATH (https://quarto.org)"

    @staticmethod
    def executable() -> str | None:
        return shutil.which(os.environ.get("CCPM_QUARTO", "quarto"))

    def available(self) -> bool:
        return self.executable() is not None

    def render(self, notebooks: list[Path], pdf: Path, *, meta: RenderMeta,
               build_dir: Path) -> Path:
        exe = self.executable()
        if exe is None:
            raise RenderError(f"quarto engine: {self.requirement}")
        build_dir = Path(build_dir)
        fonts = report_fonts(meta.lang)
        nb = combined_notebook([Path(n) for n in notebooks], meta, fonts)
        src = build_dir / "report.ipynb"
        nbformat.write(nb, src)
        fmt = os.environ.get("CCPM_QUARTO_FORMAT", "typst")
        cmd = [exe, "render", src.name, "--to", fmt, "--output", "report-quarto.pdf"]
        try:
            res = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True,
                                 timeout=1800, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RenderError(f"quarto could not run: {exc}") from None
        (build_dir / "quarto.log").write_text(res.stdout + res.stderr, encoding="utf-8")
        made = build_dir / "report-quarto.pdf"
        if res.returncode != 0 or not made.is_file():
            last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RenderError(
                f"quarto render failed (exit {res.returncode}): {last[0]} "
                f"(log: {build_dir / 'quarto.log'})")
        pdf = Path(pdf)
        pdf.parent.mkdir(parents=True, exist_ok=True)
        tmp = pdf.with_name(pdf.name + ".part")
        shutil.copyfile(made, tmp)
        tmp.replace(pdf)
        return pdf


ENGINES.register("quarto")(QuartoEngine())
