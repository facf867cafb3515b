"""Reports on a medium made readable without a DICOM viewer: SR documents rendered as
XHTML, encapsulated PDFs copied out as PDF files (both under IHE_PDI/, linked from the
study's page; the DICOM instances stay in DICOM/ and the DICOMDIR)."""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

log = logging.getLogger(__name__)
MAX_DEPTH = 20


@dataclass(frozen=True, slots=True)
class Report:
    """A readable copy of a report instance: `dest` under IHE_PDI/, with `data` (XHTML
    body) or `source` (an extracted file)."""

    sop_uid: str
    study_uid: str
    title: str
    date: str
    dest: str
    data: bytes | None = None
    source: Path | None = None


def _code_meaning(ds: Dataset, keyword: str = "ConceptNameCodeSequence") -> str:
    seq = ds.get(keyword)
    if seq:
        return str(seq[0].get("CodeMeaning", "") or seq[0].get("CodeValue", ""))
    return ""


def _value(item: Dataset) -> str:
    vt = str(item.get("ValueType", ""))
    if vt == "TEXT":
        return str(item.get("TextValue", ""))
    if vt == "CODE":
        return _code_meaning(item, "ConceptCodeSequence")
    if vt == "NUM":
        seq = item.get("MeasuredValueSequence")
        if seq:
            m = seq[0]
            return f"{m.get('NumericValue', '')} {_code_meaning(m, 'MeasurementUnitsCodeSequence')}"
        return ""
    if vt == "PNAME":
        return str(item.get("PersonName", ""))
    if vt == "DATE":
        return _date(str(item.get("Date", "")))
    if vt == "TIME":
        return str(item.get("Time", ""))
    if vt == "DATETIME":
        return str(item.get("DateTime", ""))
    if vt == "UIDREF":
        return str(item.get("UID", ""))
    if vt in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        return "(reference to an image or object on this medium)"
    return ""


def _date(value: str) -> str:
    v = value.strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def _items(items: Iterable[Dataset], depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        return []
    out: list[str] = []
    for item in items:
        name = html.escape(_code_meaning(item))
        value = html.escape(_value(item))
        children = item.get("ContentSequence") or []
        inner = _items(children, depth + 1)
        if str(item.get("ValueType", "")) == "CONTAINER":
            out.append(f"<h{min(depth + 2, 6)}>{name}</h{min(depth + 2, 6)}>")
            out += inner
            continue
        text = value.replace("\r\n", "\n").replace("\n", "<br />\n")
        label = f"<span class=\"name\">{name}:</span> " if name else ""
        out.append(f"<p>{label}{text}</p>")
        if inner:
            out.append("<div class=\"nested\">")
            out += inner
            out.append("</div>")
    return out


def render_sr(ds: Dataset) -> str:
    """The XHTML body of a structured report: its title, flags, and content tree."""
    title = html.escape(_code_meaning(ds) or "Report")
    lines = [f"<h1>{title}</h1>",
             "<p class=\"meta\">"
             f"{html.escape(_date(str(ds.get('ContentDate', ''))))} "
             f"{html.escape(str(ds.get('CompletionFlag', '')))} "
             f"{html.escape(str(ds.get('VerificationFlag', '')))}</p>"]
    for obs in ds.get("VerifyingObserverSequence") or []:
        lines.append(f"<p class=\"meta\">Verified by "
                     f"{html.escape(str(obs.get('VerifyingObserverName', '')))}</p>")
    lines += _items(ds.get("ContentSequence") or [], 0)
    return "\n".join(lines)


def extract(sop_uid: str, study_uid: str, record_type: str, source: Path, dest_stem: str,
            workdir: Path) -> Report | None:
    """The readable copy of one report instance, or None when there is nothing to show."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(source)
        if record_type == "SR DOCUMENT":
            return Report(sop_uid, study_uid, _code_meaning(ds) or "Report",
                          str(ds.get("ContentDate", "")), dest_stem + ".HTM",
                          data=render_sr(ds).encode("utf-8"))
        if record_type == "ENCAP DOC" and str(ds.get("MIMETypeOfEncapsulatedDocument", "")
                                              ).strip() == "application/pdf":
            doc = bytes(ds.get("EncapsulatedDocument", b"") or b"")
            length = ds.get("EncapsulatedDocumentLength")
            if length and 0 < int(length) <= len(doc):
                doc = doc[: int(length)]
            elif doc.endswith(b"\0"):
                doc = doc[:-1]
            if not doc:
                return None
            path = workdir / f"{sop_uid}.pdf"
            path.write_bytes(doc)
            return Report(sop_uid, study_uid, str(ds.get("DocumentTitle", "") or "PDF report"),
                          str(ds.get("ContentDate", "")), dest_stem + ".PDF", source=path)
    except Exception as exc:  # a broken report still goes on the medium as DICOM
        log.warning("no readable copy of report %s: %s", sop_uid, exc)
    return None
