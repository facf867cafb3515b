"""Opening what the technician points at: a folder, an ISO file or a device.

A device holding ISO 9660 is read straight from the device with pycdlib; any other
(a stick, a UDF-only disc) is mounted read-only with `[importing] mount_command` and
unmounted again when the medium is closed. A mount that turns out writable is undone and
refused: nothing is ever written to an outside medium.

What a device is comes from the device, not from its file system (`devices.probe`): a
disc in an optical drive is a disc (UDF only, or not), anything else a stick; only a
device nobody describes (a loop device) is taken for a disc when it holds ISO 9660.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from mw_tui.config import Config
from mw_tui.devices.models import MediaType
from mw_tui.devices.probe import probe
from mw_tui.importing.models import MediumKind
from mw_tui.importing.sources import FolderSource, IsoSource, MediumError, Source, is_iso9660

_MOUNT_TIMEOUT = 120


def open_source(source: str | os.PathLike[str], config: Config | None = None) -> Source:
    """The medium at `source`; MediumError (with what to do) when it cannot be read."""
    path = Path(source)
    try:
        st = path.stat()
    except OSError as exc:
        raise MediumError(f"{path} cannot be read ({exc.strerror}): check the path, or "
                          "insert the medium again.") from exc
    if stat.S_ISDIR(st.st_mode):
        return FolderSource(path)
    if stat.S_ISBLK(st.st_mode):
        if device_size(path) == 0:
            raise MediumError(f"There is no medium in {path}: insert the disc or stick.")
        device = probe(path)
        iso = is_iso9660(path)
        optical = iso if device.optical is None else device.optical
        kind = MediumKind.DISC if optical else MediumKind.MOUNTED
        disc = "" if device.media.type is MediaType.UNKNOWN else device.media.type.value
        if iso:
            return IsoSource(path, kind, disc)
        return MountedSource(path, config or Config(), kind, disc)
    if stat.S_ISREG(st.st_mode):
        if is_iso9660(path):
            return IsoSource(path, MediumKind.ISO_FILE)
        raise MediumError(f"{path} is neither a folder nor an ISO 9660 image (a disc "
                          "image): point at the folder, the .iso file or the device.")
    raise MediumError(f"{path} is neither a folder, an ISO image nor a block device.")


def device_size(path: Path) -> int | None:
    """Bytes a block device holds (0: an empty drive), None when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOMEDIUM:
            return 0
        return None
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        return None
    finally:
        os.close(fd)


class MountedSource(FolderSource):
    """A device without ISO 9660 (a stick, a UDF-only disc) mounted read-only for as
    long as it is open."""

    def __init__(self, device: Path, config: Config, kind: MediumKind = MediumKind.MOUNTED,
                 disc: str = "") -> None:
        self.device = str(device)
        self.config = config
        self.mountpoint = self._mount()
        self.disc = disc
        try:
            super().__init__(self.mountpoint, kind, label=device.name, origin=self.device)
        except MediumError:
            self._unmount()
            raise

    def _command(self, template: str, mountpoint: Path) -> list[str]:
        return [arg.format(device=self.device, mountpoint=str(mountpoint))
                for arg in shlex.split(template)]

    def _run(self, cmd: list[str], doing: str) -> subprocess.CompletedProcess[str]:
        """`cmd` run; MediumError when it hangs or cannot be started."""
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=_MOUNT_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            why = f"no answer in {exc.timeout:g} s"
        except OSError as exc:
            why = f"{cmd[0]}: {exc.strerror or exc}"
        raise MediumError(f"{self.device} did not answer when {doing} ({why}): take it out "
                          "and insert it again.")

    def _mount(self) -> Path:
        template = self.config.importing.mount_command
        root = Path(self.config.devices.mount_folder)
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            mountpoint = Path(tempfile.mkdtemp(prefix="import-", dir=root))
        except OSError as exc:
            raise MediumError(f"No folder to mount {self.device} on can be made in {root} "
                              f"({exc.strerror or exc}): check [devices] mount_folder.") from exc
        cmd = self._command(template, mountpoint)
        if shutil.which(cmd[0]) is None:
            mountpoint.rmdir()
            raise MediumError(f"The mount command {cmd[0]!r} is not installed: fix "
                              "[importing] mount_command.")
        try:
            proc = self._run(cmd, "mounted")
        except MediumError:
            with contextlib.suppress(OSError):  # still busy if the mount went through
                mountpoint.rmdir()
            raise
        if proc.returncode != 0:
            mountpoint.rmdir()
            said = (proc.stderr or proc.stdout).strip()[-300:]
            raise MediumError(f"{self.device} could not be mounted ({said}): it may hold no "
                              "file system this station reads; try it in another computer.")
        if "{mountpoint}" not in template:  # udisks2 says where it mounted
            m = re.search(r" at (/\S+?)\.?$", proc.stdout.strip())
            mountpoint.rmdir()
            if m is None:
                raise MediumError("The mount command did not say where it mounted "
                                  f"{self.device} ({proc.stdout.strip()[-200:]}).")
            mountpoint = Path(m.group(1))
        options = mount_options(mountpoint)
        if options is None:
            raise MediumError(f"{self.device} is not mounted at {mountpoint} after "
                              f"{' '.join(cmd)}: check [importing] mount_command.")
        if "ro" not in options:
            self.mountpoint = mountpoint
            self._unmount()
            raise MediumError(f"{' '.join(cmd)} mounted {self.device} writable: outside "
                              "media are only ever read. Add -o ro to [importing] "
                              "mount_command.")
        return mountpoint

    def _unmount(self) -> None:
        cmd = self._command(self.config.importing.unmount_command, self.mountpoint)
        try:
            self._run(cmd, "unmounted")
        finally:
            if self.mountpoint.parent == Path(self.config.devices.mount_folder):
                with contextlib.suppress(OSError):
                    self.mountpoint.rmdir()

    def close(self) -> None:
        super().close()
        if mount_options(self.mountpoint) is not None:
            self._unmount()


def mount_options(mountpoint: Path) -> set[str] | None:
    """The options of the file system mounted at `mountpoint` (None when nothing is)."""
    target = os.path.realpath(mountpoint)
    found: set[str] | None = None
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[1].replace("\\040", " ") == target:
            found = set(fields[3].split(","))  # the last mount there is the one seen
    return found
