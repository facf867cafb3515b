"""Mitra Report Management SCU: a study's reports as text, from a report broker.

No public document defines this private service (docs/reports.md says what is assumed). The
station proposes every configured SOP class UID in one association, uses the first one
the broker accepts, and sends a C-FIND whose identifier matches on one key (Accession
Number, Study Instance UID or Patient ID, in the configured order, until one finds
reports) and asks for the group 4008 attributes of the retired Detached Interpretation
Management model. Whatever else comes back is kept. The accepted contexts and the
attributes nobody asked for are logged, so a site can learn its broker's dialect.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag

from mw_tui.config import Config, ReportSource
from mw_tui.dicom import messages
from mw_tui.dicom.client import ArchiveError, Association, Problem, Proposal
from mw_tui.dicom.messages import Peer
from mw_tui.reports import cfind
from mw_tui.reports.models import Approval, Interpretation, StudyKeys
from mw_tui.standard import sop

log = logging.getLogger(__name__)

SERVICE = "Mitra Report Management"
TRANSFER_SYNTAXES = (sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE)  # the spec proposes Implicit
MATCH_KEYWORDS = {"accession": "AccessionNumber", "study_uid": "StudyInstanceUID",
                  "patient_id": "PatientID"}
# Return keys of the identifier, in tag order (group 4008 last)
IDENTIFICATION_KEYS = ("AccessionNumber", "PatientName", "PatientID", "StudyInstanceUID")
INTERPRETATION_KEYS = (
    "InterpretationRecordedDate", "InterpretationRecordedTime", "InterpretationRecorder",
    "InterpretationTranscriber", "InterpretationText", "InterpretationAuthor",
    "InterpretationID", "InterpretationIDIssuer", "InterpretationTypeID",
    "InterpretationStatusID", "Impressions", "InterpretationDiagnosisDescription",
)
APPROVER_KEYS = ("InterpretationApprovalDate", "InterpretationApprovalTime",
                 "PhysicianApprovingInterpretation")
_ALWAYS_KNOWN = frozenset({0x00080005, 0x00080052, 0x00080054, 0x00080056, 0x00088000})
EXTRA_VALUE_LIMIT = 2000  # characters kept of each unasked-for value


@dataclass(frozen=True, slots=True)
class BrokerAnswer:
    """What one report source said about one study."""

    source: str
    interpretations: tuple[Interpretation, ...] = ()
    sop_class: str = ""  # the SOP class UID the broker accepted
    matched_on: str = ""  # the key that found the reports ("" when none did)
    error: str = ""  # why it could not answer; "" when it did
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return not self.error


def peer_of(source: ReportSource) -> Peer:
    return Peer(source.name, source.ae_title, source.host, source.port)


def build_query(match: str, value: str) -> Dataset:
    """The C-FIND identifier: one matching key, every return key empty."""
    ds = Dataset()
    if not value.isascii():
        ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword in IDENTIFICATION_KEYS:
        setattr(ds, keyword, value if MATCH_KEYWORDS[match] == keyword else "")
    for keyword in INTERPRETATION_KEYS:
        setattr(ds, keyword, "")
    approver = Dataset()
    for keyword in APPROVER_KEYS:
        setattr(approver, keyword, "")
    ds.InterpretationApproverSequence = [approver]
    return ds


def _asked_tags() -> frozenset[int]:
    q = build_query("study_uid", "1.2")
    return frozenset(int(e.tag) for e in q.iterall()) | _ALWAYS_KNOWN


ASKED = _asked_tags()


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _describe(tag: BaseTag) -> str:
    name = keyword_for_tag(tag) or ("private" if tag.is_private else "unknown")
    return f"({tag.group:04X},{tag.element:04X}) {name}"


def _value_text(elem_value: object, vr: str) -> str:
    if vr == "SQ" and isinstance(elem_value, DicomSequence):
        return f"[{len(elem_value)} item{'s' if len(elem_value) != 1 else ''}]"
    if isinstance(elem_value, bytes | bytearray):
        return f"<{len(elem_value)} bytes>"
    if isinstance(elem_value, list | tuple | MultiValue):
        text = "\\".join(str(v) for v in elem_value)
    else:
        text = "" if elem_value is None else str(elem_value)
    return text[:EXTRA_VALUE_LIMIT]


def unasked(ds: Dataset) -> list[tuple[str, str, str]]:
    """(tag and name, VR, value as text) of every attribute the query did not ask for."""
    out = []
    for elem in ds.iterall():
        if int(elem.tag) in ASKED or elem.tag.is_private_creator:
            continue
        out.append((_describe(elem.tag), str(elem.VR), _value_text(elem.value, str(elem.VR))))
    return out


def interpretation(ds: Dataset, source: str) -> Interpretation:
    """One broker answer as plain values."""
    approvals = []
    for item in ds.get("InterpretationApproverSequence") or []:
        a = Approval(_text(item, "PhysicianApprovingInterpretation"),
                     _text(item, "InterpretationApprovalDate"),
                     _text(item, "InterpretationApprovalTime"))
        if a.physician or a.date:
            approvals.append(a)
    return Interpretation(
        source=source,
        interpretation_id=_text(ds, "InterpretationID"),
        id_issuer=_text(ds, "InterpretationIDIssuer"),
        type_id=_text(ds, "InterpretationTypeID").upper(),
        status_id=_text(ds, "InterpretationStatusID").upper(),
        text=_text(ds, "InterpretationText"),
        impressions=_text(ds, "Impressions"),
        diagnosis=_text(ds, "InterpretationDiagnosisDescription"),
        recorded_date=_text(ds, "InterpretationRecordedDate"),
        recorded_time=_text(ds, "InterpretationRecordedTime"),
        author=_text(ds, "InterpretationAuthor") or _text(ds, "InterpretationRecorder"),
        transcriber=_text(ds, "InterpretationTranscriber"),
        approvals=tuple(approvals),
        study_uid=_text(ds, "StudyInstanceUID"),
        accession=_text(ds, "AccessionNumber"),
        patient_id=_text(ds, "PatientID"),
        extra=tuple((name, value) for name, _vr, value in unasked(ds)),
    )


def belongs(found: Interpretation, keys: StudyKeys, match: str) -> bool:
    """Whether an answer is a report of this study (a patient's other studies are not)."""
    if found.study_uid:
        return found.study_uid == keys.study_uid
    if found.accession and keys.accession:
        return found.accession == keys.accession
    # the answer does not say which study: trust a match on the study's own keys only
    return match in ("accession", "study_uid") and not found.accession


def query(config: Config, source: ReportSource, keys: StudyKeys,
          cancel: threading.Event | None = None) -> BrokerAnswer:
    """Ask one report source for the study's reports (never raises for network trouble)."""
    peer = peer_of(source)
    proposals = [Proposal(uid, TRANSFER_SYNTAXES) for uid in source.sop_class_uids]
    started = time.monotonic()
    try:
        with Association(config.station.ae_title, peer, proposals, timeout=source.timeout,
                         max_pdu=config.station.max_pdu, deadline=started + source.timeout * 3,
                         cancel=cancel) as assoc:
            accepted = {a: ts for a, ts in assoc.accepted.values()}
            log.info("report source %s accepted %s; not accepted: %s", peer,
                     ", ".join(f"{a} ({sop.TRANSFER_SYNTAX_NAMES.get(ts, ts)})"
                               for a, ts in accepted.items()) or "nothing",
                     ", ".join(u for u in source.sop_class_uids if u not in accepted)
                     or "nothing")
            chosen = next((u for u in source.sop_class_uids if u in accepted), None)
            if chosen is None:
                return BrokerAnswer(source.name, error=not_accepted(peer, source),
                                    problem=Problem.NOT_SUPPORTED)
            return _ask(assoc, assoc.context_for(chosen, SERVICE), chosen, source, keys)
    except ArchiveError as exc:
        log.info("report source %s: %s", peer, exc)
        return BrokerAnswer(source.name, error=str(exc), problem=exc.problem)


def _ask(assoc: Association, cid: int, chosen: str, source: ReportSource,
         keys: StudyKeys) -> BrokerAnswer:
    failures: list[str] = []
    answered = False
    for match in source.match_on:
        value = keys.key(match)
        if not value:
            continue
        answer = cfind.find(assoc, cid, build_query(match, value), "asking for reports")
        if answer.cancelled:
            return BrokerAnswer(source.name, sop_class=chosen, error="cancelled",
                                problem=Problem.CANCELLED)
        if answer.failed:
            failures.append(messages.failed_status(assoc.peer, f"report query on {match}",
                                                   answer.status, answer.comment))
            continue
        answered = True
        found = [interpretation(ds, source.name) for ds in answer.matches]
        _log_dialect(assoc.peer, match, found)
        mine = [f for f in found if belongs(f, keys, match)]
        if len(mine) < len(found):
            log.info("report source %s: %d of %d answers on %s belong to other studies",
                     assoc.peer, len(found) - len(mine), len(found), match)
        if mine:
            return BrokerAnswer(source.name, tuple(mine), chosen, match)
    if answered or not failures:
        return BrokerAnswer(source.name, sop_class=chosen)
    return BrokerAnswer(source.name, sop_class=chosen, error=" ".join(failures))


def _log_dialect(peer: Peer, match: str, found: list[Interpretation]) -> None:
    seen: dict[str, int] = {}
    for f in found:
        for name, _value in f.extra:
            seen[name] = seen.get(name, 0) + 1
    if seen:
        log.info("report source %s (match on %s) returned attributes it was not asked for: %s",
                 peer, match, "; ".join(f"{n} (in {c} of {len(found)})"
                                        for n, c in sorted(seen.items())))


def not_accepted(peer: Peer, source: ReportSource) -> str:
    return (f"The report broker {peer} accepts none of the Mitra Report Management SOP "
            f"classes proposed ({', '.join(source.sop_class_uids)}). Ask its administrator "
            "which SOP class UID its report query uses and set sop_class_uids of the report "
            f"source {source.name!r} in the configuration; or remove the report source if "
            "the broker does not offer reports.")
