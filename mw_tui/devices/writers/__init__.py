"""Writers: one interface (`base.Writer`) for discs, USB sticks, ISO files and DICOMweb.

`writer_for` builds the writer for a job's target from the configuration and the
devices the watcher sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mw_tui.config import Config
from mw_tui.devices.models import Device, OpticalDrive, UsbStick
from mw_tui.devices.writers.base import (
    NoDevice,
    NotConfigured,
    Problem,
    Progress,
    ProgressCallback,
    Writer,
    WriterError,
    WriteResult,
    WriterKind,
)
from mw_tui.devices.writers.disc import DiscWriter
from mw_tui.devices.writers.isofile import IsoFileWriter
from mw_tui.devices.writers.stow import StowWriter
from mw_tui.devices.writers.usb import MountCommands, UsbWriter

__all__ = ["DiscWriter", "IsoFileWriter", "MountCommands", "Problem", "Progress",
           "ProgressCallback", "StowWriter", "UsbWriter", "WriteResult", "Writer",
           "WriterError", "WriterKind", "writer_for"]


def writer_for(config: Config, target: str, devices: Sequence[Device] = ()) -> Writer:
    """The writer for a target: "disc[:DEVICE]", "usb[:DEVICE]", "iso[:PATH]" or
    "cloud:NAME" (the job rules' notation). Raises NotConfigured / NoDevice."""
    kind, _, where = target.partition(":")
    d = config.devices
    if kind == "disc":
        device = where or (d.drive if d.drive != "auto" else "")
        if not device:
            drives = [x for x in devices if isinstance(x, OpticalDrive)]
            if not drives:
                raise NoDevice("No disc drive found: connect one, or set [devices] drive.")
            return DiscWriter.for_drive(drives[0], d.drive_speed, d.eject)
        drive = next((x for x in devices if isinstance(x, OpticalDrive)
                      and x.devname == device), None)
        eject = d.eject and (drive.ejectable if drive is not None else True)
        return DiscWriter(device, d.drive_speed, eject)
    if kind == "usb":
        sticks = [x for x in devices if isinstance(x, UsbStick)
                  and (not where or where in (x.devname, *[p.devname for p in x.partitions]))]
        if not sticks:
            raise NoDevice("No USB stick found: plug one in." if not where else
                           f"The USB stick {where} is not plugged in.")
        return UsbWriter(sticks[0], MountCommands(d.usb_mount_command, d.usb_unmount_command,
                                                  d.mount_folder))
    if kind == "iso":
        folder = where or d.iso_folder
        if not folder:
            raise NotConfigured("No folder for ISO files: set [devices] iso_folder.")
        if folder.endswith(".iso"):  # iso:/srv/out/knee.iso names the file itself
            path = Path(folder)
            return IsoFileWriter(path.parent, path.name)
        return IsoFileWriter(folder)
    if kind == "cloud":
        for t in config.targets:
            if t.name == where:
                return StowWriter(t)
        known = ", ".join(t.name for t in config.targets) or "none configured"
        raise NotConfigured(f"No cloud target named {where!r} (known: {known}): add a "
                            "[[targets]] table.")
    raise NotConfigured(f"Unknown target {target!r}: use disc, usb, iso:PATH or cloud:NAME.")
