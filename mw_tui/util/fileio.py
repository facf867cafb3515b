"""Writing at an offset until every byte is written, new files opened around the page
cache where the file system allows, and the alignment O_DIRECT wants."""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path

ALIGN = 4096  # O_DIRECT buffers, offsets and lengths are multiples of this


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, at: int) -> None:
    """Write all of `data` at offset `at` of the file (pwrite may write less than asked:
    it is called again for the rest; a write of nothing is an I/O error)."""
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view, at)
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view, at = view[n:], at + n


def pwrite_part(fd: int, buf: bytes | bytearray | memoryview | mmap.mmap, start: int,
                end: int, offset: int) -> None:
    """Write `buf[start:end]` at `offset + start` of the file: the part of a buffer that
    holds the file's bytes from `offset` (the whole blocks of an O_DIRECT write, or the
    tail that goes through the page cache)."""
    with memoryview(buf) as view:
        pwrite_all(fd, view[start:end], offset + start)


def open_new(path: Path, mode: int, direct: bool) -> tuple[int, bool]:
    """A new file (`O_EXCL`) opened for writing: (descriptor, opened with O_DIRECT)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if direct:
        try:
            return os.open(path, flags | os.O_DIRECT, mode), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, mode), False
