"""The bytes of a Part 10 file the store writes around a received data set: preamble
and group 0002, CRC-32 of what was written, and the writes themselves."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import struct
import zlib
from pathlib import Path

from mw_tui import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from mw_tui.store import layout

log = logging.getLogger("mw_tui.store.ingest")

PREAMBLE = b"\0" * 128 + b"DICM"
IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024

Chunk = bytes | bytearray | memoryview


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


def is_space_error(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def crc32_of(chunks: list[Chunk]) -> int:
    crc = 0
    for c in chunks:
        crc = zlib.crc32(c, crc)
    return crc


def file_crc32(path: Path) -> int | None:
    """CRC-32 of a file's content, None when it cannot be read."""
    crc = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
    except OSError:
        return None
    return crc


def write_all(fd: int, chunks: list[Chunk]) -> None:
    """Write the chunks in order with as few writev calls as they allow."""
    views = [memoryview(c) for c in chunks if len(c)]
    i = 0
    while i < len(views):
        n = os.writev(fd, views[i : i + IOV_MAX])
        while n and i < len(views):
            k = views[i].nbytes
            if n >= k:
                n -= k
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0


def temp_name(suffix: str = layout.PART_SUFFIX) -> str:
    """A temp file name that says nothing about the patient or the study."""
    return f".{secrets.token_hex(8)}{suffix}"


def make_private(path: Path) -> None:
    """Make an existing folder or file of the store readable by its owner only."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)
        log.info("store: %s was readable by others (mode %o); now %o", path, mode,
                 stat.S_IMODE(path.stat().st_mode))
