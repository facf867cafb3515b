"""Reading an image back from its disk while it is being written through the page cache.

For an ISO file the image is the medium: rather than reading it all again once it is
written (a second pass, a second md5), it is read back while it is written. Where the
image can be written with O_DIRECT, `imagefile.DirectRanges` does it; this is the path
where it cannot: a thread trails the writer. Range after range
(`RANGE` bytes), it waits until the kernel has written the range to the disk
(sync_file_range), reads it back from the device (O_DIRECT, so not from the page cache;
where the file system refuses O_DIRECT, after dropping the range's cached pages) and
compares it byte for byte with what was written, which the writer keeps until then (at
most `RING` bytes: the writer waits when the reader is behind).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from mw_tui.util import fileio, libc

# measured (1,000 CT images, 525 MB, 2 cores, ext4 on virtio): 1 MiB ranges are as fast
# as any larger (shorter direct reads hold the inode lock the writer needs for less time)
RANGE = 1 << 20  # bytes synced, read back and compared at a time
RING = 8 << 20  # written bytes kept in memory until they are read back
ALIGN = fileio.ALIGN

_SYNC_WRITE = 2  # SYNC_FILE_RANGE_WRITE: start writing back, do not wait
_SYNC_ALL = 1 | 2 | 4  # SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER
_sync_file_range = libc.function("sync_file_range", (ctypes.c_int, ctypes.c_int64,
                                                     ctypes.c_int64, ctypes.c_uint))
_memcmp = libc.function("memcmp", (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t))
_memcmp_buffers = libc.function("memcmp", (ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_size_t))


def same(a: mmap.mmap, b: mmap.mmap, n: int) -> bool:
    """Whether the first `n` bytes of two buffers are equal (libc memcmp: no copy, and
    the GIL is released meanwhile)."""
    if _memcmp_buffers is None:
        return a[:n] == b[:n]
    ca, cb = ctypes.c_char.from_buffer(a), ctypes.c_char.from_buffer(b)
    try:
        return int(_memcmp_buffers(ctypes.addressof(ca), ctypes.addressof(cb), n)) == 0
    finally:
        del ca, cb  # the buffers may be closed afterwards


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing the range to the disk now (without waiting)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_WRITE)


def sync_range(fd: int, offset: int, length: int) -> None:
    """Write `length` bytes of `fd` from `offset` to the disk and wait for it
    (fdatasync of the whole file where sync_file_range is missing or refused)."""
    if _sync_file_range is not None:
        if _sync_file_range(fd, offset, length, _SYNC_ALL) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ESPIPE, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err))
    os.fdatasync(fd)


def open_direct(path: Path | str) -> int | None:
    """A read-only O_DIRECT descriptor of `path`, or None where the file system refuses
    O_DIRECT (EINVAL: ramfs, some FUSE file systems)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


def aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class ReadBackError(Exception):
    """The image does not read back as written (or cannot be read back)."""


class Mismatch(ReadBackError):
    def __init__(self, path: Path, offset: int) -> None:
        super().__init__(f"{path} reads back from the disk differently from what was "
                         f"written (first difference at byte {offset})")
        self.offset = offset


class ReadBack:
    """Trails a writer that writes `path` front to back through the descriptor `fd`.

    The writer calls `add(offset, data)` for every byte, in order and without gaps (and
    `flush` is called before a range is handed over, so buffered writes reach the kernel),
    then `finish()`. A mismatch or a read error is raised (`ReadBackError`) by the next
    `add` or by `finish`."""

    def __init__(self, path: Path, fd: int, flush: Callable[[], None]) -> None:
        self.path = path
        self._wfd = fd
        self._flush = flush
        rfd = open_direct(path)
        self.direct = rfd is not None
        self._rfd = rfd if rfd is not None else os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._buf = mmap.mmap(-1, RANGE)  # page aligned, as O_DIRECT wants
        self._addr = ctypes.addressof(ctypes.c_char.from_buffer(self._buf))
        self._chunks: list[bytes] = []
        self._start = 0  # of the range being gathered
        self._end = 0  # bytes added so far
        self._held = 0  # bytes handed over and not yet compared
        self.verified = 0  # bytes read back and found as written (from the start)
        self._cond = threading.Condition()
        self._q: queue.Queue[tuple[int, int, list[bytes]] | None] = queue.Queue()
        self.error: ReadBackError | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="iso-read-back", daemon=True)
        self._thread.start()

    # -- the writer's side -----------------------------------------------------------------

    def add(self, at: int, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        assert at == self._end, "read-back needs the image written in order"
        while data:
            boundary = (self._end // RANGE + 1) * RANGE
            take = min(len(data), boundary - self._end)
            self._chunks.append(data if take == len(data) else data[:take])
            data = data[take:]
            self._end += take
            if self._end == boundary:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._end == self._start:
            return
        self._flush()
        size = self._end - self._start
        start_writeback(self._wfd, self._start, size)
        with self._cond:
            while self._held > 0 and self._held + size > RING and self.error is None:
                self._cond.wait()
            if self.error is not None:
                raise self.error
            self._held += size
        self._q.put((self._start, self._end, self._chunks))
        self._chunks = []
        self._start = self._end

    def finish(self) -> None:
        """Wait until every byte added is read back and compared; raises ReadBackError."""
        try:
            self._hand_over()
        finally:
            self._q.put(None)
            self._thread.join()
            self._close()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop reading back (the image is not going to be used)."""
        self._stop = True
        self._chunks = []
        self._q.put(None)
        self._thread.join()
        self._close()

    def _close(self) -> None:
        if self._rfd >= 0:
            os.close(self._rfd)
            self._rfd = -1

    # -- the reader's side -----------------------------------------------------------------

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            start, end, chunks = item
            if self.error is None and not self._stop:
                try:
                    self._check(start, end, chunks)
                    self.verified = end
                except ReadBackError as exc:
                    self.error = exc
                except OSError as exc:
                    self.error = ReadBackError(
                        f"{self.path} cannot be read back from the disk at byte {start} "
                        f"({exc.strerror or exc})")
            with self._cond:
                self._held -= end - start
                self._cond.notify_all()

    def _check(self, start: int, end: int, chunks: list[bytes]) -> None:
        length = end - start
        sync_range(self._wfd, start, length)
        got = self._read(start, length)
        if got < length:
            raise ReadBackError(f"only {start + got} of {end} bytes of {self.path} could be "
                                "read back from the disk")
        off = 0
        for chunk in chunks:
            n = len(chunk)
            if not self._same(off, chunk):
                back = self._buf[off:off + n]
                first = next(i for i in range(n) if back[i] != chunk[i])
                raise Mismatch(self.path, start + off + first)
            off += n

    def _same(self, off: int, chunk: bytes) -> bool:
        """Whether the buffer holds `chunk` at `off` (libc memcmp: no copy, no GIL)."""
        if _memcmp is not None:
            return _memcmp(self._addr + off, chunk, len(chunk)) == 0
        return self._buf[off:off + len(chunk)] == chunk

    def _read(self, start: int, length: int) -> int:
        """Read `length` bytes from `start` into the buffer, from the disk; bytes read."""
        got = 0
        with memoryview(self._buf) as view:
            while got < length:
                if self.direct:
                    try:
                        n = os.preadv(self._rfd, [view[got:aligned(length)]], start + got)
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:
                            raise
                        self._no_direct()  # a file system that opens but will not read
                        continue
                else:
                    os.posix_fadvise(self._rfd, start + got, length - got,
                                     os.POSIX_FADV_DONTNEED)
                    n = os.preadv(self._rfd, [view[got:length]], start + got)
                if n <= 0:
                    break
                got += n
                if self.direct and got % ALIGN:
                    break  # the end of the file
        return min(got, length)

    def _no_direct(self) -> None:
        os.close(self._rfd)
        self._rfd = -1
        self._rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.direct = False
