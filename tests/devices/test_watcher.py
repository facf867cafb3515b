"""The watcher sees real udev events: sticks and drives plugged, discs changed, removal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.devices.models import Device, MediaState, OpticalDrive, UsbStick
from mw_tui.devices.watcher import DeviceWatcher
from tests.devices.conftest import Loops, make_volume
from tests.peers import wait_until

pytestmark = pytest.mark.root


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Device]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def cb(self, action: str):  # type: ignore[no-untyped-def]
        def record(device: Device) -> None:
            with self.lock:
                self.events.append((action, device))
        return record

    def of(self, devname: str, action: str | None = None) -> list[Device]:
        with self.lock:
            return [d for a, d in self.events
                    if d.devname == devname and (action is None or a == action)]

    def last(self, devname: str) -> Device | None:
        found = self.of(devname)
        return found[-1] if found else None


@pytest.fixture
def watched(udev: None) -> Iterator[tuple[Recorder, DeviceWatcher]]:
    rec = Recorder()
    watcher = DeviceWatcher(rec.cb("added"), rec.cb("changed"), rec.cb("removed"),
                            rec.problems.append)
    try:
        yield rec, watcher
    finally:
        watcher.stop()


def fat_stick(loops: Loops, size: int = 64 << 20) -> tuple[str, str]:
    """A loop "USB stick" with one FAT32 partition; returns (disk, partition)."""
    dev = loops.attach(loops.stick_image(size, label="TESTSTICK"))
    return dev, loops.partition(dev)


def test_plugging_and_pulling_a_stick(watched: tuple[Recorder, DeviceWatcher],
                                      loops: Loops) -> None:
    rec, watcher = watched
    assert watcher.start()
    dev, part = fat_stick(loops)

    def has_fat_partition() -> bool:
        stick = rec.last(dev)
        return (isinstance(stick, UsbStick) and
                any(p.devname == part and p.fs_type == "vfat" and p.fs_label == "TESTSTICK"
                     for p in stick.partitions))

    wait_until(has_fat_partition, 20, "the stick with its FAT32 partition")
    stick = rec.last(dev)
    assert isinstance(stick, UsbStick)
    assert rec.of(dev, "added")
    assert stick.size == 64 << 20 and not stick.read_only
    assert stick.model == "Test Stick" and stick.vendor == "MWTUI"
    target = stick.target()
    assert target is not None and target.devname == part and target.fs_label == "TESTSTICK"
    assert target.fs_version == "FAT32" and target.number == 1
    assert watcher.sticks() == [stick]

    loops.detach(dev)  # pulled: a change event without any ID_* property
    wait_until(lambda: rec.of(dev, "removed"), 20, "the stick to be reported removed")
    assert rec.of(dev, "removed")[0].devpath == stick.devpath
    assert watcher.sticks() == []


def test_devices_present_at_start_are_enumerated(watched: tuple[Recorder, DeviceWatcher],
                                                 loops: Loops, tmp_path: Path) -> None:
    rec, watcher = watched
    dev = loops.attach(loops.file("usb", 16 << 20), read_only=True)
    drive = loops.attach(loops.file("drive", 4 << 20))
    subprocess.run(["udevadm", "settle", "--timeout=20"], timeout=30)
    assert watcher.start()
    added = {d.devname: d for d in rec.of(dev, "added") + rec.of(drive, "added")}
    stick, optical = added.get(dev), added.get(drive)
    assert isinstance(stick, UsbStick) and stick.read_only  # reported during start()
    assert isinstance(optical, OpticalDrive)
    assert optical.media.state is MediaState.BLANK and optical.media.capacity == 4 << 20
    assert not optical.ejectable and optical.model == "Test Drive"


def test_changing_the_disc_in_a_drive(watched: tuple[Recorder, DeviceWatcher],
                                      loops: Loops, tmp_path: Path) -> None:
    rec, watcher = watched
    assert watcher.start()
    size = 4 << 20
    blank = loops.file("drive", size)
    written = loops.file("drive", size)
    volume = make_volume(tmp_path / "vol", instances=1)
    assert volume.iso is not None
    with open(written, "r+b") as f:
        f.write(volume.iso.read_bytes())
    drive = loops.attach(blank, read_only=True)

    def state() -> MediaState | None:
        d = rec.last(drive)
        return d.media.state if isinstance(d, OpticalDrive) else None

    wait_until(lambda: state() is MediaState.BLANK, 20, "a blank disc")
    loops.change_disc(drive, written)  # the technician swaps discs
    wait_until(lambda: state() is MediaState.COMPLETE, 20, "the written disc")
    d = rec.last(drive)
    assert isinstance(d, OpticalDrive) and d.media.used == size
    assert rec.of(drive, "changed")
    loops.change_disc(drive, blank)
    wait_until(lambda: state() is MediaState.BLANK, 20, "the blank disc again")


def test_a_drive_added_and_removed_by_the_kernel(watched: tuple[Recorder, DeviceWatcher],
                                                 loops: Loops) -> None:
    rec, watcher = watched
    assert watcher.start()
    dev = loops.create()  # LOOP_CTL_ADD: an `add` event (an empty device: not a drive yet)
    loops.attach(loops.file("drive", 2 << 20), device=dev)
    wait_until(lambda: rec.of(dev, "added"), 20, "the drive to be added")
    loops.detach(dev)
    loops.remove(dev)  # LOOP_CTL_REMOVE: the `remove` event
    wait_until(lambda: rec.of(dev, "removed"), 20, "the drive to be removed")
    subprocess.run(["udevadm", "settle", "--timeout=20"], timeout=30)
    assert len(rec.of(dev, "removed")) == 1  # the change and the remove: one report
    assert not Path(dev).exists()


def test_no_udev_access_is_one_clear_message() -> None:
    problems: list[str] = []

    def denied() -> object:
        raise PermissionError(1, "Operation not permitted")

    watcher = DeviceWatcher(lambda d: None, lambda d: None, lambda d: None, problems.append,
                            context_factory=denied)
    assert watcher.start() is False
    watcher.stop()
    assert len(problems) == 1
    assert "cannot watch for discs and USB sticks (permission denied)" in problems[0]


def test_a_drive_the_user_may_not_write_is_one_clear_message(udev: None, loops: Loops) -> None:
    """Run as the unprivileged user 'nobody': it sees the drives but may not open them."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    drives = [loops.attach(loops.file("drive", 2 << 20)) for _ in range(2)]
    subprocess.run(["udevadm", "settle", "--timeout=20"], timeout=30)
    code = ("from mw_tui.devices.watcher import DeviceWatcher\n"
            "seen, problems = [], []\n"
            "w = DeviceWatcher(seen.append, seen.append, seen.append, problems.append)\n"
            "ok = w.start(); w.stop()\n"
            "print(ok, sorted(d.devname for d in seen if not d.writable))\n"
            "for p in problems: print(p)\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("True")
    for d in drives:
        assert d in lines[0]
    messages = [line for line in lines[1:] if "may not write to the disc drive" in line]
    assert len(messages) == 1, proc.stdout  # two drives, one message
    assert "'cdrom' group" in messages[0]
