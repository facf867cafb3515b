"""One volume from its patients -> studies -> series -> instances: File IDs, DICOMDIR
records, readable reports, README.TXT, the web pages and the list of files."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom.dataset import Dataset

from mw_tui import config as cfg
from mw_tui.media import dicomdir, pdi, records
from mw_tui.media.content import Item, PatientContent, Placed, SeriesContent, StudyContent
from mw_tui.media.ids import fileset_id
from mw_tui.media.profiles import Profile
from mw_tui.media.reports import Report, extract
from mw_tui.media.volume import Volume, VolumeFile
from mw_tui.media.webimages import WebContent
from mw_tui.store import Store

DICOM_DIR = "DICOM"
_IS = re.compile(r"^[+-]?\d{1,12}$")
REPORT_TYPES = ("SR DOCUMENT", "ENCAP DOC")
REPORTS_DIR = "reports"  # in the work folder: PDF reports copied out of their instances


@dataclass(frozen=True, slots=True)
class Asked:
    """What a requester asked of the media: its File-set ID and the text of its label."""

    fileset_id: str = ""
    label_text: str = ""


def _number(value: str, ordinal: int) -> str:
    """An Integer String for a record: the value when valid, else the position."""
    v = value.strip()
    return v if _IS.match(v) and len(v) <= 12 else str(ordinal)


def _day(timestamp: float) -> str:
    return time.strftime("%Y%m%d", time.localtime(timestamp or time.time()))


def _header(store: Store, sop_uid: str) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return store.index.header(sop_uid)
    except Exception:
        return Dataset()  # an unreadable header: the records are filled as if it were empty


def _patient_node(store: Store, patient: PatientContent, first: Item) -> dicomdir.Node:
    header = _header(store, first.sop_uid)
    source = Dataset()
    if "SpecificCharacterSet" in header:
        source.SpecificCharacterSet = header.SpecificCharacterSet
    source.PatientName = patient.name
    source.PatientID = patient.patient_id
    source.PatientBirthDate = patient.birth_date
    rtype, keys = records.make_record("PATIENT", source, records.Fallbacks(_day(first.received)))
    return dicomdir.record(rtype, dicomdir.encode_keys(keys))


def _study_node(store: Store, study: StudyContent, ordinal: int) -> dicomdir.Node:
    first = study.series[0].items[0]
    source = _header(store, first.sop_uid)
    r = study.row
    for keyword, value in (("StudyDate", r.study_date), ("StudyTime", r.study_time),
                           ("StudyDescription", r.description), ("AccessionNumber", r.accession),
                           ("StudyID", r.study_id), ("StudyInstanceUID", r.study_uid)):
        if value:
            setattr(source, keyword, value)
    rtype, keys = records.make_record("STUDY", source,
                                      records.Fallbacks(_day(first.received), ordinal))
    return dicomdir.record(rtype, dicomdir.encode_keys(keys))


def _series_node(series: SeriesContent, ordinal: int) -> dicomdir.Node:
    first = series.items[0]
    source = Dataset()
    source.SOPClassUID = first.sop_class
    if series.row.modality:
        source.Modality = series.row.modality
    source.SeriesInstanceUID = series.row.series_uid
    source.SeriesNumber = _number(series.row.series_number, ordinal)
    rtype, keys = records.make_record("SERIES", source,
                                      records.Fallbacks(_day(first.received), ordinal))
    return dicomdir.record(rtype, dicomdir.encode_keys(keys))


def _leaf(store: Store, item: Item, file_id: tuple[str, ...],
          ordinal: int) -> tuple[str, dicomdir.Node]:
    number = _number(item.instance_number, ordinal)
    if item.sop_class in records.PLAIN_IMAGE_CLASSES:
        rtype, keys = "IMAGE", dicomdir.instance_number_key(number)
    else:
        header = _header(store, item.sop_uid)
        header.SOPClassUID = item.sop_class
        header.InstanceNumber = number
        rtype = records.leaf_type(item.sop_class, header)
        rtype, record = records.make_record(
            rtype, header, records.Fallbacks(_day(item.received), ordinal))
        keys = dicomdir.encode_keys(record)
    return rtype, dicomdir.record(rtype, keys, file_id, item.sop_class, item.sop_uid,
                                  item.transfer_syntax)


def compose_volume(store: Store, patients: list[PatientContent], *, profile: Profile,
                   number: int, count: int, created: datetime, settings: cfg.MediaConfig,
                   viewer: list[VolumeFile], workdir: Path, capacity: int | None,
                   check: Callable[[], None], web: WebContent | None = None,
                   asked: Asked | None = None) -> Volume:
    with warnings.catch_warnings():  # the data's own oddities, handled record by record
        warnings.simplefilter("ignore")
        return _compose(store, patients, profile=profile, number=number, count=count,
                        created=created, settings=settings, viewer=viewer, workdir=workdir,
                        capacity=capacity, check=check, web=web or WebContent(),
                        asked=asked or Asked())


def _compose(store: Store, patients: list[PatientContent], *, profile: Profile, number: int,
             count: int, created: datetime, settings: cfg.MediaConfig,
             viewer: list[VolumeFile], workdir: Path, capacity: int | None,
             check: Callable[[], None], web: WebContent, asked: Asked) -> Volume:
    label = fileset_id(created, number, count, asked.fileset_id)
    roots: list[dicomdir.Node] = []
    placed: dict[str, Placed] = {}
    reports: list[Report] = []
    files: list[VolumeFile] = []
    reports_dir = workdir / REPORTS_DIR / label
    study_no = 0
    for p_no, patient in enumerate(patients, 1):
        p_node = _patient_node(store, patient, patient.studies[0].series[0].items[0])
        roots.append(p_node)
        for s_no, study in enumerate(patient.studies, 1):
            study_no += 1
            st_node = _study_node(store, study, study_no)
            p_node.children.append(st_node)
            for se_no, series in enumerate(study.series, 1):
                check()
                se_node = _series_node(series, se_no)
                st_node.children.append(se_node)
                for i_no, item in enumerate(series.items, 1):
                    file_id = (DICOM_DIR, f"P{p_no:07d}", f"S{s_no:07d}", f"S{se_no:07d}",
                               f"I{i_no:07d}")
                    rtype, leaf = _leaf(store, item, file_id, i_no)
                    se_node.children.append(leaf)
                    placed[item.sop_uid] = Placed(item, file_id, rtype)
                    files.append(VolumeFile("/".join(file_id), item.size, source=item.source,
                                            is_dicom=True))
                    if rtype in REPORT_TYPES:
                        reports_dir.mkdir(parents=True, exist_ok=True)
                        rep = extract(item.sop_uid, study.row.study_uid, rtype, item.source,
                                      f"{pdi.WEB_DIR}/REP{len(reports) + 1:05d}", reports_dir)
                        if rep is not None:
                            reports.append(rep)
    info = pdi.MediumInfo(label, profile.value, number, count, created,
                          settings.institution, settings.station_name,
                          "VIEWER" if viewer else "", web.level, web.note, asked.label_text)
    generated = {"DICOMDIR": dicomdir.encode(label, roots),
                 "README.TXT": pdi.readme(info, patients, reports)}
    site = pdi.web_pages(info, patients, placed, reports, web.renderings)
    generated.update(site.pages)
    head = [VolumeFile(dest, len(data), data=data) for dest, data in generated.items()]
    head += [VolumeFile(r.dest, r.source.stat().st_size, source=r.source)
             for r in reports if r.source is not None]
    head += [VolumeFile(dest, p.size, source=p.path, offset=p.offset)
             for dest, p in site.pictures.items()]
    return Volume(
        label=label, profile=profile.value, number=number, count=count,
        files=(*head, *files, *viewer), created=created.isoformat(timespec="seconds"),
        patients=tuple(p.name for p in patients),
        studies=tuple(s.row.study_uid for p in patients for s in p.studies),
        capacity=capacity, notes=(web.note,) if web.note else ())
