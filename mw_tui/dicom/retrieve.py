"""C-MOVE and C-GET of studies or series from one archive into the station's store.

`retrieve()` asks the archive for each study (or the chosen series of a study) on one
association: C-MOVE to the station's own AE title (the receiver stores what arrives) or,
when the archive's `retrieve = "get"`, C-GET with the images coming back on the same
association and streamed byte for byte into the store. Progress comes from the pending
responses (remaining, completed, failed, warning). At the end, the store's index is
checked against what the archive reported. Setting `cancel` sends C-CANCEL. No Textual.

The images of a retrieve are acknowledged before they are fsync'ed (the archive still holds
them; see `store.sync`): every retrieve ends with `Store.make_durable()`, one syncfs of the
store's file system, unless the caller (a job retrieving several studies) does it once
itself (`durable=False`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom import commands, identifier, messages
from mw_tui.dicom.client import ArchiveError, Association, Problem, Proposal
from mw_tui.dicom.find import FIND_CONTEXT, FIND_SERVICE
from mw_tui.dicom.messages import Peer
from mw_tui.standard import sop, status
from mw_tui.store import Store, sync

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0  # longest wait for an acknowledged image to reach the index
SETTLE_POLL = 0.002

MAX_CONTEXTS = 128
IDLE_CHECK = 1.0  # seconds between looks at the store while a C-MOVE runs
MOVE_CONTEXT = Proposal(sop.STUDY_ROOT_MOVE, (sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE))
GET_CONTEXT = Proposal(sop.STUDY_ROOT_GET, (sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE))
UNCOMPRESSED = (sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE)
# compressed syntaxes, each proposed in a context of its own, most common first
COMPRESSED = (sop.JPEG_LOSSLESS_SV1, sop.JPEG_2000_LOSSLESS, sop.JPEG_BASELINE, sop.JPEG_2000,
              sop.JPEG_EXTENDED)
NO_PIXELS = sop.SR_SOP_CLASSES | {sop.ENCAPSULATED_PDF}


class RetrieveState(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """Some series of a study (retrieved at SERIES level)."""

    study_uid: str
    series_uid: str


@dataclass(frozen=True, slots=True)
class RetrieveProgress:
    archive: str
    study_uid: str
    study_index: int  # 1-based
    studies: int
    remaining: int | None
    completed: int
    failed: int
    warning: int

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.warning

    @property
    def total(self) -> int | None:
        return None if self.remaining is None else self.done + self.remaining


@dataclass(frozen=True, slots=True)
class StudyRetrieval:
    """How the retrieve of one study (or of some of its series) ended."""

    study_uid: str
    series_uids: tuple[str, ...]
    state: RetrieveState
    expected: int  # images the archive said it would send
    arrived: int  # images of the study (or series) in the store afterwards
    completed: int = 0
    failed: int = 0
    warning: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state is RetrieveState.COMPLETE


@dataclass(frozen=True, slots=True)
class RetrieveResult:
    archive: str
    method: str  # "move" or "get"
    items: tuple[StudyRetrieval, ...]
    seconds: float
    state: RetrieveState
    message: str

    @property
    def ok(self) -> bool:
        return self.state is RetrieveState.COMPLETE


ProgressCallback = Callable[[RetrieveProgress], None]


def storage_proposals(config: Config, room: int = MAX_CONTEXTS - 2) -> list[Proposal]:
    """Storage contexts for a C-GET, inside the 128-context limit (`room` of them).

    Each SOP class the store accepts gets one context for the uncompressed syntaxes; the
    compressed ones follow, one context per (class, syntax), most common syntax first,
    for the classes that have pixel data, as long as there is room.
    """
    extras = [u for u in config.dicom.extra_sop_classes if u not in sop.STORAGE_SOP_CLASSES]
    classes = [*sop.STORAGE_SOP_CLASSES, *extras]
    out = [Proposal(c, UNCOMPRESSED) for c in classes][:room]
    syntaxes = [*COMPRESSED, *(t for t in config.dicom.extra_transfer_syntaxes
                               if t not in sop.STORAGE_TRANSFER_SYNTAXES)]
    for ts in syntaxes:
        for c in classes:
            if len(out) >= room:
                return out
            if c not in NO_PIXELS:
                out.append(Proposal(c, (ts,)))
    return out


def _requests(items: Sequence[str | SeriesRef]) -> list[tuple[str, tuple[str, ...]]]:
    """(study UID, series UIDs or () for the whole study), in the order first given."""
    out: dict[str, list[str] | None] = {}
    for item in items:
        if isinstance(item, SeriesRef):
            current = out.setdefault(item.study_uid, [])
            if current is not None and item.series_uid not in current:
                current.append(item.series_uid)
        else:
            out[item] = None  # the whole study wins over some of its series
    return [(uid, tuple(series or ())) for uid, series in out.items()]


def _arrived(store: Store, study_uid: str, series_uids: tuple[str, ...]) -> int:
    if series_uids:
        return sum(len(store.index.instances(s)) for s in series_uids)
    row = store.index.study(study_uid)
    return row.instances if row is not None else 0


def _station_address(config: Config, assoc: Association) -> str:
    bind = config.station.bind
    if bind not in ("0.0.0.0", "::", "") and not bind.startswith("127."):
        return bind
    return assoc.local_ip or bind


@dataclass
class _Watch:
    """What the idle check knows of the request running now (C-MOVE only)."""

    study_uid: str
    series: tuple[str, ...]
    index: int
    total: int
    before: int  # images of it in the store before the request
    seen: int
    checked: float = 0.0
    pending_seen: bool = False


class _Run:
    """One retrieve: the association, the store, the callbacks, the results so far."""

    def __init__(self, config: Config, archive: Archive, store: Store,
                 progress: ProgressCallback | None, cancel: threading.Event | None) -> None:
        self.config = config
        self.archive = archive
        self.peer: Peer = arch.peer_of(archive, config)
        self.store = store
        self.progress = progress
        self.cancel = cancel
        self.method = archive.retrieve
        self.results: list[StudyRetrieval] = []
        self.assoc: Association | None = None
        self.watching: _Watch | None = None

    def association(self) -> Association:
        """Find and Move (as the conformance statement proposes them), or Find, Get and
        the storage contexts with the SCP role."""
        timeout = self.config.dicom.client_timeout
        if self.method == "get":
            storage = storage_proposals(self.config)
            self.assoc = Association(
                self.config.station.ae_title, self.peer, [GET_CONTEXT, FIND_CONTEXT, *storage],
                timeout=timeout, max_pdu=self.config.station.max_pdu, cancel=self.cancel,
                scp_roles=list(dict.fromkeys(p.abstract for p in storage)))
        else:
            self.assoc = Association(
                self.config.station.ae_title, self.peer, [MOVE_CONTEXT, FIND_CONTEXT],
                timeout=timeout, max_pdu=self.config.station.max_pdu, cancel=self.cancel,
                on_idle=self.idle)
        return self.assoc

    def idle(self) -> None:
        """While a C-MOVE runs: images reaching the store show the archive is at work
        (some archives send no pending responses), so they keep the association from
        timing out and, without pending responses, make the progress."""
        w = self.watching
        now = time.monotonic()
        if w is None or self.assoc is None or now - w.checked < IDLE_CHECK:
            return
        w.checked = now
        count = _arrived(self.store, w.study_uid, w.series)
        if count <= w.seen:
            return
        w.seen = count
        self.assoc.link.touch()
        if self.progress is not None and not w.pending_seen:
            self.progress(RetrieveProgress(self.archive.name, w.study_uid, w.index, w.total,
                                           None, max(0, count - w.before), 0, 0))

    def one(self, assoc: Association, index: int, total: int, study_uid: str,
            series: tuple[str, ...]) -> StudyRetrieval:
        if self.method == "get":
            abstract, field, service = sop.STUDY_ROOT_GET, commands.C_GET_RQ, "C-GET"
        else:
            abstract, field, service = sop.STUDY_ROOT_MOVE, commands.C_MOVE_RQ, "C-MOVE"
        cid = assoc.context_for(abstract, f"Study Root Query/Retrieve - {service[2:]}")
        values = {"QueryRetrieveLevel": "SERIES" if series else "STUDY",
                  "StudyInstanceUID": study_uid}
        if series:
            values["SeriesInstanceUID"] = "\\".join(series)
        data = identifier.encode(values, assoc.accepted[cid][1])
        if self.method == "move":
            before = _arrived(self.store, study_uid, series)
            self.watching = _Watch(study_uid, series, index, total, before, before,
                                   time.monotonic())
        counts: list[int | None] = [None, 0, 0, 0]  # remaining, completed, failed, warning
        expected = 0
        final = None
        for rsp in assoc.request(cid, field, data, store=self.store,
                                 move_destination=self.config.station.ae_title
                                 if self.method == "move" else "",
                                 doing="retrieving"):
            m = rsp.message
            counts = [m.remaining, m.completed or counts[1], m.failed or counts[2],
                      m.warning or counts[3]]
            expected = max(expected, sum(c or 0 for c in counts))
            if not m.is_pending:
                final = m
            elif self.watching is not None:
                self.watching.pending_seen = True
            if self.progress is not None:
                remaining = m.remaining if m.is_pending else (m.remaining or 0)
                self.progress(RetrieveProgress(self.archive.name, study_uid, index, total,
                                               remaining, *(c or 0 for c in counts[1:])))
        assert final is not None
        self.watching = None
        return self.judge(assoc, study_uid, series, final.status or 0, final.error_comment,
                          [c or 0 for c in counts[1:]], expected)

    def judge(self, assoc: Association, study_uid: str, series: tuple[str, ...], code: int,
              comment: str, counts: list[int], expected: int) -> StudyRetrieval:
        completed, failed, warning = counts
        arrived = self.settle(study_uid, series, completed + warning)
        what = f"study {study_uid}" if not series else f"{len(series)} series of study {study_uid}"

        def result(state: RetrieveState, message: str = "") -> StudyRetrieval:
            return StudyRetrieval(study_uid, series, state, expected, arrived, completed,
                                  failed, warning, message)

        cancelled = code == status.CANCEL or (self.cancel is not None and self.cancel.is_set())
        if cancelled:
            return result(RetrieveState.CANCELLED, f"cancelled: {arrived} of {expected} images "
                          f"of {what} arrived")
        if code == status.MOVE_DESTINATION_UNKNOWN:
            return result(RetrieveState.FAILED, messages.move_destination_unknown(
                self.peer, self.config.station.ae_title, _station_address(self.config, assoc),
                self.config.station.port))
        if status.is_failure(code) and completed + warning == 0:
            if failed:
                return result(RetrieveState.FAILED, messages.none_sent(
                    self.peer, what, failed, code, comment))
            return result(RetrieveState.FAILED, self.explain_failure(assoc, study_uid, what,
                                                                     code, comment))
        if completed + failed + warning == 0:
            return result(RetrieveState.FAILED, messages.not_on_archive(self.peer, what))
        if arrived < completed + warning:
            if arrived == 0 and self.method == "move":
                text = messages.missing_in_store(self.peer, what, arrived, completed + warning,
                                                 str(self.store.root))
            else:
                text = messages.partial(self.peer, what, arrived, expected, failed)
            return result(RetrieveState.PARTIAL, text)
        if failed or status.is_failure(code):
            return result(RetrieveState.PARTIAL, messages.partial(
                self.peer, what, completed + warning, expected, failed))
        return result(RetrieveState.COMPLETE)

    def settle(self, study_uid: str, series: tuple[str, ...], sent: int) -> int:
        """How many images arrived. The receiver acknowledges the images of our own C-MOVE
        before it writes them (`acceptor`): the last may still be on its way into the index
        when the archive reports the end, so wait while they keep coming."""
        arrived = _arrived(self.store, study_uid, series)
        if self.method != "move":
            return arrived
        deadline = time.monotonic() + SETTLE_SECONDS
        while arrived < sent and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL)
            now = _arrived(self.store, study_uid, series)
            if now > arrived:
                arrived, deadline = now, time.monotonic() + SETTLE_SECONDS
        return arrived

    def holds(self, assoc: Association, study_uid: str) -> bool | None:
        """Whether the archive holds the study (C-FIND on the same association); None
        when it cannot tell."""
        values = {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": study_uid}
        try:
            cid = assoc.context_for(sop.STUDY_ROOT_FIND, FIND_SERVICE)
            data = identifier.encode(values, assoc.accepted[cid][1])
            found = False
            for rsp in assoc.request(cid, commands.C_FIND_RQ, data, doing="searching"):
                found = found or bool(rsp.message.is_pending and rsp.dataset)
                if not rsp.message.is_pending and status.is_failure(rsp.message.status or 0):
                    return None
            return found
        except ArchiveError:
            return None

    def explain_failure(self, assoc: Association, study_uid: str, what: str, code: int,
                        comment: str) -> str:
        """Nothing was sent: does the archive hold the study at all?"""
        held = self.holds(assoc, study_uid)
        if held is False:
            return messages.not_on_archive(self.peer, what)
        if self.method == "move" and held:
            return messages.move_probably_unknown(
                self.peer, code, self.config.station.ae_title,
                _station_address(self.config, assoc), self.config.station.port)
        return messages.failed_status(self.peer, "retrieve", code, comment)


def retrieve(config: Config, archive: str | Archive, items: Sequence[str | SeriesRef],
             progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
             store: Store | None = None, durable: bool = True) -> RetrieveResult:
    """Retrieve studies (UIDs) or series (`SeriesRef`) from `archive` into the store.

    With C-MOVE the station's receiver must be listening (the archive sends to it).
    `progress` is called with every pending response; UnknownArchive for a bad name.
    With `durable=False` the caller calls `store.make_durable()` when it is done.
    """
    target = arch.resolve_one(config, archive)
    own_store = store is None
    store = store or Store(config.storage, config.station.min_free_mb)
    run = _Run(config, target, store, progress, cancel)
    started = time.monotonic()
    requests = _requests(items)
    try:
        _retrieve_all(run, requests)
        if durable:
            try:
                store.make_durable()
            except OSError as exc:
                return _unsynced(run, time.monotonic() - started, store, exc)
    finally:
        if own_store:
            store.close()
    return _summary(run, time.monotonic() - started)


def _unsynced(run: _Run, seconds: float, store: Store, exc: OSError) -> RetrieveResult:
    """The images arrived but the disk refused to keep them (a write error at the sync)."""
    return RetrieveResult(run.archive.name, run.method, tuple(run.results), seconds,
                          RetrieveState.FAILED, sync.failed_message(store.root, exc))


def _retrieve_all(run: _Run, requests: list[tuple[str, tuple[str, ...]]]) -> None:
    done = 0
    try:
        with run.association() as assoc:
            for i, (study_uid, series) in enumerate(requests, 1):
                if run.cancel is not None and run.cancel.is_set():
                    break
                run.results.append(run.one(assoc, i, len(requests), study_uid, series))
                done = i
    except ArchiveError as exc:
        state = (RetrieveState.CANCELLED if exc.problem is Problem.CANCELLED
                 else RetrieveState.FAILED)
        log.debug("retrieve from %s: %s", run.peer, exc)
        if done < len(requests):
            study_uid, series = requests[done]
            arrived = _arrived(run.store, study_uid, series)
            run.results.append(StudyRetrieval(study_uid, series, state, 0, arrived,
                                              message=str(exc)))
            done += 1
    for study_uid, series in requests[len(run.results):]:
        arrived = _arrived(run.store, study_uid, series)
        run.results.append(StudyRetrieval(study_uid, series, RetrieveState.CANCELLED, 0,
                                          arrived, message="not retrieved: cancelled"
                                          if run.cancel is not None and run.cancel.is_set()
                                          else "not retrieved: the retrieve stopped before"))


def _summary(run: _Run, seconds: float) -> RetrieveResult:
    items = tuple(run.results)
    states = {r.state for r in items}
    if states <= {RetrieveState.COMPLETE}:
        state, message = RetrieveState.COMPLETE, (
            f"{len(items)} {'study' if len(items) == 1 else 'studies'} retrieved from "
            f"{run.archive.name}: {sum(r.arrived for r in items)} images in the store")
    else:
        if run.cancel is not None and run.cancel.is_set():
            state = RetrieveState.CANCELLED
        elif states <= {RetrieveState.FAILED}:
            state = RetrieveState.FAILED
        else:
            state = RetrieveState.PARTIAL
        bad = [r for r in items if not r.ok]
        message = bad[0].message if len(bad) == 1 else (
            f"{len(items) - len(bad)} of {len(items)} studies retrieved completely; "
            + " ".join(dict.fromkeys(r.message for r in bad)))
    return RetrieveResult(run.archive.name, run.method, items, seconds, state, message)
