"""A burn next to a running `mw-tui serve` goes through the station's door (cli.door):
the station runs it with what it has loaded, the command only shows its output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mw_tui.config.paths import StoragePaths
from tests.conftest import write_config
from tests.jobs.conftest import Archive, station_config
from tests.peers import wait_until

DOOR_LINE = "door: burn for a command next to this station"


@contextmanager
def serving(config: Path) -> Iterator[list[str]]:
    """`mw-tui serve` running; the lines it printed, once it stopped."""
    serve = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config),
                              "--log-level", "INFO", "serve"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert serve.stdout is not None
        banner = next(line for line in serve.stdout if "receiving as" in line)
        assert "running the jobs" in banner
        yield lines
    finally:
        serve.terminate()
        lines += serve.communicate(timeout=60)[0].splitlines()
    assert serve.returncode == 0


def burn(config: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config), "burn",
                             *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def test_a_burn_goes_through_the_door_with_its_folder_and_its_ctrl_c(
        tmp_path: Path, archive: Archive) -> None:
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    uid = next(iter(archive.studies))
    here = tmp_path / "here"
    (here / "out").mkdir(parents=True)
    with serving(config) as served:
        # a relative folder is the command's, not the station's
        done = burn(config, "--study", uid, "--to", "iso:out", cwd=here)
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stdout + stderr
        assert "(queued for the station that runs the jobs)" in stdout
        assert "job 1 done: every medium verified" in stdout
        assert len(list((here / "out").glob("*.iso"))) == 1
        # Ctrl-C while following: the station cancels the job, the command says so
        waiting = burn(config, "--study", uid, "--to", "disc:/dev/nonexistent", cwd=here)
        assert waiting.stdout is not None
        assert "job 2:" in waiting.stdout.readline()
        waiting.send_signal(signal.SIGINT)
        rest, stderr = waiting.communicate(timeout=60)
        assert waiting.returncode == 130, rest + stderr
        assert "job 2 cancelled" in stderr
        jobs = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), "jobs",
                               "--json"], capture_output=True, text=True, timeout=60)
        assert json.loads(jobs.stdout)[0]["state"] == "cancelled"
    assert sum(DOOR_LINE in line for line in served) == 2


def test_without_the_door_the_burn_queues_its_job_as_before(
        tmp_path: Path, archive: Archive) -> None:
    config = write_config(station_config(tmp_path, archive), tmp_path / "config.toml")
    out = tmp_path / "out"
    out.mkdir()
    with serving(config) as served:  # (a relative folder is the command's here too)
        done = burn(config, "--study", next(iter(archive.studies)), "--to", "iso:out",
                    cwd=tmp_path, env={"MW_TUI_NO_DOOR": "1"})
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stdout + stderr
        assert "(queued for the station that runs the jobs)" in stdout
        wait_until(lambda: len(list(out.glob("*.iso"))) == 1, 10, "the image")
    assert not any(DOOR_LINE in line for line in served)
    assert any("job 1 done" in line for line in served)  # the station ran it all the same


def test_a_burn_next_to_the_kiosk_goes_through_its_door(tmp_path: Path,
                                                        archive: Archive) -> None:
    """The kiosk (the app, in a real terminal) opens its door once its station runs the
    jobs; a burn next to it is done there."""
    from tests.peers import need
    from tests.ui.test_tmux import ROOT, Tmux

    need("tmux")
    station = station_config(tmp_path, archive)
    config = write_config(station, tmp_path / "config.toml")
    config.write_text(config.read_text().replace("[station]\n",
                                                 '[station]\nlog_level = "INFO"\n', 1))
    paths = StoragePaths.of(station)
    tmux = Tmux()
    try:
        command = (f"MW_TUI_CONFIG={config} TERM=xterm-256color LANG=C.UTF-8 "
                   f"{sys.executable} -m mw_tui")
        tmux("start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
             "new-session", "-d", "-x", "100", "-y", "30", "-s", "smoke", "-c", str(ROOT),
             f"cd {ROOT} && {command}")

        def door_open() -> bool:
            if not tmux.alive():
                raise AssertionError(f"the kiosk ended early:\n{tmux.screen()}")
            return paths.door.exists()

        wait_until(door_open, 60, "the kiosk's door")
        out = tmp_path / "out"
        out.mkdir()
        done = burn(config, "--study", next(iter(archive.studies)), "--to", f"iso:{out}",
                    cwd=tmp_path)
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stdout + stderr
        assert "job 1 done: every medium verified" in stdout
        assert len(list(out.glob("*.iso"))) == 1
        assert DOOR_LINE in paths.log_file.read_text()
        tmux("send-keys", "-t", "smoke", "C-q")
        wait_until(lambda: not tmux.alive(), 30, "the kiosk to quit")
    finally:
        tmux.kill()
    assert not paths.door.exists()  # closed with the app
