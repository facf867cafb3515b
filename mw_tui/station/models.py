"""The values and errors the front ends handle, re-exported from the layers that make
them: a screen or a command imports these from here, never from the domain packages."""

from mw_tui.config import Target, TargetKind
from mw_tui.deid import DeidError
from mw_tui.devices.models import Device, MediaState, OpticalDrive, UsbStick
from mw_tui.devices.writers import Writer, devices_for, writer_class
from mw_tui.dicom.archives import UnknownArchive
from mw_tui.dicom.echo import ArchiveState, EchoResult
from mw_tui.dicom.events import (
    AssociationClosed,
    AssociationRejected,
    InstanceRefused,
    ReceiverEvent,
    StudyChanged,
)
from mw_tui.dicom.messages import no_archives, unknown_archive
from mw_tui.dicom.query import (
    ArchiveOutcome,
    QueryError,
    SearchResult,
    SearchState,
    SeriesResult,
    StudyQuery,
    StudyResult,
)
from mw_tui.dicom.retrieve import RetrieveProgress, RetrieveState
from mw_tui.dicom.scp import ReceiverError, ReceiverStatus
from mw_tui.importing import (
    Candidate,
    DicomdirState,
    ImportPlan,
    LocalPatient,
    Match,
    Medium,
    MediumError,
    MediumKind,
    PlanError,
    Proposal,
)
from mw_tui.importing import Patient as OutsidePatient
from mw_tui.importing import Series as OutsideSeries
from mw_tui.importing import Study as OutsideStudy
from mw_tui.jobs.models import (
    IMPORT_STEPS,
    STEPS,
    ImportRequest,
    Job,
    JobKind,
    JobOptions,
    JobState,
    Progress,
    StudyRef,
    VolumeRecord,
    steps_of,
)
from mw_tui.jobs.queue import InvalidTransition
from mw_tui.media import BuildError, IsoError, StageError
from mw_tui.media.ids import fileset_id
from mw_tui.media.profiles import MEDIA, Profile, parse_profile
from mw_tui.reports import ReportsResult
from mw_tui.station.inserted import InsertedMedium
from mw_tui.station.jobs import IdentifiedDataLeaves
from mw_tui.store.index import SeriesRow, StudyRow

__all__ = [
    "IMPORT_STEPS",
    "MEDIA",
    "STEPS",
    "ArchiveOutcome",
    "ArchiveState",
    "AssociationClosed",
    "AssociationRejected",
    "BuildError",
    "Candidate",
    "DeidError",
    "Device",
    "DicomdirState",
    "EchoResult",
    "IdentifiedDataLeaves",
    "ImportPlan",
    "ImportRequest",
    "InsertedMedium",
    "InstanceRefused",
    "InvalidTransition",
    "IsoError",
    "Job",
    "JobKind",
    "JobOptions",
    "JobState",
    "LocalPatient",
    "Match",
    "MediaState",
    "Medium",
    "MediumError",
    "MediumKind",
    "OpticalDrive",
    "OutsidePatient",
    "OutsideSeries",
    "OutsideStudy",
    "PlanError",
    "Profile",
    "Progress",
    "Proposal",
    "QueryError",
    "ReceiverError",
    "ReceiverEvent",
    "ReceiverStatus",
    "ReportsResult",
    "RetrieveProgress",
    "RetrieveState",
    "SearchResult",
    "SearchState",
    "SeriesResult",
    "SeriesRow",
    "StageError",
    "StudyChanged",
    "StudyQuery",
    "StudyRef",
    "StudyResult",
    "StudyRow",
    "Target",
    "TargetKind",
    "UnknownArchive",
    "UsbStick",
    "VolumeRecord",
    "Writer",
    "devices_for",
    "fileset_id",
    "no_archives",
    "parse_profile",
    "steps_of",
    "unknown_archive",
    "writer_class",
]
