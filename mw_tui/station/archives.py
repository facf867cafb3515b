"""The archives as a technician or a script uses them: is one there (C-ECHO), retrieve
studies into the store (the receiver started for it when no station runs), fetch and
count a study's reports."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from mw_tui.audit import AuditTrail
from mw_tui.config import Config
from mw_tui.dicom.archives import resolve
from mw_tui.dicom.echo import EchoResult, echo, station_answers
from mw_tui.dicom.query import StudyResult
from mw_tui.dicom.retrieve import RetrieveProgress, RetrieveResult, retrieve
from mw_tui.dicom.scp import Receiver
from mw_tui.jobs import atna
from mw_tui.reports import ReportsResult, count_reports, fetch_reports
from mw_tui.station.auditing import this_user
from mw_tui.station.housekeeping import Housekeeping
from mw_tui.station.local import LOCAL
from mw_tui.store import Store


def echo_archive(config: Config, name: str) -> EchoResult:
    """C-ECHO a configured archive; UnknownArchive for a name that is not configured."""
    return echo(config, name)


def another_station_answers(config: Config) -> bool:
    """Whether a station (the kiosk, `mw-tui serve`) answers on this station's port."""
    return station_answers(config)


@contextmanager
def receiving(config: Config, needed: bool) -> Iterator[str]:
    """C-MOVE needs this station's receiver: start one here unless a station answers;
    yields what was started ("" when nothing was). ReceiverError says why it cannot."""
    if not needed or station_answers(config):
        yield ""
        return
    Housekeeping(config).recover()
    receiver = Receiver(config)
    receiver.start()
    try:
        yield f"started this station's receiver ({config.station.ae_title} on port " \
              f"{receiver.port})"
    finally:
        receiver.stop()


def needs_receiver(config: Config, archives: Iterable[str]) -> bool:
    return any(config.archive(n).retrieve == "move" for n in archives)


@dataclass(frozen=True, slots=True)
class ArchiveRetrieve:
    archive: str
    result: RetrieveResult


def retrieve_studies(config: Config, store: Store, trail: AuditTrail,
                     where: dict[str, list[str]],
                     progress: Callable[[RetrieveProgress], None] | None = None,
                     cancel: threading.Event | None = None,
                     started: Callable[[str], None] | None = None,
                     done: Callable[[ArchiveRetrieve], None] | None = None
                     ) -> list[ArchiveRetrieve]:
    """Retrieve each archive's studies into the store (`where`: archive -> UIDs), one
    archive after the other; `started` hears of a receiver started for it. Each study's
    transfer goes to the audit trail."""
    out: list[ArchiveRetrieve] = []
    user = this_user()
    with receiving(config, needs_receiver(config, where)) as note:
        if note and started is not None:
            started(note)
        for name, uids in where.items():
            for uid in uids:
                trail.record(atna.begin_transfer(config, store, uid, name, user))
            one = ArchiveRetrieve(name, retrieve(config, name, uids, progress=progress,
                                                 cancel=cancel, store=store))
            for item in one.result.items:
                trail.record(atna.transferred(config, store, item.study_uid, name, item.ok,
                                              "" if item.ok else item.message, user))
            out.append(one)
            if done is not None:
                done(one)
            if cancel is not None and cancel.is_set():
                break
    return out


def fetch_study_reports(config: Config, store: Store, study_uid: str,
                        archives: Sequence[str] | None = None,
                        cancel: threading.Event | None = None,
                        started: Callable[[str], None] | None = None) -> ReportsResult:
    """A study's reports into the store (brokers, and the archives' SR/PDF objects)."""
    targets = resolve(config, archives)
    with receiving(config, any(a.retrieve == "move" for a in targets)) as note:
        if note and started is not None:
            started(note)
        return fetch_reports(config, store, study_uid, cancel, archives=targets)


def count_study_reports(config: Config, store: Store, study: StudyResult) -> int | None:
    """How many reports the study has (None: nobody could be asked or answered)."""
    archives = [a for a in study.archives if a != LOCAL] or None
    try:
        return count_reports(config, study.study_uid, archives, accession=study.accession,
                             patient_id=study.patient_id, store=store)
    except Exception:  # an archive no longer configured, ...
        return None
