"""Writing received instances into the store: atomically, byte-exact, indexed.

Each instance becomes a Part 10 file: a 128-byte preamble, "DICM", a group 0002 built
from a template (SOP class and instance from the C-STORE request, the transfer syntax of
the presentation context, our implementation UID) and then the dataset bytes exactly as
they arrived. The bytes go to a temp file in the instance's own folder (or, for very
large instances, a spool file in `incoming/` on the same file system), are fsync'ed and
renamed into place, and only then indexed and acknowledged.

Instances of the station's own retrieves (`deferred`) skip the two fsyncs: an instance WE
asked an archive to send is still in that archive, so acknowledging it before it is on
disk loses nothing (a job that needs it retrieves it again). They are checked
(`Incoming.check()`, which an acceptor may acknowledge on) before they are written; their
index rows carry the boot id and the file's CRC-32 until `Store.make_durable()` syncs the
file system once for many of them; `check.recover()` settles what a crash left marked.
See `sync` for the details. Pushed instances (a modality's C-STORE) keep the
fsync-before-acknowledge path.

The data path copies as little as it can: the fragments are kept as they were read (views
into the PDUs), the header is scanned on the first fragment(s) only, and the file is
written with one writev of the file meta and the fragments.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mw_tui.store import layout, sync
from mw_tui.store.header import Header, MalformedDataset, NeedMore, scan
from mw_tui.store.index import Index, InstanceRecord
from mw_tui.store.part10 import (
    PREAMBLE,
    Chunk,
    crc32_of,
    file_crc32,
    file_meta,
    is_space_error,
    make_private,
    temp_name,
    write_all,
)
from mw_tui.store.refused import OutOfSpace, Refusal, Refused, StoredInstance

__all__ = ["PREAMBLE", "Chunk", "Incoming", "OutOfSpace", "Refusal", "Refused", "Store",
           "StoredInstance", "file_crc32", "file_meta", "temp_name", "write_all"]

log = logging.getLogger(__name__)

SPOOL_THRESHOLD = 16 * 1024 * 1024  # bytes kept in memory before spooling to disk
TRASH = "trash"  # studies being deleted are renamed here first (same file system)
PRIVATE_DIR = 0o700  # the store holds patient data: only its owner may read it
PRIVATE_FILE = 0o600
FREE_RECHECK_SECONDS = 1.0  # the free space is measured again after this long ...
FREE_RECHECK_BYTES = 64 * 1024 * 1024  # ... or after this much was written


class Store:
    """The storage folder: files under `studies/`, the index in `index.sqlite`."""

    def __init__(self, root: Path | str, min_free_mb: int = 0) -> None:
        self.root = Path(root)
        self.min_free_mb = min_free_mb
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        make_private(self.root)
        for sub in (layout.STUDIES, layout.INCOMING, TRASH):
            (self.root / sub).mkdir(exist_ok=True, mode=PRIVATE_DIR)
            make_private(self.root / sub)
        index = self.root / layout.INDEX_NAME
        # SQLite gives the -wal and -shm files the mode of the database file
        os.close(os.open(index, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        for p in (index, index.with_name(index.name + "-wal"),
                  index.with_name(index.name + "-shm")):
            if p.exists():
                make_private(p)
        self.index = Index(index)
        self._free = (0, -FREE_RECHECK_SECONDS)  # (bytes, time.monotonic() measured)
        self._written = 0  # bytes written since
        self._marked = False  # this boot's marker exists (see `sync`)

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def _free_estimate(self) -> int:
        """Free bytes, measured at most once a second or per 64 MiB written."""
        free, at = self._free
        now = time.monotonic()
        if now - at >= FREE_RECHECK_SECONDS or self._written >= FREE_RECHECK_BYTES:
            free = self.free_bytes()
            self._free, self._written = (free, now), 0
            return free
        return free - self._written

    def has_room(self, size: int = 0) -> bool:
        return self._free_estimate() - size >= self.min_free_mb * 1024 * 1024

    def _wrote(self, size: int) -> None:
        self._written += size

    def begin(self, sop_class: str, sop_uid: str, transfer_syntax: str,
              calling_ae: str = "", deferred: bool = False) -> Incoming:
        """Start receiving one instance; feed it with `write()`, end with `commit()`.

        `deferred`: an instance of the station's own retrieve, acknowledged before its
        fsync (see the module's docstring); `make_durable()` ends the retrieve."""
        return Incoming(self, sop_class, sop_uid, transfer_syntax, calling_ae, deferred)

    def _mark_boot(self, boot: str) -> None:
        if not self._marked:
            sync.ensure_marker(self.root, boot)
            self._marked = True

    def drop_lost(self) -> list[str]:
        """Forget the instances an earlier boot wrote without fsync and never synced (a
        power loss or a reboot cut their retrieve) unless they read back exactly as written
        (their CRC-32): the others may be incomplete. Deletes their files and rows; returns
        the files' relative paths. Their retrieve fetches them again.
        """
        boot = sync.boot_id()
        lost, kept = [], []
        for uid, path, crc in self.index.unsynced_elsewhere(boot):
            # a clean shutdown (or the kernel's own writeback) may have put it on disk:
            # what reads back as it was written is kept
            if crc is not None and file_crc32(self.root / path) == crc:
                kept.append(uid)
            else:
                lost.append((uid, path))
        if kept:
            self.index.clear_marks(kept)
            log.info("store: %d images an earlier boot had not synced read back intact; "
                     "kept", len(kept))
        if lost:
            for _, path in lost:  # files first: a row without its file is dropped later
                (self.root / path).unlink(missing_ok=True)
            self.index.remove_instances([uid for uid, _ in lost])
            log.warning("store: %d images of a retrieve cut by a power loss or reboot before "
                        "they were synced to disk were removed; they are retrieved again",
                        len(lost))
        return [path for _, path in lost]

    def make_durable(self) -> int:
        """Put every instance this boot wrote without fsync on disk (one syncfs of the
        store's file system) and clear their marks; returns how many were marked.

        Raises OSError when the kernel reports a write error (the marks stay)."""
        boot = sync.boot_id()
        if not boot or not self.index.has_unsynced(boot):
            return 0
        before = time.time()  # rows indexed before this had their data written before it
        sync.sync_filesystem(self.root)
        n = self.index.mark_synced(boot, before)
        log.debug("store: %d instances of this boot's retrieves synced to disk", n)
        return n

    def store_bytes(self, sop_class: str, sop_uid: str, transfer_syntax: str, data: bytes,
                    calling_ae: str = "") -> StoredInstance:
        inc = self.begin(sop_class, sop_uid, transfer_syntax, calling_ae)
        inc.write(data)
        return inc.commit()

    def path_of(self, relative: str) -> Path:
        return self.root / relative

    def delete_study(self, study_uid: str,
                     unless: Callable[[sqlite3.Connection], bool] | None = None) -> int:
        """Remove a study's files and index rows; returns how many files went (-1: kept).

        In one index transaction: `unless(db)` is asked (retention: "has it been used or
        held since?"), the study's folder is renamed into `trash/` and its rows deleted;
        the files are removed after the commit. A crash leaves either the whole study or
        index rows without files (dropped at the next start), never files the next start
        would index again. An instance arriving meanwhile is refused, not lost (`_commit`).
        """
        folder = layout.study_dir(self.root, study_uid)
        trash = self.root / TRASH / secrets.token_hex(8)
        with self.index.transaction() as db:
            if unless is not None and unless(db):
                return -1
            paths = self.index.forget_study(db, study_uid)
            if folder.exists():
                os.rename(folder, trash)  # last: if it fails, the transaction rolls back
        layout.fsync_dir(folder.parent)
        shutil.rmtree(trash, ignore_errors=True)
        return len(paths)

    def empty_trash(self) -> None:
        """Finish deletions a crash interrupted."""
        for p in (self.root / TRASH).iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def close(self) -> None:
        self.index.close()


@dataclass(frozen=True, slots=True)
class _Checked:
    """What `Incoming.check()` found: all the write needs."""

    meta: bytes
    head: Header
    final: Path
    study: str
    series: str


class Incoming:
    """One instance being received. Not thread-safe: one association feeds it."""

    def __init__(self, store: Store, sop_class: str, sop_uid: str, transfer_syntax: str,
                 calling_ae: str, deferred: bool = False) -> None:
        self.store = store
        self.sop_class = sop_class
        self.sop_uid = sop_uid
        self.transfer_syntax = transfer_syntax
        self.calling_ae = calling_ae
        self.deferred = deferred
        self.size = 0
        self._chunks: list[Chunk] = []
        self._spool: BinaryIO | None = None
        self._spool_path: Path | None = None
        self._refusal: Refused | None = None
        self._checked: _Checked | None = None
        if not layout.is_valid_uid(sop_uid):
            self._refusal = Refused(Refusal.BAD_UID,
                                    f"Affected SOP Instance UID {sop_uid[:80]!r} is not valid")
        elif not store.has_room():
            self._refusal = OutOfSpace(
                f"less than {store.min_free_mb} MiB free in {store.root}: free some space "
                f"or lower station.min_free_mb")

    def write(self, chunk: Chunk) -> None:
        """Add the next bytes of the dataset. The chunk is kept, not copied: it must not
        change until `commit()` or `abort()` (a view into a PDU that is not reused)."""
        if self._refusal is not None:
            return  # the data is read and dropped; the answer is the refusal
        self.size += len(chunk)
        if self._spool is not None:
            self._spool_write(chunk)
            return
        self._chunks.append(chunk)
        if self.size > SPOOL_THRESHOLD:
            self._start_spool()

    def _start_spool(self) -> None:
        self._spool_path = self.store.root / layout.INCOMING / temp_name()
        try:
            if not self.store.has_room(self.size):
                raise OSError(errno.ENOSPC, "below the minimum free space")
            fd = os.open(self._spool_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            self._spool = open(fd, "wb")  # noqa: SIM115
            self._spool.write(file_meta(self.sop_class, self.sop_uid, self.transfer_syntax,
                                        self.calling_ae))
            chunks, self._chunks = self._chunks, []
            for c in chunks:
                self._spool.write(c)
        except OSError as exc:
            self._fail_spool(exc)

    def _spool_write(self, chunk: Chunk) -> None:
        assert self._spool is not None
        try:
            self._spool.write(chunk)
        except OSError as exc:
            self._fail_spool(exc)

    def _fail_spool(self, exc: OSError) -> None:
        self.abort()
        if is_space_error(exc):
            self._refusal = OutOfSpace(f"the disk holding {self.store.root} is full")
        else:
            self._refusal = Refused(Refusal.WRITE_FAILED, f"cannot write the instance: {exc}")

    def abort(self) -> None:
        """Drop everything received so far (association aborted, or refused)."""
        self._chunks = []
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._spool_path is not None:
            self._spool_path.unlink(missing_ok=True)
            self._spool_path = None

    def check(self) -> None:
        """Everything that may refuse the instance short of writing it (its header, its
        UIDs, the free space), or raise `Refused` leaving nothing. `commit()` does it too;
        an acceptor calls it first to acknowledge a `deferred` instance before writing it
        (the archive sends the next one meanwhile)."""
        if self._checked is not None:
            return
        try:
            if self._refusal is not None:
                raise self._refusal
            self._checked = self._check()
        except Refused:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise self._os_refusal(exc) from exc

    def commit(self) -> StoredInstance:
        """Make the instance durable (or, `deferred`, written and marked) and indexed, or
        raise `Refused` leaving nothing."""
        self.check()
        assert self._checked is not None
        try:
            return self._commit(self._checked)
        except Refused:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            raise self._os_refusal(exc) from exc

    def _os_refusal(self, exc: OSError) -> Refused:
        if is_space_error(exc):
            return OutOfSpace(f"the disk holding {self.store.root} is full")
        return Refused(Refusal.WRITE_FAILED, f"cannot write the instance: {exc}")

    def _scan_chunks(self) -> Header:
        """The header from the first fragment(s): they hold it, and the bulk data after it
        is checked by its lengths; the whole dataset is joined only when they do not."""
        chunks, ts = self._chunks, self.transfer_syntax
        if len(chunks) <= 1:
            return scan(chunks[0] if chunks else b"", ts)
        n = 1
        while n < len(chunks):
            try:
                return scan(chunks[0] if n == 1 else b"".join(chunks[:n]), ts, total=self.size)
            except NeedMore:
                n *= 4
        self._chunks = [b"".join(chunks)]
        return scan(self._chunks[0], ts)

    def _scan(self, meta_len: int) -> Header:
        try:
            if self._spool is None:
                return self._scan_chunks()
            assert self._spool_path is not None
            self._spool.flush()
            with open(self._spool_path, "rb") as f, mmap.mmap(
                f.fileno(), 0, access=mmap.ACCESS_READ
            ) as mm:
                view = memoryview(mm)
                try:
                    return scan(view[meta_len:], self.transfer_syntax)
                finally:
                    view.release()
        except MalformedDataset as exc:
            raise Refused(Refusal.MALFORMED, f"malformed dataset: {exc}") from exc

    def _check(self) -> _Checked:
        meta = file_meta(self.sop_class, self.sop_uid, self.transfer_syntax, self.calling_ae)
        head = self._scan(len(meta))
        a = head.attrs
        if a.get("SOPInstanceUID") != self.sop_uid:
            raise Refused(Refusal.BAD_UID,
                          f"the dataset's SOP Instance UID {a.get('SOPInstanceUID', '')!r} "
                          f"differs from the request's {self.sop_uid!r}")
        if a.get("SOPClassUID", self.sop_class) != self.sop_class:
            raise Refused(Refusal.CLASS_MISMATCH,
                          f"the dataset's SOP Class UID {a.get('SOPClassUID')!r} differs from "
                          f"the request's {self.sop_class!r}")
        study, series = a.get("StudyInstanceUID", ""), a.get("SeriesInstanceUID", "")
        try:
            final = layout.instance_path(self.store.root, study, series, self.sop_uid)
        except layout.InvalidUID as exc:
            raise Refused(Refusal.BAD_UID, str(exc)) from exc
        if self._spool is None and not self.store.has_room(self.size):
            raise OutOfSpace(f"less than {self.store.min_free_mb} MiB would stay free in "
                             f"{self.store.root}")
        return _Checked(meta, head, final, study, series)

    def _commit(self, checked: _Checked) -> StoredInstance:
        meta, head, final = checked.meta, checked.head, checked.final
        study, series, a = checked.study, checked.series, checked.head.attrs
        # never replace a durable copy (a modality's push) by one that is not yet on disk
        boot = sync.boot_id() if self.deferred else ""
        if boot and self.store.index.durable(self.sop_uid):
            boot = ""
        crc: int | None = None  # large (spooled) instances: none, such a file is dropped
        if boot:
            self.store._mark_boot(boot)
        layout.make_dirs(self.store.root, final.parent)
        if self._spool is None:
            tmp = final.parent / temp_name()
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
                try:
                    write_all(fd, [meta, *self._chunks])
                    if boot:  # what lets the next boot tell a file that reached the disk
                        crc = crc32_of([meta, *self._chunks])
                    else:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._chunks = []
        else:
            assert self._spool_path is not None
            self._spool.flush()
            if not boot:
                os.fsync(self._spool.fileno())
            self._spool.close()
            self._spool = None
            os.replace(self._spool_path, final)
            self._spool_path = None
        if not boot:
            layout.fsync_dir(final.parent)
        size = len(meta) + self.size
        self.store._wrote(size)
        rel = layout.relative(self.store.root, final)
        existed, old = self.store.index.add(
            InstanceRecord(
                sop_uid=self.sop_uid, sop_class=self.sop_class,
                transfer_syntax=self.transfer_syntax, series_uid=series, study_uid=study,
                path=rel, size=size, header=head.header, header_implicit=head.implicit,
                header_little=head.little, attrs=a, calling_ae=self.calling_ae,
                received_at=time.time(), unsynced=boot or None, crc=crc,
            )
        )
        if old is not None:
            (self.store.root / old).unlink(missing_ok=True)
        if not final.exists():  # its study was deleted (retention) while it arrived
            self.store.index.remove_instances([self.sop_uid])
            raise Refused(Refusal.WRITE_FAILED, "the study was being deleted while this "
                                               "instance arrived; send it again")
        return StoredInstance(
            sop_uid=self.sop_uid, sop_class=self.sop_class, study_uid=study, series_uid=series,
            path=final, size=size, replaced=existed,
            patient_name=a.get("PatientName", ""), patient_id=a.get("PatientID", ""),
            calling_ae=self.calling_ae,
        )
