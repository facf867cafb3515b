"""One stored instance into the bytes of its de-identified copy.

Only the header is parsed (pydicom stops before the pixel data); the new header is encoded
in the instance's own transfer syntax and followed by the pixel data element exactly as it
is in the file (native or encapsulated), so the pixels are never decoded and stay byte for
byte the same. Elements after the pixel data (padding, signatures, private) go through the
same rules. Elements the rules leave alone are copied from the file as they are. A deflated
instance is inflated and written as Explicit VR Little Endian (its pixel data unchanged).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.valuerep import PersonName

from mw_tui.deid.rules import Context, deidentify, walk
from mw_tui.standard import sop

# classes whose pixels or document commonly show the patient's name (PS3.15 E.1.1 note)
BURNED_IN_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
    "1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound
    "1.2.840.10008.5.1.4.1.1.3", "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame
    sop.ENCAPSULATED_PDF,
})
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                       b"UT", b"SV", b"UV"})
_ITEM, _SEQ_END, _UNDEFINED = 0xFFFEE000, 0xFFFEE0DD, 0xFFFFFFFF
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_ASCII_VRS = frozenset({"AE", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
                        "UT"})

Chunk = bytes | memoryview


class InstanceError(ValueError):
    """The instance cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Original:
    """A stored instance's header, read, with where its pixel data lies in the file."""

    header: Dataset
    data: bytes  # the dataset's bytes as the header was read (the file, or it inflated)
    transfer_syntax: str
    pixels: tuple[int, int]  # start and end of the pixel data element in `data` (equal: none)
    raw: dict[BaseTag, DataElement | RawDataElement]  # as read: kept ones copied as they are

    @property
    def burned_in(self) -> bool:
        """Whether its pixels or document may show the patient's name."""
        flag = self.header.get("BurnedInAnnotation", "")
        flag = str(flag).strip().upper() if flag is not None else ""
        return flag == "YES" or str(self.header.get("SOPClassUID", "")) in BURNED_IN_CLASSES


@dataclass(frozen=True, slots=True)
class Copy:
    """The de-identified copy: what the work store is given."""

    sop_class: str
    sop_uid: str
    transfer_syntax: str
    chunks: tuple[Chunk, ...]


def _element_end(buf: bytes, pos: int, implicit: bool, little: bool) -> int:
    """Where the element starting at `pos` ends (undefined lengths walked item by item)."""
    end = len(buf)
    e = "<" if little else ">"
    if pos + 8 > end:
        raise InstanceError(f"truncated pixel data element at byte {pos}")
    if implicit:
        (length,), vpos = struct.unpack_from(e + "I", buf, pos + 4), pos + 8
    elif buf[pos + 4:pos + 6] in _LONG_VRS:
        (length,), vpos = struct.unpack_from(e + "I", buf, pos + 8), pos + 12
    else:
        (length,), vpos = struct.unpack_from(e + "H", buf, pos + 6), pos + 8
    if length != _UNDEFINED:
        if vpos + length > end:
            raise InstanceError(f"the pixel data runs past the end of the file (byte {pos})")
        return vpos + length
    p = vpos
    while p + 8 <= end:
        group, elem, n = struct.unpack_from(e + "HHI", buf, p)
        tag, p = (group << 16) | elem, p + 8
        if tag == _SEQ_END:
            return p
        if tag != _ITEM or n == _UNDEFINED or p + n > end:
            raise InstanceError(f"malformed encapsulated pixel data at byte {p - 8}")
        p += n
    raise InstanceError("the encapsulated pixel data has no end (truncated file)")


def _at_pixels(tag: int, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def read_original(path: Path, transfer_syntax: str) -> Original:
    """The header of the store's Part 10 file at `path` (its transfer syntax as the index
    says), or InstanceError."""
    try:
        data = path.read_bytes()
        if len(data) < 144 or data[128:136] != b"DICM\x02\x00\x00\x00":
            raise InstanceError(f"{path.name} is not a Part 10 file with a group length")
        (meta_len,) = struct.unpack_from("<I", data, 140)
        offset = 144 + meta_len
        ts = transfer_syntax
        if ts == sop.DEFLATED_EXPLICIT_VR_LE:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[offset:])
            ts, offset = sop.EXPLICIT_VR_LE, 0
        implicit, little = ts == sop.IMPLICIT_VR_LE, ts != sop.EXPLICIT_VR_BE
        stream = io.BytesIO(data)
        stream.seek(offset)
        header = read_dataset(stream, implicit, little, stop_when=_at_pixels)
        start = end = stream.tell()
        if start < len(data):
            end = _element_end(data, start, implicit, little)
        return Original(header, data, ts, (start, end), dict(header._dict))
    except (InstanceError, FileNotFoundError):
        raise
    except (OSError, InvalidDicomError, ValueError, KeyError, AttributeError, struct.error,
            zlib.error) as exc:
        raise InstanceError(f"cannot read {path.name}: {exc}") from exc


def _encode(ds: Dataset, implicit: bool, little: bool, original: Original | None = None) -> bytes:
    """`ds` encoded; its elements still as they were read are copied from the original."""
    fp = DicomBytesIO()
    fp.is_little_endian = little
    fp.is_implicit_VR = implicit
    if original is None:
        write_dataset(fp, ds)
        return fp.getvalue()
    encodings = ds._character_set
    data, raw = original.data, original.raw
    for tag in sorted(ds._dict):
        elem = ds._dict[tag]
        if elem is raw.get(tag) and isinstance(elem, RawDataElement) and (
                elem.length != _UNDEFINED and elem.value_tell is not None):
            head = 8 if implicit or (elem.VR or "").encode() not in _LONG_VRS else 12
            fp.write(data[elem.value_tell - head:elem.value_tell + elem.length])
        else:
            item = ds.get_item(tag)
            fast = _ascii_element(item, implicit) if little else None
            if fast is None:
                write_data_element(fp, item, encodings)
            else:
                fp.write(fast)
    return fp.getvalue()


def _ascii_element(elem: DataElement | RawDataElement, implicit: bool) -> bytes | None:
    """A text element whose value is plain ASCII, encoded (Little Endian); None for any
    other (pydicom encodes it)."""
    if elem.is_raw or elem.VR not in _ASCII_VRS:
        return None
    value = elem.value
    if value is None:
        text = ""
    elif isinstance(value, str | PersonName):
        text = str(value)
    elif isinstance(value, list | MultiValue) and all(isinstance(v, str) for v in value):
        text = "\\".join(value)
    else:
        return None
    if not text.isascii():
        return None
    body = text.encode("ascii")
    if len(body) % 2:
        body += b"\0" if elem.VR == "UI" else b" "
    tag = elem.tag
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(body)) + body
    vr = elem.VR.encode()
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(body)) + body
    if len(body) > 0xFFFF:
        return None
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(body)) + body


def make_copy(original: Original, ctx: Context) -> Copy:
    """De-identify `original` (its header in place) into the chunks of its copy."""
    ts = original.transfer_syntax
    implicit, little = ts == sop.IMPLICIT_VR_LE, ts != sop.EXPLICIT_VR_BE
    ds = original.header
    deidentify(ds, ctx)
    head = _encode(ds, implicit, little, original)
    start, end = original.pixels
    data = original.data
    if end == start:
        return Copy(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts, (head,))
    # the pixel data element's own header goes with the new header: the store then finds
    # the whole structure in the first chunk and never joins the pixel data to look at it
    split = start + (8 if implicit or data[start + 4:start + 6] not in _LONG_VRS else 12)
    chunks: list[Chunk] = [head + data[start:split], memoryview(data)[split:end]]
    if data[end:].strip(b"\0"):
        try:
            tail = read_dataset(io.BytesIO(data[end:]), implicit, little)
        except Exception as exc:
            raise InstanceError(f"cannot read what follows the pixel data: {exc}") from exc
        walk(tail, ctx)
        chunks.append(_encode(tail, implicit, little))
    return Copy(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts, tuple(chunks))

