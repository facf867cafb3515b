"""Import: a patient's outside disc or stick into the PACS, reconciled.

The whole use case, as a job, the CLI or a screen calls it::

    medium = read_medium("/dev/sr0", config)          # or a folder, or an .iso file
    proposals = propose(config, medium)               # local patients, per outside patient
    local = proposals[0].best.local() if proposals[0].best else LocalPatient("12345")
    plan = ImportPlan.make(config, local, destination="pacs")   # or "cloud:NAME", "" = default
    result = send(config, medium, plan, progress=..., cancel=event.is_set,
                  on_confirmed=..., confirmed=already_confirmed_uids)
    count = count_on_archive(config, plan.destination, result.expected)
    ok = result.ok and count.ok                      # every instance sent is on the archive

An import job (`jobs.importing`) runs `send` and `count_on_archive` as steps of their
own, so that after a crash between them nothing is sent again and the check still comes.

Reading never writes to the medium and never follows it off itself (see `sources`);
what cannot be read is in `Medium.unreadable` with the reason. `send` reports every
instance the archive acknowledged through `on_confirmed`; passing those SOP Instance
UIDs back as `confirmed` after a crash sends only the others. No Textual here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from mw_tui.config import Config
from mw_tui.importing.count import ArchiveCount, StudyCount, count_on_archive
from mw_tui.importing.models import (
    DicomdirState,
    Instance,
    Medium,
    MediumKind,
    Patient,
    Series,
    Study,
    Unreadable,
)
from mw_tui.importing.opening import open_source
from mw_tui.importing.plan import Destination, DestinationKind, ImportPlan, LocalPatient, PlanError
from mw_tui.importing.reading import Cancelled, ReadProgress, has_dicom, scan
from mw_tui.importing.reconcile import Candidate, Match, Proposal, propose
from mw_tui.importing.send import (
    Confirmed,
    RecordError,
    SendFailure,
    SendProgress,
    SendResult,
    expected_of,
    send,
)
from mw_tui.importing.sources import MediumError, Source

__all__ = [
    "ArchiveCount", "Cancelled", "Candidate", "Confirmed", "Destination", "DestinationKind",
    "DicomdirState", "ImportPlan", "Instance", "LocalPatient", "Match",
    "Medium", "MediumError", "MediumKind", "Patient", "PlanError", "Proposal", "ReadProgress",
    "RecordError", "SendFailure", "SendProgress", "SendResult", "Series", "Study", "StudyCount",
    "Unreadable", "count_on_archive", "expected_of", "has_dicom", "open_source",
    "opened_medium", "propose", "read_medium", "scan", "send",
]


def read_medium(source: str | os.PathLike[str], config: Config | None = None,
                progress: ReadProgress | None = None,
                cancel: Callable[[], bool] | None = None) -> Medium:
    """What a folder, an ISO file or a device holds. MediumError (its message says what
    to do) when it cannot be read at all; Cancelled when `cancel()` turned true."""
    with open_source(source, config) as src:
        return scan(src, progress, cancel)


@contextlib.contextmanager
def opened_medium(source: str | os.PathLike[str], config: Config | None = None,
                  progress: ReadProgress | None = None) -> Iterator[tuple[Source, Medium]]:
    """The medium read and kept open (a stick stays mounted) until the block ends: pass
    the Source to `send(..., source=)` to send without opening it again."""
    with open_source(source, config) as src:
        yield src, scan(src, progress)
