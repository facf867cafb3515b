"""Errors a technician meets are shown where they happen, with their whole message."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.app import MwApp
from mw_tui.demo.archive import DemoArchive
from mw_tui.demo.samples import Profile
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.review import ReviewScreen
from tests.conftest import make_config
from tests.peers import free_port
from tests.ui.conftest import choose_target, started, wait_for, wait_for_text, with_archives


def run(station: Station, scenario):  # type: ignore[no-untyped-def]
    async def main() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await started(pilot)
            await scenario(app, pilot)

    try:
        asyncio.run(main())
    finally:
        station.stop()


def test_archive_down_shows_why_and_this_station_still_answers(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    down = cfg.Archive(name="pacs", ae_title="PACS", host="127.0.0.1", port=port)
    station = Station(with_archives(make_config(tmp_path), down))

    async def scenario(app: MwApp, pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(*"smith", "enter")
        text = await wait_for_text(pilot, "refused the connection")
        flat = " ".join(text.split())
        assert f"pacs (PACS at 127.0.0.1:{port}) refused the connection" in flat
        assert f"nothing listens on port {port} there" in flat
        assert "this station: 0 found" in text

    run(station, scenario)


def test_invalid_search_key_says_what_to_write(tmp_path: Path) -> None:
    station = Station(with_archives(make_config(tmp_path)))

    async def scenario(app: MwApp, pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("tab", "tab", *"1961", "enter")  # name, ID, birth date
        text = await wait_for_text(pilot, "birth date '1961'")
        assert "YYYYMMDD" in text

    run(station, scenario)


@pytest.fixture
def archive_not_knowing_us(tiny_samples: Path) -> Iterator[DemoArchive]:
    """A real Query/Retrieve SCP that answers C-MOVE to this station with 0xA801."""
    archive = DemoArchive(tiny_samples, samples_profile=Profile.TINY)
    archive.start()
    try:
        yield archive
    finally:
        archive.stop()


def test_move_destination_unknown_shows_the_registration_instructions(
        tmp_path: Path, archive_not_knowing_us: DemoArchive) -> None:
    a = archive_not_knowing_us
    pacs = cfg.Archive(name="pacs", ae_title=a.ae_title, host=a.host, port=a.port)
    station = Station(with_archives(make_config(tmp_path), pacs, iso=tmp_path / "iso"))

    async def scenario(app: MwApp, pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(*"smith", "enter")
        await wait_for_text(pilot, "Smith, John")
        await pilot.press("space", "f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
        await choose_target(pilot, "iso")
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
        job_id = app.screen.job_id
        job = await wait_for(pilot, lambda: (j := app.jobs.get(job_id)) and j.state.finished
                             and j, 60, "the job to fail")
        assert job.state is JobState.FAILED
        text = await wait_for_text(pilot, "FAILED")
        flat = " ".join(text.split())
        assert "does not know this station" in flat
        assert f"AE title {station.config.station.ae_title}" in flat
        assert f"port {station.config.station.port}" in flat

    run(station, scenario)
