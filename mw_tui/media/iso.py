"""ISO 9660 images of volumes: level 1 names plus Joliet, written with pycdlib.

The image is written straight from the volume's files (the store's, the transcoded ones,
the generated ones held in memory), never from a copy of the tree, and its md5 is computed
while it is written, on a second thread, so that verifying a burn costs no extra pass. For
an ISO-file target, where the image is the medium, it is also read back from the disk while
it is written (mw_tui.media.readback), so that the writer need not read it again.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycdlib

from mw_tui import __version__
from mw_tui.media.imagefile import BLOCK, ImageFile
from mw_tui.media.readback import ReadBackError
from mw_tui.media.volume import ReadBack as ReadBackStamp
from mw_tui.media.volume import Volume
from mw_tui.util import gcpause

Progress = Callable[[int, int], None]
PREFETCH = 32 << 20  # bytes of source files asked for ahead of the writer
SECTOR_SIZE = 2048
_D_CHARS = re.compile(r"[^A-Z0-9_]")
_JOLIET_BAD = re.compile(r"[*/:;?\\\x00-\x1f]")
JOLIET_MAX = 64


class IsoError(Exception):
    """The image cannot be written; the message says why."""


class IsoCancelled(IsoError):
    def __init__(self) -> None:
        super().__init__("writing the image was cancelled")


def _level1(name: str, is_dir: bool, used: set[str]) -> str:
    """An ISO 9660 level 1 name for `name` (8.3 of A-Z 0-9 _), unique among `used`."""
    upper = name.upper()
    if is_dir:
        stem, ext = _D_CHARS.sub("_", upper)[:8] or "_", ""
    else:
        stem, _, ext = upper.rpartition(".") if "." in upper else (upper, "", "")
        stem = _D_CHARS.sub("_", stem)[:8] or "_"
        ext = _D_CHARS.sub("_", ext)[:3]

    def key(candidate: str) -> str:
        return candidate if is_dir else f"{candidate}.{ext}"

    candidate, n = stem, 1
    while key(candidate) in used:
        n += 1
        tail = f"_{n}"
        candidate = stem[: 8 - len(tail)] + tail
    used.add(key(candidate))
    return candidate if is_dir else f"{candidate}.{ext};1"


def _joliet(name: str, used: set[str]) -> str:
    clean = _JOLIET_BAD.sub("_", name)
    if len(clean) > JOLIET_MAX:
        stem, dot, ext = clean.rpartition(".")
        ext = ext if dot and len(ext) <= 8 else ""
        clean = (stem if ext else clean)[: JOLIET_MAX - len(ext) - 1] + ("." + ext if ext else "")
    candidate, n = clean, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{clean[: JOLIET_MAX - 4]}~{n}"
    used.add(candidate.lower())
    return candidate


class _Names:
    """Maps the volume's paths to ISO 9660 and Joliet paths, directory by directory."""

    def __init__(self) -> None:
        self.dirs: dict[str, tuple[str, str]] = {"": ("", "")}
        self.used_iso: dict[str, set[str]] = {}
        self.used_joliet: dict[str, set[str]] = {}

    def directory(self, path: str) -> tuple[str, str, bool]:
        """(iso path, joliet path, is new) of a directory."""
        if path in self.dirs:
            iso, joliet = self.dirs[path]
            return iso, joliet, False
        parent, _, name = path.rpartition("/")
        p_iso, p_joliet, _ = self.directory(parent)
        iso = p_iso + "/" + _level1(name, True, self.used_iso.setdefault(parent, set()))
        joliet = p_joliet + "/" + _joliet(name, self.used_joliet.setdefault(parent, set()))
        self.dirs[path] = (iso, joliet)
        return iso, joliet, True

    def file(self, path: str) -> tuple[str, str]:
        parent, _, name = path.rpartition("/")
        p_iso, p_joliet = self.dirs[parent]
        return (p_iso + "/" + _level1(name, False, self.used_iso.setdefault(parent, set())),
                p_joliet + "/" + _joliet(name, self.used_joliet.setdefault(parent, set())))


def _ascii(value: str) -> str:
    return value.encode("ascii", "replace").decode().upper()


def build_image(volume: Volume) -> pycdlib.PyCdlib:
    """The pycdlib image of `volume` (nothing read or written yet)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, joliet=3, vol_ident=volume.label, sys_ident="LINUX",
            app_ident_str=_ascii(f"MW-TUI {__version__}")[:128],
            vol_set_ident=volume.label)
    names = _Names()
    files = []
    for f in volume.files:  # named in the volume's order (a clash is settled as before)
        parent = f.dest.rpartition("/")[0]
        chain = []
        while parent and parent not in names.dirs:
            chain.append(parent)
            parent = parent.rpartition("/")[0]
        for d in reversed(chain):
            iso_path, joliet_path, _ = names.directory(d)
            iso.add_directory(iso_path, joliet_path=joliet_path)
        files.append((*names.file(f.dest), f))
    # added in the order of their directory records: pycdlib then appends each record
    # instead of moving every later one (the image's layout does not depend on it)
    files.sort(key=lambda entry: entry[0].rpartition("/")[::2])
    for iso_path, joliet_path, f in files:
        if f.data is not None:
            iso.add_fp(io.BytesIO(f.data), len(f.data), iso_path, joliet_path=joliet_path)
        elif f.offset is not None:  # a picture in a pack file
            assert f.source is not None
            iso.add_fp(_Range(f.source, f.offset, f.size),  # type: ignore[arg-type]
                       f.size, iso_path,
                       joliet_path=joliet_path)
        else:
            assert f.source is not None
            iso.add_file(str(f.source), iso_path, joliet_path=joliet_path)
    return iso


class _Range:
    """`length` bytes of the file `path` from `offset`, read the way pycdlib reads the
    file object of a file (a seek, then reads); the file is open only while it is read."""

    mode = "rb"  # what pycdlib looks for in a file object

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self.path, self.offset, self.length = path, offset, length
        self._pos = 0
        self._fd = -1

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        self._pos = pos + {os.SEEK_SET: 0, os.SEEK_CUR: self._pos,
                           os.SEEK_END: self.length}[whence]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self.length - self._pos if n < 0 else min(n, self.length - self._pos)
        if n <= 0:
            return b""
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        data = os.pread(self._fd, n, self.offset + self._pos)
        if len(data) != n:
            raise OSError(errno.EIO, f"{self.path} ends before the picture at byte "
                          f"{self.offset} does (is the work folder damaged?)", str(self.path))
        self._pos += n
        if self._pos >= self.length:
            self.close()
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _sources(iso: Any) -> list[tuple[str, int]]:
    """(path, length) of the files the image is written from, in the order of their
    extents (the order they are written in)."""
    return [(ino.data_fp, ino.get_data_length()) for ino in iso.inodes
            if isinstance(ino.data_fp, str) and ino.get_data_length() > 0]


class Prefetch:
    """Asks the kernel to read the source files ahead of the writer (posix_fadvise
    WILLNEED), `PREFETCH` bytes ahead at most: files the receiver wrote around the page
    cache come from the disk while the writer copies the ones before them."""

    def __init__(self, files: list[tuple[str, int]]) -> None:
        self._files = files
        self._done = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="iso-prefetch", daemon=True)

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join()

    def reached(self, done: int) -> None:
        """The writer has written `done` bytes of the image."""
        with self._cond:
            self._done = done
            self._cond.notify()

    def _run(self) -> None:
        asked = 0
        for path, length in self._files:
            with self._cond:
                while not self._stop and asked - self._done > PREFETCH:
                    self._cond.wait()
                if self._stop:
                    return
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
            except OSError:
                pass  # the writer says what is wrong with it when it gets there
            asked += length


def _first_data_byte(iso: Any) -> int:
    extents = [ino.extent_location() for ino in iso.inodes if ino.get_data_length() > 0]
    return min(extents) * SECTOR_SIZE if extents else 1 << 62


def write_iso(volume: Volume, path: Path | str, progress: Progress | None = None,
              cancel: threading.Event | None = None, read_back: bool = False) -> Volume:
    """Write the ISO image of `volume` to `path` (through a temp file and a rename);
    returns the volume with `iso`, `iso_md5` and `iso_size` set. Raises IsoError.

    `read_back`: the image is the medium (an ISO file): read it back from the disk while
    it is written and compare every byte (the volume's `read_back` stamp says it was)."""
    dest = Path(path)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with gcpause.paused():
            iso = build_image(volume)
            # lay the image out now and write the files in the order of their extents,
            # so the md5 is made on the fly, on another thread, instead of by reading it
            # back
            iso.force_consistency()
            iso.inodes.sort(key=lambda ino: ino.extent_location())
    except OSError as exc:
        raise IsoError(f"cannot read {exc.filename or 'a file'} for the image of "
                       f"{volume.label}: {exc.strerror or exc} (was the study deleted from "
                       "the store? build the medium again)") from exc
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise IsoError(f"cannot lay out the image of {volume.label}: {exc}") from exc

    ahead = Prefetch(_sources(iso))

    def on_progress(done: int, total: int, _opaque: Any) -> None:
        if cancel is not None and cancel.is_set():
            raise IsoCancelled()
        ahead.reached(done)
        if progress is not None:
            progress(done, total)

    writer: ImageFile | None = None
    stamp: ReadBackStamp | None = None
    try:
        writer = ImageFile(tmp, lambda: _first_data_byte(iso), read_back)
        with ahead:
            iso.write_fp(writer, blocksize=BLOCK,  # type: ignore[arg-type]
                         progress_cb=on_progress)
        md5 = writer.finish()
        size = writer.end
        if read_back and writer.verified == size:
            st = os.fstat(writer.fd)
            stamp = ReadBackStamp(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, md5,
                                  writer.from_device)
        writer.close()
        writer = None
        if volume.capacity is not None and size > volume.capacity:
            raise IsoError(f"the image of {volume.label} has {size} bytes, more than the "
                           f"medium's {volume.capacity}: build it again for a larger medium")
        os.replace(tmp, dest)
    except BaseException as exc:
        if writer is not None:
            writer.abandon()
            writer.close()
        tmp.unlink(missing_ok=True)
        if isinstance(exc, IsoError | KeyboardInterrupt):
            raise
        if isinstance(exc, ReadBackError):
            raise IsoError(f"the image of {volume.label} was written but does not read back "
                           f"as written: {exc}. The disk may be failing: check it (dmesg, "
                           "smartctl) or free another one, then build the medium again."
                           ) from exc
        if isinstance(exc, OSError):
            raise IsoError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        if isinstance(exc, pycdlib.pycdlibexception.PyCdlibException):
            raise IsoError(f"cannot write the image of {volume.label}: {exc}") from exc
        raise
    finally:
        iso.close()
    return dataclasses.replace(volume, iso=dest, iso_md5=md5, iso_size=size, read_back=stamp)


def image_size(volume: Volume) -> int:
    """The exact size in bytes of the ISO image `write_iso()` would write (layout only)."""
    with gcpause.paused():
        iso = build_image(volume)
        try:
            iso.force_consistency()
            return int(iso.pvd.space_size) * SECTOR_SIZE
        finally:
            iso.close()
