"""cli.door: which commands go to a running station's door, and when the kiosk opens it."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.cli import door as cli_door
from mw_tui.cli import parse_quietly
from mw_tui.config.paths import StoragePaths
from mw_tui.util import door
from tests.conftest import make_config, write_config
from tests.peers import wait_until


@pytest.mark.parametrize(("argv", "scanned"), [
    (["burn", "--study", "1.2"], ("burn", None)),
    (["--config", "a.toml", "--log-level", "INFO", "burn", "--to", "iso:x"],
     ("burn", "a.toml")),
    (["--config=a.toml", "burn"], ("burn", "a.toml")),
    (["jobs", "--json"], ("jobs", None)),
    (["--demo", "burn"], None),
    (["burn", "--help"], None),
    (["--version"], None),
    (["--config"], None),
])
def test_the_command_and_its_configuration_are_found_without_parsing(
        argv: list[str], scanned: tuple[str, str | None] | None) -> None:
    assert cli_door._scan(argv) == scanned


@pytest.fixture
def short() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="door-") as tmp:
        yield Path(tmp)


@dataclass
class RunningStation:
    """What the door's opener looks at: the configuration, and whether it runs the jobs
    (a real Station needs an archive, receivers and a runner: tests/jobs/test_door.py)."""

    config: cfg.Config
    runs_jobs_here: bool = False


def test_only_a_burn_goes_through_and_only_where_a_door_is(
        short: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(short)
    path = write_config(config, short / "config.toml")
    StoragePaths.of(config).storage.mkdir(parents=True)
    taken: list[list[str]] = []

    def handle(request: door.Request) -> door.Command:
        taken.append(request.argv)
        return lambda out, err, stop: 7

    entrance = door.Door(StoragePaths.of(config).door, handle)
    assert entrance.start()
    try:
        assert cli_door.forwarded(["--config", str(path), "burn", "--study", "1.2"]) == 7
        assert cli_door.forwarded(["--config", str(path), "jobs"]) is None
        assert cli_door.forwarded(["--config", str(short / "missing.toml"), "burn"]) is None
        monkeypatch.setenv("MW_TUI_NO_DOOR", "1")
        assert cli_door.forwarded(["--config", str(path), "burn", "--study", "1.2"]) is None
    finally:
        entrance.stop()
    assert taken == [["--config", str(path), "burn", "--study", "1.2"]]


def test_the_station_side_parses_as_the_command_would(
        short: Path, capsys: pytest.CaptureFixture[str]) -> None:
    station = RunningStation(make_config(short), runs_jobs_here=True)
    handle = cli_door.handler(station, parse_quietly)
    request = door.Request(["burn", "--study", "1.2", "--to", "iso:out"], "/somewhere", False)
    assert callable(handle(request))
    for argv in (["burn", "--study", "1.2"], ["jobs"], ["--demo", "burn", "--study", "1.2",
                                                        "--to", "disc"], ["nonsense"]):
        assert isinstance(handle(door.Request(argv, "/", False)), str), argv
    # refusals are quiet: no usage printed in the station's output (its log may say
    # that it took the burn)
    printed = capsys.readouterr()
    assert printed.out == "" and "usage:" not in printed.err and "error:" not in printed.err


def test_the_kiosk_opens_its_door_once_it_runs_the_jobs(short: Path) -> None:
    station = RunningStation(make_config(short))
    StoragePaths.of(station.config).storage.mkdir(parents=True)
    opener = cli_door.DoorWhenRunning(station, parse_quietly)
    opener.POLL = 0.02
    opener.start()
    try:
        # another process runs the jobs: its door is not taken over
        assert not threading.Event().wait(0.1)
        assert opener.entrance is None and not StoragePaths.of(station.config).door.exists()
        station.runs_jobs_here = True  # it took the jobs over
        wait_until(lambda: opener.entrance is not None, 10, "the door to open")
        assert StoragePaths.of(station.config).door.exists()
    finally:
        opener.close()
    assert not StoragePaths.of(station.config).door.exists()


def test_a_station_that_runs_the_jobs_has_its_door_open_at_once(short: Path) -> None:
    """`mw-tui serve` prints its banner after start(): a burn right after it finds the
    door open."""
    station = RunningStation(make_config(short), runs_jobs_here=True)
    StoragePaths.of(station.config).storage.mkdir(parents=True)
    opener = cli_door.DoorWhenRunning(station, parse_quietly).start()
    try:
        assert opener.entrance is not None and StoragePaths.of(station.config).door.exists()
    finally:
        opener.close()
