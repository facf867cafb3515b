"""Deferred durability of retrieved instances, and the copy-free receive path of the store."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import generate_uid

from mw_tui.demo import synth
from mw_tui.standard import sop
from mw_tui.store import Refusal, Refused, Store, StoredInstance, part10, sync
from mw_tui.store import incoming as incoming_module
from mw_tui.store import sink as sink_module
from mw_tui.store.check import check, recover
from mw_tui.store.header import NeedMore, scan
from tests.peers import PYDICOM_TEST_FILES

OTHER_BOOT = "00000000-dead-beef-0000-000000000000"


def dataset(ds: object, ts: str = sop.EXPLICIT_VR_LE) -> tuple[str, str, bytes]:
    """(SOP class, SOP instance, data set bytes) of a pydicom Dataset."""
    return _split(synth.part10(ds, ts))  # type: ignore[arg-type]


def _split(raw: bytes) -> tuple[str, str, bytes]:
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    meta = _read_file_meta_info(fp)
    return (str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID),
            raw[fp.tell():])


def images(n: int) -> list[tuple[str, str, bytes]]:
    """`n` small CT images of one series."""
    study = synth.StudyInfo()
    series = generate_uid()
    return [dataset(synth.image(study, "CT", series, 1, i, 32, 32)) for i in range(1, n + 1)]


def put(store: Store, item: tuple[str, str, bytes], deferred: bool = False,
        fragment: int = 0) -> StoredInstance:
    sop_class, uid, data = item
    inc = store.begin(sop_class, uid, sop.EXPLICIT_VR_LE, "PACS", deferred=deferred)
    step = fragment or max(len(data), 1)
    for i in range(0, len(data), step):
        inc.write(memoryview(bytearray(data[i : i + step])))
    return inc.commit()


def marks(store: Store) -> dict[str, str]:
    """sop_uid -> boot id of the instances not yet synced."""
    return {uid: boot for uid, _, boot in store.index.unsynced()}


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every os.fsync call (they still happen)."""
    calls: list[int] = []
    real: Callable[[int], None] = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(call, what it named) of every rename, fsync and fdatasync, in order; a descriptor
    is named by the path it has when it is synced."""
    seen: list[tuple[str, str]] = []

    def named(fd: int) -> str:
        return os.readlink(f"/proc/self/fd/{fd}")

    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def spy(fd: int, real: Callable[[int], None] = real, name: str = name) -> None:
            seen.append((name, named(fd)))
            real(fd)

        monkeypatch.setattr(os, name, spy)
    replace = os.replace

    def renamed(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        replace(src, dst)
        seen.append(("rename", str(dst)))

    monkeypatch.setattr(os, "replace", renamed)
    rename_new = sink_module._rename_new

    def renamed_new(src: Path, dst: Path) -> bool | None:  # RENAME_NOREPLACE
        done = rename_new(src, dst)
        if done:
            seen.append(("rename", str(dst)))
        return done

    monkeypatch.setattr(sink_module, "_rename_new", renamed_new)
    return seen


def test_a_pushed_instance_is_synced_once_after_its_rename(
        tmp_path: Path, calls: list[tuple[str, str]]) -> None:
    """ext4 and XFS: the data is on the device before the rename, and one fsync of the
    file after it makes data, inode and new name durable."""
    store = Store(tmp_path / "store")
    assert store.ordered  # the tests' file system is one of those
    a, b = images(2)
    put(store, a)
    calls.clear()
    stored = put(store, b)  # same folders: nothing to create
    assert calls == [("rename", str(stored.path)), ("fsync", str(stored.path))]
    assert marks(store) == {}
    assert stored.path.read_bytes().endswith(b[2])


def test_elsewhere_a_pushed_instance_is_synced_then_renamed_then_its_folder_synced(
        tmp_path: Path, calls: list[tuple[str, str]]) -> None:
    store = Store(tmp_path / "store")
    store.ordered = False  # a file system whose fsync may not cover a new name
    a, b = images(2)
    put(store, a)
    calls.clear()
    stored = put(store, b)
    (op, temp), *rest = calls
    assert op == "fdatasync" and Path(temp).parent == store.root / "incoming"
    assert rest == [("rename", str(stored.path)), ("fsync", str(stored.path.parent))]
    assert stored.path.read_bytes().endswith(b[2])


def test_a_push_replacing_a_file_syncs_its_data_before_the_rename(
        tmp_path: Path, calls: list[tuple[str, str]]) -> None:
    """The earlier copy (acknowledged) is only ever replaced by data already on the disk:
    fdatasync, rename, fsync of the folder, even where one fsync after the rename would
    do for a new name."""
    store = Store(tmp_path / "store")
    assert store.ordered
    item = images(1)[0]
    put(store, item)
    calls.clear()
    stored = put(store, item)  # sent again
    (op, temp), *rest = calls
    assert op == "fdatasync" and Path(temp).parent == store.root / "incoming"
    assert rest == [("rename", str(stored.path)), ("fsync", str(stored.path.parent))]
    assert stored.replaced


def _failing_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every os.fsync and os.fdatasync fails with EIO (the device reports a write error);
    returns the names of the calls made."""
    made: list[str] = []
    for name in ("fsync", "fdatasync"):
        def fail(fd: int, name: str = name) -> None:
            made.append(name)
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, name, fail)
    return made


def test_a_failed_sync_never_removes_the_acknowledged_copy_it_would_replace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    sop_class, uid, data = images(1)[0]
    first = put(store, (sop_class, uid, data))  # acknowledged: durable and indexed
    before = first.path.read_bytes()
    changed = data[:-16] + bytes(b ^ 0xFF for b in data[-16:])  # other pixels, same UIDs
    made = _failing_syncs(monkeypatch)
    with pytest.raises(Refused) as exc:
        put(store, (sop_class, uid, changed))
    assert exc.value.why is Refusal.WRITE_FAILED and made
    monkeypatch.undo()
    assert first.path.exists() and first.path.read_bytes() == before
    assert store.index.paths() == {uid: str(first.path.relative_to(store.root))}
    assert not os.listdir(store.root / "incoming")  # the new copy's temporary file went
    assert check(store).ok


def test_a_failed_sync_after_the_rename_of_a_new_name_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new name: renamed, then its one fsync fails. The push is refused, not indexed,
    and its file removed (it was this push's alone): the store is as before."""
    store = Store(tmp_path / "store")
    first, item = images(2)
    put(store, first)  # its folders exist: the only sync is the file's
    made = _failing_syncs(monkeypatch)
    with pytest.raises(Refused) as exc:
        put(store, item)
    assert exc.value.why is Refusal.WRITE_FAILED and made == ["fsync"]
    monkeypatch.undo()
    assert list(store.index.paths()) == [first[1]]
    assert check(store).ok and not check(store).unindexed


def test_an_instance_of_our_own_retrieve_is_written_without_fsync_then_made_durable(
        tmp_path: Path, fsyncs: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    first, *rest = images(4)
    put(store, first, deferred=True)  # new folders and the boot's marker are synced once
    assert sync.marker(store.root, sync.boot_id()).exists()
    fsyncs.clear()
    stored = [put(store, item, deferred=True, fragment=100) for item in rest]
    assert fsyncs == []
    assert marks(store) == {u: sync.boot_id() for _, u, _ in [first, *rest]}
    for s, (_, _, data) in zip(stored, rest, strict=True):
        assert s.path.read_bytes()[-len(data):] == data
    synced: list[Path] = []
    real = sync.sync_filesystem
    monkeypatch.setattr(sync, "sync_filesystem", lambda p: (synced.append(p), real(p)))
    assert store.make_durable() == 4
    assert synced == [store.root]
    assert marks(store) == {}
    assert store.make_durable() == 0 and len(synced) == 1  # nothing left: no sync
    assert check(store).ok


def test_retrieved_instances_go_through_the_page_cache_pushed_ones_around_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job builds its media from what it just retrieved: those files go through the
    page cache (read back from the disk otherwise), and take no spare file (opened to
    write around the cache); a push is written around it, where the file system allows."""
    store = Store(tmp_path / "store")
    opened: list[bool] = []
    real_init = sink_module.FileSink.__init__

    def spy(self: sink_module.FileSink, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self.direct)

    monkeypatch.setattr(sink_module.FileSink, "__init__", spy)
    monkeypatch.setattr(incoming_module, "SPOOL_THRESHOLD", 1000)  # spooled as it comes
    taken: list[object] = []
    real_spare = store.spare
    monkeypatch.setattr(store, "spare", lambda: taken.append(1) or real_spare())
    small, large, pushed = images(3)
    put(store, small, deferred=True)
    put(store, large, deferred=True, fragment=700)
    assert opened == [False, False] and taken == []
    put(store, pushed, fragment=700)
    probe = sink_module.FileSink(tmp_path / "probe", direct=True)
    can = probe.direct
    probe.abort()
    assert opened[2:] == [can, can] and taken == [1]
    assert store.make_durable() == 2 and check(store).ok


def test_a_durable_copy_is_never_replaced_by_one_not_yet_on_disk(
        tmp_path: Path, calls: list[tuple[str, str]]) -> None:
    store = Store(tmp_path / "store")
    item = images(1)[0]
    put(store, item)  # pushed by a modality
    calls.clear()
    stored = put(store, item, deferred=True)  # then the same instance retrieved: as a push
    (op, temp), *rest = calls  # replacing a file: its data on disk before the rename
    assert op == "fdatasync" and Path(temp).parent == stored.path.parent
    assert rest == [("rename", str(stored.path)), ("fsync", str(stored.path.parent))]
    assert marks(store) == {}
    unsynced = images(1)[0]
    put(store, unsynced, deferred=True)
    put(store, unsynced)  # a push of an unsynced instance makes it durable
    assert marks(store) == {}


def test_recovery_after_a_killed_process_syncs_and_keeps_this_boots_instances(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    items = images(3)
    for item in items:
        put(store, item, deferred=True)
    store.close()
    store = Store(tmp_path / "store")  # the process that wrote them is gone
    report = recover(store)
    assert report.synced == 3 and report.lost == []
    assert marks(store) == {}
    assert store.index.counts()[2] == 3
    assert check(store).ok


def test_recovery_after_a_power_loss_removes_what_was_never_synced(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    items = images(5)
    durable, cut = items[:2], items[2:]
    for item in durable:
        put(store, item)
    stored = [put(store, item, deferred=True) for item in cut]
    # as the index and the disk look after a reboot: the rows carry the old boot id, the
    # old boot's marker is there, and one file lost its row with the power (truncated)
    db = sqlite3.connect(store.root / "index.sqlite")
    with db:
        db.execute("UPDATE instances SET unsynced = ? WHERE unsynced IS NOT NULL",
                   (OTHER_BOOT,))
        db.execute("DELETE FROM instances WHERE sop_uid = ?", (cut[2][1],))
    db.close()
    os.rename(sync.marker(store.root, sync.boot_id()), sync.marker(store.root, OTHER_BOOT))
    os.truncate(stored[2].path, stored[2].size - 1000)  # only part of it reached the disk
    os.truncate(stored[1].path, stored[1].size // 2)
    with open(stored[0].path, "r+b") as f:  # its second half never reached the disk
        f.seek(stored[0].size // 2)
        f.write(bytes(stored[0].size - stored[0].size // 2))
    before = check(store)
    assert not before.ok and len(before.unsynced) == 2 and len(before.unindexed) == 1
    report = recover(store)
    assert sorted(report.lost) == sorted(str(s.path.relative_to(store.root)) for s in stored)
    assert not any(s.path.exists() for s in stored)
    assert all((store.root / str(r)).exists() for r in store.index.paths().values())
    assert sorted(store.index.paths()) == sorted(u for _, u, _ in durable)
    assert check(store).ok
    assert not sync.other_boot_markers(store.root, sync.boot_id())


def test_recovery_keeps_what_read_back_as_written_and_the_durable_ones(
        tmp_path: Path) -> None:
    """After a clean shutdown the kernel had written them all: a new boot keeps them."""
    store = Store(tmp_path / "store")
    items = images(5)
    for item in items[:2]:
        put(store, item)
    cut = [put(store, item, deferred=True) for item in items[2:]]
    db = sqlite3.connect(store.root / "index.sqlite")
    with db:
        db.execute("UPDATE instances SET unsynced = ? WHERE unsynced IS NOT NULL",
                   (OTHER_BOOT,))
    db.close()
    with open(cut[0].path, "r+b") as f:  # one bit of it did not make it
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    report = recover(store)
    assert report.lost == [str(cut[0].path.relative_to(store.root))]
    study = store.index.study(store.index.header(items[0][1]).StudyInstanceUID)
    assert study is not None and study.instances == 4
    assert store.index.unsynced() == []
    assert check(store).ok


def test_an_index_of_an_earlier_version_gets_the_new_column(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    db = sqlite3.connect(root / "index.sqlite")
    db.executescript("""
        CREATE TABLE instances (sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL,
            sop_class TEXT NOT NULL, transfer_syntax TEXT NOT NULL,
            instance_number TEXT NOT NULL DEFAULT '', path TEXT NOT NULL,
            size INTEGER NOT NULL, header BLOB NOT NULL, header_implicit INTEGER NOT NULL,
            header_little INTEGER NOT NULL, calling_ae TEXT NOT NULL DEFAULT '',
            received_at REAL NOT NULL);
    """)
    db.close()
    store = Store(root)
    put(store, images(1)[0], deferred=True)
    assert len(marks(store)) == 1
    Store(root).close()  # opening it again changes nothing


# -- the receive path: fragments kept as they arrived ----------------------------------


def _pydicom_samples() -> list[Path]:
    names = ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
             "JPEG2000.dcm", "image_dfl.dcm", "SC_rgb_rle.dcm", "emri_small.dcm",
             "waveform_ecg.dcm"]
    return [PYDICOM_TEST_FILES / n for n in names if (PYDICOM_TEST_FILES / n).exists()]


def _ts_of(raw: bytes) -> str:
    fp = io.BytesIO(raw)
    read_preamble(fp, False)
    return str(_read_file_meta_info(fp).TransferSyntaxUID)


@pytest.mark.parametrize("path", _pydicom_samples(), ids=lambda p: p.name)
def test_fragments_give_the_same_file_and_index_as_one_block(tmp_path: Path,
                                                             path: Path) -> None:
    raw = path.read_bytes()
    sop_class, uid, data = _split(raw)
    ts = _ts_of(raw)
    whole = Store(tmp_path / "whole")
    inc = whole.begin(sop_class, uid, ts)
    inc.write(data)
    expected = inc.commit()
    for fragment in (1, 7, 200, 4096, 16372):
        store = Store(tmp_path / f"frag{fragment}")
        inc = store.begin(sop_class, uid, ts, deferred=fragment % 2 == 1)
        body = bytearray(data)
        for i in range(0, len(body), fragment):
            inc.write(memoryview(body)[i : i + fragment])
        got = inc.commit()
        assert got.path.read_bytes() == expected.path.read_bytes()
        assert store.index.header(uid) == whole.index.header(uid)
        assert store.index.study(got.study_uid) is not None


def test_a_prefix_scan_agrees_with_the_whole_scan_or_asks_for_more() -> None:
    _, _, data = dataset(synth.image(synth.StudyInfo(), "CT", rows=8, columns=8))
    whole = scan(data, sop.EXPLICIT_VR_LE)
    answered = 0
    for cut in range(len(data)):
        try:
            head = scan(data[:cut], sop.EXPLICIT_VR_LE, total=len(data))
        except NeedMore:
            continue
        answered += 1
        assert head == whole
    assert answered > 0  # once the pixel data's header is in, the rest is not needed


@pytest.mark.parametrize("damage", ["truncated", "overlong", "garbage"])
def test_malformed_data_is_refused_the_same_in_fragments(tmp_path: Path, damage: str) -> None:
    sop_class, uid, data = images(1)[0]
    if damage == "truncated":
        data = data[:-100]  # the pixel data's declared length runs past the end
    elif damage == "overlong":
        data = data + b"\x01\x02\x03\x04\x05\x06\x07\x08\x09"
    else:
        data = data.replace(b"\x10\x00\x10\x00PN", b"\x10\x00\x10\x00\xff\xff", 1)
    store = Store(tmp_path / "store")
    codes = set()
    for fragment in (0, 50, 300, 16000):
        inc = store.begin(sop_class, uid, sop.EXPLICIT_VR_LE, deferred=True)
        step = fragment or len(data)
        for i in range(0, len(data), step):
            inc.write(memoryview(bytearray(data[i : i + step])))
        with pytest.raises(Refused) as exc:
            inc.commit()
        codes.add((exc.value.why, exc.value.reason))
    assert len(codes) == 1
    assert next(iter(codes))[0] is Refusal.MALFORMED
    assert store.index.counts()[2] == 0 and check(store).ok


def test_short_writes_and_more_fragments_than_iov_max(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.writev
    calls = []

    def stingy(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        assert len(buffers) <= part10.IOV_MAX
        return real(fd, [b[:777] for b in buffers[:3]])  # never all of it

    monkeypatch.setattr(os, "writev", stingy)
    store = Store(tmp_path / "store", direct=False)  # through the page cache, as where the
    item = images(1)[0]  # file system refuses O_DIRECT
    big = dataset(synth.image(synth.StudyInfo(), "CT", rows=64, columns=64))
    for it, fragment in ((item, 1), (big, 3)):
        stored = put(store, it, deferred=True, fragment=fragment)
        assert stored.path.read_bytes()[-len(it[2]):] == it[2]
    assert max(calls) == part10.IOV_MAX


def test_the_header_is_read_from_the_first_fragment_only(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = incoming_module.scan

    def spy(data: bytes, ts: str, total: int | None = None) -> object:
        sizes.append(len(data))
        return real(data, ts, total)

    monkeypatch.setattr(incoming_module, "scan", spy)
    item = dataset(synth.image(synth.StudyInfo(), "CT", rows=128, columns=128))
    put(Store(tmp_path / "store"), item, fragment=16372)
    assert sizes == [16372]  # not the 32 KiB of the whole data set


def test_a_push_cut_between_two_elements_by_a_power_loss_is_not_indexed(
        tmp_path: Path) -> None:
    """The power went after the rename reached the disk but before the data did, and the
    cut fell exactly between two elements: the file reads as a whole dataset without its
    pixels. It was never acknowledged (that waits for the sync), and its index row went
    with the power. Its size mark tells: recovery moves it to quarantine/ instead of
    indexing an image without pixels; a whole file whose row was lost is indexed again."""
    store = Store(tmp_path / "store")
    cut_item, whole_item = images(2)
    cut, whole = put(store, cut_item), put(store, whole_item)
    raw = cut.path.read_bytes()
    at = raw.index(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data: cut right before it
    os.truncate(cut.path, at)
    store.index.remove_instances([cut_item[1], whole_item[1]])  # the rows went too
    report = recover(store)
    rel = cut.path.relative_to(store.root).as_posix()
    assert report.quarantined == [rel] and not report.invalid
    assert not cut.path.exists()
    assert (store.root / "quarantine" / rel.replace("/", "_")).read_bytes() == raw[:at]
    assert store.index.instance(cut_item[1]) is None
    assert store.index.instance(whole_item[1]) is not None  # indexed again, as written
    assert whole.path.exists()
    assert any("quarantine" in line for line in report.lines())
