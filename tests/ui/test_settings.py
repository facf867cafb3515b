"""Settings: behind the admin PIN, archives added with an echo test, saved with the
file's comments kept, applied to the running station."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.app import MwApp
from mw_tui.demo.archive import DemoArchive
from mw_tui.demo.samples import Profile
from mw_tui.station import Station
from mw_tui.ui.dialogs.pin import PinScreen
from mw_tui.ui.dialogs.record_form import RecordForm
from mw_tui.ui.screens.settings import ArchiveTable, SettingsScreen
from tests.peers import free_port
from tests.ui.conftest import started, wait_for, wait_for_text

PIN = "4711"
NOTE = "# site note: the station in room 2 -- keep this line"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A configuration with a comment of the site's, and the PIN set with the CLI."""
    path = tmp_path / "config.toml"
    text = cfg.default_text().replace("[station]\n", f"{NOTE}\n[station]\n", 1)
    text = text.replace('port = 11112', f'port = {free_port()}', 1)
    text = text.replace('bind = "0.0.0.0"', 'bind = "127.0.0.1"', 1)
    text = text.replace("receiver_processes = 0", "receiver_processes = 1", 1)
    storage = tmp_path / "store"
    text = text.replace(f'storage = "{cfg.default_storage()}"', f'storage = "{storage}"', 1)
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(path), "admin-pin"],
                          input=PIN + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture
def archive(tiny_samples: Path) -> Iterator[DemoArchive]:
    a = DemoArchive(tiny_samples, samples_profile=Profile.TINY)
    a.start()
    try:
        yield a
    finally:
        a.stop()


def test_pin_then_add_an_archive_echo_it_and_keep_the_comments(
        config_file: Path, archive: DemoArchive) -> None:
    config = cfg.load(config_file)
    assert config.station.storage.endswith("store") and config.ui.admin_pin
    station = Station(config)

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await pilot.press("f10")
            assert isinstance(app.screen, PinScreen)
            await pilot.press(*"1234", "enter")
            await wait_for_text(pilot, "Wrong PIN")
            await pilot.press(*PIN, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), 5,
                           "the settings")
            # a wrong value: the form stays, with the configuration's own message
            await pilot.press("a")
            assert isinstance(app.screen, RecordForm)
            await pilot.press(*"pacs2", "enter", *archive.ae_title, "enter",
                              *archive.host, "enter", "ctrl+u", *"99999", "f9")
            text = await wait_for_text(pilot, "Not saved")
            assert "port = 99999: must be a TCP port from 1 to 65535" in " ".join(text.split())
            assert "pacs2" not in config_file.read_text()
            # corrected: saved, applied, comments kept
            port_field = app.screen.query_one("#f-port")
            port_field.value = str(archive.port)
            await pilot.press("f9")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), 10, "saved")
            saved = config_file.read_text()
            assert NOTE in saved and 'name = "pacs2"' in saved
            assert f"port = {archive.port}" in saved
            assert [a.name for a in app.config.archives] == ["pacs2"]
            assert cfg.load(config_file).archives[0].ae_title == archive.ae_title
            # the echo test of the new archive
            table = app.screen.query_one(ArchiveTable)
            table.focus()
            await pilot.press("t")
            text = await wait_for_text(pilot, "answers C-ECHO in")
            assert "online" in text
            # the ISO folder, on the Targets tab: used at once
            await pilot.press("3", "e")
            assert isinstance(app.screen, RecordForm)
            app.screen.query_one("#f-iso_folder").value = str(config_file.parent / "iso")
            await pilot.press("f9")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), 10, "saved")
            assert app.config.devices.iso_folder == str(config_file.parent / "iso")
            assert f'iso_folder = "{config_file.parent / "iso"}"' in config_file.read_text()
            assert NOTE in config_file.read_text()
            # the search offers the new archive at once
            await pilot.press("escape")
            options = [v for _label, v in app.screen.query_one("#source").options]
            assert "pacs2" in options

    try:
        asyncio.run(scenario())
    finally:
        station.stop()


def test_no_pin_set_keeps_settings_locked_and_says_how(tmp_path: Path) -> None:
    from tests.conftest import make_config

    station = Station(make_config(tmp_path))

    async def scenario() -> None:
        app = MwApp(station)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await pilot.press("f10")
            text = await wait_for_text(pilot, "Settings are locked")
            assert "mw-tui admin-pin" in text
            await pilot.press(*"0000", "enter")
            assert isinstance(app.screen, PinScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, PinScreen)

    try:
        asyncio.run(scenario())
    finally:
        station.stop()


def test_wrong_pins_lock_for_a_while() -> None:
    from mw_tui.station.pin import LOCKOUT_SECONDS, MAX_TRIES, PinGate, hash_pin

    now = [1000.0]
    gate = PinGate(hash_pin("2468", iterations=1000), clock=lambda: now[0])
    for _ in range(MAX_TRIES - 1):
        assert "Wrong PIN" in (gate.check("1111") or "")
    assert "locked" in (gate.check("1111") or "")
    assert "try again in" in (gate.check("2468") or "")  # even the right one, for now
    now[0] += LOCKOUT_SECONDS + 1
    assert gate.check("2468") is None
