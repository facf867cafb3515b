"""Keeping patient data out of ordinary logs.

Log calls that must mention a patient use `mask()` (names) or `mask_id()` (patient IDs,
accession numbers): "Doe^John" becomes "D***^J***", "PID123456" becomes "P***56".
`PhiFilter`, installed on every handler of the root logger by `install()`, catches what
slips through: DICOM person names (anything with a '^'), `PatientName=...`-style
key/value pairs, and group 0010 lines of data set dumps (pydicom, pynetdicom). The audit
trail, which must name patients, uses a handler of its own, which this leaves alone.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

_NAME_KEYS = ("PatientName", "patient_name", "PatientBirthName", "PatientMotherBirthName",
              "OtherPatientNames", "ReferringPhysicianName", "PatientBirthDate",
              "patient_birth_date", "birth_date", "PatientAddress", "PatientTelephoneNumbers")
_ID_KEYS = ("PatientID", "patient_id", "OtherPatientIDs", "IssuerOfPatientID",
            "AccessionNumber", "accession")

# a DICOM person name: components joined by '^' (and maybe '=' groups), no spaces around
_PN = re.compile(r"[^\s'\"(),;\[\]{}<>|=]*\^[^\s'\"(),;\[\]{}<>|]*")
# key=value or key: value, the value quoted or up to the next space or comma
_KEY_VALUE = re.compile(
    r"\b(" + "|".join(_NAME_KEYS + _ID_KEYS) + r")(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,;)]+)")
# data set dumps: "(0010,0010) Patient's Name   PN: 'Doe^John'" or "... PN [Doe^John]"
_DUMP = re.compile(r"(\(0010,[0-9A-Fa-f]{4}\)[^\n]*?\b[A-Z]{2}(?::|\s+(?=[\['\"]))\s*)(\S[^\n]*)")


def mask(value: object) -> str:
    """A person name (or any text) with only the first letter of each part left."""
    text = str(value or "").strip()
    if not text:
        return ""
    out = []
    for group in text.split("="):
        parts = [p.strip() for p in re.split(r"\^", group)]
        out.append("^".join(p[0] + MASK if p else "" for p in parts).rstrip("^"))
    return "=".join(out)


def mask_id(value: object) -> str:
    """A patient ID or accession number: its first and (when long enough) last 2 chars."""
    text = str(value or "").strip()
    if not text:
        return ""
    if len(text) >= 6:
        return text[0] + MASK + text[-2:]
    return text[0] + MASK


def redact(text: str) -> str:
    """`text` with person names, patient IDs and group 0010 dump values masked."""
    if not text:
        return text
    text = _DUMP.sub(lambda m: m.group(1) + MASK, text)
    text = _KEY_VALUE.sub(_masked_pair, text)
    return _PN.sub(lambda m: mask(m.group(0)) if _is_name(m.group(0)) else m.group(0), text)


def _masked_pair(m: re.Match[str]) -> str:
    key, sep, value = m.group(1), m.group(2), m.group(3)
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:-1] if quote else value
    if MASK in inner:
        return m.group(0)
    masked = mask_id(inner) if key in _ID_KEYS else mask(inner)
    return f"{key}{sep}{quote}{masked}{quote}"


def _is_name(token: str) -> bool:
    """Letters around a '^', not already masked."""
    if MASK in token:
        return False
    return bool(re.search(r"[^\W\d_]", token))


_FORMATTER = logging.Formatter()


class PhiFilter(logging.Filter):
    """Masks patient data in every record a handler emits (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave the record to logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:  # what the formatter would print
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put a PhiFilter on every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PhiFilter) for f in handler.filters):
            handler.addFilter(PhiFilter())
