"""Where instances are: the archives asked, at IMAGE level, for SOP Instance UIDs.

Study Root C-FIND with a list of SOP Instance UIDs (List of UID Matching, PS3.4
C.2.2.2.2) and the study, series and SOP class asked back; an archive that refuses the
list is asked for one UID at a time. The archives are asked in configuration order, each
only for what the ones before did not hold. A dead archive is an error in the result,
never an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom import commands, identifier, messages
from mw_tui.dicom.client import ArchiveError, Association, Problem
from mw_tui.dicom.find import FIND_CONTEXT, FIND_SERVICE
from mw_tui.standard import sop, status

CHUNK = 100  # UIDs per query


@dataclass(frozen=True, slots=True)
class InstanceLocation:
    sop_uid: str
    sop_class: str
    study_uid: str
    series_uid: str
    archive: str


@dataclass(frozen=True, slots=True)
class InstancesLocated:
    found: dict[str, InstanceLocation]  # SOP Instance UID -> where
    errors: tuple[str, ...]  # what the archives that failed said


def locate_instances(config: Config, sop_uids: Iterable[str],
                     cancel: threading.Event | None = None,
                     archives: Iterable[Archive] | None = None) -> InstancesLocated:
    """The archives holding `sop_uids` (those nowhere are missing from `found`); all the
    configured ones unless `archives` names some (an import asks where it sent)."""
    wanted = list(dict.fromkeys(sop_uids))
    found: dict[str, InstanceLocation] = {}
    errors: list[str] = []
    for archive in config.archives if archives is None else archives:
        left = [u for u in wanted if u not in found]
        if not left:
            break
        try:
            found.update(_ask(config, archive, left, cancel))
        except ArchiveError as exc:
            errors.append(f"{archive.name}: {exc}")
    return InstancesLocated(found, tuple(errors))


def _ask(config: Config, archive: Archive, uids: list[str],
         cancel: threading.Event | None) -> dict[str, InstanceLocation]:
    peer = arch.peer_of(archive, config)
    started = time.monotonic()
    out: dict[str, InstanceLocation] = {}
    with Association(config.station.ae_title, peer, [FIND_CONTEXT], timeout=archive.timeout,
                     max_pdu=config.station.max_pdu, deadline=started + archive.timeout * 3,
                     cancel=cancel) as assoc:
        cid = assoc.context_for(sop.STUDY_ROOT_FIND, FIND_SERVICE)
        ts = assoc.accepted[cid][1]
        for start in range(0, len(uids), CHUNK):
            chunk = uids[start:start + CHUNK]
            code, comment = _query(assoc, cid, ts, chunk, archive.name, out)
            if status.is_failure(code) and len(chunk) > 1:  # no list matching: one by one
                for uid in chunk:
                    _query(assoc, cid, ts, [uid], archive.name, out)
            elif status.is_failure(code):
                raise ArchiveError(Problem.PROTOCOL, messages.failed_status(
                    peer, "search for instances", code, comment))
    return out


def _query(assoc: Association, cid: int, ts: str, uids: list[str], archive: str,
           out: dict[str, InstanceLocation]) -> tuple[int, str]:
    values = {"QueryRetrieveLevel": "IMAGE", "SOPInstanceUID": "\\".join(uids),
              "SOPClassUID": "", "StudyInstanceUID": "", "SeriesInstanceUID": ""}
    code, comment = status.SUCCESS, ""
    for rsp in assoc.request(cid, commands.C_FIND_RQ, identifier.encode(values, ts),
                             doing="looking for instances"):
        if rsp.message.is_pending and rsp.dataset:
            ident = identifier.decode(rsp.dataset, rsp.transfer_syntax)
            uid = ident.get("SOPInstanceUID", "")
            if uid in uids and ident.get("StudyInstanceUID"):
                out[uid] = InstanceLocation(uid, ident.get("SOPClassUID", ""),
                                            ident["StudyInstanceUID"],
                                            ident.get("SeriesInstanceUID", ""), archive)
        elif not rsp.message.is_pending:
            code = rsp.message.status if rsp.message.status is not None else status.SUCCESS
            comment = rsp.message.error_comment
    return code, comment
