"""Building: the File-sets of a job (and the ISO images discs and ISO files need)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from mw_tui.devices.models import SECTOR, MediaState, OpticalDrive
from mw_tui.devices.writers import writer_for
from mw_tui.devices.writers.base import WriterError
from mw_tui.devices.writers.disc import PAD_SECTORS, DiscWriter
from mw_tui.devices.writers.isofile import IsoFileWriter
from mw_tui.jobs import manifest
from mw_tui.jobs.core import RunnerCore, StepCancel, Stopped, log, written
from mw_tui.jobs.models import Job, JobState, TargetKind, VolumeRecord
from mw_tui.media.builder import BuildCancelled, BuildError, BuildProgress, build_volumes
from mw_tui.media.iso import IsoCancelled, IsoError, write_iso
from mw_tui.media.profiles import MEDIA, Profile
from mw_tui.media.volume import Volume


class BuildSteps(RunnerCore):
    def _build_step(self, job: Job, cancel: StepCancel) -> None:
        workdir = self._workdir(job)
        volumes = manifest.load(workdir)
        if volumes is None:
            if self._images_lost(job):
                return
            shutil.rmtree(workdir, ignore_errors=True)  # whatever a crash left half-made
            volumes = self._build(job, workdir, cancel)
        records = tuple(VolumeRecord(v.label, v.number, v.count, str(v.iso or ""),
                                     v.iso_md5 or "", v.iso_size or v.size,
                                     written(job, v.label)) for v in volumes)
        job = self.queue.update(job.id, volumes=records)
        if self._needs_media(job):
            self._transition(job.id, JobState.WAITING_FOR_MEDIA, self._prompt(job, volumes))
        else:
            self._transition(job.id, JobState.WRITING, "ready to write")

    def _images_lost(self, job: Job) -> bool:
        """A power loss cut the sync of the images the job retrieved (`store.sync`): they
        are gone from the store, so the job goes back to retrieving them."""
        self.store.drop_lost()
        short = [ref for ref in job.studies if ref.archive and ref.expected_instances and (
            (row := self.store.index.study(ref.study_uid)) is None
            or row.instances < ref.expected_instances)]
        if not short:
            return False
        self._transition(job.id, JobState.RETRIEVING,
                         f"{len(short)} study(ies) lost images a power cut caught before they "
                         "were on disk: retrieving them again")
        return True

    def _build(self, job: Job, workdir: Path, cancel: StepCancel) -> list[Volume]:
        profile = Profile(job.profile)
        capacity = self._capacity(job, profile)
        started = time.monotonic()

        def progress(p: BuildProgress) -> None:
            self._progress(job.id, p.done, p.total, f"{p.stage.value}: {p.detail}".rstrip(": "),
                           started)

        try:
            volumes = build_volumes(
                self.store, [s.study_uid for s in job.studies], profile, capacity,
                workdir / "files", progress=progress, cancel=cancel.event,
                settings=self.config.media,
                without_reports=[s.study_uid for s in job.studies if not s.include_reports])
            log.info("job %d: %d volume(s) laid out in %.2f s", job.id, len(volumes),
                     time.monotonic() - started)
            if self._writer_needs_iso(job):
                read_back = self._read_back_while_building(job, workdir)
                made = []
                for v in volumes:
                    self._check(job, cancel)
                    iso_started = time.monotonic()

                    def iso_progress(done: int, total: int, v: Volume = v,
                                     t0: float = iso_started) -> None:
                        self._progress(job.id, done, total,
                                       f"making the image of disc {v.number} of {v.count}", t0)

                    made.append(write_iso(v, workdir / f"volume{v.number}.iso", iso_progress,
                                          cancel.event, read_back=read_back))
                    log.info("job %d: image of disc %d of %d made in %.2f s%s", job.id,
                             v.number, v.count, time.monotonic() - iso_started,
                             " (read back from the disk while written)" if read_back else "")
                volumes = made
        except (BuildCancelled, IsoCancelled):
            self._check(job, cancel)
            raise
        except (BuildError, IsoError) as exc:
            self._fail(job.id, str(exc))
            raise Stopped() from exc
        return manifest.save(volumes, workdir)

    def _read_back_while_building(self, job: Job, workdir: Path) -> bool:
        """Whether to read the images back from the disk while they are written: for an
        ISO file in a folder on the work folder's file system, the image is the medium
        (the writer links it, and need not read it again). A disc is read back once it
        is burned, a copy to another file system (a network share) once it is copied:
        reading their images back would be wasted."""
        if job.target.kind is not TargetKind.ISO:
            return False
        try:
            writer = writer_for(self.config, str(job.target), [])
            return isinstance(writer, IsoFileWriter) and (
                writer.folder.stat().st_dev == workdir.stat().st_dev)
        except (WriterError, OSError):
            return False  # the writer says what is wrong when it gets there

    def _capacity(self, job: Job, profile: Profile) -> int | None:
        if job.target.kind is TargetKind.CLOUD:
            return None
        if job.target.kind is TargetKind.DISC:
            return self._disc_capacity(job, profile)
        if job.target.kind is TargetKind.USB:
            return None  # the stick's free space is checked by the writer
        medium = profile.default_medium
        return medium.capacity if medium.capacity else MEDIA["DVD"].capacity

    def _disc_capacity(self, job: Job, profile: Profile) -> int:
        """What an image may take of a disc: the free space the drive reports for the blank
        disc in it (else the disc's, or the profile medium's, capacity), less the pad the
        disc writer burns after the image, so every volume built fits when it is burnt."""
        for d in self.devices():
            if not isinstance(d, OpticalDrive) or (job.target.where
                                                   and d.devname != job.target.where):
                continue
            try:
                status = DiscWriter(d.devname).status()
            except WriterError:
                status = None
            if status is not None and status.state is MediaState.BLANK and status.free_sectors:
                return (status.free_sectors - PAD_SECTORS) * SECTOR
            if d.media.capacity:
                return int(d.media.capacity) - PAD_SECTORS * SECTOR
        medium = profile.default_medium
        return (medium.capacity or MEDIA["DVD"].capacity or 0) - PAD_SECTORS * SECTOR
