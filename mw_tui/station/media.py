"""Media outside jobs: `mw-tui build` (studies of the store -> ISO images or folders), and
pushing a disc out of its drive."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mw_tui.config import Config, StoragePaths, Target, TargetKind
from mw_tui.deid import anonymous_media_settings, deidentify_into, new_seed, profile_named
from mw_tui.devices.models import Device
from mw_tui.devices.writers import WriterError, writer_for
from mw_tui.media import build_volumes, stage_tree, write_iso
from mw_tui.media.previews import kept_previews
from mw_tui.media.profiles import MEDIA, Profile, parse_size
from mw_tui.media.volume import Volume
from mw_tui.store import Store


class NothingStored(Exception):
    """The store is empty: there is nothing to build from."""


def numbered(path: Path, number: int, count: int) -> Path:
    """`out.iso` -> `out_2.iso` when there are several volumes (`dir` -> `dir_2`)."""
    if count <= 1:
        return path
    return path.with_name(f"{path.stem}_{number}{path.suffix}")


def capacity_of(profile: Profile, medium: str | None, capacity: str | None,
                folder: Path | None) -> tuple[int | None, int]:
    """(bytes one medium holds, its allocation unit): `capacity` ("700M"), else the
    `medium` named (CD, DVD, ...), else the profile's; USB into a folder: its free space."""
    m = MEDIA[medium] if medium else profile.default_medium
    if capacity:
        return parse_size(capacity), m.block
    if m.capacity is None and folder is not None:
        where = folder
        while not where.exists():
            where = where.parent
        return shutil.disk_usage(where).free, m.block
    return m.capacity, m.block


@dataclass(frozen=True, slots=True)
class Built:
    volume: Volume
    path: Path  # the ISO image or the folder
    files: int  # DICOM files on it


def build_media(config: Config, studies: Sequence[str], profile: Profile,
                capacity: int | None, block: int, out: Path, iso: bool,
                workdir: Path | None = None, cancel: threading.Event | None = None,
                on_volume: Callable[[Built], None] | None = None, anonymize: str = "",
                on_warning: Callable[[str], None] | None = None) -> list[Built]:
    """Build the studies as volumes of `profile`, each an ISO image (`iso`) or a folder
    tree at `out` (numbered when there are several); `anonymize`: of anonymous copies
    made with that [[deid_profiles]] profile (KeyError when unknown; the copies live in
    the work folder only). BuildError / IsoError / StageError / DeidError say what went
    wrong; OSError when the work folder cannot be used."""
    deid = profile_named(config, anonymize) if anonymize else None
    paths = StoragePaths.of(config)
    if not paths.index.exists():
        raise NothingStored(f"no store in {config.storage}: nothing received or retrieved yet")
    root = workdir or paths.build_work
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    store = Store(config.storage)
    source, uids, settings = store, list(studies), config.media
    made: list[Built] = []
    try:
        if deid is not None:
            source = Store(work / "deid")
            report = deidentify_into(store, uids, deid, new_seed(), source, cancel=cancel)
            uids, settings = list(report.study_uids), anonymous_media_settings(config.media)
            for warning in report.warnings():
                if on_warning is not None:
                    on_warning(warning)
        previews = kept_previews(paths.previews, settings) if source is store else None
        try:
            volumes = build_volumes(source, uids, profile, capacity, work / "files",
                                    block=block, settings=settings, cancel=cancel,
                                    previews=previews)
        finally:
            if previews is not None:
                previews.close()
        for v in volumes:
            dest = numbered(out, v.number, v.count)
            files = len(v.dicom_files())
            if iso:
                dest.parent.mkdir(parents=True, exist_ok=True)
                v = write_iso(v, dest, cancel=cancel)
            else:
                stage_tree(v, dest, cancel=cancel)
            made.append(Built(v, dest, files))
            if on_volume is not None:
                on_volume(made[-1])
    finally:
        if source is not store:
            source.close()
        shutil.rmtree(work, ignore_errors=True)
        store.close()
    return made


def eject(config: Config, target: Target, devices: Sequence[Device]) -> str:
    """Push the disc out of the target's drive; what happened, in a sentence."""
    if target.kind is not TargetKind.DISC:
        return "Only a disc drive ejects."
    try:
        writer = writer_for(config, target, devices)
    except WriterError as exc:
        return exc.message
    where = target.where or writer.describe()
    if writer.eject():
        return f"Ejected the disc from {where}."
    return f"{where} cannot eject: take the disc out by hand."
