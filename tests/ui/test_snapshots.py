"""Every screen at 80x24 (the kiosk's console) and 120x36, from fixed data and a fixed
clock: the station's services are not started; the app's picture of the station (status,
devices, studies, jobs) is filled with the same values they would report.

Update the pictures after an intended change with:
    .venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

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
from mw_tui.dicom.query import ArchiveOutcome, SearchState, StudyResult
from mw_tui.dicom.scp import ReceiverStatus
from mw_tui.importing import (
    Candidate,
    DicomdirState,
    ImportPlan,
    Instance,
    LocalPatient,
    Match,
    Medium,
    MediumKind,
    Proposal,
    Series,
    Study,
    Unreadable,
)
from mw_tui.importing import Patient as OutsidePatient
from mw_tui.jobs.models import (
    ImportRequest,
    Job,
    JobOptions,
    JobState,
    Progress,
    StudyRef,
    Target,
    VolumeRecord,
)
from mw_tui.station import Station, StationStatus
from mw_tui.station.inserted import InsertedMedium
from mw_tui.store.index import StudyRow
from mw_tui.ui import messages as msg
from mw_tui.ui.dialogs.pin import PinScreen
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.importing import ImportScreen
from mw_tui.ui.screens.review import ReviewScreen
from mw_tui.ui.screens.search import SearchScreen
from mw_tui.ui.screens.settings import SettingsScreen
from mw_tui.ui.widgets.archive_status import ArchiveStatus
from mw_tui.ui.widgets.study_table import StudyTable
from tests.conftest import make_config

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC: the snapshots' "now"
SIZES = [(80, 24), (120, 36)]

STATUS = StationStatus(
    receiver=ReceiverStatus(listening=True, ae_title="MW_TUI", bind="0.0.0.0", port=11112,
                            associations=1, workers=2),
    free_bytes=412_300_000_000, jobs_running=2, demo=False)
DRIVE = OpticalDrive(devpath="/devices/pci0000:00/ata1/host0/block/sr0", devname="/dev/sr0",
                     vendor="HL-DT-ST", model="DVDRAM GH24NSD1",
                     media=OpticalMedia(MediaState.BLANK, MediaType.DVD, "DVD_PLUS_R", False,
                                        4_700_372_992))
STICK = UsbStick(devpath="/devices/usb1/1-2/block/sdb", devname="/dev/sdb",
                 size=16_008_609_792, vendor="SanDisk", model="Cruzer Blade",
                 partitions=(Partition("/devices/usb1/1-2/block/sdb/sdb1", "/dev/sdb1", 1,
                                       16_007_561_216, "vfat", "FAT32", "STICK"),))

STUDIES = (
    StudyResult("1.2.3.1", "Müller^Jürgen", "MWD-1002", "19610723", "M", "20251104", "093000",
                accession="ACC1001", description="CT Thorax mit KM", modalities=("CT", "SR"),
                series=3, instances=412, archives=("pacs", "this station")),
    StudyResult("1.2.3.2", "Müller^Jürgen", "MWD-1002", "19610723", "M", "20240218", "141500",
                description="MRT Knie links", modalities=("MR",), series=4, instances=196,
                archives=("pacs",)),
    StudyResult("1.2.3.3", "Mueller^Hans", "MWD-2044", "19480101", "M", "20230612", "080000",
                description="Röntgen Thorax pa", modalities=("CR",), series=1, instances=2,
                archives=("pacs",)),
)


def row(uid: str, name: str, pid: str, date: str, desc: str, mods: tuple[str, ...], n: int,
        size: int, at: float, source: str) -> StudyRow:
    return StudyRow(uid, name, pid, "19700101", "F", date, "120000", "", desc, "1", "",
                    mods, 1, n, size, at, at, (source,))


ROWS = (
    row("1.2.3.1", "Müller^Jürgen", "MWD-1002", "20251104", "CT Thorax mit KM", ("CT", "SR"),
        412, 221_000_000, NOW - 3_600, "PACS"),
    row("1.2.9.1", "Dubois^Amélie", "MWD-1003", "20260921", "Echo cardiaque", ("US",), 38,
        95_000_000, NOW - 600, "US01"),
    row("1.2.9.2", "Yamada^Tarou=山田^太郎", "MWD-1005", "20260920", "CT Abdomen", ("CT",), 260,
        138_000_000, NOW - 90_000, "CT01"),
)


def job(id: int, state: JobState, target: str, progress: Progress = Progress(),
        volumes: tuple[VolumeRecord, ...] = (), error: str = "", name: str = "Müller^Jürgen",
        copies: int = 1) -> Job:
    return Job(id, state, Target.parse(target), "STD-GEN-DVD",
               (StudyRef("1.2.3.1", "pacs", 412),), name, "MWD-1002", copies,
               created_at=NOW - 300 * id, updated_at=NOW - 60 * id, progress=progress,
               volumes=volumes, error=error, requested_by="tech at the screen")


WRITING = job(7, JobState.WRITING, "disc:/dev/sr0",
              Progress(2_115_000_000, 4_230_000_000, "writing", 11_000_000, 192.0),
              (VolumeRecord("MW2609211410", 1, 1, size=4_230_000_000),))
WAITING = job(8, JobState.WAITING_FOR_MEDIA, "disc:/dev/sr0",
              Progress(0, 0, "Insert a blank DVD into /dev/sr0 (disc 2 of 2)"),
              (VolumeRecord("2609211410_1OF2", 1, 2, size=4_600_000_000, written=1,
                            md5="3f2a9c0d5e7b41a6b8c9d0e1f2a3b4c5"),
               VolumeRecord("2609211410_2OF2", 2, 2, size=1_200_000_000)))
DONE = job(6, JobState.DONE, "iso:/srv/mw-tui/iso", volumes=(
    VolumeRecord("MW2609211355", 1, 1, md5="9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
                 size=221_839_872, written=1, details="/srv/mw-tui/iso/MW2609211355.iso"),),
    name="Dubois^Amélie")
FAILED = job(5, JobState.FAILED, "iso:/srv/mw-tui/iso", error=(
    "retrieve from pacs failed: The archive pacs (PACS at 10.0.0.5:104) does not know this "
    "station, so it cannot send the images here. Ask the archive's administrator to add this "
    "station as a DICOM destination: AE title MW_TUI, IP address 10.0.0.20, port 11112."),
    name="Yamada^Tarou")
CT = "1.2.840.10008.5.1.4.1.1.2"
OUTSIDE_STUDY = Study(
    "2.25.77", "20260815", "101500", "CT Abdomen", "EXT-ACC-9", "1",
    (Series("2.25.77.1", "CT", "2", "Abdomen 5 mm", tuple(
        Instance(f"DICOM/I{i:07d}", 526_000, CT, f"2.25.77.1.{i}", "1.2.840.10008.1.2.1")
        for i in range(1, 121))),
     Series("2.25.77.2", "SR", "99", "Report", (Instance("DICOM/SR", 4_000, CT, "2.25.77.2.1",
                                                         "1.2.840.10008.1.2.1"),))),
    (Unreadable("DICOM/I0000999", "truncated: the pixel data end early", "2.25.77"),))
OUTSIDE_PATIENT = OutsidePatient("Dubois^Amélie", "CHU-55812", "CHU_LYON", "19720309", "F",
                                 (OUTSIDE_STUDY,))
MEDIUM = Medium("/dev/sr0", MediumKind.DISC, "CHU_LYON_0815", DicomdirState.USED,
                (OUTSIDE_PATIENT,), OUTSIDE_STUDY.unreadable)
DISC_DRIVE = dataclasses.replace(DRIVE, media=OpticalMedia(MediaState.COMPLETE, MediaType.CD,
                                                           "CD_R", False, None, 64_000_000))
PROPOSAL = Proposal(OUTSIDE_PATIENT, (
    Candidate("MWD-1003", "", "Dubois^Amélie", "19720309", "F", Match.NAME_AND_BIRTH_DATE,
              ("pacs",), 4),
    Candidate("MWD-2210", "", "Dubois^Anne", "19720309", "F", Match.FAMILY_AND_BIRTH_DATE,
              ("pacs", "mini"), 1)), ("mini: Cannot reach mini: no route to host",))
IMPORTING = Job(9, JobState.SENDING, None, "", (StudyRef("2.25.77", "", 121, False),),
                "Dubois^Amélie", "MWD-1003", created_at=NOW - 120, updated_at=NOW - 5,
                progress=Progress(31_600_000, 63_000_000, "60 of 121 instances sent",
                                  12_000_000, 3.0),
                requested_by="tech at the screen", options=JobOptions(importing=ImportRequest(
                    "/dev/sr0", ImportPlan("pacs", LocalPatient("MWD-1003"), uid_salt="0"),
                    "disc CHU_LYON_0815 in /dev/sr0", "Dubois^Amélie (CHU-55812)")))
IMPORT_EVENTS = ((NOW - 120, "queued", "import into pacs"),
                 (NOW - 118, "reading", "reading /dev/sr0"),
                 (NOW - 110, "sending", "121 instances (63.1 MB) to pacs"))
EVENTS = ((NOW - 240, "retrieving", "checking the store"),
          (NOW - 200, "building", "every study is in the store"),
          (NOW - 120, "waiting for media", "Insert a blank DVD into /dev/sr0"),
          (NOW - 90, "writing", "writing"))
FAILED_EVENTS = ((NOW - 400, "retrieving", "checking the store"),
                 (NOW - 390, "failed", FAILED.error))
DONE_EVENTS = ((NOW - 600, "building", "every study is in the store"),
               (NOW - 590, "writing", "ready to write"),
               (NOW - 580, "verifying", "reading back what was written"),
               (NOW - 570, "done", "disc 1 of 1, copy 1: verified; safe to remove"))


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def station(tmp_path: Path, utc: None) -> Iterator[Station]:
    config = make_config(tmp_path, port=11112)
    config = dataclasses.replace(
        config, path=Path("/etc/mw-tui/config.toml"),
        archives=(cfg.Archive(name="pacs", ae_title="PACS", host="10.0.0.5"),
                  cfg.Archive(name="mini", ae_title="MINIPACS", host="10.0.0.9", port=11112,
                              retrieve="get")),
        rules=(cfg.Rule(name="ct01-iso", target="iso:/srv/mw-tui/iso", calling_ae="CT01"),),
        devices=dataclasses.replace(config.devices, iso_folder="/srv/mw-tui/iso"),
        media=dataclasses.replace(config.media, institution="St. Example Hospital"))
    s = Station(config)  # never started: nothing listens, nothing is written but its files
    yield s
    s.stop()


def make_app(station: Station) -> Any:
    from mw_tui.app import MwApp

    return MwApp(station, start_services=False, clock=lambda: NOW, status_interval=0)


def fill(app: Any) -> None:
    """The app's picture of the station, as the services would report it."""
    app.ready = True
    app.status = STATUS
    app.devices = {d.devpath: d for d in (DRIVE, STICK)}
    app.store_rows = {r.study_uid: r for r in ROWS}
    app.jobs = {j.id: j for j in (WRITING, WAITING, DONE, FAILED, IMPORTING)}
    for signal in (app.status_signal, app.devices_signal, app.config_signal):
        signal.publish(None)
    app.store_signal.publish(ROWS)
    app.jobs_signal.publish(None)


Scenario = Callable[[Any], Awaitable[None]]


async def on_search(pilot: Any) -> None:
    fill(pilot.app)
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    await pilot.press(*"müller")
    status = screen.query_one(ArchiveStatus)
    status.start(["pacs", "mini", "this station"])
    status.outcome(ArchiveOutcome("pacs", SearchState.DONE, 3, 0.42))
    status.outcome(ArchiveOutcome("mini", SearchState.FAILED, message=(
        "Cannot reach mini (MINIPACS at 10.0.0.9:11112): no route to host. Check the host name "
        "or IP address in the configuration and the network cable or connection.")))
    status.outcome(ArchiveOutcome("this station", SearchState.DONE, 1, 0.01))
    table = screen.query_one(StudyTable)
    table.merge(STUDIES)
    table.focus()
    await pilot.press("down", "space")
    await pilot.pause()


async def on_review(pilot: Any) -> None:
    fill(pilot.app)
    await pilot.app.push_screen(ReviewScreen(list(STUDIES[:2])))
    await pilot.pause()


def on_burn(j: Job, events: tuple[tuple[float, str, str], ...] = EVENTS) -> Scenario:
    async def scenario(pilot: Any) -> None:
        fill(pilot.app)
        screen = BurnScreen(j.id)
        await pilot.app.push_screen(screen)
        await pilot.app.workers.wait_for_complete()  # it read the (empty) history: ours
        await pilot.pause()
        screen.events = events
        screen._show()
        await pilot.pause()

    return scenario


async def on_import(pilot: Any) -> None:
    fill(pilot.app)
    pilot.app.devices = {d.devpath: d for d in (DISC_DRIVE, STICK)}
    await pilot.press("f9")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ImportScreen)
    inserted = InsertedMedium(DISC_DRIVE.devpath, "/dev/sr0", "disc in /dev/sr0", MEDIUM)
    pilot.app.post_message(msg.MediumChanged(inserted))
    await pilot.pause()
    screen.post_message(msg.PatientsProposed("/dev/sr0", (PROPOSAL,)))
    await pilot.pause()


async def on_received(pilot: Any) -> None:
    fill(pilot.app)
    await pilot.press("f3")
    await pilot.pause()


async def on_jobs(pilot: Any) -> None:
    fill(pilot.app)
    await pilot.press("f4")
    await pilot.pause()


async def on_settings(pilot: Any) -> None:
    fill(pilot.app)
    await pilot.app.push_screen(SettingsScreen())
    await pilot.pause()


async def on_pin(pilot: Any) -> None:
    fill(pilot.app)
    await pilot.app.push_screen(PinScreen())
    await pilot.press(*"12")
    await pilot.pause()


SCREENS: dict[str, Scenario] = {
    "search": on_search,
    "review": on_review,
    "burn-writing": on_burn(WRITING),
    "burn-waiting": on_burn(WAITING),
    "burn-done": on_burn(DONE, DONE_EVENTS),
    "burn-failed": on_burn(FAILED, FAILED_EVENTS),
    "burn-import": on_burn(IMPORTING, IMPORT_EVENTS),
    "import": on_import,
    "received": on_received,
    "jobs": on_jobs,
    "settings": on_settings,
    "pin": on_pin,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(name: str, size: tuple[int, int], station: Station, snap_compare: Any) -> None:
    assert snap_compare(make_app(station), terminal_size=size, run_before=SCREENS[name])
