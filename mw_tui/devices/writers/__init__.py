"""Writers: one interface (`base.Writer`) for discs, USB sticks, ISO files and DICOMweb.

`writer_for` builds the writer for a typed `Target` from the configuration and the
devices the watcher sees; `writer_class` answers what a kind of target needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mw_tui.config import Config, Target, TargetKind
from mw_tui.devices.models import Device, OpticalDrive, UsbStick
from mw_tui.devices.writers.base import (
    Problem,
    ProblemCode,
    Progress,
    ProgressCallback,
    Writer,
    WriterError,
    WriteResult,
)
from mw_tui.devices.writers.disc import DiscWriter
from mw_tui.devices.writers.hotfolder import HotFolderWriter, LabelSource
from mw_tui.devices.writers.isofile import IsoFileWriter
from mw_tui.devices.writers.publishers import publisher_writer
from mw_tui.devices.writers.stow import StowWriter
from mw_tui.devices.writers.usb import MountCommands, UsbWriter

__all__ = ["DiscWriter", "IsoFileWriter", "MountCommands", "Problem", "ProblemCode",
           "Progress", "ProgressCallback", "StowWriter", "UsbWriter", "WriteResult", "Writer",
           "WriterError", "device_of", "devices_for", "writer_class", "writer_for"]


WRITERS: dict[TargetKind, type[Writer]] = {
    TargetKind.DISC: DiscWriter, TargetKind.USB: UsbWriter, TargetKind.ISO: IsoFileWriter,
    TargetKind.CLOUD: StowWriter, TargetKind.PUBLISHER: HotFolderWriter,  # type: ignore[type-abstract]
}


def writer_class(kind: TargetKind) -> type[Writer]:
    """The writer class of a kind of target: its flags say what the target needs."""
    return WRITERS[kind]


def writer_for(config: Config, target: Target, devices: Sequence[Device] = (), *,
               job_id: str | int = "", copies: int = 1,
               label_for: LabelSource | None = None) -> Writer:
    """The writer for a target, from the configuration and the devices present (a disc
    publisher also takes the job's id, its copies and its labels). Raises WriterError
    (NOT_CONFIGURED, NO_DEVICE) saying what to do."""
    d = config.devices
    where = target.where
    if target.kind is TargetKind.PUBLISHER:
        for p in config.publishers:
            if p.name == where:
                return publisher_writer(p, job_id=job_id, copies=copies, label_for=label_for)
        known = ", ".join(p.name for p in config.publishers) or "none configured"
        raise WriterError(ProblemCode.NOT_CONFIGURED,
                          f"No disc publisher named {where!r} (known: {known}): add a "
                          "[[publishers]] table.")
    if target.kind is TargetKind.DISC:
        device = where or (d.drive if d.drive != "auto" else "")
        if not device:
            drives = [x for x in devices if isinstance(x, OpticalDrive)]
            if not drives:
                raise WriterError(ProblemCode.NO_DEVICE,
                                  "No disc drive found: connect one, or set [devices] drive.")
            return DiscWriter.for_drive(drives[0], d.drive_speed, d.eject)
        drive = next((x for x in devices if isinstance(x, OpticalDrive)
                      and x.devname == device), None)
        eject = d.eject and (drive.ejectable if drive is not None else True)
        return DiscWriter(device, d.drive_speed, eject)
    if target.kind is TargetKind.USB:
        sticks = [x for x in devices if isinstance(x, UsbStick)
                  and (not where or where in (x.devname, *[p.devname for p in x.partitions]))]
        if not sticks:
            raise WriterError(ProblemCode.NO_DEVICE, "No USB stick found: plug one in."
                              if not where else f"The USB stick {where} is not plugged in.")
        return UsbWriter(sticks[0], MountCommands(d.usb_mount_command, d.usb_unmount_command,
                                                  d.mount_folder))
    if target.kind is TargetKind.ISO:
        folder = where or d.iso_folder
        if not folder:
            raise WriterError(ProblemCode.NOT_CONFIGURED,
                              "No folder for ISO files: set [devices] iso_folder.")
        if folder.endswith(".iso"):  # iso:/srv/out/knee.iso names the file itself
            path = Path(folder)
            return IsoFileWriter(path.parent, path.name)
        return IsoFileWriter(folder)
    for t in config.targets:
        if t.name == where:
            return StowWriter(t)
    known = ", ".join(t.name for t in config.targets) or "none configured"
    raise WriterError(ProblemCode.NOT_CONFIGURED,
                      f"No cloud target named {where!r} (known: {known}): add a [[targets]] "
                      "table.")


def devices_for(target: Target, devices: Sequence[Device]) -> list[Device]:
    """The drives or sticks a target writes to: the one it names, else every one there."""
    cls = writer_class(target.kind).device_type
    if cls is None:
        return []
    found = [d for d in devices if isinstance(d, cls)]
    named = [d for d in found if d.devname == target.where
             or target.where in [p.devname for p in getattr(d, "partitions", ())]]
    return named if target.where else found


def device_of(target: Target, devices: Sequence[Device]) -> Device | None:
    """The drive or stick a target writes to, when there is one."""
    found = devices_for(target, devices)
    return found[0] if found else None
