"""The headline-findings slide deck (python-pptx).

Built from what the executed notebooks left in the build folder: ``headlines.json``
(the management summary's findings), ``page1.json`` (the decision, the gaming finding
naming agents, what to do next; :func:`analysis.report.present.findings.page_one`) and figures
extracted by label (``figures/fig-*.png``). Slides: title, key findings, the decision with
the recommendation chart, signs of gaming naming the agents, model agreement, gaming
checks, data; a slide whose figure was not produced says so instead of showing an empty
frame.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .i18n import t
from .inputs import input_groups
from .literal import plain

__all__ = ["build_deck", "DECK_SLIDES"]

#: Slide titles (i18n keys) in order, after the title slide.
DECK_SLIDES = ("deck.findings", "page1.decision.title", "page1.gaming.title", "deck.agreement",
               "deck.gaming", "deck.data")

_CJK_FONT = "Noto Sans CJK SC"


def _style_runs(shape, lang: str, size: int | None = None) -> None:
    from pptx.oxml.ns import qn
    from pptx.util import Pt

    if not shape.has_text_frame:
        return
    for para in shape.text_frame.paragraphs:
        for run in para.runs:
            if size:
                run.font.size = Pt(size)
            if lang == "zh-CN":
                rpr = run._r.get_or_add_rPr()
                for tag in ("a:latin", "a:ea"):
                    el = rpr.find(qn(tag))
                    if el is None:
                        el = rpr.makeelement(qn(tag), {})
                        rpr.append(el)
                    el.set("typeface", _CJK_FONT)


def _bullets(slide, items: list[str], lang: str, size: int = 18) -> None:
    body = slide.placeholders[1]
    tf = body.text_frame
    tf.clear()
    for i, item in enumerate(items):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.text = item  # plain text (headlines.json, page1.json): names as typed
    tf.word_wrap = True
    _style_runs(body, lang, size)


def _add_slide(prs, layout: int):
    """A slide of the default template's ``layout``, its placeholders widened to the 16:9
    slide (the template's are laid out for 4:3: content sat in the left two thirds)."""
    from pptx.util import Inches

    slide = prs.slides.add_slide(prs.slide_layouts[layout])
    for ph in slide.placeholders:
        ph.left, ph.width = Inches(0.5), prs.slide_width - Inches(1)
    return slide


def _note_height(note: str, width_in: float, size: int, lang: str) -> float:
    """Inches a note of ``size`` points needs in a box ``width_in`` wide (an estimate:
    average Latin glyphs half an em wide, CJK ones a full em)."""
    import math

    per_line = width_in * 72 / (size * (1.0 if lang == "zh-CN" else 0.5))
    lines = sum(max(1, math.ceil(len(part) / per_line)) for part in note.split("\n"))
    return lines * size * 1.25 / 72 + 0.2


def _picture_slide(prs, title: str, image: Path | None, note: str, lang: str) -> None:
    from pptx.util import Emu, Inches

    slide = _add_slide(prs, 5)  # title only
    slide.shapes.title.text = title
    _style_runs(slide.shapes.title, lang)
    width = prs.slide_width - Inches(1)
    # the note gets the height its text needs (a 600-character decision in a 0.6-inch box
    # ran off the slide), the picture what is left
    note_h = Inches(max(0.6, _note_height(note, width / 914400, 12, lang))) if note else 0
    if image is not None and image.is_file():
        max_w = width
        max_h = prs.slide_height - Inches(1.5) - note_h - Inches(0.3)
        pic = slide.shapes.add_picture(str(image), Inches(0.5), Inches(1.5))
        scale = min(max_w / pic.width, max_h / pic.height, 1.0)
        pic.width, pic.height = Emu(int(pic.width * scale)), Emu(int(pic.height * scale))
        pic.left = int((prs.slide_width - pic.width) / 2)
    if note:
        box = slide.shapes.add_textbox(Inches(0.5), prs.slide_height - note_h - Inches(0.2),
                                       width, note_h)
        box.text_frame.text = note
        box.text_frame.word_wrap = True
        _style_runs(box, lang, 12)


def build_deck(build_dir: str | os.PathLike, out: str | os.PathLike, *, lang: str = "en",
               subtitle: str = "", manifest: dict | None = None) -> Path:
    """Write the deck to ``out`` (a ``.pptx``) from the build folder; return ``out``."""
    from pptx import Presentation
    from pptx.util import Inches

    build_dir, out = Path(build_dir), Path(out)
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)

    slide = _add_slide(prs, 0)
    slide.shapes.title.text = t("deck.title", lang)
    slide.placeholders[1].text = subtitle
    _style_runs(slide.shapes.title, lang, 36)
    _style_runs(slide.placeholders[1], lang, 18)

    hl = build_dir / "headlines.json"
    findings = json.loads(hl.read_text(encoding="utf-8"))["findings"] if hl.is_file() else []
    slide = _add_slide(prs, 1)
    slide.shapes.title.text = t("deck.findings", lang)
    _style_runs(slide.shapes.title, lang)
    _bullets(slide, findings + [t("summary.caveat", lang)], lang)

    p1f = build_dir / "page1.json"
    p1 = json.loads(p1f.read_text(encoding="utf-8")) if p1f.is_file() else {}
    figs = build_dir / "figures"
    rec_fig = figs / "fig-summary-recommendation.png"
    decided = t("punct.sentence", lang).join(p1.get("decision", []))
    _picture_slide(prs, t("page1.decision.title", lang), rec_fig if rec_fig.is_file() else None,
                   decided or t("common.unavailable", lang, what="analysis.recommend"), lang)
    slide = _add_slide(prs, 1)
    slide.shapes.title.text = t("page1.gaming.title", lang)
    _style_runs(slide.shapes.title, lang)
    _bullets(slide, (p1.get("gaming", []) + p1.get("next", [])[:1]) or ["–"], lang, 16)

    agree = figs / "fig-agreement.png"
    _picture_slide(prs, t("deck.agreement", lang), agree if agree.is_file() else None,
                   "" if agree.is_file() else t("common.unavailable", lang,
                                                 what="analysis.compare"), lang)
    flags = figs / "fig-flags.png"
    _picture_slide(prs, t("deck.gaming", lang), flags if flags.is_file() else None,
                   t("summary.caveat", lang) if flags.is_file()
                   else t("common.unavailable", lang, what="analysis.gaming"), lang)

    slide = _add_slide(prs, 1)
    slide.shapes.title.text = t("deck.data", lang)
    _style_runs(slide.shapes.title, lang)
    items = []
    for kind, recs in input_groups(manifest or {}):
        n = recs[0].get("rows_read")
        rows = t("deck.input.rows", lang, n=f"{n:,}") if n else ""
        if len(recs) == 1:  # one file: its checksum identifies it
            what = t("deck.input.file", lang, file=plain(recs[0]["file"]),
                     sha=recs[0]["sha256"][:12])
        else:  # the counts are over all the files (one load); checksums are in the report
            what = t("deck.input.files", lang, n=len(recs), first=plain(recs[0]["file"]),
                     last=plain(recs[-1]["file"]))
        items.append(f"{t('input.' + kind, lang)}{t('punct.colon', lang)}{what}"
                     + (f"{t('punct.list', lang)}{rows}" if rows else ""))
    if (manifest or {}).get("pseudonymized"):
        items.append(t("dq.pseudonymized", lang))
    if (manifest or {}).get("anonymous_bank"):
        items.append(t("dq.acknowledgement.anonymous_bank", lang))
    _bullets(slide, items or ["–"], lang, 14)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    prs.save(str(tmp))
    tmp.replace(out)
    return out
