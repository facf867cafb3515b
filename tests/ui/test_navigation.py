"""The screens move by name (`ui.navigation.Route`): received -> review -> writing -> jobs
-> writing -> a new search, and no screen imports another screen or the app."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
from pathlib import Path

from mw_tui.app import MwApp
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from mw_tui.station.local import as_result
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.jobs import JobsScreen
from mw_tui.ui.screens.received import ReceivedTable
from mw_tui.ui.screens.review import ReviewScreen
from mw_tui.ui.screens.search import SearchScreen
from tests.conftest import make_config
from tests.peers import dcmtk
from tests.ui.conftest import quick_retries, started, wait_for, wait_for_text
from tests.ui.test_received import make_study

SCREENS = Path(__file__).resolve().parents[2] / "mw_tui" / "ui" / "screens"


def test_no_screen_imports_another_screen_or_the_app() -> None:
    found = []
    for path in SCREENS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "mw_tui.app" or (node.module.startswith("mw_tui.ui.screens.")
                                                    and node.module != "mw_tui.ui.screens.base")):
                found.append(f"{path.name}: {node.module}")
    assert not found


def test_the_routes_take_a_study_to_a_medium_and_back_to_an_empty_search(
        tmp_path: Path) -> None:
    base = quick_retries(make_config(tmp_path))
    config = dataclasses.replace(base, devices=dataclasses.replace(
        base.devices, iso_folder=str(tmp_path / "iso")))
    (tmp_path / "iso").mkdir()
    make_study(tmp_path / "push", count=3)
    station = Station(config, watch_devices=False)

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await asyncio.to_thread(dcmtk, "storescu", "-aec", "MW_TUI", "127.0.0.1",
                                    str(station.receiver.port), "+sd", str(tmp_path / "push"))
            await pilot.press("f3")
            await wait_for(pilot, lambda: app.screen.query_one(ReceivedTable).row_keys, 20,
                           "the pushed study")
            await pilot.press("f8")  # received -> "review"
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
            await wait_for_text(pilot, "ISO file in")
            await pilot.press("f8")  # review -> "writing", in its place
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "writing")
            burn = app.screen
            assert isinstance(burn, BurnScreen)
            assert not any(isinstance(s, ReviewScreen) for s in app.screen_stack)
            job = await wait_for(pilot, lambda: (j := app.jobs.get(burn.job_id)) and
                                 j.state.finished and j, 60, "the job to end")
            assert job.state is JobState.DONE, job.error
            await pilot.press("f4")  # the "jobs" mode
            await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), 5, "jobs")
            await wait_for_text(pilot, "done")
            await pilot.press("enter")  # jobs -> "writing" for the job under the cursor
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen)
                           and app.screen.job_id == job.id, 5, "the job again")
            await pilot.press("n")  # "new-search": every other screen closed
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), 5, "search")
            assert len(app.screen_stack) == 1
            assert app.screen.query_one("#name").value == ""
            # a route by name, from anywhere
            app.go(Route.REVIEW, studies=[as_result(r) for r in app.store_rows.values()])
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5)
            await wait_for_text(pilot, "Write 1 study of Received, Rita")

    try:
        asyncio.run(scenario())
    finally:
        station.stop()
