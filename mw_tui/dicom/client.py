"""One outbound association to an archive: a lean, blocking DIMSE client (the SCU side).

Negotiation PDUs are built and parsed with pynetdicom's PDU codecs (as the receiver does);
the data phase is done here on a `Link`: responses decoded with `commands.decode`, data
sets handed back as raw bytes, and a C-GET's C-STORE sub-operations streamed straight
into the store, byte for byte. This keeps a 500-study C-FIND as fast as dcmtk's findscu.

Every wait is bounded (silence `timeout`, optional `deadline`). When the `cancel` event
is set while a request runs, C-CANCEL goes out (before the next C-STORE response, during
a C-GET) and the association is aborted if the archive has not finished within
`CANCEL_GRACE` seconds. Failures raise `ArchiveError` with a message for the technician.
"""

from __future__ import annotations

import itertools
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext

from mw_tui import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from mw_tui.dicom import commands, messages, wire
from mw_tui.dicom.commands import Message
from mw_tui.dicom.link import ArchiveError, Link, Problem
from mw_tui.dicom.messages import Peer
from mw_tui.dicom.refusal import status_of
from mw_tui.standard import status
from mw_tui.store import Incoming, Refused, Store, StoredInstance

__all__ = ["ArchiveError", "Association", "Problem", "Proposal", "Response"]

log = logging.getLogger(__name__)

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
CANCEL_GRACE = 5.0  # seconds an archive gets to answer a C-CANCEL before we abort
RECEIVE_CAP = 64 * 1024 * 1024  # largest PDU accepted when max_pdu is 0 (no limit)
NEGOTIATION_LIMIT = 1024 * 1024
LENIENT_PDU = 4 * 1024 * 1024
_SEND_CAP = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Proposal:
    """A presentation context to propose: one abstract syntax, its transfer syntaxes."""

    abstract: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Response:
    message: Message
    dataset: bytes | None  # the identifier, as received (None when there is none)
    transfer_syntax: str


StoredCallback = Callable[[StoredInstance | None, Message], None]


class Association:
    """Connect with `open()` (or `with`), run requests with `request()`, then `release()`."""

    def __init__(self, calling_ae: str, peer: Peer, proposals: Sequence[Proposal], *,
                 timeout: float, max_pdu: int = 524288, deadline: float | None = None,
                 cancel: threading.Event | None = None, scp_roles: Sequence[str] = (),
                 on_idle: Callable[[], None] | None = None) -> None:
        self.calling_ae = calling_ae
        self.peer = peer
        self.proposals = list(proposals)
        self.max_pdu = max_pdu
        self.cancel = cancel
        self.scp_roles = list(scp_roles)
        self.on_idle = on_idle  # called at least every POLL_SLICE while a request waits
        self.link = Link(peer, timeout, deadline)
        self.accepted: dict[int, tuple[str, str]] = {}  # context id -> (abstract, ts)
        self.peer_max_pdu = 0
        self.cancel_sent = False
        self._ids = itertools.count(1)
        self._outstanding = 0  # message id of the running request
        self._outstanding_context = 0

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Association:
        self.open()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.release()
        else:
            self.abort()

    @property
    def local_ip(self) -> str:
        return self.link.local_ip

    def open(self) -> None:
        self.link.connect()
        try:
            self.link.send(self._associate_rq())
            self.link.doing = "negotiating the association"
            pdu_type, body = self.link.read_pdu(NEGOTIATION_LIMIT)
            if pdu_type == wire.A_ASSOCIATE_AC:
                self._accepted(body)
            elif pdu_type == wire.A_ASSOCIATE_RJ and len(body) >= 4:
                raise ArchiveError(Problem.REJECTED, messages.rejected(
                    self.peer, self.calling_ae, body[1], body[2], body[3]))
            elif pdu_type == wire.A_ABORT and len(body) >= 4:
                raise ArchiveError(Problem.ABORTED, messages.aborted(self.peer, body[2],
                                                                     body[3]))
            else:
                raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                    self.peer, f"PDU type {pdu_type} instead of an association answer"))
        except BaseException:
            self.link.close()
            raise

    def _associate_rq(self) -> bytes:
        rq = A_ASSOCIATE()
        rq.application_context_name = APPLICATION_CONTEXT
        rq.calling_ae_title = self.calling_ae
        rq.called_ae_title = self.peer.ae_title
        contexts = []
        for i, p in enumerate(self.proposals):
            cx = PresentationContext()
            cx.context_id = 2 * i + 1
            cx.abstract_syntax = p.abstract
            cx.transfer_syntax = list(p.transfer_syntaxes)
            contexts.append(cx)
        rq.presentation_context_definition_list = contexts
        max_length = MaximumLengthNotification()
        max_length.maximum_length_received = self.max_pdu
        impl = ImplementationClassUIDNotification()
        impl.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        version = ImplementationVersionNameNotification()
        version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        info: list = [max_length, impl, version]
        for uid in self.scp_roles:  # C-GET: we are the storage SCP for these
            role = SCP_SCU_RoleSelectionNegotiation()
            role.sop_class_uid = uid
            role.scu_role = False
            role.scp_role = True
            info.append(role)
        rq.user_information = info
        pdu = A_ASSOCIATE_RQ()
        pdu.from_primitive(rq)
        return bytes(pdu.encode())

    def _accepted(self, body: bytearray) -> None:
        pdu = A_ASSOCIATE_AC()
        try:
            pdu.decode(bytes([wire.A_ASSOCIATE_AC, 0]) + len(body).to_bytes(4, "big") + body)
            ac = pdu.to_primitive()
            results = ac.presentation_context_definition_results_list
        except Exception as exc:  # pynetdicom raises many kinds on garbage
            raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                self.peer, f"malformed A-ASSOCIATE-AC: {exc!r}"[:200])) from exc
        for cx in results:
            i = ((cx.context_id or 0) - 1) // 2
            if cx.result == 0 and 0 <= i < len(self.proposals) and cx.transfer_syntax:
                self.accepted[int(cx.context_id or 0)] = (self.proposals[i].abstract,
                                                          str(cx.transfer_syntax[0]))
        self.peer_max_pdu = int(ac.maximum_length_received or 0)
        log.debug("associated with %s: %d of %d contexts accepted", self.peer,
                  len(self.accepted), len(self.proposals))

    def context_for(self, abstract: str, service: str) -> int:
        """The accepted context id for `abstract`; NOT_SUPPORTED when there is none."""
        for cid, (a, _) in self.accepted.items():
            if a == abstract:
                return cid
        raise ArchiveError(Problem.NOT_SUPPORTED, messages.not_supported(self.peer, service))

    def release(self) -> None:
        """A-RELEASE; the socket is closed whatever the archive answers."""
        if not self.link.is_open:
            return
        try:
            self.link.send(struct.pack(">BBI4x", wire.A_RELEASE_RQ, 0, 4))
            self.link.doing = "releasing the association"
            self.link.deadline = time.monotonic() + min(self.link.timeout, 5.0)
            while True:
                pdu_type, _ = self.link.read_pdu(RECEIVE_CAP)
                if pdu_type in (wire.A_RELEASE_RP, wire.A_ABORT):
                    break
                if pdu_type == wire.A_RELEASE_RQ:  # release collision (PS3.8 7.2.2)
                    self.link.send(wire.release_rp())
                    break
        except ArchiveError:
            pass
        finally:
            self.link.close()

    def abort(self) -> None:
        self.link.send_quietly(wire.abort(0, 0))
        self.link.close()

    # -- requests -------------------------------------------------------------------

    def request(self, context_id: int, command_field: int, identifier: bytes | None, *,
                move_destination: str = "", store: Store | None = None,
                on_stored: StoredCallback | None = None, doing: str = "") -> Iterator[Response]:
        """Send one request; yield its responses, the final one last.

        C-STORE requests arriving meanwhile (a C-GET's sub-operations) go into `store`
        exactly as received and are answered; `on_stored` hears of each one.
        """
        abstract, _ = self.accepted[context_id]
        if self.cancel is not None and self.cancel.is_set():
            raise ArchiveError(Problem.CANCELLED, f"{self.peer}: cancelled")
        self.link.doing = doing or "waiting for an answer"
        message_id = next(self._ids) & 0xFFFF or next(self._ids)
        self._outstanding, self._outstanding_context = message_id, context_id
        self._send_message(context_id, commands.request(command_field, message_id, abstract,
                                                        identifier is not None,
                                                        move_destination), identifier)
        try:
            yield from self._responses(message_id, store, on_stored)
        finally:
            self._outstanding = 0

    def store(self, context_id: int, sop_class: str, sop_instance: str,
              chunks: Iterable[bytes | memoryview], abort: Callable[[], bool] | None = None
              ) -> Message:
        """C-STORE one data set, streamed from `chunks` (never held whole); the response.

        `abort` is asked between PDUs: when it says so the association is aborted
        (ArchiveError CANCELLED), as a C-STORE cannot be cancelled half-way.
        """
        self.link.doing = "sending an instance"
        message_id = next(self._ids) & 0xFFFF or next(self._ids)
        size = max(min(self.peer_max_pdu or _SEND_CAP, _SEND_CAP) - 6, 1024)
        out = [wire.p_data(context_id, 0x03,
                           commands.store_request(message_id, sop_class, sop_instance))]
        queued = len(out[0])
        pending = bytearray()
        for chunk in chunks:
            pending += chunk
            if len(pending) <= size:
                continue
            view = memoryview(pending)
            cut = (len(pending) - 1) // size * size  # keep the last bytes: the last fragment
            for start in range(0, cut, size):
                out.append(wire.p_data(context_id, 0x00, bytes(view[start : start + size])))
            queued += cut
            view.release()
            del pending[:cut]
            if queued >= _SEND_CAP:
                if abort is not None and abort():
                    self.abort()
                    raise ArchiveError(Problem.CANCELLED, f"{self.peer}: cancelled")
                self.link.send(b"".join(out))
                out, queued = [], 0
        out.append(wire.p_data(context_id, 0x02, bytes(pending)))
        self.link.send(b"".join(out))
        self._outstanding, self._outstanding_context = message_id, context_id
        try:
            for rsp in self._responses(message_id, None, None):
                return rsp.message
        finally:
            self._outstanding = 0
        raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
            self.peer, "no C-STORE response"))

    def _responses(self, message_id: int, store: Store | None,
                   on_stored: StoredCallback | None) -> Iterator[Response]:
        command = bytearray()
        data = bytearray()
        current: Message | None = None
        sink: Incoming | None = None  # a C-STORE sub-operation being received
        refused: tuple[int, str] | None = None
        # what we announced, leniently: some archives overshoot it; memory stays bounded
        limit = max(self.max_pdu, LENIENT_PDU) if self.max_pdu else RECEIVE_CAP
        while True:
            pdu_type, body = self.link.read_pdu(limit, self._watch)
            if pdu_type != wire.P_DATA_TF:
                self._unexpected(pdu_type, body)
            try:
                pdvs = list(wire.iter_pdvs(body))
            except wire.ProtocolError as exc:
                raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                    self.peer, str(exc))) from exc
            for context_id, control, fragment in pdvs:
                if context_id not in self.accepted:
                    raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                        self.peer, f"data on presentation context {context_id}, which was "
                                   "not accepted"))
                if control & 1:  # a command fragment
                    command += fragment
                    if not control & 2:
                        continue
                    current = self._decode(command)
                    command = bytearray()
                    if current.command_field == commands.C_STORE_RQ:
                        sink, refused = self._begin_store(current, context_id, store)
                    if current.has_dataset:
                        continue
                elif current is None:
                    raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                        self.peer, "a data set arrived without a command"))
                elif current.command_field == commands.C_STORE_RQ:
                    if sink is not None:
                        try:
                            sink.write(fragment)  # kept as a view: each PDU is new
                        except Refused as exc:
                            refused, sink = (status_of(exc), exc.reason), None
                    if not control & 2:
                        continue
                else:
                    data += fragment
                    if not control & 2:
                        continue
                # a message is complete
                if current.command_field == commands.C_STORE_RQ:
                    self._store_done(current, context_id, sink, refused, on_stored)
                elif current.responding_to != message_id:
                    log.warning("%s: ignoring a message for request %d (command 0x%04X)",
                                self.peer, current.responding_to, current.command_field)
                else:
                    dataset = bytes(data) if current.has_dataset else None
                    response = Response(current, dataset, self.accepted[context_id][1])
                    yield response
                    if not current.is_pending:
                        return
                current, sink, refused, data = None, None, None, bytearray()

    def _decode(self, command: bytearray) -> Message:
        try:
            return commands.decode(command)
        except wire.ProtocolError as exc:
            raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                self.peer, str(exc))) from exc

    def _begin_store(self, message: Message, context_id: int, store: Store | None
                     ) -> tuple[Incoming | None, tuple[int, str] | None]:
        abstract, ts = self.accepted[context_id]
        if store is None:
            return None, (status.SOP_CLASS_NOT_SUPPORTED, "no storage on this association")
        try:
            # a C-STORE on our own association answers our own C-GET: the archive still
            # holds it, so it is acknowledged before its fsync (Store.make_durable ends it)
            return store.begin(message.sop_class or abstract, message.sop_instance, ts,
                               self.peer.ae_title, deferred=True), None
        except Refused as exc:
            return None, (status_of(exc), exc.reason)

    def _store_done(self, message: Message, context_id: int, sink: Incoming | None,
                    refused: tuple[int, str] | None, on_stored: StoredCallback | None) -> None:
        stored: StoredInstance | None = None
        code, comment = status.SUCCESS, ""
        if refused is not None:
            code, comment = refused
            if sink is not None:
                sink.abort()
        elif sink is not None:
            try:
                stored = sink.commit()
            except Refused as exc:
                code, comment = status_of(exc), exc.reason
            except Exception as exc:  # one bad instance never ends the retrieve
                log.exception("storing %s from %s failed", message.sop_instance, self.peer)
                code, comment = status.CANNOT_STORE, f"internal error: {exc}"
        if code != status.SUCCESS:
            log.warning("%s: instance %s refused with 0x%04X: %s", self.peer,
                        message.sop_instance, code, comment)
        sop_class = message.sop_class or self.accepted[context_id][0]
        self._watch()  # a cancel goes out before the archive may start the next one
        self._send_message(context_id, commands.store_response(
            message.message_id, sop_class, message.sop_instance, code, comment), None)
        if on_stored is not None:
            on_stored(stored, message)

    def _unexpected(self, pdu_type: int, body: bytearray) -> None:
        if pdu_type == wire.A_ABORT and len(body) >= 4:
            raise ArchiveError(Problem.ABORTED, messages.aborted(self.peer, body[2], body[3]))
        if pdu_type == wire.A_RELEASE_RQ:
            self.link.send_quietly(wire.release_rp())
            raise ArchiveError(Problem.CLOSED, messages.closed(self.peer))
        raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
            self.peer, f"unexpected PDU type {pdu_type}"))

    # -- sending and cancelling -------------------------------------------------------

    def _send_message(self, context_id: int, command: bytes, dataset: bytes | None) -> None:
        out = [wire.p_data(context_id, 0x03, command)]
        if dataset is not None:
            size = max(min(self.peer_max_pdu or _SEND_CAP, _SEND_CAP) - 6, 1024)
            out += wire.data_set_pdus(context_id, dataset, size)
        self.link.send(b"".join(out))

    def _watch(self) -> bool:
        """Runs before every wait of a request: `on_idle`, and C-CANCEL once the cancel
        event is set. True while waits should be short (there is something to watch)."""
        if not self._outstanding:
            return False
        if self.on_idle is not None:
            self.on_idle()
        if self.cancel is None or self.cancel_sent:
            return self.on_idle is not None
        if not self.cancel.is_set():
            return True
        log.debug("%s: cancelling request %d", self.peer, self._outstanding)
        self.cancel_sent = True
        self.link.grace_until = time.monotonic() + CANCEL_GRACE
        self.link.grace_message = (f"{self.peer} did not stop within {CANCEL_GRACE:g} s of "
                                   "the cancel: connection aborted")
        self._send_message(self._outstanding_context, commands.cancel(self._outstanding),
                           None)
        return self.on_idle is not None
