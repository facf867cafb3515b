"""A volume's ISO image put into a folder, for the writers that hand over an image file
(the ISO-file writer's folder, a disc publisher's job folder): what stands in the way, a
second name for the image there (a hard link on the image's own file system: nothing is
copied) or else a copy, and the copy read back.

One way for both, so that what is refused, how a share that is full or fails is told,
and what a copy must prove before it is used are the same whichever target it goes to.
A copy that fails or is cancelled leaves nothing behind; one that does not read back as
the image is deleted.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Problem,
    ProblemCode,
    Remedy,
    WriterError,
    file_md5,
)
from mw_tui.media.volume import Volume
from mw_tui.util.text import human_size

CHUNK = 1 << 20  # bytes per read and write of a copy


def folder_problems(volume: Volume, folder: Path, missing: str) -> list[Problem]:
    """What stands in the way of putting the volume's image into `folder`: no image, no
    folder (`missing` says what to do), no right to write there, or too little room for
    a copy (none is needed where the image can be linked: on its own file system)."""
    problems: list[Problem] = []
    image = volume.iso if volume.iso is not None and volume.iso.exists() else None
    if image is None:
        problems.append(Problem(ProblemCode.NO_IMAGE, "The volume's ISO image has not been "
                                "built (or is gone): build the volume again.", Remedy.RETRY))
    if not folder.is_dir():
        problems.append(Problem(ProblemCode.NO_DEVICE, missing, Remedy.SETTINGS))
        return problems
    if not os.access(folder, os.W_OK | os.X_OK):
        problems.append(Problem(ProblemCode.NO_PERMISSION, f"The station may not write into "
                                f"{folder}: give its user write access.", Remedy.SETTINGS))
    elif image is not None:
        st = image.stat()
        free = shutil.disk_usage(folder).free
        if free < st.st_size and st.st_dev != folder.stat().st_dev:
            problems.append(Problem(ProblemCode.MEDIA_TOO_SMALL,
                                    f"The image needs {human_size(st.st_size)} but {folder} "
                                    f"has {human_size(free)} free: make room there.",
                                    Remedy.RETRY))
    return problems


def link_or_copy(image: Path, dest: Path, meter: Meter, cancel: CancelToken | None, *,
                 folder: Path, copying: str, cancelled: str, share: str) -> str | None:
    """Give `image` the name `dest` in `folder` (the target's folder, as the technician
    knows it; `dest` must not exist yet): a hard link, fsynced (a durable second name,
    nothing copied; None is returned), or where the folder cannot link to it (another
    file system: EXDEV; a share without hard links) a copy, fsynced, whose md5 is
    returned; the meter sees the bytes copied (`copying`: its message). A copy that fails
    or is cancelled is removed: WriterError CANCELLED (`cancelled` says it),
    MEDIA_TOO_SMALL when the folder is full, else WRITE_FAILED (`share`: what to check,
    "the robot's share")."""
    if _link(image, dest):
        return None
    meter.update(0, force=True, message=copying)
    h = hashlib.md5()
    made = False
    try:
        with open(image, "rb") as src, open(dest, "xb") as out:
            made = True
            done = 0
            while chunk := src.read(CHUNK):
                if cancel is not None and cancel.is_set():
                    raise WriterError(ProblemCode.CANCELLED, cancelled)
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                meter.update(done)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        if made:  # never a file that was there before
            dest.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                raise WriterError(ProblemCode.MEDIA_TOO_SMALL, f"{folder} is full: make room "
                                  "there.", Remedy.RETRY) from exc
            raise WriterError(ProblemCode.WRITE_FAILED, f"Copying the image into "
                              f"{folder} failed ({exc.strerror or exc}): check {share}.",
                              Remedy.RETRY) from exc
        raise
    return h.hexdigest()


def _link(image: Path, dest: Path) -> bool:
    """A durable hard link `dest` to `image`, where the folder's file system makes one."""
    try:
        os.link(image, dest)
    except OSError:
        return False  # another file system, no hard links there, or `dest` is taken
    try:
        fd = os.open(dest, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        dest.unlink(missing_ok=True)
        return False
    return True


def read_back(path: Path, expected: str, copied: str | None, name: str,
              cancel: CancelToken | None = None, meter: Meter | None = None) -> str:
    """Read `path` back (from the disk, not the page cache) and return its md5, which must
    be `expected` (the image's) and what was copied (`copied`, when it was a copy);
    else the file is deleted and WriterError VERIFY_FAILED says so (`name`: what the
    technician knows it as)."""
    md5 = file_md5(path, cancel=cancel, meter=meter)
    if md5 != expected or (copied or expected) != expected:
        path.unlink(missing_ok=True)
        raise WriterError(ProblemCode.VERIFY_FAILED,
                          f"The copy of {name} in {path.parent} does not read back as the "
                          f"image (md5 {md5}, expected {expected}); it was deleted: write it "
                          "again.", Remedy.RETRY)
    return md5
