"""Reading PDUs through one buffer: what is handed out stays right."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from mw_tui.dicom import wire


def pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _send_in_pieces(sock: socket.socket, data: bytes, piece: int) -> threading.Thread:
    def run() -> None:
        for i in range(0, len(data), piece):
            sock.sendall(data[i : i + piece])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_stable_views_stay_as_they_were_read(pair: tuple[socket.socket, socket.socket],
                                             piece: int) -> None:
    """A data set kept as it arrived (an image of our own retrieve) holds views of many
    PDUs: the buffer behind them is never reused, whatever arrives next."""
    ours, theirs = pair
    bodies = [os.urandom(n) for n in (16_000, 16_000, 900, 70_000, 16_000, 3, 40_000)] * 4
    stream = b"".join(pdu(wire.P_DATA_TF, b) for b in bodies) + pdu(wire.A_RELEASE_RQ, b"\0" * 4)
    sender = _send_in_pieces(theirs, stream, piece)
    reader = wire.PduReader(ours, limit=100_000)
    kept = []
    for i, body in enumerate(bodies):
        stable = i % 3 != 2  # some are only looked at
        pdu_type, got = reader.read(stable=stable)
        assert pdu_type == wire.P_DATA_TF and bytes(got) == body
        if stable:
            kept.append((got, body))
    assert reader.read()[0] == wire.A_RELEASE_RQ
    assert all(bytes(got) == body for got, body in kept)
    sender.join(10)


def test_a_pdu_larger_than_the_buffer_gets_its_own(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    big, small = os.urandom(300_000), os.urandom(100)
    sender = _send_in_pieces(theirs, pdu(wire.P_DATA_TF, small) + pdu(wire.P_DATA_TF, big)
                             + pdu(wire.P_DATA_TF, small), 65536)
    reader = wire.PduReader(ours, limit=400_000)
    reader._size = 1000  # a small buffer: the big PDU does not fit
    reader._new_buffer(b"")
    first = reader.read(stable=True)[1]
    assert bytes(reader.read()[1]) == big
    assert bytes(reader.read()[1]) == small and bytes(first) == small
    sender.join(10)


def test_limits_and_a_peer_closing_mid_pdu(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    reader = wire.PduReader(ours, limit=1000)
    theirs.sendall(pdu(wire.P_DATA_TF, b"x" * 1001))
    with pytest.raises(wire.ProtocolError, match="more than the 1000 allowed"):
        reader.read()
    ours2, theirs2 = socket.socketpair()
    theirs2.sendall(pdu(wire.P_DATA_TF, b"x" * 500)[:300])
    theirs2.close()
    with pytest.raises(wire.PeerClosed, match=r"middle of a PDU of type 0x04 \(300 of 506"):
        wire.PduReader(ours2, limit=1000).read()
    ours2.close()
