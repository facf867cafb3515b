"""The few attributes a preview needs, read from a file without parsing all of it.

Reading a CT image with pydicom costs a third of a millisecond, mostly for the elements
a preview never looks at (a third of what rendering it costs). Most images the station
renders are grey and stored natively, little endian, as its own receiver wrote them:
`load()` walks their top-level elements and keeps the raw values of those that decide how
the pixels are shown, and where the pixel data is. Anything else (another transfer
syntax, colour, a modality or VOI LUT sequence, enhanced functional groups, an undefined
length, a damaged file) returns None: the caller then reads the file with pydicom, as
before.

What the rendering spends besides encoding goes mostly to pydicom converting attribute
values and to fresh memory for each file, so:
- the attributes become a pydicom dataset (`Grey.params`: pydicom converts them, and its
  LUT functions read them) made once for every different set of values: the images of a
  series share one;
- a file of up to `REUSE` bytes is read into the same buffer each time (a new one would
  be faulted in page by page): `Grey.pixels` is valid until the next `load()` in the
  thread.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

PIXEL_DATA = 0x7FE00010
KEEP = frozenset({
    0x00181164,  # Imager Pixel Spacing
    0x00280002, 0x00280004, 0x00280008, 0x00280010, 0x00280011,  # samples, PI, frames, size
    0x00280030, 0x00280034,  # Pixel Spacing, Pixel Aspect Ratio
    0x00280100, 0x00280101, 0x00280102, 0x00280103,  # bits, sign
    0x00281050, 0x00281051, 0x00281052, 0x00281053, 0x00281054, 0x00281056,  # VOI, rescale
})
# what needs pydicom's whole reading: LUT sequences, functional groups, float pixels
ELSEWHERE = frozenset({0x00283000, 0x00283010, 0x52009229, 0x52009230, 0x7FE00008,
                       0x7FE00009})
_LONG = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                   b"UT", b"SV", b"UV"})
_NATIVE = {"1.2.840.10008.1.2.1": False, "1.2.840.10008.1.2": True}  # explicit, implicit
_EXPLICIT = struct.Struct("<HH2sH")  # tag, VR, a short length
_IMPLICIT = struct.Struct("<HHI")  # tag, length
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
REUSE = 4 << 20  # files up to this size are read into the process's buffer
PARAMS_KEPT = 256  # different attribute sets remembered
_local = threading.local()  # .buffer: the reused one (a thread's own)
_params: dict[tuple[object, ...], Dataset] = {}


@dataclass(frozen=True, slots=True)
class Grey:
    """A grey image stored natively, little endian, 8 or 16 bits per sample."""

    params: Dataset  # its display attributes (no pixel data); shared: never change it
    pi: str  # MONOCHROME1 or MONOCHROME2
    rows: int
    columns: int
    frames: int
    bits: int  # allocated
    stored: int
    signed: bool
    pixels: memoryview  # its Pixel Data

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (what `pixel_array(raw=True)` gives): a view of `pixels` when all
        its bits are stored."""
        length = self.rows * self.columns * self.bits // 8
        dtype = np.dtype(f"<{'i' if self.signed else 'u'}{self.bits // 8}")
        arr = np.frombuffer(self.pixels, dtype, self.rows * self.columns,
                            index * length).reshape(self.rows, self.columns)
        if self.stored < self.bits:  # bits above Bits Stored are not part of the value
            shift = self.bits - self.stored
            arr = (arr << shift) >> shift if self.signed else arr & ((1 << self.stored) - 1)
        return arr


def load(path: Path, size: int | None = None) -> Grey | None:
    """The grey native image in the file `path` (of `size` bytes, when known), or None."""
    size = os.stat(path).st_size if size is None else size
    if size > REUSE:
        return parse(Path(path).read_bytes())
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(REUSE)
    view = memoryview(buffer)
    done = 0
    with open(path, "rb", buffering=0) as f:
        while done < size and (n := f.readinto(view[done:size])):
            done += n
    return parse(view[:done].toreadonly())


def parse(data: bytes | memoryview) -> Grey | None:
    """`load()` of a file's bytes."""
    try:
        return _parse(memoryview(data))
    except (struct.error, ValueError, UnicodeDecodeError):  # damaged: pydicom says how
        return None


def _parse(data: memoryview) -> Grey | None:
    if bytes(data[128:132]) != b"DICM":
        return None
    ts, pos = _meta(data)
    implicit = _NATIVE.get(ts or "")
    if implicit is None:
        return None
    kept: list[tuple[int, bytes | None, bytes]] = []
    end = len(data)
    while pos + 8 <= end:
        if implicit:
            group, elem, length = _IMPLICIT.unpack_from(data, pos)
            vr, vpos = None, pos + 8
        else:
            group, elem, vr, length = _EXPLICIT.unpack_from(data, pos)
            vpos = pos + 8
            if vr in _LONG:
                (length,), vpos = _U32.unpack_from(data, pos + 8), pos + 12
        tag = group << 16 | elem
        if length == 0xFFFFFFFF or vpos + length > end or tag in ELSEWHERE:
            return None
        if tag == PIXEL_DATA:
            return _grey(tuple(kept), implicit, data[vpos : vpos + length])
        if tag in KEEP:
            kept.append((tag, vr, bytes(data[vpos : vpos + length])))
        pos = vpos + length
    return None


def _grey(kept: tuple[tuple[int, bytes | None, bytes], ...], implicit: bool,
          pixels: memoryview) -> Grey | None:
    values = {tag: (vr, value) for tag, vr, value in kept}

    def number(tag: int, default: int) -> int:
        vr, value = values.get(tag, (None, b""))
        if tag == 0x00280008:  # Number of Frames: IS
            value = value.strip(b"\0 ")
            return int(value) if value else default
        if not value:
            return default
        if vr not in (None, b"US") or len(value) != 2:
            raise ValueError("not the US value of the standard")  # pydicom reads it
        return int(_U16.unpack(value)[0])

    pi = values.get(0x00280004, (None, b""))[1].decode("ascii").strip("\0 ").upper()
    rows, columns = number(0x00280010, 0), number(0x00280011, 0)
    bits, stored = number(0x00280100, 0), number(0x00280101, 0)
    frames, samples = number(0x00280008, 1), number(0x00280002, 1)
    if not (pi in ("MONOCHROME1", "MONOCHROME2") and samples == 1 and bits in (8, 16)
            and 0 < stored <= bits and rows > 0 and columns > 0 and frames >= 1
            and len(pixels) >= frames * rows * columns * bits // 8):
        return None
    return Grey(_params_of(kept, implicit), pi, rows, columns, frames, bits, stored,
                number(0x00280103, 0) == 1, pixels)


def _params_of(kept: tuple[tuple[int, bytes | None, bytes], ...], implicit: bool
               ) -> Dataset:
    """The dataset of these raw elements: made once, then shared."""
    key = (implicit, kept)
    ds = _params.get(key)
    if ds is None:
        if len(_params) >= PARAMS_KEPT:
            _params.clear()
        ds = _params[key] = Dataset({Tag(tag): RawDataElement(
            Tag(tag), vr.decode() if vr else None, len(value), value, 0, implicit, True)
            for tag, vr, value in kept})
    return ds


def _meta(data: memoryview) -> tuple[str | None, int]:
    """(Transfer Syntax UID, where the data set starts) of a Part 10 file's bytes."""
    if bytes(data[132:138]) != b"\x02\x00\x00\x00UL":
        return None, 0
    (length,) = _U32.unpack_from(data, 140)
    pos, end = 144, 144 + length
    ts = None
    while pos + 8 <= end:
        group, elem, vr, n = _EXPLICIT.unpack_from(data, pos)
        vpos = pos + 8
        if vr in _LONG:
            (n,), vpos = _U32.unpack_from(data, pos + 8), pos + 12
        if (group, elem) == (2, 0x10):
            ts = bytes(data[vpos : vpos + n]).rstrip(b"\0 ").decode("ascii", "replace")
        pos = vpos + n
    return ts, end
