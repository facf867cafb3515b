"""`mw-tui devices`: what support staff see over SSH."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.devices.conftest import Loops, settle

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]



def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text("")
    return {**os.environ, "MW_TUI_CONFIG": str(config)}


def test_devices_lists_drives_and_sticks(udev: None, loops: Loops, tmp_path: Path) -> None:
    drive = loops.attach(loops.file("drive", 2 << 20))
    stick = loops.attach(loops.stick_image(40 << 20, fat="32", label="CLI"))
    part = loops.partition(stick)
    settle()
    cmd = [sys.executable, "-m", "mw_tui", "devices"]
    proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60,
                          env=env(tmp_path), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    found = {d["devname"]: d for d in json.loads(proc.stdout)}
    assert found[drive]["kind"] == "optical" and found[drive]["media"]["state"] == "blank"
    assert found[stick]["kind"] == "usb"
    assert found[stick]["partitions"][0]["devname"] == part
    assert found[stick]["partitions"][0]["fs_label"] == "CLI"
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env(tmp_path),
                          cwd=ROOT).stdout
    assert f"MWTUI Test Drive ({drive}): blank DVD+RW, 2.1 MB" in text
    assert f"{part}: FAT32 'CLI'" in text


def test_devices_watch_reports_a_plug(udev: None, loops: Loops, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mw_tui", "devices", "--json", "--watch",
                             "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(tmp_path), cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout],  # type: ignore[union-attr]
                     daemon=True).start()
    try:
        json.loads(lines.get(timeout=30))  # the list of devices present
        drive = loops.attach(loops.file("drive", 2 << 20))
        while True:
            event = json.loads(lines.get(timeout=30))
            if event["devname"] == drive:
                break
        assert event["event"] == "added" and event["kind"] == "optical"
    finally:
        proc.terminate()
        proc.wait(10)


def test_devices_lists_the_disc_publishers_with_their_state(udev: None, tmp_path: Path
                                                            ) -> None:
    from tests.devices.robot import PtBurnRobot

    folder = tmp_path / "PTBurnJobs"
    folder.mkdir()
    robot = PtBurnRobot(folder, "C:\\\\PTBurnJobs").start()
    config = tmp_path / "config.toml"
    config.write_text(f'[[publishers]]\nname = "robot"\nfolder = "{folder}"\n'
                      f'[[publishers]]\nname = "away"\nfolder = "{tmp_path / "nowhere"}"\n')
    try:
        proc = subprocess.run([sys.executable, "-m", "mw_tui", "devices", "--json"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env={**os.environ, "MW_TUI_CONFIG": str(config)})
        text = subprocess.run([sys.executable, "-m", "mw_tui", "devices"], capture_output=True,
                              text=True, timeout=60, cwd=ROOT,
                              env={**os.environ, "MW_TUI_CONFIG": str(config)})
    finally:
        robot.stop()
    assert proc.returncode == 0, proc.stderr
    robots = {d["name"]: d for d in json.loads(proc.stdout) if d["kind"] == "publisher"}
    assert robots["robot"]["ready"] and "robot: ready" in robots["robot"]["message"]
    assert not robots["away"]["ready"] and "is PTBurn running" in robots["away"]["message"]
    assert "robot  robot: ready" in text.stdout
