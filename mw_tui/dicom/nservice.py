"""The Media Creation Management SCP on the receiver's associations (PS3.4 Annex S).

An N-service request on the Media Creation Management context becomes an `Exchange`: the
acceptor hands it the request's data set as it arrives (bounded) and sends the PDUs
`answer()` returns. N-CREATE, N-ACTION (1 Initiate, 2 Cancel) and N-GET are decoded into
the plain values of `mcm.py` and answered by the worker's `MediaCreation`; N-SET,
N-DELETE and N-EVENT-REPORT are not part of the service (Unrecognized Operation). No
failure of the station's side ever takes the association down: it becomes a status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydicom.dataset import Dataset

from mw_tui.dicom import mcm_codec, ncommands, wire
from mw_tui.dicom.events import MediaRequested, ReceiverEvent
from mw_tui.dicom.mcm import MediaCreation, Outcome
from mw_tui.dicom.ncommands import NRequest
from mw_tui.standard import mcm, sop, status

log = logging.getLogger(__name__)

DATASET_LIMIT = 16 * 1024 * 1024  # a request referencing ~100,000 instances still fits
MCM = sop.MEDIA_CREATION_MANAGEMENT


class MediaCreationScp:
    """Media Creation Management for every association of one receiver worker."""

    def __init__(self, media: MediaCreation, emit: Callable[[ReceiverEvent], None]) -> None:
        self.media = media
        self.emit = emit

    def exchange(self, command: bytes | bytearray, transfer_syntax: str, caller: str,
                 peer: str) -> Exchange:
        """The exchange of one request (`wire.ProtocolError` for a malformed command)."""
        return Exchange(self, ncommands.decode(command), transfer_syntax, caller, peer)


class Exchange:
    """One N-service request and its data set, then its response."""

    def __init__(self, scp: MediaCreationScp, request: NRequest, transfer_syntax: str,
                 caller: str, peer: str) -> None:
        self.scp = scp
        self.request = request
        self.transfer_syntax = transfer_syntax
        self.caller = caller
        self.peer = peer
        self.data = bytearray()

    def write(self, fragment: memoryview) -> None:
        self.data += fragment
        if len(self.data) > DATASET_LIMIT:
            raise wire.ProtocolError(f"N-service data set larger than {DATASET_LIMIT} bytes")

    def answer(self, context_id: int, max_pdu: int) -> list[bytes]:
        """The response PDUs (command, then the data set in PDVs of at most `max_pdu`)."""
        rq = self.request
        try:
            if rq.sop_class != MCM:
                raise mcm_codec.Refused(status.NO_SUCH_SOP_CLASS, f"not {MCM}")
            if rq.command_field == ncommands.N_CREATE_RQ:
                return self._reply(context_id, max_pdu, self._create())
            if rq.command_field == ncommands.N_ACTION_RQ:
                return self._reply(context_id, max_pdu, self._action())
            if rq.command_field == ncommands.N_GET_RQ:
                return self._get(context_id, max_pdu)
            raise mcm_codec.Refused(status.UNRECOGNIZED_OPERATION,
                                    "Media Creation Management has no such operation")
        except mcm_codec.Refused as exc:
            log.warning("media creation request from %s (%s) refused with status 0x%04X: %s",
                        self.peer, self.caller, exc.status, exc.comment)
            return self._reply(context_id, max_pdu, Outcome(exc.status, rq.sop_instance,
                                                            exc.comment))
        except Exception as exc:  # a bug or a broken database of ours: a status, logged
            log.error("media creation request from %s (%s) failed: %r", self.peer,
                      self.caller, exc, exc_info=True)
            return self._reply(context_id, max_pdu, Outcome(
                status.PROCESSING_FAILURE, rq.sop_instance, f"internal error: {exc}"))

    # -- the operations ---------------------------------------------------------------

    def _dataset(self) -> Dataset | None:
        return mcm_codec.read(bytes(self.data), self.transfer_syntax) if self.data else None

    def _create(self) -> Outcome:
        ds = self._dataset()
        if ds is None:
            raise mcm_codec.Refused(status.MISSING_ATTRIBUTE, "no attribute list")
        request = mcm_codec.request_of(ds)
        outcome = self.scp.media.create(request, self.request.sop_instance, self.caller)
        self._tell("created", outcome)
        return outcome

    def _action(self) -> Outcome:
        rq = self.request
        if not rq.sop_instance:
            raise mcm_codec.Refused(status.MISSING_ATTRIBUTE_VALUE,
                                    "no Requested SOP Instance UID")
        ds = self._dataset()
        if rq.action_type == mcm.INITIATE:
            priority = mcm_codec.priority_of(ds) if ds is not None else ""
            copies = mcm_codec.copies_of(ds) if ds is not None else None
            outcome = self.scp.media.initiate(rq.sop_instance, self.caller, priority, copies)
            self._tell("initiated", outcome)
        elif rq.action_type == mcm.CANCEL:
            outcome = self.scp.media.cancel(rq.sop_instance, self.caller)
            self._tell("cancelled", outcome)
        else:
            raise mcm_codec.Refused(status.NO_SUCH_ACTION,
                                    f"action type {rq.action_type}: 1 or 2 only")
        return outcome

    def _get(self, context_id: int, max_pdu: int) -> list[bytes]:
        rq = self.request
        state = self.scp.media.state(rq.sop_instance)
        if state is None:
            raise mcm_codec.Refused(status.NO_SUCH_SOP_INSTANCE, "no such request")
        ds, complete = mcm_codec.state_dataset(state, rq.attributes)
        code = status.SUCCESS if complete else status.OPTIONAL_ATTRIBUTES_NOT_SUPPORTED
        return self._reply(context_id, max_pdu, Outcome(code, rq.sop_instance),
                           mcm_codec.encode(ds, self.transfer_syntax))

    def _tell(self, action: str, outcome: Outcome) -> None:
        if outcome.ok:
            log.info("media creation request %s %s by %s (%s), job %s", outcome.uid, action,
                     self.caller, self.peer, outcome.job_id or "not made yet")
            self.scp.emit(MediaRequested(self.caller, self.peer, action, outcome.uid,
                                         outcome.job_id))
        else:
            log.warning("media creation request %s from %s (%s) not %s: status 0x%04X %s",
                        outcome.uid or self.request.sop_instance, self.caller, self.peer,
                        action, outcome.status, outcome.comment)

    def _reply(self, context_id: int, max_pdu: int, outcome: Outcome,
               dataset: bytes = b"") -> list[bytes]:
        command = ncommands.response(self.request, outcome.status, MCM,
                                     outcome.uid or self.request.sop_instance,
                                     has_dataset=bool(dataset), comment=outcome.comment)
        pdus = [wire.p_data(context_id, 0x03, command)]
        if dataset:
            room = max_pdu - 6 if max_pdu > 6 else len(dataset)  # 0: no limit
            pdus += wire.data_set_pdus(context_id, dataset, room)
        return pdus
