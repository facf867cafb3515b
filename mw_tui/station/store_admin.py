"""The store as support staff look after it: its studies, a check that index and files
agree, a rebuilt index, and expired studies purged (never those a job still needs)."""

from __future__ import annotations

from dataclasses import dataclass

from mw_tui.config import Config, StoragePaths
from mw_tui.jobs.queue import JobQueue
from mw_tui.store import Store
from mw_tui.store.check import CheckReport, check, recover
from mw_tui.store.index import StudyRow
from mw_tui.store.retention import PurgeReport, Retention


def open_store(config: Config) -> Store:
    return Store(config.storage, config.station.min_free_mb)


def studies(config: Config) -> list[StudyRow]:
    """Every study of the store, newest first (none when nothing was ever stored)."""
    if not StoragePaths.of(config).index.exists():
        return []
    store = open_store(config)
    try:
        return store.index.studies()
    finally:
        store.close()


def check_store(config: Config) -> CheckReport:
    store = open_store(config)
    try:
        return check(store)
    finally:
        store.close()


@dataclass(frozen=True, slots=True)
class Reindexed:
    studies: int
    series: int
    instances: int
    invalid: tuple[str, ...]  # files that are not valid DICOM, or misplaced


def reindex(config: Config) -> Reindexed:
    store = open_store(config)
    try:
        report = recover(store, full=True)
        n_studies, n_series, n_instances = store.index.counts()
        return Reindexed(n_studies, n_series, n_instances, tuple(map(str, report.invalid)))
    finally:
        store.close()


def purge(config: Config, days: float, dry_run: bool = False) -> PurgeReport:
    """Studies unused for `days` deleted (listed with `dry_run`), except those of
    unfinished jobs, held or not."""
    paths = StoragePaths.of(config)
    store = open_store(config)
    queue = JobQueue(paths.jobs_db) if paths.jobs_db.exists() else None
    try:
        return Retention(store).purge(days, dry_run=dry_run,
                                      in_use=queue.studies_in_use if queue else None)
    finally:
        store.close()
        if queue is not None:
            queue.close()
