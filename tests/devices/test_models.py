"""The udev boundary: property mappings -> drive and stick models (no udev needed)."""

from __future__ import annotations

from mw_tui.devices.models import (
    NOMINAL_CAPACITY,
    MediaState,
    MediaType,
    OpticalDrive,
    UsbStick,
    device_from_properties,
    partition_from_properties,
)

DRIVE = {"SUBSYSTEM": "block", "DEVTYPE": "disk", "DEVPATH": "/devices/pci/ata1/block/sr0",
         "DEVNAME": "/dev/sr0", "ID_CDROM": "1", "ID_VENDOR": "HL-DT-ST",
         "ID_MODEL": "DVDRAM_GH24NSD1", "ID_CDROM_DVD_PLUS_RW": "1"}
STICK = {"SUBSYSTEM": "block", "DEVTYPE": "disk", "DEVPATH": "/devices/usb1/1-1/block/sdb",
         "DEVNAME": "/dev/sdb", "ID_BUS": "usb", "ID_VENDOR": "SanDisk",
         "ID_MODEL": "Cruzer_Blade", "ID_SERIAL": "SanDisk_Cruzer_Blade_0401"}


def test_a_drive_without_a_disc() -> None:
    drive = device_from_properties(DRIVE, size=0)
    assert isinstance(drive, OpticalDrive)
    assert drive.media.state is MediaState.NONE and not drive.media.present
    assert drive.ejectable
    assert drive.describe() == "HL-DT-ST DVDRAM GH24NSD1 (/dev/sr0): no disc"


def test_a_blank_cd_r_has_its_nominal_capacity() -> None:
    props = {**DRIVE, "ID_CDROM_MEDIA": "1", "ID_CDROM_MEDIA_CD": "1",
             "ID_CDROM_MEDIA_CD_R": "1", "ID_CDROM_MEDIA_STATE": "blank"}
    drive = device_from_properties(props, size=0)
    assert isinstance(drive, OpticalDrive)
    m = drive.media
    assert (m.state, m.type, m.profile, m.rewritable) == (MediaState.BLANK, MediaType.CD,
                                                          "CD_R", False)
    assert m.capacity == NOMINAL_CAPACITY["CD_R"] == 737_280_000


def test_a_formatted_blank_dvd_rw_shows_its_size_and_a_closed_bd_its_data() -> None:
    props = {**DRIVE, "ID_CDROM_MEDIA": "1", "ID_CDROM_MEDIA_DVD_PLUS_RW": "1",
             "ID_CDROM_MEDIA_STATE": "blank"}
    drive = device_from_properties(props, size=4_700_000_000)
    assert isinstance(drive, OpticalDrive)
    assert drive.media.type is MediaType.DVD and drive.media.rewritable
    assert drive.media.capacity == 4_700_000_000
    props = {**DRIVE, "ID_CDROM_MEDIA": "1", "ID_CDROM_MEDIA_BD_R": "1",
             "ID_CDROM_MEDIA_STATE": "complete"}
    drive = device_from_properties(props, size=123 * 2048)
    assert isinstance(drive, OpticalDrive)
    assert (drive.media.state, drive.media.type) == (MediaState.COMPLETE, MediaType.BD)
    assert drive.media.capacity is None and drive.media.used == 123 * 2048
    appendable = device_from_properties({**props, "ID_CDROM_MEDIA_STATE": "appendable"}, 1)
    assert isinstance(appendable, OpticalDrive)
    assert appendable.media.state is MediaState.APPENDABLE


def test_a_loop_drive_cannot_eject() -> None:
    drive = device_from_properties({**DRIVE, "DEVNAME": "/dev/loop3"}, size=0)
    assert isinstance(drive, OpticalDrive) and not drive.ejectable


def test_a_stick_with_partitions() -> None:
    p1 = partition_from_properties(
        {"DEVPATH": STICK["DEVPATH"] + "/sdb1", "DEVNAME": "/dev/sdb1", "PARTN": "1",
         "ID_FS_TYPE": "vfat", "ID_FS_VERSION": "FAT32", "ID_FS_LABEL": "KINGSTON"},
        size=8_000_000_000, read_only=False)
    p2 = partition_from_properties(
        {"DEVPATH": STICK["DEVPATH"] + "/sdb2", "DEVNAME": "/dev/sdb2", "PARTN": "2",
         "ID_FS_TYPE": "ext4"}, size=1_000_000, read_only=False)
    stick = device_from_properties(STICK, size=8_001_000_000, partitions=[p2, p1])
    assert isinstance(stick, UsbStick)
    assert [p.number for p in stick.partitions] == [1, 2]
    assert stick.target() == p1
    assert stick.describe() == "SanDisk Cruzer Blade (/dev/sdb, 8.0 GB)"
    assert p1.describe() == "/dev/sdb1: FAT32 'KINGSTON', 8.0 GB"


def test_a_superfloppy_stick_and_a_write_protected_one() -> None:
    stick = device_from_properties({**STICK, "ID_FS_TYPE": "vfat"}, size=1 << 30,
                                   read_only=True)
    assert isinstance(stick, UsbStick)
    assert stick.read_only and "write-protected" in stick.describe()
    target = stick.target()
    assert target is not None and target.number == 0 and target.devname == "/dev/sdb"


def test_what_is_not_a_target() -> None:
    assert device_from_properties({**STICK, "ID_BUS": "ata"}, size=1 << 30) is None
    assert device_from_properties(STICK, size=0) is None  # a card reader without a card
    assert device_from_properties({**STICK, "DEVTYPE": "partition"}, size=1 << 30) is None
    # a USB disk holding the system's own root file system is never offered
    p1 = partition_from_properties({"DEVNAME": "/dev/sdb1", "PARTN": "1"}, 1 << 30, False)
    assert device_from_properties(STICK, 1 << 30, partitions=[p1],
                                  system_devices={"/dev/sdb1"}) is None
    assert device_from_properties({}, size=1) is None
