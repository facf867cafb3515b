"""A report broker for the tests: a pynetdicom AE that answers the Mitra Report
Management C-FIND (a private SOP class registered as a C-FIND service) like a broker
would, with group 4008 interpretation attributes and some attributes nobody asked for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom import config
from pydicom.dataset import Dataset
from pynetdicom import AE, evt, register_uid
from pynetdicom.service_class import QueryRetrieveServiceClass
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

SPEC_UID = "1.2.840.113532.3500.8"
AGFA_UID = "1.2.124.113532.3500.8"
IMPLICIT = "1.2.840.10008.1.2"

for _keyword, _uid in (("MitraReportManagementSpec", SPEC_UID),
                       ("MitraReportManagementAgfa", AGFA_UID),
                       ("SomeOtherPrivateFind", "1.2.3.4.5.6.7.8")):
    register_uid(_uid, _keyword, QueryRetrieveServiceClass, "C-FIND")


def report(study_uid: str, accession: str, patient_id: str, interpretation_id: str,
           text: str, status: str = "APPROVED", *, author: str = "Ødegård^Åse^^Dr.",
           approver: str = "Müller^Jürgen", impressions: str = "", diagnosis: str = "",
           date: str = "20240116", time: str = "101500", type_id: str = "REPORT",
           with_study_uid: bool = True, charset: str = "ISO_IR 192") -> Dataset:
    """A broker's answer: what a Mitra broker keeps of one interpretation."""
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.AccessionNumber = accession
    ds.StudyDescription = "CT chest"  # not asked for
    ds.PatientName = "Doe^John"
    ds.PatientID = patient_id
    if with_study_uid:
        ds.StudyInstanceUID = study_uid
    ds.ResultsID = f"RES{interpretation_id}"  # (4008,0040), not asked for
    ds.InterpretationRecordedDate = date
    ds.InterpretationRecordedTime = time
    with config.disable_value_validation():  # brokers send more than ST's 1024 characters
        ds.InterpretationText = text
    ds.InterpretationAuthor = author
    if approver and status == "APPROVED":
        item = Dataset()
        item.InterpretationApprovalDate = date
        item.InterpretationApprovalTime = "120000"
        item.PhysicianApprovingInterpretation = approver
        ds.InterpretationApproverSequence = [item]
    else:
        ds.InterpretationApproverSequence = []
    ds.InterpretationID = interpretation_id
    ds.InterpretationIDIssuer = "MITRA"
    ds.InterpretationTypeID = type_id
    ds.InterpretationStatusID = status
    ds.Impressions = impressions
    ds.InterpretationDiagnosisDescription = diagnosis
    block = ds.private_block(0x0029, "MITRA REPORT", create=True)
    block.add_new(0x01, "LO", "dictation 42")
    return ds


MATCH_KEYS = ("AccessionNumber", "StudyInstanceUID", "PatientID")


@dataclass
class Broker:
    """Answers each query with the reports whose non-empty key values match."""

    reports: list[Dataset] = field(default_factory=list)
    uids: Sequence[str] = (SPEC_UID,)
    ae_title: str = "BROKER"
    transfer_syntaxes: Sequence[str] = (IMPLICIT,)
    hold: threading.Event | None = None  # set: answers wait until it is set
    queries: list[Dataset] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)  # the abstract syntaxes queried on
    answer: Callable[[Dataset], list[Dataset]] | None = None
    refuse: str = ""  # a keyword: queries matching on it get status 0xA900
    port: int = 0
    cancelled: int = 0  # C-CANCELs seen
    _server: Any = None

    def start(self) -> Broker:
        ae = AE(self.ae_title)
        for uid in self.uids:
            ae.add_supported_context(uid, list(self.transfer_syntaxes))
        ae.add_supported_context(Verification)
        handlers = [(evt.EVT_C_FIND, self._on_find)]
        self._server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _matches(self, query: Dataset) -> list[Dataset]:
        if self.answer is not None:
            return self.answer(query)
        out = []
        for r in self.reports:
            keys = [k for k in MATCH_KEYS if str(query.get(k, "") or "")]
            if keys and all(str(r.get(k, "")) == str(query.get(k)) for k in keys):
                out.append(r)
        return out

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        self.queries.append(query)
        self.contexts.append(str(event.context.abstract_syntax))
        if self.hold is not None:  # silent until released (or cancelled)
            deadline = time.monotonic() + 30
            while not self.hold.wait(0.05) and time.monotonic() < deadline:
                if event.is_cancelled:
                    self.cancelled += 1
                    yield 0xFE00, None
                    return
        if self.refuse and str(query.get(self.refuse, "") or ""):
            yield 0xA900, None  # identifier does not match SOP class
            return
        for r in self._matches(query):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, r
