"""The label's fonts: DejaVu Sans from Debian's fonts-dejavu-core (Latin, Greek, Cyrillic).

The fonts go into the PDF as subsets whose glyphs carry their Unicode names (uni03A9,
...): reportlab's subsets have none, and a printer queue that turns the PDF into
PostScript and back (CUPS drivers, cups-pdf) then loses which letter each glyph is.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
NAMES = {False: "MwTuiDejaVuSans", True: "MwTuiDejaVuSans-Bold"}

_lock = threading.Lock()
_registered: set[str] = set()


class LabelError(Exception):
    """A label cannot be made; the message says what to do."""


def font_path(bold: bool = False) -> Path:
    path = FONT_DIR / FILES[bold]
    if not path.is_file():
        raise LabelError(f"The label font {path} is missing: install the Debian package "
                         "fonts-dejavu-core.")
    return path


def font_name(bold: bool = False) -> str:
    """The reportlab name of the (registered) label font."""
    name = NAMES[bold]
    with _lock:
        if name not in _registered:
            pdfmetrics.registerFont(_NamedTTFont(name, str(font_path(bold))))
            _registered.add(name)
    return name


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of `text` in points."""
    return float(pdfmetrics.stringWidth(text, font_name(bold), size))


def ascent_descent(size: float, bold: bool = False) -> tuple[float, float]:
    """How far glyphs reach above and below the baseline, in points (descent positive)."""
    ascent, descent = pdfmetrics.getAscentDescent(font_name(bold), size)
    return float(ascent), float(-descent)


def glyph_name(codepoint: int) -> str:
    return f"uni{codepoint:04X}" if codepoint <= 0xFFFF else f"u{codepoint:06X}"


class _NamedTTFont(TTFont):
    """A TrueType font whose PDF subsets name their glyphs (an /Encoding with
    /Differences), as the PDF specification allows for TrueType fonts."""

    def addObjects(self, doc: Any) -> None:
        state = self.state.get(doc)
        subsets = [list(s) for s in state.subsets] if state is not None else []
        names = [self.getSubsetInternalName(n, doc)[1:] for n in range(len(subsets))]
        super().addObjects(doc)
        fonts = doc.idToObject["BasicFonts"].dict
        for name, subset in zip(names, subsets, strict=True):
            differences = [0, *(pdfdoc.PDFName(glyph_name(cp)) for cp in subset)]
            fonts[name].Encoding = pdfdoc.PDFDictionary({
                "Type": pdfdoc.PDFName("Encoding"),
                "Differences": pdfdoc.PDFArray(differences)})
