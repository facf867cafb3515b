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
    number: int
    pdf: Path
    printed: PrintStatus | None = None


def job_labels(config: Config, store: Store, job: Job, out: Path | None = None,
               print_them: bool = False) -> list[JobLabel]:
    """The labels of a job's discs: the PDFs kept with it (made again from the store for
    a patient copy when they are gone), copied to `out`, printed when asked."""
    kept = StoragePaths.of(config).labels / str(job.id)
    labels = labels_of(config)
    made = []
    for v in job.volumes or ():
        pdf = kept / f"label{v.number}.pdf"
        if not pdf.exists():
            if job.options.anonymous_profile:
                raise LabelProblem(f"job {job.id} wrote anonymous copies, and the label of "
                                   f"disc {v.number} was not kept: it cannot be made again")
            rows = labelling.rows_for(store, [s.study_uid for s in job.studies], None)
            kept.mkdir(parents=True, exist_ok=True)
            labels.pdf(labelling.content(config, rows, job.id, number=v.number,
                                         count=v.count, volume_label=v.label,
                                         label_text=job.label, barcode=job.options.barcode),
                       pdf)
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
        made.append(JobLabel(v.number, pdf, labels.print(pdf) if print_them else None))
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
