"""Drives and sticks appear in the target list by themselves (real udev events on loop
devices that the test rules make look like a USB stick and a DVD drive)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.app import MwApp
from mw_tui.station import Station
from mw_tui.ui.screens.received import ReceivedTable
from mw_tui.ui.screens.review import ReviewScreen
from mw_tui.ui.widgets.target_list import TargetList
from tests.conftest import make_config
from tests.devices.conftest import Loops
from tests.peers import dcmtk
from tests.ui.conftest import quick_retries, started, wait_for, wait_for_text
from tests.ui.test_received import make_study

pytestmark = pytest.mark.root


@pytest.fixture
def station(tmp_path: Path, udev: None) -> Iterator[Station]:
    s = Station(quick_retries(make_config(tmp_path)))
    try:
        yield s
    finally:
        s.stop()


def test_plugged_devices_join_the_targets_and_a_small_disc_is_called_too_small(
        station: Station, loops: Loops, tmp_path: Path) -> None:
    make_study(tmp_path / "push", count=40, rows=256)  # 40 x 128 KB

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await asyncio.to_thread(dcmtk, "storescu", "-aec", "MW_TUI", "127.0.0.1",
                                    str(station.receiver.port), "+sd", str(tmp_path / "push"))
            await pilot.press("f3")
            await wait_for(pilot, lambda: app.store_rows, 20, "the pushed study")
            await wait_for(pilot, lambda: app.screen.query_one(ReceivedTable).row_keys, 5)
            await pilot.press("f8")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
            targets = app.screen.query_one(TargetList)
            before = {str(c.target) for c in targets.choices}

            # a stick is plugged in: it appears; pulled out: it goes
            stick = loops.attach(loops.stick_image(64 << 20, label="PLUGGED"))
            loops.partition(stick)
            await wait_for(pilot, lambda: f"usb:{stick}" in {str(c.target) for c in
                                                           targets.choices}, 20, "the stick")
            await wait_for_text(pilot, "MWTUI Test Stick")
            loops.detach(stick)
            await wait_for(pilot, lambda: f"usb:{stick}" not in {str(c.target) for c in
                                                               targets.choices}, 20,
                           "the stick to go")

            # a drive with a blank disc smaller than the job: it says so
            size = app.store_rows[next(iter(app.store_rows))].size_bytes
            drive = loops.attach(loops.file("drive", max(1 << 20, size // 3)))
            await wait_for(pilot, lambda: f"disc:{drive}" in {str(c.target) for c in
                                                            targets.choices}, 20, "the drive")
            chosen = next(i for i, c in enumerate(targets.choices) if str(c.target) ==
                          f"disc:{drive}")
            targets.focus()
            await pilot.press("home", *(["down"] * chosen))
            text = await wait_for_text(pilot, "too small")
            assert "needs" in " ".join(text.split())
            assert app.screen.plan.media >= 2
            loops.detach(drive)
            await wait_for(pilot, lambda: {str(c.target) for c in targets.choices} == before,
                           20,
                           "the list as it was")

    asyncio.run(scenario())
