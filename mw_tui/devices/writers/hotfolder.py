"""Disc publishers fed through a shared job folder ("hot folder"): the common part.

The station stages the volume's ISO image and the label in a folder of its own inside
the robot's job folder, drops a job request next to it, and follows what the robot does
with the request (taken, in progress, done or failed) until the end. A kind of robot
(`ptburn.PtBurnWriter`; Rimage or Epson would be others) says how a request is written,
how its state shows in the folder, what its status files say, and how to take a request
back or abort it.

Restarts: the staging folder is named after the volume (label, image md5) and removed
only once the outcome was seen, so a station that restarts while the robot works finds
its request again and follows the same disc to its end instead of making another one.
"""

from __future__ import annotations

import re
import shutil
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath

from mw_tui.config.publishers import Publisher
from mw_tui.config.targets import TargetKind
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
    fsync_dir,
)
from mw_tui.devices.writers.imagecopy import folder_problems, link_or_copy, read_back
from mw_tui.media.volume import Volume

IMAGE_NAME = "volume.iso"
SUBMITTED = ".submitted"  # in the staging folder, once the request is in the job folder
ABORT_WAIT = 60.0  # seconds to wait for the robot to stop a job it was asked to abort

LabelSource = Callable[[Volume], Path | None]  # the label file to print on a volume


class RequestState(StrEnum):
    STAGED = "staged"  # staged, no request yet (the station stopped before submitting)
    SUBMITTED = "submitted"  # waiting for the robot to take it
    ACCEPTED = "accepted"  # in the robot's queue
    RUNNING = "running"  # being written, verified, printed
    DONE = "done"
    FAILED = "failed"
    GONE = "gone"  # submitted once, no trace of the request left in the folder


WAITING = (RequestState.SUBMITTED, RequestState.ACCEPTED, RequestState.RUNNING)


@dataclass(frozen=True, slots=True)
class RobotReport:
    """What the robot's status files say about one request (None: not said)."""

    message: str = ""  # what it does now
    error: str = ""  # why it failed
    good: int | None = None  # discs made
    bad: int | None = None  # discs rejected
    ahead: int | None = None  # jobs before this one
    outcome: RequestState | None = None  # DONE or FAILED when the status says so


class PublisherState(StrEnum):
    READY = "ready"
    ERROR = "error"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    state: PublisherState
    message: str


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


class HotFolderWriter(Writer):
    """A disc publisher's job folder. Construct it for one job: `job_id` names it to the
    robot, `copies` discs are made from one request, `label_for(volume)` gives the label
    file to print on each disc (None: no label)."""

    kind = TargetKind.PUBLISHER
    needs_iso = True
    removable = True  # the discs come out in the robot's output bin
    prints_labels = True
    writes_all_copies = True
    label_suffixes: tuple[str, ...] = ()  # label files the robot can print

    def __init__(self, publisher: Publisher, *, job_id: str | int = "", copies: int = 1,
                 label_for: LabelSource | None = None) -> None:
        self.publisher = publisher
        self.folder = Path(publisher.folder)
        self.job_id = str(job_id)
        self.copies = max(1, copies)
        self.label_for = label_for

    # -- what each kind of robot provides ------------------------------------------------

    @abstractmethod
    def request_text(self, name: str, volume: Volume, image: str, label: str | None) -> str:
        """The job request for `volume`; `image` and `label` as the robot sees them."""

    @abstractmethod
    def submit(self, name: str, text: str) -> None:
        """Put the request into the job folder, whole (the robot never sees half)."""

    @abstractmethod
    def state_of(self, name: str) -> RequestState | None:
        """Where request `name` is, from its file in the job folder (None: not there)."""

    @abstractmethod
    def withdraw(self, name: str) -> bool:
        """Take back a request the robot has not taken; False when it has."""

    @abstractmethod
    def abort(self, name: str) -> None:
        """Ask the robot to stop a request it has taken."""

    @abstractmethod
    def report(self, name: str) -> RobotReport:
        """What the robot's status files say about request `name`."""

    @abstractmethod
    def status(self) -> PublisherStatus:
        """The robot's state, for the targets list."""

    # -- the common part ---------------------------------------------------------------

    def describe(self) -> str:
        return f"disc publisher {self.publisher.name}"

    def check(self, volume: Volume) -> list[Problem]:
        return folder_problems(volume, self.folder,
                               f"The job folder of {self.describe()}, {self.folder}, is not "
                               "there (is the robot's share mounted?): mount it, or fix "
                               "[[publishers]] folder.")

    def request_base(self, volume: Volume) -> str:
        """The request's name for this volume: the same after a restart, another for
        another volume (its image's md5)."""
        who = safe_name(self.publisher.client_id)[:12] or "MWTUI"
        job = safe_name(self.job_id)[:20] or safe_name(volume.label)[:20] or "VOLUME"
        digest = (volume.iso_md5 or "")[:8] or "00000000"
        return f"{who}_{job}_{volume.number}of{volume.count}_{digest}"

    def staging(self, name: str) -> Path:
        return self.folder / name

    def robot_path(self, path: Path) -> str:
        """`path` (inside the job folder) as the robot's PC names it."""
        rel = path.relative_to(self.folder)
        root = self.publisher.robot_folder
        if not root:
            return str(path)
        windows = "\\" in root or re.match(r"^[A-Za-z]:", root) is not None
        sep = "\\" if windows else "/"
        return root.rstrip("\\/") + sep + sep.join(PurePath(rel).parts)

    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        announce(progress, Phase.PREPARING, f"Checking {self.describe()}")
        self.raise_first(self.check(volume))
        name, state = self._resume(volume)
        if state in (*WAITING, RequestState.DONE, RequestState.FAILED, RequestState.GONE):
            announce(progress, Phase.PREPARING, f"Following the robot's job {name}, "
                     "submitted before the station restarted")
        else:
            self._stage_and_submit(name, volume, progress, cancel)
        return self._follow(name, volume, progress, cancel)

    def _resume(self, volume: Volume) -> tuple[str, RequestState | None]:
        """The request to follow (one whose outcome was not seen yet), or a new name."""
        base = self.request_base(volume)
        last = 0
        for entry in self.folder.glob(f"{base}*"):
            m = re.fullmatch(re.escape(base) + r"(?:_r(\d+))?(?:\.\w+)?", entry.name)
            if m:
                last = max(last, int(m.group(1) or 1))
        if last:
            name = base if last == 1 else f"{base}_r{last}"
            state = self.state_of(name)
            if self.staging(name).is_dir() or state in WAITING:
                return name, state
        return (base if last == 0 else f"{base}_r{last + 1}"), None

    def _stage_and_submit(self, name: str, volume: Volume, progress: ProgressCallback | None,
                          cancel: CancelToken | None) -> None:
        assert volume.iso is not None
        folder = self.staging(name)
        folder.mkdir(exist_ok=True)
        try:
            image = self._stage_image(volume, folder / IMAGE_NAME, progress, cancel)
            label = self._stage_label(volume, folder)
            text = self.request_text(name, volume, self.robot_path(image),
                                     self.robot_path(label) if label else None)
            if cancel is not None and cancel.is_set():
                raise WriterError(ProblemCode.CANCELLED,
                                  "The job was cancelled before it went to the robot.")
            self.submit(name, text)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        (folder / SUBMITTED).write_text(name + "\n")
        fsync_dir(folder)

    def _stage_image(self, volume: Volume, dest: Path, progress: ProgressCallback | None,
                     cancel: CancelToken | None) -> Path:
        """The image in its staging folder: linked where the job folder is on the image's
        file system, else copied and read back (a copy the robot would burn wrong is
        never handed to it)."""
        assert volume.iso is not None
        dest.unlink(missing_ok=True)
        size = volume.iso.stat().st_size
        meter = Meter(Phase.PREPARING, size, progress)
        copied = link_or_copy(volume.iso, dest, meter, cancel, folder=self.folder,
                              copying="Copying the image to the robot's folder",
                              cancelled="The job was cancelled before it went to the robot.",
                              share="the robot's share")
        if copied is None:
            meter.update(size, force=True, message="The image is in the robot's folder")
            return dest
        read_back(dest, volume.iso_md5 or copied, copied, IMAGE_NAME, cancel)
        return dest

    def _stage_label(self, volume: Volume, folder: Path) -> Path | None:
        if not self.publisher.print_label or self.label_for is None:
            return None
        try:
            source = self.label_for(volume)
        except Exception as exc:
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"The disc's label could not be made ({exc}): fix it, or set "
                              "print_label = false for this publisher.", Remedy.SETTINGS) \
                from exc
        if source is None:
            return None
        if source.suffix.lower() not in self.label_suffixes:
            raise WriterError(ProblemCode.NOT_SUPPORTED,
                              f"{self.describe()} prints labels of the kinds "
                              f"{', '.join(self.label_suffixes)}, not {source.name}.")
        dest = folder / f"label{source.suffix.lower()}"
        shutil.copyfile(source, dest)
        return dest

    def _follow(self, name: str, volume: Volume, progress: ProgressCallback | None,
                cancel: CancelToken | None) -> WriteResult:
        p = self.publisher
        take_by = time.monotonic() + p.accept_timeout
        give_up: float | None = None
        last: tuple[object, ...] = ()
        while True:
            state = self.state_of(name)
            if cancel is not None and cancel.is_set():
                self._cancel(name, state)
            if state in (None, RequestState.STAGED):
                raise WriterError(ProblemCode.WRITE_FAILED,
                                  f"The robot's job {name} has vanished from {self.folder} "
                                  "(removed by hand?): write again.", Remedy.RETRY)
            if state in (RequestState.DONE, RequestState.FAILED, RequestState.GONE):
                return self._end(name, state, volume, progress)
            if state is RequestState.SUBMITTED and time.monotonic() > take_by:
                if self.withdraw(name):
                    self._clean(name)
                    raise WriterError(ProblemCode.UNREACHABLE,
                                      f"{self.describe()} did not take the job within "
                                      f"{p.accept_timeout:g} s: is its software running, and "
                                      f"does it watch {p.robot_folder or self.folder}? The "
                                      "request was taken back.")
                continue
            if state is not RequestState.SUBMITTED and give_up is None and p.timeout_minutes:
                give_up = time.monotonic() + p.timeout_minutes * 60
            if give_up is not None and time.monotonic() > give_up:
                raise WriterError(ProblemCode.WRITE_FAILED,
                                  f"{self.describe()} has had the job for "
                                  f"{p.timeout_minutes:g} minutes without finishing it: check "
                                  "the robot (its screen and log).", Remedy.RETRY)
            r = self.report(name)
            now = (state, r.message, r.good, r.ahead)
            if progress is not None and now != last:
                progress(Progress(Phase.WRITING, r.good or 0, self.copies, unit="discs",
                                  message=self._say(state, r)))
            last = now
            time.sleep(p.poll_seconds)

    def _say(self, state: RequestState, r: RobotReport) -> str:
        if state is RequestState.SUBMITTED:
            return f"Waiting for {self.describe()} to take the job"
        if state is RequestState.ACCEPTED:
            ahead = f" ({r.ahead} jobs ahead)" if r.ahead else ""
            return f"Queued at {self.describe()}{ahead}"
        done = f" ({r.good} of {self.copies} discs made)" if r.good else ""
        return f"{self.publisher.name}: {r.message or 'making the disc'}{done}"

    def _end(self, name: str, state: RequestState, volume: Volume,
             progress: ProgressCallback | None) -> WriteResult:
        r = self.report(name)
        outcome = r.outcome or (state if state is not RequestState.GONE else None)
        self._clean(name)
        if outcome is RequestState.DONE:
            assert volume.iso is not None
            good = r.good if r.good is not None else self.copies
            announce(progress, Phase.DONE, f"{self.describe()} made {good} disc(s)")
            details = [f"{self.describe()} made {good} of {self.copies} disc(s) "
                       f"(job {name})" + (f", {r.bad} rejected" if r.bad else ""),
                       "every disc read back by the robot" if self.publisher.verify
                       else "the robot did not read the discs back (verify = false)"]
            if volume.iso_md5:
                details.append(f"image md5 {volume.iso_md5}")
            return WriteResult(verified=self.publisher.verify, md5=volume.iso_md5,
                               details=tuple(details), safe_to_remove=True,
                               location=f"{self.describe()} (job {name})",
                               bytes_written=volume.iso.stat().st_size)
        if outcome is RequestState.FAILED:
            why = r.error or r.message or "it gives no reason: see its screen and log"
            raise WriterError(ProblemCode.WRITE_FAILED,
                              f"{self.describe()} could not make the disc: {why}.",
                              Remedy.RETRY)
        raise WriterError(ProblemCode.WRITE_FAILED,
                          f"{self.describe()} finished job {name} while the station was not "
                          "watching, and no longer says how it went: look in its output bin "
                          "and its log; write again if no disc came out.", Remedy.RETRY)

    def _cancel(self, name: str, state: RequestState | None) -> None:
        if state in (None, RequestState.STAGED) or (
                state is RequestState.SUBMITTED and self.withdraw(name)):
            self._clean(name)
            raise WriterError(ProblemCode.CANCELLED,
                              "The job was cancelled before the robot took it; its request was "
                              "taken back.")
        if state in (RequestState.ACCEPTED, RequestState.RUNNING, RequestState.SUBMITTED):
            self.abort(name)
            until = time.monotonic() + ABORT_WAIT
            while time.monotonic() < until and self.state_of(name) in WAITING:
                time.sleep(self.publisher.poll_seconds)
            if self.state_of(name) not in WAITING:
                self._clean(name)
            raise WriterError(ProblemCode.CANCELLED,
                              f"The job was cancelled; {self.describe()} was asked to stop it "
                              "(a disc it was making may still come out).")
        self._clean(name)
        raise WriterError(ProblemCode.CANCELLED,
                          "The job was cancelled after the robot had finished it.")

    def _clean(self, name: str) -> None:
        shutil.rmtree(self.staging(name), ignore_errors=True)
