"""Smoke test: `mw-tui --demo` in a real terminal (tmux, 80x24): type a search, read the
screen, quit."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import free_port, need, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """A tmux server of its own (its own socket), killed at the end."""

    def __init__(self) -> None:
        self.socket = f"mwtui-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30)
        if proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "smoke")

    def alive(self) -> bool:
        """The app still runs (the pane stays after it ends, to show its last words)."""
        proc = subprocess.run(["tmux", "-L", self.socket, "display-message", "-p", "-t",
                               "smoke", "#{pane_dead}"], capture_output=True, text=True,
                              timeout=30)
        return proc.returncode == 0 and proc.stdout.strip() == "0"

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    need("tmux")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


def test_demo_in_tmux_searches_and_shows_results(tmux: Tmux, tmp_path: Path,
                                                 demo_samples: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[station]\nport = {free_port()}\nreceiver_processes = 1\n")
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "MW_TUI_DEMO_DATA": str(demo_samples), "MW_TUI_CONFIG": str(config),
           "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "mw_tui",
                        "--demo"])
    tmux("start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
         "new-session", "-d", "-x", "80", "-y", "24", "-s", "smoke", "-c", str(ROOT),
         f"cd {ROOT} && {command}")

    def shows(text: str) -> bool:
        if not tmux.alive():
            raise AssertionError(f"mw-tui --demo ended early:\n{tmux.screen()}")
        return text in tmux.screen()

    wait_until(lambda: shows("DEMO") and shows(" assoc "), 60, "the demo station to start")
    tmux("send-keys", "-t", "smoke", "ødegård", "Enter")
    wait_until(lambda: shows("Ødegård, Ingrid"), 30, "the search results")
    screen = tmux.screen()
    assert "demo: " in screen and "found in" in screen
    assert "f5" in screen and "Search" in screen  # the keys are on screen
    assert len(screen.splitlines()[0]) <= 80
    tmux("send-keys", "-t", "smoke", "C-q")
    wait_until(lambda: not tmux.alive(), 30, "mw-tui to quit")
    assert (tmp_path / "data" / "mw-tui" / "demo" / "store").is_dir()
    log = tmp_path / "data" / "mw-tui" / "demo" / "mw-tui.log"
    assert log.exists()
