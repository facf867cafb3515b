"""Writing File-sets to a loop-backed FAT32 "USB stick" through FUSE fusefat."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path, PurePosixPath

import pytest

from mw_tui.devices.models import UsbStick
from mw_tui.devices.watcher import convert
from mw_tui.devices.writers.base import Phase, ProblemCode, Progress, Remedy
from mw_tui.devices.writers.usb import MountCommands, UsbWriter
from tests.devices.conftest import Loops, make_volume, raises_problem, settle
from tests.peers import need, wait_until

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def _tools() -> None:
    need("fusefat", "fusermount", "mkfs.vfat", "fsck.vfat", "mcopy", "mdir", "sfdisk", "blkid")


def plug(loops: Loops, size: int = 48 << 20, fs: str | None = "32",
         read_only: bool = False) -> tuple[UsbStick, str]:
    """A loop "stick" with one partition (FAT32/FAT16, or none), as udev describes it."""
    import pyudev

    image = loops.stick_image(size, fs)
    dev = loops.attach(image, read_only=read_only)  # read-only: a write-protected stick
    part = loops.partition(dev)
    settle()
    ctx = pyudev.Context()

    def model() -> UsbStick | None:
        m = convert(pyudev.Devices.from_device_file(ctx, dev))
        if isinstance(m, UsbStick) and m.partitions and (not fs or m.partitions[0].fs_type):
            return m
        return None

    return wait_until(model, 20, f"udev to describe {dev}"), part


def commands(loops: Loops) -> MountCommands:
    return MountCommands.preset("fusefat", folder=str(loops.folder / "mnt"))


def fsck_ok(part: str) -> str:
    proc = subprocess.run(["fsck.vfat", "-n", part], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def fsck_files(part: str) -> int:
    """How many files and folders fsck.fat counts on a clean FAT."""
    report = fsck_ok(part)
    counted = re.search(r": (\d+) files, ", report)
    assert counted is not None, report
    return int(counted.group(1))


def read_back(part: str, dest: str) -> bytes:
    proc = subprocess.run(["mcopy", "-n", "-i", part, f"::{dest}", "-"], capture_output=True,
                          timeout=60, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def mounted_under(folder: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(folder))]


def test_a_file_set_on_a_fat32_stick_reads_back_identical(udev: None, loops: Loops,
                                                          tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=5, iso=False, padding=300_000)
    stick, part = plug(loops)
    before = fsck_files(part)
    writer = UsbWriter(stick, commands(loops))
    assert writer.check(volume) == []
    seen: list[Progress] = []
    result = writer.write(volume, seen.append)
    assert result.verified and result.safe_to_remove
    assert result.location == part and result.bytes_written == volume.size
    assert "safe to remove" in result.details[-1]
    assert [p.phase for p in seen][-1] is Phase.DONE
    assert Phase.VERIFYING in [p.phase for p in seen]
    assert mounted_under(loops.folder) == []  # unmounted
    assert list((loops.folder / "mnt").iterdir()) == []  # mount points cleaned up
    # fsck.fat counts every file and folder (and the volume label): the File-set's came
    folders = {str(parent) for f in volume.files for parent in PurePosixPath(f.dest).parents
               if str(parent) != "."}
    assert fsck_files(part) == before + len(volume.files) + len(folders), folders
    for f in volume.files:
        assert read_back(part, f.dest) == f.read(), f.dest
    listing = subprocess.run(["mdir", "-i", part, "-/", "::"], capture_output=True, text=True,
                             env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert "README.TXT" in listing and "I0000005" in listing


def test_a_second_file_set_is_refused_and_the_stick_stays_intact(udev: None, loops: Loops,
                                                                 tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2, iso=False)
    stick, part = plug(loops)
    writer = UsbWriter(stick, commands(loops))
    writer.write(volume)
    with raises_problem(ProblemCode.NOT_EMPTY) as err:
        writer.write(volume)
    assert "already holds" in err.value.message and "DICOM" in err.value.message
    assert err.value.problem.remedy is Remedy.FORMAT
    assert mounted_under(loops.folder) == []
    fsck_ok(part)
    for f in volume.files:
        assert read_back(part, f.dest) == f.read()


def test_a_write_protected_stick_is_refused(udev: None, loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1, iso=False)
    stick, _ = plug(loops, read_only=True)
    writer = UsbWriter(stick, commands(loops))
    problems = writer.check(volume)
    assert [p.code for p in problems] == [ProblemCode.READ_ONLY]
    assert "write-protected" in problems[0].message
    with raises_problem(ProblemCode.READ_ONLY):
        writer.write(volume)
    with raises_problem(ProblemCode.READ_ONLY):
        writer.format(confirm=True)


def test_a_stick_too_small_is_refused(udev: None, loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1, iso=False, padding=9 << 20)
    stick, _ = plug(loops, size=8 << 20, fs="12")
    problems = UsbWriter(stick, commands(loops)).check(volume)
    assert [p.code for p in problems] == [ProblemCode.MEDIA_TOO_SMALL]
    assert "use a bigger stick" in problems[0].message


def test_an_unformatted_stick_is_formatted_only_after_confirmation(
        udev: None, loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2, iso=False)
    stick, part = plug(loops, fs=None)
    writer = UsbWriter(stick, commands(loops))
    problems = writer.check(volume)
    assert [p.code for p in problems] == [ProblemCode.NO_FILE_SYSTEM]
    assert problems[0].remedy is Remedy.FORMAT
    with raises_problem(ProblemCode.NO_FILE_SYSTEM):
        writer.write(volume)
    with raises_problem(ProblemCode.NEEDS_CONFIRMATION):
        writer.format()
    assert writer.check(volume) == problems  # nothing was done
    writer.format(confirm=True, label="Patient CD 1")
    assert writer.check(volume) == []
    fsck_ok(part)
    assert writer.write(volume).verified
    fsck_ok(part)
    label = subprocess.run(["blkid", "-p", "-o", "value", "-s", "LABEL", part],
                           capture_output=True, text=True).stdout.strip()
    assert label == "PATIENTCD1"


def test_cancelling_leaves_the_stick_unmounted(udev: None, loops: Loops,
                                               tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=3, iso=False, padding=3 << 20)
    stick, part = plug(loops)
    cancel = threading.Event()

    def cancel_while_writing(p: Progress) -> None:
        if p.phase is Phase.WRITING:
            cancel.set()

    with raises_problem(ProblemCode.CANCELLED, match="incomplete copy; format it"):
        UsbWriter(stick, commands(loops)).write(volume, cancel_while_writing, cancel)
    assert mounted_under(loops.folder) == []
    fsck_ok(part)


def test_a_mount_command_that_fails_says_so(udev: None, loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1, iso=False)
    stick, _ = plug(loops)
    bad = MountCommands("false {device} {mountpoint}", "true", str(loops.folder / "mnt"))
    with raises_problem(ProblemCode.WRITE_FAILED, match="could not be mounted"):
        UsbWriter(stick, bad).write(volume)
    missing = MountCommands("no-such-mounter {device} {mountpoint}", "true",
                            str(loops.folder / "mnt"))
    with raises_problem(ProblemCode.TOOL_MISSING, match="no-such-mounter"):
        UsbWriter(stick, missing).write(volume)
    assert list((loops.folder / "mnt").iterdir()) == []


