"""What a writer writes: one complete medium's content (the media builder's output)."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

WEB_DIR = "IHE_PDI"


class WebImages(StrEnum):
    """What the web pages of a medium show of its images (`media.web_images`)."""

    ALL = "all"  # a grid of thumbnails per series and a page per image
    THUMBNAILS = "thumbnails"  # the grids only
    NONE = "none"  # text only

    @property
    def label(self) -> str:
        """What the medium's label says (IHE PDI): DICOM PLUS WEB or DICOM ONLY."""
        return "DICOM ONLY" if self is WebImages.NONE else "DICOM PLUS WEB"

    def smaller(self) -> WebImages | None:
        """The next smaller choice, None below NONE."""
        order = list(WebImages)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


@dataclass(frozen=True, slots=True)
class VolumeFile:
    """One file of a medium: `dest` is its path on the medium ("DICOMDIR",
    "DICOM/P0000001/S0000001/S0000001/I0000001", "README.TXT", "IHE_PDI/INDEX.HTM").
    Its content is the file `source` (with `offset`: the `size` bytes of `source` from
    there, a picture of a pack file), or `data` for small generated files."""

    dest: str
    size: int
    source: Path | None = None
    data: bytes | None = None
    is_dicom: bool = False  # a DICOM object referenced by the DICOMDIR (not DICOMDIR itself)
    offset: int | None = None

    def read(self) -> bytes:
        return b"".join(self.chunks(max(self.size, 1)))

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.source is not None
        with open(self.source, "rb") as f:
            if self.offset is None:
                while chunk := f.read(size):
                    yield chunk
                return
            f.seek(self.offset)
            left = self.size
            while left > 0 and (chunk := f.read(min(size, left))):
                left -= len(chunk)
                yield chunk
            if left:
                raise OSError(errno.EIO, f"{self.source} ends before the picture of "
                              f"{self.dest} does (is the work folder damaged?)")


class Pack:
    """Many small files of a medium one after the other in one file (`path`), each read
    back from its range (`VolumeFile.offset`).

    Creating a file costs more than writing a picture (a new inode, a directory entry,
    on some file systems a search of the inode table), and a medium of 1,000 CT images
    has 2,000 pictures and 1,000 pages: a preview worker writes each batch of renderings
    into one pack, a job's manifest the generated files of a volume. `atomic`: written
    under a temporary name and renamed by `close()`."""

    def __init__(self, path: Path, atomic: bool = False) -> None:
        self.path = path
        self._part = (path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
                      if atomic else path)
        self._file = open(self._part, "xb")  # noqa: SIM115 (closed by close/abandon)
        self.size = 0

    def add(self, data: memoryview | bytes) -> int:
        """Append `data`; the offset it starts at."""
        offset = self.size
        self._file.write(data)
        self.size += len(data)
        return offset

    def close(self) -> None:
        self._file.close()
        if self._part != self.path:
            os.replace(self._part, self.path)

    def abandon(self) -> None:
        self._file.close()
        self._part.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class ReadBack:
    """Proof that an image file was read back from its disk while it was written, every
    byte compared with what was written: the file's identity when that was done (a later
    change of the file changes its mtime or size) and its md5. `direct`: read with
    O_DIRECT (from the device); else after dropping the cached pages (where the file
    system refuses O_DIRECT)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    md5: str
    direct: bool = True

    def matches(self, st: os.stat_result) -> bool:
        """Whether `st` is the same, unchanged file."""
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.dev, self.ino, self.size, self.mtime_ns)

    def to_json(self) -> list[object]:
        return [self.dev, self.ino, self.size, self.mtime_ns, self.md5, self.direct]

    @classmethod
    def from_json(cls, row: object) -> ReadBack | None:
        """The stamp saved by `to_json`, or None for anything else (an older manifest)."""
        if not isinstance(row, list) or len(row) != 6:
            return None
        dev, ino, size, mtime_ns, md5, direct = row
        if not all(isinstance(v, int) for v in (dev, ino, size, mtime_ns)) or not (
                isinstance(md5, str) and isinstance(direct, bool)):
            return None
        return cls(dev, ino, size, mtime_ns, md5, direct)


@dataclass(frozen=True, slots=True)
class Volume:
    """One complete File-set (DICOMDIR, README.TXT, web pages, DICOM files).

    A job too big for one medium becomes several volumes, each complete on its own:
    `number` of `count` ("disc 1 of 3"). `iso` and `iso_md5` are set once an ISO 9660
    image of the volume has been built (discs and ISO files need it; USB and cloud
    writers use `files`); `read_back` once that image was also read back from its disk
    while it was written (for ISO-file targets, where the image is the medium).
    """

    label: str  # volume identifier = File-set ID: up to 16 of A-Z 0-9 _
    profile: str  # e.g. STD-GEN-CD
    number: int
    count: int
    files: tuple[VolumeFile, ...]
    iso: Path | None = None
    iso_md5: str | None = None
    iso_size: int | None = None
    created: str = ""  # ISO 8601 date and time the volume was built
    patients: tuple[str, ...] = ()  # patient names (DICOM PN), for the label
    studies: tuple[str, ...] = ()  # Study Instance UIDs with instances on this volume
    capacity: int | None = None  # bytes the medium holds (None: not limited)
    read_back: ReadBack | None = None
    notes: tuple[str, ...] = ()  # what the builder had to decide (for the job's log)

    @property
    def web_images(self) -> WebImages:
        """The images its web pages show, from its files: image pages come with full-size
        previews `IHE_PDI/.../Innnnnnn.JPG`, thumbnails are `IHE_PDI/.../Tnnnnnnn.JPG`."""
        level = WebImages.NONE
        for f in self.files:
            folder, _, name = f.dest.rpartition("/")
            if folder.startswith(WEB_DIR + "/") and name.endswith(".JPG"):
                if name.startswith("I"):
                    return WebImages.ALL
                if name.startswith("T"):
                    level = WebImages.THUMBNAILS
        return level

    @property
    def label_kind(self) -> str:
        """DICOM PLUS WEB when a browser shows its images, else DICOM ONLY."""
        return self.web_images.label

    @property
    def size(self) -> int:
        """Bytes of content (without file system overhead)."""
        return sum(f.size for f in self.files)

    def dicom_files(self) -> list[VolumeFile]:
        return [f for f in self.files if f.is_dicom]
