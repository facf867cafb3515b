"""The standard way, with any archive: a study's SR and Encapsulated PDF objects.

`locate()` asks one archive (Study Root C-FIND) for the study's series, then, in the
series that can hold reports (Modality SR, DOC, OT or none), for the instances of the
report SOP classes: the SOPClassUID key carries the list of classes (List of UID
Matching); an archive that refuses that gets the key as a plain return key and the
answers are filtered here. `fetch()` retrieves the series holding reports the store
lacks with the station's `retrieve()` (C-MOVE or C-GET, as the archive is configured).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom import messages
from mw_tui.dicom.client import ArchiveError, Association, Problem
from mw_tui.dicom.find import FIND_CONTEXT, FIND_SERVICE
from mw_tui.dicom.retrieve import SeriesRef, retrieve
from mw_tui.reports import cfind
from mw_tui.standard import sop
from mw_tui.store import Store

log = logging.getLogger(__name__)

REPORT_SOP_CLASSES = (*sorted(sop.SR_SOP_CLASSES), sop.ENCAPSULATED_PDF)
REPORT_MODALITIES = frozenset({"SR", "DOC", "OT", ""})  # series that may hold reports
_ASSUMED = {"SR": "1.2.840.10008.5.1.4.1.1.88.11", "DOC": sop.ENCAPSULATED_PDF}


@dataclass(frozen=True, slots=True)
class Located:
    """A report instance an archive holds."""

    archive: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str


@dataclass(frozen=True, slots=True)
class ArchiveAnswer:
    archive: str
    found: tuple[Located, ...] = ()
    error: str = ""
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return not self.error


def _series_query(study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.Modality = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    return ds


def _image_query(study_uid: str, series_uid: str, classes: Sequence[str]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.SOPClassUID = list(classes) if len(classes) > 1 else (classes[0] if classes else "")
    ds.SOPInstanceUID = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    return ds


def locate(config: Config, archive: Archive, study_uid: str,
           cancel: threading.Event | None = None) -> ArchiveAnswer:
    """The report instances of the study on one archive (never raises for the network)."""
    peer = arch.peer_of(archive, config)
    started = time.monotonic()
    try:
        with Association(config.station.ae_title, peer, [FIND_CONTEXT],
                         timeout=archive.timeout, max_pdu=config.station.max_pdu,
                         deadline=started + archive.timeout * 3, cancel=cancel) as assoc:
            cid = assoc.context_for(sop.STUDY_ROOT_FIND, FIND_SERVICE)
            series = cfind.find(assoc, cid, _series_query(study_uid), "looking for reports")
            if series.cancelled:
                return ArchiveAnswer(archive.name, error="cancelled", problem=Problem.CANCELLED)
            if series.failed:
                return ArchiveAnswer(archive.name, error=messages.failed_status(
                    peer, "search for report series", series.status, series.comment))
            found: list[Located] = []
            for s in series.matches:
                modality = str(s.get("Modality", "") or "").strip().upper()
                series_uid = str(s.get("SeriesInstanceUID", "") or "").strip()
                if modality in REPORT_MODALITIES and series_uid:
                    found += _instances(assoc, cid, archive.name, study_uid, series_uid,
                                        modality)
    except ArchiveError as exc:
        log.info("reports on %s: %s", peer, exc)
        return ArchiveAnswer(archive.name, error=str(exc), problem=exc.problem)
    return ArchiveAnswer(archive.name, tuple(found))


def _instances(assoc: Association, cid: int, archive: str, study_uid: str, series_uid: str,
               modality: str) -> list[Located]:
    answer = cfind.find(assoc, cid, _image_query(study_uid, series_uid, REPORT_SOP_CLASSES),
                        "looking for reports")
    if answer.failed:  # no List of UID Matching on SOPClassUID here: filter ourselves
        log.info("%s refused matching on SOP Class UID (0x%04X); filtering the series' "
                 "instances here", assoc.peer, answer.status)
        answer = cfind.find(assoc, cid, _image_query(study_uid, series_uid, ()),
                            "looking for reports")
        if answer.failed:
            log.warning("%s: cannot list the instances of series %s (0x%04X)", assoc.peer,
                        series_uid, answer.status)
            return []
    out = []
    for ds in answer.matches:
        sop_uid = str(ds.get("SOPInstanceUID", "") or "").strip()
        sop_class = str(ds.get("SOPClassUID", "") or "").strip() or _ASSUMED.get(modality, "")
        if sop_uid and sop_class in REPORT_SOP_CLASSES:
            out.append(Located(archive, study_uid, series_uid, sop_uid, sop_class))
    return out


def fetch(config: Config, store: Store, archive: str, found: Sequence[Located],
          cancel: threading.Event | None = None) -> tuple[list[str], str]:
    """Retrieve the series holding `found` into the store; (SOP UIDs now in the store that
    were not before, an error message or "")."""
    missing = [f for f in found if store.index.instance(f.sop_uid) is None]
    if not missing:
        return [], ""
    refs = list(dict.fromkeys(SeriesRef(f.study_uid, f.series_uid) for f in missing))
    try:
        result = retrieve(config, archive, refs, cancel=cancel, store=store)
    except Exception as exc:  # an unknown archive name, a bug: one source, not the fetch
        log.exception("retrieving reports from %s failed", archive)
        return [], str(exc)
    arrived = [f.sop_uid for f in missing if store.index.instance(f.sop_uid) is not None]
    if len(arrived) == len(missing):
        return arrived, ""
    return arrived, (f"{len(missing) - len(arrived)} of {len(missing)} reports did not arrive"
                     f": {result.message}")
