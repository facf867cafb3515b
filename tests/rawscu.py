"""A deliberately minimal SCU that puts exactly the given bytes on the wire.

Real clients (dcmtk, pynetdicom) refuse to send malformed data; the tests need to, to
prove the receiver refuses it cleanly. Also the building block of the fuzz tests.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from mw_tui import IMPLEMENTATION_CLASS_UID
from mw_tui.dicom import wire

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _ae(title: str) -> bytes:
    return title.encode("ascii")[:16].ljust(16)


def associate_rq(calling: str, called: str, contexts: list[tuple[int, str, list[str]]],
                 max_pdu: int = 16384) -> bytes:
    items = _item(0x10, APPLICATION_CONTEXT)
    for cid, abstract, syntaxes in contexts:
        sub = _item(0x30, abstract.encode())
        for ts in syntaxes:
            sub += _item(0x40, ts.encode())
        items += _item(0x20, struct.pack(">BBBB", cid, 0, 0, 0) + sub)
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, IMPLEMENTATION_CLASS_UID.encode())
    items += _item(0x50, user)
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\0" * 32 + items
    return struct.pack(">BBI", 1, 0, len(body)) + body


def _elem(elem: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, elem, len(value)) + value


def _uid(value: str) -> bytes:
    b = value.encode()
    return b + b"\0" if len(b) % 2 else b


def c_store_rq(message_id: int, sop_class: str, sop_instance: str,
               move_originator: str = "") -> bytes:
    """A C-STORE-RQ; with `move_originator`, a C-MOVE sub-operation of that AE's request."""
    body = (_elem(0x0002, _uid(sop_class)) + _elem(0x0100, struct.pack("<H", 1))
            + _elem(0x0110, struct.pack("<H", message_id)) + _elem(0x0700, b"\0\0")
            + _elem(0x0800, struct.pack("<H", 0)) + _elem(0x1000, _uid(sop_instance)))
    if move_originator:
        ae = move_originator.encode("ascii")
        body += (_elem(0x1030, ae + b" " if len(ae) % 2 else ae)
                 + _elem(0x1031, struct.pack("<H", 1)))
    return _elem(0x0000, struct.pack("<I", len(body))) + body


def n_request_rq(command_field: int, message_id: int, sop_class: str, sop_instance: str = "",
                 action_type: int | None = None, with_dataset: bool = False,
                 extra: bytes = b"") -> bytes:
    """An N-service request command set (N-CREATE names the Affected SOP class and
    instance, the others the Requested ones); `extra`: more elements, as given."""
    create = command_field == 0x0140
    body = _elem(0x0002 if create else 0x0003, _uid(sop_class))
    body += _elem(0x0100, struct.pack("<H", command_field))
    body += _elem(0x0110, struct.pack("<H", message_id))
    body += _elem(0x0800, struct.pack("<H", 0x0000 if with_dataset else 0x0101))
    if sop_instance:
        body += _elem(0x1000 if create else 0x1001, _uid(sop_instance))
    if action_type is not None:
        body += _elem(0x1008, struct.pack("<H", action_type))
    body += extra
    return _elem(0x0000, struct.pack("<I", len(body))) + body


@dataclass
class RawAssociation:
    sock: socket.socket
    accepted: dict[int, str] = field(default_factory=dict)  # context id -> transfer syntax
    rejected: bool = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_pdu(self) -> tuple[int, bytes]:
        head = wire.recv_exact(self.sock, 6)
        (length,) = struct.unpack_from(">I", head, 2)
        return head[0], bytes(wire.recv_exact(self.sock, length))

    def c_store(self, context_id: int, sop_class: str, sop_instance: str, data: bytes,
                message_id: int = 1, fragment: int = 16000, move_originator: str = "") -> int:
        """Send one C-STORE with `data` as the data set, byte for byte; return the status."""
        self.send(wire.p_data(context_id, 0x03, c_store_rq(message_id, sop_class,
                                                            sop_instance, move_originator)))
        for i in range(0, max(len(data), 1), fragment):
            last = i + fragment >= len(data)
            self.send(wire.p_data(context_id, 0x02 if last else 0x00, data[i:i + fragment]))
        pdu_type, body = self.read_pdu()
        assert pdu_type == wire.P_DATA_TF, f"expected P-DATA-TF, got PDU type {pdu_type}"
        command = body[6:]
        pos = 0
        while pos < len(command):
            _, elem, n = struct.unpack_from("<HHI", command, pos)
            if elem == 0x0900:
                return int(struct.unpack_from("<H", command, pos + 8)[0])
            pos += 8 + n
        raise AssertionError("response without a status")

    def exchange(self, context_id: int, command: bytes, data: bytes | None = None) -> int:
        """Send a command set (and `data` as its data set, byte for byte); the status of
        the response (its data set, if any, is read and dropped)."""
        self.send(wire.p_data(context_id, 0x03, command))
        if data is not None:
            self.send(wire.p_data(context_id, 0x02, data))
        found: int | None = None
        while True:
            pdu_type, body = self.read_pdu()
            assert pdu_type == wire.P_DATA_TF, f"expected P-DATA-TF, got PDU type {pdu_type}"
            header = body[5]  # the PDV's message control header
            if header & 0x01:  # a command
                command_set, pos, has_data = body[6:], 0, True
                while pos < len(command_set):
                    _, elem, n = struct.unpack_from("<HHI", command_set, pos)
                    if elem == 0x0800:
                        has_data = struct.unpack_from("<H", command_set, pos + 8)[0] != 0x0101
                    if elem == 0x0900:
                        found = int(struct.unpack_from("<H", command_set, pos + 8)[0])
                    pos += 8 + n
                assert found is not None, "response without a status"
                if header & 0x02 and not has_data:
                    return found
            elif header & 0x02:  # the last fragment of the data set
                assert found is not None
                return found

    def release(self) -> None:
        self.send(struct.pack(">BBI4x", wire.A_RELEASE_RQ, 0, 4))
        try:
            self.read_pdu()
        finally:
            self.sock.close()


def associate(port: int, contexts: list[tuple[int, str, list[str]]], calling: str = "RAWSCU",
              called: str = "MW_TUI", timeout: float = 30) -> RawAssociation:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    assoc = RawAssociation(sock)
    assoc.send(associate_rq(calling, called, contexts))
    pdu_type, body = assoc.read_pdu()
    if pdu_type == wire.A_ASSOCIATE_RJ:
        assoc.rejected = True
        return assoc
    assert pdu_type == wire.A_ASSOCIATE_AC, f"unexpected PDU type {pdu_type}"
    pos = 68
    while pos + 4 <= len(body):
        item_type, _, n = struct.unpack_from(">BBH", body, pos)
        if item_type == 0x21:
            cid, result = body[pos + 4], body[pos + 6]
            ts_item = body[pos + 8 : pos + 4 + n]
            if result == 0:
                assoc.accepted[cid] = ts_item[4:].decode().strip("\0 ")
        pos += 4 + n
    return assoc
