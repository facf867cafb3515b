"""The receiver against real dcmtk clients on free ports."""

from __future__ import annotations

import io
import os
import subprocess
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import _read_file_meta_info, read_preamble

from mw_tui.demo import synth
from mw_tui.dicom.events import AssociationRejected, InstanceRefused, InstanceStored, StudyChanged
from mw_tui.dicom.scp import Receiver
from mw_tui.standard import sop, status
from mw_tui.store import Store
from tests import rawscu
from tests.conftest import EXTRA_TS, make_config, with_dicom
from tests.peers import (
    PYDICOM_TEST_FILES,
    STORESCU_PROPOSE,
    RecordingProxy,
    dcmtk,
    wait_until,
)


def dataset_bytes(path: Path) -> tuple[str, str, str, bytes]:
    """(SOP class, SOP instance, transfer syntax, dataset bytes) of a Part 10 file."""
    raw = path.read_bytes()
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    return (str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID),
            str(meta.TransferSyntaxUID), raw[fp.tell():])


def test_echoscu_succeeds(receiver: Receiver) -> None:
    proc = dcmtk("echoscu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port))
    assert proc.returncode == 0




def _sop_instance_uid(data: bytes) -> str:
    from mw_tui.store.header import scan

    for ts in (sop.EXPLICIT_VR_LE, sop.EXPLICIT_VR_BE, sop.DEFLATED_EXPLICIT_VR_LE):
        try:
            uid = scan(data, ts).get("SOPInstanceUID")
        except Exception:
            continue
        if uid:
            return uid
    return ""


def pydicom_files() -> tuple[list[Path], list[Path]]:
    """(files of the SOP class table with their identifying UIDs, files of other classes)"""
    listed, unlisted = [], []
    for f in sorted(PYDICOM_TEST_FILES.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            ts = ds.file_meta.TransferSyntaxUID
        except Exception:
            continue
        uids = [str(ds.get(k, "")) for k in ("StudyInstanceUID", "SeriesInstanceUID",
                                               "SOPInstanceUID")]
        if not ts or not all(uids):
            continue
        if subprocess.run(["dcmdump", "-q", str(f)], capture_output=True).returncode != 0:
            continue  # dcmtk itself cannot read it (MR_truncated.dcm), so cannot send it
        (listed if ds.SOPClassUID in sop.STORAGE_SOP_CLASSES else unlisted).append(f)
    return listed, unlisted


def test_every_pydicom_file_is_stored_byte_identical(tmp_path: Path) -> None:
    listed, _ = pydicom_files()
    assert len(listed) >= 40
    config = with_dicom(make_config(tmp_path), extra_transfer_syntaxes=EXTRA_TS)
    by_ts: dict[str, list[str]] = {}
    for f in listed:
        by_ts.setdefault(dataset_bytes(f)[2], []).append(str(f))
    with Receiver(config) as r:
        proxy = RecordingProxy(r.port)  # records exactly what storescu puts on the wire
        for ts, files in by_ts.items():
            # propose the files' own transfer syntax, so they travel in it
            dcmtk("storescu", "-R", STORESCU_PROPOSE[ts], "-aec", "MW_TUI", "127.0.0.1",
                  str(proxy.port), *files)
        proxy.close()
    sent = {}
    for data in proxy.datasets():
        sent[_sop_instance_uid(data)] = data  # some test files share a UID: the last wins
    last: dict[str, Path] = {}
    for files in by_ts.values():
        for f in files:
            last[dataset_bytes(Path(f))[1]] = Path(f)
    store = Store(config.storage)
    for sop_uid, f in last.items():
        sop_class, _, ts, _ = dataset_bytes(f)
        row = store.index.instance(sop_uid)
        assert row is not None, f"{f.name} was not indexed"
        assert (row.transfer_syntax, row.sop_class) == (ts, sop_class)
        stored = store.root / row.path
        s_class, s_uid, s_ts, s_data = dataset_bytes(stored)
        assert (s_class, s_uid, s_ts) == (sop_class, sop_uid, ts)
        assert s_data == sent[sop_uid], f"{f.name}: stored dataset differs from the one sent"
        meta = pydicom.dcmread(stored, stop_before_pixels=True).file_meta
        assert meta.ImplementationClassUID == "2.25.164858344470730925883278414354167104446"
        assert meta.SourceApplicationEntityTitle == "STORESCU"
    assert store.index.counts()[2] == len(last)


def test_unlisted_sop_class_is_refused_and_nothing_stored(receiver: Receiver) -> None:
    _, unlisted = pydicom_files()
    rtplan = next(f for f in unlisted if f.name == "rtplan.dcm")
    proc = dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port), str(rtplan),
                 check=False)
    assert proc.returncode != 0
    assert "no presentation context" in (proc.stdout + proc.stderr).lower()
    store = Store(receiver.config.storage)
    assert store.index.counts() == (0, 0, 0)
    assert not list((store.root / "studies").rglob("*"))


def test_configured_extra_sop_class_is_accepted(tmp_path: Path) -> None:
    rtplan = PYDICOM_TEST_FILES / "rtplan.dcm"
    config = with_dicom(make_config(tmp_path),
                        extra_sop_classes=["1.2.840.10008.5.1.4.1.1.481.5"])
    with Receiver(config) as r:
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(r.port), str(rtplan))
    assert Store(config.storage).index.counts()[2] == 1


def test_explicit_vr_is_preferred_when_offered(receiver: Receiver, tmp_path: Path) -> None:
    from pynetdicom import AE

    ds = synth.image(synth.StudyInfo())
    ae = AE(ae_title="MODALITY")
    # one context offering implicit VR first, explicit VR second (as many modalities do)
    ae.add_requested_context(ds.SOPClassUID, [sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE])
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="MW_TUI")
    assert assoc.is_established
    assert assoc.accepted_contexts[0].transfer_syntax[0] == sop.EXPLICIT_VR_LE
    synth.save(ds, tmp_path / "x.dcm")  # gives it file meta: explicit VR little endian
    assert assoc.send_c_store(ds).Status == status.SUCCESS
    assoc.release()
    row = Store(receiver.config.storage).index.instance(ds.SOPInstanceUID)
    assert row is not None and row.transfer_syntax == sop.EXPLICIT_VR_LE


def test_resent_instance_replaces(receiver: Receiver) -> None:
    f = PYDICOM_TEST_FILES / "CT_small.dcm"
    for _ in range(2):
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port), str(f))
    store = Store(receiver.config.storage)
    assert store.index.counts() == (1, 1, 1)
    assert len(list((store.root / "studies").rglob("*.dcm"))) == 1
    stored = wait_until(lambda: [e for e in receiver.events if isinstance(e, InstanceStored)]
                        if len([e for e in receiver.events
                                if isinstance(e, InstanceStored)]) == 2 else None,
                        what="two stored events")
    assert [e.replaced for e in stored] == [False, True]


def test_study_changes_are_coalesced(receiver: Receiver, tmp_path: Path) -> None:
    files = list(synth.ct_series(tmp_path / "ct", 40, 32, 32))
    dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port), *map(str, files))
    uid = pydicom.dcmread(files[0]).StudyInstanceUID
    wait_until(lambda: sum(c.instances_added for c in receiver.study_changes) == 40,
               what="study change notifications for all 40 instances")
    changes = [c for c in receiver.study_changes if isinstance(c, StudyChanged)]
    assert all(c.study_uid == uid for c in changes)
    assert len(changes) < 40  # merged, not one per instance


def test_associations_beyond_the_limit_are_rejected(tmp_path: Path) -> None:
    """Counted from the clients' side too: `limit` associations are accepted and held, so
    the next ones (storescu) are rejected and store nothing; once the held ones are
    released, a flood of storescu runs within the limit, as the receiver's counter says."""
    limit = 4
    config = make_config(tmp_path, max_associations=limit, receiver_processes=2)
    files = [str(p) for p in synth.ct_series(tmp_path / "ct", 25 * 4, 64, 64)]
    peak = 0
    done = threading.Event()
    events: list[object] = []

    def storescu(i: int) -> subprocess.Popen[str]:
        return subprocess.Popen(["storescu", "-aec", "MW_TUI", "127.0.0.1", str(r.port),
                                 *files[i * 4:(i + 1) * 4]], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "TCP_NODELAY": "1"})

    with Receiver(config, on_event=events.append) as r:
        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, r.status().associations)
                done.wait(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        verification = [(1, sop.VERIFICATION, [sop.IMPLICIT_VR_LE])]
        held = [rawscu.associate(r.port, verification) for _ in range(limit)]
        one_more = rawscu.associate(r.port, verification)
        one_more.sock.close()
        while_full = [storescu(i) for i in range(5)]
        full_outputs = [p.communicate(timeout=120)[0] for p in while_full]
        for a in held:
            a.release()
        procs = [storescu(i) for i in range(5, 25)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        done.set()
        sampler.join()
        procs, outputs = while_full + procs, full_outputs + outputs
        refused = [p for p in procs if p.returncode != 0]
        rejected = wait_until(lambda: [e for e in events if isinstance(e, AssociationRejected)]
                              if len(refused) + 1 ==
                              len([e for e in events if isinstance(e, AssociationRejected)])
                              else None, what="a rejection event per rejected client")
    assert not any(a.rejected for a in held) and one_more.rejected  # the clients' count
    assert all(p.returncode != 0 for p in while_full)  # a full station: rejected, all five
    assert peak <= limit
    store = Store(config.storage)
    stored = store.index.counts()[2]
    ok = [p for p in procs if p.returncode == 0]
    assert ok, "no storescu got through once the station had room"
    assert stored == 4 * len(ok)
    assert len(ok) + len(refused) == 25 and len(rejected) == len(refused) + 1
    for p, out in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            assert "association rejected" in out.lower(), out


def test_disk_below_minimum_gives_a700_and_stores_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, min_free_mb=10**9)
    events: list[object] = []
    with Receiver(config, on_event=events.append) as r:
        proc = dcmtk("storescu", "-v", "-aec", "MW_TUI", "127.0.0.1", str(r.port),
                     str(PYDICOM_TEST_FILES / "CT_small.dcm"), check=False)
        refused = wait_until(lambda: [e for e in events if isinstance(e, InstanceRefused)],
                             what="the refusal event")
    assert refused[0].status == status.OUT_OF_RESOURCES
    assert "Refused: OutOfResources" in proc.stdout + proc.stderr
    store = Store(config.storage)
    assert store.index.counts() == (0, 0, 0)
    assert not [p for p in store.root.rglob("*") if p.is_file() and "index" not in p.name]


def test_allow_list_rejects_a_stranger(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = with_dicom(make_config(tmp_path), allowed_callers=["FRIEND", "10.99.0.0/16"])
    events: list[object] = []
    with Receiver(config, on_event=events.append) as r:
        bad = dcmtk("echoscu", "-aet", "STRANGER", "-aec", "MW_TUI", "127.0.0.1", str(r.port),
                    check=False)
        good = dcmtk("echoscu", "-aet", "FRIEND", "-aec", "MW_TUI", "127.0.0.1", str(r.port),
                     check=False)
        rejected = wait_until(lambda: [e for e in events
                                       if isinstance(e, AssociationRejected)],
                              what="the rejection event")
    assert bad.returncode != 0 and "Rejected" in bad.stdout + bad.stderr
    assert good.returncode == 0
    assert rejected[0].calling_ae == "STRANGER"
    assert rejected[0].peer.startswith("127.0.0.1:")
    assert "allow-list" in rejected[0].reason


def test_allow_list_by_network(tmp_path: Path) -> None:
    config = with_dicom(make_config(tmp_path), allowed_callers=["127.0.0.0/8"])
    with Receiver(config) as r:
        dcmtk("echoscu", "-aet", "ANYONE", "-aec", "MW_TUI", "127.0.0.1", str(r.port))


def test_malformed_dataset_is_refused_with_c000(receiver: Receiver, tmp_path: Path) -> None:
    ds = synth.image(synth.StudyInfo())
    good = synth.save(ds, tmp_path / "good.dcm")
    _, uid, _, data = dataset_bytes(good)
    bad = bytearray(data)
    at = bad.index(b"\x28\x00\x10\x00US")  # (0028,0010) Rows gets an impossible VR
    bad[at + 4:at + 6] = b"\x01\x02"
    assoc = rawscu.associate(receiver.port, [(1, ds.SOPClassUID, [sop.EXPLICIT_VR_LE])])
    assert assoc.accepted == {1: sop.EXPLICIT_VR_LE}
    bad_status = assoc.c_store(1, ds.SOPClassUID, uid, bytes(bad), message_id=1)
    truncated = assoc.c_store(1, ds.SOPClassUID, uid, data[: len(data) // 3], message_id=2)
    good_status = assoc.c_store(1, ds.SOPClassUID, uid, data, message_id=3)
    assoc.release()
    assert 0xC000 <= bad_status <= 0xCFFF
    assert truncated != status.SUCCESS
    assert good_status == status.SUCCESS  # the association went on
    refused = wait_until(lambda: [e for e in receiver.events if isinstance(e, InstanceRefused)]
                         if len([e for e in receiver.events
                                 if isinstance(e, InstanceRefused)]) >= 2 else None,
                         what="the refusals")
    assert "malformed dataset" in refused[0].reason
    store = Store(receiver.config.storage)
    assert store.index.counts()[2] == 1
    assert (store.root / store.index.instance(uid).path).read_bytes().endswith(data)


def test_dataset_with_another_instance_uid_is_refused(receiver: Receiver,
                                                      tmp_path: Path) -> None:
    ds = synth.image(synth.StudyInfo())
    data = dataset_bytes(synth.save(ds, tmp_path / "a.dcm"))[3]
    assoc = rawscu.associate(receiver.port, [(1, ds.SOPClassUID, [sop.EXPLICIT_VR_LE])])
    code = assoc.c_store(1, ds.SOPClassUID, "1.2.3.4", data)
    assoc.release()
    assert 0xC000 <= code <= 0xCFFF
    assert Store(receiver.config.storage).index.counts()[2] == 0


def test_port_in_use_gives_a_clear_error(receiver: Receiver, tmp_path: Path) -> None:
    from mw_tui.dicom.scp import ReceiverError

    other = Receiver(make_config(tmp_path / "b", port=receiver.port))
    with pytest.raises(ReceiverError, match="already in use"):
        other.start()
