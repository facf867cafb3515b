"""The media detector: a disc with data (here an ISO image made by dcmmkdir + genisoimage,
standing for the drive's device) is looked at and announced once, its removal too; a
blank disc, a disc the station is writing, and a disc it wrote itself are not."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mw_tui.devices.models import MediaState, MediaType, OpticalDrive, OpticalMedia, UsbStick
from mw_tui.station.inserted import InsertedMedium, MediaDetector, readable
from tests.importing.conftest import Disc, config_for, ct_files, outside_ct, write_disc
from tests.peers import wait_until


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory) -> Disc:
    return write_disc(tmp_path_factory.mktemp("inserted"), ct_files(outside_ct(3)),
                      label="FROM_AWAY")


def drive(devname: str, state: MediaState = MediaState.COMPLETE, used: int = 1) -> OpticalDrive:
    return OpticalDrive("/devices/virtual/sr9", devname,
                        media=OpticalMedia(state, MediaType.CD, "CD_R", used=used))


def looking() -> bool:
    return any(t.name.startswith("look-at-") for t in threading.enumerate())


class Heard:
    def __init__(self) -> None:
        self.items: list[InsertedMedium] = []
        self.lock = threading.Lock()

    def __call__(self, m: InsertedMedium) -> None:
        with self.lock:
            self.items.append(m)


def test_what_is_worth_a_look() -> None:
    assert readable(drive("/dev/sr0", MediaState.BLANK)) is None
    assert readable(drive("/dev/sr0", MediaState.NONE)) is None
    source, what, _ = readable(drive("/dev/sr0")) or ("", "", ())
    assert (source, what) == ("/dev/sr0", "disc in /dev/sr0")
    assert readable(UsbStick("/d/sdb", "/dev/sdb", 1 << 30)) is None  # no file system


def test_a_disc_with_dicom_is_announced_once_and_its_removal_too(tmp_path: Path,
                                                                 disc: Disc) -> None:
    heard = Heard()
    detector = MediaDetector(lambda: config_for(tmp_path), heard)
    d = drive(str(disc.iso))
    detector.device_changed(("added", d))
    wait_until(lambda: heard.items, 20, "the disc to be announced")
    (m,) = heard.items
    assert m.present and m.source == str(disc.iso) and m.medium is not None
    assert m.medium.label == "FROM_AWAY" and m.medium.instance_count == 3
    assert detector.current() == [m]
    detector.device_changed(("changed", d))  # the same disc reported again: no second look
    detector.device_changed(("removed", d))
    wait_until(lambda: len(heard.items) == 2, 10, "the removal")
    assert not heard.items[1].present and detector.current() == []


def test_discs_being_written_or_written_here_are_left_alone(tmp_path: Path,
                                                            disc: Disc) -> None:
    heard = Heard()
    looked: list[str] = []

    def busy(device: object) -> bool:
        looked.append("busy?")
        return True

    MediaDetector(lambda: config_for(tmp_path), heard, busy=busy).device_changed(
        ("added", drive(str(disc.iso))))
    wait_until(lambda: looked, 10, "the detector to ask")
    asked: list[str] = []

    def own_labels() -> set[str]:
        asked.append("labels?")
        return {"FROM_AWAY"}

    ours = MediaDetector(lambda: config_for(tmp_path), heard, own_labels=own_labels)
    ours.device_changed(("added", drive(str(disc.iso), used=2)))
    wait_until(lambda: asked and not looking(), 20, "the disc to be read")
    blank = MediaDetector(lambda: config_for(tmp_path), heard)
    blank.device_changed(("added", drive(str(disc.iso), MediaState.BLANK)))
    assert heard.items == [] and ours.current() == [] and blank.current() == []
