"""Block devices and their file systems as the station mounts them: the configured mount
commands, what a device holds now (blkid), what is mounted, who still holds a device
open, and the free space of a mounted file system."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PRESETS = {
    "mount": ("mount -o nosuid,nodev,noexec {device} {mountpoint}", "umount {mountpoint}"),
    "udisks2": ("udisksctl mount --no-user-interaction -b {device}",
                "udisksctl unmount --no-user-interaction -b {device}"),
    "fusefat": ("fusefat -o rw+ {device} {mountpoint}", "fusermount -u {mountpoint}"),
}


@dataclass(frozen=True, slots=True)
class MountCommands:
    """How sticks are mounted: `{device}` and `{mountpoint}` are filled in. A mount
    command without `{mountpoint}` (udisks2) prints where it mounted ("... at PATH")."""

    mount: str = PRESETS["mount"][0]
    unmount: str = PRESETS["mount"][1]
    folder: str = "/run/mw-tui/media"  # where mount points are created

    @classmethod
    def preset(cls, name: str, folder: str = "/run/mw-tui/media") -> MountCommands:
        mount, unmount = PRESETS[name]
        return cls(mount, unmount, folder)


@dataclass(frozen=True, slots=True)
class Probe:
    fs_type: str
    fs_version: str
    label: str
    size: int
    read_only: bool


def probe(devname: str) -> Probe | None:
    """The file system on a block device as it is now (blkid -p), its size and ro flag."""
    name = Path(os.path.realpath(devname)).name
    sysfs = Path("/sys/class/block") / name
    try:
        size = int((sysfs / "size").read_text()) * 512
        ro = (sysfs / "ro").read_text().strip() == "1"
    except (OSError, ValueError):
        return None
    values: dict[str, str] = {}
    if shutil.which("blkid"):
        out = subprocess.run(["blkid", "-p", "-o", "export", devname], capture_output=True,
                             text=True, timeout=30)
        for line in out.stdout.splitlines():
            key, _, value = line.partition("=")
            values[key] = value
    return Probe(values.get("TYPE", ""), values.get("VERSION", ""), values.get("LABEL", ""),
                 size, ro)


def mounted_devices() -> set[str]:
    out = set()
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev = line.split()[0]
            if dev.startswith("/dev/"):
                out.add(os.path.realpath(dev))
    except OSError:
        pass
    return out


def holders(device: str) -> list[int]:
    """PIDs of processes with `device` open (a FUSE file system's daemon, for one)."""
    target = os.path.realpath(device)
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                if os.path.realpath(fd.path) == target:
                    pids.append(int(entry.name))
                    break
        except OSError:
            continue
    return pids


def wait_released(device: str, timeout: float = 60.0) -> bool:
    """Wait until no process holds `device` open: a FUSE daemon goes on writing after
    `fusermount -u` returns, and only then is the stick complete."""
    deadline = time.monotonic() + timeout
    while holders(device):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def free_bytes(mountpoint: Path, device: str) -> int | None:
    """Free bytes of the mounted file system (FUSE mounts may not say: then ask mtools)."""
    try:
        st = os.statvfs(mountpoint)
        if st.f_blocks > 0:
            return st.f_bavail * st.f_frsize
    except OSError:
        pass
    if shutil.which("mdir") is None:
        return None
    proc = subprocess.run(["mdir", "-i", device, "::/"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    m = re.search(r"([\d ]+) bytes free", proc.stdout)
    return int(m.group(1).replace(" ", "")) if m else None
