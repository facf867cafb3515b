"""One interface for every target (disc, USB stick, ISO file, DICOMweb), so the job
runner and the screens treat them alike.

A writer says what stands in the way before it starts (`check` -> `Problem`s, each with
a sentence a technician can act on and the remedy a screen may offer), writes with
progress and cancellation (`write` -> `WriteResult`), and raises a `WriterError`
subclass when something goes wrong. Destructive remedies (blank a disc, format a
stick) are separate calls that need `confirm=True`.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol

from mw_tui.config.targets import TargetKind
from mw_tui.devices.models import Device
from mw_tui.media.profiles import DISC_PROFILES, MEDIA, Medium, Profile
from mw_tui.media.readback import ALIGN, aligned, open_direct
from mw_tui.media.volume import Volume


class ProblemCode(StrEnum):
    NOT_CONFIGURED = "not_configured"
    NO_DEVICE = "no_device"
    NO_PERMISSION = "no_permission"
    NO_MEDIA = "no_media"
    MEDIA_NOT_BLANK = "media_not_blank"
    MEDIA_TOO_SMALL = "media_too_small"
    READ_ONLY = "read_only"
    NO_FILE_SYSTEM = "no_file_system"
    NOT_EMPTY = "not_empty"
    NO_IMAGE = "no_image"
    NOTHING_TO_SEND = "nothing_to_send"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    TOOL_MISSING = "tool_missing"
    WRITE_FAILED = "write_failed"
    VERIFY_FAILED = "verify_failed"
    CANCELLED = "cancelled"
    NEEDS_CONFIRMATION = "needs_confirmation"
    NOT_SUPPORTED = "not_supported"


class Remedy(StrEnum):
    """What a screen may offer to fix a problem."""

    INSERT_MEDIA = "insert_media"  # put in a (blank) disc / stick and check again
    NEW_MEDIA = "new_media"  # take this one out, use another
    BLANK = "blank"  # erase the rewritable disc (writer.blank(confirm=True))
    FORMAT = "format"  # erase the stick (writer.format(confirm=True))
    RETRY = "retry"
    SETTINGS = "settings"  # fix the configuration


@dataclass(frozen=True, slots=True)
class Problem:
    code: ProblemCode
    message: str  # what is wrong and what to do, for the technician
    remedy: Remedy | None = None


class Phase(StrEnum):
    PREPARING = "preparing"
    BLANKING = "blanking"
    FORMATTING = "formatting"
    WRITING = "writing"
    CLOSING = "closing"
    VERIFYING = "verifying"
    EJECTING = "ejecting"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Progress:
    phase: Phase
    done: int = 0  # bytes (or instances: see `unit`)
    total: int = 0
    speed: float | None = None  # units per second
    seconds_left: float | None = None
    unit: str = "bytes"
    message: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    verified: bool
    md5: str | None  # of the image (disc, ISO file) or of the file list (USB: md5sum format)
    details: tuple[str, ...] = ()
    safe_to_remove: bool = False
    location: str = ""  # device, file path or URL written to
    bytes_written: int = 0
    ejected: bool = False


# -- errors: each carries the Problem a screen shows ------------------------------------

# What a screen may offer for each problem, unless the writer says otherwise.
REMEDIES: dict[ProblemCode, Remedy] = {
    ProblemCode.NOT_CONFIGURED: Remedy.SETTINGS, ProblemCode.NO_PERMISSION: Remedy.SETTINGS,
    ProblemCode.NO_MEDIA: Remedy.INSERT_MEDIA, ProblemCode.MEDIA_NOT_BLANK: Remedy.NEW_MEDIA,
    ProblemCode.MEDIA_TOO_SMALL: Remedy.NEW_MEDIA, ProblemCode.READ_ONLY: Remedy.NEW_MEDIA,
    ProblemCode.NO_FILE_SYSTEM: Remedy.FORMAT, ProblemCode.NOT_EMPTY: Remedy.NEW_MEDIA,
    ProblemCode.UNREACHABLE: Remedy.RETRY, ProblemCode.REFUSED: Remedy.SETTINGS,
    ProblemCode.WRITE_FAILED: Remedy.NEW_MEDIA, ProblemCode.VERIFY_FAILED: Remedy.NEW_MEDIA,
}

# Problems a new medium solves: a job waits for one instead of failing.
MEDIUM_PROBLEMS = frozenset({ProblemCode.NO_MEDIA, ProblemCode.MEDIA_NOT_BLANK,
                             ProblemCode.MEDIA_TOO_SMALL})


class WriterError(Exception):
    """What went wrong, as the `Problem` a screen shows (`code`, `message`, `remedy`)."""

    def __init__(self, code: ProblemCode, message: str, remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problem = Problem(code, message, remedy or REMEDIES.get(code))


def error_for(problem: Problem) -> WriterError:
    """The error for a problem found by `check` (raised by `write`)."""
    return WriterError(problem.code, problem.message, problem.remedy)


# -- the base class ---------------------------------------------------------------------


class Writer(ABC):
    """A target the station writes a `Volume` to. Its capabilities are class flags, so the
    jobs and the screens ask the writer's class instead of testing the target's kind."""

    kind: ClassVar[TargetKind]
    needs_media: ClassVar[bool] = False  # a disc or stick must be inserted (a job waits)
    needs_iso: ClassVar[bool] = False  # writes volume.iso (else volume.files)
    makes_copies: ClassVar[bool] = False  # copies > 1 mean more media
    can_verify: ClassVar[bool] = True  # write() reads back what it wrote
    can_eject: ClassVar[bool] = False  # may push the medium out (where the drive can)
    can_blank: ClassVar[bool] = False  # blank(confirm=True) erases rewritable media
    can_format: ClassVar[bool] = False  # format(confirm=True) erases the medium
    removable: ClassVar[bool] = False  # the result says when the medium is safe to remove
    profiles: ClassVar[tuple[Profile, ...]] = DISC_PROFILES  # () = written as received
    medium_noun: ClassVar[str] = ""  # what to insert: "a USB stick" (see `ask_for`)
    place_noun: ClassVar[str] = ""  # where to insert it: "a USB port"
    device_type: ClassVar[type | None] = None  # the devices it writes to (drives, sticks)
    device_noun: ClassVar[str] = ""  # "disc drive", "USB stick"

    @classmethod
    def medium(cls, profile: Profile | None, device: Device | None = None) -> Medium:
        """The medium a job's volumes are cut to (its capacity and allocation unit): by
        default the profile's own, an image is cut to the size of a DVD."""
        medium = profile.default_medium if profile is not None else MEDIA["DVD"]
        return medium if medium.capacity else MEDIA["DVD"]

    def capacity_now(self, profile: Profile | None, device: Device | None = None
                     ) -> int | None:
        """What a volume may take of the medium as it is now, for the build (the writer
        may ask its device: this may take a moment, never call it from a screen)."""
        return self.medium(profile, device).capacity

    @classmethod
    def ask_for(cls, capacity: int | None) -> str:
        """What a technician is asked to insert for a volume of this capacity."""
        return cls.medium_noun

    def image_is_medium(self, workdir: Path) -> bool:
        """Whether the image a job builds in `workdir` is itself the medium (so it is read
        back while it is written, and not again)."""
        return False
    prints_labels: ClassVar[bool] = False  # prints the disc's label itself
    labelled: ClassVar[bool] = False  # each verified medium gets a label (printed by CUPS)
    writes_all_copies: ClassVar[bool] = False  # one write() makes every copy it was given

    @abstractmethod
    def describe(self) -> str:
        """A short name for screens: "DVD drive /dev/sr0", "ISO files in /srv/iso"."""

    @abstractmethod
    def check(self, volume: Volume) -> list[Problem]:
        """What stands in the way of writing `volume` now (empty: ready)."""

    @abstractmethod
    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        """Write and verify `volume`; raises a `WriterError` subclass on failure."""

    def blank(self, confirm: bool = False, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> None:
        raise WriterError(ProblemCode.NOT_SUPPORTED, f"{self.describe()} cannot be blanked.")

    def format(self, confirm: bool = False, label: str = "",
               progress: ProgressCallback | None = None) -> None:
        raise WriterError(ProblemCode.NOT_SUPPORTED, f"{self.describe()} cannot be formatted.")

    def eject(self) -> bool:
        """Push the medium out; False when this target cannot."""
        return False

    # -- helpers for subclasses -----------------------------------------------------------

    def raise_first(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            raise error_for(problem)


def require_confirmation(confirm: bool, what: str) -> None:
    if not confirm:
        raise WriterError(ProblemCode.NEEDS_CONFIRMATION,
                          f"{what} erases everything on it: ask the technician to "
                          "confirm first.")


def check_cancel(cancel: CancelToken | None, message: str) -> None:
    if cancel is not None and cancel.is_set():
        raise WriterError(ProblemCode.CANCELLED, message)


class Meter:
    """Turns a stream of (done) counts into Progress with speed and time left."""

    def __init__(self, phase: Phase, total: int, callback: ProgressCallback | None,
                 unit: str = "bytes", interval: float = 0.25) -> None:
        self.phase = phase
        self.total = total
        self.callback = callback
        self.unit = unit
        self.interval = interval
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, speed: float | None = None, force: bool = False,
               message: str = "") -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval and done < self.total:
            return
        self._last = now
        elapsed = now - self.start
        if speed is None and elapsed > 0 and done > 0:
            speed = done / elapsed
        left = (self.total - done) / speed if speed and self.total >= done else None
        self.callback(Progress(self.phase, done, self.total, speed, left, self.unit, message))


def announce(callback: ProgressCallback | None, phase: Phase, message: str = "",
             total: int = 0) -> None:
    if callback is not None:
        callback(Progress(phase, 0, total, message=message))


READ_AHEAD = 4 << 20  # bytes per read when reading a medium back
_BUFFERS = 3  # read-ahead buffers for direct reads (one being read, two being hashed)


def file_md5(path: Path, limit: int | None = None, cancel: CancelToken | None = None,
             meter: Meter | None = None, uncached: bool = True) -> str:
    """md5 of the first `limit` bytes of `path` (all of it by default), read from the
    device rather than the page cache where the kernel allows it: with O_DIRECT (regular
    files and block devices), else after dropping the cached pages. A thread reads ahead
    while this one hashes, so the read-back takes about the longer of the two."""
    if uncached:
        fd = open_direct(path)
        if fd is not None:
            try:
                return _direct_md5(fd, path, limit, cancel, meter)
            except _NoDirect:
                pass  # opened, but direct reads refused: read it as below
            finally:
                os.close(fd)
    return _buffered_md5(path, limit, cancel, meter, uncached)


class _NoDirect(Exception):
    """The file system accepted O_DIRECT at open but refuses direct reads."""


def _direct_md5(fd: int, path: Path, limit: int | None, cancel: CancelToken | None,
                meter: Meter | None) -> str:
    h = hashlib.md5()
    free: queue.Queue[mmap.mmap] = queue.Queue()
    for _ in range(_BUFFERS):
        free.put(mmap.mmap(-1, READ_AHEAD))  # page aligned, as O_DIRECT wants
    full: queue.Queue[tuple[mmap.mmap, int] | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        got = 0
        try:
            while (limit is None or got < limit) and not stop.is_set():
                want = READ_AHEAD if limit is None else min(READ_AHEAD, limit - got)
                buf = free.get()
                with memoryview(buf) as view:
                    # lengths are rounded up to the block: the last partial block of a
                    # file reads short (whole blocks only where a device ends)
                    n = os.preadv(fd, [view[:aligned(want)]], got)
                if n <= 0:
                    free.put(buf)
                    break
                n = min(n, want)
                full.put((buf, n))
                got += n
                if n < want or n % ALIGN:
                    break  # the end of the file or device
        except BaseException as exc:
            full.put(exc)
        full.put(None)

    done = 0
    reader = threading.Thread(target=read, name="md5-read-direct", daemon=True)
    reader.start()
    try:
        while (item := full.get()) is not None:
            if isinstance(item, BaseException):
                if isinstance(item, OSError) and item.errno == errno.EINVAL and done == 0:
                    raise _NoDirect() from item
                raise item
            buf, n = item
            with memoryview(buf) as view:
                h.update(view[:n])
            free.put(buf)
            done += n
            if meter is not None:
                meter.update(done)
            check_cancel(cancel, "Verification was cancelled.")
    finally:
        stop.set()
        while reader.is_alive():  # give it buffers back until it sees the stop
            try:
                item = full.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, tuple):
                free.put(item[0])
    if limit is not None and done < limit:
        raise WriterError(ProblemCode.VERIFY_FAILED,
                          f"Only {done} of {limit} bytes could be read back from {path}.")
    return h.hexdigest()


def _buffered_md5(path: Path, limit: int | None, cancel: CancelToken | None,
                  meter: Meter | None, uncached: bool) -> str:
    h = hashlib.md5()
    done = 0
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def read(f: BinaryIO) -> None:
        got = 0
        try:
            while (limit is None or got < limit) and not stop.is_set():
                want = READ_AHEAD if limit is None else min(READ_AHEAD, limit - got)
                chunk = f.read(want)
                if not chunk:
                    break
                got += len(chunk)
                chunks.put(chunk)
        except BaseException as exc:
            chunks.put(exc)
        chunks.put(None)

    with open(path, "rb", buffering=0) as f:
        if uncached:
            drop_cache(f.fileno())
        try:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        reader = threading.Thread(target=read, args=(f,), name="md5-read", daemon=True)
        reader.start()
        try:
            while (chunk := chunks.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                h.update(chunk)
                done += len(chunk)
                if meter is not None:
                    meter.update(done)
                check_cancel(cancel, "Verification was cancelled.")
        finally:
            stop.set()
            while reader.is_alive():  # let it finish its read and see the stop
                try:
                    chunks.get(timeout=0.1)
                except queue.Empty:
                    pass
    if limit is not None and done < limit:
        raise WriterError(ProblemCode.VERIFY_FAILED,
                          f"Only {done} of {limit} bytes could be read back from {path}.")
    return h.hexdigest()


def drop_cache(fd: int) -> None:
    """Ask the kernel to forget cached pages of `fd`, so reads go to the medium."""
    try:
        os.fdatasync(fd)
    except OSError:
        pass
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (not every file system can: FUSE)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
