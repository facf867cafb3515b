"""Writing received instances into the store: atomically, byte-exact, indexed.

Each instance becomes a Part 10 file: a 128-byte preamble, "DICM", a group 0002 built
from a template (SOP class and instance from the C-STORE request, the transfer syntax of
the presentation context, our implementation UID) and then the dataset bytes exactly as
they arrived. The bytes go to a temp file in the instance's own folder (or, for very
large instances, a spool file in `incoming/` on the same file system), are fsync'ed and
renamed into place, and only then indexed and acknowledged.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import secrets
import shutil
import sqlite3
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mw_tui import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from mw_tui.dicom import status
from mw_tui.store import layout
from mw_tui.store.header import Header, MalformedDataset, scan
from mw_tui.store.index import Index, InstanceRecord

log = logging.getLogger(__name__)

SPOOL_THRESHOLD = 16 * 1024 * 1024  # bytes kept in memory before spooling to disk
PREAMBLE = b"\0" * 128 + b"DICM"
TRASH = "trash"  # studies being deleted are renamed here first (same file system)
PRIVATE_DIR = 0o700  # the store holds patient data: only its owner may read it
PRIVATE_FILE = 0o600


def temp_name(suffix: str = layout.PART_SUFFIX) -> str:
    """A temp file name that says nothing about the patient or the study."""
    return f".{secrets.token_hex(8)}{suffix}"


def _make_private(path: Path) -> None:
    """Make an existing folder or file of the store readable by its owner only."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)
        log.info("store: %s was readable by others (mode %o); now %o", path, mode,
                 stat.S_IMODE(path.stat().st_mode))


class Refused(Exception):
    """The instance was not stored; `status` is the DIMSE status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class OutOfSpace(Refused):
    def __init__(self, reason: str) -> None:
        super().__init__(status.OUT_OF_RESOURCES, reason)


@dataclass(frozen=True, slots=True)
class StoredInstance:
    sop_uid: str
    sop_class: str
    study_uid: str
    series_uid: str
    path: Path
    size: int
    replaced: bool
    patient_name: str
    patient_id: str
    calling_ae: str


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB",):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _ui(value: str) -> bytes:
    b = value.encode("ascii")
    return b + b"\0" if len(b) % 2 else b


def _text(value: str) -> bytes:
    b = value.encode("ascii", "replace")
    return b + b" " if len(b) % 2 else b


def file_meta(sop_class: str, sop_uid: str, transfer_syntax: str, source_ae: str = "") -> bytes:
    """Preamble, prefix and a complete group 0002 (Explicit VR Little Endian)."""
    body = b"".join(
        (
            _element(0x00020001, b"OB", b"\x00\x01"),
            _element(0x00020002, b"UI", _ui(sop_class)),
            _element(0x00020003, b"UI", _ui(sop_uid)),
            _element(0x00020010, b"UI", _ui(transfer_syntax)),
            _element(0x00020012, b"UI", _ui(IMPLEMENTATION_CLASS_UID)),
            _element(0x00020013, b"SH", _text(IMPLEMENTATION_VERSION_NAME)),
            _element(0x00020016, b"AE", _text(source_ae.strip())) if source_ae.strip() else b"",
        )
    )
    return PREAMBLE + _element(0x00020000, b"UL", struct.pack("<I", len(body))) + body


def _is_space_error(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class Store:
    """The storage folder: files under `studies/`, the index in `index.sqlite`."""

    def __init__(self, root: Path | str, min_free_mb: int = 0) -> None:
        self.root = Path(root)
        self.min_free_mb = min_free_mb
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        _make_private(self.root)
        for sub in (layout.STUDIES, layout.INCOMING, TRASH):
            (self.root / sub).mkdir(exist_ok=True, mode=PRIVATE_DIR)
            _make_private(self.root / sub)
        index = self.root / layout.INDEX_NAME
        # SQLite gives the -wal and -shm files the mode of the database file
        os.close(os.open(index, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        for p in (index, index.with_name(index.name + "-wal"),
                  index.with_name(index.name + "-shm")):
            if p.exists():
                _make_private(p)
        self.index = Index(index)

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def has_room(self, size: int = 0) -> bool:
        return self.free_bytes() - size >= self.min_free_mb * 1024 * 1024

    def begin(self, sop_class: str, sop_uid: str, transfer_syntax: str,
              calling_ae: str = "") -> Incoming:
        """Start receiving one instance; feed it with `write()`, end with `commit()`."""
        return Incoming(self, sop_class, sop_uid, transfer_syntax, calling_ae)

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


class Incoming:
    """One instance being received. Not thread-safe: one association feeds it."""

    def __init__(self, store: Store, sop_class: str, sop_uid: str, transfer_syntax: str,
                 calling_ae: str) -> None:
        self.store = store
        self.sop_class = sop_class
        self.sop_uid = sop_uid
        self.transfer_syntax = transfer_syntax
        self.calling_ae = calling_ae
        self.size = 0
        self._chunks: list[bytes] = []
        self._spool: BinaryIO | None = None
        self._spool_path: Path | None = None
        self._refusal: Refused | None = None
        if not layout.is_valid_uid(sop_uid):
            self._refusal = Refused(status.CANNOT_UNDERSTAND_UID,
                                    f"Affected SOP Instance UID {sop_uid[:80]!r} is not valid")
        elif not store.has_room():
            self._refusal = OutOfSpace(
                f"less than {store.min_free_mb} MiB free in {store.root}: free some space "
                f"or lower station.min_free_mb")

    def write(self, chunk: bytes) -> None:
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

    def _spool_write(self, chunk: bytes) -> None:
        assert self._spool is not None
        try:
            self._spool.write(chunk)
        except OSError as exc:
            self._fail_spool(exc)

    def _fail_spool(self, exc: OSError) -> None:
        self.abort()
        if _is_space_error(exc):
            self._refusal = OutOfSpace(f"the disk holding {self.store.root} is full")
        else:
            self._refusal = Refused(status.CANNOT_STORE, f"cannot write the instance: {exc}")

    def abort(self) -> None:
        """Drop everything received so far (association aborted, or refused)."""
        self._chunks = []
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._spool_path is not None:
            self._spool_path.unlink(missing_ok=True)
            self._spool_path = None

    def commit(self) -> StoredInstance:
        """Make the instance durable and indexed, or raise `Refused` leaving nothing."""
        if self._refusal is not None:
            self.abort()
            raise self._refusal
        try:
            return self._commit()
        except Refused:
            self.abort()
            raise
        except OSError as exc:
            self.abort()
            if _is_space_error(exc):
                raise OutOfSpace(f"the disk holding {self.store.root} is full") from exc
            raise Refused(status.CANNOT_STORE, f"cannot write the instance: {exc}") from exc

    def _scan(self, meta_len: int) -> Header:
        try:
            if self._spool is None:
                self._chunks = [b"".join(self._chunks)]
                return scan(self._chunks[0], self.transfer_syntax)
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
            raise Refused(status.CANNOT_UNDERSTAND, f"malformed dataset: {exc}") from exc

    def _commit(self) -> StoredInstance:
        meta = file_meta(self.sop_class, self.sop_uid, self.transfer_syntax, self.calling_ae)
        head = self._scan(len(meta))
        a = head.attrs
        if a.get("SOPInstanceUID") != self.sop_uid:
            raise Refused(status.CANNOT_UNDERSTAND_UID,
                          f"the dataset's SOP Instance UID {a.get('SOPInstanceUID', '')!r} "
                          f"differs from the request's {self.sop_uid!r}")
        if a.get("SOPClassUID", self.sop_class) != self.sop_class:
            raise Refused(status.DATASET_MISMATCH,
                          f"the dataset's SOP Class UID {a.get('SOPClassUID')!r} differs from "
                          f"the request's {self.sop_class!r}")
        study, series = a.get("StudyInstanceUID", ""), a.get("SeriesInstanceUID", "")
        try:
            final = layout.instance_path(self.store.root, study, series, self.sop_uid)
        except layout.InvalidUID as exc:
            raise Refused(status.CANNOT_UNDERSTAND_UID, str(exc)) from exc
        layout.make_dirs(self.store.root, final.parent)
        if self._spool is None:
            if not self.store.has_room(self.size):
                raise OutOfSpace(f"less than {self.store.min_free_mb} MiB would stay free in "
                                 f"{self.store.root}")
            tmp = final.parent / temp_name()
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
                with open(fd, "wb", closefd=True) as f:
                    f.write(meta)
                    for c in self._chunks:
                        f.write(c)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._chunks = []
        else:
            assert self._spool_path is not None
            self._spool.flush()
            os.fsync(self._spool.fileno())
            self._spool.close()
            self._spool = None
            os.replace(self._spool_path, final)
            self._spool_path = None
        layout.fsync_dir(final.parent)
        size = len(meta) + self.size
        rel = layout.relative(self.store.root, final)
        existed, old = self.store.index.add(
            InstanceRecord(
                sop_uid=self.sop_uid, sop_class=self.sop_class,
                transfer_syntax=self.transfer_syntax, series_uid=series, study_uid=study,
                path=rel, size=size, header=head.header, header_implicit=head.implicit,
                header_little=head.little, attrs=a, calling_ae=self.calling_ae,
                received_at=time.time(),
            )
        )
        if old is not None:
            (self.store.root / old).unlink(missing_ok=True)
        if not final.exists():  # its study was deleted (retention) while it arrived
            self.store.index.remove_instances([self.sop_uid])
            raise Refused(status.CANNOT_STORE, "the study was being deleted while this "
                                               "instance arrived; send it again")
        return StoredInstance(
            sop_uid=self.sop_uid, sop_class=self.sop_class, study_uid=study, series_uid=series,
            path=final, size=size, replaced=existed,
            patient_name=a.get("PatientName", ""), patient_id=a.get("PatientID", ""),
            calling_ae=self.calling_ae,
        )
