"""The bytes on the wire for the receiver: PDU framing (PS3.8 9.3) and DIMSE command sets.

Association negotiation PDUs are decoded and encoded with pynetdicom's PDU classes
(see `acceptor.py`); this module only does what the lean data path needs: read one
PDU with a bounded length, split P-DATA-TF into PDVs, and read/write the small
implicit VR little endian command sets of C-ECHO and C-STORE.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

# PDU types
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

# A-ABORT reasons when the source is the service provider (PS3.8 Table 9-26)
ABORT_NOT_SPECIFIED = 0
ABORT_UNRECOGNIZED_PDU = 1
ABORT_UNEXPECTED_PDU = 2
ABORT_UNRECOGNIZED_PARAMETER = 4
ABORT_INVALID_PARAMETER = 6

# DIMSE command fields
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
NO_DATASET = 0x0101

ASSOCIATE_RQ_LIMIT = 256 * 1024  # no legitimate A-ASSOCIATE-RQ comes near this
COMMAND_LIMIT = 64 * 1024
MAX_CONTEXTS = 128  # presentation contexts in one association (odd IDs 1-255, PS3.8 9.3.2.2)
SCRATCH_CAP = 4 * 1024 * 1024  # a reused receive buffer (`read_pdu`) is never larger
_GROW_STEP = 64 * 1024  # buffers of peers not yet trusted grow with what they really send


class ProtocolError(Exception):
    """The peer broke the protocol; `reason` is the A-ABORT reason to send."""

    def __init__(self, message: str, reason: int = ABORT_INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.reason = reason


class PeerClosed(Exception):
    """The peer closed the connection; `received` bytes of an unfinished PDU had arrived."""

    def __init__(self, message: str, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


def _wait(sock: socket.socket, deadline: float | None) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        sock.settimeout(left)


def recv_exact(sock: socket.socket, n: int, deadline: float | None = None,
               grow: bool = False) -> bytearray:
    """Exactly `n` bytes. With `deadline` (time.monotonic()), all of them by then, or
    TimeoutError; with `grow`, memory follows what arrives instead of what was declared."""
    if grow and n > _GROW_STEP:
        out = bytearray()
        while len(out) < n:
            _wait(sock, deadline)
            chunk = sock.recv(min(_GROW_STEP, n - len(out)))
            if not chunk:
                raise PeerClosed(f"connection closed after {len(out)} of {n} bytes", len(out))
            out += chunk
        return out
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        _wait(sock, deadline)
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise PeerClosed(f"connection closed after {got} of {n} bytes", got)
        got += k
    return buf


def recv_into_exact(sock: socket.socket, view: memoryview) -> None:
    """Fill `view` from the socket."""
    got, n = 0, len(view)
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise PeerClosed(f"connection closed after {got} of {n} bytes", got)
        got += k


def _read_header(sock: socket.socket, limit: int,
                 deadline: float | None) -> tuple[int, int]:
    """(type, length) of the next PDU, checked against the limits."""
    return _check_header(recv_exact(sock, 6, deadline), limit)


def _check_header(head: bytearray | memoryview, limit: int) -> tuple[int, int]:
    pdu_type = head[0]
    (length,) = struct.unpack_from(">I", head, 2)
    if pdu_type not in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF,
                        A_RELEASE_RQ, A_RELEASE_RP, A_ABORT):
        raise ProtocolError(f"unknown PDU type 0x{pdu_type:02X}", ABORT_UNRECOGNIZED_PDU)
    if pdu_type == A_ASSOCIATE_RQ:
        limit = ASSOCIATE_RQ_LIMIT
    elif pdu_type != P_DATA_TF:
        limit = 1024
    if length > limit:
        raise ProtocolError(f"PDU of type 0x{pdu_type:02X} declares {length} bytes, more than "
                            f"the {limit} allowed")
    return pdu_type, length


def _closed(pdu_type: int, length: int, exc: PeerClosed) -> PeerClosed:
    return PeerClosed(f"connection closed in the middle of a PDU of type 0x{pdu_type:02X} "
                      f"({exc.received + 6} of {length + 6} bytes)", exc.received + 6)


def read_pdu(sock: socket.socket, limit: int,
             deadline: float | None = None) -> tuple[int, bytearray]:
    """Read one PDU; returns (type, body without the 6-byte header).

    Before the association is accepted pass a `deadline`: the whole PDU must arrive by
    then (a peer trickling bytes cannot hold the connection), and memory grows only with
    the bytes that really arrive.
    """
    pdu_type, length = _read_header(sock, limit, deadline)
    try:
        return pdu_type, recv_exact(sock, length, deadline, grow=deadline is not None)
    except PeerClosed as exc:
        raise _closed(pdu_type, length, exc) from None


class PduReader:
    """The PDUs of an association, read through one receive buffer: each recv takes
    whatever has arrived, often several PDUs (an archive sends 16 KiB ones), instead of
    two system calls per PDU and a new buffer for each.

    `read()` returns a view into the buffer, valid until the next `read()`; with
    `stable`, one that stays valid (for a data set kept as it arrived): the buffer is then
    never overwritten, and the next bytes go to a new one. A PDU larger than the buffer
    gets a buffer of its own."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self._size = min(limit, SCRATCH_CAP) + 6
        self._new_buffer(b"")

    def _new_buffer(self, keep: bytes | bytearray | memoryview) -> None:
        self._buf = bytearray(self._size)
        self._view = memoryview(self._buf)
        self._buf[: len(keep)] = keep
        self._start, self._end = 0, len(keep)  # the bytes received and not yet read
        self._pinned = False  # views of it were handed out as stable

    def _fill(self, need: int) -> None:
        """At least `need` unread bytes in the buffer (`need` fits it)."""
        if self._start + need > self._size:  # make room: what is left goes to the front
            rest = self._view[self._start : self._end]
            if self._pinned:
                self._new_buffer(rest)
            else:
                n = len(rest)
                self._buf[:n] = rest
                self._start, self._end = 0, n
        while self._end - self._start < need:
            k = self.sock.recv_into(self._view[self._end :], self._size - self._end)
            if k == 0:
                raise PeerClosed(f"connection closed after {self._end - self._start} of "
                                 f"{need} bytes", self._end - self._start)
            self._end += k

    def read(self, stable: bool = False) -> tuple[int, bytearray | memoryview]:
        """The next PDU: (type, body without the 6-byte header)."""
        self._fill(6)
        pdu_type, length = _check_header(self._view[self._start : self._start + 6],
                                         self.limit)
        self._start += 6
        try:
            if length > self._size:
                return pdu_type, self._large(length)
            self._fill(length)
        except PeerClosed as exc:
            raise _closed(pdu_type, length, exc) from None
        body = self._view[self._start : self._start + length]
        self._start += length
        if pdu_type != P_DATA_TF:
            return pdu_type, bytearray(body)
        self._pinned = self._pinned or stable
        return pdu_type, body

    def _large(self, length: int) -> bytearray:
        out = bytearray(length)
        have = self._end - self._start
        out[:have] = self._view[self._start : self._end]
        if self._pinned:
            self._new_buffer(b"")
        else:
            self._start = self._end = 0
        recv_into_exact(self.sock, memoryview(out)[have:])
        return out


def iter_pdvs(body: bytearray | memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(presentation context id, message control header, fragment) of each PDV."""
    view = memoryview(body)
    pos, end = 0, len(body)
    if end == 0:
        raise ProtocolError("P-DATA-TF without any PDV")
    while pos < end:
        if end - pos < 6:
            raise ProtocolError("truncated PDV item")
        (length,) = struct.unpack_from(">I", body, pos)
        if length < 2 or pos + 4 + length > end:
            raise ProtocolError(f"PDV item length {length} does not fit the PDU")
        yield body[pos + 4], body[pos + 5], view[pos + 6 : pos + 4 + length]
        pos += 4 + length


def p_data(context_id: int, control: int, data: bytes) -> bytes:
    """One P-DATA-TF PDU holding one PDV."""
    item = struct.pack(">IBB", len(data) + 2, context_id, control) + data
    return struct.pack(">BBI", P_DATA_TF, 0, len(item)) + item


def data_set_pdus(context_id: int, data: bytes | bytearray | memoryview,
                  room: int) -> list[bytes]:
    """A data set as P-DATA-TF PDUs of one PDV each, `room` bytes of it at most per PDV
    (the last one flagged as such; an empty data set is one empty PDV)."""
    view = memoryview(data)
    room = max(1, room)
    return [p_data(context_id, 0x02 if start + room >= len(view) else 0x00,
                   bytes(view[start:start + room]))
            for start in range(0, max(len(view), 1), room)]


def release_rp() -> bytes:
    return struct.pack(">BBI4x", A_RELEASE_RP, 0, 4)


def abort(source: int = 2, reason: int = ABORT_NOT_SPECIFIED) -> bytes:
    return struct.pack(">BBIBBBB", A_ABORT, 0, 4, 0, 0, source, reason)


def associate_rj(result: int, source: int, reason: int) -> bytes:
    return struct.pack(">BBIBBBB", A_ASSOCIATE_RJ, 0, 4, 0, result, source, reason)


# -- DIMSE command sets (always implicit VR little endian) -------------------------------

_US = {0x0100, 0x0110, 0x0120, 0x0700, 0x0800, 0x0900, 0x1031}
_UL = {0x0000}


@dataclass(frozen=True, slots=True)
class Command:
    command_field: int
    message_id: int
    sop_class: str
    sop_instance: str
    has_dataset: bool
    move_originator_ae: str
    move_originator_id: int | None


def command_elements(data: bytes | bytearray, other_groups: bool = False
                     ) -> dict[int, bytes]:
    """The group 0000 elements of a command set, by element number; ProtocolError when one
    is truncated or runs past the end, or (unless `other_groups` may follow: a dcmtk-based
    archive appends a failed C-GET's status detail) when another group is there."""
    values: dict[int, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise ProtocolError("truncated command element")
        group, elem, length = struct.unpack_from("<HHI", data, pos)
        if group != 0x0000 and not other_groups:
            raise ProtocolError(f"command set holds element ({group:04X},{elem:04X})")
        if pos + 8 + length > end:
            raise ProtocolError(f"command element ({group:04X},{elem:04X}) runs past the end")
        if group == 0x0000:
            values[elem] = bytes(data[pos + 8 : pos + 8 + length])
        pos += 8 + length
    return values


def decode_command(data: bytes | bytearray) -> Command:
    values = command_elements(data)

    def us(elem: int) -> int | None:
        v = values.get(elem)
        if v is None:
            return None
        if len(v) != 2:
            raise ProtocolError(f"command element (0000,{elem:04X}) is not a US")
        return int(struct.unpack("<H", v)[0])

    def text(elem: int) -> str:
        return values.get(elem, b"").decode("ascii", "replace").strip("\0 ")

    field = us(0x0100)
    if field is None:
        raise ProtocolError("command set without a Command Field")
    return Command(
        command_field=field,
        message_id=us(0x0110) or 0,
        sop_class=text(0x0002),
        sop_instance=text(0x1000),
        has_dataset=us(0x0800) not in (None, NO_DATASET),
        move_originator_ae=text(0x1030),
        move_originator_id=us(0x1031),
    )


def _elem(elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, elem, len(value)) + value


def _uid(value: str) -> bytes:
    b = value.encode("ascii", "replace")[:64]  # echoes what the peer sent, even garbage
    return b + b"\0" if len(b) % 2 else b


def encode_response(command_field: int, message_id: int, status: int, sop_class: str,
                    sop_instance: str = "", comment: str = "", has_dataset: bool = False,
                    action_type: int | None = None) -> bytes:
    """A response command set (implicit VR little endian): Affected SOP Class, Command
    Field, Message ID Being Responded To, Command Data Set Type, Status, Error Comment,
    Affected SOP Instance and (an N-ACTION's) Action Type ID, in tag order."""
    body = _elem(0x0002, _uid(sop_class))
    body += _elem(0x0100, struct.pack("<H", command_field))
    body += _elem(0x0120, struct.pack("<H", message_id))
    body += _elem(0x0800, struct.pack("<H", 0x0000 if has_dataset else NO_DATASET))
    body += _elem(0x0900, struct.pack("<H", status))
    if comment:
        c = comment.encode("ascii", "replace")[:64]
        body += _elem(0x0902, c + b" " if len(c) % 2 else c)
    if sop_instance:
        body += _elem(0x1000, _uid(sop_instance))
    if action_type is not None:
        body += _elem(0x1008, struct.pack("<H", action_type))
    return _elem(0x0000, struct.pack("<I", len(body))) + body
