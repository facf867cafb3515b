"""The app's frame: keys and clicks, a terminal too small, the idle reset, the status bar."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.app import MwApp
from mw_tui.station import Station
from mw_tui.ui.screens.jobs import JobsScreen
from mw_tui.ui.screens.received import ReceivedScreen
from mw_tui.ui.screens.search import SearchScreen
from mw_tui.ui.screens.small import TooSmallScreen
from mw_tui.ui.widgets.key_bar import KeyBar
from mw_tui.ui.widgets.status_bar import StatusBar
from tests.conftest import make_config
from tests.ui.conftest import quick_retries, started, wait_for, wait_for_text


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = Station(quick_retries(make_config(tmp_path)))
    try:
        yield s
    finally:
        s.stop()


def test_every_view_by_key_and_by_mouse_with_the_receiver_in_the_status_bar(
        station: Station) -> None:
    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            port = station.config.station.port
            text = await wait_for_text(pilot, f"MW_TUI:{port}")
            assert "0 assoc" in text and "free" in text and "0 jobs" in text
            assert app.screen.query_one(StatusBar).status.receiver.listening
            await pilot.press("f4")
            assert isinstance(app.screen, JobsScreen)
            await wait_for_text(pilot, "No job yet")
            # a click on "f3 Received" in the key bar does what the key does
            bar = app.screen.query_one(KeyBar)
            spot = next(s for s in bar._spots if s.key == "f3")
            await pilot.click(KeyBar, offset=(spot.start + 1, spot.line))
            await wait_for(pilot, lambda: isinstance(app.screen, ReceivedScreen), 5,
                           "the Received view")
            await pilot.press("f2")
            assert isinstance(app.screen, SearchScreen)

    asyncio.run(scenario())


def test_a_terminal_too_small_says_so_until_it_is_big_enough(station: Station) -> None:
    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(70, 20)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen), 5,
                           "the too-small message")
            text = await wait_for_text(pilot, "70x20")
            assert "the station needs at" in text and "80x24" in text
            await pilot.press("f4")  # the views stay out of reach meanwhile
            assert isinstance(app.screen, TooSmallScreen)
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), 5,
                           "the search screen")

    asyncio.run(scenario())


def test_after_the_idle_time_the_screens_forget_the_patient(tmp_path: Path) -> None:
    """Real key presses, the app's own timer: the search typed stays while keys come, and
    the screens go back to an empty search once none came for `ui.idle_minutes`."""
    idle = 0.03  # minutes: 1.8 s
    config = quick_retries(make_config(tmp_path))
    station = Station(dataclasses.replace(config, ui=cfg.UiConfig(idle_minutes=idle)))

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await pilot.press(*"müller")
            assert isinstance(app.screen, SearchScreen)
            assert app.screen.query_one("#name").value == "müller"  # the search is held
            last_key = time.monotonic()  # at most when the app saw the key: taken before
            await pilot.press("f4")
            assert isinstance(app.screen, JobsScreen)
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), 15,
                           "the idle reset to the search screen")
            assert time.monotonic() - last_key >= idle * 60  # not before its time
            assert app.screen.query_one("#name").value == ""

    try:
        asyncio.run(scenario())
    finally:
        station.stop()


def test_a_search_typed_while_the_station_starts_runs_once_it_is_ready(
        demo_station: Station, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first search of a fresh `mw-tui --demo` is kept, never refused: the technician
    presses Enter once (the demo archive joins the sources as the station starts)."""
    import threading

    release = threading.Event()
    start = demo_station.start

    def slow_start() -> None:
        assert release.wait(30), "the test never let the station start"
        start()

    monkeypatch.setattr(demo_station, "start", slow_start)

    async def scenario() -> None:
        app = MwApp(demo_station)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"dubois", "enter")
            text = await wait_for_text(pilot, "The station is starting")
            assert "runs as soon as it is ready" in " ".join(text.split())
            assert not app.ready
            release.set()
            await wait_for_text(pilot, "Dubois, Amélie", 60)  # no second Enter
            assert "demo:" in " ".join((await wait_for_text(pilot, "found in")).split())

    asyncio.run(scenario())
