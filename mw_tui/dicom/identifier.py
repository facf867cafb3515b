"""C-FIND identifiers: encode a query, decode the archive's answers fast.

Answers are flat data sets of a few short elements; a 500-study search brings 500 of
them, so they are read with a small element walker instead of building pydicom data sets
(which costs more than the network). Anything unusual (a sequence, an undefined length)
falls back to pydicom. Text is decoded with the answer's own Specific Character Set.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.valuerep import PersonName

from mw_tui.standard import sop

# The keys the station asks for or reads, at study, series and image level.
TAGS: dict[int, str] = {
    0x00080005: "SpecificCharacterSet",
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00080020: "StudyDate",
    0x00080021: "SeriesDate",
    0x00080030: "StudyTime",
    0x00080031: "SeriesTime",
    0x00080050: "AccessionNumber",
    0x00080052: "QueryRetrieveLevel",
    0x00080054: "RetrieveAETitle",
    0x00080060: "Modality",
    0x00080061: "ModalitiesInStudy",
    0x00080090: "ReferringPhysicianName",
    0x00081030: "StudyDescription",
    0x0008103E: "SeriesDescription",
    0x00100010: "PatientName",
    0x00100020: "PatientID",
    0x00100021: "IssuerOfPatientID",
    0x00100030: "PatientBirthDate",
    0x00100040: "PatientSex",
    0x00180015: "BodyPartExamined",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
    0x00200010: "StudyID",
    0x00200011: "SeriesNumber",
    0x00201200: "NumberOfPatientRelatedStudies",
    0x00201206: "NumberOfStudyRelatedSeries",
    0x00201208: "NumberOfStudyRelatedInstances",
    0x00201209: "NumberOfSeriesRelatedInstances",
}
_PN = frozenset({"PatientName", "ReferringPhysicianName"})
_TEXT = frozenset({"AccessionNumber", "StudyDescription", "SeriesDescription", "PatientID",
                   "IssuerOfPatientID", "StudyID", "BodyPartExamined"})
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                       b"UT", b"SV", b"UV"})
_HEAD = struct.Struct("<HHI")
_UNDEFINED = 0xFFFFFFFF

Identifier = dict[str, str]


def encode(values: Mapping[str, str], transfer_syntax: str) -> bytes:
    """The identifier holding `values` (keyword -> value; "" asks for the key)."""
    ds = Dataset()
    if any(not v.isascii() for v in values.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax == sop.IMPLICIT_VR_LE
    write_dataset(fp, ds)
    return fp.getvalue()


class _Fallback(Exception):
    pass


def decode(data: bytes, transfer_syntax: str) -> Identifier:
    """The known keys of an answer, as text (multiple values joined with a backslash)."""
    try:
        raw = _walk(data, transfer_syntax == sop.IMPLICIT_VR_LE)
    except (_Fallback, struct.error):
        raw = _with_pydicom(data, transfer_syntax)
    charset = raw.get("SpecificCharacterSet", b"").decode("ascii", "replace").strip("\0 ")
    encodings: list[str] | None = None
    out: Identifier = {}
    for key, value in raw.items():
        if value.isascii():
            text = value.decode("ascii")
        else:
            if encodings is None:
                encodings = _encodings(charset)
            if key in _PN:
                text = _person_name(value, encodings)
            elif key in _TEXT:
                try:
                    text = decode_bytes(value, encodings, set())
                except Exception:
                    text = value.decode("latin-1")
            else:
                text = value.decode("latin-1")
        out[key] = text.strip("\0 ")
    return out


def _encodings(charset: str) -> list[str]:
    terms = [c.strip() for c in charset.split("\\")] if charset else []
    try:
        return list(convert_encodings(terms or ["ISO_IR 6"]))
    except Exception:
        return ["iso8859"]


def _person_name(value: bytes, encodings: list[str]) -> str:
    try:
        return str(PersonName(value.rstrip(b"\0 "), encodings))
    except Exception:
        return value.decode("latin-1")


def _looks_explicit(data: bytes) -> bool:
    return len(data) < 6 or (65 <= data[4] <= 90 and 65 <= data[5] <= 90)


def _walk(data: bytes, implicit: bool) -> dict[str, bytes]:
    if not implicit and not _looks_explicit(data):
        implicit = True  # explicit VR announced, implicit written: read what is there
    out: dict[str, bytes] = {}
    pos, end = 0, len(data)
    while pos + 8 <= end:
        group, elem, length = _HEAD.unpack_from(data, pos)
        if implicit:
            vpos = pos + 8
        else:
            vr = data[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                (length,) = struct.unpack_from("<I", data, pos + 8)
                vpos = pos + 12
            else:
                length >>= 16  # the 2-byte length after the VR
                vpos = pos + 8
        if length == _UNDEFINED or vpos + length > end:
            raise _Fallback
        key = TAGS.get((group << 16) | elem)
        if key is not None:
            out[key] = data[vpos : vpos + length]
        pos = vpos + length
    return out


def _with_pydicom(data: bytes, transfer_syntax: str) -> dict[str, bytes]:
    """Raw values of the known keys, for answers the walker does not handle."""
    implicit = transfer_syntax == sop.IMPLICIT_VR_LE or not _looks_explicit(data)
    try:
        ds = read_dataset(io.BytesIO(data), implicit, True)
    except Exception:
        return {}
    out: dict[str, bytes] = {}
    for tag, key in TAGS.items():
        try:
            elem = ds.get_item(tag)
        except Exception:
            continue
        if elem is None:
            continue
        value = getattr(elem, "value", None)
        if isinstance(value, bytes):
            out[key] = value
        elif value is not None:
            out[key] = str(value).encode("utf-8")
    return out
