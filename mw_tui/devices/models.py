"""What the station knows about its drives and sticks: frozen values built from udev.

Everything past the udev boundary (`watcher.py`) handles these plain values; the
conversion itself (`device_from_properties`) takes plain mappings, so it is tested
without udev.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.util.text import human_size

SECTOR = 2048  # bytes in a CD/DVD/BD data sector

FILE_SYSTEMS_FOR_STICKS = ("vfat", "exfat")  # what viewers' computers read everywhere


class DeviceKind(StrEnum):
    OPTICAL = "optical"
    USB = "usb"


class MediaState(StrEnum):
    NONE = "none"  # no disc in the drive
    BLANK = "blank"
    APPENDABLE = "appendable"  # written, another session could be added
    COMPLETE = "complete"  # written and closed


class MediaType(StrEnum):
    CD = "CD"
    DVD = "DVD"
    BD = "BD"
    UNKNOWN = "unknown"


# udev's ID_CDROM_MEDIA_<profile> -> nominal capacity of a blank disc, bytes
NOMINAL_CAPACITY = {
    "CD_R": 360_000 * SECTOR,
    "CD_RW": 360_000 * SECTOR,
    "DVD_R": 2_298_496 * SECTOR,
    "DVD_RW": 2_298_496 * SECTOR,
    "DVD_RW_RO": 2_298_496 * SECTOR,
    "DVD_RW_SEQ": 2_298_496 * SECTOR,
    "DVD_PLUS_R": 2_295_104 * SECTOR,
    "DVD_PLUS_RW": 2_295_104 * SECTOR,
    "DVD_RAM": 2_295_104 * SECTOR,
    "DVD_R_DL": 4_171_712 * SECTOR,
    "DVD_R_DL_SEQ": 4_171_712 * SECTOR,
    "DVD_R_DL_JR": 4_171_712 * SECTOR,
    "DVD_PLUS_R_DL": 4_173_824 * SECTOR,
    "DVD_PLUS_RW_DL": 4_173_824 * SECTOR,
    "BD_R": 12_219_392 * SECTOR,
    "BD_RE": 12_219_392 * SECTOR,
}
REWRITABLE_PROFILES = ("CD_RW", "DVD_RW", "DVD_RW_RO", "DVD_RW_SEQ", "DVD_PLUS_RW",
                       "DVD_PLUS_RW_DL", "DVD_RAM", "BD_RE")


@dataclass(frozen=True, slots=True)
class OpticalMedia:
    """The disc in a drive (state NONE: no disc)."""

    state: MediaState = MediaState.NONE
    type: MediaType = MediaType.UNKNOWN
    profile: str = ""  # udev's profile name, e.g. "DVD_PLUS_RW", "CD_R"
    rewritable: bool = False
    capacity: int | None = None  # bytes free on a blank disc, where known
    used: int = 0  # bytes of data on a written disc

    @property
    def present(self) -> bool:
        return self.state is not MediaState.NONE

    def describe(self) -> str:
        if not self.present:
            return "no disc"
        name = self.profile.replace("_PLUS_", "+").replace("_", "-") or self.type.value
        if self.state is MediaState.BLANK:
            size = f", {human_size(self.capacity)}" if self.capacity else ""
            return f"blank {name}{size}"
        return f"{name} ({self.state.value}, {human_size(self.used)} used)"


@dataclass(frozen=True, slots=True)
class OpticalDrive:
    kind = DeviceKind.OPTICAL

    devpath: str  # udev's DEVPATH: the key that survives removal
    devname: str  # /dev/sr0
    vendor: str = ""
    model: str = ""
    media: OpticalMedia = OpticalMedia()
    ejectable: bool = True  # a real tray; emulated drives (loop devices) are not
    writable: bool = True  # the station's user may open it for writing

    def describe(self) -> str:
        name = " ".join(x for x in (self.vendor, self.model) if x) or "optical drive"
        return f"{name} ({self.devname}): {self.media.describe()}"


@dataclass(frozen=True, slots=True)
class Partition:
    devpath: str
    devname: str
    number: int  # 0 = a file system on the whole stick (no partition table)
    size: int
    fs_type: str = ""  # "vfat", "exfat", "" = none found
    fs_version: str = ""  # "FAT32"
    fs_label: str = ""
    fs_uuid: str = ""
    read_only: bool = False

    def describe(self) -> str:
        fs = self.fs_version or self.fs_type or "no file system"
        label = f" '{self.fs_label}'" if self.fs_label else ""
        return f"{self.devname}: {fs}{label}, {human_size(self.size, 'unknown size')}"


@dataclass(frozen=True, slots=True)
class UsbStick:
    kind = DeviceKind.USB

    devpath: str
    devname: str  # the whole stick: /dev/sdb
    size: int
    vendor: str = ""
    model: str = ""
    serial: str = ""
    read_only: bool = False
    partitions: tuple[Partition, ...] = ()
    writable: bool = True

    def target(self) -> Partition | None:
        """Where the File-set goes: the first partition holding a file system sticks
        commonly use (or any file system, or a file system on the whole stick)."""
        candidates = [p for p in self.partitions if p.fs_type]
        for p in candidates:
            if p.fs_type in FILE_SYSTEMS_FOR_STICKS:
                return p
        return candidates[0] if candidates else None

    def describe(self) -> str:
        name = " ".join(x for x in (self.vendor, self.model) if x).replace("_", " ")
        ro = ", write-protected" if self.read_only else ""
        size = human_size(self.size, "unknown size")
        return f"{name or 'USB stick'} ({self.devname}, {size}{ro})"


Device = OpticalDrive | UsbStick




# -- the udev boundary: plain property mappings -> models --------------------------------


def _flag(props: Mapping[str, str], key: str) -> bool:
    return props.get(key, "") not in ("", "0")


def optical_media(props: Mapping[str, str], size: int) -> OpticalMedia:
    """The disc described by cdrom_id's ID_CDROM_MEDIA* properties."""
    if not _flag(props, "ID_CDROM_MEDIA"):
        return OpticalMedia()
    profiles = [k[len("ID_CDROM_MEDIA_"):] for k, v in props.items()
                if k.startswith("ID_CDROM_MEDIA_") and v == "1"]
    profiles = [p for p in profiles if p.startswith(("CD", "DVD", "BD", "HDDVD"))]
    profile = max(profiles, key=len, default="")  # CD and CD_R both set: keep CD_R
    kind = MediaType.UNKNOWN
    for t in (MediaType.BD, MediaType.DVD, MediaType.CD):
        if profile.startswith(t.value):
            kind = t
            break
    try:
        state = MediaState(props.get("ID_CDROM_MEDIA_STATE", "complete"))
    except ValueError:
        state = MediaState.COMPLETE
    rewritable = profile in REWRITABLE_PROFILES
    capacity: int | None = None
    used = 0
    if state is MediaState.BLANK:
        # a formatted rewritable disc (and an emulated drive) shows its size; a blank
        # write-once disc shows none, so take the nominal capacity of its type
        capacity = size if size > 0 else NOMINAL_CAPACITY.get(profile)
    else:
        used = size
    return OpticalMedia(state=state, type=kind, profile=profile, rewritable=rewritable,
                        capacity=capacity, used=used)


def partition_from_properties(props: Mapping[str, str], size: int, read_only: bool,
                              number: int | None = None) -> Partition:
    if number is None:
        number = int(props.get("PARTN") or props.get("ID_PART_ENTRY_NUMBER") or 0)
    return Partition(
        devpath=props.get("DEVPATH", ""), devname=props.get("DEVNAME", ""), number=number,
        size=size, fs_type=props.get("ID_FS_TYPE", ""),
        fs_version=props.get("ID_FS_VERSION", ""), fs_label=props.get("ID_FS_LABEL", ""),
        fs_uuid=props.get("ID_FS_UUID", ""), read_only=read_only)


def device_from_properties(
    props: Mapping[str, str],
    size: int,
    read_only: bool = False,
    partitions: Iterable[Partition] = (),
    writable: bool = True,
    system_devices: Iterable[str] = (),
) -> Device | None:
    """An optical drive or a USB stick from a whole disk's udev properties, else None.

    `size` is the disk's size in bytes (sysfs), `partitions` its partitions; a disk
    holding a mounted system file system (`system_devices`: device names) is never a
    stick the station may write to.
    """
    if props.get("SUBSYSTEM", "block") != "block" or props.get("DEVTYPE") != "disk":
        return None
    devpath, devname = props.get("DEVPATH", ""), props.get("DEVNAME", "")
    if not devpath or not devname:
        return None
    vendor = props.get("ID_VENDOR", "").replace("_", " ").strip()
    model = props.get("ID_MODEL", "").replace("_", " ").strip()
    if _flag(props, "ID_CDROM"):
        ejectable = not devname.startswith("/dev/loop")
        return OpticalDrive(devpath=devpath, devname=devname, vendor=vendor, model=model,
                            media=optical_media(props, size), ejectable=ejectable,
                            writable=writable)
    if props.get("ID_BUS") != "usb" or size <= 0:
        return None  # not USB, or a card reader without a card
    parts = tuple(sorted(partitions, key=lambda p: p.number))
    if not parts and props.get("ID_FS_TYPE"):
        # a "superfloppy": one file system on the whole stick
        parts = (partition_from_properties(props, size, read_only, number=0),)
    system = set(system_devices)
    if devname in system or any(p.devname in system for p in parts):
        return None
    return UsbStick(devpath=devpath, devname=devname, size=size, vendor=vendor,
                    model=model, serial=props.get("ID_SERIAL", ""), read_only=read_only,
                    partitions=parts, writable=writable)
