"""Where prepared instances go: an archive (our own Storage SCU over the lean association
of `mw_tui.dicom.client`) or a cloud target (STOW-RS). One channel is one association
or one HTTP session, used by one thread.

An instance travels in its own transfer syntax whenever the archive accepted it for its
SOP class; otherwise it is converted (`convert.py`) to one the archive accepted. A
channel that breaks raises `ChannelError`; an instance the archive refuses is an
`Outcome` with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from mw_tui.config import Archive, CloudTarget, Config
from mw_tui.config.paths import StoragePaths
from mw_tui.devices.writers.stow import session_for
from mw_tui.dicom import archives as arch
from mw_tui.dicom.client import ArchiveError, Association, Proposal
from mw_tui.importing.convert import convert
from mw_tui.importing.elements import ReadAt
from mw_tui.importing.rewrite import Prepared, RewriteError
from mw_tui.importing.sources import GONE_ERRNOS
from mw_tui.standard import sop, status
from mw_tui.store.ingest import file_meta

MAX_CONTEXTS = 128
NATIVE = (sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE)
Abort = Callable[[], bool]


class ChannelError(Exception):
    """The connection failed (or never came up); `opening` when it could not be made."""

    def __init__(self, message: str, opening: bool = False) -> None:
        super().__init__(message)
        self.opening = opening


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    reason: str = ""  # why it was refused, or the archive's warning
    converted_to: str = ""  # the transfer syntax it was converted to, if it was


def proposals(pairs: Iterable[tuple[str, str]]) -> list[Proposal]:
    """Presentation contexts for (SOP class, transfer syntax) pairs: each pair on its own
    (so each instance can travel as it is), plus the uncompressed ones to convert to;
    one context per SOP class listing them all when that would pass 128."""
    by_class: dict[str, list[str]] = {}
    for sop_class, ts in sorted(set(pairs)):
        by_class.setdefault(sop_class, []).append(ts)
    single = [Proposal(c, (t,)) for c, tss in by_class.items()
              for t in dict.fromkeys([*tss, *NATIVE])]
    if len(single) <= MAX_CONTEXTS:
        return single
    merged = [Proposal(c, tuple(dict.fromkeys([*tss, *NATIVE]))) for c, tss in by_class.items()]
    return merged[:MAX_CONTEXTS]


class StoreChannel:
    """One association to an archive, C-STORE after C-STORE."""

    def __init__(self, config: Config, archive: Archive, contexts: list[Proposal]) -> None:
        self.peer = arch.peer_of(archive, config)
        self.assoc = Association(config.station.ae_title, self.peer, contexts,
                                 timeout=config.importing.timeout,
                                 max_pdu=config.station.max_pdu)
        try:
            self.assoc.open()
        except ArchiveError as exc:
            raise ChannelError(str(exc), opening=True) from exc
        self.work = StoragePaths.of(config).work  # where conversions keep their files
        self.broken = False  # aborted: to be dropped, not used again
        self.context: dict[tuple[str, str], int] = {}
        for cid, (abstract, ts) in sorted(self.assoc.accepted.items()):
            self.context.setdefault((abstract, ts), cid)

    def send(self, item: Prepared, read_at: ReadAt, abort: Abort) -> Outcome:
        cid = self.context.get((item.sop_class_uid, item.transfer_syntax))
        chunks: Iterable[bytes] = item.chunks(read_at)
        converted = ""
        if cid is None:
            accepted = [ts for (c, ts) in self.context if c == item.sop_class_uid]
            target = next((ts for ts in NATIVE if ts in accepted), None)
            if target is None:
                return Outcome(False, f"{self.peer} does not accept "
                                      f"{sop.sop_class_name(item.sop_class_uid)} instances")
            try:
                chunks = [convert(item, read_at, target, self.work)]
            except OSError as exc:
                if exc.errno in GONE_ERRNOS:
                    raise  # the medium is gone: `send` stops
                return Outcome(False, f"it cannot be converted to a transfer syntax the "
                                      f"archive accepts ({exc.strerror or exc})")
            except Exception as exc:
                return Outcome(False, f"it cannot be converted to a transfer syntax the "
                                      f"archive accepts ({str(exc)[:200]})")
            cid, converted = self.context[(item.sop_class_uid, target)], target
        try:
            rsp = self.assoc.store(cid, item.sop_class_uid, item.sop_instance_uid, chunks, abort)
        except ArchiveError as exc:
            raise ChannelError(str(exc)) from exc
        except BaseException:
            # the file could not be read or changed part-way (OSError, RewriteError, ...):
            # the archive is in the middle of a data set, this association cannot go on
            self.broken = True
            self.assoc.abort()
            raise
        code = rsp.status if rsp.status is not None else status.SUCCESS
        if status.is_failure(code):
            comment = f": {rsp.error_comment}" if rsp.error_comment else ""
            return Outcome(False, f"the archive refused it ({status.describe(code)}, "
                                  f"0x{code:04X}{comment})", converted)
        warning = f"warning 0x{code:04X} ({status.describe(code)})" if code else ""
        return Outcome(True, warning, converted)

    def close(self) -> None:
        self.assoc.release()


class StowChannel:
    """One HTTP session to a DICOMweb archive, one STOW-RS request per instance."""

    def __init__(self, target: CloudTarget) -> None:
        self.target = target
        self.url = target.url.rstrip("/") + "/studies"
        self.session = session_for(target)
        self.broken = False

    def send(self, item: Prepared, read_at: ReadAt, abort: Abort) -> Outcome:
        boundary = uuid.uuid4().hex
        meta = file_meta(item.sop_class_uid, item.sop_instance_uid, item.transfer_syntax)

        unread: list[Exception] = []  # the file failed part-way (requests wraps that)

        def body() -> Iterator[bytes]:
            yield (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").encode()
            yield meta
            try:
                for chunk in item.chunks(read_at):
                    if abort():
                        raise ChannelError("cancelled")
                    yield chunk
            except (OSError, RewriteError) as exc:
                unread.append(exc)
                raise
            yield f"\r\n--{boundary}--\r\n".encode()

        headers = {"Content-Type": f'multipart/related; type="application/dicom"; '
                                   f"boundary={boundary}",
                   "Accept": "application/dicom+json"}
        try:
            try:
                rsp = self.session.post(self.url, data=body(), headers=headers,
                                        timeout=self.target.timeout)
            except Exception as exc:
                if not unread:
                    raise
                self.broken = True  # the request was cut off half-way
                if exc is unread[0]:
                    raise
                raise unread[0] from exc
        except requests.exceptions.SSLError as exc:
            raise ChannelError(f"the TLS certificate of {self.target.url} is not trusted "
                               f"({str(exc)[:150]}): set the target's ca_bundle",
                               opening=True) from exc
        except requests.exceptions.RequestException as exc:
            raise ChannelError(f"cannot reach {self.target.url} ({str(exc)[:150]}): check "
                               "the network and the target's url", opening=True) from exc
        if rsp.status_code in (401, 403):
            raise ChannelError(f"{self.target.url} refused the credentials (HTTP "
                               f"{rsp.status_code}): check the target's username and "
                               "password or token", opening=True)
        if rsp.status_code == 404:
            raise ChannelError(f"there is no DICOMweb service at {self.target.url} (HTTP 404)",
                               opening=True)
        failed = _failed_reason(rsp)
        if rsp.status_code in (200, 202) and failed is None:
            return Outcome(True, "" if rsp.status_code == 200 else "accepted with a warning")
        return Outcome(False, f"the archive refused it (HTTP {rsp.status_code}"
                              f"{', failure reason ' + failed if failed else ''})")

    def close(self) -> None:
        self.session.close()


def _failed_reason(rsp: Any) -> str | None:
    """The Failure Reason of a STOW-RS answer that lists the instance as failed."""
    try:
        data = rsp.json()
    except ValueError:
        return None
    failed = data.get("00081198", {}).get("Value") if isinstance(data, dict) else None
    if not failed:
        return None
    reason = failed[0].get("00081197", {}).get("Value", [""])[0]
    return str(reason) if reason != "" else "unknown"
