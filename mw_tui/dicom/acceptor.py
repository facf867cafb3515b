"""One inbound association, from A-ASSOCIATE-RQ to release: Verification and Storage SCP.

Negotiation uses pynetdicom's PDU codecs and its presentation context negotiation; the
data path is lean and blocking: PDUs are read from the socket through one buffer (each
recv takes whatever has arrived), command PDVs are decoded here, dataset PDVs are handed
to the store as they arrive (views, which it copies once into its write buffer, or
copies of the PDUs it keeps), and the C-STORE-RSP goes out as soon as the instance is
durable. No polling, one thread per association.

Requests on the Media Creation Management context (offered to the callers `[mcm]`
allows) are handed to `nservice.Exchange`, their data set with them, and its answer sent.

A C-STORE that is a sub-operation of the station's own C-MOVE (its Move Originator AE
title is ours and the caller is one of the configured archives) is stored `deferred`:
acknowledged before its fsync, made durable at the end of the retrieve (`store.sync`).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Protocol

from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE

from mw_tui.dicom import tls, wire
from mw_tui.dicom.admission import APPLICATION_CONTEXT, AcceptorSettings, accept, tls_hint
from mw_tui.dicom.behind import WriteBehind
from mw_tui.dicom.events import (
    AssociationClosed,
    AssociationOpened,
    AssociationRejected,
    InstanceRefused,
    InstanceStored,
    ReceiverEvent,
    TlsRefused,
)
from mw_tui.dicom.nservice import Exchange, MediaCreationScp
from mw_tui.dicom.refusal import status_of
from mw_tui.standard import sop, status
from mw_tui.store import Incoming, Refused, Store, StoredInstance

log = logging.getLogger(__name__)

UNLIMITED_PDU_CAP = 64 * 1024 * 1024  # max_pdu = 0 still never means unbounded memory

Emit = Callable[[ReceiverEvent], None]


class Slots(Protocol):
    """The station-wide association counter (shared by every receiver process)."""

    def acquire(self) -> bool: ...
    def release(self) -> None: ...


class Waiting(Protocol):
    """Connections that have not associated yet (see `scp.WaitingRoom`)."""

    def leave(self, handler: AssociationHandler) -> None: ...


class AssociationHandler:
    """Serve one accepted TCP connection until it is released, aborted or times out.

    Whatever the peer sends, the connection ends with one log line saying why when it
    went wrong (never a traceback for the peer's mistakes), and nothing it sends can make
    the handler allocate more than the PDU limits allow.
    """

    def __init__(self, sock: socket.socket, peer: tuple[str, int], settings: AcceptorSettings,
                 store: Store, slots: Slots, emit: Emit,
                 tls_context: ssl.SSLContext | None = None,
                 waiting: Waiting | None = None, media: MediaCreationScp | None = None) -> None:
        self.sock = sock
        self.peer = f"{peer[0]}:{peer[1]}"
        self.ip = peer[0]
        self.settings = settings
        self.store = store
        self.slots = slots
        self.emit = emit
        self.tls_context = tls_context
        self.waiting = waiting
        self.evicted = False
        self.calling_ae = ""
        self.contexts: dict[int, tuple[str, str]] = {}  # id -> (abstract, transfer syntax)
        self.peer_max_pdu = 0
        self.stored = 0
        self.failed = 0
        self._command = bytearray()
        self._incoming: Incoming | None = None
        self._behind: WriteBehind | None = None
        self._pending: tuple[int, wire.Command] | None = None
        self.media = media  # Media Creation Management, when [mcm] is enabled
        self._exchange: Exchange | None = None  # the N-service request being received

    # -- the connection ----------------------------------------------------------------

    def evict(self) -> None:
        """Close a connection that has not associated yet (from another thread)."""
        self.evicted = True
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def _left_waiting(self) -> None:
        if self.waiting is not None:
            self.waiting.leave(self)
            self.waiting = None

    def run(self) -> None:
        holding_slot = False
        how = "closed"
        label = "TLS connection" if self.tls_context is not None else "connection"
        try:
            try:
                deadline = time.monotonic() + self.settings.artim
                if self.tls_context is not None:
                    self._handshake(deadline)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pdu_type, body = wire.read_pdu(self.sock, wire.ASSOCIATE_RQ_LIMIT, deadline)
            finally:
                self._left_waiting()
            self.sock.settimeout(self.settings.timeout)
            if pdu_type != wire.A_ASSOCIATE_RQ:
                raise wire.ProtocolError(f"expected A-ASSOCIATE-RQ, got PDU type {pdu_type}",
                                         wire.ABORT_UNEXPECTED_PDU)
            request = self._decode_request(body)
            if not self._admit(request):
                return
            holding_slot = True
            self._accept(request)
            how = self._serve()
        except TimeoutError:
            if holding_slot:
                how = f"timed out after {self.settings.timeout:g} s of silence"
                log.warning("association from %s (%s) %s (dicom.server_timeout): aborted",
                            self.peer, self.calling_ae, how)
                self._send(wire.abort(2, wire.ABORT_NOT_SPECIFIED))
            elif not self.evicted:
                how = "no association request in time"
                log.warning("%s from %s closed: no association request within %g s "
                            "(dicom.artim_timeout)", label, self.peer, self.settings.artim)
        except ssl.SSLEOFError:
            how = "closed during the TLS handshake"
            if not self.evicted:
                log.info("TLS connection from %s closed during the handshake", self.peer)
        except ssl.SSLError as exc:
            how = f"TLS failed: {exc.reason or exc}"
            if not self.evicted:
                log.warning("TLS connection from %s refused: %s%s", self.peer,
                            exc.reason or exc, tls_hint(exc))
                self.emit(TlsRefused(self.peer, f"{exc.reason or exc}{tls_hint(exc)}"))
        except wire.PeerClosed as exc:
            how = "closed by the peer" if holding_slot else "closed before associating"
            if self.evicted:
                how = "closed: too many connections waiting to associate"
            elif holding_slot:
                how = "connection closed by the peer without A-RELEASE or A-ABORT"
                log.warning("association from %s (%s) ended: %s (%s)", self.peer,
                            self.calling_ae, how, exc)
            elif exc.received:
                log.warning("%s from %s closed before its association request was "
                            "complete (%s)", label, self.peer, exc)
            else:
                log.info("%s from %s closed without sending anything", label, self.peer)
        except wire.ProtocolError as exc:
            how = f"protocol error: {exc}"
            log.warning("association from %s (%s) aborted: %s", self.peer,
                        self.calling_ae or "?", exc)
            self._send(wire.abort(2, exc.reason))
        except OSError as exc:
            how = f"network error: {exc.strerror or exc}"
            if not self.evicted:
                log.warning("%s from %s (%s) ended by a network error: %s", label, self.peer,
                            self.calling_ae or "?", exc.strerror or exc)
        except Exception as exc:  # a bug of ours: one record with the traceback, then go on
            how = f"internal error: {exc!r}"
            log.error("association from %s (%s) aborted by an internal error: %r", self.peer,
                      self.calling_ae or "?", exc, exc_info=True)
            self._send(wire.abort(2, wire.ABORT_NOT_SPECIFIED))
        finally:
            self._left_waiting()
            if self._incoming is not None:
                self._incoming.abort()
            if self._behind is not None:  # what was acknowledged is written, whatever came
                self._behind.close()
            if holding_slot:
                self.slots.release()
                self.emit(AssociationClosed(self.calling_ae, self.peer, self.stored,
                                            self.failed, how))
            try:
                self.sock.close()
            except OSError:
                pass

    def _handshake(self, deadline: float) -> None:
        assert self.tls_context is not None
        self.sock = self.tls_context.wrap_socket(self.sock, server_side=True,
                                                 do_handshake_on_connect=False)
        if self.evicted:
            raise wire.PeerClosed("evicted")
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        self.sock.do_handshake()
        assert isinstance(self.sock, ssl.SSLSocket)
        log.info("TLS connection from %s: %s", self.peer, tls.describe(self.sock))

    def _send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(2)
            self.sock.sendall(data)
        except OSError:
            pass

    # -- association establishment ----------------------------------------------------

    def _decode_request(self, body: bytearray) -> A_ASSOCIATE:
        header = bytes([wire.A_ASSOCIATE_RQ, 0]) + len(body).to_bytes(4, "big")
        pdu = A_ASSOCIATE_RQ()
        try:
            pdu.decode(header + bytes(body))
            request = pdu.to_primitive()
            _ = request.presentation_context_definition_list
        except Exception as exc:  # pynetdicom raises many kinds on garbage
            raise wire.ProtocolError(f"malformed A-ASSOCIATE-RQ: {exc!r}"[:200],
                                     wire.ABORT_UNRECOGNIZED_PARAMETER) from exc
        self.calling_ae = str(request.calling_ae_title or "").strip()
        return request

    def _reject(self, result: int, source: int, reason: int, why: str) -> None:
        log.warning("association from %s (calling AE %r) rejected: %s", self.peer,
                    self.calling_ae, why)
        self._send(wire.associate_rj(result, source, reason))
        self.emit(AssociationRejected(self.calling_ae, self.peer, why))

    def _admit(self, request: A_ASSOCIATE) -> bool:
        proposed = len(request.presentation_context_definition_list)
        if proposed > wire.MAX_CONTEXTS:
            self._reject(1, 1, 1, f"{proposed} presentation contexts proposed, more than the "
                                  f"{wire.MAX_CONTEXTS} an association can have")
            return False
        if not self.settings.caller_allowed(self.calling_ae, self.ip):
            self._reject(1, 1, 3, "calling AE title / address not on the allow-list "
                                  "(dicom.allowed_callers)")
            return False
        if str(request.application_context_name) != APPLICATION_CONTEXT:
            self._reject(1, 1, 2, f"application context {request.application_context_name} "
                                  "not supported")
            return False
        if not self.slots.acquire():
            self._reject(2, 3, 2, "too many associations at once (station.max_associations)")
            return False
        return True

    def _accept(self, request: A_ASSOCIATE) -> None:
        self.peer_max_pdu = int(request.maximum_length_received or 0)
        allowed = self.settings.media_allowed(self.calling_ae, self.ip)
        media = self.media is not None and allowed
        why_not = ("not accepted (mcm.enabled, mcm.allowed_callers)" if not allowed else
                   "not accepted: the service could not start in this receiver (see the "
                   "error logged at its start)")
        pdu, results = accept(request, self.settings.contexts(media), self.settings.max_pdu,
                              self.calling_ae, why_not)
        for cx in results:
            if cx.result == 0x00 and cx.context_id is not None:
                self.contexts[cx.context_id] = (str(cx.abstract_syntax),
                                                str(cx.transfer_syntax[0]))
        self.sock.sendall(pdu)
        called = str(request.called_ae_title or "").strip()
        log.info("association from %s (%s -> %s): %d of %d contexts accepted", self.peer,
                 self.calling_ae, called, len(self.contexts), len(results))
        self.emit(AssociationOpened(self.calling_ae, called, self.peer))

    # -- the data phase -------------------------------------------------------------

    def _serve(self) -> str:
        reader = wire.PduReader(self.sock, self.settings.max_pdu or UNLIMITED_PDU_CAP)
        while True:
            keeps = self._incoming is not None and self._incoming.keeps_views
            pdu_type, body = reader.read(stable=keeps)  # else a view, valid until the next
            if pdu_type == wire.P_DATA_TF:
                for context_id, control, fragment in wire.iter_pdvs(body):
                    self._pdv(context_id, control, fragment, stable=keeps)
            elif pdu_type == wire.A_RELEASE_RQ:
                self.sock.sendall(wire.release_rp())
                return "released"
            elif pdu_type == wire.A_ABORT:
                return "aborted by the peer"
            else:
                raise wire.ProtocolError(f"unexpected PDU type {pdu_type} during the "
                                         "association", wire.ABORT_UNEXPECTED_PDU)

    def _pdv(self, context_id: int, control: int, fragment: memoryview,
             stable: bool = True) -> None:
        if context_id not in self.contexts:
            raise wire.ProtocolError(f"PDV on presentation context {context_id}, which was "
                                     "not accepted", wire.ABORT_INVALID_PARAMETER)
        is_command, is_last = bool(control & 1), bool(control & 2)
        if is_command:
            if self._pending is not None:
                raise wire.ProtocolError("a new command arrived before the data set of the "
                                         "previous one was complete")
            self._command += fragment
            if len(self._command) > wire.COMMAND_LIMIT:
                raise wire.ProtocolError("command set larger than 64 KiB")
            if is_last:
                raw, self._command = self._command, bytearray()
                self._start(context_id, wire.decode_command(raw), raw)
            return
        if self._pending is None or self._pending[0] != context_id:
            raise wire.ProtocolError("data set PDV without a command expecting it",
                                     wire.ABORT_UNEXPECTED_PDU)
        if self._incoming is not None:  # a view: kept (a new buffer) or copied (scratch)
            self._incoming.write(fragment, stable)
        elif self._exchange is not None:  # copies what it is given
            self._exchange.write(fragment)
        if is_last:
            self._finish()

    def _start(self, context_id: int, command: wire.Command, raw: bytearray) -> None:
        abstract, transfer_syntax = self.contexts[context_id]
        field = command.command_field
        if field == wire.C_ECHO_RQ:
            self._respond(context_id, wire.C_ECHO_RSP, command, status.SUCCESS, sop.VERIFICATION)
            return
        if field == wire.C_CANCEL_RQ:
            return
        if abstract == sop.MEDIA_CREATION_MANAGEMENT and self.media is not None:
            self._exchange = self.media.exchange(raw, transfer_syntax, self.calling_ae,
                                                 self.peer)
            self._pending = (context_id, command)
            if not command.has_dataset:
                self._finish()
            return
        if field != wire.C_STORE_RQ or abstract == sop.VERIFICATION:
            if command.has_dataset:
                self._pending = (context_id, command)  # drain it, then answer
                return
            self._respond(context_id, field | 0x8000, command, status.UNRECOGNIZED_OPERATION,
                          abstract)
            return
        if not command.has_dataset:
            raise wire.ProtocolError("C-STORE-RQ without a data set")
        self._pending = (context_id, command)
        sop_class = command.sop_class or abstract
        self._incoming = self.store.begin(
            sop_class, command.sop_instance, transfer_syntax, self.calling_ae,
            deferred=self.settings.own_retrieve(self.calling_ae, command.move_originator_ae))

    def _finish(self) -> None:
        assert self._pending is not None
        context_id, command = self._pending
        self._pending = None
        if self._exchange is not None:  # an N-service request: its answer is ready
            exchange, self._exchange = self._exchange, None
            for pdu in exchange.answer(context_id, self.peer_max_pdu):
                self.sock.sendall(pdu)
            return
        abstract = self.contexts[context_id][0]
        if command.command_field != wire.C_STORE_RQ or self._incoming is None:
            self._respond(context_id, command.command_field | 0x8000, command,
                          status.UNRECOGNIZED_OPERATION, abstract)
            return
        incoming, self._incoming = self._incoming, None
        if command.sop_class and command.sop_class != abstract:
            incoming.abort()
            self._refused(context_id, command, status.SOP_CLASS_NOT_SUPPORTED,
                          f"SOP class {command.sop_class} sent on a context for {abstract}")
            return
        if incoming.deferred:
            self._acknowledge_then_write(context_id, command, incoming)
            return
        try:
            stored = incoming.commit()
        except Refused as exc:
            self._refused(context_id, command, status_of(exc), exc.reason)
            return
        except Exception as exc:  # never let one bad instance take the association down
            log.exception("storing %s from %s failed", command.sop_instance, self.peer)
            self._refused(context_id, command, status.CANNOT_STORE, f"internal error: {exc}")
            return
        self._respond(context_id, wire.C_STORE_RSP, command, status.SUCCESS, command.sop_class)
        self._stored(command, stored)

    def _acknowledge_then_write(self, context_id: int, command: wire.Command,
                                incoming: Incoming) -> None:
        """An image of our own retrieve: acknowledged once checked, written behind
        (`behind`) while the archive sends the next one."""
        try:
            incoming.check()
        except Refused as exc:
            self._refused(context_id, command, status_of(exc), exc.reason)
            return
        self._respond(context_id, wire.C_STORE_RSP, command, status.SUCCESS, command.sop_class)
        if self._behind is None:
            self._behind = WriteBehind(self._stored, self._lost_after_ack)
        self._behind.put(incoming, command)

    def _stored(self, command: wire.Command, stored: StoredInstance) -> None:
        self.stored += 1
        self.emit(InstanceStored(stored.sop_uid, stored.sop_class, stored.study_uid,
                                 stored.series_uid, stored.patient_name, stored.patient_id,
                                 self.calling_ae, stored.size, stored.replaced))

    def _lost_after_ack(self, command: wire.Command, code: int, reason: str) -> None:
        """An image of our own retrieve, acknowledged, could not be written after all."""
        self.failed += 1
        log.error("instance %s from %s (%s), retrieved by this station, could not be "
                  "written: %s; the retrieve will find it missing", command.sop_instance,
                  self.peer, self.calling_ae, reason)
        self.emit(InstanceRefused(command.sop_instance, self.calling_ae, self.peer, code,
                                  f"{reason} (after it was acknowledged)"))

    def _refused(self, context_id: int, command: wire.Command, code: int, reason: str) -> None:
        self.failed += 1
        log.warning("instance %s from %s (%s) refused with status 0x%04X: %s",
                    command.sop_instance, self.peer, self.calling_ae, code, reason)
        self._respond(context_id, wire.C_STORE_RSP, command, code,
                      command.sop_class or self.contexts[context_id][0], reason)
        self.emit(InstanceRefused(command.sop_instance, self.calling_ae, self.peer, code, reason))

    def _respond(self, context_id: int, field: int, command: wire.Command, code: int,
                 sop_class: str, comment: str = "") -> None:
        rsp = wire.encode_response(field, command.message_id, code, sop_class,
                                   command.sop_instance, comment)
        self.sock.sendall(wire.p_data(context_id, 0x03, rsp))
