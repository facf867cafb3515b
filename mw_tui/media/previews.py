"""The station's web previews, kept: made once per instance, used by every build.

A build's `Renderer` (webimages.py) looks here first and renders only what is missing,
adding it. The station also makes the previews of what it receives in the background
(`prerender.py`), so that building a medium of studies it holds only collects them.

An entry is keyed by the instance's SOP Instance UID, how it was rendered (size, quality,
frames, full previews or the thumbnail only) and the identity of the store's file it was
rendered from (size, modification time, inode): an instance received again, or another
`web_image_size`, is rendered again. The JPEG pictures are in pack files
(`folder/<2>/<key>.PCK`, those of a few instances each: `volume.Pack`), each written
under a temporary name and renamed; the entry (SQLite) names its pack and the range of
each picture, is written once the pack is whole, and a pack found shorter than its
entries say (a power loss before the page cache was written) makes them count as
missing. `sweep()` removes the entries of instances the store no longer holds, and the
packs no entry names any more (an instance received again leaves its old pictures in a
pack the others of its batch still use, until they go too).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mw_tui import config as cfg
from mw_tui.media.render import Preview, Rendering
from mw_tui.util.sqlite import Database

log = logging.getLogger(__name__)
DB_NAME = "previews.sqlite"
SWEEP_AGE = 3600.0  # seconds: a file younger than this with no entry may be being written
_SCHEMA = """
CREATE TABLE IF NOT EXISTS previews (
    sop_uid TEXT NOT NULL,
    how TEXT NOT NULL,        -- size/quality/frames/full|thumb
    ident TEXT NOT NULL,      -- the source file's size:mtime_ns:inode
    rendering TEXT NOT NULL,  -- JSON: frames, thumbnail, window, ...
    PRIMARY KEY (sop_uid, how)
);
"""


@dataclass(frozen=True, slots=True)
class How:
    """How previews are made (the part of `WebSettings` that changes the pictures)."""

    full: bool
    size: int
    quality: int
    frames: int

    def __str__(self) -> str:
        return f"{self.size}/{self.quality}/{self.frames}/{'full' if self.full else 'thumb'}"


def identity(source: Path) -> str:
    """What says the store's file is still the one a preview was made from."""
    st = os.stat(source)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


class PreviewCache:
    """The previews kept in `folder` (the station's `StoragePaths.previews`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._db = Database(folder / DB_NAME, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def new_pack(self) -> Path:
        """A new pack file for the pictures of a few renderings (`volume.Pack`)."""
        key = secrets.token_hex(12)
        folder = self.folder / key[:2]
        folder.mkdir(exist_ok=True)
        return folder / f"{key}.PCK"

    def find(self, wanted: Iterable[tuple[str, Path]], how: How) -> dict[str, Rendering]:
        """The kept renderings of the (SOP Instance UID, source file) pairs that are whole
        and were made from the file as it is now."""
        pairs = list(wanted)
        if not pairs:
            return {}
        db = self._db.connect()
        rows: dict[str, tuple[str, str]] = {}
        uids = [uid for uid, _ in pairs]
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for uid, ident, data in db.execute(
                    f"SELECT sop_uid, ident, rendering FROM previews WHERE how = ? AND "
                    f"sop_uid IN ({marks})", (str(how), *chunk)):
                rows[uid] = (ident, data)
        found = {}
        for uid, source in pairs:
            row = rows.get(uid)
            if row is None:
                continue
            try:
                if identity(source) != row[0]:
                    continue
                rendering = _decode(uid, row[1], self.folder)
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if _whole(rendering):
                found[uid] = rendering
        return found

    def keep(self, renderings: Iterable[tuple[Rendering, str]], how: How) -> None:
        """Record renderings made into this folder (with the identity of the file each
        was made from)."""
        rows = [(r.sop_uid, str(how), ident, _encode(r, self.folder)) for r, ident in renderings]
        if rows:
            with self._db.transaction() as db:
                db.executemany("INSERT OR REPLACE INTO previews VALUES (?, ?, ?, ?)", rows)

    def sweep(self, held: Callable[[list[str]], set[str]]) -> int:
        """Remove the previews of instances the store no longer holds (`held(uids)`: those
        of `uids` it holds), and files no entry names; how many files were removed."""
        db = self._db.connect()
        entries = db.execute("SELECT sop_uid, how, rendering FROM previews").fetchall()
        uids = sorted({uid for uid, _, _ in entries})
        kept: set[str] = set()
        for start in range(0, len(uids), 500):
            kept |= held(uids[start:start + 500])
        gone = [(uid, how) for uid, how, _ in entries if uid not in kept]
        if gone:
            with self._db.transaction() as tx:
                tx.executemany("DELETE FROM previews WHERE sop_uid = ? AND how = ?", gone)
        named: set[Path] = set()
        for uid, _how, data in entries:
            if uid in kept:
                try:
                    named.update(p.path for p in _previews(_decode(uid, data, self.folder)))
                except (ValueError, KeyError, TypeError):
                    pass
        removed = 0
        now = time.time()
        for sub in self.folder.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                if path in named:
                    continue
                try:
                    if now - path.stat().st_mtime < SWEEP_AGE:
                        continue  # may be a rendering whose entry is not written yet
                    path.unlink()
                    removed += 1
                except OSError:
                    pass
        if removed:
            log.info("previews: %d file(s) of instances no longer in the store removed",
                     removed)
        return removed


def kept_previews(folder: Path, media: cfg.MediaConfig) -> PreviewCache | None:
    """The station's kept previews in `folder`, when the configuration keeps them
    (`media.web_previews_ahead`) and the media show images; None when the folder cannot
    be used (said in the log: the builds then render their own)."""
    if not media.web_previews_ahead or media.web_images == "none":
        return None
    try:
        return PreviewCache(folder)
    except (OSError, sqlite3.Error) as exc:
        log.warning("previews: the kept previews in %s cannot be used (%s); each build "
                    "renders its own", folder, exc)
        return None


def _previews(r: Rendering) -> list[Preview]:
    return [*r.frames, *([r.thumbnail] if r.thumbnail is not None else [])]


def _whole(r: Rendering) -> bool:
    sizes: dict[Path, int] = {}
    for p in _previews(r):
        try:
            if p.path not in sizes:
                sizes[p.path] = p.path.stat().st_size
        except OSError:
            return False
        if sizes[p.path] < p.offset + p.size:  # cut (a power loss before the write-back)
            return False
    return True


def _encode(r: Rendering, folder: Path) -> str:
    def one(p: Preview) -> list[object]:
        return [p.frame, p.path.relative_to(folder).as_posix(), p.size, p.width, p.height,
                p.offset]

    return json.dumps({"frames": [one(p) for p in r.frames],
                       "thumbnail": one(r.thumbnail) if r.thumbnail is not None else None,
                       "count": r.frame_count, "window": r.window,
                       "original": list(r.original), "problem": r.problem})


def _decode(uid: str, data: str, folder: Path) -> Rendering:
    d = json.loads(data)

    def one(v: list[object]) -> Preview:
        frame, rel, size, width, height, *offset = v  # no offset: a file of its own
        return Preview(int(str(frame)), folder / str(rel), int(str(size)), int(str(width)),
                       int(str(height)), int(str(offset[0])) if offset else 0)

    columns, rows = d["original"]
    return Rendering(uid, tuple(one(v) for v in d["frames"]),
                     one(d["thumbnail"]) if d["thumbnail"] is not None else None,
                     int(d["count"]), str(d["window"]), (int(columns), int(rows)),
                     str(d["problem"]))
