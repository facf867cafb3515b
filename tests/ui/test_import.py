"""The Import screen (F9) at 80x24: an outside ISO typed in, the local patient proposed
from a real Orthanc, F8 imports it and the job is shown to its end; a disc inserted in a
loop-backed drive (real udev events) makes the status bar say so and the screen list it."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.app import MwApp
from mw_tui.demo import synth
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.importing import ImportScreen
from mw_tui.ui.widgets.status_bar import StatusBar
from tests.devices.conftest import Loops
from tests.importing.conftest import OUTSIDE, config_for, ct_files, outside_ct, write_disc
from tests.peers import Orthanc
from tests.ui.conftest import quick_retries, started, wait_for, wait_for_text
from tests.ui.screen import screen_text


@pytest.fixture
def pacs_with_local_doe(tmp_path: Path) -> Iterator[Orthanc]:
    """Orthanc knowing the outside patient under this hospital's ID, LOC-77."""
    o = Orthanc(tmp_path / "orthanc").start()
    try:
        local = dataclasses.replace(OUTSIDE, patient_id="LOC-77")
        ds = synth.image(synth.StudyInfo(patient=local, description="Earlier CT"), "CT",
                         None, 1, 1, 16, 16)
        o.upload(synth.save(ds, tmp_path / "earlier.dcm"))
        yield o
    finally:
        o.stop()


def local_ids(o: Orthanc) -> dict[str, int]:
    """PatientID -> instances Orthanc holds under it."""
    out: dict[str, int] = {}
    for iid in o.get("/instances"):
        pid = o.get(f"/instances/{iid}/simplified-tags")["PatientID"]
        out[pid] = out.get(pid, 0) + 1
    return out


def test_an_iso_typed_in_is_imported_as_the_proposed_local_patient(
        tmp_path: Path, pacs_with_local_doe: Orthanc) -> None:
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(6)))
    station = Station(quick_retries(config_for(tmp_path, pacs_with_local_doe)),
                      watch_devices=False)

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "f9  Import" in screen_text(app)  # in the keys of every screen
            await pilot.press("f9")
            await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen), 5, "Import")
            await pilot.click("#import-source")
            await pilot.press(*str(disc.iso), "enter")
            text = await wait_for_text(pilot, "Doe, John")
            assert "EXT-4711" in text and "6 images" in " ".join(text.split())
            text = await wait_for_text(pilot, "1 local patient found")
            assert "LOC-77" in text and "name and birth date" in text
            await pilot.press("f8")
            question = await wait_for(pilot, lambda: getattr(app.screen, "question", ""), 10,
                                      "the question")
            assert question == ("Import 1 study (6 images) of Doe, John (EXT-4711) as local "
                                "patient LOC-77 (Doe, John) into pacs?")
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
            burn = app.screen
            assert isinstance(burn, BurnScreen)
            job = await wait_for(pilot, lambda: (j := app.jobs.get(burn.job_id)) and
                                 j.state.finished and j, 120, "the import to end")
            assert job.state is JobState.DONE, job.error
            text = await wait_for_text(pilot, "Imported:")
            assert "import into pacs" in text and "holds all 6" in " ".join(text.split())
            await pilot.press("f4")
            text = await wait_for_text(pilot, "→ pacs")
            assert "done" in text

    try:
        asyncio.run(scenario())
    finally:
        station.stop()
    assert local_ids(pacs_with_local_doe) == {"LOC-77": 7}


@pytest.mark.root
def test_a_disc_inserted_is_said_on_the_status_bar_and_listed_for_import(
        tmp_path: Path, udev: None, loops: Loops) -> None:
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(5)), label="FROM_AWAY")
    image = loops.folder / f"mwtui-test-drive-{uuid.uuid4().hex[:8]}.img"
    shutil.copyfile(disc.iso, image)
    config = dataclasses.replace(quick_retries(config_for(tmp_path)),
                                 importing=cfg.ImportingConfig(detect=True))
    station = Station(config)

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            bar = app.screen.query_one(StatusBar)
            assert "DICOM" not in str(bar.line(narrow=True))
            drive = loops.attach(image, read_only=True)  # the disc goes in
            await wait_for(pilot, lambda: "DICOM disc" in str(bar.line(narrow=True)), 30,
                           "the status bar to say so")
            assert "DICOM disc" in screen_text(app).splitlines()[0]
            (inserted,) = app.inserted.values()
            assert inserted.source == drive and inserted.medium is not None
            await pilot.press("f9")
            await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen), 5, "Import")
            text = await wait_for_text(pilot, "Doe, John")
            assert "FROM_AWAY" in text and "5 images" in " ".join(text.split())
            assert app.screen.query_one("#import-source").value == drive
            loops.detach(drive)  # taken out again
            await wait_for(pilot, lambda: not app.inserted, 30, "the disc to go")
            assert "DICOM" not in str(app.screen.query_one(StatusBar).line(narrow=True))
            text = await wait_for_text(pilot, "was taken out")
            assert "Doe, John" not in text  # nothing of the patient stays on screen

    try:
        asyncio.run(scenario())
    finally:
        station.stop()
