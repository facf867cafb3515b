"""One file of an outside medium, read the bounded way: its file meta, transfer syntax and
top-level elements (where each one is in the file), and the identifying attributes.

Files from outside are untrusted: values are skipped by their declared lengths without
being read (a 4 GiB element costs a few header reads), every length must fit the file,
sequences may nest only so deep and hold only so many items, and whatever does not parse
raises `BadFile` with the reason. Part 10 files and files without the preamble (a bare
data set, or group 0002 at byte 0) are both read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.valuerep import PersonName

from mw_tui.standard import sop

ReadAt = Callable[[int, int], bytes]  # (offset, count) -> at most `count` bytes

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_FIRST = 0x7FE00008  # Float Pixel Data, Double Float Pixel Data, Pixel Data
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                      b"UT", b"SV", b"UV"})
SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS",
                       b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL",
                       b"US"})
MAX_DEPTH = 32  # nesting of sequences
MAX_STRUCTURES = 1_000_000  # elements and items walked in one file
META_LIMIT = 64 * 1024
INFLATE_LIMIT = 64 * 1024 * 1024  # a deflated data set is inflated at most this far
_WINDOW = 64 * 1024

# The identifying attributes read from every file (tag -> keyword)
WANTED = {
    0x00080005: "SpecificCharacterSet", 0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID", 0x00080020: "StudyDate", 0x00080030: "StudyTime",
    0x00080050: "AccessionNumber", 0x00080060: "Modality", 0x00081030: "StudyDescription",
    0x0008103E: "SeriesDescription", 0x00100010: "PatientName", 0x00100020: "PatientID",
    0x00100021: "IssuerOfPatientID", 0x00100030: "PatientBirthDate", 0x00100040: "PatientSex",
    0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID", 0x00200010: "StudyID",
    0x00200011: "SeriesNumber", 0x00200013: "InstanceNumber",
}
_TEXT_VALUE_LIMIT = 1024
_PN = frozenset({"PatientName"})
_DECODED = frozenset({"AccessionNumber", "StudyDescription", "SeriesDescription", "PatientID",
                      "IssuerOfPatientID", "StudyID"})


class BadFile(ValueError):
    """The file cannot be read as DICOM; the message says why."""


@dataclass(frozen=True, slots=True)
class Element:
    """A top-level element: where it starts, where its value starts, its declared length
    and where it ends (after its delimiter, for an undefined length)."""

    tag: int
    start: int
    value: int
    length: int
    end: int
    vr: bytes | None


@dataclass(frozen=True, slots=True)
class FileHeader:
    """What reading a file found. Offsets are file offsets, except in an inflated data set
    (`inflated`), where they are offsets into `data`."""

    size: int
    dataset: int  # where the data set starts
    transfer_syntax: str
    part10: bool
    implicit: bool
    little: bool
    elements: tuple[Element, ...]  # top-level, up to the pixel data
    pixels: int  # where the first element at or after (7FE0,0008) starts (or the end)
    attrs: dict[str, str]
    raw: dict[int, bytes]  # raw values of the WANTED tags
    data: bytes | None = None  # the inflated data set of a deflated file

    def get(self, keyword: str) -> str:
        return self.attrs.get(keyword, "")


class Window:
    """Reads through a sliding window: one read per 64 KiB, whatever the element sizes."""

    def __init__(self, read_at: ReadAt, size: int) -> None:
        self.read_at = read_at
        self.size = size
        self.start = 0
        self.buf = b""

    def get(self, pos: int, n: int, what: str) -> bytes:
        if pos < 0 or pos + n > self.size:
            raise BadFile(f"truncated: the {what} at byte {pos} runs past the end of the file "
                          f"({self.size} bytes)")
        off = pos - self.start
        if off < 0 or off + n > len(self.buf):
            self.start = pos
            self.buf = self.read_at(pos, max(n, _WINDOW))
            off = 0
            if len(self.buf) < n:
                raise BadFile(f"the file could not be read at byte {pos}")
        return self.buf[off : off + n]


def looks_like_dicom(head: bytes) -> bool:
    """Whether the first bytes of a file (at least 132 of them when it has that many) are
    those of a DICOM file: Part 10, or a bare data set or file meta at byte 0."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    group, elem = struct.unpack_from("<HH", head)
    explicit = head[4:6] in SHORT_VRS or head[4:6] in LONG_VRS
    if group == 0x0800 and explicit and struct.unpack_from(">H", head, 2)[0] <= 0x0100:
        return True  # a bare big endian data set
    if group not in (0x0002, 0x0008) or elem > 0x0100:
        return False
    if explicit:
        return True
    (length,) = struct.unpack_from("<I", head, 4)
    return length <= 256  # implicit VR: a short first value


class Walker:
    """Element and item headers, read through a Window; every length checked."""

    def __init__(self, win: Window, implicit: bool, little: bool) -> None:
        self.win = win
        self.implicit = implicit
        self.h = struct.Struct("<HH" if little else ">HH")
        self.i = struct.Struct("<I" if little else ">I")
        self.s = struct.Struct("<H" if little else ">H")
        self.count = 0

    def element(self, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        head = self.win.get(pos, 8, "element header")
        g, e = self.h.unpack_from(head)
        tag = (g << 16) | e
        self.count += 1
        if self.count > MAX_STRUCTURES:
            raise BadFile(f"more than {MAX_STRUCTURES} elements and items")
        if implicit or g == 0xFFFE:
            return tag, None, pos + 8, self.i.unpack_from(head, 4)[0]
        vr = head[4:6]
        if vr in LONG_VRS:
            return tag, vr, pos + 12, self.i.unpack(self.win.get(pos + 8, 4, "length"))[0]
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise BadFile(f"invalid VR {vr!r} of tag {tag:08X} at byte {pos}")
        return tag, vr, pos + 8, self.s.unpack_from(head, 6)[0]

    def skip(self, tag: int, vr: bytes | None, vpos: int, length: int, depth: int,
             implicit: bool) -> int:
        """Where the value starting at `vpos` ends (checked against the file's size)."""
        if length != UNDEFINED:
            if vpos + length > self.win.size:
                raise BadFile(f"truncated: tag {tag:08X} declares {length} bytes at byte "
                              f"{vpos}, past the end of the file ({self.win.size} bytes)")
            return vpos + length
        if vr not in (None, b"SQ", b"UN", b"OB", b"OW") and tag != 0x7FE00010:
            raise BadFile(f"tag {tag:08X} ({vr!r}) has an undefined length")
        if depth > MAX_DEPTH:
            raise BadFile(f"sequences nested deeper than {MAX_DEPTH} levels")
        inner = implicit or vr == b"UN"
        pos = vpos
        while True:  # items (or fragments) up to the sequence delimiter
            itag, _, ipos, ilen = self.element(pos, True)
            if itag == SEQ_END:
                return ipos
            if itag != ITEM:
                raise BadFile(f"expected an item, found tag {itag:08X} at byte {pos}")
            if ilen != UNDEFINED:
                pos = self.skip(itag, None, ipos, ilen, depth, inner)
                continue
            pos = ipos
            while True:  # an undefined-length item: elements up to the item delimiter
                etag, evr, epos, elen = self.element(pos, inner)
                if etag == ITEM_END:
                    pos = epos
                    break
                pos = self.skip(etag, evr, epos, elen, depth + 1, inner)


def _meta(win: Window, start: int) -> tuple[int, str]:
    """(where the data set starts, transfer syntax) of the group 0002 at `start`."""
    pos, ts = start, ""
    walker = Walker(win, False, True)
    while pos + 8 <= win.size and pos - start < META_LIMIT:
        head = win.get(pos, 8, "file meta element")
        if struct.unpack_from("<H", head)[0] != 0x0002:
            break
        tag, vr, vpos, length = walker.element(pos, head[4:6] not in LONG_VRS | SHORT_VRS)
        if length == UNDEFINED or length > META_LIMIT:
            raise BadFile(f"file meta element {tag:08X} declares {length} bytes")
        if tag == 0x00020010:
            ts = win.get(vpos, length, "transfer syntax").decode("ascii", "replace")
            ts = ts.strip("\0 ")
        pos = walker.skip(tag, vr, vpos, length, 1, False)
    return pos, ts


def read_header(read_at: ReadAt, size: int) -> FileHeader:
    """Read a file of `size` bytes through `read_at`; BadFile when it is not DICOM."""
    win = Window(read_at, size)
    head = win.get(0, min(size, 136), "start")
    part10 = len(head) >= 132 and head[128:132] == b"DICM"
    if not looks_like_dicom(head):
        raise BadFile("not a DICOM file")
    dataset, ts = _meta(win, 132 if part10 else 0)
    if dataset >= size:
        raise BadFile("no data set after the file meta")
    first = win.get(dataset, min(8, size - dataset), "data set")
    explicit_written = len(first) >= 6 and 65 <= first[4] <= 90 and 65 <= first[5] <= 90
    if not ts and explicit_written and first[:2] == b"\x00\x08":
        ts = sop.EXPLICIT_VR_BE  # no file meta: (0008,xxxx) written big endian
    if not ts:
        ts = sop.EXPLICIT_VR_LE if explicit_written else sop.IMPLICIT_VR_LE
    elif ts == sop.EXPLICIT_VR_LE and not explicit_written:
        ts = sop.IMPLICIT_VR_LE  # the meta says explicit, the data set is written implicit
    little = ts != sop.EXPLICIT_VR_BE
    data: bytes | None = None
    if ts == sop.DEFLATED_EXPLICIT_VR_LE:
        data = _inflate(read_at(dataset, size - dataset))
        win, dataset, size = Window(lambda o, n: data[o : o + n], len(data)), 0, len(data)
        first = data[:8]
        explicit_written = len(first) >= 6 and 65 <= first[4] <= 90 and 65 <= first[5] <= 90
    implicit = ts == sop.IMPLICIT_VR_LE or not explicit_written
    walker = Walker(win, implicit, little)
    elements: list[Element] = []
    raw: dict[int, bytes] = {}
    pos, last, pixels = dataset, -1, size
    while pos < size:
        if size - pos < 8:
            if not any(win.get(pos, size - pos, "padding")):
                break
            raise BadFile(f"truncated: {size - pos} stray bytes at the end")
        tag, vr, vpos, length = walker.element(pos, implicit)
        if tag <= last:
            raise BadFile(f"tag {tag:08X} out of order or repeated at byte {pos}")
        if tag >> 16 in (0xFFFE, 0x0002):
            raise BadFile(f"tag {tag:08X} misplaced in the data set (byte {pos})")
        last = tag
        end = walker.skip(tag, vr, vpos, length, 1, implicit or vr == b"UN")
        if tag >= PIXEL_FIRST:
            pixels = min(pixels, pos)
        else:
            elements.append(Element(tag, pos, vpos, length, end, vr))
            if tag in WANTED and length <= _TEXT_VALUE_LIMIT:
                raw[tag] = win.get(vpos, length, "value")
        pos = end
    return FileHeader(size, dataset, ts, part10, implicit, little, tuple(elements), pixels,
                      decode_attrs(raw), raw, data)


def _inflate(compressed: bytes) -> bytes:
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = d.decompress(compressed, INFLATE_LIMIT)
    except zlib.error as exc:
        raise BadFile(f"the deflated data set cannot be inflated ({exc})") from exc
    if d.unconsumed_tail:
        raise BadFile(f"the deflated data set inflates to more than {INFLATE_LIMIT} bytes")
    return data


def encodings_of(charset: str) -> list[str]:
    """Python codecs for a Specific Character Set value."""
    terms = [c.strip() for c in charset.split("\\")] if charset else []
    try:
        return list(convert_encodings(terms or ["ISO_IR 6"]))
    except Exception:
        return ["iso8859"]


def decode_attrs(raw: dict[int, bytes]) -> dict[str, str]:
    """The WANTED values as text, in the data set's own character set."""
    charset = raw.get(0x00080005, b"").decode("ascii", "replace").strip("\0 ")
    encodings: list[str] | None = None
    out: dict[str, str] = {}
    for tag, value in raw.items():
        key = WANTED[tag]
        if value.isascii():
            text = value.decode("ascii")
        else:
            encodings = encodings or encodings_of(charset)
            try:
                if key in _PN:
                    text = str(PersonName(value.rstrip(b"\0 "), encodings))
                elif key in _DECODED:
                    text = decode_bytes(value, encodings, set())
                else:
                    text = value.decode("latin-1")
            except Exception:
                text = value.decode("latin-1")
        out[key] = text.strip("\0 ")
    return out
