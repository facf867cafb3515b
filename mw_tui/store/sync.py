"""Deferred durability: instances of our own retrieves reach the disk in one sync per batch.

An instance a modality pushes exists nowhere else once the modality has its C-STORE-RSP:
it is fsync'ed (file and folder) before it is acknowledged. An instance that WE asked an
archive to send (a C-MOVE sub-operation whose Move Originator is this station's AE title,
coming from a configured archive, or a C-STORE on our own C-GET association) is still in
that archive: acknowledging it before it is on disk loses nothing, because a job that needs
it retrieves it again. Such instances are acknowledged once checked, written and renamed
into place without fsync (`dicom.behind`), and indexed with the kernel's boot id in
`instances.unsynced` and the file's CRC-32 in `instances.crc`; `Store.make_durable()` syncs
the store's file system once (syncfs) and clears the marks: at the end of `mw-tui
retrieve`, a moment after a job is over (`jobs.control.StoreSync`), at the next start.

After a crash, `check.recover()` (every receiver start) looks at the marks: those of the
current boot belong to a process that stopped while the kernel still held the data, so
one syncfs makes them durable; those of another boot (a power loss, or a reboot before the
sync) are kept when the file reads back as written (its CRC-32), else the file and its row
are deleted (the job sees its study incomplete and retrieves it again). A marker file per
boot (`.unsynced-<boot id>`, created before the first unsynced write of a boot) tells
recovery that files of such a boot may be incomplete even when the index rows that named
them were lost with the power too.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from pathlib import Path

from mw_tui.util import libc

log = logging.getLogger(__name__)

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
MARKER_PREFIX = ".unsynced-"


@functools.cache
def boot_id() -> str:
    """The running kernel's boot id; "" where there is none (then nothing is deferred)."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip()
    except OSError:
        return ""


def sync_filesystem(path: Path) -> None:
    """Write every dirty page of the file system holding `path` to disk (syncfs(2), or
    sync(2) where it is missing). Raises OSError when the kernel reports a write error."""
    fn = libc.function("syncfs", (ctypes.c_int,))
    if fn is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if fn(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs of {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def failed_message(root: Path, exc: OSError) -> str:
    return (f"the disk holding the store ({root}) reported a write error while saving the "
            f"retrieved images ({exc.strerror or exc}): check that disk (dmesg), then try "
            "again")


def marker(root: Path, boot: str) -> Path:
    return root / f"{MARKER_PREFIX}{boot}"


def ensure_marker(root: Path, boot: str) -> None:
    """Leave a durable trace that this boot writes unsynced files in the store."""
    path = marker(root, boot)
    if path.exists():
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def other_boot_markers(root: Path, boot: str) -> list[Path]:
    """Markers left by earlier boots."""
    return [p for p in root.iterdir()
            if p.name.startswith(MARKER_PREFIX) and p.name != marker(root, boot).name]
