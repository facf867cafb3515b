"""A station started while another process runs the jobs takes them once that process
lets them go (a burn or `mw-tui jobs run` ends): `mw-tui serve` and the kiosk do not stay
without a runner."""

from __future__ import annotations

import threading
from pathlib import Path

from mw_tui.jobs.runner import runs_elsewhere
from mw_tui.station import Station
from mw_tui.station.models import JobState, Target
from tests.jobs.conftest import Archive, station_config
from tests.peers import wait_until
from tests.station.holder import holding_jobs_lock


def test_a_station_takes_the_jobs_once_the_other_process_lets_them_go(
        tmp_path: Path, archive: Archive) -> None:
    config = station_config(tmp_path, archive)
    out = tmp_path / "out"
    out.mkdir()
    station = Station(config, watch_devices=False)  # as `mw-tui serve`: receive, run jobs
    told: list[object] = []
    station.on_jobs_taken(told.append)
    try:
        with holding_jobs_lock(config):
            station.start()
            assert told == []
            assert station.runner_busy and not station.runs_jobs_here
            located = station.locate([next(iter(archive.studies))])
            assert not located.problems
            job = station.create_job(located.refs, Target.parse(f"iso:{out}"))
            assert station.job(job.id).state is JobState.QUEUED  # nobody runs it yet
        # the other process exited: this station runs the jobs now, the queued one too
        wait_until(lambda: station.runs_jobs_here, 20, "the station to take the jobs")
        assert station.runner_busy == "" and told == [None]  # the screens are told
        assert runs_elsewhere(config)  # for the other commands, it holds the lock now
        done = wait_until(lambda: station.job(job.id).state.finished and station.job(job.id),
                          120, "the queued job to finish")
        assert done.state is JobState.DONE, done.error
        assert len(list(out.glob("*.iso"))) == 1
    finally:
        station.stop()
    assert not runs_elsewhere(config)


def test_stopping_a_station_that_waits_for_the_jobs_stops_its_retries(tmp_path: Path) -> None:
    config = station_config(tmp_path)
    station = Station(config, receive=False, watch_devices=False)
    with holding_jobs_lock(config):
        station.start()
        assert station.runner_busy
        station.stop()
        assert not any(t.name == "jobs-lock-retry" and t.is_alive()
                       for t in threading.enumerate())
    assert not station.take_jobs()  # stopped: it does not take them any more
    assert not runs_elsewhere(config) and not station.runs_jobs_here
