"""The tests' RIS: a pynetdicom Media Creation Management SCU (N-CREATE, N-ACTION, N-GET)
that also sends instances with C-STORE first, as a RIS's PACS would."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import MediaCreationManagement

from mw_tui.standard import sop
from tests.peers import wait_until

VERIFICATION = "1.2.840.10008.1.1"
MCM = MediaCreationManagement
INITIATE, CANCEL = 1, 2


class Ris:
    """One association of the RIS with the station."""

    def __init__(self, assoc: Association) -> None:
        self.assoc = assoc
        self.created_uids: list[str] = []  # Affected SOP Instance UIDs of N-CREATE-RSPs

    def store(self, files: Iterable[Path]) -> None:
        for f in files:
            result = self.assoc.send_c_store(pydicom.dcmread(f))
            assert result.Status == 0x0000, f"C-STORE of {f}: {result}"

    def create(self, refs: Iterable[tuple[str, str]], uid: str | None = "",
               **attributes: Any) -> tuple[int, str]:
        """N-CREATE of a request for `refs` ((SOP class, SOP instance) pairs); `uid` ""
        makes one here, None lets the station choose. (status, the request's UID)."""
        ds = Dataset()
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        items = []
        for sop_class, sop_instance in refs:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_instance
            items.append(item)
        ds.ReferencedSOPSequence = items
        if uid == "":
            uid = generate_uid()
        status, _ = self.assoc.send_n_create(ds, MCM, uid)
        return int(status.Status), uid or self.created_uids[-1]

    def action(self, uid: str, action: int, info: Dataset | None = None) -> Dataset:
        status, _ = self.assoc.send_n_action(info, action, MCM, uid)
        return status

    def get(self, uid: str, tags: list[int] | None = None) -> tuple[int, Dataset]:
        status, ds = self.assoc.send_n_get(tags or [], MCM, uid)
        return int(status.Status), ds

    def wait_for(self, uid: str, *states: str, timeout: float = 120) -> Dataset:
        """N-GET until the Execution Status is one of `states` (or fail the test)."""
        def reached() -> Dataset | None:
            code, ds = self.get(uid)
            assert code == 0x0000, f"N-GET failed: 0x{code:04X}"
            return ds if ds.ExecutionStatus in states else None

        found: Dataset = wait_until(reached, timeout, f"request {uid} to be {states}",
                                    interval=0.2)
        return found


@contextmanager
def ris(port: int, ae_title: str = "RIS", called: str = "MW_TUI",
        storage: Iterable[str] = (), max_pdu: int = 16382) -> Iterator[Ris]:
    """An association of the RIS (Media Creation Management, and the Storage classes
    given); AssertionError when it is not established."""
    ae = AE(ae_title=ae_title)
    ae.dimse_timeout = ae.acse_timeout = ae.network_timeout = 60
    ae.maximum_pdu_size = max_pdu
    ae.add_requested_context(MCM, [sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE])
    for uid in storage:
        ae.add_requested_context(uid, [sop.EXPLICIT_VR_LE])
    created: list[str] = []

    def heard(event: evt.Event) -> None:
        cs = event.message.command_set
        if cs.CommandField == 0x8140 and "AffectedSOPInstanceUID" in cs:
            created.append(str(cs.AffectedSOPInstanceUID))

    assoc = ae.associate("127.0.0.1", port, ae_title=called,
                         evt_handlers=[(evt.EVT_DIMSE_RECV, heard)])
    assert assoc.is_established, "the station did not accept the RIS"
    session = Ris(assoc)
    session.created_uids = created
    try:
        yield session
    finally:
        if assoc.is_established:
            assoc.release()


def refused(port: int, ae_title: str, called: str = "MW_TUI") -> bool:
    """Whether the station refuses Media Creation Management to `ae_title`. It refuses
    the service, not the caller: the association is still established, and Verification
    is still accepted (a caller not listed stays a Storage and Verification peer)."""
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.network_timeout = 30
    ae.add_requested_context(MCM)
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    try:
        assert assoc.is_established, f"{ae_title}: the whole association was rejected"
        accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        assert VERIFICATION in accepted, accepted
        return MCM not in accepted
    finally:
        if assoc.is_established:
            assoc.release()
