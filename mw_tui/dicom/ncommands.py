"""DIMSE-N command sets the receiver reads and answers (PS3.7 10.1, 10.3).

The requests of a normalized service (N-CREATE, N-ACTION, N-GET; N-SET, N-DELETE and
N-EVENT-REPORT are read to be refused) and their responses; always implicit VR little
endian, group 0000 only, as `wire.py` does for C-ECHO and C-STORE.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mw_tui.dicom import wire

N_EVENT_REPORT_RQ = 0x0100
N_GET_RQ = 0x0110
N_SET_RQ = 0x0120
N_ACTION_RQ = 0x0130
N_CREATE_RQ = 0x0140
N_DELETE_RQ = 0x0150
REQUESTS = frozenset({N_EVENT_REPORT_RQ, N_GET_RQ, N_SET_RQ, N_ACTION_RQ, N_CREATE_RQ,
                      N_DELETE_RQ})
HAS_DATASET = 0x0000

_US = struct.Struct("<H")
_AT = struct.Struct("<HH")


@dataclass(frozen=True, slots=True)
class NRequest:
    """A decoded N-service request: the SOP class and instance it names (the Affected
    ones of an N-CREATE, the Requested ones of the others)."""

    command_field: int
    message_id: int
    sop_class: str
    sop_instance: str
    has_dataset: bool
    action_type: int | None = None  # N-ACTION: Action Type ID (0000,1008)
    attributes: tuple[int, ...] = ()  # N-GET: Attribute Identifier List (0000,1005)


def decode(data: bytes | bytearray) -> NRequest:
    """Decode a command set; `wire.ProtocolError` when it is malformed."""
    values = wire.command_elements(data, other_groups=True)

    def us(elem: int) -> int | None:
        v = values.get(elem)
        if v is None or not v:
            return None
        if len(v) != 2:
            raise wire.ProtocolError(f"command element (0000,{elem:04X}) is not a US")
        return int(_US.unpack(v)[0])

    def text(elem: int) -> str:
        return values.get(elem, b"").decode("ascii", "replace").strip("\0 ")

    field = us(0x0100)
    if field is None:
        raise wire.ProtocolError("command set without a Command Field")
    tags = values.get(0x1005, b"")
    if len(tags) % 4:
        raise wire.ProtocolError("Attribute Identifier List is not a list of tags")
    creating = field == N_CREATE_RQ
    return NRequest(
        command_field=field,
        message_id=us(0x0110) or 0,
        sop_class=text(0x0002 if creating else 0x0003),
        sop_instance=text(0x1000 if creating else 0x1001),
        has_dataset=us(0x0800) not in (None, wire.NO_DATASET),
        action_type=us(0x1008),
        attributes=tuple((g << 16) | e for g, e in _AT.iter_unpack(tags)),
    )


def response(request: NRequest, status: int, sop_class: str, sop_instance: str = "",
             has_dataset: bool = False, comment: str = "") -> bytes:
    """The response command set to `request` (N-ACTION's repeats its Action Type ID)."""
    action = request.action_type if request.command_field == N_ACTION_RQ else None
    return wire.encode_response(request.command_field | 0x8000, request.message_id, status,
                                sop_class, sop_instance, comment, has_dataset, action)
