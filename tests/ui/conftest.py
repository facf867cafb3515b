"""Fixtures for the screens: a station (real receiver, job runner and, for `--demo`, the
embedded demo archive) and the app driven by Textual's Pilot, plus helpers that wait
for what a user would see (never a fixed sleep)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mw_tui import config as cfg
from mw_tui.demo.samples import Profile, ensure_samples
from mw_tui.station import Station
from tests.conftest import make_config
from tests.ui.screen import screen_text


@pytest.fixture(scope="session")
def demo_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo sample set (what `mw-tui --demo` serves), generated once."""
    folder = tmp_path_factory.mktemp("demo-samples")
    ensure_samples(folder, Profile.FULL)
    return folder


@pytest.fixture
def demo_env(tmp_path: Path, demo_samples: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG folders in the test's tmp folder; the demo archive serves the session's set."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MW_TUI_DEMO_DATA", str(demo_samples))
    return tmp_path


def quick_retries(config: cfg.Config) -> cfg.Config:
    """Tests fail a job at the first archive error instead of retrying for minutes."""
    return dataclasses.replace(config, jobs=dataclasses.replace(config.jobs, retry_delays=[],
                                                                syslog=False))


@pytest.fixture
def demo_station(demo_env: Path) -> Iterator[Station]:
    """What `mw-tui --demo` runs (on a free port, data in the test's folders)."""
    station = Station(quick_retries(make_config(demo_env)), demo=True)
    try:
        yield station
    finally:
        station.stop()


async def wait_for(pilot: Any, check: Callable[[], Any], timeout: float = 30.0,
                   what: str = "the screen") -> Any:
    """Let the app run until `check()` is truthy; fail with the screen's text if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; the screen "
                         f"shows:\n{screen_text(pilot.app)}")


async def wait_for_text(pilot: Any, text: str, timeout: float = 30.0) -> str:
    return str(await wait_for(pilot, lambda: text in (s := screen_text(pilot.app)) and s,
                              timeout, repr(text)))


async def started(pilot: Any, timeout: float = 60.0) -> None:
    await wait_for(pilot, lambda: pilot.app.ready and pilot.app.status is not None, timeout,
                   "the station to start")


@pytest.fixture(scope="session")
def tiny_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """At most 3 instances per series: for archives the tests set up themselves."""
    folder = tmp_path_factory.mktemp("demo-tiny")
    ensure_samples(folder, Profile.TINY)
    return folder


def with_archives(config: cfg.Config, *archives: cfg.Archive, iso: Path | None = None
                  ) -> cfg.Config:
    devices = config.devices
    if iso is not None:
        iso.mkdir(parents=True, exist_ok=True)
        devices = dataclasses.replace(devices, iso_folder=str(iso))
    return quick_retries(dataclasses.replace(config, archives=archives, devices=devices))


async def choose_target(pilot: Any, kind: str) -> None:
    """On the review screen, move the highlight to the first target of `kind` (arrows)."""
    from mw_tui.ui.widgets.target_list import TargetList

    targets = pilot.app.screen.query_one(TargetList)
    targets.focus()
    index = next(i for i, c in enumerate(targets.choices) if c.kind == kind)
    await pilot.press("home", *(["down"] * index))
    assert targets.chosen is not None and targets.chosen.kind == kind


# real devices (root): udevd with the test rules, loop devices (tests/devices)
from tests.devices.conftest import loops, udev  # noqa: E402, F401
