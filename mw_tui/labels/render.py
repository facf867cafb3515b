"""Drawing a laid-out label: a PDF page the size of the disc (reportlab), an image for
previews and for robots that print pictures (Pillow), plain text for the terminal."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from mw_tui.labels.content import LabelContent
from mw_tui.labels.fonts import LabelError, font_name, font_path
from mw_tui.labels.layout import MM, Layout, lines_of, tidy
from mw_tui.labels.template import Template

GUIDE_GREY = 0.75


def render_pdf(layout: Layout, path: Path | str) -> Path:
    """One PDF page of the disc's size (its outer diameter square), centred on the disc."""
    dest = Path(path)
    size = layout.geometry.outer_mm * mm
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        c = Canvas(str(tmp), pagesize=(size, size), pageCompression=1)
        c.setTitle("Disc label")
        c.setCreator("mw-tui")
        c.setAuthor("mw-tui")
        c.setSubject("Disc label")
        c.translate(size / 2, size / 2)
        if layout.guides:
            c.setStrokeGray(GUIDE_GREY)
            c.setLineWidth(0.3)
            c.circle(0, 0, layout.geometry.outer_mm / 2 * mm)
            c.circle(0, 0, layout.geometry.hole_mm / 2 * mm)
        c.setFillGray(0)
        for t in layout.texts:
            c.setFont(font_name(t.bold), t.size)
            c.drawCentredString(t.x * mm, t.y * mm, t.text)
        b = layout.barcode
        if b is not None:
            for start, width in b.bars:
                c.rect((b.x + start) * mm, b.y * mm, width * mm, b.height * mm,
                       stroke=0, fill=1)
        c.showPage()
        c.save()
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LabelError(f"The label cannot be written to {dest} ({exc.strerror or exc}).") \
            from exc
    return dest


def render_image(layout: Layout, path: Path | str, dpi: int = 300) -> Path:
    """The label as a picture of the disc (PNG, or JPEG for a .jpg/.jpeg path), white
    around the disc, `dpi` dots per inch."""
    dest = Path(path)
    fmt = "JPEG" if dest.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    image = draw_image(layout, dpi)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        image.save(tmp, fmt, dpi=(dpi, dpi), **({"quality": 95} if fmt == "JPEG" else {}))
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LabelError(f"The label cannot be written to {dest} ({exc.strerror or exc}).") \
            from exc
    return dest


def draw_image(layout: Layout, dpi: int = 300) -> Image.Image:
    k = dpi / 25.4  # pixels per mm
    radius = layout.geometry.outer_mm / 2
    side = round(layout.geometry.outer_mm * k)
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x + radius) * k, (radius - y) * k

    if layout.guides:
        grey = round(255 * GUIDE_GREY)
        for r in (radius, layout.geometry.hole_mm / 2):
            (x0, y0), (x1, y1) = px(-r, r), px(r, -r)
            draw.ellipse((x0, y0, x1 - 1, y1 - 1), outline=(grey, grey, grey),
                         width=max(1, round(0.3 / MM * k)))
    fonts: dict[tuple[bool, float], ImageFont.FreeTypeFont] = {}
    for t in layout.texts:
        key = (t.bold, t.size)
        if key not in fonts:
            fonts[key] = ImageFont.truetype(str(font_path(t.bold)), t.size / 72 * dpi)
        draw.text(px(t.x, t.y), t.text, font=fonts[key], fill="black", anchor="ms")
    b = layout.barcode
    if b is not None:
        top = round(px(0, b.y + b.height)[1])
        bottom = round(px(0, b.y)[1])
        for start, width in b.bars:
            left = round(px(b.x + start, 0)[0])
            right = round(px(b.x + start + width, 0)[0])
            draw.rectangle((left, top, right - 1, bottom - 1), fill="black")
    return image


def render_text(content: LabelContent, template: Template, width: int = 44) -> str:
    """The label's lines as text, top to bottom, centred in `width` columns (the review
    screen's preview): what the printed label says, without the fitting."""
    rows = [(y, text) for text, _x, y, _size, _bold in lines_of(content, template)]
    if template.barcode is not None and content.job_id:
        rows.append((template.barcode.y + template.barcode.height / 2,
                     f"||||| {tidy(content.job_id)} |||||"))
    out = []
    for _y, text in sorted(rows, key=lambda r: -r[0]):
        if len(text) > width:
            text = text[:max(0, width - 1)].rstrip() + "…"
        out.append(text.center(width).rstrip())
    return "\n".join(out)
