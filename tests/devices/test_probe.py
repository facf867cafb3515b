"""What a block device is when only its path is known (an import reading /dev/sr0): an
optical drive by udev's ID_CDROM, the kernel's SCSI type 5 or an sr* name, whatever the
file system of its disc; and what the drive says the disc is. Sysfs is a folder made
here."""

from __future__ import annotations

from pathlib import Path

from mw_tui.devices.models import MediaType
from mw_tui.devices.probe import is_optical, probe


def sysfs(tmp_path: Path) -> Path:
    """/sys/class/block with a SCSI DVD drive (sr0), a USB stick (sdb, partition sdb1),
    a virtio disk (vda: no SCSI type) and a loop device."""
    devices = tmp_path / "devices"
    for name, scsi_type in (("sr0", "5"), ("sdb", "0"), ("vda", None), ("loop3", None)):
        node = devices / name
        node.mkdir(parents=True)
        (node / "size").write_text("4194304\n")
        if scsi_type is not None:
            (node / "device").mkdir()
            (node / "device" / "type").write_text(scsi_type + "\n")
    (devices / "sdb" / "sdb1").mkdir()
    (devices / "sdb" / "sdb1" / "partition").write_text("1\n")
    block = tmp_path / "class" / "block"
    block.mkdir(parents=True)
    for name, target in (("sr0", "sr0"), ("sdb", "sdb"), ("sdb1", "sdb/sdb1"),
                         ("vda", "vda"), ("loop3", "loop3")):
        (block / name).symlink_to(devices / target)
    return block


def test_an_optical_drive_is_known_by_udev_the_scsi_type_or_its_name(tmp_path: Path) -> None:
    block = sysfs(tmp_path)
    assert is_optical("sr0", {}, block) is True  # SCSI type 5 (TYPE_ROM)
    assert is_optical("sr1", {}, block) is True  # not in sysfs: the sr driver's name
    assert is_optical("loop3", {"ID_CDROM": "1"}, block) is True  # an emulated drive
    assert is_optical("sdb", {}, block) is False  # SCSI type 0: a disk (a stick)
    assert is_optical("sdb1", {"ID_FS_TYPE": "vfat"}, block) is False  # its partition
    assert is_optical("vda", {}, block) is None  # nobody says: the file system decides
    assert is_optical("loop3", {}, block) is None


def test_the_disc_type_is_what_the_drive_says(tmp_path: Path) -> None:
    block = sysfs(tmp_path)
    dvd = {"ID_CDROM": "1", "ID_CDROM_MEDIA": "1", "ID_CDROM_MEDIA_DVD": "1",
           "ID_CDROM_MEDIA_DVD_R": "1", "ID_CDROM_MEDIA_STATE": "complete",
           "ID_FS_TYPE": "udf"}
    found = probe("/dev/sr0", block, dvd)
    assert found.optical is True and found.media.type is MediaType.DVD
    cd = {"ID_CDROM": "1", "ID_CDROM_MEDIA": "1", "ID_CDROM_MEDIA_CD_R": "1"}
    assert probe("/dev/sr0", block, cd).media.type is MediaType.CD
    silent = probe("/dev/sr0", block, {})  # no udev database: a disc of unknown type
    assert silent.optical is True and silent.media.type is MediaType.UNKNOWN
    stick = probe("/dev/sdb1", block, {"ID_CDROM_MEDIA_DVD": "1"})
    assert stick.optical is False and stick.media.type is MediaType.UNKNOWN
