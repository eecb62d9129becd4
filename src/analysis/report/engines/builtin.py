"""The builtin engine: executed notebooks -> markdown -> Pandoc (Typst writer) -> Typst -> PDF.

Needs only PyPI packages (``pypandoc-binary`` bundles Pandoc, ``typst`` bundles the Typst
compiler). Fonts come from :func:`analysis.report.fonts.font_dirs`; a zh-CN report
without a CJK font stops with a clear message.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from ..convert import notebook_to_markdown
from ..fonts import font_dirs, report_fonts
from ..literal import typst_str
from . import ENGINES, RenderError, RenderMeta

__all__ = ["BuiltinEngine", "markdown_to_typst", "TEMPLATE"]

TEMPLATE = "ccpm-report.typ"


def _typst_str(value: object) -> str:
    return typst_str(value)


def markdown_to_typst(markdown: str) -> str:
    """Pandoc markdown -> Typst markup (body only)."""
    import pypandoc

    try:
        return pypandoc.convert_text(
            markdown, "typst", format="markdown+pipe_tables+grid_tables+implicit_figures",
            extra_args=["--wrap=preserve"],
        )
    except (RuntimeError, OSError) as exc:
        raise RenderError(f"pandoc failed: {' '.join(str(exc).split())[:300]}") from None


class BuiltinEngine:
    """papermill output -> Pandoc -> Typst -> PDF."""

    name = "builtin"
    requirement = "the pypandoc-binary and typst Python packages"

    @staticmethod
    def available() -> bool:
        try:
            import pypandoc  # noqa: F401
            import typst  # noqa: F401
        except ImportError:
            return False
        return True

    def to_markdown(self, notebooks: list[Path], build_dir: Path) -> tuple[str, dict]:
        parts, figures = [], {}
        for nb in notebooks:
            conv = notebook_to_markdown(nb, build_dir / "figures", rel_to=build_dir)
            parts.append(conv.markdown)
            figures.update(conv.figures)
        # each notebook (section) starts on a new page
        brk = "\n\n```{=typst}\n#pagebreak(weak: true)\n```\n\n"
        return brk.join(parts), figures

    def render(self, notebooks: list[Path], pdf: Path, *, meta: RenderMeta,
               build_dir: Path) -> Path:
        import typst

        build_dir = Path(build_dir)
        fonts = report_fonts(meta.lang)  # ConfigError when zh-CN has no CJK font
        markdown, _ = self.to_markdown([Path(n) for n in notebooks], build_dir)
        (build_dir / "report.md").write_text(markdown, encoding="utf-8")
        body = markdown_to_typst(markdown)
        tpl = resources.files("analysis.report").joinpath("templates", TEMPLATE)
        shutil.copyfile(str(tpl), build_dir / TEMPLATE)
        lang, region = ("zh", "cn") if meta.lang == "zh-CN" else (meta.lang.split("-")[0], None)
        head = (
            f'#import "{TEMPLATE}": report, horizontalrule\n'
            "#show: report.with(\n"
            f"  title: {_typst_str(meta.title)},\n"
            f"  subtitle: {_typst_str(meta.subtitle)},\n"
            f"  date: {_typst_str(meta.date)},\n"
            f"  source: {_typst_str(meta.source)},\n"
            f"  period: {_typst_str(meta.period)},\n"
            f"  marking: {_typst_str(meta.marking)},\n"
            f"  lang: {_typst_str(lang)},\n"
            f"  region: {_typst_str(region) if region else 'none'},\n"
            f"  fonts: ({', '.join(_typst_str(f) for f in fonts)},),\n"
            f"  page-label: {_typst_str(meta.page_label)},\n"
            ")\n\n"
        )
        main = build_dir / "report.typ"
        main.write_text(head + body, encoding="utf-8")
        pdf = Path(pdf)
        pdf.parent.mkdir(parents=True, exist_ok=True)
        tmp = pdf.with_name(pdf.name + ".part")
        try:
            typst.compile(str(main), output=str(tmp), root=str(build_dir), format="pdf",
                          font_paths=font_dirs())
        except typst.TypstError as exc:
            msg = " ".join(str(getattr(exc, "message", exc)).split())[:300]
            raise RenderError(f"typst failed on {main}: {msg}") from None
        except RuntimeError as exc:
            raise RenderError(f"typst failed on {main}: {' '.join(str(exc).split())[:300]}") from None
        tmp.replace(pdf)
        return pdf


ENGINES.register("builtin")(BuiltinEngine())
