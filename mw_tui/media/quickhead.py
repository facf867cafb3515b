"""The few attributes a preview needs, read from a file without parsing all of it.

Reading a CT image with pydicom costs a third of a millisecond, mostly for the elements
a preview never looks at (a third of what rendering it costs). Most images the station
renders are grey and stored natively, little endian, as its own receiver wrote them:
`read()` walks their top-level elements, keeps the raw values of those that decide how
the pixels are shown (pydicom converts them when they are read, as it would have), and
the pixel data. Anything else (another transfer syntax, colour, a modality or VOI LUT
sequence, enhanced functional groups, an undefined length, a damaged file) returns
None: the caller then reads the file with pydicom, as before.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

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
_NATIVE = {str(ExplicitVRLittleEndian): False, str(ImplicitVRLittleEndian): True}


def read(path: Path) -> Dataset | None:
    """The rendering attributes and pixel data of a grey, natively stored image file
    (its Transfer Syntax in `file_meta`), or None (read it with pydicom)."""
    return parse(path.read_bytes())


def parse(data: bytes) -> Dataset | None:
    """`read()` of a file's bytes."""
    try:
        return _read(data)
    except (struct.error, ValueError):  # damaged: pydicom says how
        return None


def _read(data: bytes) -> Dataset | None:
    if data[128:132] != b"DICM":
        return None
    ts, pos = _meta(data)
    implicit = _NATIVE.get(ts or "")
    if implicit is None:
        return None
    raw: dict[BaseTag, DataElement | RawDataElement] = {}
    end = len(data)
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", data, pos)
        tag = group << 16 | elem
        if implicit:
            vr, (length,), vpos = None, struct.unpack_from("<I", data, pos + 4), pos + 8
        else:
            vr = data[pos + 4 : pos + 6]
            if vr in _LONG:
                if pos + 12 > end:
                    return None
                (length,), vpos = struct.unpack_from("<I", data, pos + 8), pos + 12
            else:
                (length,), vpos = struct.unpack_from("<H", data, pos + 6), pos + 8
        if length == 0xFFFFFFFF or vpos + length > end or tag in ELSEWHERE:
            return None
        if tag in KEEP or tag == PIXEL_DATA:
            raw[Tag(tag)] = RawDataElement(Tag(tag), vr.decode() if vr else None, length,
                                      data[vpos : vpos + length], vpos, implicit, True)
        if tag == PIXEL_DATA:
            break
        pos = vpos + length
    if Tag(PIXEL_DATA) not in raw:
        return None
    ds = Dataset(raw)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(ts or "")
    return ds if _grey_native(ds) else None


def _meta(data: bytes) -> tuple[str | None, int]:
    """(Transfer Syntax UID, where the data set starts) of a Part 10 file's bytes."""
    if data[132:136] != b"\x02\x00\x00\x00" or data[136:138] != b"UL":
        return None, 0
    (length,) = struct.unpack_from("<I", data, 140)
    pos, end = 144, 144 + length
    ts = None
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", data, pos)
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG:
            (n,), vpos = struct.unpack_from("<I", data, pos + 8), pos + 12
        else:
            (n,), vpos = struct.unpack_from("<H", data, pos + 6), pos + 8
        if (group, elem) == (2, 0x10):
            ts = data[vpos : vpos + n].rstrip(b"\0 ").decode("ascii", "replace")
        pos = vpos + n
    return ts, end


def _grey_native(ds: Dataset) -> bool:
    """Whether `native_frame` can show every frame of `ds` (else pydicom reads it)."""
    try:
        pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
        bits, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
        frames = int(ds.get("NumberOfFrames") or 1)
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        samples = int(ds.get("SamplesPerPixel") or 1)
        length = len(ds.PixelData)
    except (TypeError, ValueError, AttributeError):
        return False
    return (pi in ("MONOCHROME1", "MONOCHROME2") and samples == 1 and bits in (8, 16)
            and 0 < stored <= bits and rows > 0 and columns > 0 and frames >= 1
            and length >= frames * rows * columns * bits // 8)
