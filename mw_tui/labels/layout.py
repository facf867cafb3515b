"""Placing a label's content on the disc: merge the template, fit every line into the
printable ring (smaller type, then cut with an ellipsis), lay out the barcode.

Positions are millimetres from the disc's centre, y upwards; sizes are points. The PDF
and image painters draw the same `Layout`, so the preview is what is printed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from reportlab.graphics.barcode.code128 import Code128

from mw_tui.config.labels import LabelsConfig
from mw_tui.labels.content import LabelContent
from mw_tui.labels.fonts import ascent_descent, text_width
from mw_tui.labels.template import Template, TemplateError, merge

MM = 72 / 25.4  # points per mm
QUIET = 10  # modules of white on each side of a Code 128 barcode
MIN_MODULE = 0.19  # mm: the narrowest bar a disc printer still prints cleanly


@dataclass(frozen=True, slots=True)
class DiscGeometry:
    outer_mm: float = 120.0
    hole_mm: float = 15.0
    printable_outer_mm: float = 118.0
    printable_inner_mm: float = 40.0

    @classmethod
    def from_config(cls, c: LabelsConfig) -> DiscGeometry:
        return cls(c.outer_diameter_mm, c.inner_diameter_mm, c.printable_outer_mm,
                   c.printable_inner_mm)

    def half_width(self, low: float, high: float, x: float = 0.0) -> float | None:
        """Half the width available, around `x`, to something spanning heights low..high
        (mm); None when it reaches into the unprintable centre."""
        inner = self.printable_inner_mm / 2
        if low < inner and high > -inner:
            return None
        far = max(abs(low), abs(high))
        outer = self.printable_outer_mm / 2
        if far >= outer:
            return 0.0
        return max(0.0, math.sqrt(outer * outer - far * far) - abs(x))


@dataclass(frozen=True, slots=True)
class PlacedText:
    text: str
    x: float  # centre of the line
    y: float  # baseline
    size: float
    bold: bool = False


@dataclass(frozen=True, slots=True)
class PlacedBarcode:
    value: str
    x: float  # left edge of the first bar
    y: float  # bottom of the bars
    height: float
    module: float
    bars: tuple[tuple[float, float], ...]  # (start, width) of each bar, mm from x


@dataclass(frozen=True, slots=True)
class Layout:
    geometry: DiscGeometry
    texts: tuple[PlacedText, ...]
    barcode: PlacedBarcode | None
    guides: bool
    warnings: tuple[str, ...] = ()  # what had to give: smaller type, cut text, no barcode


_SEPARATORS = " ·-|,/:;"


def tidy(text: str) -> str:
    """Merged text without the separators that empty fields leave behind."""
    text = " ".join(text.split())
    text = re.sub(r"(\s*[·|/]\s*){2,}", " · ", text)
    return text.strip(_SEPARATORS)


def lines_of(content: LabelContent, template: Template) -> list[tuple[str, float, float,
                                                                      float, bool]]:
    """(text, x, y, size, bold) of every line to print, merged, in template order; lines
    whose merge fields are all empty are left out."""
    values = content.fields(template.date_format)
    out: list[tuple[str, float, float, float, bool]] = []
    for line in template.lines:
        if _all_empty(line.text, values):
            continue
        text = tidy(merge(line.text, values))
        if text:
            out.append((text, line.x, line.y, line.size, line.bold))
    s = template.studies
    if s is not None:
        rows = content.study_fields(template.date_format)
        shown = rows if len(rows) <= s.max_lines else rows[:s.max_lines - 1]
        texts = [tidy(merge(s.text, {**values, **row})) for row in shown]
        if len(shown) < len(rows):
            texts.append(tidy(merge(s.more, {**values, "more": str(len(rows) - len(shown))})))
        for i, text in enumerate(texts):
            out.append((text, 0.0, s.y - i * s.step, s.size, s.bold))
    return out


def _all_empty(text: str, values: dict[str, str]) -> bool:
    names = re.findall(r"(?<!\{)\{([a-z_]+)\}", text)
    return bool(names) and not any(values.get(n) for n in names)


def lay_out(content: LabelContent, template: Template,
            geometry: DiscGeometry | None = None) -> Layout:
    """The label's content placed on the disc. Raises TemplateError when a line or the
    barcode of the template lies in the disc's unprintable centre."""
    geometry = geometry or DiscGeometry()
    warnings: list[str] = []
    texts = [_fit(text, x, y, size, bold, template.min_font_size, geometry, warnings)
             for text, x, y, size, bold in lines_of(content, template)]
    barcode = None
    if template.barcode is not None and content.job_id:
        barcode = _barcode(content.job_id, template.barcode.y, template.barcode.height,
                           template.barcode.module, geometry, warnings)
    return Layout(geometry, tuple(t for t in texts if t.text), barcode, template.guides,
                  tuple(warnings))


def _fit(text: str, x: float, y: float, size: float, bold: bool, min_size: float,
         geometry: DiscGeometry, warnings: list[str]) -> PlacedText:
    wanted = size
    for _ in range(3):  # a smaller size is also shorter: its room may grow
        room = _room(y, size, bold, x, geometry, text)
        width = text_width(text, size, bold) / MM
        if width <= room:
            break
        size = max(min_size, math.floor(size * room / width * 10) / 10)
    room = _room(y, size, bold, x, geometry, text)
    if text_width(text, size, bold) / MM > room:
        cut = _cut(text, size, bold, room)
        warnings.append(f"cut to fit the disc: {cut!r}" if cut else
                        f"no room at y = {y:g} mm, left out: {text!r}")
        text = cut
    elif size < wanted:
        warnings.append(f"printed at {size:g} pt instead of {wanted:g} pt to fit: {text!r}")
    return PlacedText(text, x, y, size, bold)


def _room(y: float, size: float, bold: bool, x: float, geometry: DiscGeometry,
          text: str) -> float:
    ascent, descent = ascent_descent(size, bold)
    half = geometry.half_width(y - descent / MM, y + ascent / MM, x)
    if half is None:
        raise TemplateError(
            f"the line {text!r} at y = {y:g} mm reaches into the disc's unprintable centre "
            f"(printable from {geometry.printable_inner_mm / 2:g} mm off the centre): move it "
            "further up or down in the template")
    return 2 * half


def _cut(text: str, size: float, bold: bool, room: float) -> str:
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(text[:mid].rstrip() + "…", size, bold) / MM <= room:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "…" if low else ""


def code128_bars(value: str) -> tuple[list[tuple[int, int]], int]:
    """The bars of `value` in Code 128: (start, width) in modules, and the total width in
    modules without the quiet zones."""
    symbol = Code128(value, quiet=0)
    symbol.validate()
    symbol.encode()
    symbol.decompose()
    bars, at = [], 0
    for c in symbol.decomposed:  # upper case: a bar of n modules; lower case: a space
        n = ord(c.lower()) - ord("a") + 1
        if c.isupper():
            bars.append((at, n))
        at += n
    return bars, at


def _barcode(value: str, y: float, height: float, module: float, geometry: DiscGeometry,
             warnings: list[str]) -> PlacedBarcode | None:
    if not (value.isascii() and value.isprintable()):
        warnings.append(f"no barcode: {value!r} is not printable ASCII")
        return None
    bars, modules = code128_bars(value)
    half = geometry.half_width(y, y + height)
    if half is None:
        raise TemplateError(f"the barcode at y = {y:g} mm reaches into the disc's unprintable "
                            "centre: move it further up or down in the template")
    module = min(module, 2 * half / (modules + 2 * QUIET))
    if module < MIN_MODULE:
        warnings.append(f"no barcode: {value!r} is too long for the room at y = {y:g} mm")
        return None
    width = modules * module
    return PlacedBarcode(value, -width / 2, y, height, module,
                         tuple((a * module, n * module) for a, n in bars))
