"""The whole flow at 80x24 against the demo archive, as `mw-tui --demo` runs it: search,
mark a study, review, write it to an ISO file, see it verified."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from mw_tui.app import MwApp
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from mw_tui.ui.screens.burn import BurnScreen
from mw_tui.ui.screens.review import ReviewScreen
from mw_tui.ui.widgets.study_table import StudyTable
from tests.ui.conftest import started, wait_for, wait_for_text
from tests.ui.screen import screen_text


def test_search_select_burn_to_iso_verified(demo_station: Station, demo_env: Path) -> None:
    async def scenario() -> None:
        app = MwApp(demo_station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert app.problem == ""
            await pilot.press(*"dubois", "enter")
            await wait_for_text(pilot, "Dubois, Amélie")
            text = await wait_for_text(pilot, "demo: ")
            assert "found in" in text
            table = app.screen.query_one(StudyTable)
            assert table.has_focus  # the results take the keys once they arrive
            chosen = table.ordered()[0]
            await pilot.press("space")
            assert table.marked == [chosen.study_uid]
            await pilot.press("f8")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
            text = await wait_for_text(pilot, "ISO file in")
            assert "Write 1 study of Dubois, Amélie" in text
            assert "1 × ISO" in text and app.screen.plan.media == 1
            # the series, asked of the archive (the study is not in the station yet)
            await pilot.press("s")
            study_node = app.screen.query_one("#studies").root.children[0]
            series = await wait_for(pilot, lambda: [n for n in study_node.children
                                                    if "#" in str(n.label)], 20, "series")
            assert len(series) >= 2 and "image" in str(series[0].label)
            await pilot.press("t", "f8")
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
            burn = app.screen
            assert isinstance(burn, BurnScreen)
            job = await wait_for(pilot, lambda: (j := app.jobs.get(burn.job_id)) and
                                 j.state.finished and j, 120, "the job to end")
            assert job.state is JobState.DONE, job.error
            text = await wait_for_text(pilot, "Written and verified.")
            assert "DONE" in text and "verified 1/1" in text
            # what the screen says is true: the ISO file is there, with that md5
            (volume,) = job.volumes
            iso = Path(volume.details)
            assert iso.parent == demo_env / "data" / "mw-tui" / "demo" / "iso"
            assert hashlib.md5(iso.read_bytes()).hexdigest() == volume.md5
            assert volume.md5[:12] in screen_text(app)
            # and the Jobs view lists it
            await pilot.press("f4")
            await wait_for_text(pilot, "done")
            assert "Dubois, Amélie" in screen_text(app)

    asyncio.run(scenario())


def test_search_select_burn_against_orthanc(tmp_path: Path) -> None:
    """The same flow against a real Orthanc, which sends the study with C-MOVE."""
    from mw_tui import config as cfg
    from mw_tui.demo import synth
    from tests.conftest import make_config
    from tests.peers import orthanc
    from tests.ui.conftest import choose_target, with_archives

    config = make_config(tmp_path)
    station_ae = config.station.ae_title
    study = synth.StudyInfo(patient=synth.PatientInfo("Orthanc^Olga", "OO-1", "19750505", "F"),
                            description="Chest PA")
    with orthanc(tmp_path / "orthanc",
                 modalities={"mwtui": (station_ae, "127.0.0.1", config.station.port)}) as o:
        series = None
        for i in range(1, 4):
            ds = synth.image(study, "CR", series, 1, i, rows=32, columns=32)
            series = ds.SeriesInstanceUID
            o.upload(synth.save(ds, tmp_path / "src" / f"{i}.dcm"))
        archive = cfg.Archive(name="orthanc", ae_title=o.aet, host="127.0.0.1",
                              port=o.dicom_port)
        station = Station(with_archives(config, archive, iso=tmp_path / "iso"))

        async def scenario() -> None:
            app = MwApp(station)
            async with app.run_test(size=(80, 24)) as pilot:
                await started(pilot)
                await pilot.press(*"orthanc", "enter")
                await wait_for_text(pilot, "Orthanc, Olga")
                await pilot.press("space", "f8")
                await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5)
                await choose_target(pilot, "iso")
                await pilot.press("f8")
                await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10)
                job_id = app.screen.job_id
                job = await wait_for(pilot, lambda: (j := app.jobs.get(job_id)) and
                                     j.state.finished and j, 120, "the job to end")
                assert job.state is JobState.DONE, job.error
                await wait_for_text(pilot, "Written and verified.")
                iso = Path(job.volumes[0].details)
                assert iso.parent == tmp_path / "iso"
                assert hashlib.md5(iso.read_bytes()).hexdigest() == job.volumes[0].md5
                row = station.store.index.study(study.study_uid)
                assert row is not None and row.instances == 3  # retrieved from Orthanc

        try:
            asyncio.run(scenario())
        finally:
            station.stop()


def test_review_counts_each_studys_reports_and_can_leave_them_out(
        demo_station: Station, demo_env: Path) -> None:
    async def scenario() -> None:
        app = MwApp(demo_station)
        async with app.run_test(size=(120, 36)) as pilot:
            await started(pilot)
            await pilot.press(*"dubois", "enter")
            await wait_for_text(pilot, "Dubois, Amélie")
            await wait_for_text(pilot, "demo: ")
            await pilot.press("space", "f8")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), 5, "review")
            # the study's PDF report, counted on the demo archive
            text = await wait_for_text(pilot, "1 report")
            assert "Reports: included (r)" in text
            await pilot.press("r")  # the targets have the focus: every study
            text = await wait_for_text(pilot, "reports left out")
            assert "Reports: left out (r)" in text
            await pilot.press("f8")
            await wait_for(pilot, lambda: isinstance(app.screen, BurnScreen), 10, "the job")
            job = app.jobs[app.screen.job_id]
            assert [s.include_reports for s in job.studies] == [False]
            job = await wait_for(pilot, lambda: (j := app.jobs.get(job.id)) and
                                 j.state.finished and j, 120, "the job to end")
            assert job.state is JobState.DONE, job.error
            # the medium holds the study's images, not its PDF report
            import pycdlib

            iso = pycdlib.PyCdlib()
            iso.open(job.volumes[0].details)
            names = [f for _, _, files in iso.walk(iso_path="/DICOM") for f in files]
            iso.close()
            rows = app.station.store.index.study_instances(job.studies[0].study_uid)
            assert len(names) == len([r for r in rows if "104.1" not in r.sop_class])

    asyncio.run(scenario())
