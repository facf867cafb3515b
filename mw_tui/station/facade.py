"""`Station`: the one door into the station. Every use case a technician or a script
asks for is a method here (the screens, the command line and DICOM services call these,
and nothing below this layer); each is carried out by a module of this package."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mw_tui.config import Target
from mw_tui.devices.models import Device
from mw_tui.dicom.echo import EchoResult
from mw_tui.dicom.query import (
    ArchiveOutcome,
    SearchResult,
    StudyQuery,
    StudyResult,
)
from mw_tui.dicom.retrieve import RetrieveProgress
from mw_tui.importing import ImportPlan, LocalPatient, Medium, Proposal, ReadProgress
from mw_tui.jobs.models import Job, JobKind, JobOptions, StudyRef
from mw_tui.media.profiles import Profile
from mw_tui.reports import ReportsResult
from mw_tui.station import archives, auditing, importing, jobs, labels, media, store_admin
from mw_tui.station import search as searching
from mw_tui.station.core import StationCore
from mw_tui.station.inserted import InsertedMedium
from mw_tui.station.pin import PinGate
from mw_tui.station.plan import MediumPlan, plan_medium
from mw_tui.station.settings import SettingsFile
from mw_tui.station.targets import TargetChoice, choices, default_choice
from mw_tui.store.index import StudyRow


class Station(StationCore):
    """The station's services (see `StationCore`) and its use cases."""

    # -- searching ------------------------------------------------------------------------

    def searcher(self, on_result: Callable[[StudyResult], None],
                 on_outcome: Callable[[ArchiveOutcome], None],
                 on_done: Callable[[SearchResult], None] | None = None
                 ) -> searching.SearchSession:
        """A streaming search over the archives and this station (the screens')."""
        return searching.SearchSession(self.config, lambda: self.store, on_result, on_outcome,
                                       on_done, self._queried)

    def _queried(self, query: StudyQuery, archives: Sequence[str] | None) -> None:
        auditing.queries(self.trail, self.config, query, archives)

    def search(self, query: StudyQuery, archives: Sequence[str] | None = None) -> SearchResult:
        """Every archive (or those named) at once, merged by Study Instance UID."""
        result = searching.search_archives(self.config, query, archives)
        self._queried(query, archives)
        return result

    def series_of(self, study: StudyResult) -> searching.SeriesOfStudy:
        return searching.series_of(self.config, self.store, study)

    def locate(self, study_uids: Sequence[str], known: Sequence[StudyResult] = (),
               archive: str = "", without_reports: Iterable[str] = ()) -> searching.Located:
        """A job's studies: from the store, or the archive that holds each."""
        return searching.locate_studies(self.config, self.store, study_uids, known, archive,
                                        without_reports, self._queried)

    def studies(self, since: float | None = None) -> list[StudyRow]:
        """The store's studies (changed since `since`), newest first."""
        return self.store.index.studies(since=since)

    # -- planning a medium ----------------------------------------------------------------

    def targets(self, devices: Sequence[Device] | None = None) -> list[TargetChoice]:
        """Where a job can go now: drives, sticks, the ISO folder, cloud targets."""
        return choices(self.config, self.device_list() if devices is None else devices,
                       self.demo, labels.publishers(self.config))

    def label_preview(self, studies: Sequence[StudyResult], count: int, anonymous: bool,
                      width: int = 40, when: float | None = None) -> list[str]:
        """The label as the disc will show it (LabelProblem when [labels] is wrong)."""
        return labels.preview(self.config, studies, count, anonymous, width, when)

    def job_of_label(self, text: str) -> int:
        """The job a label names: its number, this station's barcode, or a requester's
        barcode (ValueError when none)."""
        return labels.job_id_of(self.config, self.jobs, text)

    def job_labels(self, job_id: int, out: Path | None = None, print_them: bool = False
                   ) -> list[labels.JobLabel]:
        """A job's disc labels again: kept PDFs (made again if need be), copied, printed."""
        return labels.job_labels(self.config, self.store, self.jobs.get(job_id), out,
                                 print_them)

    def publishers(self) -> list[labels.PublisherInfo]:
        return labels.publishers(self.config)

    def default_target(self, found: Sequence[TargetChoice]) -> TargetChoice | None:
        return default_choice(found, self.demo)

    def plan(self, studies: Sequence[StudyResult], rows: dict[str, StudyRow],
             choice: TargetChoice | None, profile: Profile | None) -> MediumPlan:
        """The job's size against the target's medium, and what stands in the way."""
        return plan_medium(studies, rows, choice, profile)

    # -- jobs -----------------------------------------------------------------------------

    def create_job(self, studies: Sequence[StudyRef], target: Target | str,
                   profile: str = "", copies: int = 1, label: str = "", user: str = "",
                   patient_name: str = "", patient_id: str = "", anonymize: str = "",
                   confirmed_identified: bool = False, held: bool = False,
                   options: JobOptions | None = None) -> Job:
        """Queue a job and record who asked for it: the studies as stored, or anonymous
        copies (`anonymize`: a [[deid_profiles]] name). IdentifiedDataLeaves when
        identified data would go outside the hospital unconfirmed."""
        if isinstance(target, str):
            target = Target.parse(target)
        if target.where and self.demo and target.kind.value == "iso":
            Path(target.where).mkdir(parents=True, exist_ok=True)
        return jobs.create_job(self, studies, target, profile, copies, label, user,
                               patient_name, patient_id, anonymize, confirmed_identified,
                               held, options)

    def copies_offered(self) -> list[str]:
        """What a job may write: "" (the studies as stored), then each de-identification
        profile's name (anonymous copies)."""
        names = [p.name for p in self.config.deid_profiles]
        return ["", *names, *(["basic"] if "basic" not in names else [])]

    def burned_in_warning(self, anonymize: str, studies: Sequence[StudyResult]) -> str:
        """What an anonymous copy does with images that may show the name in pixels."""
        return jobs.burned_in_warning(self.config, anonymize,
                                      [m for s in studies for m in s.modalities])

    def confirmation_needed(self, target: Target, anonymize: str = "") -> str:
        """Why a job to `target` must be confirmed first ("" when it need not)."""
        return jobs.leaves_identified(self.config, target, anonymize)

    def cancel_job(self, job_id: int, user: str = "") -> Job:
        return jobs.cancel_job(self, job_id, user)

    def write_again(self, job_id: int, user: str = "") -> Job:
        """A new job with the same studies and target (an import: the same medium, as
        planned)."""
        if self.jobs.get(job_id).kind is JobKind.IMPORT:
            return importing.import_again(self, job_id, user)
        return jobs.again(self, job_id, user)

    def job(self, job_id: int) -> Job:
        return self.jobs.get(job_id)

    def job_list(self, active_only: bool = False) -> list[Job]:
        return self.jobs.list(active_only=active_only)

    def job_history(self, job_id: int) -> list[tuple[float, str, str]]:
        return list(self.jobs.events(job_id))

    def follow(self, job_id: int, show: Callable[[Job], None], stop: threading.Event) -> Job:
        return jobs.follow(self, job_id, show, stop)

    # -- importing outside media ----------------------------------------------------------

    def read_medium(self, source: str | os.PathLike[str], progress: ReadProgress | None = None,
                    cancel: Callable[[], bool] | None = None) -> Medium:
        """What a folder, an ISO file or a device holds (MediumError: why not)."""
        return importing.read(self.config, source, progress, cancel)

    def propose_patients(self, medium: Medium, cancel: threading.Event | None = None
                         ) -> list[Proposal]:
        """The local patients the archives know for each outside patient, best first."""
        return importing.proposals(self.config, medium, cancel)

    def import_destinations(self) -> list[str]:
        return importing.destinations(self.config)

    def import_plan(self, local: LocalPatient | None, destination: str = "",
                    study_uids: Sequence[str] = (), accession: str = "",
                    new_uids: bool | None = None) -> ImportPlan:
        """The technician's choice as a plan (PlanError names a value not acceptable)."""
        return importing.plan(self.config, local, destination, study_uids, accession,
                              new_uids)

    def create_import_job(self, source: str | os.PathLike[str], plan: ImportPlan,
                          medium: Medium | None = None, user: str = "") -> Job:
        """Queue an import job: read the medium, send, count on the archive."""
        return importing.create_import_job(self, source, plan, medium, user)

    def inserted_media(self) -> list[InsertedMedium]:
        """The discs and sticks in the station holding DICOM content."""
        return self.media_detector.current() if "media_detector" in self._made else []

    # -- archives and reports -------------------------------------------------------------

    def echo(self, archive: str) -> EchoResult:
        return archives.echo_archive(self.config, archive)

    def another_station_answers(self) -> bool:
        return archives.another_station_answers(self.config)

    def retrieve(self, where: dict[str, list[str]],
                 progress: Callable[[RetrieveProgress], None] | None = None,
                 cancel: threading.Event | None = None,
                 started: Callable[[str], None] | None = None,
                 done: Callable[[archives.ArchiveRetrieve], None] | None = None
                 ) -> list[archives.ArchiveRetrieve]:
        return archives.retrieve_studies(self.config, self.store, self.trail, where, progress,
                                         cancel, started, done)

    def fetch_reports(self, study_uid: str, archives_: Sequence[str] | None = None,
                      cancel: threading.Event | None = None,
                      started: Callable[[str], None] | None = None) -> ReportsResult:
        return archives.fetch_study_reports(self.config, self.store, study_uid, archives_,
                                            cancel, started)

    def count_reports(self, study: StudyResult) -> int | None:
        return archives.count_study_reports(self.config, self.store, study)

    # -- devices and media ----------------------------------------------------------------

    def device_list(self) -> list[Device]:
        return sorted(self.devices.devices(), key=lambda d: (d.kind.value, d.devname))

    def eject(self, target: Target) -> str:
        return media.eject(self.config, target, self.devices.devices())

    # -- settings and the store -----------------------------------------------------------

    def pin_gate(self) -> PinGate:
        """The admin PIN in front of Settings; every PIN typed is audited."""
        return PinGate(self.config.ui.admin_pin, demo=self.demo,
                       on_attempt=lambda ok, locked: auditing.login(self.trail, ok, locked))

    def settings_file(self) -> SettingsFile:
        """Where Settings are saved; the demo archive is kept out of the file."""
        keep: tuple[object, ...] = ()
        da = self.demo_archive
        if self.demo and da is not None:
            keep = tuple(a for a in self.config.archives
                         if a.host == da.host and a.port == da.port)
        return SettingsFile(self.config, self.demo, keep)  # type: ignore[arg-type]

    def store_check(self) -> store_admin.CheckReport:
        return store_admin.check_store(self.config)
