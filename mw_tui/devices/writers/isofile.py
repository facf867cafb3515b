"""Copy a volume's ISO image into a folder (a local disk or a mounted network share).

Written as a hidden temp file, fsynced, read back and compared by md5, and only then given
its name without replacing anything (a link, or a rename where the share cannot link): an
image under its final name is always a verified one, and a crash before leaves only a temp
file (removed at the next write), so a job resumed after it writes the image once. On the
image's own file system the image is linked, not copied; when `write_iso` read it back
from the disk while writing it (the volume's `read_back` stamp names this very, unchanged
file), it is not read a second time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mw_tui.config.targets import TargetKind
from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Phase,
    Problem,
    ProblemCode,
    ProgressCallback,
    Writer,
    WriterError,
    WriteResult,
    announce,
    file_md5,
    fsync_dir,
)
from mw_tui.devices.writers.imagecopy import folder_problems, link_or_copy, read_back
from mw_tui.media.volume import Volume

TEMP_PREFIX = ".mw-tui-"


def iso_name(volume: Volume, name: str = "") -> str:
    """The file name of a volume's image: `name` (without .iso) or the volume label, with
    _1of3 for the discs of a set."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name.removesuffix(".iso") or volume.label) or "VOLUME"
    if volume.count > 1:
        base += f"_{volume.number}of{volume.count}"
    return base + ".iso"


class IsoFileWriter(Writer):
    kind = TargetKind.ISO
    needs_iso = True

    def __init__(self, folder: str | Path, name: str = "") -> None:
        self.folder = Path(folder)
        self.name = name

    def describe(self) -> str:
        return f"ISO files in {self.folder}" + (f" ({self.name})" if self.name else "")

    def image_is_medium(self, workdir: Path) -> bool:
        """In a folder on the work folder's file system the image is linked there: it is
        read back while it is built. Copied to another file system (a network share), it
        is read back once copied."""
        try:
            return self.folder.stat().st_dev == workdir.stat().st_dev
        except OSError:
            return False  # check() says what is wrong when it gets there

    def check(self, volume: Volume) -> list[Problem]:
        return folder_problems(volume, self.folder,
                               f"The folder {self.folder} does not exist (or the network "
                               "share is not mounted): create or mount it, or fix the "
                               "target's path in the configuration.")

    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        announce(progress, Phase.PREPARING, f"Checking {self.describe()}")
        self.raise_first(self.check(volume))
        assert volume.iso is not None
        size = volume.iso.stat().st_size
        meter = Meter(Phase.WRITING, size, progress)
        self.remove_stale_temps()
        temp = self.folder / f"{TEMP_PREFIX}{os.getpid()}-{iso_name(volume, self.name)}.partial"
        if cancel is not None and cancel.is_set():
            raise WriterError(ProblemCode.CANCELLED,
                              "Writing the image was cancelled; nothing was left behind.")
        copied = link_or_copy(volume.iso, temp, meter, cancel, folder=self.folder,
                              copying=f"Copying {volume.iso.name}",
                              cancelled="Copying the image was cancelled; nothing was left "
                                        "behind.",
                              share="the folder or network share")
        if copied is None:
            # the image is on the same file system: no copy, just a durable second name
            meter.update(size, force=True, message=f"Linked {volume.iso.name}")
        return self._finish(volume, temp, size, volume.iso_md5 or copied, progress, cancel,
                            copied_md5=copied)

    def _finish(self, volume: Volume, temp: Path, size: int, expected: str | None,
                progress: ProgressCallback | None, cancel: CancelToken | None,
                copied_md5: str | None = None) -> WriteResult:
        """Verify the image under its temp name, then give it its final name."""
        name = iso_name(volume, self.name)
        try:
            if expected is None:
                expected = file_md5(volume.iso) if volume.iso is not None else ""
            if copied_md5 is None and self._read_back(volume, temp, expected):
                # the linked file is the very image that was read back from the disk, every
                # byte compared, while it was written: reading it again would prove nothing
                assert volume.read_back is not None
                how = ("from the disk" if volume.read_back.direct else
                       "after dropping the cached copy (the file system refuses direct reads)")
                announce(progress, Phase.VERIFYING, f"{name} was read back while it was "
                         "written", total=size)
                final = self._publish(temp, name)
                announce(progress, Phase.DONE, f"{final.name} is written and verified.")
                return WriteResult(verified=True, md5=expected, safe_to_remove=True,
                                   location=str(final), bytes_written=size,
                                   details=(f"image {volume.label} written to {final}",
                                            f"read back {how} while the image was written: "
                                            f"every byte matches; md5 {expected}"))
            announce(progress, Phase.VERIFYING, f"Reading {name} back")
            md5 = read_back(temp, expected, copied_md5, name, cancel,
                            Meter(Phase.VERIFYING, size, progress))
            final = self._publish(temp, name)
        except BaseException:
            temp.unlink(missing_ok=True)  # an image not verified is not left behind
            raise
        announce(progress, Phase.DONE, f"{final.name} is written and verified.")
        return WriteResult(verified=True, md5=md5, safe_to_remove=True, location=str(final),
                           bytes_written=size,
                           details=(f"image {volume.label} written to {final}",
                                    f"read back: md5 {md5} matches the image"))

    @staticmethod
    def _read_back(volume: Volume, final: Path, md5: str) -> bool:
        """Whether `final` is the image file `write_iso(read_back=True)` read back, unchanged
        since (same device, inode, size and modification time) and with the same md5."""
        stamp = volume.read_back
        if stamp is None or stamp.md5 != md5 or volume.iso_md5 != md5:
            return False
        try:
            return stamp.matches(os.stat(final))
        except OSError:
            return False

    def remove_stale_temps(self) -> None:
        """Remove temp files left by a copy that was killed (its process is gone)."""
        for stale in self.folder.glob(f"{TEMP_PREFIX}*.partial"):
            pid = stale.name[len(TEMP_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                stale.unlink(missing_ok=True)

    def _publish(self, temp: Path, name: str) -> Path:
        """Give `temp` its final name without ever replacing an existing file."""
        stem, suffix = name.rsplit(".", 1)
        for n in range(1, 1000):
            final = self.folder / (name if n == 1 else f"{stem}-{n}.{suffix}")
            try:
                os.link(temp, final)
            except FileExistsError:
                continue
            except OSError:  # a share without hard links: rename (checked, not atomic)
                if final.exists():
                    continue
                os.rename(temp, final)
                fsync_dir(self.folder)
                return final
            temp.unlink()
            fsync_dir(self.folder)
            return final
        raise WriterError(ProblemCode.WRITE_FAILED,
                          f"{self.folder} already holds 999 images named {name}: clean it up.")

