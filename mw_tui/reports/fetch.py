"""A study's reports into the store: Mitra report brokers first, then the archives' SR and
PDF objects, all in the study. Used by the job runner, the screens and `mw-tui reports`.

`fetch_reports()` asks every configured report source and the study's archives at once
(each with its own timeout), turns every report fetched as text into a Basic Text SR of
the study, retrieves the SR/PDF objects the store lacks, and lists the study's reports.
`count_reports()` only asks (nothing is stored) - for "include reports (n found)".
Failures of one source never stop the others; each is reported in the result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from pydicom import dcmread
from pydicom.dataset import Dataset

from mw_tui.config import Archive, Config, ReportSource
from mw_tui.dicom import archives as arch
from mw_tui.dicom.client import Problem
from mw_tui.dicom.find import find
from mw_tui.dicom.query import STUDY_RETURN_KEYS
from mw_tui.reports import fallback, mitra, textsr
from mw_tui.reports.fallback import ArchiveAnswer
from mw_tui.reports.mitra import BrokerAnswer
from mw_tui.reports.models import (
    FoundReport,
    Interpretation,
    ProgressCallback,
    ReportKind,
    ReportsResult,
    ReportStatus,
    SourceError,
    StudyKeys,
)
from mw_tui.standard import sop
from mw_tui.store import Refused, Store

log = logging.getLogger(__name__)

REPORT_CLASSES = frozenset(fallback.REPORT_SOP_CLASSES)
# the header attributes a new report copies, plus what identifies the verifier's organization
_KEYS_FROM_HEADER = (*textsr.COPIED, "InstitutionName", "SpecificCharacterSet")
T = TypeVar("T")


def _archives(config: Config, archives: Iterable[str | Archive] | None) -> list[Archive]:
    return arch.resolve(config, archives)  # UnknownArchive for a bad name


def _parallel(jobs: Sequence[Callable[[], T]]) -> list[T]:
    if len(jobs) <= 1:
        return [j() for j in jobs]
    with ThreadPoolExecutor(max_workers=min(len(jobs), 8),
                            thread_name_prefix="reports") as pool:
        return list(pool.map(lambda j: j(), jobs))


# -- what identifies the study -----------------------------------------------------------


def study_keys(config: Config, store: Store | None, study_uid: str,
               archives: Sequence[Archive] = (), accession: str = "",
               patient_id: str = "") -> StudyKeys:
    """The study's keys and attributes: from an instance in the store (an image rather than
    a report), else from the archives' STUDY level C-FIND answer, else what was given."""
    row = store.index.study(study_uid) if store is not None else None
    if store is not None and row is not None:
        instances = store.index.study_instances(study_uid)
        instances.sort(key=lambda r: r.sop_class in REPORT_CLASSES)
        for inst in instances[:3]:
            try:
                header = store.index.header(inst.sop_uid)
            except Exception as exc:  # a damaged index row: try the next instance
                log.warning("no header for %s: %s", inst.sop_uid, exc)
                continue
            attrs = _attributes(header)
            values = dict(attrs)
            return StudyKeys(study_uid, str(values.get("AccessionNumber", "") or ""),
                             str(values.get("PatientID", "") or ""), attrs)
    for archive in archives:
        answers: list[dict[str, str]] = []
        values = dict.fromkeys(STUDY_RETURN_KEYS, "")
        values.update(QueryRetrieveLevel="STUDY", StudyInstanceUID=study_uid)
        outcome = find(config, archive, values, answers.append)
        match = next((a for a in answers if a.get("StudyInstanceUID") == study_uid), None)
        if outcome.ok and match is not None:
            attrs = tuple((k, v) for k, v in match.items()
                          if k in textsr.COPIED and k != "StudyInstanceUID")
            return StudyKeys(study_uid, match.get("AccessionNumber", "") or accession,
                             match.get("PatientID", "") or patient_id, attrs)
    return StudyKeys(study_uid, accession, patient_id)


def _attributes(header: Dataset) -> tuple[tuple[str, Any], ...]:
    out = []
    for keyword in _KEYS_FROM_HEADER:
        if keyword in header and keyword != "SpecificCharacterSet":
            try:
                out.append((keyword, header[keyword].value))
            except Exception as exc:  # an undecodable value: the SR goes without it
                log.warning("study attribute %s unreadable: %s", keyword, exc)
    return tuple(out)


# -- Mitra reports into the store ----------------------------------------------------------


def _store_interpretations(config: Config, store: Store, keys: StudyKeys,
                           answer: BrokerAnswer, source: ReportSource) -> tuple[list[str], str]:
    """Store the broker's reports as Basic Text SRs; (SOP UIDs stored or changed, error)."""
    if not keys.attributes:
        return [], (f"study {keys.study_uid} is neither in the store nor found on an archive, "
                    f"so the {len(answer.interpretations)} report(s) from {source.name} cannot "
                    "be placed in it: retrieve the study first")
    series_uid = textsr.series_uid_for(keys.study_uid)
    series_number = _series_number(store, keys.study_uid, series_uid)
    numbers = {r.sop_uid: r.number for r in store.index.instances(series_uid)}
    organization = (str(dict(keys.attributes).get("InstitutionName", "") or "")
                    or config.media.institution or source.name)
    added: list[str] = []
    for found in answer.interpretations:
        if found.is_empty:
            log.info("report source %s: report %s of study %s has no text yet (status %s)",
                     source.name, found.interpretation_id or "?", keys.study_uid,
                     found.status_id or "?")
            continue
        sop_uid = textsr.sop_uid_for(keys.study_uid, found)
        number = numbers.get(sop_uid) or max([0, *numbers.values()]) + 1
        numbers[sop_uid] = number
        ds = textsr.build(found, keys, series_number, number, organization)
        data = textsr.encode(ds)
        if _same(store, sop_uid, data):
            continue
        try:
            store.store_bytes(textsr.BASIC_TEXT_SR, sop_uid, sop.EXPLICIT_VR_LE, data,
                              source.ae_title)
        except Refused as exc:
            return added, f"the store refused a report: {exc.reason}"
        added.append(sop_uid)
    return added, ""


def _series_number(store: Store, study_uid: str, series_uid: str) -> int:
    numbers = []
    for s in store.index.series(study_uid):
        try:
            n = int(s.series_number)
        except ValueError:
            continue
        if s.series_uid == series_uid:
            return n
        numbers.append(n)
    return max([0, *numbers]) + 1


def _same(store: Store, sop_uid: str, data: bytes) -> bool:
    """True when the store holds exactly this data set already."""
    row = store.index.instance(sop_uid)
    if row is None or row.size < len(data):
        return False
    try:
        with open(store.path_of(row.path), "rb") as f:
            f.seek(row.size - len(data))
            return f.read() == data
    except OSError:
        return False


# -- listing what the store holds -------------------------------------------------------------


def _code_meaning(ds: Dataset) -> str:
    seq = ds.get("ConceptNameCodeSequence")
    if seq:
        return str(seq[0].get("CodeMeaning", "") or "").strip()
    return ""


def _sr_status(ds: Dataset) -> ReportStatus:
    """From the SR's flags: verified, or complete with content that is final (Preliminary
    Flag FINAL: an approved report whose approver is not named), is final."""
    def flag(keyword: str) -> str:
        return str(ds.get(keyword, "") or "").strip().upper()

    if flag("VerificationFlag") == "VERIFIED":
        return ReportStatus.FINAL
    completion, preliminary = flag("CompletionFlag"), flag("PreliminaryFlag")
    if completion == "PARTIAL":
        return ReportStatus.PARTIAL
    if completion == "COMPLETE":
        return ReportStatus.FINAL if preliminary == "FINAL" else ReportStatus.PRELIMINARY
    if preliminary == "PRELIMINARY":
        return ReportStatus.PRELIMINARY
    return ReportStatus.UNKNOWN


def _sr_text(ds: Dataset) -> tuple[str, str]:
    """(text, impressions) of an SR document: the TEXT items of an Impressions section (or
    coded as an Impression) are its impressions, every other TEXT item its text."""
    text: list[str] = []
    impressions: list[str] = []

    def walk(items: Iterable[Dataset], in_impressions: bool, depth: int) -> None:
        for item in items:
            code = _code_value(item)
            inside = in_impressions or code in (textsr.IMPRESSIONS[0], textsr.IMPRESSION[0])
            if str(item.get("ValueType", "")).upper() == "TEXT":
                value = str(item.get("TextValue", "") or "").replace("\r\n", "\n").strip()
                if value:
                    (impressions if inside else text).append(value)
            if depth < 16:
                walk(item.get("ContentSequence") or [], inside, depth + 1)

    walk(ds.get("ContentSequence") or [], False, 0)
    return "\n\n".join(text), "\n\n".join(impressions)


def _code_value(item: Dataset) -> str:
    seq = item.get("ConceptNameCodeSequence")
    return str(seq[0].get("CodeValue", "") or "").strip() if seq else ""


def _whole(store: Store, path: str, header: Dataset) -> Dataset:
    """The stored file (its content tree may be too large for the index's header copy)."""
    try:
        return dcmread(store.path_of(path), stop_before_pixels=True)
    except Exception as exc:  # unreadable: what the index holds will do
        log.warning("report %s: cannot read the file: %s", path, exc)
        return header


def _author(ds: Dataset) -> str:
    for keyword, name in (("AuthorObserverSequence", "PersonName"),
                          ("VerifyingObserverSequence", "VerifyingObserverName")):
        for item in ds.get(keyword) or []:
            value = str(item.get(name, "") or "").strip()
            if value:
                return value
    return ""


def stored_reports(store: Store, study_uid: str, origins: dict[str, str] | None = None,
                   added: Iterable[str] = ()) -> list[FoundReport]:
    """The SR and Encapsulated PDF instances of the study in the store, oldest first."""
    origins = origins or {}
    new = set(added)
    mitra_series = textsr.series_uid_for(study_uid)
    out = []
    for inst in store.index.study_instances(study_uid):
        if inst.sop_class not in REPORT_CLASSES:
            continue
        try:
            ds = store.index.header(inst.sop_uid)
        except Exception as exc:
            log.warning("report %s: unreadable header: %s", inst.sop_uid, exc)
            ds = Dataset()
        text = impressions = ""
        if inst.sop_class == sop.ENCAPSULATED_PDF:
            kind = ReportKind.PDF
            title = str(ds.get("DocumentTitle", "") or "").strip() or "PDF report"
        else:
            kind = ReportKind.MITRA if inst.series_uid == mitra_series else ReportKind.SR
            title = _code_meaning(ds) or "Report"
            text, impressions = _sr_text(_whole(store, inst.path, ds))
        out.append(FoundReport(
            kind, title, _sr_status(ds), str(ds.get("ContentDate", "") or "").strip(),
            str(ds.get("ContentTime", "") or "").strip(), _author(ds),
            origins.get(inst.sop_uid, "store"), inst.sop_uid, inst.sop_class,
            inst.sop_uid in new, text, impressions))
    out.sort(key=lambda r: (r.date, r.time, r.sop_uid))
    return out


# -- the entry points -------------------------------------------------------------------------


def _ask_all(config: Config, keys: StudyKeys, archives: Sequence[Archive],
             cancel: threading.Event | None
             ) -> tuple[list[BrokerAnswer], list[ArchiveAnswer]]:
    jobs: list[Callable[[], BrokerAnswer | ArchiveAnswer]] = []
    for source in config.report_sources:
        jobs.append(partial(mitra.query, config, source, keys, cancel))
    for archive in archives:
        jobs.append(partial(fallback.locate, config, archive, keys.study_uid, cancel))
    answers = _parallel(jobs)
    brokers = [a for a in answers if isinstance(a, BrokerAnswer)]
    located = [a for a in answers if isinstance(a, ArchiveAnswer)]
    return brokers, located


def fetch_reports(config: Config, store: Store, study_uid: str,
                  cancel: threading.Event | None = None,
                  progress: ProgressCallback | None = None, *,
                  archives: Iterable[str | Archive] | None = None) -> ReportsResult:
    """Fetch the study's reports into the store and list them.

    `archives`: where to look for SR/PDF objects (default: every configured archive);
    UnknownArchive for a name that is not configured. `progress` hears what is being done
    (one line of text each step). Never raises for network trouble: see `result.errors`.
    """
    targets = _archives(config, archives)

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    say(f"looking for the reports of study {study_uid}")
    # the archives are asked for the study's attributes only when a broker's text needs them
    keys = study_keys(config, store, study_uid, targets if config.report_sources else ())
    brokers, located = _ask_all(config, keys, targets, cancel)
    errors: list[SourceError] = []
    added: list[str] = []
    origins: dict[str, str] = {}
    for answer, source in zip(brokers, config.report_sources, strict=True):
        if not answer.ok and answer.problem is not Problem.CANCELLED:
            errors.append(SourceError(source.name, ReportKind.MITRA, answer.error))
        if not answer.interpretations:
            continue
        say(f"storing {len(answer.interpretations)} report(s) from {source.name}")
        stored, error = _store_interpretations(config, store, keys, answer, source)
        added += stored
        origins.update((textsr.sop_uid_for(study_uid, f), source.name)
                       for f in answer.interpretations)
        if error:
            errors.append(SourceError(source.name, ReportKind.MITRA, error))
    seen: set[str] = set()
    for held in located:
        if not held.ok and held.problem is not Problem.CANCELLED:
            errors.append(SourceError(held.archive, ReportKind.SR, held.error))
        mine = [f for f in held.found if f.sop_uid not in seen]
        seen.update(f.sop_uid for f in mine)
        origins.update((f.sop_uid, held.archive) for f in mine)
        if not mine or (cancel is not None and cancel.is_set()):
            continue
        if any(store.index.instance(f.sop_uid) is None for f in mine):
            say(f"retrieving {len(mine)} report object(s) from {held.archive}")
        arrived, error = fallback.fetch(config, store, held.archive, mine, cancel)
        added += arrived
        if error:
            errors.append(SourceError(held.archive, ReportKind.SR, error))
    cancelled = cancel is not None and cancel.is_set()
    reports = stored_reports(store, study_uid, origins, added)
    result = ReportsResult(study_uid, tuple(reports), len(set(added)), tuple(errors), cancelled)
    say(result.message)
    log.info("reports: %s", result.message)
    return result


def count_reports(config: Config, study_uid: str,
                  archives: Iterable[str | Archive] | None = None, *,
                  accession: str = "", patient_id: str = "", store: Store | None = None,
                  cancel: threading.Event | None = None) -> int | None:
    """How many reports the study has: the report sources' (with text) and the archives'
    SR/PDF objects, plus those already in `store`, each counted once. Nothing is stored.
    None when nobody could be asked or nobody answered."""
    targets = _archives(config, archives)
    keys = StudyKeys(study_uid, accession, patient_id)
    if store is not None and store.index.study(study_uid) is not None:
        found = study_keys(config, store, study_uid)
        keys = StudyKeys(study_uid, found.accession or accession,
                         found.patient_id or patient_id)
    brokers, located = _ask_all(config, keys, targets, cancel)
    uids: set[str] = set()
    answered = False
    for b in brokers:
        answered = answered or b.ok
        uids.update(textsr.sop_uid_for(study_uid, f) for f in b.interpretations
                    if not f.is_empty)
    for a in located:
        answered = answered or a.ok
        uids.update(f.sop_uid for f in a.found)
    if store is not None:
        answered = True
        uids.update(r.sop_uid for r in stored_reports(store, study_uid))
    return len(uids) if answered else None


__all__ = ["FoundReport", "Interpretation", "ReportsResult", "count_reports",
           "fetch_reports", "stored_reports", "study_keys"]
