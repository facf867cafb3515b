"""Searching: every source at once (the archives, and this station's store), the series
of a study, and which studies are here and which archive holds the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mw_tui.config import Config
from mw_tui.dicom.archives import resolve
from mw_tui.dicom.find import Searcher, find_series, locate, search
from mw_tui.dicom.query import (
    ArchiveOutcome,
    SearchResult,
    SearchState,
    SeriesResult,
    StudyQuery,
    StudyResult,
)
from mw_tui.jobs.models import StudyRef
from mw_tui.station.local import LOCAL, search_local
from mw_tui.store import Store
from mw_tui.store.index import SeriesRow


class SearchSession:
    """The screens' search: `submit()` cancels the running search and starts another on
    the archives named and, when asked, this station's store. Callbacks only hear of the
    latest search and run on worker threads (a UI hands them to its own thread); this
    station's outcome is reported under the name `LOCAL`."""

    def __init__(self, config: Config, store: Callable[[], Store],
                 on_result: Callable[[StudyResult], None],
                 on_outcome: Callable[[ArchiveOutcome], None],
                 on_done: Callable[[SearchResult], None] | None = None,
                 on_query: Callable[[StudyQuery, Sequence[str]], None] | None = None) -> None:
        """`on_query(query, archives)` hears of each search sent (the audit trail)."""
        self.config = config
        self._store = store
        self._on_query = on_query
        self.on_result = on_result
        self.on_outcome = on_outcome
        self._searcher = Searcher(config, on_result, on_outcome, on_done)
        self._generation = 0

    def submit(self, query: StudyQuery, archives: Sequence[str], local: bool) -> None:
        """UnknownArchive (before anything starts) for an archive not configured."""
        resolve(self.config, list(archives))
        self._generation += 1
        if archives:
            self._searcher.submit(query, archives)
            if self._on_query is not None:
                self._on_query(query, archives)
        else:
            self._searcher.cancel()
        if local:
            generation = self._generation
            threading.Thread(target=self._search_local, args=(query, generation),
                             name="search-local", daemon=True).start()

    def _search_local(self, query: StudyQuery, generation: int) -> None:
        started = time.monotonic()
        found = search_local(self._store().index.studies(), query)
        if generation != self._generation:
            return
        for study in found:
            self.on_result(study)
        self.on_outcome(ArchiveOutcome(LOCAL, SearchState.DONE, len(found),
                                       time.monotonic() - started))

    def cancel(self) -> None:
        self._generation += 1
        self._searcher.cancel()

    def stop(self, timeout: float = 10.0) -> None:
        self._generation += 1
        self._searcher.stop(timeout)


def search_archives(config: Config, query: StudyQuery, archives: Iterable[str] | None = None
                    ) -> SearchResult:
    """Every archive (or those named) at once; UnknownArchive for a name not configured."""
    return search(config, query, list(archives) if archives is not None else None)


@dataclass(frozen=True, slots=True)
class SeriesOfStudy:
    """A study's series: from the store when it holds them, else from an archive."""

    study_uid: str
    local: tuple[SeriesRow, ...] = ()
    remote: tuple[SeriesResult, ...] = ()
    problem: str = ""


def series_of(config: Config, store: Store, study: StudyResult) -> SeriesOfStudy:
    rows = store.index.series(study.study_uid)
    if rows:
        return SeriesOfStudy(study.study_uid, local=tuple(rows))
    archive = next((a for a in study.archives if a != LOCAL), None)
    if archive is None:
        return SeriesOfStudy(study.study_uid, problem="no series found")
    listing = find_series(config, archive, study.study_uid)
    problem = "" if listing.outcome is None or listing.outcome.ok else listing.outcome.message
    return SeriesOfStudy(study.study_uid, remote=listing.series, problem=problem)


@dataclass(frozen=True, slots=True)
class Located:
    """A job's studies: where each comes from, and why some cannot be had."""

    refs: tuple[StudyRef, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


def locate_studies(config: Config, store: Store, study_uids: Sequence[str],
                   known: Sequence[StudyResult] = (), archive: str = "",
                   without_reports: Iterable[str] = (),
                   on_query: Callable[[StudyQuery, Sequence[str]], None] | None = None
                   ) -> Located:
    """Which studies are here (the store holds every image an archive reported), and
    which archive holds each of the others: the one named, else one a search found it on
    (`known`), else the first archive holding it (asked by C-FIND)."""
    results = {s.study_uid: s for s in known}
    no_reports = set(without_reports)
    refs: dict[str, StudyRef] = {}
    lacking: list[str] = []
    for uid in dict.fromkeys(study_uids):
        row = store.index.study(uid)
        result = results.get(uid)
        expected = result.instances or 0 if result is not None else 0
        if row is not None and not archive and row.instances >= expected:
            refs[uid] = StudyRef(uid, "", max(row.instances, expected), uid not in no_reports)
        elif archive or (result is not None and any(a != LOCAL for a in result.archives)):
            where = archive or next(a for a in result.archives if a != LOCAL)  # type: ignore[union-attr]
            refs[uid] = StudyRef(uid, where, expected, uid not in no_reports)
        else:
            lacking.append(uid)
    problems: list[str] = []
    if lacking and not config.archives:
        problems += [f"study {u} is not in the store and no archive is configured"
                     for u in lacking]
    elif lacking:
        found = locate(config, lacking)
        if on_query is not None:
            for uid in lacking:
                on_query(StudyQuery(study_uid=uid), [a.name for a in config.archives])
        errors = "; ".join(found.errors)
        problems += [f"study {uid} was found on no archive" + (f" ({errors})" if errors else "")
                     for uid in found.missing]
        for uid, hit in found.found.items():
            refs[uid] = StudyRef(uid, found.archive_of(uid), hit.instances or 0,
                                 uid not in no_reports)
    ordered = tuple(refs[u] for u in dict.fromkeys(study_uids) if u in refs)
    return Located(ordered, tuple(problems))
