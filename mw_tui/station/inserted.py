"""Noticing a patient's disc or stick: each disc with data and each stick with a file
system the device watcher reports is looked at on a thread of its own (a quick look for
a DICOMDIR or DICOM files, then read as an import reads it), and a medium holding DICOM
content is announced; its removal (or a new disc) too.

A plain service fed with the watcher's changes (`device_changed`); `on_change` runs on
the looking threads. Devices the station is writing to are left alone, and so is a disc
this station wrote itself (its volume label is one of the recent jobs').
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mw_tui.config import Config, TargetKind
from mw_tui.devices.models import Device, MediaState, OpticalDrive
from mw_tui.importing import Cancelled, Medium, MediumError, has_dicom, open_source, scan
from mw_tui.jobs.models import JobState
from mw_tui.jobs.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InsertedMedium:
    """A disc or stick in the station holding DICOM content (`medium`), or one that went
    (`medium` None)."""

    devpath: str
    source: str  # the device read: /dev/sr0, /dev/sdb1
    what: str  # "disc in /dev/sr0", "USB stick (/dev/sdb1)"
    medium: Medium | None

    @property
    def present(self) -> bool:
        return self.medium is not None


def readable(device: Device) -> tuple[str, str, tuple[object, ...]] | None:
    """(the device to read, what it is, what identifies its content) of a disc holding
    data or a stick holding a file system; None for an empty drive, a blank disc, a stick
    without a file system."""
    if isinstance(device, OpticalDrive):
        m = device.media
        if m.state not in (MediaState.COMPLETE, MediaState.APPENDABLE):
            return None
        return device.devname, f"disc in {device.devname}", (m.state, m.profile, m.used)
    part = device.target()
    if part is None:
        return None
    name = " ".join(x for x in (device.vendor, device.model) if x).replace("_", " ")
    return (part.devname, f"USB stick {name} ({part.devname})".replace("  ", " "),
            (part.fs_uuid, part.size, part.fs_type))


class MediaDetector:
    def __init__(self, config: Callable[[], Config], on_change: Callable[[InsertedMedium], None],
                 busy: Callable[[Device], bool] = lambda _d: False,
                 own_labels: Callable[[], set[str]] = set) -> None:
        """`busy(device)`: the station writes to it now (not looked at); `own_labels`:
        volume labels of media this station wrote lately (not announced)."""
        self.config = config
        self.on_change = on_change
        self.busy = busy
        self.own_labels = own_labels
        self._lock = threading.Lock()
        self._seen: dict[str, InsertedMedium] = {}
        self._looked: dict[str, tuple[object, ...]] = {}
        self._generation: dict[str, int] = {}
        self._stopping = threading.Event()

    def current(self) -> list[InsertedMedium]:
        with self._lock:
            return list(self._seen.values())

    def stop(self) -> None:
        self._stopping.set()

    def device_changed(self, change: tuple[str, Device]) -> None:
        """A device watcher's change: ("added" | "changed" | "removed", device)."""
        action, device = change
        found = None if action == "removed" else readable(device)
        with self._lock:
            if found is not None and self._looked.get(device.devpath) == (found[0], *found[2]):
                return  # the same medium reported again
            generation = self._generation.get(device.devpath, 0) + 1
            self._generation[device.devpath] = generation
            if found is None:
                self._looked.pop(device.devpath, None)
                gone = self._seen.pop(device.devpath, None)
            else:
                self._looked[device.devpath] = (found[0], *found[2])
                gone = None
        if gone is not None:
            self.on_change(InsertedMedium(gone.devpath, gone.source, gone.what, None))
        if found is not None and not self._stopping.is_set():
            threading.Thread(target=self._look, args=(device, found[0], found[1], generation),
                             name=f"look-at-{found[0]}", daemon=True).start()

    def _stale(self, devpath: str, generation: int) -> bool:
        return self._stopping.is_set() or self._generation.get(devpath) != generation

    def _look(self, device: Device, source: str, what: str, generation: int) -> None:
        medium = None
        try:
            if self.busy(device):
                return
            with open_source(source, self.config()) as src:
                if has_dicom(src):
                    medium = scan(src, cancel=lambda: self._stale(device.devpath, generation))
        except (MediumError, Cancelled, OSError) as exc:
            log.info("import: %s not looked at: %s", source, exc)
        except Exception:  # a reader bug must not end the watcher's work
            log.exception("import: looking at %s failed", source)
        if medium is not None and (not medium.has_dicom
                                   or (medium.label and medium.label in self.own_labels())):
            medium = None
        with self._lock:
            if self._stale(device.devpath, generation):
                return
            before = self._seen.pop(device.devpath, None)
            if medium is not None:
                self._seen[device.devpath] = InsertedMedium(device.devpath, source, what, medium)
        if medium is not None:
            self.on_change(InsertedMedium(device.devpath, source, what, medium))
        elif before is not None:
            self.on_change(InsertedMedium(device.devpath, source, what, None))


def writing_to(queue: JobQueue, device: Device) -> bool:
    """Whether a job writes to (or waits for) a medium of the device's kind now."""
    kind = TargetKind.DISC if isinstance(device, OpticalDrive) else TargetKind.USB
    return any(j.target is not None and j.target.kind is kind and j.state in (
        JobState.WAITING_FOR_MEDIA, JobState.WRITING, JobState.VERIFYING)
        for j in queue.list(active_only=True))


def recent_labels(queue: JobQueue) -> set[str]:
    """Volume labels of the media this station's last jobs wrote."""
    return {v.label for j in queue.list(limit=50) for v in j.volumes}
