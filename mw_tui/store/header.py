"""A fast, bounded scan of a received dataset's top-level elements.

The receiver keeps every dataset byte-for-byte as it arrived; it only needs the
identifying attributes (for the path and the index) and a compact copy of the header
(for DICOMDIR records, built later without re-reading the files). This scanner walks the
top-level elements of the encoded dataset without decoding values, skips sequences and
encapsulated data structurally (checking that every length fits), keeps the elements
before the pixel data, and refuses malformed or truncated input
with `MalformedDataset` (never an unbounded allocation or recursion).
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass

from pydicom.charset import decode_bytes
from pydicom.datadict import DicomDictionary
from pydicom.valuerep import PersonName

from mw_tui.standard import sop

_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                       b"UT", b"SV", b"UV"})
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_FIRST = 0x7FE00008  # Float Pixel Data, Double Float Pixel Data, Pixel Data
MAX_DEPTH = 64  # nesting of sequences; real data stays far below
HEADER_VALUE_LIMIT = 64 * 1024  # larger values are bulk data: left out of the index copy
HEADER_LIMIT = 4 * 1024 * 1024  # the index copy of a header never exceeds this

# Tags read into the index (keyword -> tag)
TAGS = {
    "SpecificCharacterSet": 0x00080005,
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyDate": 0x00080020,
    "StudyTime": 0x00080030,
    "AccessionNumber": 0x00080050,
    "Modality": 0x00080060,
    "ReferringPhysicianName": 0x00080090,
    "StudyDescription": 0x00081030,
    "SeriesDescription": 0x0008103E,
    "PatientName": 0x00100010,
    "PatientID": 0x00100020,
    "PatientBirthDate": 0x00100030,
    "PatientSex": 0x00100040,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "StudyID": 0x00200010,
    "SeriesNumber": 0x00200011,
    "InstanceNumber": 0x00200013,
}
_WANTED = {v: k for k, v in TAGS.items()}


class MalformedDataset(ValueError):
    """The dataset cannot be parsed; the message says where and why."""


class NeedMore(Exception):
    """A prefix scan (`scan(..., total=...)`) needs bytes past the prefix it was given."""


class TooDeep(MalformedDataset):
    """Sequences nest deeper than MAX_DEPTH (readers that recurse would crash on it)."""


# tags whose value is a sequence: in implicit VR, the dictionary is all that tells
_SQ_TAGS = frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")


@dataclass(frozen=True, slots=True)
class Header:
    """What the store keeps about one dataset besides its bytes."""

    attrs: dict[str, str]  # decoded values of TAGS found in the dataset
    header: bytes  # top-level elements before the pixel data, bulk values left out
    implicit: bool  # encoding of `header`
    little: bool

    def get(self, keyword: str, default: str = "") -> str:
        return self.attrs.get(keyword, default)


class _Reader:
    __slots__ = ("avail", "buf", "end", "fmt_h", "fmt_i", "implicit", "little")

    def __init__(self, buf: memoryview, implicit: bool, little: bool, total: int) -> None:
        self.buf = buf
        self.avail = len(buf)  # bytes that can be read
        self.end = total  # bytes the dataset has (more than `avail` for a prefix scan)
        self.implicit = implicit
        self.little = little
        self.fmt_h = "<HH" if little else ">HH"
        self.fmt_i = "<I" if little else ">I"

    def need(self, pos: int, n: int, what: str) -> None:
        """`n` bytes at `pos` exist (else MalformedDataset) and can be read (else NeedMore)."""
        if pos + n > self.avail:
            if pos + n > self.end:
                raise MalformedDataset(f"truncated {what} at byte {pos}")
            raise NeedMore

    def element(self, pos: int, implicit: bool | None = None) -> tuple[int, bytes | None, int, int]:
        """(tag, vr, value offset, value length) of the element at `pos`."""
        self.need(pos, 8, "element header")
        g, e = struct.unpack_from(self.fmt_h, self.buf, pos)
        tag = (g << 16) | e
        if (self.implicit if implicit is None else implicit) or g == 0xFFFE:
            (length,) = struct.unpack_from(self.fmt_i, self.buf, pos + 4)
            return tag, None, pos + 8, length
        vr = bytes(self.buf[pos + 4 : pos + 6])
        if vr in _LONG_VRS:
            self.need(pos, 12, "element header")
            (length,) = struct.unpack_from(self.fmt_i, self.buf, pos + 8)
            return tag, vr, pos + 12, length
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise MalformedDataset(f"invalid VR {vr!r} for tag {tag:08X} at byte {pos}")
        (length,) = struct.unpack_from("<H" if self.little else ">H", self.buf, pos + 6)
        return tag, vr, pos + 8, length

    def skip_undefined(self, pos: int, depth: int, implicit: bool) -> int:
        """Skip the items of an undefined-length value starting at `pos`; return its end.

        The items of an undefined-length UN are implicit VR whatever the transfer syntax.
        """
        if depth > MAX_DEPTH:
            raise TooDeep(f"sequences nested deeper than {MAX_DEPTH} levels")
        while True:
            tag, _, vpos, length = self.element_item(pos)
            if tag == _SEQ_END:
                return vpos
            if tag != _ITEM:
                raise MalformedDataset(f"expected an item, found tag {tag:08X} at byte {pos}")
            if length != _UNDEFINED:
                self.need(vpos, length, "item")
                self.item_depth(vpos, vpos + length, depth, implicit)
                pos = vpos + length
                continue
            pos = vpos
            while True:  # an undefined-length item: elements up to the item delimiter
                tag, vr, vpos, length = self.element(pos, implicit)
                if tag == _ITEM_END:
                    pos = vpos
                    break
                pos = self.skip_value(vpos, length, depth + 1, tag, implicit or vr == b"UN",
                                      vr)

    def sequence_depth(self, pos: int, end: int, depth: int, implicit: bool) -> None:
        """Check how deep the items of a defined-length sequence nest (TooDeep).

        Their content is not otherwise judged here: what does not parse is left as it
        arrived, as before this check existed.
        """
        if depth > MAX_DEPTH:
            raise TooDeep(f"sequences nested deeper than {MAX_DEPTH} levels")
        try:
            while pos + 8 <= end:
                tag, _, vpos, length = self.element_item(pos)
                if tag != _ITEM:
                    return
                if length == _UNDEFINED:
                    pos = vpos
                    while pos < end:
                        tag, vr, vpos, length = self.element(pos, implicit)
                        if tag == _ITEM_END:
                            pos = vpos
                            break
                        pos = self.skip_value(vpos, length, depth + 1, tag,
                                              implicit or vr == b"UN", vr)
                    continue
                if vpos + length > end:
                    return
                self.item_depth(vpos, vpos + length, depth, implicit)
                pos = vpos + length
        except TooDeep:
            raise
        except (MalformedDataset, struct.error):
            return

    def item_depth(self, pos: int, end: int, depth: int, implicit: bool) -> None:
        """The elements of a defined-length item: only nesting depth is checked."""
        try:
            while pos + 8 <= end:
                tag, vr, vpos, length = self.element(pos, implicit)
                pos = self.skip_value(vpos, length, depth + 1, tag, implicit or vr == b"UN",
                                      vr)
        except TooDeep:
            raise
        except (MalformedDataset, struct.error):
            return

    def element_item(self, pos: int) -> tuple[int, None, int, int]:
        self.need(pos, 8, "item header")
        g, e = struct.unpack_from(self.fmt_h, self.buf, pos)
        (length,) = struct.unpack_from(self.fmt_i, self.buf, pos + 4)
        return (g << 16) | e, None, pos + 8, length

    def skip_value(self, vpos: int, length: int, depth: int, tag: int, implicit: bool,
                   vr: bytes | None = None) -> int:
        if length == _UNDEFINED:
            return self.skip_undefined(vpos, depth, implicit)
        if vpos + length > self.end:
            raise MalformedDataset(f"value of tag {tag:08X} runs past the end of the data "
                                   f"({length} bytes declared at byte {vpos})")
        if length >= 8 and (vr == b"SQ" or (vr is None and tag in _SQ_TAGS)):
            self.sequence_depth(vpos, vpos + length, depth, implicit)
        return vpos + length


def scan(data: bytes | bytearray | memoryview, transfer_syntax: str,
         total: int | None = None) -> Header:
    """Scan an encoded dataset (no preamble, no file meta) in `transfer_syntax`.

    With `total`, `data` is only the first bytes of a dataset of `total` bytes (the first
    fragments as they arrived): the scan gives the same result as on the whole dataset,
    or raises NeedMore when it would have to read past the prefix (then scan it whole).
    Bulk values (the pixel data) are skipped by their lengths without being read.
    """
    implicit = transfer_syntax == sop.IMPLICIT_VR_LE
    little = transfer_syntax != sop.EXPLICIT_VR_BE
    if total is None:
        total = len(data)
    elif total != len(data) and (transfer_syntax == sop.DEFLATED_EXPLICIT_VR_LE
                                 or len(data) < min(total, 6)):
        raise NeedMore
    if transfer_syntax == sop.DEFLATED_EXPLICIT_VR_LE:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = d.decompress(bytes(data), 64 * 1024 * 1024)  # the header is near the start
        except zlib.error as exc:
            raise MalformedDataset(f"deflated data set cannot be inflated: {exc}") from exc
        total = len(data)
    buf = memoryview(data)
    if not implicit and total >= 6 and not (65 <= buf[4] <= 90 and 65 <= buf[5] <= 90):
        implicit = True  # explicit VR announced, implicit VR written: read it as it is
    r = _Reader(buf, implicit, little, total)
    pos = 0
    last_tag = -1
    raw: dict[str, bytes] = {}
    keep: list[memoryview] = []
    kept = 0
    pixels = False
    while pos < r.end:
        if r.end - pos < 8:
            if r.end > r.avail:
                raise NeedMore
            if not any(buf[pos:]):
                break  # trailing padding
        start = pos
        tag, vr, vpos, length = r.element(pos)
        if tag >= _PIXEL_FIRST:
            pixels = True  # the index copy ends here; the rest is only checked for structure
        if tag <= last_tag:
            raise MalformedDataset(f"tag {tag:08X} out of order or repeated at byte {pos}")
        if tag >> 16 == 0xFFFE:
            raise MalformedDataset(f"item tag {tag:08X} at the top level (byte {pos})")
        last_tag = tag
        pos = r.skip_value(vpos, length, 1, tag, implicit or vr == b"UN", vr)
        if pixels:
            continue
        if pos > r.avail:
            raise NeedMore
        if tag in _WANTED and length != _UNDEFINED:
            raw[_WANTED[tag]] = bytes(buf[vpos:pos])
        size = pos - start
        if tag >> 16 != 0x0002 and size - (vpos - start) <= HEADER_VALUE_LIMIT and (
            kept + size <= HEADER_LIMIT
        ):
            keep.append(buf[start:pos])
            kept += size
    attrs = _decode(raw)
    return Header(attrs, b"".join(keep), implicit, little)


_PERSON = frozenset({"PatientName", "ReferringPhysicianName"})
_TEXT = frozenset({"StudyDescription", "SeriesDescription", "PatientID", "AccessionNumber",
                   "StudyID"})


def _decode(raw: dict[str, bytes]) -> dict[str, str]:
    charset = raw.get("SpecificCharacterSet", b"").decode("ascii", "replace")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key in _PERSON or key in _TEXT:
            # the instances of a study repeat the same names: each is decoded once
            out[key] = _decoded(key in _PERSON, value, charset)
        else:
            out[key] = value.decode("latin-1").strip("\0 ")
    if charset:
        out["SpecificCharacterSet"] = charset.strip("\0 ")
    return out


@functools.lru_cache(maxsize=256)
def _encodings(charset: str) -> tuple[str, ...]:
    encodings = [c.strip() for c in charset.strip("\0 ").split("\\")] if charset else []
    try:
        from pydicom.charset import convert_encodings

        return tuple(convert_encodings(encodings or ["ISO_IR 6"]))
    except Exception:
        return ("iso8859",)


@functools.lru_cache(maxsize=1024)
def _decoded(person: bool, value: bytes, charset: str) -> str:
    """A person's name or a text value in the data set's character set."""
    encodings = list(_encodings(charset))
    try:
        if person:
            text = str(PersonName(value.rstrip(b"\0 "), encodings))
        else:
            text = decode_bytes(value, encodings, set())
    except Exception:
        text = value.decode("latin-1")
    return text.strip("\0 ")
