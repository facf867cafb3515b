"""The file an ISO image is written into: hashed while it is written, written around the
page cache, and read back from the disk range by range.

pycdlib writes descriptors and directories first (seeking around below the first file's
extent), then the files' data in ascending order (`ImageFile`). The metadata is written
as it comes and hashed in one go when the first file data comes; from then on, the
image's bytes go in order to a hashing thread and to `DirectRanges`: copied into
page-aligned buffers of `RANGE` bytes, each written with O_DIRECT by a writer thread (the
bytes go from the buffer to the disk: on a virtual machine that costs a third of writing
through fresh page-cache pages, and there is no write-back to wait for afterwards) and,
when the image is the medium, read back from the disk by a reader thread with O_DIRECT
into a buffer of its own and compared byte for byte, while the next ranges are written.
The md5 sets the pace (one core); the disk's two transfers run beside it.

Where the file system refuses O_DIRECT, the bytes go through the page cache and
`readback.ReadBack` trails the writer (waiting for each range's write-back). Should a
write ever go back, the hash is made again by reading the image once, and the read-back
is given up (the image is then read back by its writer).
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from mw_tui.media import readback
from mw_tui.media.readback import (
    ALIGN,
    Mismatch,
    ReadBack,
    ReadBackError,
    aligned,
    open_direct,
    same,
)
from mw_tui.util.fileio import pwrite_all, pwrite_part

BLOCK = 1 << 20  # bytes hashed or zero-filled at a time
_ZEROS = bytes(BLOCK)


class DirectRanges:
    """The in-order bytes of an image written with O_DIRECT (and, `read_back`, read back
    and compared), `readback.RANGE` bytes at a time, `readback.RING` bytes in memory at
    most.

    `add(at, data)` for every byte in order, then `finish()`; a write, read or compare
    error is raised by the next `add` or by `finish`."""


    def __init__(self, path: Path, fd: int, read_back: bool) -> None:
        self.path = path
        self._fd = fd  # the image's descriptor (no O_DIRECT): the last partial block
        self._dfd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
        self._rfd = open_direct(path) if read_back else None
        self.read_back = self._rfd is not None
        self.range = readback.RANGE  # a multiple of ALIGN
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for _ in range(max(2, readback.RING // self.range)):
            self._free.put(mmap.mmap(-1, self.range))
        self._cur: mmap.mmap | None = None
        self._fill = 0
        self._start = 0  # of the range being filled
        self.verified = 0  # bytes read back and found as written (from the start)
        self.error: ReadBackError | OSError | None = None
        self._stop = False
        self._wq: queue.Queue[tuple[int, int, mmap.mmap] | None] = queue.Queue()
        self._rq: queue.Queue[tuple[int, int, mmap.mmap] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write, name="iso-write", daemon=True)
        self._writer.start()
        self._reader: threading.Thread | None = None
        if self.read_back:
            self._reader = threading.Thread(target=self._read, name="iso-read-back",
                                            daemon=True)
            self._reader.start()

    # -- the writer's side -----------------------------------------------------------------

    def add(self, at: int, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        assert at == self._start + self._fill, "the image must be written in order"
        view = memoryview(data).cast("B")
        n, pos = len(view), 0
        while pos < n:
            if self._cur is None:
                self._cur = self._next_buffer()
            take = min(n - pos, self.range - self._fill)
            self._cur[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == self.range:
                self._hand_over()

    def _next_buffer(self) -> mmap.mmap:
        while True:
            try:
                return self._free.get(timeout=0.5)
            except queue.Empty:
                if self.error is not None:
                    raise self.error from None

    def _hand_over(self) -> None:
        if self._cur is None or not self._fill:
            return
        self._wq.put((self._start, self._fill, self._cur))
        self._start += self._fill
        self._cur, self._fill = None, 0

    def finish(self) -> None:
        """Write what is left and wait until every byte is written (and read back and
        compared); raises the first error."""
        try:
            self._hand_over()
        finally:
            self._end()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop writing and reading back (the image is not going to be used)."""
        self._stop = True
        self._cur = None
        self._end()

    def _end(self) -> None:
        self._wq.put(None)
        self._writer.join()
        if self._reader is not None:
            self._reader.join()
        for fd in (self._dfd, self._rfd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self._dfd = self._rfd = -1

    # -- the threads -----------------------------------------------------------------------

    def _write(self) -> None:
        while (item := self._wq.get()) is not None:
            start, length, buf = item
            if self.error is not None or self._stop:
                self._free.put(buf)
                continue
            try:
                whole = length // ALIGN * ALIGN  # the last range may end mid-block:
                pwrite_part(self._dfd, buf, 0, whole, start)  # its end goes through the
                pwrite_part(self._fd, buf, whole, length, start)  # page cache, not padded
            except OSError as exc:
                self.error = OSError(exc.errno, f"writing {self.path} at byte {start}: "
                                                f"{exc.strerror or exc}")
                self._free.put(buf)
                continue
            if self.read_back:
                self._rq.put(item)
            else:
                self._free.put(buf)
        self._rq.put(None)

    def _read(self) -> None:
        assert self._rfd is not None
        back = mmap.mmap(-1, self.range)  # page aligned, as O_DIRECT wants
        while (item := self._rq.get()) is not None:
            start, length, buf = item
            try:
                if self.error is None and not self._stop:
                    self._check(back, start, length, buf)
                    self.verified = start + length
            except ReadBackError as exc:
                self.error = exc
            except OSError as exc:
                self.error = ReadBackError(f"{self.path} cannot be read back from the disk at "
                                           f"byte {start} ({exc.strerror or exc})")
            finally:
                self._free.put(buf)
        back.close()

    def _check(self, back: mmap.mmap, start: int, length: int, buf: mmap.mmap) -> None:
        """Read the range from the device (a direct read writes back any cached page of it
        first) and compare it with what was written."""
        assert self._rfd is not None
        got = 0
        with memoryview(back) as view:
            while got < length:
                n = os.preadv(self._rfd, [view[got:aligned(length)]], start + got)
                if n <= 0:
                    break
                got += n
        if got < length:
            raise ReadBackError(f"only {start + got} of {start + length} bytes of {self.path} "
                                "could be read back from the disk")
        if not same(back, buf, length):
            first = next(i for i in range(length) if back[i] != buf[i])
            raise Mismatch(self.path, start + first)


class ImageFile:
    """The file object pycdlib writes the image to (seek, tell, write), hashing it on
    another thread and handing its in-order bytes to `DirectRanges` (or, where O_DIRECT is
    refused, writing them through the page cache with a `ReadBack` trailing them)."""

    def __init__(self, path: Path, data_start: Callable[[], int], read_back: bool) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self.pos = 0
        self.end = 0  # the image's size so far
        self.hashed = 0
        self._data_start = data_start
        self._start: int | None = None
        self.in_order = True
        self.direct: DirectRanges | None = None
        self.read_back: ReadBack | None = None
        try:
            self.direct = DirectRanges(path, self.fd, read_back)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            if read_back:
                self.read_back = ReadBack(path, self.fd, lambda: None)
        self._trail = self.read_back  # kept for `verified` once it is finished
        self.md5 = hashlib.md5()
        self._q: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=4)
        self._pending: list[bytes] = []  # small pieces, handed to the hasher together
        self._pending_size = 0
        self._thread = threading.Thread(target=self._hash, name="iso-md5", daemon=True)
        self._thread.start()

    def _hash(self) -> None:
        while (chunks := self._q.get()) is not None:
            for chunk in chunks:
                self.md5.update(chunk)

    def _to_hasher(self) -> None:
        if self._pending:
            self._q.put(self._pending)
            self._pending, self._pending_size = [], 0

    @property
    def verified(self) -> int:
        """Bytes read back from the disk and found as written, from the start."""
        checker = self.direct if self.direct is not None else self._trail
        if checker is None or (isinstance(checker, DirectRanges) and not checker.read_back):
            return 0
        return checker.verified

    @property
    def from_device(self) -> bool:
        return self.direct is not None or (self._trail is not None and self._trail.direct)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self.pos
        elif whence == os.SEEK_END:
            offset += self.end
        self.pos = offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def write(self, data: bytes) -> int:
        at, n = self.pos, len(data)
        data = bytes(data)
        if self.in_order and at < self.hashed:
            self._out_of_order()  # what is in flight goes to the file before this
        if not self._routed(at):
            pwrite_all(self.fd, data, at)  # metadata, or anything out of order
        self.pos = at + n
        self.end = max(self.end, self.pos)
        if self.in_order:
            self._account(at, data)
        return n

    def _routed(self, at: int) -> bool:
        """Whether a write at `at` is file data in order: written by the direct ranges
        only (once the metadata before it is hashed)."""
        return (self.in_order and self.direct is not None and self._start is not None
                and self.hashed >= self._start and at >= self.hashed)

    def _emit(self, at: int, data: bytes) -> None:
        """`data` is the image's from `at`, right after what was emitted before. The
        hashing thread gets pieces of at least BLOCK bytes (a small file's data, its
        padding and the next file's go together: one hand-over instead of three)."""
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= BLOCK:
            self._to_hasher()
        if self.direct is not None:
            self.direct.add(at, data)
        elif self.read_back is not None:
            self.read_back.add(at, data)

    def _out_of_order(self) -> None:
        """A write went back: what is in flight is written, the read-back given up."""
        self.in_order = False
        if self.direct is not None:
            self.direct.read_back = False
            try:
                self.direct.finish()
            finally:
                self.direct = None
        if self.read_back is not None:
            self.read_back.abandon()
            self.read_back = self._trail = None

    def _account(self, at: int, data: bytes) -> None:
        if self._start is None:
            try:
                self._start = self._data_start()
            except Exception:
                self._out_of_order()
                return
        if self.hashed < self._start:
            if at + len(data) <= self._start:
                return  # metadata: hashed when the first file data comes
            if at < self._start:
                self._out_of_order()
                return
            done = 0
            while done < self._start:
                chunk = os.pread(self.fd, min(BLOCK, self._start - done), done)
                if not chunk:
                    break
                self._emit(done, chunk)
                done += len(chunk)
            self.hashed = done
            if done < self._start:
                self._out_of_order()
                return
        if at < self.hashed:
            self._out_of_order()
            return
        self._zeros(at - self.hashed)
        self._emit(at, data)
        self.hashed = at + len(data)

    def _zeros(self, n: int) -> None:
        while n > 0:
            k = min(n, BLOCK)
            self._emit(self.hashed, _ZEROS if k == BLOCK else bytes(k))
            self.hashed += k
            n -= k

    def finish(self) -> str:
        """The md5 of the finished image (once it is written and, when it is, read back:
        raises ReadBackError when it does not read back as written)."""
        size = self.end
        try:
            if self.in_order and self._start is not None and self.hashed < self._start:
                # no file data came (an image of metadata only): nothing was hashed yet,
                # and zero-filling from `hashed` would write over the metadata; the image
                # is hashed by reading it instead, and not read back
                self._out_of_order()
            if self.in_order and self.hashed < size and self._start is not None:
                self._zeros(size - self.hashed)
            complete = self.in_order and self.hashed == size
            if self.direct is not None:
                self.direct.finish()
            read_back, self.read_back = self.read_back, None
            if read_back is not None:
                if complete:
                    read_back.finish()
                else:
                    read_back.abandon()
                    self._trail = None
        finally:
            self._to_hasher()
            self._q.put(None)
            self._thread.join()
        if self.in_order and self.hashed == size:
            return self.md5.hexdigest()
        md5 = hashlib.md5()
        offset = 0
        while chunk := os.pread(self.fd, BLOCK, offset):
            md5.update(chunk)
            offset += len(chunk)
        return md5.hexdigest()

    def abandon(self) -> None:
        if self.direct is not None:
            self.direct.abandon()
            self.direct = None
        if self.read_back is not None:
            self.read_back.abandon()
            self.read_back = None
        self._pending, self._pending_size = [], 0
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._q.put(None)
        self._thread.join()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
