"""`mw-tui burn` and `mw-tui jobs` end to end, as a technician or a script runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config
from tests.jobs.conftest import Archive, station_config
from tests.peers import wait_until
from tests.station.holder import holding_jobs_lock


def cli(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_burn_retrieves_what_the_store_lacks_and_exits_0_when_verified(
        tmp_path: Path, archive: Archive) -> None:
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    out = tmp_path / "out"
    out.mkdir()
    uids = list(archive.studies)
    proc = cli(config, "burn", "--study", *uids, "--to", f"iso:{out / 'knee.iso'}",
               "--profile", "STD-GEN-CD", "--label", "Knee")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "job 1 done: every medium verified" in proc.stdout
    assert (out / "knee.iso").exists()
    assert "md5" in proc.stdout
    jobs = json.loads(cli(config, "jobs", "--json").stdout)
    assert jobs[0]["state"] == "done"
    assert sorted(jobs[0]["studies"]) == sorted(uids)
    assert jobs[0]["volumes"][0]["written"] == 1
    # a second burn of the same studies needs no archive at all: they are in the store
    archive.orthanc.kill()
    again = cli(config, "burn", "--study", *uids, "--to", f"iso:{out}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list(out.glob("*.iso"))) == 2
    shown = cli(config, "jobs", "show", "2")
    assert "retrieving" in shown.stdout and "done" in shown.stdout


def test_burn_explains_what_is_wrong(tmp_path: Path) -> None:
    config = write_config(station_config(tmp_path), tmp_path / "config.toml")
    bad_target = cli(config, "burn", "--study", "1.2.3", "--to", "floppy:a")
    assert bad_target.returncode == 2 and "use iso:PATH" in bad_target.stderr
    bad_uid = cli(config, "burn", "--study", "1.2.x", "--to", f"iso:{tmp_path}")
    assert bad_uid.returncode == 2 and "not a valid Study Instance UID" in bad_uid.stderr
    bad_profile = cli(config, "burn", "--study", "1.2.3", "--to", "disc", "--profile", "X")
    assert bad_profile.returncode == 2 and "unknown media profile" in bad_profile.stderr
    nowhere = cli(config, "burn", "--study", "1.2.3", "--to", f"iso:{tmp_path}")
    assert nowhere.returncode == 1
    assert "not in the store and no archive is configured" in nowhere.stderr


def test_jobs_cancel(tmp_path: Path, archive: Archive) -> None:
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    uid = next(iter(archive.studies))
    queued = cli(config, "burn", "--study", uid, "--to", "disc:/dev/nonexistent", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    cancel = cli(config, "jobs", "cancel", "1")
    assert cancel.returncode == 0 and "cancel" in cancel.stdout
    listing = cli(config, "jobs")
    assert "cancelled" in listing.stdout.splitlines()[1]
    assert cli(config, "jobs", "cancel", "1").returncode == 1  # already over
    assert cli(config, "jobs", "cancel", "99").returncode == 1


def test_burn_of_a_study_nowhere_says_so_before_starting_anything(
        tmp_path: Path, archive: Archive) -> None:
    """Nothing is started for work that cannot proceed: no receiver, no job."""
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    proc = cli(config, "--log-level", "INFO", "burn", "--study", "1.2.3.999", "--to",
               f"iso:{tmp_path}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "study 1.2.3.999 was found on no archive" in proc.stderr
    assert "listening" not in proc.stderr and "running jobs" not in proc.stderr
    assert json.loads(cli(config, "jobs", "--json").stdout) == []


def test_burn_next_to_a_running_station_is_done_there_and_followed(
        tmp_path: Path, archive: Archive) -> None:
    """`mw-tui serve` runs the jobs: a burn queues its job there (no receiver or runner of
    its own), follows it to the end and exits 0 once the medium is verified."""
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    serve = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config),
                              "--log-level", "INFO", "serve"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None
        banner = next(line for line in serve.stdout if "receiving as" in line)
        assert "running the jobs" in banner
        out = tmp_path / "out"
        out.mkdir()
        uid = next(iter(archive.studies))
        proc = cli(config, "--log-level", "INFO", "burn", "--study", uid, "--to", f"iso:{out}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "(queued for the station that runs the jobs)" in proc.stdout
        assert "job 1 done: every medium verified" in proc.stdout
        assert "listening" not in proc.stderr and "running jobs" not in proc.stderr
        assert len(list(out.glob("*.iso"))) == 1
        # cancelled from another command: the station stops it
        queued = cli(config, "burn", "--study", uid, "--to", "disc:/dev/nonexistent",
                     "--no-wait")
        assert queued.returncode == 0, queued.stderr
        assert cli(config, "jobs", "cancel", "2").returncode == 0
        wait_until(lambda: json.loads(cli(config, "jobs", "--json").stdout)[0]["state"]
                   == "cancelled", 60, "the station to cancel the job")
    finally:
        serve.terminate()
        rest = serve.communicate(timeout=60)[0]
    assert serve.returncode == 0
    assert "job 1 done" in rest  # the station ran it


def test_burn_following_a_station_that_stops_says_so_and_exits_1(
        tmp_path: Path, archive: Archive) -> None:
    """Another process runs the jobs (holds the jobs lock) when the burn queues its job,
    then exits without running it: the burn does not wait for ever."""
    station = station_config(tmp_path, archive)
    config = write_config(station, tmp_path / "config.toml")
    out = tmp_path / "out"
    out.mkdir()
    with holding_jobs_lock(station) as holder:
        burn = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config),
                                 "burn", "--study", next(iter(archive.studies)), "--to",
                                 f"iso:{out}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            assert burn.stdout is not None
            first = burn.stdout.readline()
            assert "job 1:" in first and "(queued for the station that runs the jobs)" in first
            assert burn.poll() is None  # it follows the job the other process is to run
            holder.release()
            stdout, stderr = burn.communicate(timeout=60)
        finally:
            if burn.poll() is None:
                burn.kill()
                burn.communicate()
    assert burn.returncode == 1, stdout + stderr
    assert ("no station runs the jobs now; job 1 stays queued (start mw-tui serve or the "
            "kiosk)") in stderr
    assert json.loads(cli(config, "jobs", "--json").stdout)[0]["state"] == "queued"
    assert not list(out.glob("*.iso"))
