"""Building the media of a job: from studies in the store to complete volumes.

`build_volumes()` checks every instance against the profile (transcoding what the profile
does not allow) while worker processes render the web images (webimages.py), spreads the
job over media when it is too big for one (see span.py; the web images are lowered when
they would need one more medium), and composes each volume: File IDs, DICOMDIR,
README.TXT, the IHE PDI web pages with their images, the viewer folder. Nothing is copied:
a volume lists the store's files (and transcoded ones and web images in the work folder),
ready for `write_iso()` or `stage_tree()`. Plain Python, progress by callback, cancellable
with a `threading.Event`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from mw_tui import config as cfg
from mw_tui.media import span as spanning
from mw_tui.media.compose import REPORTS_DIR, Asked, compose_volume
from mw_tui.media.content import Item, PatientContent, SeriesContent, StudyContent
from mw_tui.media.iso import image_size
from mw_tui.media.previews import PreviewCache
from mw_tui.media.profiles import SECTOR, Profile
from mw_tui.media.render import Rendering
from mw_tui.media.transcode import TranscodeError, dataset_is_explicit, to_explicit_le
from mw_tui.media.volume import Volume, VolumeFile, WebImages
from mw_tui.media.webimages import (
    Renderer,
    WebContent,
    WebSettings,
    choose_level,
    drop_full_size,
    extra_cost,
)
from mw_tui.standard import sop
from mw_tui.store import Store
from mw_tui.store.check import read_part10
from mw_tui.store.header import MalformedDataset
from mw_tui.store.index import InstanceRow, SeriesRow, StudyRow
from mw_tui.util import gcpause

log = logging.getLogger(__name__)
VIEWER_DIR = "VIEWER"
WEB_WORK = "web"  # in the work folder: the web images
MAX_VIEWER_DEPTH = 7  # VIEWER/ plus 7 levels: ISO 9660 allows 8


class BuildError(Exception):
    """The media cannot be built; the message says why and what to do."""


class BuildCancelled(BuildError):
    def __init__(self) -> None:
        super().__init__("the build was cancelled")


class TooLarge(BuildError):
    """One instance (or what every medium holds) is larger than the medium."""


class InstancesMissing(BuildError):
    """Instances asked for (`only`) are not in the store."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(f"{len(missing)} instance(s) asked for are not in the store "
                         f"(first: {missing[0]}): retrieve them, or send them again")
        self.missing = tuple(missing)


class BuildStage(StrEnum):
    PREPARING = "preparing"  # checking each instance, transcoding what the profile needs
    RENDERING = "rendering"  # waiting for the web images (made while preparing)
    COMPOSING = "composing"  # DICOMDIR, README and web pages of each volume


@dataclass(frozen=True, slots=True)
class BuildProgress:
    stage: BuildStage
    done: int
    total: int
    detail: str = ""


Progress = Callable[[BuildProgress], None]


@dataclass(frozen=True, slots=True)
class _Job:
    profile: Profile
    workdir: Path
    progress: Progress | None
    cancel: threading.Event | None

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise BuildCancelled()

    def report(self, stage: BuildStage, done: int, total: int, detail: str = "") -> None:
        if self.progress is not None:
            self.progress(BuildProgress(stage, done, total, detail))


def build_volumes(store: Store, study_uids: Sequence[str],
                  profile: Profile | str = Profile.STD_GEN_CD, capacity: int | None = None,
                  workdir: Path | str | None = None, *, block: int = SECTOR,
                  settings: cfg.MediaConfig | None = None, progress: Progress | None = None,
                  cancel: threading.Event | None = None,
                  created: datetime | None = None,
                  without_reports: Collection[str] = (), only: Collection[str] = (),
                  asked: Asked | None = None,
                  previews: PreviewCache | None = None) -> list[Volume]:
    """The volumes holding `study_uids` for `profile` (`only`: just these instances of
    them; InstancesMissing when some are not there).

    `capacity` is the bytes one medium holds (None: no limit, one volume); `block` its
    allocation unit (2048 for discs, the cluster size for USB). Transcoded files and
    extracted reports go to `workdir`, which must stay until the volumes are written; the
    caller removes it afterwards. Raises BuildError (BuildCancelled when `cancel` is set).
    The SR and PDF reports of the studies in `without_reports` are left out.
    `previews`: the station's kept web previews (those of `store`), used and added to.
    """
    profile = Profile(profile)
    settings = settings or cfg.MediaConfig()
    if workdir is None:
        raise BuildError("a work folder is needed for transcoded files and reports")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    job = _Job(profile, work, progress, cancel)
    created = created or datetime.now()
    made: list[Path] = []
    try:
        studies = _collect(store, study_uids, without_reports, frozenset(only))
        wanted = WebSettings.from_config(settings)
        with Renderer(work / WEB_WORK, wanted, cache=previews) as renderer:
            if wanted.level is not WebImages.NONE:  # rendered while the rest goes on
                renderer.submit_all([(i.sop_uid, store.root / i.source) for st in studies
                                     for se in st.series for i in se.items
                                     if i.sop_class not in REPORT_CLASSES])
            _prepare(store, studies, job, made)
            renderings = renderer.collect(job.check, lambda done, total: job.report(
                BuildStage.RENDERING, done, total, "web images"))
        viewer = _viewer_files(settings.viewer_folder)
        fixed = spanning.FIXED + sum(spanning.instance_cost(f.size, block) for f in viewer)
        web = _web_content(studies, renderings, wanted.level, capacity, block, fixed,
                           work / WEB_WORK)
        sizes = _sizes(studies, web, block)
        for _attempt in range(4):
            with gcpause.paused():  # the records and pages of every volume
                volumes = _compose_all(store, studies, sizes, capacity, block, fixed, job,
                                       created=created, settings=settings, viewer=viewer,
                                       web=web, asked=asked or Asked())
            if capacity is None:
                return volumes
            over = max(medium_size(v, block) for v in volumes) - capacity
            if over <= 0:
                return volumes
            log.info("media: the estimate was %d bytes short; spreading again", over)
            fixed += over + spanning.PER_LEVEL * 8
        raise TooLarge("the content cannot be spread over media of this size: choose a "
                         "larger medium")
    except BaseException:
        for p in made:
            p.unlink(missing_ok=True)
        shutil.rmtree(work / REPORTS_DIR, ignore_errors=True)
        shutil.rmtree(work / WEB_WORK, ignore_errors=True)
        raise


def _sizes(studies: list[StudyContent], web: WebContent, block: int) -> list[list[list[int]]]:
    """Bytes per instance on a medium: its file, and its web images."""
    return [[[i.size + extra_cost(web.renderings.get(i.sop_uid), web.level, block)
              for i in se.items] for se in st.series] for st in studies]


def _web_content(studies: list[StudyContent], renderings: dict[str, Rendering],
                 wanted: WebImages, capacity: int | None, block: int,
                 fixed: int, folder: Path) -> WebContent:
    """The web images the media get: fewer than `wanted` when they would need one more
    medium than the DICOM files alone (thumbnails only, then none)."""
    if wanted is WebImages.NONE:
        return WebContent()

    def media(level: WebImages) -> int:
        sizes = _sizes(studies, WebContent(level, renderings), block)
        try:
            return len(spanning.span(sizes, capacity, block, fixed))
        except spanning.DoesNotFit:
            return sys.maxsize

    level, note = (wanted, "") if capacity is None else choose_level(wanted, media)
    if note:
        log.warning("media: %s", note)
    if level is WebImages.NONE:
        return WebContent(level, {}, note)
    if level is WebImages.THUMBNAILS and wanted is WebImages.ALL:
        renderings = drop_full_size(renderings)
    return WebContent(level, renderings, note)


def _compose_all(store: Store, studies: list[StudyContent], sizes: list[list[list[int]]],
                 capacity: int | None, block: int, fixed: int, job: _Job, *,
                 created: datetime, settings: cfg.MediaConfig,
                 viewer: list[VolumeFile], web: WebContent, asked: Asked) -> list[Volume]:
    try:
        slices = spanning.span(sizes, capacity, block, fixed)
    except spanning.DoesNotFit as exc:
        raise TooLarge(f"{exc}: choose a larger medium") from exc
    volumes = []
    for n, vol_slices in enumerate(slices, 1):
        job.check()
        job.report(BuildStage.COMPOSING, n - 1, len(slices), f"volume {n}")
        patients = _patients(studies, vol_slices, slices)
        volumes.append(compose_volume(
            store, patients, profile=job.profile, number=n, count=len(slices),
            created=created, settings=settings, viewer=viewer, workdir=job.workdir,
            capacity=capacity, check=job.check, web=web, asked=asked))
    job.report(BuildStage.COMPOSING, len(slices), len(slices), "done")
    return volumes


def medium_size(volume: Volume, block: int) -> int:
    """Bytes `volume` takes: its exact ISO image size on discs (2048-byte sectors), else
    every file and folder rounded up to `block` (a FAT cluster)."""
    if block == SECTOR:
        return image_size(volume)
    folders = {f.dest.rpartition("/")[0] for f in volume.files}
    return sum(spanning.blocks(f.size, block) for f in volume.files) + len(folders) * block


REPORT_CLASSES = sop.SR_SOP_CLASSES | {sop.ENCAPSULATED_PDF}


def _collect(store: Store, study_uids: Sequence[str], without_reports: Collection[str] = (),
             only: frozenset[str] = frozenset()) -> list[StudyContent]:
    """The job's studies with their series and instances, from the index (without the SR
    and PDF report instances of the studies in `without_reports`; only those in `only`,
    when given)."""
    if not study_uids:
        raise BuildError("no study to write: name at least one")
    out: list[StudyContent] = []
    seen: set[str] = set()
    for uid in study_uids:
        if uid in seen:
            continue
        seen.add(uid)
        row = store.index.study(uid)
        if row is None:
            raise BuildError(f"study {uid} is not in the store ({store.root}): retrieve it "
                             "first, or check the UID (mw-tui studies lists them)")
        series = []
        for se in store.index.series(uid):
            rows = store.index.instances(se.series_uid)
            if uid in without_reports:
                rows = [r for r in rows if r.sop_class not in REPORT_CLASSES]
            if only:
                rows = [r for r in rows if r.sop_uid in only]
            if rows:
                series.append(SeriesContent(se, [_item_stub(r) for r in rows]))
        if not series and not only:
            raise BuildError(f"study {uid} has no instances in the store")
        if series:
            out.append(StudyContent(row, series))
    placed = {i.sop_uid for st in out for se in st.series for i in se.items}
    if only and not only <= placed:
        raise InstancesMissing(sorted(only - placed))
    return out


def _item_stub(r: InstanceRow) -> Item:
    return Item(r.sop_uid, r.sop_class, r.transfer_syntax, r.instance_number, Path(r.path),
                r.size, 0.0)


def _prepare(store: Store, studies: list[StudyContent], job: _Job, made: list[Path]) -> None:
    """Replace each stub with the file that goes on the medium (transcoded if needed)."""
    total = sum(len(se.items) for st in studies for se in st.series)
    done = 0
    tdir = job.workdir / "transcoded"
    for st in studies:
        for se in st.series:
            items = []
            for stub in se.items:
                job.check()
                items.append(_prepare_one(store, stub, job.profile, tdir, made))
                done += 1
                if done % 50 == 0 or done == total:
                    job.report(BuildStage.PREPARING, done, total)
            se.items = items


def _prepare_one(store: Store, stub: Item, profile: Profile, tdir: Path,
                 made: list[Path]) -> Item:
    path = store.root / stub.source
    where = f"instance {stub.sop_uid} ({sop.sop_class_name(stub.sop_class)})"
    try:
        st = os.stat(path)
        _, _, ts, _, offset = read_part10(path)
    except FileNotFoundError:
        raise BuildError(f"{where}: its file {path} is missing from the store (run "
                         "mw-tui store check)") from None
    except (OSError, MalformedDataset) as exc:
        raise BuildError(f"{where}: its file {path} cannot be read: {exc}") from exc
    ok = ts in profile.transfer_syntaxes
    if ok and ts == sop.EXPLICIT_VR_LE and not dataset_is_explicit(path, offset):
        ok = False  # announced Explicit VR, written Implicit VR: re-encode it
    if ok:
        return Item(stub.sop_uid, stub.sop_class, ts, stub.instance_number, path, st.st_size,
                    st.st_mtime)
    dest = tdir / hashlib.sha1(stub.sop_uid.encode()).hexdigest()
    try:
        tdir.mkdir(parents=True, exist_ok=True)
        result = to_explicit_le(path, dest)
    except OSError as exc:
        raise BuildError(f"{where}: cannot write its transcoded copy in {tdir}: "
                         f"{exc.strerror or exc} (free some space there, or set media.work "
                         "to another folder)") from exc
    except TranscodeError as exc:
        raise BuildError(f"{where} is stored as {sop.TRANSFER_SYNTAX_NAMES.get(ts, ts)}, which "
                         f"{profile.value} does not allow, and {exc}. Choose a profile that "
                         "allows it (for example STD-GEN-DVD-JPEG / -J2K or a USB profile), "
                         "or leave the instance out") from exc
    made.append(dest)
    log.debug("transcoded %s from %s", stub.sop_uid, ts)
    return Item(stub.sop_uid, stub.sop_class, sop.EXPLICIT_VR_LE, stub.instance_number, dest,
                result.size, st.st_mtime, transcoded_from=ts)


def _viewer_files(folder: str) -> list[VolumeFile]:
    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        raise BuildError(f"the viewer folder {root} (media.viewer_folder) does not exist: "
                         "fix the configuration or leave it empty")
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            p = Path(dirpath) / name
            rel = p.relative_to(root)
            if len(rel.parts) > MAX_VIEWER_DEPTH:
                raise BuildError(f"the viewer folder {root} nests {rel} deeper than a disc "
                                 f"allows ({MAX_VIEWER_DEPTH} levels)")
            if p.is_file():
                files.append(VolumeFile(f"{VIEWER_DIR}/{rel.as_posix()}", p.stat().st_size,
                                        source=p))
    return sorted(files, key=lambda f: f.dest)


def _patients(studies: list[StudyContent], mine: list[spanning.Slice],
              every: list[list[spanning.Slice]]) -> list[PatientContent]:
    """The patients -> studies -> series of one volume (its slices of the job)."""
    parts: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for vol in every:
        for s in vol:
            parts.setdefault((s.study, s.series), []).append((s.start, s.stop))
    patients: dict[tuple[str, str], PatientContent] = {}
    contents: dict[int, StudyContent] = {}
    for s in mine:
        study = studies[s.study]
        if s.study not in contents:
            contents[s.study] = StudyContent(study.row, [])
            key = (study.row.patient_id, study.row.patient_name)
            if key not in patients:
                r: StudyRow = study.row
                patients[key] = PatientContent(r.patient_name, r.patient_id, r.birth_date, r.sex)
            patients[key].studies.append(contents[s.study])
        series = study.series[s.series]
        all_parts = parts[(s.study, s.series)]
        row: SeriesRow = series.row
        contents[s.study].series.append(SeriesContent(
            row, series.items[s.start:s.stop],
            (all_parts.index((s.start, s.stop)) + 1, len(all_parts))))
    for i, content in contents.items():
        content.complete = len(content.series) == len(studies[i].series) and all(
            se.part[1] == 1 for se in content.series)
    return list(patients.values())
