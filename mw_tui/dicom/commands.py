"""DIMSE command sets the station sends and reads as a Query/Retrieve SCU (PS3.7 9.1, 9.3).

Command sets are always implicit VR little endian, group 0000 only. The receiver's own
C-ECHO/C-STORE commands live in `wire.py`; this module adds what an SCU needs: the
C-FIND/C-MOVE/C-GET/C-ECHO requests, C-CANCEL, the C-STORE request of an import and the
C-STORE response it sends while a C-GET runs, and a decoder that keeps every response
field (status, sub-operation counts, error comment).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mw_tui.dicom import wire

C_GET_RQ = 0x0010
C_GET_RSP = 0x8010
C_FIND_RQ = 0x0020
C_FIND_RSP = 0x8020
C_MOVE_RQ = 0x0021
C_MOVE_RSP = 0x8021
C_ECHO_RQ = wire.C_ECHO_RQ
C_ECHO_RSP = wire.C_ECHO_RSP
C_STORE_RQ = wire.C_STORE_RQ
C_STORE_RSP = wire.C_STORE_RSP
C_CANCEL_RQ = wire.C_CANCEL_RQ
NO_DATASET = wire.NO_DATASET
HAS_DATASET = 0x0000
PRIORITY_MEDIUM = 0x0000

_US = struct.Struct("<H")


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded command set (the fields an SCU looks at)."""

    command_field: int
    message_id: int
    responding_to: int
    sop_class: str
    sop_instance: str
    has_dataset: bool
    status: int | None
    error_comment: str
    remaining: int | None
    completed: int | None
    failed: int | None
    warning: int | None
    move_originator_ae: str

    @property
    def is_pending(self) -> bool:
        return self.status in (0xFF00, 0xFF01)


def _elem(elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, elem, len(value)) + value


def _uid(value: str) -> bytes:
    b = value.encode("ascii")
    return b + b"\0" if len(b) % 2 else b


def _ae(value: str) -> bytes:
    b = value.encode("ascii")[:16]
    return b + b" " if len(b) % 2 else b


def _group(*elements: bytes) -> bytes:
    body = b"".join(elements)
    return _elem(0x0000, struct.pack("<I", len(body))) + body


def request(command_field: int, message_id: int, sop_class: str, has_dataset: bool = True,
            move_destination: str = "") -> bytes:
    """A C-FIND/C-MOVE/C-GET/C-ECHO request command set."""
    parts = [_elem(0x0002, _uid(sop_class)), _elem(0x0100, _US.pack(command_field)),
             _elem(0x0110, _US.pack(message_id))]
    if move_destination:
        parts.append(_elem(0x0600, _ae(move_destination)))
    if command_field != C_ECHO_RQ:
        parts.append(_elem(0x0700, _US.pack(PRIORITY_MEDIUM)))
    parts.append(_elem(0x0800, _US.pack(HAS_DATASET if has_dataset else NO_DATASET)))
    return _group(*parts)


def store_request(message_id: int, sop_class: str, sop_instance: str) -> bytes:
    """A C-STORE request command set (a data set follows)."""
    return _group(_elem(0x0002, _uid(sop_class)), _elem(0x0100, _US.pack(C_STORE_RQ)),
                  _elem(0x0110, _US.pack(message_id)), _elem(0x0700, _US.pack(PRIORITY_MEDIUM)),
                  _elem(0x0800, _US.pack(HAS_DATASET)), _elem(0x1000, _uid(sop_instance)))


def cancel(message_id: int) -> bytes:
    """C-CANCEL-RQ for the request with `message_id`."""
    return _group(_elem(0x0100, _US.pack(C_CANCEL_RQ)), _elem(0x0120, _US.pack(message_id)),
                  _elem(0x0800, _US.pack(NO_DATASET)))


def store_response(message_id: int, sop_class: str, sop_instance: str, status: int,
                   comment: str = "") -> bytes:
    """C-STORE-RSP for a sub-operation of a C-GET."""
    return wire.encode_response(C_STORE_RSP, message_id, status, sop_class, sop_instance,
                                comment)


def decode(data: bytes | bytearray) -> Message:
    """Decode a command set; `wire.ProtocolError` when it is malformed.

    Elements of other groups after the command are skipped: dcmtk-based archives (Orthanc
    1.10) append a failed C-GET's status detail (0008,0058) to the command set.
    """
    values = wire.command_elements(data, other_groups=True)

    def us(elem: int) -> int | None:
        v = values.get(elem)
        if v is None or len(v) == 0:
            return None
        if len(v) != 2:
            raise wire.ProtocolError(f"command element (0000,{elem:04X}) is not a US")
        return int(_US.unpack(v)[0])

    def text(elem: int) -> str:
        return values.get(elem, b"").decode("latin-1").strip("\0 ")

    field = us(0x0100)
    if field is None:
        raise wire.ProtocolError("command set without a Command Field")
    return Message(
        command_field=field,
        message_id=us(0x0110) or 0,
        responding_to=us(0x0120) or 0,
        sop_class=text(0x0002),
        sop_instance=text(0x1000),
        has_dataset=us(0x0800) not in (None, NO_DATASET),
        status=us(0x0900),
        error_comment=text(0x0902),
        remaining=us(0x1020),
        completed=us(0x1021),
        failed=us(0x1022),
        warning=us(0x1023),
        move_originator_ae=text(0x1030),
    )
