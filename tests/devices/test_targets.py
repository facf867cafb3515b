"""The [devices] and [[targets]] configuration, and choosing a writer for a target."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.devices.models import (
    MediaState,
    MediaType,
    OpticalDrive,
    OpticalMedia,
    Partition,
    UsbStick,
)
from mw_tui.devices.writers import (
    DiscWriter,
    IsoFileWriter,
    ProblemCode,
    StowWriter,
    UsbWriter,
    Writer,
    WriterError,
    writer_class,
    writer_for,
)
from mw_tui.devices.writers.hotfolder import HotFolderWriter
from mw_tui.media.profiles import MEDIA, USB_PROFILES, Profile

EXAMPLE = """
[devices]
drive = "/dev/sr1"
drive_speed = "8"
usb_mount_command = "fusefat -o rw+ {device} {mountpoint}"
usb_unmount_command = "fusermount -u {mountpoint}"
iso_folder = "/srv/iso"

[[targets]]
name = "cloud"
url = "https://pacs.example.org/dicom-web"
auth = "basic"
username = "station"
password = "secret"
"""


def test_the_example_loads() -> None:
    config = cfg.loads(EXAMPLE)
    assert config.devices.drive == "/dev/sr1" and config.devices.drive_speed == "8"
    assert config.devices.eject is True
    (target,) = config.targets
    assert target.verify_tls is True and target.auth == "basic"


@pytest.mark.parametrize(("text", "expected"), [
    ('[devices]\ndrive_speed = "fast"', "devices.drive_speed = 'fast': must be \"max\""),
    ('[devices]\nusb_mount_command = "mount \'{device}"', "devices.usb_mount_command"),
    ('[[targets]]\nname = "c"\nurl = "ftp://x"', "targets[1].url = 'ftp://x': must be an "
                                                 "http(s) URL"),
    ('[[targets]]\nname = "c"\nurl = "https://x/dw"\nauth = "basic"\nusername = "u"',
     "targets 'c': auth = \"basic\" needs username and password"),
    ('[[targets]]\nname = "c"\nurl = "https://x/dw"\nauth = "bearer"',
     "targets 'c': auth = \"bearer\" needs token"),
    ('[[targets]]\nname = "c"\nurl = "https://x/dw"\nauth = "digest"', "targets[1].auth"),
    ('[[targets]]\nname = "c"\nurl = "https://x/dw"\n[[targets]]\nname = "c"\n'
     'url = "https://y/dw"', "targets: the name 'c' is used twice"),
])
def test_invalid_values_are_named(text: str, expected: str) -> None:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.loads(text)
    assert any(expected in e for e in err.value.errors), err.value.errors


def test_secrets_in_a_readable_file_are_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE)
    os.chmod(path, 0o644)
    warning = cfg.secrets_exposed(cfg.load(path))
    assert warning is not None and f"chmod 600 {path}" in warning
    assert any(line.startswith("WARNING") for line in cfg.describe(cfg.load(path)))
    os.chmod(path, 0o600)
    assert cfg.secrets_exposed(cfg.load(path)) is None


DRIVE = OpticalDrive(devpath="/devices/x/sr0", devname="/dev/sr0")
STICK = UsbStick(devpath="/devices/x/sdb", devname="/dev/sdb", size=1 << 30,
                 partitions=(Partition("/devices/x/sdb/sdb1", "/dev/sdb1", 1, 1 << 30,
                                       "vfat"),))


def T(text: str) -> cfg.Target:
    kind, _, where = text.partition(":")
    return cfg.Target(cfg.TargetKind(kind), where)


def test_a_writer_for_each_target() -> None:
    config = cfg.loads(EXAMPLE)
    disc = writer_for(config, T("disc"), [DRIVE])
    assert isinstance(disc, DiscWriter) and disc.device == "/dev/sr1" and disc.speed == "8"
    assert writer_for(config, T("disc:/dev/sr0")).device == "/dev/sr0"  # type: ignore[attr-defined]
    auto = writer_for(cfg.Config(), T("disc"), [STICK, DRIVE])
    assert isinstance(auto, DiscWriter) and auto.device == "/dev/sr0"
    usb = writer_for(config, T("usb"), [DRIVE, STICK])
    assert isinstance(usb, UsbWriter) and usb.commands.mount.startswith("fusefat")
    assert isinstance(writer_for(config, T("usb:/dev/sdb1"), [STICK]), UsbWriter)
    iso = writer_for(config, T("iso"))
    assert isinstance(iso, IsoFileWriter) and iso.folder == Path("/srv/iso")
    assert writer_for(config, T("iso:/mnt/share")).folder == Path("/mnt/share")  # type: ignore[attr-defined]
    assert isinstance(writer_for(config, T("cloud:cloud")), StowWriter)


def test_missing_targets_say_what_to_do() -> None:
    config = cfg.Config()
    for target, devices, code, match in (
            ("disc", [STICK], ProblemCode.NO_DEVICE, "No disc drive found"),
            ("usb", [DRIVE], ProblemCode.NO_DEVICE, "plug one in"),
            ("iso", [], ProblemCode.NOT_CONFIGURED, "iso_folder"),
            ("cloud:x", [], ProblemCode.NOT_CONFIGURED, "No cloud target named 'x'")):
        with pytest.raises(WriterError, match=match) as err:
            writer_for(config, T(target), devices)
        assert err.value.code is code and err.value.problem.code is code


def test_targets_are_parsed_once_with_what_is_allowed() -> None:
    assert cfg.Target.parse("disc") == cfg.Target(cfg.TargetKind.DISC)
    assert cfg.Target.parse(" ISO:/srv/x.iso") == cfg.Target(cfg.TargetKind.ISO, "/srv/x.iso")
    assert str(cfg.Target.parse("usb:/dev/sdb")) == "usb:/dev/sdb"
    for bad, said in (("tape", "use iso:PATH, disc[:DEVICE]"), ("iso", "needs a path"),
                      ("cloud:", "needs a name")):
        with pytest.raises(ValueError, match=said.replace("[", r"\[")):
            cfg.Target.parse(bad)
    assert cfg.check_target("tape") is not None and cfg.check_target("iso:/x") is None


def test_capabilities_tell_the_targets_apart() -> None:
    flags = {cls.__name__: (cls.needs_media, cls.needs_iso, cls.can_eject, cls.can_blank,
                            cls.can_format, cls.removable, cls.can_verify, cls.makes_copies)
             for cls in (DiscWriter, UsbWriter, IsoFileWriter, StowWriter)}
    assert flags == {
        "DiscWriter": (True, True, True, True, False, True, True, True),
        "UsbWriter": (True, False, False, False, True, True, True, True),
        "IsoFileWriter": (False, True, False, False, False, False, True, False),
        "StowWriter": (False, False, False, False, False, False, True, False),
    }
    assert all(issubclass(c, Writer) for c in (DiscWriter, UsbWriter, IsoFileWriter,
                                                StowWriter))
    assert {k: writer_class(k) for k in cfg.TargetKind} == {
        cfg.TargetKind.DISC: DiscWriter, cfg.TargetKind.USB: UsbWriter,
        cfg.TargetKind.ISO: IsoFileWriter, cfg.TargetKind.CLOUD: StowWriter,
        cfg.TargetKind.PUBLISHER: HotFolderWriter}
    assert HotFolderWriter.writes_all_copies and HotFolderWriter.prints_labels
    assert not HotFolderWriter.needs_media  # the robot takes discs from its own bins


def test_the_medium_each_target_cuts_volumes_to() -> None:
    blank = OpticalDrive(devpath="/devices/x/sr0", devname="/dev/sr0",
                         media=OpticalMedia(state=MediaState.BLANK, type=MediaType.CD,
                                            capacity=700_000_000))
    assert DiscWriter.medium(Profile.STD_GEN_DVD, blank).capacity == 700_000_000
    assert DiscWriter.medium(Profile.STD_GEN_DVD, DRIVE) == MEDIA["DVD"]
    assert DiscWriter.ask_for(MEDIA["CD"].capacity) == "a blank CD"
    assert UsbWriter.medium(Profile.STD_GEN_USB_JPEG, STICK).capacity == 1 << 30
    assert IsoFileWriter.medium(Profile.STD_GEN_USB_JPEG) == MEDIA["DVD"]
    assert StowWriter.medium(None).capacity is None and StowWriter.profiles == ()
    assert UsbWriter.profiles == USB_PROFILES and UsbWriter.ask_for(None) == "a USB stick"
