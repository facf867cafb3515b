"""Write a volume's File-set to a USB stick: mount, new files only, fsync, unmount,
mount again and read every file back, unmount: then the stick is safe to remove.

Only new files are created (never a rename, an overwrite or a truncation), which is
also what FUSE `fusefat` (the tests' mount command) handles without corrupting the FAT.
The mount command is configurable: the kernel's `mount` or udisks2 in production.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from mw_tui.config.targets import TargetKind
from mw_tui.devices.models import FILE_SYSTEMS_FOR_STICKS, Device, Partition, UsbStick
from mw_tui.devices.mounting import (
    MountCommands,
    Probe,
    free_bytes,
    mounted_devices,
    probe,
    wait_released,
)
from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Phase,
    Problem,
    ProblemCode,
    ProgressCallback,
    Remedy,
    Writer,
    WriterError,
    WriteResult,
    announce,
    drop_cache,
    fsync_dir,
    require_confirmation,
)
from mw_tui.media.profiles import MEDIA, USB_PROFILES, Medium, Profile
from mw_tui.media.volume import Volume
from mw_tui.util.text import human_size

SLACK_PER_FILE = 32 * 1024  # worst-case cluster rounding per file and directory
SLACK = 1 << 20

class UsbWriter(Writer):
    kind = TargetKind.USB
    needs_media = True
    makes_copies = True
    can_format = True
    removable = True
    profiles = USB_PROFILES
    medium_noun = "a USB stick"
    place_noun = "a USB port"
    device_type = UsbStick
    device_noun = "USB stick"

    @classmethod
    def medium(cls, profile: Profile | None, device: Device | None = None) -> Medium:
        """The stick plugged in (its size), else as big as the stick will be."""
        size = device.size if isinstance(device, UsbStick) else None
        return Medium("USB", size, MEDIA["USB"].block)

    def __init__(self, stick: UsbStick, commands: MountCommands | None = None) -> None:
        self.stick = stick
        self.commands = commands or MountCommands()

    def describe(self) -> str:
        return f"USB stick {self.stick.describe()}"

    # -- checks ----------------------------------------------------------------------------

    def _target(self) -> tuple[Partition | None, Probe | None]:
        part = self.stick.target() or (self.stick.partitions[0] if self.stick.partitions
                                       else None)
        if part is None:
            return None, probe(self.stick.devname)
        return part, probe(part.devname)

    def check(self, volume: Volume) -> list[Problem]:
        if not os.path.exists(self.stick.devname):
            return [Problem(ProblemCode.NO_DEVICE, f"The stick {self.stick.devname} is gone: "
                            "plug it in again.", Remedy.INSERT_MEDIA)]
        _, now = self._target()
        if now is None:
            return [Problem(ProblemCode.NO_DEVICE, f"The stick {self.stick.devname} cannot be "
                            "read: plug it in again or use another stick.", Remedy.NEW_MEDIA)]
        problems: list[Problem] = []
        if now.read_only or self.stick.read_only:
            problems.append(Problem(ProblemCode.READ_ONLY, "The stick is write-protected: "
                                    "slide its lock switch to unlock it, or use another stick.",
                                    Remedy.NEW_MEDIA))
        if now.fs_type not in FILE_SYSTEMS_FOR_STICKS:
            what = f"a {now.fs_type} file system" if now.fs_type else "no file system"
            problems.append(Problem(ProblemCode.NO_FILE_SYSTEM,
                                    f"The stick holds {what}, which the receiving computers "
                                    "may not read: format it as FAT32 (this erases it) or use "
                                    "another stick.", Remedy.FORMAT))
        needed = self.bytes_needed(volume)
        if now.size < needed:
            problems.append(Problem(ProblemCode.MEDIA_TOO_SMALL,
                                    f"This volume needs {human_size(needed)} but the stick "
                                    f"holds {human_size(now.size)}: use a bigger stick.",
                                    Remedy.NEW_MEDIA))
        if not volume.files:
            problems.append(Problem(ProblemCode.NO_IMAGE, "The volume has no files to write."))
        return problems

    @staticmethod
    def bytes_needed(volume: Volume) -> int:
        dirs = {str(Path(f.dest).parent) for f in volume.files}
        return volume.size + SLACK_PER_FILE * (len(volume.files) + len(dirs)) + SLACK

    # -- writing ---------------------------------------------------------------------------

    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        announce(progress, Phase.PREPARING, f"Checking {self.describe()}")
        self.raise_first(self.check(volume))
        part, _ = self._target()
        device = part.devname if part is not None else self.stick.devname
        digests: dict[str, str] = {}
        mountpoint = self._mount(device)
        try:
            self._check_room(mountpoint, device, volume)
            self._write_files(mountpoint, volume, digests, progress, cancel)
        except BaseException:
            self._unmount(device, mountpoint, quiet=True)
            raise
        announce(progress, Phase.CLOSING, "Flushing the stick")
        self._unmount(device, mountpoint)
        announce(progress, Phase.VERIFYING, "Reading every file back")
        mountpoint = self._mount(device)
        try:
            self._verify_files(mountpoint, volume, digests, progress, cancel)
        finally:
            self._unmount(device, mountpoint)
        manifest = "".join(f"{digests[f.dest]}  {f.dest}\n" for f in volume.files)
        announce(progress, Phase.DONE, "The stick is written and verified: safe to remove.")
        return WriteResult(
            verified=True, md5=hashlib.md5(manifest.encode()).hexdigest(),
            details=(f"wrote {len(volume.files)} files ({human_size(volume.size)}) to "
                     f"{device}", "read every file back: all md5 sums match",
                     "unmounted: the stick is safe to remove"),
            safe_to_remove=True, location=device, bytes_written=volume.size)

    def _check_room(self, mountpoint: Path, device: str, volume: Volume) -> None:
        existing = {name.upper() for name in os.listdir(mountpoint)}
        tops = sorted({f.dest.split("/")[0] for f in volume.files})
        clash = [t for t in tops if t.upper() in existing]
        if clash:
            raise WriterError(ProblemCode.NOT_EMPTY,
                              f"The stick already holds {', '.join(clash)} (another File-set): "
                              "use an empty stick, or format this one (this erases it).",
                              Remedy.FORMAT)
        free = free_bytes(mountpoint, device)
        needed = self.bytes_needed(volume)
        if free is not None and free < needed:
            raise WriterError(ProblemCode.MEDIA_TOO_SMALL,
                              f"This volume needs {human_size(needed)} but the stick has "
                              f"{human_size(free)} free: use an empty or bigger stick.")

    def _write_files(self, mountpoint: Path, volume: Volume, digests: dict[str, str],
                     progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        meter = Meter(Phase.WRITING, volume.size, progress)
        meter.update(0, force=True, message=f"Writing {len(volume.files)} files")
        done = 0
        made: set[Path] = set()
        for f in volume.files:
            for parent in reversed(Path(f.dest).parents[:-1]):
                d = mountpoint / parent
                if d not in made:
                    try:
                        d.mkdir(exist_ok=True)
                    except OSError as exc:
                        raise _translate(exc, str(parent)) from exc
                    made.add(d)
            h = hashlib.md5()
            try:
                fd = os.open(mountpoint / f.dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except OSError as exc:
                raise _translate(exc, f.dest) from exc
            try:
                for chunk in f.chunks():
                    if cancel is not None and cancel.is_set():
                        raise WriterError(ProblemCode.CANCELLED,
                                          "Writing was cancelled: the stick holds an incomplete "
                                          "copy; format it before using it again.", Remedy.FORMAT)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                    h.update(chunk)
                    done += len(chunk)
                    meter.update(done)
                os.fsync(fd)
            except OSError as exc:
                raise _translate(exc, f.dest) from exc
            finally:
                os.close(fd)
            digests[f.dest] = h.hexdigest()
        for d in [*sorted(made, key=lambda p: -len(p.parts)), mountpoint]:
            fsync_dir(d)
        os.sync()
        meter.update(volume.size, force=True)

    def _verify_files(self, mountpoint: Path, volume: Volume, digests: dict[str, str],
                      progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        meter = Meter(Phase.VERIFYING, volume.size, progress)
        done = 0
        bad: list[str] = []
        for f in volume.files:
            if cancel is not None and cancel.is_set():
                raise WriterError(ProblemCode.CANCELLED,
                                  "Verification was cancelled: the stick is written but "
                                  "unverified.")
            h = hashlib.md5()
            try:
                with open(mountpoint / f.dest, "rb", buffering=0) as fh:
                    drop_cache(fh.fileno())
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
                        done += len(chunk)
                        meter.update(done)
            except OSError as exc:
                bad.append(f"{f.dest} ({exc.strerror or exc})")
                continue
            if h.hexdigest() != digests[f.dest]:
                bad.append(f.dest)
        if bad:
            raise WriterError(ProblemCode.VERIFY_FAILED,
                              f"{len(bad)} file(s) read back differently from what was "
                              f"written ({', '.join(bad[:3])}): the stick may be faulty, "
                              "use another one.")

    # -- mounting ----------------------------------------------------------------------------

    def _command(self, template: str, device: str, mountpoint: Path) -> list[str]:
        return [arg.format(device=device, mountpoint=str(mountpoint))
                for arg in shlex.split(template)]

    def _mount(self, device: str) -> Path:
        root = Path(self.commands.folder)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        mountpoint = Path(tempfile.mkdtemp(prefix="stick-", dir=root))
        cmd = self._command(self.commands.mount, device, mountpoint)
        if shutil.which(cmd[0]) is None:
            mountpoint.rmdir()
            raise WriterError(ProblemCode.TOOL_MISSING,
                              f"The mount command {cmd[0]!r} is not installed: fix "
                              "[devices] usb_mount_command.")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            mountpoint.rmdir()
            said = (proc.stderr or proc.stdout).strip()[-300:]
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The stick could not be mounted ({said}): plug it in again, or "
                              "format it (this erases it).", Remedy.FORMAT)
        if "{mountpoint}" not in self.commands.mount:
            m = re.search(r" at (/\S+?)\.?$", proc.stdout.strip())
            mountpoint.rmdir()
            if m is None:
                raise WriterError(ProblemCode.WRITE_FAILED,
                                  f"The mount command did not say where it mounted the stick "
                                  f"({proc.stdout.strip()[-200:]}).")
            mountpoint = Path(m.group(1))
        if not os.path.ismount(mountpoint):
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The stick is not mounted at {mountpoint} after "
                              f"{' '.join(cmd)}: check [devices] usb_mount_command.")
        return mountpoint

    def _unmount(self, device: str, mountpoint: Path, quiet: bool = False) -> None:
        cmd = self._command(self.commands.unmount, device, mountpoint)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and os.path.ismount(mountpoint):
            if quiet:
                return
            said = (proc.stderr or proc.stdout).strip()[-300:]
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The stick could not be unmounted ({said}): do not pull it out "
                              "yet; close anything using it and try again.", Remedy.RETRY)
        os.sync()
        if not wait_released(device) and not quiet:
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"{device} is still in use after unmounting: do not pull the "
                              "stick out yet; close anything using it and try again.",
                              Remedy.RETRY)
        if mountpoint.parent == Path(self.commands.folder):
            try:
                mountpoint.rmdir()
            except OSError:
                pass

    # -- formatting --------------------------------------------------------------------------

    def format(self, confirm: bool = False, label: str = "",
               progress: ProgressCallback | None = None) -> None:
        require_confirmation(confirm, f"Formatting {self.describe()}")
        part = self.stick.partitions[0] if self.stick.partitions else None
        device = part.devname if part is not None and part.number > 0 else self.stick.devname
        devices = {os.path.realpath(self.stick.devname)} | {
            os.path.realpath(p.devname) for p in self.stick.partitions}
        if devices & mounted_devices():
            raise WriterError(ProblemCode.WRITE_FAILED,
                              "The stick is in use (mounted): unmount it before formatting.",
                              Remedy.RETRY)
        if shutil.which("mkfs.vfat") is None:
            raise WriterError(ProblemCode.TOOL_MISSING,
                              "mkfs.vfat is not installed: install the 'dosfstools' package.")
        now = probe(device)
        if now is None:
            raise WriterError(ProblemCode.NO_DEVICE,
                              f"The stick {device} is gone: plug it in again.")
        if now.read_only:
            raise WriterError(ProblemCode.READ_ONLY,
                              "The stick is write-protected: slide its lock switch to unlock it.")
        announce(progress, Phase.FORMATTING, f"Formatting {device} as FAT32")
        name = re.sub(r"[^A-Z0-9_]", "", (label or "DICOM").upper())[:11] or "DICOM"
        args = ["mkfs.vfat", "-n", name]
        if now.size >= 64 << 20:
            args += ["-F", "32"]
        if device == self.stick.devname:
            args.append("-I")  # the whole stick, no partition table
        proc = subprocess.run([*args, device], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"Formatting failed ({proc.stderr.strip()[-300:]}): use another "
                              "stick.")


def _translate(exc: OSError, what: str) -> WriterError:
    if exc.errno == errno.ENOSPC:
        return WriterError(ProblemCode.MEDIA_TOO_SMALL,
                           f"The stick is full (writing {what}): use a bigger or empty stick.")
    if exc.errno == errno.EROFS:
        return WriterError(ProblemCode.READ_ONLY,
                           "The stick is write-protected: slide its lock switch to unlock it.")
    if exc.errno == errno.EEXIST:
        return WriterError(ProblemCode.NOT_EMPTY,
                           f"{what} already exists on the stick: use an empty stick, or format "
                           "this one (this erases it).", Remedy.FORMAT)
    return WriterError(ProblemCode.WRITE_FAILED,
                       f"Writing {what} failed ({exc.strerror or exc}): the stick may be "
                       "faulty, use another one.")

