"""Building: the File-sets of a job (and the ISO images discs and ISO files need)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mw_tui.config import MediaConfig
from mw_tui.deid import (
    DeidCancelled,
    DeidError,
    DeidProgress,
    anonymous_media_settings,
    deidentify_into,
    profile_named,
)
from mw_tui.devices.writers import WriterError, writer_for
from mw_tui.jobs import manifest
from mw_tui.jobs.control import JobControl, StepCancel, Stopped, log
from mw_tui.jobs.labelling import DEID
from mw_tui.jobs.media import media_settings, prompt, written
from mw_tui.jobs.models import Job, JobProblem, JobState, VolumeRecord
from mw_tui.media.builder import (
    BuildCancelled,
    BuildError,
    BuildProgress,
    InstancesMissing,
    TooLarge,
    build_volumes,
)
from mw_tui.media.compose import Asked
from mw_tui.media.iso import IsoCancelled, IsoError, write_iso
from mw_tui.media.previews import kept_previews
from mw_tui.media.profiles import Profile
from mw_tui.media.volume import Volume
from mw_tui.store import Store


@dataclass(frozen=True)
class Source:
    """What a medium is built from: the station's store, or a job's anonymous copies."""

    store: Store
    study_uids: list[str]
    without_reports: list[str]
    settings: MediaConfig


def problem_of(exc: BuildError) -> JobProblem:
    if isinstance(exc, InstancesMissing):
        return JobProblem.INSTANCES_MISSING
    return JobProblem.INSTANCE_TOO_LARGE if isinstance(exc, TooLarge) else JobProblem.OTHER


def clear(workdir: Path, keep: str) -> None:
    """Everything of a work folder but `keep`."""
    if workdir.exists():
        for entry in workdir.iterdir():
            if entry.name != keep:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


class BuildStep:
    """BUILDING -> WAITING_FOR_MEDIA (a disc, a stick) or WRITING, with the volumes laid
    out (and their images made) in the job's work folder; a saved manifest is reused."""

    def __init__(self, control: JobControl) -> None:
        self.c = control

    def run(self, job: Job, cancel: StepCancel) -> None:
        c = self.c
        workdir = c.workdir(job)
        volumes = manifest.load(workdir)
        if volumes is None:
            if self._images_lost(job):
                return
            clear(workdir, keep=DEID)  # whatever a crash left half-made (copies are checked)
            volumes = self._build(job, workdir, cancel)
        records = tuple(VolumeRecord(v.label, v.number, v.count, str(v.iso or ""),
                                     v.iso_md5 or "", v.iso_size or v.size,
                                     written(job, v.label), label_kind=v.label_kind,
                                     created=v.created) for v in volumes)
        job = c.queue.update(job.id, volumes=records)
        writer = c.writer_class(job)
        if writer.needs_media:
            c.transition(job.id, JobState.WAITING_FOR_MEDIA, prompt(job, volumes, writer))
        else:
            c.transition(job.id, JobState.WRITING, "ready to write")

    def _images_lost(self, job: Job) -> bool:
        """A power loss cut the sync of the images the job retrieved (`store.sync`): they
        are gone from the store, so the job goes back to retrieving them."""
        store = self.c.store
        store.drop_lost()
        short = [ref for ref in job.studies if ref.archive and ref.expected_instances and (
            (row := store.index.study(ref.study_uid)) is None
            or row.instances < ref.expected_instances)]
        if not short:
            return False
        self.c.transition(job.id, JobState.RETRIEVING,
                          f"{len(short)} study(ies) lost images a power cut caught before "
                          "they were on disk: retrieving them again")
        return True

    def _build(self, job: Job, workdir: Path, cancel: StepCancel) -> list[Volume]:
        c = self.c
        profile = Profile(job.profile)
        writer = c.writer_class(job)
        capacity = self._capacity(job, profile)
        started = time.monotonic()

        def progress(p: BuildProgress) -> None:
            c.progress(job.id, p.done, p.total, f"{p.stage.value}: {p.detail}".rstrip(": "),
                       started)

        source = Source(c.store, [s.study_uid for s in job.studies],
                        [s.study_uid for s in job.studies if not s.include_reports],
                        media_settings(job, c.config.media))
        try:
            if job.options.anonymous_profile:
                if job.options.instances:
                    raise BuildError("anonymous copies of some instances only are not "
                                     "supported: copy the whole studies")
                source = self._anonymous(job, workdir, source, cancel)
            previews = (kept_previews(c.paths.previews, source.settings)
                        if source.store is c.store else None)
            try:
                volumes = build_volumes(
                    source.store, source.study_uids, profile, capacity,
                    workdir / "files", progress=progress, cancel=cancel.event,
                    settings=source.settings, without_reports=source.without_reports,
                    only=job.options.instances, asked=Asked(job.options.fileset_id, job.label),
                    previews=previews)
            finally:
                if previews is not None:
                    previews.close()
            log.info("job %d: %d volume(s) laid out in %.2f s", job.id, len(volumes),
                     time.monotonic() - started)
            if len(volumes) > 1 and not job.options.allow_splitting:
                c.fail(job.id, f"the content needs {len(volumes)} media of this kind and "
                               "splitting it over several media was not allowed: choose a "
                               "larger medium, or allow splitting", JobProblem.TOO_MANY_MEDIA)
                raise Stopped()
            for note in dict.fromkeys(n for v in volumes for n in v.notes):
                log.warning("job %d: %s", job.id, note)  # e.g. web images reduced to fit
                c.queue.note(job.id, note)
            if writer.needs_iso:
                volumes = self._images(job, volumes, workdir, cancel)
        except (BuildCancelled, IsoCancelled):
            c.check(job, cancel)
            raise
        except (BuildError, IsoError, DeidError) as exc:
            c.fail(job.id, str(exc), problem_of(exc) if isinstance(exc, BuildError) else
                   JobProblem.OTHER)
            raise Stopped() from exc
        finally:
            if source.store is not c.store:
                source.store.close()
        return manifest.save(volumes, workdir)

    def _anonymous(self, job: Job, workdir: Path, source: Source, cancel: StepCancel
                   ) -> Source:
        """De-identified copies of the job's studies in its work folder (never in the
        station's store): the medium is built from them."""
        c = self.c
        name = job.options.anonymous_profile
        try:
            profile = profile_named(c.config, name)
        except KeyError as exc:
            raise DeidError(f"{exc.args[0]}: add it to [[deid_profiles]], or choose "
                            "another copy") from None
        started = time.monotonic()

        def progress(p: DeidProgress) -> None:
            c.progress(job.id, p.done, p.total, "making the anonymous copies", started)

        work = Store(workdir / DEID)
        try:
            report = deidentify_into(c.store, source.study_uids, profile, job.options.deid_seed,
                                     work, progress, cancel.event)
        except DeidCancelled:
            work.close()
            c.check(job, cancel)
            raise
        except DeidError:
            work.close()
            raise
        for warning in report.warnings():
            c.queue.note(job.id, warning)
        c.record(job, "anonymous copies made", details=f"profile {name}: "
                 + ", ".join(report.method))
        copies = {s.original_uid: s.uid for s in report.studies}
        return Source(work, list(report.study_uids),
                      [copies[u] for u in source.without_reports if u in copies],
                      anonymous_media_settings(source.settings))

    def _images(self, job: Job, volumes: list[Volume], workdir: Path, cancel: StepCancel
                ) -> list[Volume]:
        c = self.c
        read_back = self._image_is_medium(job, workdir)
        made = []
        for v in volumes:
            c.check(job, cancel)
            iso_started = time.monotonic()

            def iso_progress(done: int, total: int, v: Volume = v,
                             t0: float = iso_started) -> None:
                c.progress(job.id, done, total,
                           f"making the image of disc {v.number} of {v.count}", t0)

            made.append(write_iso(v, workdir / f"volume{v.number}.iso", iso_progress,
                                  cancel.event, read_back=read_back))
            log.info("job %d: image of disc %d of %d made in %.2f s%s", job.id, v.number,
                     v.count, time.monotonic() - iso_started,
                     " (read back from the disk while written)" if read_back else "")
        return made

    def _capacity(self, job: Job, profile: Profile) -> int | None:
        """What one volume may take: as the writer says of its medium now (a disc drive
        asks the disc in it), else of the medium its kind writes."""
        c = self.c
        device = c.device(job)
        try:
            writer = writer_for(c.config, job.writes_to, [device] if device else [])
        except WriterError:
            return c.writer_class(job).medium(profile, device).capacity
        return writer.capacity_now(profile, device)

    def _image_is_medium(self, job: Job, workdir: Path) -> bool:
        """Whether to read the images back from the disk while they are written: when the
        writer says the image is the medium (an ISO file next to the work folder). A disc
        is read back once it is burned, a copy to another file system once it is copied:
        reading their images back would be wasted."""
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            return writer_for(self.c.config, job.writes_to, []).image_is_medium(workdir)
        except (WriterError, OSError):
            return False  # the writer says what is wrong when it gets there
