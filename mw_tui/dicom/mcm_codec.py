"""The data sets of Media Creation Management (PS3.4 S.3.2): an N-CREATE's attributes read
into a `MediaRequest` (or the status refusing them, naming the attribute), the Initiate
action's information, and a `RequestState` written as the N-GET attribute list."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from mw_tui.config import is_valid_uid
from mw_tui.dicom.mcm import MediaRequest, Reference, RequestState
from mw_tui.standard import mcm, sop, status
from mw_tui.store import header

_FLAGS = {  # keyword -> MediaRequest field, YES/NO values
    "LabelUsingInformationExtractedFromInstances": "label_from_instances",
    "AllowMediaSplitting": "allow_splitting",
    "AllowLossyCompression": "allow_lossy",
    "IncludeDisplayApplication": "display_application",
    "PreserveCompositeInstancesAfterMediaCreation": "preserve",
}
_TEXTS = {  # keyword -> MediaRequest field
    "StorageMediaFileSetID": "fileset_id",
    "LabelText": "label_text",
    "LabelStyleSelection": "label_style",
    "MediaDisposition": "disposition",
    "BarcodeValue": "barcode",
    "BarcodeSymbology": "barcode_symbology",
}


class Refused(Exception):
    """The request's attributes cannot be used: `status` and a comment naming them."""

    def __init__(self, code: int, comment: str) -> None:
        super().__init__(comment)
        self.status = code
        self.comment = comment


def read(data: bytes, transfer_syntax: str) -> Dataset:
    """A data set the peer sent (Refused with Processing Failure when it cannot be read)."""
    implicit = transfer_syntax == sop.IMPLICIT_VR_LE
    little = transfer_syntax != sop.EXPLICIT_VR_BE
    try:
        header.scan(data, transfer_syntax)  # every length checked (pydicom reads past ends)
        ds = read_dataset(io.BytesIO(data), implicit, little)
        for elem in ds.iterall():  # every value converted now: a bad one fails here
            _ = elem.value
    except Exception as exc:
        raise Refused(status.PROCESSING_FAILURE, f"unreadable data set: {exc}"[:64]) from exc
    return ds


def encode(ds: Dataset, transfer_syntax: str) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = transfer_syntax != sop.EXPLICIT_VR_BE
    fp.is_implicit_VR = transfer_syntax == sop.IMPLICIT_VR_LE
    write_dataset(fp, ds)
    return fp.getvalue()


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _flag(ds: Dataset, keyword: str) -> bool | None:
    value = _text(ds, keyword).upper()
    if not value:
        return None
    if value not in ("YES", "NO"):
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, f"{keyword} must be YES or NO")
    return value == "YES"


def _uid(value: object, keyword: str) -> str:
    text = str(value or "").strip().rstrip("\0")
    if not text:
        raise Refused(status.MISSING_ATTRIBUTE_VALUE, f"{keyword} empty in an item")
    if not is_valid_uid(text):
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, f"{keyword} is not a UID")
    return text


def copies_of(ds: Dataset) -> int | None:
    if "NumberOfCopies" not in ds or ds.NumberOfCopies in (None, ""):
        return None
    try:
        n = int(ds.NumberOfCopies)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= 99:
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, "NumberOfCopies must be 1 to 99")
    return n


def priority_of(ds: Dataset) -> str:
    value = _text(ds, "RequestPriority").upper()
    if value and value not in mcm.PRIORITIES:
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, "RequestPriority: HIGH, MED or LOW")
    return value


def request_of(ds: Dataset) -> MediaRequest:
    """The N-CREATE attributes; Refused naming what is missing or wrong."""
    if "ReferencedSOPSequence" not in ds:
        raise Refused(status.MISSING_ATTRIBUTE, "ReferencedSOPSequence (0008,1199) missing")
    items = ds.ReferencedSOPSequence
    if not isinstance(items, Sequence):  # sent with another VR than SQ: no items to read
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, "ReferencedSOPSequence is not a sequence")
    if not items:
        raise Refused(status.MISSING_ATTRIBUTE_VALUE, "ReferencedSOPSequence is empty")
    refs: dict[str, Reference] = {}  # a repeated instance is put on the media once
    for item in items:
        uid = _uid(item.get("ReferencedSOPInstanceUID"), "ReferencedSOPInstanceUID")
        refs.setdefault(uid, Reference(
            _uid(item.get("ReferencedSOPClassUID"), "ReferencedSOPClassUID"), uid,
            _text(item, "RequestedMediaApplicationProfile")))
    non_dicom = _text(ds, "IncludeNonDICOMObjects").upper()
    if non_dicom and non_dicom not in mcm.NON_DICOM:
        raise Refused(status.INVALID_ATTRIBUTE_VALUE, "IncludeNonDICOMObjects: NO or FOR_...")
    fields: dict[str, Any] = {f: _text(ds, k) for k, f in _TEXTS.items()}
    fields.update({f: _flag(ds, k) for k, f in _FLAGS.items()})
    return MediaRequest(tuple(refs.values()), copies=copies_of(ds), priority=priority_of(ds),
                        non_dicom=non_dicom, **fields)


def _yes(value: bool | None) -> str:
    return "" if value is None else ("YES" if value else "NO")


def _seq(items: Iterable[Dataset]) -> Sequence:
    return Sequence(list(items))


def state_dataset(state: RequestState, wanted: Iterable[int] = ()) -> tuple[Dataset, bool]:
    """The N-GET attribute list of `state`: every attribute, or those `wanted` (tags);
    the second value is False when some wanted attribute is not one of them."""
    r = state.request
    ds = Dataset()
    ds.StorageMediaFileSetID = r.fileset_id
    ds.NumberOfCopies = r.copies if r.copies is not None else ""
    ds.RequestPriority = r.priority
    for keyword, name in _FLAGS.items():
        setattr(ds, keyword, _yes(getattr(r, name)))
    for keyword, name in _TEXTS.items():
        setattr(ds, keyword, getattr(r, name))
    ds.IncludeNonDICOMObjects = r.non_dicom
    ds.ReferencedSOPSequence = _seq(_reference(x.sop_class, x.sop_instance, x.profile)
                                    for x in r.references)
    ds.ExecutionStatus = state.status.value
    ds.ExecutionStatusInfo = state.info.value
    ds.TotalNumberOfPiecesOfMediaCreated = state.pieces
    failed = []
    for f in state.failed:
        item = _reference(f.sop_class, f.sop_instance)
        item.FailureReason = f.reason
        failed.append(item)
    ds.FailedSOPSequence = _seq(failed)
    media = []
    for label in state.media:
        item = Dataset()
        item.StorageMediaFileSetID = label
        media.append(item)
    ds.ReferencedStorageMediaSequence = _seq(media)
    complete = True
    if wanted:
        keep = set(wanted)
        complete = keep <= {e.tag for e in ds} | {0x00080005}
        for tag in [e.tag for e in ds if e.tag not in keep]:
            del ds[tag]
    if any(not str(getattr(r, f)).isascii() for f in _TEXTS.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds, complete


def _reference(sop_class: str, sop_instance: str, profile: str = "") -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    if profile:
        item.RequestedMediaApplicationProfile = profile
    return item
