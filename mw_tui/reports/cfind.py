"""C-FIND with pydicom data sets on the station's lean association (any SOP class).

The Query/Retrieve search (`mw_tui.dicom.find`) reads flat answers fast; report queries
are few and carry sequences and private attributes, so here the identifier is a pydicom
`Dataset` both ways. Every answer is decoded completely before it is handed on; one that
cannot be decoded is logged and skipped, never a crash. Waits are bounded by the
association's timeout and deadline; `cancel` sends C-CANCEL.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from mw_tui.dicom import commands
from mw_tui.dicom.client import Association
from mw_tui.standard import sop, status

log = logging.getLogger(__name__)

MAX_MATCHES = 1000  # answers kept per query; more are counted and dropped


@dataclass(frozen=True, slots=True)
class FindAnswer:
    matches: tuple[Dataset, ...]
    status: int
    comment: str
    dropped: int = 0  # answers that could not be decoded, or beyond MAX_MATCHES

    @property
    def failed(self) -> bool:
        return status.is_failure(self.status)

    @property
    def cancelled(self) -> bool:
        return self.status == status.CANCEL


def encode(ds: Dataset, transfer_syntax: str) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax == sop.IMPLICIT_VR_LE
    write_dataset(fp, ds)
    return fp.getvalue()


def _looks_explicit(data: bytes) -> bool:
    return len(data) < 6 or (65 <= data[4] <= 90 and 65 <= data[5] <= 90)


# Report texts: ST/LT by the dictionary, longer than those allow in real brokers' answers;
# read as UT (same encoding, no length limit) so pydicom does not warn about each one
LONG_TEXT_TAGS = frozenset({0x4008010B, 0x40080115, 0x40080300, 0x40084000})


def decode(data: bytes, transfer_syntax: str) -> Dataset:
    """The whole answer, every value converted (ValueError when it cannot be read)."""
    implicit = transfer_syntax == sop.IMPLICIT_VR_LE or not _looks_explicit(data)
    try:
        ds = read_dataset(io.BytesIO(data), implicit, True)
        for tag in LONG_TEXT_TAGS:
            raw = ds.get_item(tag) if tag in ds else None
            if isinstance(raw, RawDataElement):
                ds[tag] = raw._replace(VR="UT")
        for elem in ds.iterall():  # convert now: a bad value fails here, not later
            _ = elem.value
    except Exception as exc:
        raise ValueError(f"an answer that cannot be decoded ({exc!r:.200})") from exc
    return ds


def find(assoc: Association, context_id: int, query: Dataset, doing: str) -> FindAnswer:
    """Run one C-FIND on an open association; ArchiveError when the association fails."""
    ts = assoc.accepted[context_id][1]
    matches: list[Dataset] = []
    dropped = 0
    final = None
    for rsp in assoc.request(context_id, commands.C_FIND_RQ, encode(query, ts), doing=doing):
        if not rsp.message.is_pending:
            final = rsp.message
            continue
        if not rsp.dataset or assoc.cancel_sent:
            continue
        if len(matches) >= MAX_MATCHES:
            dropped += 1
            continue
        try:
            matches.append(decode(rsp.dataset, rsp.transfer_syntax))
        except ValueError as exc:
            dropped += 1
            log.warning("%s: skipping %s", assoc.peer, exc)
    code = final.status if final is not None and final.status is not None else status.SUCCESS
    if dropped:
        log.warning("%s: %d answers dropped (undecodable, or more than %d)", assoc.peer,
                    dropped, MAX_MATCHES)
    return FindAnswer(tuple(matches), code, final.error_comment if final else "", dropped)
