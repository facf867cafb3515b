"""The review screen's copy (`d`): the studies as stored or anonymous copies, the label
that follows it, and the question asked before identified data leaves the hospital."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from mw_tui import config as cfg
from mw_tui.app import MwApp
from mw_tui.station import Station
from mw_tui.station.local import as_result
from mw_tui.store import Store
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.review import ReviewScreen
from tests.conftest import make_config
from tests.deid import phi
from tests.ui.conftest import choose_target, quick_retries, started, wait_for, wait_for_text


def test_a_copy_for_teaching_and_the_question_before_data_leaves(tmp_path: Path) -> None:
    base = quick_retries(make_config(tmp_path))
    config = dataclasses.replace(base, targets=(cfg.CloudTarget(
        name="research", url="https://research.example.org/dicom-web"),))
    store = Store(config.storage)
    corpus = phi.build(store)
    row = store.index.study(corpus.b)
    store.close()
    assert row is not None
    station = Station(config, watch_devices=False, run_jobs=False)

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(120, 36)) as pilot:
            await started(pilot)
            app.go(Route.REVIEW, studies=[as_result(row)])
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5)
            text = await wait_for_text(pilot, "Patient copy (d)")
            assert "Bernardine, Odette" in text
            await pilot.press("d")
            text = await wait_for_text(pilot, "Anonymous: basic (d)")
            assert "Anonymous copy" in text and "Bernardine" not in text.split("Label")[1]
            await pilot.press("d")
            await wait_for_text(pilot, "Patient copy (d)")
            await choose_target(pilot, "cloud")
            text = await wait_for_text(pilot, "outside the hospital")
            await pilot.press("f8")  # identified data to an external target: asked first
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the ask")
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5)
            assert station.job_list() == []
            await pilot.press("f8", "y")
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
            (job,) = station.job_list()
            assert job.options.identified_confirmed_by and job.options.copy == "patient"

    try:
        asyncio.run(scenario())
    finally:
        station.stop()
