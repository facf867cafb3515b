"""Studies pushed to the station appear by themselves, wherever the technician is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.app import MwApp
from mw_tui.demo import synth
from mw_tui.station import Station
from mw_tui.ui.screens.received import ReceivedScreen, ReceivedTable
from mw_tui.ui.screens.search import SearchScreen
from tests.conftest import make_config
from tests.peers import dcmtk
from tests.ui.conftest import quick_retries, started, wait_for, wait_for_text


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = Station(quick_retries(make_config(tmp_path)))
    try:
        yield s
    finally:
        s.stop()


def make_study(folder: Path, count: int = 5, rows: int = 32) -> synth.StudyInfo:
    study = synth.StudyInfo(patient=synth.PatientInfo("Received^Rita", "RR-77", "19800202",
                                                      "F"), description="Knee left")
    series = None
    for i in range(1, count + 1):
        ds = synth.image(study, "MR", series, 1, i, rows=rows, columns=rows)
        series = ds.SeriesInstanceUID
        synth.save(ds, folder / f"MR{i}.dcm")
    return study


def test_pushed_study_appears_while_on_another_screen(station: Station, tmp_path: Path) -> None:
    study = make_study(tmp_path / "push")

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await started(pilot)
            await pilot.press("f3")  # the Received view exists, then the user goes on
            await wait_for_text(pilot, "studies sent to this station appear here")
            await pilot.press("f2")
            assert isinstance(app.screen, SearchScreen)
            await pilot.press(*"someone")
            port = str(station.receiver.port)
            push = asyncio.to_thread(dcmtk, "storescu", "-aet", "CT01", "-aec", "MW_TUI",
                                     "127.0.0.1", port, "+sd", str(tmp_path / "push"))
            await push
            # on the search screen: a notice, and the typing was not disturbed
            text = await wait_for_text(pilot, "Study received")
            assert "Received Rita" in text and "CT01" in text
            assert isinstance(app.screen, SearchScreen)
            assert app.screen.query_one("#name").value == "someone"
            # the Received view was updated while hidden
            received = app.get_screen_stack("received")[0]
            assert isinstance(received, ReceivedScreen)
            table = received.query_one(ReceivedTable)
            await wait_for(pilot, lambda: study.study_uid in table.row_keys, 10,
                           "the row in the hidden Received view")
            await pilot.press("f3")
            text = await wait_for_text(pilot, "Received, Rita")
            assert "CT01" in text and "Knee left" in text, text
            cells = {key: table.get_cell(study.study_uid, key).plain.strip()
                     for key in ("patient", "modalities", "instances")}
            assert cells == {"patient": "Received, Rita", "modalities": "MR", "instances": "5"}

    asyncio.run(scenario())
