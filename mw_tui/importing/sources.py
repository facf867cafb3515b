"""Reading the files of a medium without ever leaving it: a folder (a mounted stick, a
copied disc) or an ISO 9660 image (a file, or a disc read straight from its device).

Only regular files inside the medium are read: symbolic links are never followed,
devices, sockets and FIFOs are never opened, every folder is opened component by
component with O_NOFOLLOW (so a link swapped in later leads nowhere), and walks are
bounded in depth and in entries. Nothing is ever written: files are opened read-only.
Reads go through `os.pread`, so several threads may read one medium at once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mw_tui.importing.elements import ReadAt
from mw_tui.importing.models import MediumKind, Unreadable

MAX_ENTRIES = 200_000  # files and folders walked on one medium
MAX_DEPTH = 16
ISO_MAGIC_OFFSET = 16 * 2048


class MediumError(Exception):
    """The medium cannot be read at all; the message says why and what to do."""


# the device is gone or broken (a medium pulled out part-way): not one file's problem
GONE_ERRNOS = frozenset({errno.EIO, errno.ENOMEDIUM, errno.ENODEV, errno.ENXIO})


def medium_gone(exc: OSError, what: str) -> MediumError | None:
    """The MediumError to raise when `exc` (reading `what`) means the medium is gone or
    broken, None when it is about that one file."""
    if exc.errno not in GONE_ERRNOS:
        return None
    return MediumError(f"The medium stopped answering while {what} was read "
                       f"({exc.strerror or exc}): was it taken out? Insert it again and "
                       "import again; what the archive confirmed is not sent twice.")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A regular file of the medium. `location` is where an ISO image holds its data."""

    path: str
    size: int
    location: int = 0

    @property
    def key(self) -> str:
        return key_of(self.path.split("/"))


def key_of(parts: list[str] | tuple[str, ...]) -> str:
    """How a file is matched to a DICOMDIR file ID: upper case, without ISO 9660
    version numbers (";1") and trailing dots."""
    return "/".join(p.split(";")[0].rstrip(".").upper() for p in parts)


@dataclass(frozen=True, slots=True)
class Listing:
    files: tuple[FileEntry, ...]
    refused: tuple[Unreadable, ...]  # links, devices, entries past the limits
    truncated: bool = False  # more entries than MAX_ENTRIES: the rest was not looked at


class Source(ABC):
    """An open medium: list its files, read them, close it."""

    kind: MediumKind
    label: str = ""
    disc: str = ""  # what the drive says the disc is: "CD", "DVD", "BD" ("": unknown)

    def __init__(self, origin: str) -> None:
        self.origin = origin

    @abstractmethod
    def listing(self) -> Listing: ...

    @abstractmethod
    def opened(self, entry: FileEntry) -> contextlib.AbstractContextManager[ReadAt]:
        """A reader of one file (thread-safe); OSError when it cannot be opened."""

    @abstractmethod
    def close(self) -> None:
        """Release the medium (unmount, close the image)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class FolderSource(Source):
    """A folder: a mounted stick or disc, or files copied from one."""

    def __init__(self, root: Path, kind: MediumKind = MediumKind.FOLDER, label: str = "",
                 origin: str = "") -> None:
        super().__init__(origin or str(root))
        self.kind = kind
        self.label = label or root.name
        try:
            self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise MediumError(f"{root} cannot be opened as a folder ({exc.strerror}).") from exc

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def _open_dir(self, parts: list[str]) -> int:
        fd = os.dup(self.root_fd)
        try:
            for part in parts:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def listing(self) -> Listing:
        files: list[FileEntry] = []
        refused: list[Unreadable] = []
        pending: list[list[str]] = [[]]
        seen = 0
        while pending:
            parts = pending.pop()
            try:
                fd = self._open_dir(parts)
            except OSError as exc:
                if (gone := medium_gone(exc, "/".join(parts) or "the top folder")) is not None:
                    raise gone from exc
                refused.append(Unreadable("/".join(parts), f"folder cannot be opened "
                                                           f"({exc.strerror})"))
                continue
            try:
                with os.scandir(fd) as it:
                    entries = sorted(it, key=lambda e: e.name)
                for e in entries:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        return Listing(tuple(files), tuple(refused), truncated=True)
                    path = "/".join([*parts, e.name])
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError as exc:
                        if (gone := medium_gone(exc, path)) is not None:
                            raise gone from exc
                        refused.append(Unreadable(path, f"cannot be read ({exc.strerror})"))
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if len(parts) + 1 > MAX_DEPTH:
                            refused.append(Unreadable(path, f"folder nested deeper than "
                                                            f"{MAX_DEPTH} levels: not read"))
                        else:
                            pending.append([*parts, e.name])
                    elif stat.S_ISREG(st.st_mode):
                        files.append(FileEntry(path, st.st_size))
                    else:
                        refused.append(Unreadable(path, refusal(st.st_mode)))
            finally:
                os.close(fd)
        return Listing(tuple(sorted(files, key=lambda f: f.path)), tuple(refused))

    @contextlib.contextmanager
    def opened(self, entry: FileEntry) -> Iterator[ReadAt]:
        *dirs, name = entry.path.split("/")
        dfd = self._open_dir(dirs)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
        finally:
            os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(0, refusal(st.st_mode))
            size = st.st_size

            def read_at(offset: int, count: int) -> bytes:
                return os.pread(fd, max(0, min(count, size - offset)), offset)

            yield read_at
        finally:
            os.close(fd)


def refusal(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link: not followed (it could lead off the medium)"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device file: not read"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "a FIFO or socket: not read"
    return "not a regular file: not read"


def is_iso9660(path: str | Path) -> bool:
    """Whether a file or device holds an ISO 9660 file system (a volume descriptor at
    sector 16)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.pread(fd, 6, ISO_MAGIC_OFFSET)[1:6] == b"CD001"
    except OSError:
        return False
    finally:
        os.close(fd)


class IsoSource(Source):
    """An ISO 9660 image (a file, or a disc's device) read with pycdlib, never mounted.

    pycdlib reads the whole directory tree when the image is opened; files are then read
    with `os.pread`. An image or disc that ends or stops answering later (taken out, cut
    short) fails the read with an OSError the readers turn into MediumError.
    """

    def __init__(self, path: Path, kind: MediumKind = MediumKind.ISO_FILE,
                 disc: str = "") -> None:
        import pycdlib

        super().__init__(str(path))
        self.kind, self.disc = kind, disc
        self._what = what = {MediumKind.DISC: "disc", MediumKind.MOUNTED: "stick"}.get(
            kind, "image")
        self._fp: Any = None
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise MediumError(f"{path} cannot be opened ({exc.strerror}).") from exc
        self.iso: Any = pycdlib.PyCdlib()
        try:
            self.size = os.lseek(self.fd, 0, os.SEEK_END)
            self._fp = os.fdopen(os.dup(self.fd), "rb")
            self.iso.open_fp(self._fp)
            pvd = self.iso.pvd
            self.block = int(pvd.logical_block_size())
            self.label = bytes(pvd.volume_identifier).decode("latin-1").strip(" \0")
        except OSError as exc:  # the device stopped answering while it was opened
            self.close()
            raise MediumError(f"The {what} {path} cannot be read ({exc.strerror or exc}): "
                              "was it taken out? Insert it again and import again.") from exc
        except Exception as exc:  # pycdlib raises its own kinds, and others on garbage
            self.close()
            raise MediumError(f"The {what} {path} is not a readable ISO 9660 file system "
                              f"({str(exc)[:200]}).") from exc

    def close(self) -> None:
        if self._fp is not None:
            with contextlib.suppress(Exception):
                self.iso.close()
            self._fp.close()
            self._fp = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def listing(self) -> Listing:
        files: list[FileEntry] = []
        refused: list[Unreadable] = []
        root = self.iso.get_record(iso_path="/")
        pending: list[tuple[Any, list[str]]] = [(root, [])]
        seen = 0
        while pending:
            record, parts = pending.pop()
            for child in record.children:
                if child is None or child.is_dot() or child.is_dotdot():
                    continue
                seen += 1
                if seen > MAX_ENTRIES:
                    return Listing(tuple(files), tuple(refused), truncated=True)
                name = bytes(child.file_identifier()).decode("latin-1")
                name = name.split(";")[0].rstrip(".") or name  # "IM1.;1" -> "IM1"
                path = "/".join([*parts, name])
                if child.is_symlink():
                    refused.append(Unreadable(path, refusal(stat.S_IFLNK)))
                elif child.is_dir():
                    if len(parts) + 1 > MAX_DEPTH:
                        refused.append(Unreadable(path, f"folder nested deeper than "
                                                        f"{MAX_DEPTH} levels: not read"))
                    else:
                        pending.append((child, [*parts, name]))
                else:
                    mode = _rock_ridge_mode(child)
                    if mode is not None and not stat.S_ISREG(mode):
                        refused.append(Unreadable(path, refusal(mode)))
                        continue
                    size = int(child.get_data_length())
                    location = int(child.extent_location()) * self.block
                    if location + size > self.size:
                        refused.append(Unreadable(path, "its data lie past the end of the "
                                                        "image: the image is truncated"))
                        continue
                    files.append(FileEntry(path, size, location))
        return Listing(tuple(sorted(files, key=lambda f: f.path)), tuple(refused))

    @contextlib.contextmanager
    def opened(self, entry: FileEntry) -> Iterator[ReadAt]:
        """A reader of one file. Its data lay inside the image when it was listed, so a
        read that comes back short means the image or disc ended under it (taken out,
        cut short): an EIO, which the readers turn into MediumError like a device's."""
        fd, base, size = self.fd, entry.location, entry.size

        def read_at(offset: int, count: int) -> bytes:
            count = max(0, min(count, size - offset))
            data = os.pread(fd, count, base + offset)
            if len(data) < count:
                raise OSError(errno.EIO, f"the {self._what} ends before its files do")
            return data

        yield read_at


def _rock_ridge_mode(record: Any) -> int | None:
    rr = getattr(record, "rock_ridge", None)
    if rr is None:
        return None
    try:
        return int(rr.get_file_mode())
    except Exception:  # no PX entry
        return None
