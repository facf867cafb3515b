"""IHE Portable Data for Imaging content: README.TXT, INDEX.HTM and the IHE_PDI/ pages.

The pages mirror the DICOM content only (patients, studies, series, instances, reports); they
are XHTML 1.0 Strict with ISO 9660 level 1 names. README.TXT names no one beyond what a
disc label shows (patient names, the institution, the date).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from mw_tui import __version__
from mw_tui.media.content import PatientContent, Placed
from mw_tui.media.reports import Report
from mw_tui.standard.sop import sop_class_name

WEB_DIR = "IHE_PDI"
STYLE = """body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }
th { background: #eee; }
.meta { color: #555; }
.name { font-weight: bold; }
.nested { margin-left: 2em; }
"""


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
        "- With a web browser: open INDEX.HTM for the list of studies, series and reports",
        "  (text only, no images).",
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
        "IHE_PDI/     web pages and readable copies of the reports",
        "README.TXT   this file",
    ]
    if info.viewer:
        lines.append(f"{(info.viewer + '/'):<13}a viewer program")
    lines += ["", "Contains personal health information: keep it safe.", ""]
    return "\r\n".join(lines).encode("utf-8")


def _page(title: str, body: list[str], css: str = "STYLE.CSS") -> bytes:
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
        "<head>",
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />',
        f"<title>{html.escape(title)}</title>",
        f'<link rel="stylesheet" type="text/css" href="{css}" />',
        "</head>",
        "<body>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>", ""]).encode("utf-8")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table; cells are already escaped XHTML."""
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return out


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text or "-")}</a>'


def web_pages(info: MediumInfo, patients: Sequence[PatientContent],
              placed: Mapping[str, Placed], reports: Sequence[Report]) -> dict[str, bytes]:
    """INDEX.HTM and the pages under IHE_PDI/ (dest -> content); `reports` with `data` are
    rendered into pages here, the others (PDF files) are only linked."""
    e = html.escape
    pages: dict[str, bytes] = {}
    by_study: dict[str, list[Report]] = {}
    for rep in reports:
        by_study.setdefault(rep.study_uid, []).append(rep)
    intro = [f"<p class=\"meta\">{e(info.disc.capitalize())} - volume {e(info.label)} - "
             f"made {e(info.created.strftime('%Y-%m-%d %H:%M'))}"
             + (f" by {e(info.station)}" if info.station else "")
             + (f", {e(info.institution)}" if info.institution else "") + "</p>"]
    rows, st_no, se_no = [], 0, 0
    for p_no, patient in enumerate(patients, 1):
        p_page = f"PAT{p_no:05d}.HTM"
        rows.append([_link(f"{WEB_DIR}/{p_page}", _name(patient.name)), e(patient.patient_id),
                     e(_date(patient.birth_date)), str(len(patient.studies))])
        st_rows = []
        for study in patient.studies:
            st_no += 1
            st_page = f"STU{st_no:05d}.HTM"
            r = study.row
            st_rows.append([_link(st_page, _date(r.study_date) or "(no date)"), e(r.description),
                            e(r.accession), e(", ".join(sorted({s.row.modality
                                                                for s in study.series}))),
                            str(sum(len(s.items) for s in study.series))])
            se_rows = []
            for series in study.series:
                se_no += 1
                se_page = f"SER{se_no:05d}.HTM"
                part = (f" (part {series.part[0]} of {series.part[1]})"
                        if series.part[1] > 1 else "")
                se_rows.append([_link(se_page, series.row.series_number or "-"),
                                e(series.row.modality), e(series.row.description + part),
                                str(len(series.items))])
                inst_rows = [[e(i.instance_number), e(sop_class_name(i.sop_class)),
                              e(placed[i.sop_uid].dest)] for i in series.items]
                title = f"Series {series.row.series_number or '-'}" + (
                    f": {series.row.description}" if series.row.description else "") + part
                pages[f"{WEB_DIR}/{se_page}"] = _page(title, [
                    f"<h1>{e(title)}</h1>",
                    f"<p>{_link(st_page, 'Back to the study')}</p>",
                    f"<p>Modality {e(series.row.modality)}, {len(series.items)} instance(s)."
                    "</p>",
                    *_table(["Number", "Kind", "DICOM file"], inst_rows)])
            body = [f"<h1>{e(_study_title(r.study_date, r.description))}</h1>",
                    f"<p>{_link(p_page, 'Back to the patient')}</p>",
                    *_table(["Date", "Time", "Accession", "Study ID", "Referring physician"],
                            [[e(_date(r.study_date)), e(r.study_time[:6]), e(r.accession),
                              e(r.study_id), e(_name(r.referring, ""))]])]
            if not study.complete:
                body.append("<p>Part of this study is on another medium of the set.</p>")
            body += ["<h2>Series</h2>",
                     *_table(["Number", "Modality", "Description", "Instances"], se_rows)]
            study_reports = by_study.get(r.study_uid, [])
            if study_reports:
                body += ["<h2>Reports</h2>", *_table(["Report", "Date"], [
                    [_link(x.dest.split("/")[-1], x.title), e(_date(x.date))]
                    for x in study_reports])]
            pages[f"{WEB_DIR}/{st_page}"] = _page(_study_title(r.study_date, r.description),
                                                  body)
        pages[f"{WEB_DIR}/{p_page}"] = _page(_name(patient.name), [
            f"<h1>{e(_name(patient.name))}</h1>",
            "<p><a href=\"../INDEX.HTM\">Back to the start page</a></p>",
            *_table(["Patient ID", "Birth date", "Sex"],
                    [[e(patient.patient_id), e(_date(patient.birth_date)), e(patient.sex)]]),
            "<h2>Studies</h2>",
            *_table(["Date", "Description", "Accession", "Modalities", "Instances"], st_rows)])
    for rep in reports:
        if rep.data is not None:
            pages[rep.dest] = _page(rep.title, [
                "<p><a href=\"../INDEX.HTM\">Back to the start page</a></p>",
                rep.data.decode("utf-8")])
    pages[f"{WEB_DIR}/STYLE.CSS"] = STYLE.encode("ascii")
    index_body = [
        "<h1>DICOM images and reports</h1>", *intro,
        "<p>Open the DICOMDIR file of this medium with a DICOM viewer to see the images. "
        "These pages list what the medium holds.</p>",
        *_table(["Patient", "Patient ID", "Birth date", "Studies"], rows)]
    if reports:
        index_body += ["<h2>Reports</h2>", *_table(["Report", "Date"], [
            [_link(x.dest, x.title), e(_date(x.date))] for x in reports])]
    if info.viewer:
        index_body.append(f"<p>A viewer program is in the {e(info.viewer)} folder.</p>")
    pages["INDEX.HTM"] = _page("DICOM medium " + info.label, index_body,
                               css=f"{WEB_DIR}/STYLE.CSS")
    return pages
