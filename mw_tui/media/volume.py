"""What a writer writes: one complete medium's content (the media builder's output)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class VolumeFile:
    """One file of a medium: `dest` is its path on the medium ("DICOMDIR",
    "DICOM/P0000001/S0000001/S0000001/I0000001", "README.TXT", "IHE_PDI/INDEX.HTM").
    Its content is the file `source`, or `data` for small generated files."""

    dest: str
    size: int
    source: Path | None = None
    data: bytes | None = None
    is_dicom: bool = False  # a DICOM object referenced by the DICOMDIR (not DICOMDIR itself)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None
        return self.source.read_bytes()

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.source is not None
        with open(self.source, "rb") as f:
            while chunk := f.read(size):
                yield chunk


@dataclass(frozen=True, slots=True)
class Volume:
    """One complete File-set (DICOMDIR, README.TXT, web pages, DICOM files).

    A job too big for one medium becomes several volumes, each complete on its own:
    `number` of `count` ("disc 1 of 3"). `iso` and `iso_md5` are set once an ISO 9660
    image of the volume has been built (discs and ISO files need it; USB and cloud
    writers use `files`).
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

    @property
    def size(self) -> int:
        """Bytes of content (without file system overhead)."""
        return sum(f.size for f in self.files)

    def dicom_files(self) -> list[VolumeFile]:
        return [f for f in self.files if f.is_dicom]
