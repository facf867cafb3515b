"""Running xorriso and reading what it says: media status, progress, checks.

xorriso addresses MMC drives (/dev/sr0) directly; anything else (a loop device in the
tests, an image file) goes through its `stdio:` pseudo-drive.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mw_tui.devices.models import SECTOR, MediaState, MediaType
from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Phase,
    ProgressCallback,
    announce,
)

XORRISO = "xorriso"
_MMC_NAME = re.compile(r"^(sr|scd|sg)\d+$")

# one "x" of speed in bytes per second, by the suffix xorriso prints after it
SPEED_1X = {"": 176_400, "c": 176_400, "d": 1_385_000, "b": 4_495_625}

_CDRECORD_PROGRESS = re.compile(
    r"UPDATE :\s+(\d+) of\s+(\d+) MB written.*?(?:\s([\d.]+)x([cdbCDB]?)\.?\s*)?$")
_NATIVE_PROGRESS = re.compile(
    r"UPDATE : Writing:\s+(\d+)s\s+([\d.]+)%.*?(?:\s([\d.]+)x([cdbCDB]?)\s*)?$")
_BLANK_PROGRESS = re.compile(r"Blanking\s*\(\s*([\d.]+)%")
_PROBLEM = re.compile(r"xorriso : (FAILURE|SORRY|FATAL|ABORT) : (.*)")


def resolve(device: str) -> str:
    """The device path without a stdio: prefix, symlinks (/dev/cdrom) resolved."""
    path = device[len("stdio:"):] if device.startswith("stdio:") else device
    return os.path.realpath(path)


def is_mmc(device: str) -> bool:
    return not device.startswith("stdio:") and bool(_MMC_NAME.match(Path(resolve(device)).name))


def address(device: str) -> str:
    """xorriso's drive address for a device path."""
    if device.startswith("stdio:") or is_mmc(device):
        return device
    return "stdio:" + device


def block_size(device: str) -> int | None:
    """Bytes of the block device (0: no medium), None when it is no block device."""
    path = resolve(device)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    sysfs = Path("/sys/dev/block") / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" / "size"
    try:
        return int(sysfs.read_text().strip()) * 512
    except (OSError, ValueError):
        return None


def have_xorriso() -> bool:
    return shutil.which(XORRISO) is not None


@dataclass(frozen=True, slots=True)
class DiscStatus:
    """What xorriso says about the medium in a drive."""

    state: MediaState
    profile: str = ""  # xorriso's "Media current" text: "CD-R", "DVD+RW", "stdio file, ..."
    free_sectors: int | None = None
    used_sectors: int = 0

    @property
    def rewritable(self) -> bool:
        p = self.profile.upper()
        return any(t in p for t in ("RW", "RE", "RAM", "OVERWRITEABLE"))

    @property
    def media_type(self) -> MediaType:
        p = self.profile.upper()
        for t in (MediaType.BD, MediaType.DVD, MediaType.CD):
            if p.startswith(t.value):
                return t
        return MediaType.UNKNOWN

    @property
    def name(self) -> str:
        return "disc" if self.profile.startswith("stdio") else (self.profile or "disc")


def parse_status(text: str) -> DiscStatus:
    """DiscStatus from the output of `xorriso -outdev X -toc -tell_media_space`."""
    profile = ""
    state = MediaState.NONE
    free: int | None = None
    used = 0
    for line in text.splitlines():
        if line.startswith("Media current:"):
            profile = line.split(":", 1)[1].strip()
        elif line.startswith("Media status :"):
            s = line.split(":", 1)[1]
            if "is blank" in s:
                state = MediaState.BLANK
            elif "is closed" in s:
                state = MediaState.COMPLETE
            elif "is appendable" in s:
                state = MediaState.APPENDABLE
            else:  # "is not present", "is unsuitable"
                state = MediaState.NONE
        elif line.startswith("Media space  :"):
            m = re.search(r"(\d+)s", line)
            free = int(m.group(1)) if m else None
        elif line.startswith("Media summary:"):
            m = re.search(r"(\d+) data blocks", line)
            used = int(m.group(1)) if m else 0
    if "not present" in profile or "no media" in profile.lower():
        state = MediaState.NONE
    return DiscStatus(state, profile, free, used)


@dataclass(frozen=True, slots=True)
class BurnProgress:
    done: int  # bytes
    total: int
    speed: float | None  # bytes per second, as the drive reports it


def parse_progress(line: str, total: int) -> BurnProgress | None:
    """Progress from one of xorriso's UPDATE lines (cdrecord or native style)."""
    m = _CDRECORD_PROGRESS.search(line)
    if m:
        done = int(m.group(1)) << 20
        total = total or int(m.group(2)) << 20
        return BurnProgress(min(done, total), total, _speed(m.group(3), m.group(4)))
    m = _NATIVE_PROGRESS.search(line)
    if m:
        done = round(float(m.group(2)) / 100 * total) if total else int(m.group(1)) * SECTOR
        return BurnProgress(done, total, _speed(m.group(3), m.group(4)))
    return None


def parse_blank_progress(line: str) -> float | None:
    m = _BLANK_PROGRESS.search(line)
    return float(m.group(1)) if m else None


def _speed(factor: str | None, suffix: str | None) -> float | None:
    if not factor:
        return None
    value = float(factor) * SPEED_1X.get((suffix or "").lower(), SPEED_1X[""])
    return value if value > 0 else None


def problems(output: str) -> list[str]:
    """xorriso's FAILURE/SORRY/FATAL messages, in order, without the abort notice."""
    out = []
    for line in output.splitlines():
        m = _PROBLEM.search(line)
        if m and not m.group(2).startswith(("-abort_on", "-return_with")):
            out.append(m.group(2).strip())
    return out


def sectors(size: int) -> int:
    return math.ceil(size / SECTOR)


@dataclass(frozen=True, slots=True)
class Run:
    returncode: int
    output: str
    cancelled: bool = False
    timed_out: bool = False


def run(args: Sequence[str], on_line: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None, timeout: float | None = None) -> Run:
    """Run xorriso with `args`, feeding each output line to `on_line`; on `cancel` it is
    stopped (xorriso ends a burn as cleanly as the drive allows)."""
    proc = subprocess.Popen([XORRISO, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            bufsize=1)
    done = threading.Event()
    cancelled = threading.Event()
    timed_out = threading.Event()

    def watch() -> None:
        waited = 0.0
        while not done.wait(0.1):
            waited += 0.1
            if timeout and waited > timeout:
                timed_out.set()
            if (cancel is not None and cancel.is_set()) or timed_out.is_set():
                cancelled.set()
                proc.send_signal(signal.SIGINT)
                if not done.wait(30):
                    proc.kill()
                return

    watcher = threading.Thread(target=watch, name="xorriso-cancel", daemon=True)
    watcher.start()
    lines: list[str] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        for line in raw.replace("\r", "\n").splitlines():
            lines.append(line)
            if on_line is not None:
                on_line(line)
    rc = proc.wait()
    done.set()
    watcher.join()
    return Run(rc, "\n".join(lines), cancelled.is_set() and not timed_out.is_set(),
               timed_out.is_set())


def burn_lines(meter: Meter, total: int, progress: ProgressCallback | None
                ) -> Callable[[str], None]:
    """What to do with each line xorriso prints while it burns: progress, then closing."""

    def on_line(line: str) -> None:
        p = parse_progress(line, total)
        if p is not None:
            meter.update(p.done)
        elif "Writing to" in line and "completed successfully" in line:
            meter.update(total, force=True)
            announce(progress, Phase.CLOSING, "Closing the disc")

    return on_line
