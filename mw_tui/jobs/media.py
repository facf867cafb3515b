"""Which medium a job writes next, and what the technician is asked to insert."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mw_tui.config import MediaConfig
from mw_tui.devices.writers import Writer
from mw_tui.jobs.models import Job
from mw_tui.media.volume import Volume


def media_settings(job: Job, media: MediaConfig) -> MediaConfig:
    """The [media] settings as the job asked: a viewer only when it did not say no, no web
    images when it asked for DICOM objects only."""
    if job.options.include_viewer is False:
        media = dataclasses.replace(media, viewer_folder="")
    if job.options.web is False:
        media = dataclasses.replace(media, web_images="none")
    return media


def written(job: Job, label: str) -> int:
    """Copies of the volume `label` written and verified so far."""
    return next((v.written for v in job.volumes if v.label == label), 0)


def next_medium(job: Job, volumes: Sequence[Volume], writer: type[Writer]
                ) -> tuple[Volume, int] | None:
    """The next (volume, copy number) to write: copy 1 of every volume, then copy 2..."""
    copies = job.copies if writer.makes_copies else 1
    for copy in range(copies):
        for v in volumes:
            if written(job, v.label) <= copy:
                return v, copy + 1
    return None


def prompt(job: Job, volumes: Sequence[Volume], writer: type[Writer], problem: str = "") -> str:
    """"Insert a blank DVD into /dev/sr0 (disc 2 of 2)", after what stands in the way."""
    nxt = next_medium(job, volumes, writer)
    if nxt is None:
        return ""
    v, copy = nxt
    where = job.writes_to.where or writer.place_noun
    extra = f" (disc {v.number} of {v.count}" + (f", copy {copy} of {job.copies})"
                                                if job.copies > 1 else ")")
    text = (f"Insert {writer.ask_for(v.capacity)} into {where}"
            f"{extra if v.count > 1 or job.copies > 1 else ''}")
    return f"{problem} {text}".strip() if problem else text
