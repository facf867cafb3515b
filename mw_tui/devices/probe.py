"""What a block device is, asked by its path when only the path is known (an import job
reading /dev/sr0 again): an optical drive or not, and what the drive says of its disc.

An optical drive is one whatever the file system of its disc (ISO 9660, UDF only, ...):
udev's ID_CDROM says so, else the kernel's SCSI peripheral type 5 (TYPE_ROM) in
/sys/class/block/NAME/device/type, else the sr driver's name (sr0). A device that none
of them describes (a loop device, a virtio disk) is neither known as a drive nor as a
stick: `optical` is None and the caller decides by what the device holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mw_tui.devices.models import OpticalMedia, optical_media

SYS_BLOCK = Path("/sys/class/block")
TYPE_ROM = "5"  # SCSI peripheral device type of CD/DVD/BD drives


@dataclass(frozen=True, slots=True)
class BlockDevice:
    devname: str  # the device file, links resolved: /dev/sr0
    optical: bool | None  # None: neither udev nor the kernel says
    media: OpticalMedia = OpticalMedia()  # what the drive says of its disc (optical only)


def probe(path: str | os.PathLike[str], sys_block: Path = SYS_BLOCK,
          properties: Mapping[str, str] | None = None) -> BlockDevice:
    """The device at `path`, with udev's `properties` (read from the udev database when
    not given; none when udev cannot be asked)."""
    devname = os.path.realpath(path)
    props = udev_properties(devname) if properties is None else properties
    name = os.path.basename(devname)
    optical = is_optical(name, props, sys_block)
    media = optical_media(props, _size(sys_block / name)) if optical else OpticalMedia()
    return BlockDevice(devname, optical, media)


def is_optical(name: str, props: Mapping[str, str], sys_block: Path = SYS_BLOCK
               ) -> bool | None:
    """Whether the block device `name` (sr0, sdb1) is an optical drive; None when
    neither udev nor the kernel says (a partition is asked about its disk)."""
    if props.get("ID_CDROM", "") not in ("", "0"):
        return True
    if re.fullmatch(r"sr[0-9]+", name):
        return True
    node = sys_block / name
    try:
        if (node / "partition").exists():
            node = node.resolve().parent
        scsi_type = (node / "device" / "type").read_text().strip()
    except OSError:  # not SCSI (loop, virtio, NVMe), or not in sysfs
        return None
    return scsi_type == TYPE_ROM


def udev_properties(devname: str) -> dict[str, str]:
    """udev's properties of a device file ({} when udev cannot be asked)."""
    try:
        import pyudev

        device = pyudev.Devices.from_device_file(pyudev.Context(), devname)
        return {k: str(device.properties[k]) for k in device.properties}
    except Exception:  # no pyudev, no such device, no udev database
        return {}


def _size(node: Path) -> int:
    try:
        return int((node / "size").read_text().strip() or 0) * 512
    except (OSError, ValueError):
        return 0
