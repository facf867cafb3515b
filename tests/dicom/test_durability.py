"""A pushed instance is on disk before its C-STORE-RSP: the response waits for the sync."""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.demo import synth
from mw_tui.dicom import wire
from mw_tui.dicom.acceptor import AssociationHandler
from mw_tui.dicom.admission import AcceptorSettings
from mw_tui.standard import sop, status
from mw_tui.store import Store
from tests import rawscu
from tests.conftest import make_config
from tests.store.test_deferred import dataset, images

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"

class _Slots:
    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.fixture
def station(tmp_path: Path) -> Iterator[tuple[rawscu.RawAssociation, Store]]:
    """An association served by the acceptor on a thread of this process."""
    store = Store(tmp_path / "store")
    settings = AcceptorSettings.from_config(make_config(tmp_path))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname(), timeout=30)
        ours, peer = listener.accept()
    handler = AssociationHandler(ours, peer, settings, store, _Slots(), lambda event: None)
    thread = threading.Thread(target=handler.run, daemon=True)
    thread.start()
    assoc = rawscu.RawAssociation(theirs)
    assoc.send(rawscu.associate_rq("MODALITY", "MW_TUI",
                                   [(1, CT_IMAGE, [sop.EXPLICIT_VR_LE])]))
    pdu_type, _ = assoc.read_pdu()
    assert pdu_type == wire.A_ASSOCIATE_AC
    try:
        yield assoc, store
    finally:
        theirs.close()
        thread.join(10)
        store.close()


def _send_store(assoc: rawscu.RawAssociation, sop_class: str, uid: str, data: bytes) -> None:
    assoc.send(wire.p_data(1, 0x03, rawscu.c_store_rq(1, sop_class, uid)))
    for i in range(0, len(data), 16000):
        last = i + 16000 >= len(data)
        assoc.send(wire.p_data(1, 0x02 if last else 0x00, data[i : i + 16000]))


def test_the_response_waits_for_the_sync(station: tuple[rawscu.RawAssociation, Store],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assoc, store = station
    syncing, go_on = threading.Event(), threading.Event()
    synced: list[str] = []
    real = os.fsync

    def held(fd: int) -> None:  # the disk takes its time
        syncing.set()
        assert go_on.wait(30)
        real(fd)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    first, (sop_class, uid, data) = images(2)
    _send_store(assoc, *first)  # its study's and series' folders are made (and synced)
    assert _status(assoc.read_pdu()[1]) == status.SUCCESS
    monkeypatch.setattr(os, "fsync", held)
    _send_store(assoc, sop_class, uid, data)
    assert syncing.wait(30), "the instance was never synced"
    readable, _, _ = select.select([assoc.sock], [], [], 0)
    assert not readable, "the C-STORE-RSP went out before the sync was over"
    go_on.set()
    pdu_type, body = assoc.read_pdu()
    assert pdu_type == wire.P_DATA_TF and _status(body) == status.SUCCESS
    row = store.index.instance(uid)
    assert row is not None and synced == [str(store.root / row.path)]
    assert (store.root / row.path).read_bytes().endswith(data)


def test_a_failed_sync_is_refused_and_leaves_nothing(
        station: tuple[rawscu.RawAssociation, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk reports an error on the sync: the modality is told, and keeps its copy."""
    assoc, store = station
    first, (sop_class, uid, data) = images(2)
    _send_store(assoc, *first)
    assert _status(assoc.read_pdu()[1]) == status.SUCCESS
    kept = {p for p in (store.root / "studies").rglob("*") if p.is_file()}

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    _send_store(assoc, sop_class, uid, data)
    pdu_type, body = assoc.read_pdu()
    assert pdu_type == wire.P_DATA_TF and _status(body) == status.CANNOT_STORE
    assert store.index.instance(uid) is None
    assert {p for p in (store.root / "studies").rglob("*") if p.is_file()} == kept
    assert not list((store.root / "incoming").iterdir())


def _status(body: bytes) -> int:
    command, pos = body[6:], 0
    while pos < len(command):
        _, elem, n = struct.unpack_from("<HHI", command, pos)
        if elem == 0x0900:
            return int(struct.unpack_from("<H", command, pos + 8)[0])
        pos += 8 + n
    raise AssertionError("response without a status")


def test_ct_images_of_several_sizes_are_kept_byte_for_byte(
        station: tuple[rawscu.RawAssociation, Store]) -> None:
    """Streamed to the disk in aligned blocks: sizes around the block and buffer sizes."""
    assoc, store = station
    for side in (8, 64, 181, 362, 512):
        ds = synth.image(synth.StudyInfo(), "CT", rows=side, columns=side)
        _, uid, data = dataset(ds)
        _send_store(assoc, CT_IMAGE, uid, data)
        assert _status(assoc.read_pdu()[1]) == status.SUCCESS
        row = store.index.instance(uid)
        assert row is not None
        kept = (store.root / row.path).read_bytes()
        assert kept.endswith(data) and len(kept) == row.size

