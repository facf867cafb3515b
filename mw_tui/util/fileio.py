"""Writing at an offset until every byte is written, and the alignment O_DIRECT wants."""

from __future__ import annotations

import errno
import os

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
