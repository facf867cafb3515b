"""Writing received instances into the store: atomically, byte-exact, indexed.

Each instance becomes a Part 10 file: a 128-byte preamble, "DICM", a group 0002 built
from a template (SOP class and instance from the C-STORE request, the transfer syntax of
the presentation context, our implementation UID) and then the dataset bytes exactly as
they arrived. A pushed instance is streamed into a temp file in `incoming/` while it
arrives (written around the page cache where the file system allows: `sink`), then
renamed into its folder and synced (one fsync after the rename where the file system
makes that cover the new name, else fdatasync, rename and the folder's fsync), and only
then indexed and acknowledged (`incoming.Incoming`).

Instances of the station's own retrieves (`deferred`) are not synced: an instance WE
asked an archive to send is still in that archive, so acknowledging it before it is on
disk loses nothing (a job that needs it retrieves it again). They are checked
(`Incoming.check()`, which an acceptor may acknowledge on) before they are written; their
index rows carry the boot id and the file's CRC-32 until `Store.make_durable()` syncs the
file system once for many of them; `check.recover()` settles what a crash left marked.
See `sync` for the details.

The data path copies as little as it can: a deferred instance's fragments are kept as
they were read (views into the PDUs), a streamed one's are copied once into the write
buffer, and the header is scanned on the first fragment(s) only.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from mw_tui.store import layout, sync
from mw_tui.store.incoming import SPOOL_THRESHOLD, Incoming
from mw_tui.store.index import Index
from mw_tui.store.part10 import (
    PREAMBLE,
    Chunk,
    file_crc32,
    file_meta,
    make_private,
    temp_name,
    write_all,
)
from mw_tui.store.refused import OutOfSpace, Refusal, Refused, StoredInstance
from mw_tui.store.sink import orders_renames
from mw_tui.store.spares import Spares

__all__ = ["PREAMBLE", "SPOOL_THRESHOLD", "Chunk", "Incoming", "OutOfSpace", "Refusal",
           "Refused", "Store", "StoredInstance", "file_crc32", "file_meta", "temp_name",
           "write_all"]

log = logging.getLogger(__name__)

TRASH = "trash"  # studies being deleted are renamed here first (same file system)
PRIVATE_DIR = 0o700  # the store holds patient data: only its owner may read it
PRIVATE_FILE = 0o600
FREE_RECHECK_SECONDS = 1.0  # the free space is measured again after this long ...
FREE_RECHECK_BYTES = 64 * 1024 * 1024  # ... or after this much was written


class Store:
    """The storage folder: files under `studies/`, the index in `index.sqlite`."""

    def __init__(self, root: Path | str, min_free_mb: int = 0, direct: bool = True,
                 spares: bool = False) -> None:
        """`direct`: write instances around the page cache where the file system allows
        (see `sink`); `spares`: keep files made ahead for pushed instances (`spares`: a
        receiver's)."""
        self.root = Path(root)
        self.min_free_mb = min_free_mb
        self.direct = direct
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
        self.ordered = orders_renames(self.root)  # one fsync per pushed instance (`sink`)
        self._free = (0, -FREE_RECHECK_SECONDS)  # (bytes, time.monotonic() measured)
        self._written = 0  # bytes written since
        self._marked = False  # this boot's marker exists (see `sync`)
        self._spares = (Spares(self.root / layout.INCOMING, PRIVATE_FILE, direct)
                        if spares else None)

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

    def spare(self) -> tuple[Path, int, bool] | None:
        """A new file in incoming/ made ahead (path, descriptor, O_DIRECT), or None."""
        return self._spares.take() if self._spares is not None else None

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
        if self._spares is not None:
            self._spares.close()
        self.index.close()
