"""C-FIND across archives: every archive in parallel, each with its own deadline.

`search()` queries the configured archives at once (Study Root, STUDY level), merges the
answers by Study Instance UID (`StudyResult.archives` lists who holds each study) and
reports each archive's outcome; a dead or slow archive only ever delays its own part.
Results stream through `on_result` as they arrive. Setting `cancel` stops every running
find with C-CANCEL; `Searcher` does that for the screens, so a new search cancels the
one still running. `find_series()` lists the series of one study. No Textual here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom import commands, identifier, messages
from mw_tui.dicom.client import ArchiveError, Association, Problem, Proposal
from mw_tui.dicom.query import (
    SERIES_RETURN_KEYS,
    ArchiveOutcome,
    SearchResult,
    SearchState,
    SeriesListing,
    SeriesResult,
    StudyQuery,
    StudyResult,
    newest_first,
)
from mw_tui.standard import sop, status

log = logging.getLogger(__name__)

FIND_SERVICE = "Study Root Query/Retrieve - FIND"
FIND_CONTEXT = Proposal(sop.STUDY_ROOT_FIND, (sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE))

ResultCallback = Callable[[StudyResult], None]
OutcomeCallback = Callable[[ArchiveOutcome], None]
IdentifierCallback = Callable[[identifier.Identifier], None]


def find(config: Config, archive: Archive, values: dict[str, str],
         on_identifier: IdentifierCallback, cancel: threading.Event | None = None,
         timeout: float | None = None, root: str = sop.STUDY_ROOT_FIND) -> ArchiveOutcome:
    """One C-FIND on one archive; every pending answer goes to `on_identifier`.

    `root` is the information model (Study Root by default; Patient Root for a search
    at PATIENT level): an archive that does not offer it fails with NOT_SUPPORTED.
    """
    started = time.monotonic()
    timeout = timeout or archive.timeout
    peer = arch.peer_of(archive, config)
    matches = 0
    context = FIND_CONTEXT if root == sop.STUDY_ROOT_FIND else Proposal(
        root, FIND_CONTEXT.transfer_syntaxes)
    service = FIND_SERVICE if root == sop.STUDY_ROOT_FIND else "Patient Root Query/Retrieve - FIND"
    try:
        with Association(config.station.ae_title, peer, [context], timeout=timeout,
                         max_pdu=config.station.max_pdu, deadline=started + timeout,
                         cancel=cancel) as assoc:
            cid = assoc.context_for(root, service)
            ts = assoc.accepted[cid][1]
            data = identifier.encode(values, ts)
            final = None
            for rsp in assoc.request(cid, commands.C_FIND_RQ, data, doing="searching"):
                if rsp.message.is_pending:
                    if rsp.dataset and not assoc.cancel_sent:
                        matches += 1
                        on_identifier(identifier.decode(rsp.dataset, rsp.transfer_syntax))
                else:
                    final = rsp.message
    except ArchiveError as exc:
        state = SearchState.CANCELLED if exc.problem is Problem.CANCELLED else SearchState.FAILED
        log.debug("search on %s: %s", peer, exc)
        return ArchiveOutcome(archive.name, state, matches, time.monotonic() - started,
                              exc.problem, str(exc))
    seconds = time.monotonic() - started
    code = final.status if final is not None and final.status is not None else status.SUCCESS
    if code == status.CANCEL or (cancel is not None and cancel.is_set()):
        return ArchiveOutcome(archive.name, SearchState.CANCELLED, matches, seconds,
                              Problem.CANCELLED, "cancelled")
    if status.is_failure(code):
        comment = final.error_comment if final is not None else ""
        return ArchiveOutcome(archive.name, SearchState.FAILED, matches, seconds, None,
                              messages.failed_status(peer, "search", code, comment))
    return ArchiveOutcome(archive.name, SearchState.DONE, matches, seconds)


def search(config: Config, query: StudyQuery, archives: Iterable[str | Archive] | None = None,
           on_result: ResultCallback | None = None, on_outcome: OutcomeCallback | None = None,
           cancel: threading.Event | None = None) -> SearchResult:
    """Search the archives in parallel; UnknownArchive when a name is not configured.

    `on_result` gets the merged StudyResult each time a study arrives (again, with more
    archives, when another archive holds it too); `on_outcome` gets each archive's
    outcome as it ends. Callbacks run one at a time on the search's worker threads.
    """
    targets = arch.resolve(config, archives)
    started = time.monotonic()
    values = query.identifier()
    merged: dict[str, StudyResult] = {}
    outcomes: dict[str, ArchiveOutcome] = {}
    lock = threading.Lock()
    rank = {a.name: i for i, a in enumerate(targets)}

    def run(archive: Archive) -> None:
        def arrived(ident: identifier.Identifier) -> None:
            study = StudyResult.from_identifier(ident, archive.name)
            if not study.study_uid:
                return
            with lock:
                if cancel is not None and cancel.is_set():
                    return
                old = merged.get(study.study_uid)
                if old is not None:  # held by several archives: list them in config order
                    study = old.merged(study)
                    study = replace(study, archives=tuple(sorted(study.archives,
                                                                 key=rank.__getitem__)))
                merged[study.study_uid] = study
                if on_result is not None:
                    on_result(study)

        try:
            outcome = find(config, archive, values, arrived, cancel)
        except Exception as exc:  # a bug must not take the other archives down
            log.exception("search on %s failed", archive.name)
            outcome = ArchiveOutcome(archive.name, SearchState.FAILED, message=f"{exc!r}")
        with lock:
            outcomes[archive.name] = outcome
            if on_outcome is not None:
                on_outcome(outcome)

    threads = [threading.Thread(target=run, args=(a,), name=f"find-{a.name}", daemon=True)
               for a in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cancelled = cancel is not None and cancel.is_set()
    return SearchResult(
        query=query,
        studies=newest_first(list(merged.values())),
        outcomes=tuple(outcomes[a.name] for a in targets),
        seconds=time.monotonic() - started,
        cancelled=cancelled,
    )


def find_series(config: Config, archive: str | Archive, study_uid: str,
                cancel: threading.Event | None = None) -> SeriesListing:
    """The series of one study on one archive (modality, description, instance count)."""
    target = arch.resolve_one(config, archive)
    values = dict.fromkeys(SERIES_RETURN_KEYS, "")
    values["QueryRetrieveLevel"] = "SERIES"
    values["StudyInstanceUID"] = study_uid
    found: list[SeriesResult] = []
    outcome = find(config, target, values,
                   lambda ident: found.append(SeriesResult.from_identifier(ident, study_uid,
                                                                           target.name)),
                   cancel)

    def order(s: SeriesResult) -> tuple[int, str]:
        try:
            return int(s.number), s.series_uid
        except ValueError:
            return 1 << 30, s.series_uid

    return SeriesListing(target.name, study_uid, tuple(sorted(found, key=order)), outcome)


@dataclass(frozen=True, slots=True)
class Located:
    """Where studies are: the merged result of each one found, what is nowhere, and what
    the archives that failed said."""

    found: dict[str, StudyResult]
    missing: tuple[str, ...]
    errors: tuple[str, ...]
    order: tuple[str, ...]  # archive names in configuration order

    def archive_of(self, study_uid: str) -> str:
        """The first archive, in configuration order, holding the study."""
        return min(self.found[study_uid].archives, key=self.order.index)


def locate(config: Config, study_uids: Iterable[str]) -> Located:
    """Search every archive for each study (by Study Instance UID)."""
    found: dict[str, StudyResult] = {}
    missing: list[str] = []
    errors: list[str] = []
    for uid in study_uids:
        result = search(config, StudyQuery(study_uid=uid))
        errors += [f"{o.archive}: {o.message}" for o in result.outcomes if not o.ok]
        hit = next((s for s in result.studies if s.study_uid == uid), None)
        if hit is None:
            missing.append(uid)
        else:
            found[uid] = hit
    return Located(found, tuple(missing), tuple(dict.fromkeys(errors)),
                   tuple(a.name for a in config.archives))


class Searcher:
    """The screens' search service: `submit()` cancels the running search, starts another.

    Callbacks only ever hear of the latest search (a superseded one is cancelled and
    silenced). They run on worker threads: a UI hands them to its own thread.
    """

    def __init__(self, config: Config, on_result: ResultCallback | None = None,
                 on_outcome: OutcomeCallback | None = None,
                 on_done: Callable[[SearchResult], None] | None = None) -> None:
        self.config = config
        self.on_result = on_result
        self.on_outcome = on_outcome
        self.on_done = on_done
        self._lock = threading.Lock()
        self._generation = 0
        self._cancel: threading.Event | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Nothing runs until `submit()`; here for the start/stop service shape."""

    def submit(self, query: StudyQuery, archives: Iterable[str | Archive] | None = None) -> int:
        """Start a search (cancelling the previous one); returns its generation number."""
        names = None if archives is None else list(archives)
        arch.resolve(self.config, names)  # unknown names fail here, in the caller
        with self._lock:
            if self._cancel is not None:
                self._cancel.set()
            self._generation += 1
            generation, cancel = self._generation, threading.Event()
            self._cancel = cancel
            self._threads = [t for t in self._threads if t.is_alive()]
            t = threading.Thread(target=self._run, args=(generation, query, names, cancel),
                                 name=f"search-{generation}", daemon=True)
            self._threads.append(t)
        t.start()
        return generation

    def _current(self, generation: int) -> bool:
        return generation == self._generation

    def _run(self, generation: int, query: StudyQuery, names: list[str | Archive] | None,
             cancel: threading.Event) -> None:
        def result(study: StudyResult) -> None:
            if self._current(generation) and self.on_result is not None:
                self.on_result(study)

        def outcome(o: ArchiveOutcome) -> None:
            if self._current(generation) and self.on_outcome is not None:
                self.on_outcome(o)

        res = search(self.config, query, names, result, outcome, cancel)
        if self._current(generation) and self.on_done is not None:
            self.on_done(res)

    def cancel(self) -> None:
        with self._lock:
            if self._cancel is not None:
                self._cancel.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs and wait for it (at most `timeout` seconds)."""
        self.cancel()
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
