"""The attributes an import changes, and nothing else: patient name, ID, issuer, birth
date and sex replaced by the local ones, the outside ID kept in Other Patient IDs Sequence
(with its issuer and qualifiers), optionally the accession number and new UIDs.

Usually only the first elements of the data set (groups 0008 to 0010) are re-encoded, in
the data set's own transfer syntax and character set, and the rest of the file goes out
as it is: pixel data are never decoded, byte for byte the outside ones. New UIDs, and a
local name the data set's character set cannot hold, need the elements before the pixel
data decoded (pydicom; then text is re-encoded as UTF-8), at most `DECODE_LIMIT` bytes.
"""

from __future__ import annotations

import io
import struct
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from pydicom import config as pydicom_config
from pydicom.charset import encode_string
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from mw_tui.importing.elements import LONG_VRS, UNDEFINED, FileHeader, ReadAt, encodings_of
from mw_tui.importing.plan import LocalPatient
from mw_tui.standard import sop

DECODE_LIMIT = 64 * 1024 * 1024
HEAD_LIMIT = 64 * 1024 * 1024
CHUNK = 1 << 20
UTF8 = "ISO_IR 192"
CHARSET, ACCESSION = 0x00080005, 0x00080050
NAME, PID, ISSUER, TYPE, QUALIFIERS = 0x00100010, 0x00100020, 0x00100021, 0x00100022, 0x00100024
BIRTH, SEX, OTHER_IDS = 0x00100030, 0x00100040, 0x00101002
_VR = {CHARSET: b"CS", ACCESSION: b"SH", NAME: b"PN", PID: b"LO", ISSUER: b"LO", TYPE: b"CS",
       BIRTH: b"DA", SEX: b"CS", OTHER_IDS: b"SQ"}
_LAST = 0x0010FFFF  # every tag an import may change is at or below this


class RewriteError(Exception):
    """The instance cannot be changed as planned; the message says why."""


@dataclass(frozen=True, slots=True)
class UidMap:
    """New UIDs derived from the outside ones and the import's salt: the same outside UID
    always gets the same new one (a resumed import sends the same instances)."""

    salt: str
    known: frozenset[str]  # the outside Study, Series and SOP Instance UIDs of the medium

    def __call__(self, uid: str) -> str:
        if uid not in self.known:
            return uid
        return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'{self.salt}/{uid}').int}"


@dataclass(frozen=True, slots=True)
class Changes:
    local: LocalPatient | None  # None: keep the outside patient attributes
    accession: str = ""
    uids: UidMap | None = None

    @property
    def none(self) -> bool:
        return self.local is None and not self.accession and self.uids is None


@dataclass(frozen=True, slots=True)
class Prepared:
    """An instance ready to send: `head`, then bytes `tail_start`..`tail_end` of the file
    (or of `data`, an inflated data set) exactly as they are."""

    transfer_syntax: str
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    head: bytes
    tail_start: int
    tail_end: int
    data: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.head) + self.tail_end - self.tail_start

    def chunks(self, read_at: ReadAt) -> Iterator[bytes]:
        if self.head:
            yield self.head
        pos = self.tail_start
        while pos < self.tail_end:
            n = min(CHUNK, self.tail_end - pos)
            block = self.data[pos : pos + n] if self.data is not None else read_at(pos, n)
            if len(block) != n:
                raise RewriteError(f"the file changed while it was sent (short read at byte "
                                   f"{pos})")
            yield block
            pos += n

    def bytes(self, read_at: ReadAt) -> bytes:
        return b"".join(self.chunks(read_at))


def prepare(header: FileHeader, read_at: ReadAt, changes: Changes) -> Prepared:
    """The instance of `header` with `changes` applied; RewriteError when impossible."""
    sop_class, sop_uid = header.get("SOPClassUID"), header.get("SOPInstanceUID")
    study = header.get("StudyInstanceUID")
    if header.data is not None:  # deflated: sent inflated, as Explicit VR Little Endian
        ts = sop.EXPLICIT_VR_LE
        read_at = _reader(header.data)
    else:
        ts = header.transfer_syntax
    if changes.none:
        return Prepared(ts, sop_class, sop_uid, study, b"", header.dataset, header.size,
                        header.data)
    if changes.uids is None:
        lean = _lean(header, read_at, changes, ts)
        if lean is not None:
            return lean
    return _decoded(header, read_at, changes, ts)


def _reader(data: bytes) -> ReadAt:
    return lambda offset, count: data[offset : offset + count]


def _element(tag: int, value: bytes, implicit: bool, little: bool) -> bytes:
    e = "<" if little else ">"
    if implicit:
        return struct.pack(f"{e}HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    vr = _VR[tag]
    if vr in LONG_VRS:
        return struct.pack(f"{e}HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack(f"{e}HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _encode_text(tag: int, value: str, encodings: list[str]) -> bytes | None:
    """`value` in the data set's character set (padded to an even length), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a character replaced by "?" is a failure
            if _VR[tag] == b"PN":
                raw = PersonName(value).encode(encodings)
            else:
                raw = encode_string(value, encodings)
    except Exception:
        return None
    return raw + (b" " if len(raw) % 2 else b"")


def _plain(charset: str) -> bool:
    """The default repertoire (ASCII): any other value needs a character set."""
    return charset.strip() in ("", "ISO_IR 6")


def _targets(changes: Changes) -> dict[int, str | None]:
    """tag -> new text (None: remove) for the simple values."""
    out: dict[int, str | None] = {}
    local = changes.local
    if local is not None:
        out[PID] = local.patient_id
        out[ISSUER] = local.issuer or None
        out[QUALIFIERS] = None  # they qualified the outside issuer: kept with the outside ID
        for tag, value in ((NAME, local.name), (BIRTH, local.birth_date), (SEX, local.sex)):
            if value:
                out[tag] = value
    if changes.accession:
        out[ACCESSION] = changes.accession
    return out


def _lean(header: FileHeader, read_at: ReadAt, changes: Changes, ts: str) -> Prepared | None:
    """Only groups up to 0010 re-encoded; None when the data set needs decoding."""
    implicit, little = header.implicit, header.little
    region = [e for e in header.elements if e.tag <= _LAST]
    start = header.dataset
    split = region[-1].end if region else start
    if split - start > HEAD_LIMIT:
        raise RewriteError(f"its first elements take {split - start} bytes, more than an "
                           "import re-encodes")
    head = read_at(start, split - start)
    existing = {e.tag: head[e.start - start : e.end - start] for e in region}
    for tag in (PID, ISSUER):
        if tag in existing and tag not in header.raw:
            return None  # an outside ID too long to be a real one: let pydicom judge
    charset = header.raw.get(CHARSET, b"").decode("latin-1").strip("\0 ")
    encodings = encodings_of(charset)
    new: dict[int, bytes | None] = {}
    texts = _targets(changes)
    if any(v is not None and not v.isascii() for v in texts.values()) and _plain(charset):
        charset, encodings = UTF8, ["utf_8"]  # no character set so far: all of it is ASCII
        new[CHARSET] = b"ISO_IR 192"
    for tag, text in texts.items():
        if text is None:
            new[tag] = None
            continue
        raw = _encode_text(tag, text, encodings)
        if raw is None:
            return None  # not in the data set's character set: re-encode all as UTF-8
        new[tag] = raw
    if changes.local is not None:
        other = _other_ids(header, existing, changes.local, implicit, little, encodings)
        if other is not None:
            new[OTHER_IDS] = other
    for tag in (0x00080000, 0x00100000):
        new.setdefault(tag, None)  # group lengths (retired) would no longer be right
    parts = []
    for tag in sorted(existing.keys() | {t for t, v in new.items() if v is not None}):
        if tag not in new:
            parts.append(existing[tag])
        elif new[tag] is not None:
            parts.append(_element(tag, new[tag] or b"", implicit, little))
    sop_class, sop_uid = header.get("SOPClassUID"), header.get("SOPInstanceUID")
    return Prepared(ts, sop_class, sop_uid, header.get("StudyInstanceUID"), b"".join(parts),
                    split, header.size, header.data)


def _other_ids(header: FileHeader, existing: dict[int, bytes], local: LocalPatient,
               implicit: bool, little: bool, encodings: list[str]) -> bytes | None:
    """The value of the new Other Patient IDs Sequence (None: leave it as it is)."""
    old_id = header.raw.get(PID, b"")
    old_issuer = header.raw.get(ISSUER, b"")
    outside = (header.get("PatientID"), header.get("IssuerOfPatientID"))
    if not outside[0] or outside == (local.patient_id, local.issuer):
        return None
    items = b""
    if OTHER_IDS in existing:
        element = existing[OTHER_IDS]
        if outside in _listed_ids(element, implicit, little, encodings):
            return None
        items = _items(element, implicit, little)
    body = _element(PID, old_id, implicit, little)
    if old_issuer.strip(b"\0 "):
        body += _element(ISSUER, old_issuer, implicit, little)
    body += _element(TYPE, b"TEXT", implicit, little)
    body += existing.get(QUALIFIERS, b"")
    e = "<" if little else ">"
    return items + struct.pack(f"{e}HHI", 0xFFFE, 0xE000, len(body)) + body


def _items(element: bytes, implicit: bool, little: bool) -> bytes:
    """The items of an encoded sequence element (without its header and delimiter)."""
    e = "<" if little else ">"
    if implicit:
        (length,) = struct.unpack_from(f"{e}I", element, 4)
        start = 8
    else:
        (length,) = struct.unpack_from(f"{e}I", element, 8)
        start = 12
    return element[start : len(element) - 8] if length == UNDEFINED else element[start:]


def _listed_ids(element: bytes, implicit: bool, little: bool, encodings: list[str]
                ) -> set[tuple[str, str]]:
    try:
        ds = read_dataset(io.BytesIO(element), implicit, little)
        ds.set_original_encoding(implicit, little, encodings)
        return {(str(i.get("PatientID", "")), str(i.get("IssuerOfPatientID", "")))
                for i in ds.get("OtherPatientIDsSequence", [])}
    except Exception:
        return set()


def _decoded(header: FileHeader, read_at: ReadAt, changes: Changes, ts: str) -> Prepared:
    """Everything before the pixel data decoded with pydicom, changed, encoded again."""
    start, end = header.dataset, header.pixels
    if end - start > DECODE_LIMIT:
        raise RewriteError(f"the elements before its pixel data take {end - start} bytes, "
                           f"more than the {DECODE_LIMIT >> 20} MiB an import decodes")
    try:
        with warnings.catch_warnings(), pydicom_config.disable_value_validation():
            warnings.simplefilter("ignore")
            ds = read_dataset(io.BytesIO(read_at(start, end - start)), header.implicit,
                              header.little)
            for _ in ds.iterall():  # decode every value while the old character set holds
                pass
            _apply(ds, changes)
            fp = DicomBytesIO()
            fp.is_little_endian = header.little
            fp.is_implicit_VR = header.implicit
            write_dataset(fp, ds)
    except RewriteError:
        raise
    except Exception as exc:
        raise RewriteError(f"its elements cannot be decoded and encoded again ({exc})") from exc
    uid = str(ds.get("SOPInstanceUID", header.get("SOPInstanceUID")))
    study = str(ds.get("StudyInstanceUID", header.get("StudyInstanceUID")))
    return Prepared(ts, header.get("SOPClassUID"), uid, study, fp.getvalue(), end,
                    header.size, header.data)


def _apply(ds: Dataset, changes: Changes) -> None:
    texts = _targets(changes)
    charset = ds.get("SpecificCharacterSet", "")
    charset = "\\".join(charset) if not isinstance(charset, str) else charset
    encodings = encodings_of(charset)
    if any(v is not None and (_encode_text(t, v, encodings) is None
                              or (not v.isascii() and _plain(charset)))
           for t, v in texts.items()):
        ds.SpecificCharacterSet = UTF8
    local = changes.local
    if local is not None:
        outside = (str(ds.get("PatientID", "")), str(ds.get("IssuerOfPatientID", "")))
        qualifiers = ds.get("IssuerOfPatientIDQualifiersSequence")
        listed = {(str(i.get("PatientID", "")), str(i.get("IssuerOfPatientID", "")))
                  for i in ds.get("OtherPatientIDsSequence", [])}
        if outside[0] and outside != (local.patient_id, local.issuer) and outside not in listed:
            item = Dataset()
            item.PatientID = outside[0]
            if outside[1]:
                item.IssuerOfPatientID = outside[1]
            item.TypeOfPatientID = "TEXT"
            if qualifiers is not None:
                item.IssuerOfPatientIDQualifiersSequence = qualifiers
            ds.OtherPatientIDsSequence = Sequence([*ds.get("OtherPatientIDsSequence", []),
                                                   item])
    keywords = {NAME: "PatientName", PID: "PatientID", ISSUER: "IssuerOfPatientID",
                QUALIFIERS: "IssuerOfPatientIDQualifiersSequence", BIRTH: "PatientBirthDate",
                SEX: "PatientSex", ACCESSION: "AccessionNumber"}
    for tag, value in texts.items():
        if value is None:
            if keywords[tag] in ds:
                delattr(ds, keywords[tag])
        else:
            setattr(ds, keywords[tag], value)
    if changes.uids is not None:
        for elem in ds.iterall():
            if elem.VR == "UI" and elem.value:
                if isinstance(elem.value, str):
                    elem.value = changes.uids(elem.value)
                else:
                    elem.value = [changes.uids(str(v)) for v in elem.value]
