"""Label templates: a small TOML file of text lines with merge fields, placed on the disc.

A template is data, never code: merge fields are plain `{name}` placeholders replaced by
text (no attribute access, indexing or format specs), so a template can only choose what
is printed where. Every mistake is reported with the line it is on and what is allowed.

    date_format = "%d.%m.%Y"      # how dates are shown (default %Y-%m-%d)
    min_font_size = 5             # text shrinks down to this to fit the ring, then is cut
    guides = true                 # draw the disc's edge and hole (for sheets and previews)

    [[line]]                      # one text line, centred
    text = "{patient_name}"
    y = 42                        # baseline, mm above the disc's centre (negative: below)
    size = 12                     # points
    bold = true
    x = 0                         # mm right of the centre (optional)

    [studies]                     # one line per study, downwards from y
    text = "{study_date}  {modality}  {description}"
    y = 31
    step = 4.2                    # mm between two lines
    max_lines = 3                 # more studies: the last line says so (`more`)
    more = "+ {more} more studies"

    [barcode]                     # the job id as a Code 128 barcode
    y = -46                       # bottom of the bars, mm from the centre
    height = 8                    # mm
    module = 0.33                 # mm, the narrowest bar (made narrower to fit if need be)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from mw_tui.labels.content import FIELDS, STUDY_FIELDS


class TemplateError(Exception):
    """A template that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    y: float
    size: float = 8.0
    bold: bool = False
    x: float = 0.0


@dataclass(frozen=True, slots=True)
class StudyLines:
    text: str
    y: float
    step: float = 4.0
    size: float = 7.0
    bold: bool = False
    max_lines: int = 3
    more: str = "+ {more} more"


@dataclass(frozen=True, slots=True)
class Barcode:
    y: float
    height: float = 8.0
    module: float = 0.33


@dataclass(frozen=True, slots=True)
class Template:
    lines: tuple[TextLine, ...]
    studies: StudyLines | None = None
    barcode: Barcode | None = None
    date_format: str = "%Y-%m-%d"
    min_font_size: float = 5.0
    guides: bool = True
    source: str = "built-in"


_FIELD_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def merge(text: str, values: dict[str, str]) -> str:
    """`text` with each {field} replaced by its value ({{ and }} are braces)."""
    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = m.group(1)
        return values.get(name, "") if name is not None else token

    return _FIELD_RE.sub(one, text)


def check_fields(text: str, allowed: dict[str, str], where: str) -> None:
    for m in _FIELD_RE.finditer(text):
        token, name = m.group(0), m.group(1)
        if token in ("{{", "}}"):
            continue
        if name is None:
            raise TemplateError(f"{where}: a lone {token!r} in {text!r} (write {token * 2} "
                                "for a brace)")
        if name not in allowed:
            raise TemplateError(f"{where}: unknown merge field {{{name}}} in {text!r}; known "
                                "fields: " + ", ".join(f"{{{k}}}" for k in allowed))


_TOP = {"date_format", "min_font_size", "guides", "line", "studies", "barcode"}


def parse_template(text: str, source: str = "template") -> Template:
    """A template from its TOML text; raises TemplateError naming the problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not valid TOML ({exc})") from exc
    _no_unknown(doc, _TOP, source)
    date_format = _get(doc, "date_format", str, "%Y-%m-%d", source)
    try:
        date(2024, 1, 31).strftime(date_format)
    except ValueError as exc:
        raise TemplateError(f"{source}: date_format {date_format!r}: {exc}") from exc
    if not 0 < len(date_format) <= 40:
        raise TemplateError(f"{source}: date_format must be 1 to 40 characters")
    raw_lines = doc.get("line", [])
    if not isinstance(raw_lines, list) or not all(isinstance(t, dict) for t in raw_lines):
        raise TemplateError(f"{source}: 'line' must be tables: [[line]]")
    lines = tuple(_line(t, f"{source}: [[line]] {i + 1}") for i, t in enumerate(raw_lines))
    studies = None
    if "studies" in doc:
        studies = _studies(_table(doc, "studies", source), f"{source}: [studies]")
    barcode = None
    if "barcode" in doc:
        barcode = _barcode(_table(doc, "barcode", source), f"{source}: [barcode]")
    if not lines and studies is None and barcode is None:
        raise TemplateError(f"{source}: nothing to print (add [[line]] tables)")
    return Template(lines, studies, barcode, date_format,
                    _number(doc, "min_font_size", 5.0, 3, 40, source),
                    _get(doc, "guides", bool, True, source), source)


def load_template(path: str | Path | None = None) -> Template:
    """The template at `path`, or the built-in one when it is None or empty."""
    if not path:
        return default_template()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"the label template {p} does not exist: fix [labels] template, "
                            "or leave it empty for the built-in one") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"the label template {p} cannot be read ({exc})") from exc
    return parse_template(text, str(p))


def default_template() -> Template:
    text = resources.files("mw_tui.labels").joinpath("default.toml").read_text("utf-8")
    return parse_template(text, "built-in template")


# -- pieces --------------------------------------------------------------------------------


def _line(t: dict[str, Any], where: str) -> TextLine:
    _no_unknown(t, {"text", "y", "size", "bold", "x"}, where)
    text = _get(t, "text", str, None, where)
    check_fields(text, FIELDS, where)
    return TextLine(text, _number(t, "y", None, -65, 65, where),
                    _number(t, "size", 8.0, 3, 40, where), _get(t, "bold", bool, False, where),
                    _number(t, "x", 0.0, -65, 65, where))


def _studies(t: dict[str, Any], where: str) -> StudyLines:
    _no_unknown(t, {"text", "y", "step", "size", "bold", "max_lines", "more"}, where)
    text = _get(t, "text", str, None, where)
    check_fields(text, {**FIELDS, **STUDY_FIELDS}, where)
    more = _get(t, "more", str, "+ {more} more", where)
    check_fields(more, {**FIELDS, "more": "studies left out"}, where)
    max_lines = _get(t, "max_lines", int, 3, where)
    if not 1 <= max_lines <= 20:
        raise TemplateError(f"{where}: max_lines must be a whole number from 1 to 20")
    return StudyLines(text, _number(t, "y", None, -65, 65, where),
                      _number(t, "step", 4.0, -30, 30, where),
                      _number(t, "size", 7.0, 3, 40, where), _get(t, "bold", bool, False, where),
                      max_lines, more)


def _barcode(t: dict[str, Any], where: str) -> Barcode:
    _no_unknown(t, {"y", "height", "module"}, where)
    return Barcode(_number(t, "y", None, -65, 65, where),
                   _number(t, "height", 8.0, 3, 40, where),
                   _number(t, "module", 0.33, 0.19, 1.0, where))


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc[key]
    if not isinstance(value, dict):
        raise TemplateError(f"{where}: '{key}' must be a table: [{key}]")
    return value


def _no_unknown(t: dict[str, Any], known: set[str], where: str) -> None:
    for key in t:
        if key not in known:
            raise TemplateError(f"{where}: unknown key {key!r} (known: "
                                f"{', '.join(sorted(known))})")


def _get(t: dict[str, Any], key: str, tp: type, default: Any, where: str) -> Any:
    if key not in t:
        if default is None:
            raise TemplateError(f"{where}: {key} is missing")
        return default
    value = t[key]
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        name = {str: "a text in quotes", bool: "true or false", int: "a whole number"}[tp]
        raise TemplateError(f"{where}: {key} = {value!r} must be {name}")
    return value


def _number(t: dict[str, Any], key: str, default: float | None, low: float, high: float,
            where: str) -> float:
    if key not in t:
        if default is None:
            raise TemplateError(f"{where}: {key} is missing")
        return default
    value = t[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high):
        raise TemplateError(f"{where}: {key} = {value!r} must be a number from {low:g} to "
                            f"{high:g}")
    return float(value)
