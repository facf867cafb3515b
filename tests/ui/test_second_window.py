"""A second app on the same station (`mw-tui web` while the kiosk runs): it says the
kiosk receives, and the jobs it queues are run by the kiosk, with their progress shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mw_tui.app import MwApp
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.review import ReviewScreen
from tests.conftest import make_config
from tests.peers import dcmtk
from tests.ui.conftest import choose_target, started, wait_for, wait_for_text, with_archives
from tests.ui.test_received import make_study


def test_second_window_queues_jobs_that_the_kiosk_runs(tmp_path: Path) -> None:
    config = with_archives(make_config(tmp_path), iso=tmp_path / "iso")
    kiosk = Station(config)
    kiosk.start()
    study = make_study(tmp_path / "push")
    dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(config.station.port), "+sd",
          str(tmp_path / "push"))
    second = Station(config)

    async def scenario() -> None:
        app = MwApp(second, status_interval=0.3)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert app.elsewhere and "Another mw-tui on this machine receives" in app.problem
            await pilot.press("f3")
            await wait_for_text(pilot, "Received, Rita")
            await pilot.press("f8")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
            await choose_target(pilot, "iso")
            await pilot.press("f8")
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
            job_id = app.screen.job_id
            job = await wait_for(pilot, lambda: (j := app.jobs.get(job_id)) and
                                 j.state.finished and j, 60, "the kiosk to run the job")
            assert job.state is JobState.DONE, job.error
            await wait_for_text(pilot, "Written and verified.")
            assert Path(job.volumes[0].details).parent == tmp_path / "iso"
            assert kiosk.jobs.get(job_id).state is JobState.DONE
            assert study.study_uid in app.store_rows

    try:
        asyncio.run(scenario())
    finally:
        second.stop()
        kiosk.stop()
