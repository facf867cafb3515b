"""A job's disc labels: the same content as the review screen's preview, drawn for a disc
publisher to print on each disc, or printed (CUPS) once a disc is verified, the PDF kept
with the job (`StoragePaths.labels`) whether or not a printer prints it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mw_tui.config import Config, StoragePaths
from mw_tui.jobs.media import media_settings
from mw_tui.jobs.models import Job, VolumeRecord
from mw_tui.media.volume import Volume, WebImages
from mw_tui.store import Store
from mw_tui.store.index import StudyRow

if TYPE_CHECKING:
    from mw_tui.labels import LabelContent, Labels, PrintStatus, StudyFacts

# mw_tui.labels (reportlab, its fonts) is imported where a label is made, not here: every
# burn and the receiver load this module, and most of them never draw a label.

DEID = "deid"  # the work store of an anonymous job's copies, in its work folder


def barcode_of(config: Config, job_id: int) -> str:
    """What a label's barcode says: this station and the job ("MW_TUI-000042")."""
    return f"{config.station.ae_title}-{job_id:06d}"


def job_of_barcode(text: str, ae_title: str) -> int:
    """The job id of this station's label barcode ("MW_TUI-000042") or of a plain number;
    ValueError for anything else (another station's barcode names another job)."""
    text = text.strip()
    number = text.removeprefix(f"{ae_title}-")
    if not number.isdigit():
        raise ValueError(text)
    return int(number)


class CopiesGone(Exception):
    """An anonymous job's copies are gone: its label cannot be made (never from the
    identified studies)."""


def rows_for(store: Store, study_uids: Sequence[str], anonymous_store: Path | None
             ) -> list[StudyRow]:
    """The studies as the medium shows them: the store's, or an anonymous job's copies
    (CopiesGone when those are gone: the identified studies are never used instead)."""
    if anonymous_store is not None:
        if not anonymous_store.exists():
            raise CopiesGone(f"the anonymous copies of this job are gone ({anonymous_store}):"
                             " its label cannot be made again")
        copies = Store(anonymous_store)
        try:
            return copies.index.studies()
        finally:
            copies.close()
    return [row for uid in study_uids if (row := store.index.study(uid)) is not None]


def content(config: Config, studies: Sequence[StudyFacts], job_id: int | None, *,
            number: int = 1, count: int = 1, volume_label: str = "", web: bool = True,
            anonymous: bool = False, date: str = "", label_text: str = "",
            barcode: str = "") -> LabelContent:
    """A disc's label: the patient(s), studies, disc n of m, DICOM PLUS WEB or DICOM ONLY,
    the job's barcode (none before there is a job). The same content is the review
    screen's preview, the printed label and the publisher's. `label_text` and `barcode`:
    what a requester asked to be printed (a RIS's Label Text and Barcode Value; the
    barcode is the job's own otherwise)."""
    from mw_tui.labels import content_for

    return content_for(
        studies, disc_number=number, disc_count=count, volume_label=volume_label,
        institution="" if anonymous else config.media.institution,
        station="" if anonymous else config.media.station_name or config.station.ae_title,
        copy_type="Anonymous copy" if anonymous else config.labels.copy_type,
        web=web, date=date, label_text=label_text,
        job_id=barcode or (barcode_of(config, job_id) if job_id is not None else ""))


@dataclass(frozen=True, slots=True)
class Disc:
    """What a label says of the disc itself: DICOM PLUS WEB or DICOM ONLY (`web`), and the
    day it was made (YYYYMMDD; "" for today). `guessed`: in words, what an older job did
    not record and was taken from elsewhere ("" when nothing was)."""

    web: bool
    day: str
    guessed: str = ""


def day_of(created: str) -> str:
    """The day (YYYYMMDD) of an ISO 8601 date and time, "" for anything else."""
    try:
        return datetime.fromisoformat(created).strftime("%Y%m%d")
    except ValueError:
        return ""


def disc_of(config: Config, job: Job, volume: Volume | VolumeRecord) -> Disc:
    """A disc as its label shows it, the same whether the job draws the label from the
    volume it built or it is drawn again later from what the job recorded of it (its work
    folder gone): its web pages show images or not, and it was made the day it was built
    (what its README says). A job recorded before the kind and the day were kept gets
    them from its settings now and from the day it last changed, and `guessed` says so."""
    if isinstance(volume, Volume):
        return Disc(volume.web_images is not WebImages.NONE, day_of(volume.created))
    guessed = []
    if volume.label_kind:
        web = volume.label_kind != WebImages.NONE.label
    else:
        kind = WebImages(media_settings(job, config.media).web_images).label
        web = kind != WebImages.NONE.label
        guessed.append(f"{kind} as the job's settings say now")
    day = day_of(volume.created)
    if not day and job.updated_at:
        day = time.strftime("%Y%m%d", time.localtime(job.updated_at))
        guessed.append("dated the day the job last changed")
    return Disc(web, day, " and ".join(guessed))


def of_volume(config: Config, rows: Sequence[StudyRow], job: Job,
              volume: Volume | VolumeRecord) -> LabelContent:
    """The label of one of a job's discs, from the volume built or from its record."""
    disc = disc_of(config, job, volume)
    return content(config, rows, job.id, number=volume.number, count=volume.count,
                   volume_label=volume.label, web=disc.web, date=disc.day,
                   anonymous=bool(job.options.anonymous_profile), label_text=job.label,
                   barcode=job.options.barcode)


class JobLabels:
    """The labels of one job: drawn on demand, kept under the storage folder. The same
    labels whether the job draws them as it writes its volumes or they are drawn again
    from its records (`mw-tui label`, once a kept PDF is gone)."""

    def __init__(self, config: Config, store: Store, job: Job, workdir: Path) -> None:
        self.config = config
        self.store = store
        self.job = job
        self.job_id = job.id
        self.study_uids = [s.study_uid for s in job.studies]
        anonymous = bool(job.options.anonymous_profile)
        self.anonymous_store = workdir / DEID if anonymous else None
        self.folder = StoragePaths.of(config).labels / str(job.id)

    def labels(self) -> Labels:
        from mw_tui.labels import Labels

        return Labels(self.config.labels)

    def content(self, volume: Volume | VolumeRecord) -> LabelContent:
        rows = rows_for(self.store, self.study_uids, self.anonymous_store)
        return of_volume(self.config, rows, self.job, volume)

    def kept(self, number: int) -> Path:
        """Where the PDF of disc `number` is kept."""
        return self.folder / f"label{number}.pdf"

    def image(self, volume: Volume) -> Path:
        """A JPEG of the label, for a disc publisher (it cannot print a PDF)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.labels().image(self.content(volume),
                                   self.folder / f"label{volume.number}.jpg")

    def pdf(self, volume: Volume | VolumeRecord, label: LabelContent | None = None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.labels().pdf(label or self.content(volume), self.kept(volume.number))

    def print_later(self, volume: Volume, told: Callable[[str], None]) -> None:
        """The label of a verified disc: its PDF kept, printed when [labels] printer is
        set, on a thread of its own; `told` hears how it went (for the job's history).
        The content is read now: an anonymous job's copies go with its work folder."""
        try:
            label = self.content(volume)
        except Exception as exc:
            told(f"the label of disc {volume.number} could not be made: {exc}")
            return

        def run() -> None:
            try:
                pdf = self.pdf(volume, label)
                status = self.labels().print(pdf)
            except Exception as exc:  # a template or font problem: the disc is still fine
                told(f"the label of disc {volume.number} could not be made: {exc}")
                return
            told(describe(status, volume))

        threading.Thread(target=run, name=f"label-{self.job_id}", daemon=True).start()


def describe(status: PrintStatus, volume: Volume) -> str:
    from mw_tui.labels import PrintState

    disc = f"disc {volume.number} of {volume.count}" if volume.count > 1 else "the disc"
    if status.state is PrintState.KEPT:
        return f"label of {disc}: {status.pdf} (no printer is set: print it from there)"
    if status.state is PrintState.DONE:
        return f"label of {disc} printed on {status.printer}"
    return f"label of {disc} not printed ({status.state.value}): {status.message}"
