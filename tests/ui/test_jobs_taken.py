"""The kiosk started while a burn command ran the jobs: once that command ends, the kiosk
runs them, and says so (the banner that another mw-tui runs the jobs goes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mw_tui.app import MwApp
from mw_tui.station import Station
from tests.conftest import make_config
from tests.station.holder import holding_jobs_lock
from tests.ui.conftest import started, wait_for


def test_the_kiosk_says_when_it_takes_the_jobs_over(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    station = Station(config, watch_devices=False)

    async def scenario() -> None:
        app = MwApp(station, status_interval=0.3)
        async with app.run_test(size=(80, 24)) as pilot:
            with holding_jobs_lock(config):
                await started(pilot)
                assert app.elsewhere and app.problem == station.runner_busy != ""
            await wait_for(pilot, lambda: not app.elsewhere, 20, "the jobs taken over")
            assert app.problem == "" and station.runs_jobs_here
            assert any("runs the jobs now" in str(n.message)
                       for n in app._notifications)

    try:
        asyncio.run(scenario())
    finally:
        station.stop()
