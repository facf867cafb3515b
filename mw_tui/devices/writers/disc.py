"""Burn a volume to CD/DVD/BD with xorriso, close the disc, read it back, eject.

The volume's ISO image (`volume.iso`) is burnt as one closed session
(`xorriso -as cdrecord`); a volume without an image is burnt as a tree with MD5 tags
(`-md5 on ... -commit`). Verification reads back what was written and compares its md5
with the image's (`volume.iso_md5`; through the block device, or through xorriso when a
real drive's kernel driver has not noticed the new disc yet), then has xorriso check the
disc: `-check_md5` against the MD5 tags an image made by xorriso carries, else
`-check_media`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mw_tui.config.targets import TargetKind
from mw_tui.devices.models import SECTOR, Device, MediaState, OpticalDrive
from mw_tui.devices.writers import xorriso as xo
from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Phase,
    Problem,
    ProblemCode,
    Progress,
    ProgressCallback,
    Remedy,
    Writer,
    WriterError,
    WriteResult,
    announce,
    check_cancel,
    drop_cache,
    file_md5,
    require_confirmation,
)
from mw_tui.media.profiles import MEDIA, Medium, Profile
from mw_tui.media.volume import Volume
from mw_tui.util.text import human_size

PAD_SECTORS = 150 + 16  # xorriso's 300 KiB pad after the image, and its write granularity
TREE_OVERHEAD_SECTORS = 400  # system area, descriptors, path tables of a tree burn


class DiscWriter(Writer):
    """A CD/DVD/BD drive (`device`: /dev/sr0; in tests a loop device via stdio:)."""

    kind = TargetKind.DISC
    needs_media = True
    needs_iso = True
    makes_copies = True
    can_eject = True
    can_blank = True
    removable = True
    medium_noun = "a blank disc"
    place_noun = "the drive"
    device_type = OpticalDrive
    device_noun = "disc drive"
    labelled = True  # a printable disc, or a case insert

    @classmethod
    def medium(cls, profile: Profile | None, device: Device | None = None) -> Medium:
        """The blank disc in the drive, else the profile's own disc."""
        if isinstance(device, OpticalDrive):
            m = device.media
            if m.state is MediaState.BLANK and m.capacity:
                name = m.type.value if m.type.value != "unknown" else "disc"
                return Medium(name, m.capacity)
        return super().medium(profile, device)

    def capacity_now(self, profile: Profile | None, device: Device | None = None
                     ) -> int | None:
        """The free space the drive reports for the blank disc in it (else the disc's or
        the profile's capacity), less the pad burnt after the image: every volume built
        then fits when it is burnt."""
        try:
            status = self.status()
        except WriterError:
            status = None
        if status is not None and status.state is MediaState.BLANK and status.free_sectors:
            return (status.free_sectors - PAD_SECTORS) * SECTOR
        capacity = self.medium(profile, device).capacity or MEDIA["DVD"].capacity or 0
        return capacity - PAD_SECTORS * SECTOR

    @classmethod
    def ask_for(cls, capacity: int | None) -> str:
        """"a blank CD" or "a blank DVD" when the volume was cut to their size."""
        for name in ("CD", "DVD"):
            if capacity and capacity <= (MEDIA[name].capacity or 0):
                return f"a blank {name}"
        return cls.medium_noun

    def __init__(self, device: str, speed: str = "max", eject: bool = True,
                 timeout: float = 3600.0) -> None:
        self.device = device
        self.speed = speed
        self.eject_after = eject
        self.timeout = timeout
        self._session_md5: str | None = None

    @classmethod
    def for_drive(cls, drive: OpticalDrive, speed: str = "max", eject: bool = True) -> DiscWriter:
        return cls(drive.devname, speed, eject and drive.ejectable)

    def describe(self) -> str:
        return f"disc drive {xo.resolve(self.device)}"

    @property
    def address(self) -> str:
        return xo.address(self.device)

    # -- what is in the drive ------------------------------------------------------------

    def status(self) -> xo.DiscStatus:
        """The medium in the drive; raises NoDevice/NoPermission/NoMedia/ToolMissing."""
        if not xo.have_xorriso():
            raise WriterError(ProblemCode.TOOL_MISSING,
                              "xorriso is not installed: install the 'xorriso' package.")
        path = xo.resolve(self.device)
        size = xo.block_size(self.device)
        if size is None:
            raise WriterError(ProblemCode.NO_DEVICE,
                              f"There is no disc drive at {path}: check [devices] drive in the "
                              "configuration, or connect the drive.")
        if not os.access(path, os.R_OK | os.W_OK):
            raise WriterError(ProblemCode.NO_PERMISSION,
                              f"The station may not use the drive {path}: add its user to "
                              "the 'cdrom' group, then restart the station.")
        if size == 0 and not xo.is_mmc(self.device):
            raise WriterError(ProblemCode.NO_MEDIA,
                              f"No disc in {self.describe()}: insert a blank disc.")
        result = xo.run(["-outdev", self.address, "-toc", "-tell_media_space"], timeout=300)
        if result.timed_out:
            raise WriterError(ProblemCode.NO_DEVICE,
                              f"The drive {path} does not answer: open and close its tray, or "
                              "switch it off and on.")
        status = xo.parse_status(result.output)
        if status.state is MediaState.NONE:
            raise WriterError(ProblemCode.NO_MEDIA,
                              f"No disc in {self.describe()}: insert a blank disc.")
        return status

    def check(self, volume: Volume) -> list[Problem]:
        try:
            status = self.status()
        except WriterError as exc:
            if exc.code not in (ProblemCode.NO_DEVICE, ProblemCode.NO_PERMISSION,
                                ProblemCode.NO_MEDIA, ProblemCode.TOOL_MISSING):
                raise
            return [exc.problem]
        problems: list[Problem] = []
        if volume.iso is None and not volume.files:
            problems.append(Problem(ProblemCode.NO_IMAGE, "The volume has nothing to write."))
        if volume.iso is not None and not volume.iso.exists():
            problems.append(Problem(ProblemCode.NO_IMAGE,
                                    f"The image {volume.iso} is gone: build the volume again.",
                                    Remedy.RETRY))
        if status.state is not MediaState.BLANK:
            problems.append(self._not_blank(status))
        elif status.free_sectors is not None:
            needed = self.sectors_needed(volume)
            if needed > status.free_sectors:
                problems.append(Problem(
                    ProblemCode.MEDIA_TOO_SMALL,
                    f"This volume needs {human_size(needed * SECTOR)} but the {status.name} "
                    f"holds {human_size(status.free_sectors * SECTOR)}: insert a bigger disc "
                    "(DVD or BD), or split the job over several discs.", Remedy.NEW_MEDIA))
        return problems

    def _not_blank(self, status: xo.DiscStatus) -> Problem:
        used = human_size(status.used_sectors * SECTOR)
        if status.rewritable:
            return Problem(ProblemCode.MEDIA_NOT_BLANK,
                           f"The {status.name} in the drive is not blank ({used} written): "
                           "blank it (this erases it) or insert a blank disc.", Remedy.BLANK)
        return Problem(ProblemCode.MEDIA_NOT_BLANK,
                       f"The {status.name} in the drive has already been written ({used}) and "
                       "cannot be erased: insert a blank disc.", Remedy.NEW_MEDIA)

    @staticmethod
    def sectors_needed(volume: Volume) -> int:
        if volume.iso is not None:
            size = volume.iso_size or volume.iso.stat().st_size
            return xo.sectors(size) + PAD_SECTORS
        return (sum(xo.sectors(f.size) for f in volume.files) + TREE_OVERHEAD_SECTORS
                + PAD_SECTORS)

    # -- burning -------------------------------------------------------------------------

    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        announce(progress, Phase.PREPARING, f"Checking the disc in {self.describe()}")
        self.raise_first(self.check(volume))
        check_cancel(cancel, "The burn was cancelled before it started; the disc is untouched.")
        details: list[str] = []
        if volume.iso is not None:
            self._burn_image(volume, progress, cancel)
            details.append(f"burnt {volume.iso.name} ({human_size(self._iso_size(volume))}) "
                           f"to {self.describe()}, disc closed")
        else:
            self._burn_tree(volume, progress, cancel)
            details.append(f"burnt {len(volume.files)} files to {self.describe()} with MD5 "
                           "tags, disc closed")
        result = self.verify(volume, progress, cancel)
        details += result.details
        ejected = False
        if self.eject_after:
            announce(progress, Phase.EJECTING, "Ejecting the disc")
            ejected = self.eject()
            details.append("disc ejected" if ejected else
                           "this drive cannot eject: take the disc out by hand")
        announce(progress, Phase.DONE, "The disc is written and verified.")
        return WriteResult(verified=True, md5=result.md5, details=tuple(details),
                           safe_to_remove=True, location=xo.resolve(self.device),
                           bytes_written=result.bytes_written, ejected=ejected)

    def _speed_args(self, native: bool) -> list[str]:
        if self.speed in ("", "max"):
            return []
        return ["-speed", self.speed] if native else [f"speed={self.speed}"]

    @staticmethod
    def _iso_size(volume: Volume) -> int:
        assert volume.iso is not None
        return volume.iso_size or volume.iso.stat().st_size

    def _burn_image(self, volume: Volume, progress: ProgressCallback | None,
                    cancel: CancelToken | None) -> None:
        assert volume.iso is not None
        total = self._iso_size(volume)
        meter = Meter(Phase.WRITING, total, progress)
        meter.update(0, force=True, message=f"Burning {volume.label}")

        on_line = xo.burn_lines(meter, total, progress)
        args = ["-abort_on", "FAILURE", "-as", "cdrecord", "-v", f"dev={self.address}",
                *self._speed_args(native=False), str(volume.iso)]
        self._finish(xo.run(args, on_line, cancel, self.timeout))

    def _burn_tree(self, volume: Volume, progress: ProgressCallback | None,
                   cancel: CancelToken | None) -> None:
        total = volume.size
        meter = Meter(Phase.WRITING, total, progress)
        meter.update(0, force=True, message=f"Burning {volume.label}")
        with tempfile.TemporaryDirectory(prefix="mw-tui-burn-") as tmp:
            stage = Path(tmp) / "tree"
            for f in volume.files:
                dest = stage / f.dest
                dest.parent.mkdir(parents=True, exist_ok=True)
                if f.source is not None and f.offset is None:
                    dest.symlink_to(f.source.resolve())
                else:
                    dest.write_bytes(f.read())

            on_line = xo.burn_lines(meter, total, progress)
            args = ["-abort_on", "FAILURE", "-md5", "on", "-outdev", self.address,
                    *self._speed_args(native=True), "-close", "on", "-follow", "link",
                    "-volid", volume.label, "-joliet", "on", "-map", str(stage), "/", "-commit"]
            self._finish(xo.run(args, on_line, cancel, self.timeout))

    def _finish(self, run: xo.Run) -> None:
        if run.timed_out:
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The drive did not finish within {self.timeout:.0f} s: the disc "
                              "is probably unusable; try a new disc or another drive.")
        if run.cancelled:
            raise WriterError(ProblemCode.CANCELLED,
                              "The burn was cancelled: the disc is probably unusable now; "
                              "insert a new one (a rewritable disc can be blanked).",
                              Remedy.NEW_MEDIA)
        if run.returncode == 0:
            return
        said = xo.problems(run.output)
        text = "; ".join(said[-3:]) or run.output[-300:]
        if any("exceeds free space" in s for s in said):
            raise WriterError(ProblemCode.MEDIA_TOO_SMALL,
                              f"The disc is too small for this volume ({text}): insert a "
                              "bigger disc.")
        if any("not blank" in s.lower() or "not appendable" in s.lower() for s in said):
            raise WriterError(ProblemCode.MEDIA_NOT_BLANK,
                              f"The disc is not blank ({text}): insert a blank disc.")
        raise WriterError(ProblemCode.WRITE_FAILED,
                          f"Burning failed ({text}): insert a new disc and try again; if it "
                          "fails again, try a slower speed or another brand of discs.")

    # -- verification ---------------------------------------------------------------------

    def verify(self, volume: Volume, progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> WriteResult:
        """Read the disc back and compare; raises VerifyFailed (offer a new disc)."""
        details: list[str] = []
        md5: str | None = None
        written = 0
        if volume.iso is not None:
            size = self._iso_size(volume)
            expected = volume.iso_md5 or file_md5(volume.iso, uncached=False)
            meter = Meter(Phase.VERIFYING, size, progress)
            meter.update(0, force=True, message="Reading the disc back")
            md5 = self.read_back_md5(size, cancel, meter, volume.iso.parent)
            if md5 != expected:
                raise WriterError(ProblemCode.VERIFY_FAILED,
                                  f"The disc does not read back what was written (md5 {md5}, "
                                  f"expected {expected}): burn a new disc.")
            written = size
            details.append(f"read back {human_size(size)}: md5 {md5} matches the image")
        announce(progress, Phase.VERIFYING, "xorriso is checking the disc")
        details.append(self.xorriso_check(tree=volume.iso is None, cancel=cancel))
        if volume.iso is None:
            md5 = self._session_md5
            written = volume.size
        return WriteResult(verified=True, md5=md5, details=tuple(details), safe_to_remove=True,
                           location=xo.resolve(self.device), bytes_written=written)

    def read_back_md5(self, size: int, cancel: CancelToken | None = None,
                      meter: Meter | None = None, spool: Path | None = None) -> str:
        """md5 of the first `size` bytes on the disc, read through the block device; a
        real drive whose kernel driver has not noticed the new disc yet (short read) is
        read by xorriso instead, through a temp file in `spool`."""
        try:
            return file_md5(Path(xo.resolve(self.device)), size, cancel, meter)
        except (OSError, WriterError) as exc:
            if isinstance(exc, WriterError) and exc.code is not ProblemCode.VERIFY_FAILED:
                raise
            if not xo.is_mmc(self.device):
                reason = exc.message if isinstance(exc, WriterError) else exc.strerror
                raise WriterError(ProblemCode.VERIFY_FAILED,
                                  f"The disc could not be read back ({reason}): burn a new "
                                  "disc.") from exc
        return self.md5_via_xorriso(size, cancel, spool)

    def md5_via_xorriso(self, size: int, cancel: CancelToken | None = None,
                        spool: Path | None = None) -> str:
        """Read the disc with xorriso -check_media data_to= (through libburn, not the
        kernel's view of the disc) into a temp file in `spool`, and return its md5."""
        last = xo.sectors(size) - 1
        with tempfile.TemporaryDirectory(prefix=".mw-tui-readback-", dir=spool) as tmp:
            copy = Path(tmp) / "disc.img"
            run = xo.run(["-abort_on", "NEVER", "-indev", self.address, "-check_media",
                          "what=disc", "min_lba=0", f"max_lba={last}", f"data_to={copy}", "--"],
                         cancel=cancel, timeout=self.timeout)
            if run.cancelled:
                raise WriterError(ProblemCode.CANCELLED,
                                  "Verification was cancelled: the disc is written but "
                                  "unverified.")
            if not copy.exists() or copy.stat().st_size < size:
                said = "; ".join(xo.problems(run.output)[-2:]) or "short read"
                raise WriterError(ProblemCode.VERIFY_FAILED,
                                  f"The disc could not be read back ({said}): burn a new "
                                  "disc.")
            return file_md5(copy, size, cancel, uncached=False)

    def xorriso_check(self, tree: bool = False, cancel: CancelToken | None = None) -> str:
        """xorriso -check_md5 (session and, for tree burns, every file) where the disc has
        MD5 tags, else -check_media; returns what it found, raises VerifyFailed."""
        self._forget_cached()
        args = ["-abort_on", "NEVER", "-md5", "on", "-indev", self.address,
                "-check_md5", "FAILURE", "--"]
        if tree:
            args += ["-check_md5_r", "FAILURE", "/", "--"]
        run = xo.run(args, cancel=cancel, timeout=self.timeout)
        if run.cancelled:
            raise WriterError(ProblemCode.CANCELLED,
                              "Verification was cancelled: the disc is written but unverified.")
        out = run.output
        if "No session MD5 is recorded" not in out:
            for line in out.splitlines():
                if line.startswith("Session MD5 "):
                    self._session_md5 = line.split()[2]
            if run.returncode == 0 and "Ok, session data match recorded md5" in out:
                return (f"xorriso -check_md5: the session matches its MD5 tag "
                        f"({self._session_md5})" + (", every file matches" if tree else ""))
            said = "; ".join(xo.problems(out)[-2:]) or "MD5 mismatch"
            raise WriterError(ProblemCode.VERIFY_FAILED,
                              f"xorriso finds the disc damaged ({said}): burn a new disc.")
        if tree:
            raise WriterError(ProblemCode.VERIFY_FAILED,
                              "The disc carries no MD5 tags to check: burn a new disc.")
        run = xo.run(["-abort_on", "NEVER", "-indev", self.address, "-check_media", "--"],
                     cancel=cancel, timeout=self.timeout)
        if run.cancelled:
            raise WriterError(ProblemCode.CANCELLED,
                              "Verification was cancelled: the disc is written but unverified.")
        bad = [line for line in run.output.splitlines()
               if line.startswith("Media region :") and line.rsplit(",", 1)[-1].strip()
               .startswith("-")]
        if bad or run.returncode != 0:
            said = "; ".join(bad[:3] or xo.problems(run.output)[-2:])
            raise WriterError(ProblemCode.VERIFY_FAILED,
                              f"xorriso finds unreadable parts on the disc ({said}): burn a "
                              "new disc.")
        return "xorriso -check_media: every block of the disc reads (the image has no MD5 tags)"

    def _forget_cached(self) -> None:
        """Drop the kernel's cached copy of the disc, so xorriso reads the medium."""
        try:
            fd = os.open(xo.resolve(self.device), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            drop_cache(fd)
        finally:
            os.close(fd)

    # -- blank and eject ------------------------------------------------------------------

    def blank(self, confirm: bool = False, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> None:
        require_confirmation(confirm, f"Blanking the disc in {self.describe()}")
        status = self.status()
        if status.state is MediaState.BLANK:
            return
        if not status.rewritable:
            raise WriterError(ProblemCode.MEDIA_NOT_BLANK,
                              f"The {status.name} has already been written and cannot be "
                              "erased (write-once): insert a blank disc.")
        announce(progress, Phase.BLANKING, "Blanking the disc", total=100)

        def on_line(line: str) -> None:
            pct = xo.parse_blank_progress(line)
            if pct is not None and progress is not None:
                progress(Progress(Phase.BLANKING, round(pct), 100, unit="percent"))

        run = xo.run(["-abort_on", "FAILURE", "-outdev", self.address, "-blank", "as_needed"],
                     on_line, cancel, self.timeout)
        if run.cancelled:
            raise WriterError(ProblemCode.CANCELLED,
                              "Blanking was cancelled: blank the disc again before using it.")
        if run.returncode != 0:
            said = "; ".join(xo.problems(run.output)[-2:])
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The disc could not be blanked ({said}): insert another disc.")

    def eject(self) -> bool:
        if not xo.is_mmc(self.device):
            return False  # a loop device or image file: nothing to push out
        run = xo.run(["-abort_on", "NEVER", "-outdev", self.address, "-eject", "all"],
                     timeout=120)
        return run.returncode == 0 and not xo.problems(run.output)
