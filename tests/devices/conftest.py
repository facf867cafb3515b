"""Real device plumbing for the device tests: systemd-udevd, the test udev rules, loop
devices that look like a USB stick or an optical drive, and small volumes to write.

Everything started here is stopped here, also when a test fails: the udevd this
fixture started (by its PID), the rules it installed, every loop device it attached or
created, every mount under the test's folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mw_tui.demo import synth
from mw_tui.devices.writers.base import ProblemCode, WriterError
from mw_tui.media.volume import Volume, VolumeFile
from tests.peers import need, need_root, wait_until

RULES = Path(__file__).parent / "udev"
RUN_RULES = Path("/run/udev/rules.d")
UDEVD = Path("/lib/systemd/systemd-udevd")

LOOP_CHANGE_FD = 0x4C06
LOOP_CTL_ADD = 0x4C80
LOOP_CTL_REMOVE = 0x4C81


def need_loops() -> None:
    need_root()
    if not Path("/dev/loop-control").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /dev/loop-control")
        pytest.skip("no loop device support (/dev/loop-control missing)")


def udevd_running() -> bool:
    proc = subprocess.run(["udevadm", "control", "--ping", "--timeout=2"],
                          capture_output=True, timeout=10)
    return proc.returncode == 0


def settle() -> None:
    subprocess.run(["udevadm", "settle", "--timeout=20"], capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def udev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """udevd running (started here when it is not) with the test rules installed."""
    need_loops()
    need("udevadm", "losetup", "partx")
    if not UDEVD.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {UDEVD}")
        pytest.skip(f"needs {UDEVD} (Debian package udev)")
    RUN_RULES.mkdir(parents=True, exist_ok=True)
    installed = []
    started: subprocess.Popen[bytes] | None = None
    try:
        for rule in sorted(RULES.glob("*.rules")):
            dest = RUN_RULES / rule.name
            shutil.copyfile(rule, dest)
            installed.append(dest)
        if not udevd_running():
            log = open(tmp_path_factory.mktemp("udevd") / "udevd.log", "wb")  # noqa: SIM115
            started = subprocess.Popen([str(UDEVD)], stdout=log, stderr=subprocess.STDOUT)
            wait_until(lambda: started.poll() is None and udevd_running(), 20,
                       "systemd-udevd to answer")
        subprocess.run(["udevadm", "control", "--reload"], check=True, timeout=30)
        yield
    finally:
        for dest in installed:
            dest.unlink(missing_ok=True)
        if udevd_running():
            subprocess.run(["udevadm", "control", "--reload"], timeout=30)
        if started is not None:
            started.terminate()
            try:
                started.wait(10)
            except subprocess.TimeoutExpired:
                started.kill()
                started.wait(5)


class Loops:
    """Loop devices over sparse files named so the test rules match them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.attached: list[str] = []
        self.created: list[int] = []

    def file(self, kind: str, size: int) -> Path:
        """A sparse file named mwtui-test-KIND-*.img ("usb" or "drive")."""
        path = self.folder / f"mwtui-test-{kind}-{uuid.uuid4().hex[:8]}.img"
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def stick_image(self, size: int, fat: str | None = "32", label: str = "STICK") -> Path:
        """A stick image with one partition, formatted FAT`fat` (None: left empty) before
        it is plugged in, as a stick from a shop arrives."""
        image = self.file("usb", size)
        subprocess.run(["sfdisk", "-q", str(image)], input="label: dos\n,,c\n", text=True,
                       check=True, capture_output=True)
        if fat:
            kib = (size - (1 << 20)) // 1024  # the partition starts at 1 MiB
            subprocess.run(["mkfs.vfat", "-F", fat, "-n", label, "--offset", "2048",
                            str(image), str(kib)], check=True, capture_output=True)
        return image

    def attach(self, path: Path, read_only: bool = False, device: str | None = None) -> str:
        args = ["losetup"] + (["-r"] if read_only else [])
        args += [device, str(path)] if device else ["--find", "--show", str(path)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
        dev = device or proc.stdout.strip()
        self.attached.append(dev)
        return dev

    def detach(self, dev: str) -> None:
        """Drop the partitions (retried while udev still probes them), then the device."""
        name = Path(dev).name
        sysfs = Path("/sys/class/block") / name

        def no_partitions() -> bool:
            if not any(p.name.startswith(name + "p") for p in sysfs.iterdir()):
                return True
            subprocess.run(["partx", "-d", dev], capture_output=True, timeout=30)
            return False

        if sysfs.exists():
            wait_until(no_partitions, 10, f"the partitions of {dev} to go")
        subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=30)
        if dev in self.attached:
            self.attached.remove(dev)

    def partition(self, dev: str) -> str:
        """Tell the kernel about the partition table (no partition scan on loop devices)."""
        proc = subprocess.run(["partx", "-a", dev], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"partx -a {dev}: {proc.stderr}"
        part = f"{dev}p1"
        wait_until(lambda: Path(part).exists(), 10, f"{part} to appear")
        return part

    def create(self) -> str:
        """A new /dev/loopN made with LOOP_CTL_ADD (a real `add` event)."""
        fd = os.open("/dev/loop-control", os.O_RDWR)
        try:
            for n in range(200, 1000):
                try:
                    fcntl.ioctl(fd, LOOP_CTL_ADD, n)
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        continue
                    raise
                self.created.append(n)
                dev = f"/dev/loop{n}"
                wait_until(Path(dev).exists, 10, dev)
                return dev
        finally:
            os.close(fd)
        raise AssertionError("no free loop device number")

    def remove(self, dev: str) -> None:
        """LOOP_CTL_REMOVE: the device disappears (a real `remove` event)."""
        n = int(dev.removeprefix("/dev/loop"))
        fd = os.open("/dev/loop-control", os.O_RDWR)
        try:
            def removed() -> bool:
                try:
                    fcntl.ioctl(fd, LOOP_CTL_REMOVE, n)
                except OSError as exc:
                    if exc.errno == errno.EBUSY:  # udev still probing it
                        return False
                    if exc.errno != errno.ENODEV:
                        raise
                return True

            wait_until(removed, 10, f"{dev} to be removed")
        finally:
            os.close(fd)
        if n in self.created:
            self.created.remove(n)

    def change_disc(self, dev: str, path: Path) -> None:
        """Swap the "disc" of a read-only loop drive (LOOP_CHANGE_FD, same size)."""
        dev_fd = os.open(dev, os.O_RDONLY)
        file_fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.ioctl(dev_fd, LOOP_CHANGE_FD, file_fd)
        finally:
            os.close(file_fd)
            os.close(dev_fd)

    def cleanup(self) -> None:
        for line in Path("/proc/mounts").read_text().splitlines():
            mountpoint = line.split()[1].replace("\\040", " ")
            if mountpoint.startswith(str(self.folder)):
                subprocess.run(["fusermount", "-u", "-z", mountpoint], capture_output=True)
                subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        for dev in list(self.attached):
            self.detach(dev)
        for n in list(self.created):
            try:
                self.remove(f"/dev/loop{n}")
            except (AssertionError, OSError):
                pass


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[Loops]:
    need_loops()
    need("losetup", "partx")
    folder = tmp_path / "loops"
    folder.mkdir()
    lo = Loops(folder)
    try:
        yield lo
    finally:
        lo.cleanup()


# -- small volumes ------------------------------------------------------------------------


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_volume(folder: Path, instances: int = 4, label: str = "MWTUI_TEST",
                iso: bool = True, md5_tags: bool = True, rows: int = 64,
                padding: int = 0) -> Volume:
    """A small File-set of real DICOM instances (+ README.TXT, generated in memory), and
    its ISO 9660 image made by xorriso (with MD5 tags or without, as pycdlib makes them).
    `padding` adds a file of that many random bytes (to make the volume bigger)."""
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    study = synth.StudyInfo()
    files: list[VolumeFile] = []
    series_uid = None
    for i in range(instances):
        ds = synth.image(study, "CT", series_uid=series_uid, instance_number=i + 1,
                         rows=rows, columns=rows, seed=i)
        series_uid = ds.SeriesInstanceUID
        path = synth.save(ds, src / f"i{i}.dcm")
        files.append(VolumeFile(f"DICOM/P0000001/S0000001/I{i + 1:07d}", path.stat().st_size,
                                source=path, is_dicom=True))
    readme = b"Test medium written by the mw-tui device tests.\r\n"
    files.append(VolumeFile("README.TXT", len(readme), data=readme))
    if padding:
        pad = src / "pad.bin"
        pad.write_bytes(os.urandom(padding))
        files.append(VolumeFile("PAD/PAD.BIN", padding, source=pad))
    volume = Volume(label=label, profile="STD-GEN-CD", number=1, count=1, files=tuple(files))
    if not iso:
        return volume
    need("xorriso")
    tree = folder / "tree"
    for f in files:
        dest = tree / f.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read())
    image = folder / f"{label}.iso"
    image.unlink(missing_ok=True)
    args = ["xorriso"] + (["-md5", "on"] if md5_tags else []) + [
        "-as", "mkisofs", "-quiet", "-V", label, "-o", str(image), str(tree)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return Volume(label=label, profile="STD-GEN-CD", number=1, count=1, files=tuple(files),
                  iso=image, iso_md5=md5_of(image), iso_size=image.stat().st_size)


@contextlib.contextmanager
def raises_problem(code: ProblemCode, match: str | None = None) -> Iterator[Any]:
    """Like pytest.raises(WriterError), and the error carries `code`."""
    with pytest.raises(WriterError, match=match) as err:
        yield err
    assert err.value.code is code, f"{err.value.code} raised, {code} expected"
