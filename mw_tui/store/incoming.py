"""One instance being received: its bytes, the checks that may refuse it, its commit.

A pushed instance (a modality's C-STORE) is streamed, fragment by fragment, into a file
in `incoming/` as it arrives (`sink.FileSink`: direct to the disk where the file system
allows), keeping only its first bytes in memory for the header scan; at the end it is
checked, renamed into its folder and synced (`sink.publish`), then indexed: durable
before it is acknowledged. An instance of the station's own retrieve (`deferred`) is kept
in memory as it arrived (views into the PDUs), checked so that the acceptor can
acknowledge it, then written behind without fsync (see `sync`); one larger than
`SPOOL_THRESHOLD` goes to a file in `incoming/` as well. Those go through the page cache:
the job's media are built from them right after, and written around it they would be read
back from the disk (1,000 CT: the job's build took 1.3-1.5 s instead of 0.7 s, the whole
job 0.3-0.5 s longer); one `syncfs` puts them on the disk once the job is over.
"""

from __future__ import annotations

import errno
import mmap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mw_tui.store import layout, sync
from mw_tui.store.header import Header, MalformedDataset, NeedMore, scan
from mw_tui.store.index import Index, InstanceRecord
from mw_tui.store.part10 import Chunk, crc32_of, file_meta, is_space_error, temp_name
from mw_tui.store.refused import OutOfSpace, Refusal, Refused, StoredInstance
from mw_tui.store.sink import FileSink, publish

SPOOL_THRESHOLD = 16 * 1024 * 1024  # bytes of a deferred instance kept in memory
HEAD_KEEP = 64 * 1024  # bytes of a streamed instance kept in memory for its header scan
PRIVATE_FILE = 0o600


class Store(Protocol):
    """What an instance needs of the store it goes into (`ingest.Store`)."""

    root: Path
    min_free_mb: int
    direct: bool  # written around the page cache where the file system allows
    ordered: bool  # one fsync after the rename makes a file durable (`sink`)
    index: Index

    def has_room(self, size: int = 0) -> bool: ...
    def spare(self) -> tuple[Path, int, bool] | None: ...
    def _mark_boot(self, boot: str) -> None: ...
    def _wrote(self, size: int) -> None: ...


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
        # deferred: the data set as it arrived; streamed: copies of its first bytes
        self._chunks: list[Chunk] = []
        self._sink: FileSink | None = None  # the file in incoming/ (streamed, or spooled)
        self._refusal: Refused | None = None
        self._checked: _Checked | None = None
        self._meta = b""
        if not layout.is_valid_uid(sop_uid):
            self._refusal = Refused(Refusal.BAD_UID,
                                    f"Affected SOP Instance UID {sop_uid[:80]!r} is not valid")
        elif not sop_class.isascii():
            self._refusal = Refused(Refusal.CLASS_MISMATCH,
                                    f"SOP Class UID {sop_class[:80]!r} is not a UID")
        elif not store.has_room():
            self._refusal = OutOfSpace(
                f"less than {store.min_free_mb} MiB free in {store.root}: free some space "
                f"or lower station.min_free_mb")
        else:
            self._meta = file_meta(sop_class, sop_uid, transfer_syntax, calling_ae)

    @property
    def _direct(self) -> bool:
        """Whether its file is written around the page cache: a pushed instance's, where
        the store does; never a retrieved one's (see the module's docstring)."""
        return self.store.direct and not self.deferred

    @property
    def keeps_views(self) -> bool:
        """Whether `write()` keeps the chunks it is given (their memory must then stay
        as it is until the instance is written), rather than copying them."""
        return self.deferred and self._sink is None

    def write(self, chunk: Chunk, stable: bool = True) -> None:
        """Add the next bytes of the dataset. `stable`: the chunk's memory is never reused
        (a deferred instance then keeps it as it is; else it is copied)."""
        if self._refusal is not None:
            return  # the data is read and dropped; the answer is the refusal
        self.size += len(chunk)
        if self._sink is None and not self.deferred:
            self._start_sink([])
        if self._sink is not None:
            if not self.deferred and self.size - len(chunk) < HEAD_KEEP:
                self._chunks.append(bytes(chunk))  # for the header scan
            try:
                self._sink.write(chunk)
            except OSError as exc:
                self._fail_sink(exc)
            return
        self._chunks.append(chunk if stable else bytes(chunk))
        if self.size > SPOOL_THRESHOLD:
            self._start_sink(self._chunks)

    def _start_sink(self, chunks: list[Chunk]) -> None:
        """Go on in a file in incoming/, the chunks so far first (the first ones stay
        for the header scan)."""
        path = self.store.root / layout.INCOMING / temp_name()
        try:
            if chunks and not self.store.has_room(self.size):
                raise OSError(errno.ENOSPC, "below the minimum free space")
            # a file made ahead, when one is ready (they are opened to write around the
            # page cache: a pushed instance's)
            spare = None if self.deferred else self.store.spare()
            if spare is not None:
                path, fd, direct = spare
                self._sink = FileSink(path, opened=(fd, direct))
            else:
                self._sink = FileSink(path, PRIVATE_FILE, direct=self._direct)
            self._sink.write_all([self._meta, *chunks])
        except OSError as exc:
            self._fail_sink(exc)
            return
        head, kept = [], 0
        for c in chunks:
            if kept >= HEAD_KEEP:
                break
            head.append(c)
            kept += len(c)
        self._chunks = head

    def _fail_sink(self, exc: OSError) -> None:
        self.abort()
        self._refusal = self._os_refusal(exc)

    def abort(self) -> None:
        """Drop everything received so far (association aborted, or refused)."""
        self._chunks = []
        if self._sink is not None:
            self._sink.abort()
            self._sink = None

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
        if len(chunks) <= 1 and self._sink is None:
            return scan(chunks[0] if chunks else b"", ts)
        # in memory: the whole data set (joined when prefixes do not do); else its head
        limit = len(chunks) if self._sink is not None else len(chunks) - 1
        n = 1
        while n <= limit:
            try:
                return scan(chunks[0] if n == 1 else b"".join(chunks[:n]), ts, total=self.size)
            except NeedMore:
                if n >= limit:
                    break
                n = min(n * 4, limit)
        if self._sink is not None:
            raise NeedMore
        self._chunks = [b"".join(chunks)]
        return scan(self._chunks[0], ts)

    def _scan(self, meta_len: int) -> Header:
        try:
            try:
                return self._scan_chunks()
            except NeedMore:
                if self._sink is None:
                    raise
            sink = self._sink  # a header beyond what was kept: read it from the file
            sink.finish()
            with open(sink.path, "rb") as f, mmap.mmap(
                f.fileno(), 0, access=mmap.ACCESS_READ
            ) as mm:
                view = memoryview(mm)
                try:
                    return scan(view[meta_len:], self.transfer_syntax)
                finally:
                    view.release()
        except (MalformedDataset, NeedMore) as exc:
            raise Refused(Refusal.MALFORMED, f"malformed dataset: {exc}") from exc

    def _check(self) -> _Checked:
        meta = self._meta
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
        if not self.store.has_room(0 if self._sink is not None else self.size):
            raise OutOfSpace(f"less than {self.store.min_free_mb} MiB would stay free in "
                             f"{self.store.root}")
        return _Checked(meta, head, final, study, series)

    def _write(self, checked: _Checked, boot: str) -> int | None:
        """The file in place, durable unless `boot`; then its CRC-32 (None when spooled:
        such a file is dropped after a power loss)."""
        final = checked.final
        layout.make_dirs(self.store.root, final.parent)
        if self._sink is not None:  # streamed or spooled: already in incoming/
            sink, self._sink, chunks = self._sink, None, None
        else:
            chunks = [checked.meta, *self._chunks]
            sink = FileSink(final.parent / temp_name(), PRIVATE_FILE, direct=self._direct)
        try:
            if chunks is not None:
                sink.write_all(chunks)
            publish(sink, final, durable=not boot, ordered=self.store.ordered)
        except BaseException:
            # removes the temporary file only: once renamed, the file stays (it may have
            # replaced an earlier, acknowledged copy whose index row still points at it)
            sink.abort()
            raise
        self._chunks = []
        # what lets the next boot tell a file that reached the disk
        return crc32_of(chunks) if boot and chunks is not None else None

    def _commit(self, checked: _Checked) -> StoredInstance:
        final, study, series, a = checked.final, checked.study, checked.series, checked.head.attrs
        # never replace a durable copy (a modality's push) by one that is not yet on disk
        boot = sync.boot_id() if self.deferred else ""
        if boot and self.store.index.durable(self.sop_uid):
            boot = ""
        if boot:
            self.store._mark_boot(boot)
        crc = self._write(checked, boot)
        size = len(checked.meta) + self.size
        self.store._wrote(size)
        rel = layout.relative(self.store.root, final)
        existed, old = self.store.index.add(
            InstanceRecord(
                sop_uid=self.sop_uid, sop_class=self.sop_class,
                transfer_syntax=self.transfer_syntax, series_uid=series, study_uid=study,
                path=rel, size=size, header=checked.head.header,
                header_implicit=checked.head.implicit, header_little=checked.head.little,
                attrs=a, calling_ae=self.calling_ae, received_at=time.time(),
                unsynced=boot or None, crc=crc,
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

