"""IHE Portable Data for Imaging content: README.TXT, INDEX.HTM and the IHE_PDI/ pages.

The pages mirror the DICOM content only (patients, studies, series, instances, reports); they
are XHTML 1.0 Strict with ISO 9660 level 1 names. README.TXT names no one beyond what a
disc label shows (patient names, the institution, the date).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mw_tui import __version__
from mw_tui.media.content import PatientContent, Placed, SeriesContent
from mw_tui.media.render import Preview, Rendering
from mw_tui.media.reports import Report
from mw_tui.media.volume import WEB_DIR, WebImages
from mw_tui.media.webpages import NOT_FOR_DIAGNOSIS, SeriesPlace, gallery
from mw_tui.media.xhtml import STYLE, link, page, table
from mw_tui.standard.sop import sop_class_name


@dataclass(frozen=True, slots=True)
class MediumInfo:
    label: str
    profile: str
    number: int
    count: int
    created: datetime
    institution: str = ""
    station: str = ""
    viewer: str = ""  # folder of a viewer on the medium, "" for none
    web: WebImages = WebImages.NONE  # the images the web pages show
    web_note: str = ""  # why they show less than the configuration asks
    label_text: str = ""  # the text the requester asked for on the label

    @property
    def disc(self) -> str:
        return f"disc {self.number} of {self.count}"


def _date(value: str) -> str:
    v = value.strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def _name(value: str, empty: str = "(no name)") -> str:
    """A DICOM person name as people write it: "DOE^JOHN" -> "DOE, JOHN"."""
    alphabetic = value.split("=")[0]
    parts = [p.strip() for p in alphabetic.split("^") if p.strip()]
    if not parts:
        return value.replace("^", " ").replace("=", " ").strip() or empty
    return parts[0] + (", " + " ".join(parts[1:]) if len(parts) > 1 else "")


def _report_line(report: Report) -> str:
    date = _date(report.date)
    return f"{report.title}" + (f" ({date})" if date else "") + f": {report.dest}"


def _study_title(date: str, description: str) -> str:
    return " - ".join(x for x in (_date(date), description.strip()) if x) or "Study"


def readme(info: MediumInfo, patients: Sequence[PatientContent],
           reports: Sequence[Report]) -> bytes:
    """README.TXT: what the medium holds, who made it and when, how to open it."""
    studies = [s for p in patients for s in p.studies]
    series = [se for s in studies for se in s.series]
    instances = sum(len(se.items) for se in series)
    modalities = sorted({se.row.modality for se in series if se.row.modality})
    made_by = " by " + info.station if info.station else ""
    if info.institution:
        made_by += f" at {info.institution}"
    lines = [
        "DICOM MEDIUM - README",
        "=====================",
        "",
        f"This medium ({info.disc}) holds medical images and reports in the DICOM format.",
        f"Made on {info.created.strftime('%Y-%m-%d %H:%M')}{made_by} with mw-tui "
        f"{__version__}.",
        "",
        "Patient: " + "; ".join(_name(p.name) for p in patients),
        f"Content: {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {len(series)} "
        f"series, {instances} DICOM file{'s' if instances != 1 else ''}"
        + (f" ({', '.join(modalities)})" if modalities else "")
        + (f", {len(reports)} report{'s' if len(reports) != 1 else ''}" if reports else "")
        + ".",
        f"Volume label (File-set ID): {info.label}",
        *([f"Label: {' '.join(info.label_text.split())}"] if info.label_text.strip() else []),
        f"Format: DICOM PS3.10 File-set, media application profile {info.profile} "
        "(DICOM PS3.11), IHE Portable Data for Imaging (PDI).",
    ]
    if reports:
        lines += ["", "Reports (readable copies in IHE_PDI/, linked from INDEX.HTM):"]
        lines += [f"- {_report_line(r)}" for r in reports]
    if info.count > 1:
        lines += [
            "",
            f"This study set did not fit on one medium: it is spread over {info.count} media "
            f"and this is {info.disc}. Each medium is complete on its own (its own DICOMDIR);",
            "open each one in turn to see everything.",
        ]
    if any(not s.complete for s in studies) or any(se.part[1] > 1 for se in series):
        lines.append("Some studies or series continue on another medium of the set.")
    lines += [
        "",
        "How to open it",
        "--------------",
        "- With a DICOM viewer: open the DICOMDIR file at the root of this medium (in most",
        "  viewers: File > Open DICOMDIR, or Import > CD/DVD).",
        *_browser_lines(info),
    ]
    if info.viewer:
        lines.append(f"- A viewer program is in the {info.viewer} folder: start it from there "
                     "(nothing starts by itself).")
    lines += [
        "",
        "What is where",
        "-------------",
        "DICOMDIR     the DICOM directory: the index of every DICOM file on this medium",
        "DICOM/       the DICOM files (they have no file name extension, as DICOM requires)",
        "INDEX.HTM    start page of the web pages",
        "IHE_PDI/     web pages, " + ("previews of the images (JPEG), "
                                        if info.web is not WebImages.NONE else "")
        + "readable copies of the reports",
        "README.TXT   this file",
    ]
    if info.viewer:
        lines.append(f"{(info.viewer + '/'):<13}a viewer program")
    lines += ["", "Contains personal health information: keep it safe.", ""]
    return "\r\n".join(lines).encode("utf-8")


def _browser_lines(info: MediumInfo) -> list[str]:
    """How to open the medium in a web browser, as the web images allow."""
    if info.web is WebImages.NONE:
        lines = ["- With a web browser: open INDEX.HTM for the list of studies, series and "
                 "reports", "  (text only, no images)."]
    else:
        lines = [
            "- With a web browser: open INDEX.HTM. The images can be seen in any web browser,",
            "  nothing to install: each series shows its images as small pictures"
            + (", and a click" if info.web is WebImages.ALL else " (thumbnails only)."),
        ]
        if info.web is WebImages.ALL:
            lines += ["  on one shows it larger (the keys Alt+N and Alt+P page through the "
                      "series)."]
        lines += ["  These pictures are previews, not for diagnosis: the DICOM files are the "
                  "originals."]
    if info.web_note:
        lines += textwrap.wrap(f"Note: {info.web_note}.", 78, initial_indent="  ",
                               subsequent_indent="  ")
    return lines


@dataclass(slots=True)
class WebSite:
    """INDEX.HTM and the IHE_PDI/ content: generated pages and JPEG files to copy."""

    pages: dict[str, bytes] = field(default_factory=dict)
    pictures: dict[str, Preview] = field(default_factory=dict)


def web_pages(info: MediumInfo, patients: Sequence[PatientContent],
              placed: Mapping[str, Placed], reports: Sequence[Report],
              renderings: Mapping[str, Rendering] | None = None) -> WebSite:
    """INDEX.HTM and the pages under IHE_PDI/ with the JPEG files they show; `reports` with
    `data` are rendered into pages here, the others (PDF files) are only linked;
    `renderings` are the previews of the image instances (shown as `info.web` says)."""
    e = html.escape
    site = WebSite()
    pages = site.pages
    renderings = renderings or {}
    by_study: dict[str, list[Report]] = {}
    for rep in reports:
        by_study.setdefault(rep.study_uid, []).append(rep)
    rows, st_no, se_no = [], 0, 0
    keys_by_study: list[tuple[str, list[str]]] = []
    for p_no, patient in enumerate(patients, 1):
        p_page = f"PAT{p_no:05d}.HTM"
        rows.append([link(f"{WEB_DIR}/{p_page}", _name(patient.name)), e(patient.patient_id),
                     e(_date(patient.birth_date)), str(len(patient.studies))])
        st_rows = []
        for study in patient.studies:
            st_no += 1
            st_page = f"STU{st_no:05d}.HTM"
            r = study.row
            st_rows.append([link(st_page, _date(r.study_date) or "(no date)"), e(r.description),
                            e(r.accession), e(", ".join(sorted({s.row.modality
                                                                for s in study.series}))),
                            str(sum(len(s.items) for s in study.series))])
            se_rows, keys = [], []
            for series in study.series:
                se_no += 1
                place = _place(series, se_no)
                se_rows.append([link(place.page, series.row.series_number or "-"),
                                e(series.row.modality), e(series.row.description
                                                          + _part(series.part)),
                                str(len(series.items))])
                found = gallery(place, series.items, placed, info.web, renderings)
                pages.update(found.pages)
                site.pictures.update(found.pictures)
                if found.key:
                    keys.append(found.key)
                inst_rows = [[e(i.instance_number), e(sop_class_name(i.sop_class)),
                              e(placed[i.sop_uid].dest)] for i in series.items]
                pages[f"{WEB_DIR}/{place.page}"] = page(place.title, [
                    f"<h1>{e(place.title)}</h1>",
                    f"<p>{link(st_page, 'Back to the study', 'b')}</p>",
                    f"<p>Modality {e(series.row.modality)}, {len(series.items)} instance(s)."
                    "</p>", *found.grid, "<h2>DICOM files</h2>",
                    *table(["Number", "Kind", "DICOM file"], inst_rows)])
            title = _study_title(r.study_date, r.description)
            if keys:
                keys_by_study.append((f"{WEB_DIR}/{st_page}", keys))
            body = [f"<h1>{e(title)}</h1>",
                    f"<p>{link(p_page, 'Back to the patient', 'b')}</p>",
                    *table(["Date", "Time", "Accession", "Study ID", "Referring physician"],
                           [[e(_date(r.study_date)), e(r.study_time[:6]), e(r.accession),
                             e(r.study_id), e(_name(r.referring, ""))]])]
            if not study.complete:
                body.append("<p>Part of this study is on another medium of the set.</p>")
            if keys:
                body += ["<h2>Key images</h2>", "<p class=\"meta\">One image of each series: "
                         f"open it to page through its series. {e(NOT_FOR_DIAGNOSIS)}</p>",
                         '<div class="grid">', *keys, "</div>"]
            body += ["<h2>Series</h2>",
                     *table(["Number", "Modality", "Description", "Instances"], se_rows)]
            study_reports = by_study.get(r.study_uid, [])
            if study_reports:
                body += ["<h2>Reports</h2>", *table(["Report", "Date"], [
                    [link(x.dest.split("/")[-1], x.title), e(_date(x.date))]
                    for x in study_reports])]
            pages[f"{WEB_DIR}/{st_page}"] = page(title, body)
        pages[f"{WEB_DIR}/{p_page}"] = page(_name(patient.name), [
            f"<h1>{e(_name(patient.name))}</h1>",
            "<p><a href=\"../INDEX.HTM\" accesskey=\"b\">Back to the start page</a></p>",
            *table(["Patient ID", "Birth date", "Sex"],
                   [[e(patient.patient_id), e(_date(patient.birth_date)), e(patient.sex)]]),
            "<h2>Studies</h2>",
            *table(["Date", "Description", "Accession", "Modalities", "Instances"], st_rows)])
    for rep in reports:
        if rep.data is not None:
            pages[rep.dest] = page(rep.title, [
                "<p><a href=\"../INDEX.HTM\">Back to the start page</a></p>",
                rep.data.decode("utf-8")])
    pages[f"{WEB_DIR}/STYLE.CSS"] = STYLE.encode("ascii")
    pages["INDEX.HTM"] = _index(info, rows, reports, bool(keys_by_study))
    return site


def _part(part: tuple[int, int]) -> str:
    return f" (part {part[0]} of {part[1]})" if part[1] > 1 else ""


def _place(series: SeriesContent, number: int) -> SeriesPlace:
    title = f"Series {series.row.series_number or '-'}" + (
        f": {series.row.description}" if series.row.description else "") + _part(series.part)
    return SeriesPlace(f"SER{number:05d}", f"SER{number:05d}.HTM", title)


def _index(info: MediumInfo, rows: list[list[str]], reports: Sequence[Report],
           images: bool) -> bytes:
    e = html.escape
    body = ["<h1>DICOM images and reports</h1>",
            f"<p class=\"meta\">{e(info.disc.capitalize())} - volume {e(info.label)} - "
            f"made {e(info.created.strftime('%Y-%m-%d %H:%M'))}"
            + (f" by {e(info.station)}" if info.station else "")
            + (f", {e(info.institution)}" if info.institution else "") + "</p>"]
    if images:
        body.append("<p>The images can be seen in this browser: open a patient, then a study "
                    "and a series, and click an image. " + e(NOT_FOR_DIAGNOSIS) + " Open the "
                    "DICOMDIR file of this medium with a DICOM viewer to read them.</p>")
    else:
        body.append("<p>Open the DICOMDIR file of this medium with a DICOM viewer to see the "
                    "images. These pages list what the medium holds.</p>")
    if info.web_note:
        body.append(f'<p class="note">{e(info.web_note[:1].upper() + info.web_note[1:])}.</p>')
    body += table(["Patient", "Patient ID", "Birth date", "Studies"], rows)
    if reports:
        body += ["<h2>Reports</h2>", *table(["Report", "Date"], [
            [link(x.dest, x.title), e(_date(x.date))] for x in reports])]
    if info.viewer:
        body.append(f"<p>A viewer program is in the {e(info.viewer)} folder.</p>")
    return page("DICOM medium " + info.label, body, css=f"{WEB_DIR}/STYLE.CSS")
