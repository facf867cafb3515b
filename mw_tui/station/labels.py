"""Disc labels as the technician sees them: the review screen's preview (the same content
as the printed label), a job's labels again (`mw-tui label`), and the disc publishers'
state for the targets list and `mw-tui devices`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mw_tui.config import Config, StoragePaths, Target, TargetKind
from mw_tui.devices.writers import writer_for
from mw_tui.devices.writers.hotfolder import HotFolderWriter, PublisherState
from mw_tui.jobs import labelling
from mw_tui.jobs.models import Job
from mw_tui.jobs.queue import JobQueue
from mw_tui.media.volume import WebImages
from mw_tui.store import Store

if TYPE_CHECKING:  # mw_tui.labels (reportlab) is loaded when a label is made
    from mw_tui.labels import Labels, PrintStatus, StudyFacts


class LabelProblem(Exception):
    """A label cannot be made; the message says why and what to do."""


def labels_of(config: Config) -> Labels:
    """The site's labels ([labels]); LabelProblem when its template or fonts are wrong."""
    from mw_tui.labels import LabelError, Labels, TemplateError

    try:
        return Labels(config.labels)
    except (TemplateError, LabelError) as exc:
        raise LabelProblem(str(exc)) from exc


def preview(config: Config, studies: Sequence[StudyFacts], count: int, anonymous: bool,
            width: int, when: float | None = None) -> list[str]:
    """The label of disc 1 of `count` as lines of text (before there is a job), made
    `when` (a time.time(); now by default)."""
    web = WebImages(config.media.web_images) is not WebImages.NONE
    day = time.strftime("%Y%m%d", time.localtime(when)) if when is not None else ""
    content = labelling.content(config, [] if anonymous else studies, None, count=count,
                                web=web, anonymous=anonymous, date=day)
    return labels_of(config).text(content, width).splitlines()


def job_id_of(config: Config, jobs: JobQueue, text: str) -> int:
    """A job's number from itself, from this station's label barcode, or from the barcode
    a requester (a RIS) had printed on it; ValueError if none of them."""
    wanted = text.strip()
    for job in jobs.list(limit=100_000):
        if job.options.barcode and job.options.barcode == wanted:
            return job.id
    return labelling.job_of_barcode(wanted, config.station.ae_title)


@dataclass(frozen=True, slots=True)
class JobLabel:
    """A disc's label PDF. `note`: what a label made again had to take from elsewhere (a
    job from before its discs' label kind and day were kept), for the technician."""

    number: int
    pdf: Path
    printed: PrintStatus | None = None
    note: str = ""


def job_labels(config: Config, store: Store, job: Job, out: Path | None = None,
               print_them: bool = False) -> list[JobLabel]:
    """The labels of a job's discs: the PDFs kept with it (made again as the job made them,
    from what it recorded of each disc, when they are gone), copied to `out`, printed
    when asked."""
    labels = labels_of(config)
    drawn = labelling.JobLabels(config, store, job, StoragePaths.of(config).job_work(job.id))
    made = []
    for v in job.volumes or ():
        pdf = drawn.kept(v.number)
        note = ""
        if not pdf.exists():
            try:
                drawn.pdf(v)
            except labelling.CopiesGone as exc:
                raise LabelProblem(f"job {job.id}: the label of disc {v.number} was not "
                                   f"kept, and {exc}") from None
            guessed = labelling.disc_of(config, job, v).guessed
            if guessed:
                note = (f"made again for a job from before labels kept what its discs hold"
                        f" and when they were made: {guessed}; check it against the disc")
        if out is not None:
            if out.is_dir():
                dest = out / f"label{v.number}.pdf"
            elif len(job.volumes) == 1:
                dest = out
            else:  # one file per disc: PATH_1.pdf, PATH_2.pdf ...
                dest = out.with_name(f"{out.stem}_{v.number}{out.suffix or '.pdf'}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(pdf.read_bytes())
            pdf = dest
        made.append(JobLabel(v.number, pdf, labels.print(pdf) if print_them else None, note))
    if not made:
        raise LabelProblem(f"job {job.id} has no disc yet ({job.state.value}): its labels "
                           "are made once its media are built")
    return made


@dataclass(frozen=True, slots=True)
class PublisherInfo:
    name: str
    ready: bool
    message: str


def publishers(config: Config) -> list[PublisherInfo]:
    """Each [[publishers]] entry and what its robot says now (reads its status files)."""
    out = []
    for p in config.publishers:
        writer = writer_for(config, Target(TargetKind.PUBLISHER, p.name))
        assert isinstance(writer, HotFolderWriter)
        status = writer.status()
        out.append(PublisherInfo(p.name, status.state is PublisherState.READY, status.message))
    return out
