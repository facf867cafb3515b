"""Media in devices: a FAT stick (mkfs.vfat + mcopy) behind a loop device, mounted
read-only through FUSE fusefat with the configured commands, and a disc (an ISO 9660
image on a read-only loop device) read straight from the device. Needs root; run under
the shared lock (flock /tmp/mw-tui-root.lock)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.importing import (
    DicomdirState,
    ImportPlan,
    LocalPatient,
    MediumError,
    MediumKind,
    opened_medium,
    read_medium,
)
from mw_tui.importing.opening import MountedSource, mount_options
from mw_tui.station.importing import describe
from tests.devices.conftest import Loops, settle
from tests.importing.conftest import (
    Disc,
    config_for,
    ct_files,
    outside_ct,
    send_and_count,
    write_disc,
)
from tests.peers import Orthanc, need, wait_until

pytestmark = pytest.mark.root

FUSE_RO = {"mount_command": "fusefat -o ro {device} {mountpoint}",
           "unmount_command": "fusermount -u {mountpoint}"}


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[list[str]]:
    """Attach images read-only (`losetup -r`); every device is detached afterwards."""
    need("losetup")
    attached: list[str] = []
    yield attached
    for line in Path("/proc/mounts").read_text().splitlines():
        mountpoint = line.split()[1]
        if mountpoint.startswith(str(tmp_path)):
            subprocess.run(["fusermount", "-u", "-z", mountpoint], capture_output=True)
    for dev in attached:
        subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=30)


def attach(loop: list[str], image: Path, writable: bool = False) -> str:
    """A loop device of `image` (read-only unless `writable`: a stick is writable, and
    only the station's read-only mount keeps it unchanged)."""
    dev = subprocess.run(["losetup", "--find", "--show", *([] if writable else ["-r"]),
                          str(image)], check=True, capture_output=True, text=True,
                         timeout=30).stdout.strip()
    loop.append(dev)
    return dev


def stick_image(tmp_path: Path, disc: Disc, image: Path | None = None) -> Path:
    """A FAT32 stick holding the disc's files, made with mkfs.vfat and mcopy (in `image`
    when given, else in stick.img)."""
    need("mkfs.vfat", "mcopy", "fusefat", "fusermount")
    image = image or tmp_path / "stick.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.vfat", "-F", "32", "-n", "OUTSIDE", str(image)], check=True,
                   capture_output=True)
    for top in sorted(disc.tree.iterdir()):
        subprocess.run(["mcopy", "-s", "-i", str(image), str(top), "::/"], check=True,
                       capture_output=True, env={"MTOOLS_SKIP_CHECK": "1"})
    return image


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_fat_stick_is_mounted_read_only_read_and_unmounted(
        tmp_path: Path, loop: list[str], empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path / "src", ct_files(outside_ct(6)))
    image = stick_image(tmp_path, disc)
    before = md5(image)
    device = attach(loop, image, writable=True)
    config = config_for(tmp_path, empty_pacs, **FUSE_RO)
    with opened_medium(device, config) as (source, medium):
        assert medium.kind is MediumKind.MOUNTED
        assert medium.dicomdir is DicomdirState.USED, medium.notes
        assert medium.instance_count == 6 and not medium.unreadable
        assert isinstance(source, MountedSource)
        mountpoint = source.mountpoint
        assert "ro" in (mount_options(mountpoint) or set())
        result = send_and_count(config, medium, ImportPlan.make(config, LocalPatient("LOC-1")),
                            source=source)
        assert result.ok, result.message
    assert mount_options(mountpoint) is None  # unmounted again
    wait_until(lambda: not list((tmp_path / "mnt").iterdir()), 10, "the mount point to go")
    assert empty_pacs.instance_count() == 6
    assert read_medium(device, config).patients == medium.patients  # and again
    assert md5(image) == before  # nothing was written to the stick


def test_a_mount_command_that_mounts_writable_is_refused(tmp_path: Path,
                                                         loop: list[str]) -> None:
    disc = write_disc(tmp_path / "src", ct_files(outside_ct(1)))
    image = stick_image(tmp_path, disc)
    device = attach(loop, image)
    config = config_for(tmp_path, mount_command="fusefat -o rw+ {device} {mountpoint}",
                        unmount_command="fusermount -u {mountpoint}")
    with pytest.raises(MediumError, match=r"mounted .* writable"):
        read_medium(device, config)
    assert not any(line.split()[1].startswith(str(tmp_path))
                   for line in Path("/proc/mounts").read_text().splitlines())


def test_a_stick_without_a_file_system_says_so(tmp_path: Path, loop: list[str]) -> None:
    image = tmp_path / "blank.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    config = config_for(tmp_path, **FUSE_RO)
    with pytest.raises(MediumError, match="could not be mounted"):
        read_medium(attach(loop, image), config)


def test_a_disc_is_read_straight_from_the_device(tmp_path: Path, loop: list[str]) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(4)))
    device = attach(loop, disc.iso)
    medium = read_medium(device, config_for(tmp_path, **FUSE_RO))
    assert medium.kind is MediumKind.DISC  # no mount: pycdlib on the device
    assert medium.label == "OUTSIDE"
    assert medium.patients == read_medium(disc.iso).patients


def test_a_disc_without_iso_9660_is_a_disc_not_a_stick(tmp_path: Path, udev: None,
                                                       loops: Loops) -> None:
    """A UDF-only disc is mounted (pycdlib reads ISO 9660 only) and is still a disc: its
    drive says so (here a loop device the test udev rules make a DVD drive). UDF cannot
    be mounted on the test machines: a FAT file system stands in, mounted read-only as
    UDF would be; the file system does not decide what the medium is."""
    disc = write_disc(tmp_path / "src", ct_files(outside_ct(2)))
    image = stick_image(tmp_path, disc, loops.file("drive", 64 << 20))
    device = loops.attach(image, read_only=True)
    settle()
    medium = read_medium(device, config_for(tmp_path, **FUSE_RO))
    assert medium.instance_count == 2 and medium.dicomdir is DicomdirState.USED
    assert (medium.kind, medium.disc) == (MediumKind.DISC, "DVD")  # DVD+RW, says udev
    assert describe(medium) == f"disc {medium.label} in {device}"


def test_an_empty_drive_says_to_insert_the_medium(tmp_path: Path) -> None:
    need("losetup")
    free = subprocess.run(["losetup", "--find"], check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()  # a loop device with nothing in it
    with pytest.raises(MediumError, match="There is no medium in"):
        read_medium(free, config_for(tmp_path, **FUSE_RO))
