"""Which C-STOREs the receiver acknowledges before their fsync: only our own retrieve's."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from pydicom.filereader import _read_file_meta_info, read_preamble

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.dicom.admission import AcceptorSettings
from mw_tui.dicom.scp import Receiver
from mw_tui.dicom.wire import decode_command
from mw_tui.standard import sop, status
from mw_tui.store import Store, sync
from tests import rawscu
from tests.conftest import make_config
from tests.peers import dcmtk, free_port

ARCHIVE_AE = "PACS"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _config(tmp_path: Path) -> cfg.Config:
    return dataclasses.replace(make_config(tmp_path), archives=(cfg.Archive(
        name="pacs", ae_title=ARCHIVE_AE, host="127.0.0.1", port=free_port()),))


def _payload(ds: object) -> tuple[str, str, bytes]:
    raw = synth.part10(ds)  # type: ignore[arg-type]
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    return (str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID),
            raw[fp.tell():])


def test_the_move_originator_is_read_from_the_command() -> None:
    command = decode_command(rawscu.c_store_rq(3, CT_IMAGE, "1.2.3",
                                               move_originator="MW_TUI"))
    assert command.move_originator_ae == "MW_TUI" and command.move_originator_id == 1
    assert decode_command(rawscu.c_store_rq(3, CT_IMAGE, "1.2.3")
                          ).move_originator_ae == ""


def test_own_retrieve_needs_our_ae_as_originator_and_an_archive_as_caller(
        tmp_path: Path) -> None:
    settings = AcceptorSettings.from_config(_config(tmp_path))
    assert settings.own_retrieve(ARCHIVE_AE, settings.ae_title)
    assert not settings.own_retrieve(ARCHIVE_AE, "")  # a push by the archive
    assert not settings.own_retrieve(ARCHIVE_AE, "WORKSTATION")  # someone else's move
    assert not settings.own_retrieve("MODALITY", settings.ae_title)  # not an archive


@pytest.mark.parametrize(("caller", "originator", "deferred"), [
    (ARCHIVE_AE, "MW_TUI", True),
    (ARCHIVE_AE, "", False),
    (ARCHIVE_AE, "OTHER_SCU", False),
    ("MODALITY", "MW_TUI", False),
])
def test_only_sub_operations_of_our_own_move_are_left_unsynced(
        tmp_path: Path, caller: str, originator: str, deferred: bool) -> None:
    config = _config(tmp_path)
    items = [_payload(synth.image(synth.StudyInfo(), "CT", rows=16, columns=16))
             for _ in range(2)]
    with Receiver(config) as r:
        assoc = rawscu.associate(r.port, [(1, CT_IMAGE, [sop.EXPLICIT_VR_LE])],
                                 calling=caller)
        for i, (sop_class, uid, data) in enumerate(items, 1):
            code = assoc.c_store(1, sop_class, uid, data, message_id=i, fragment=1000,
                                 move_originator=originator)
            assert code == status.SUCCESS
        assoc.release()
    store = Store(config.storage)
    marked = {uid: boot for uid, _, boot in store.index.unsynced()}
    assert marked == ({u: sync.boot_id() for _, u, _ in items} if deferred else {})
    assert store.index.counts()[2] == 2
    assert store.make_durable() == (2 if deferred else 0)
    assert store.index.unsynced() == []


def test_a_storescu_push_is_synced_before_it_is_acknowledged(tmp_path: Path) -> None:
    config = _config(tmp_path)
    files = list(synth.ct_series(tmp_path / "ct", 3, 16, 16))
    with Receiver(config) as r:
        dcmtk("storescu", "-aet", ARCHIVE_AE, "-aec", "MW_TUI", "127.0.0.1", str(r.port),
              *map(str, files))
    store = Store(config.storage)
    assert store.index.counts()[2] == 3
    assert store.index.unsynced() == []
    assert not sync.marker(store.root, sync.boot_id()).exists()


def test_own_retrieve_images_are_checked_before_the_ack_and_written_behind_it(
        tmp_path: Path) -> None:
    """Acknowledged once checked (a malformed one is refused as before); written while the
    next arrives; one whose write fails after the ack is reported and simply missing (the
    retrieve's final count finds it) while the association goes on."""
    from mw_tui.dicom.events import InstanceRefused
    from mw_tui.store import layout

    config = _config(tmp_path)
    study = synth.StudyInfo()
    good = [_payload(synth.image(study, "CT", rows=16, columns=16)) for _ in range(3)]
    blocked_study = synth.StudyInfo()
    blocked = _payload(synth.image(blocked_study, "CT", rows=16, columns=16))
    refused: list[InstanceRefused] = []
    # a file where the blocked study's folder goes: its write fails after the check
    blocked_folder = layout.instance_path(config.storage, blocked_study.study_uid, "1.2.3",
                                          blocked[1]).parent.parent
    blocked_folder.parent.mkdir(parents=True)
    blocked_folder.write_bytes(b"not a folder")
    with Receiver(config, on_event=lambda e: refused.append(e)
                  if isinstance(e, InstanceRefused) else None) as r:
        assoc = rawscu.associate(r.port, [(1, CT_IMAGE, [sop.EXPLICIT_VR_LE])],
                                 calling=ARCHIVE_AE)
        codes = [assoc.c_store(1, good[0][0], good[0][1], good[0][2], message_id=1,
                               move_originator="MW_TUI"),
                 assoc.c_store(1, blocked[0], blocked[1], blocked[2], message_id=2,
                               move_originator="MW_TUI"),
                 assoc.c_store(1, good[1][0], good[1][1], good[1][2][:40], message_id=3,
                               move_originator="MW_TUI"),  # cut short: malformed
                 assoc.c_store(1, good[2][0], good[2][1], good[2][2], message_id=4,
                               move_originator="MW_TUI")]
        assoc.release()
    assert codes[0] == codes[1] == codes[3] == status.SUCCESS
    assert codes[2] != status.SUCCESS and status.is_failure(codes[2])
    store = Store(config.storage)
    assert {u for u, _, _ in store.index.unsynced()} == {good[0][1], good[2][1]}
    lost = [e for e in refused if e.sop_uid == blocked[1]]
    assert len(lost) == 1 and "after it was acknowledged" in lost[0].reason
    assert not list(config.storage.rglob("*.part"))
