"""`mw-tui` / `mw-tui --demo` / `mw-tui web` / `mw-tui admin-pin` from the command line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.station.pin import verify_pin
from tests.peers import free_port, http_ok, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_data_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mw_tui.demo.samples import Profile, ensure_samples

    folder = tmp_path_factory.mktemp("demo-full")
    ensure_samples(folder, Profile.FULL)
    return folder


def mw_tui(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_without_a_terminal_the_app_says_what_to_do(tmp_path: Path) -> None:
    proc = mw_tui("--demo", env={"XDG_DATA_HOME": str(tmp_path)}, stdin="")
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr and "mw-tui web" in proc.stderr
    assert not (tmp_path / "mw-tui").exists()  # nothing started


def test_admin_pin_writes_a_hash_and_keeps_the_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# our station\n[station]\nae_title = \"ROOM2\"  # the name on the PACS\n")
    proc = mw_tui("--config", str(path), "admin-pin", stdin="2580\n")
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert "# our station" in text and "# the name on the PACS" in text
    stored = cfg.load(path).ui.admin_pin
    # the PIN nowhere in clear (its random salt and hash may hold the digits by chance)
    assert "2580" not in text.replace(stored, "")
    assert stored.split("$")[0] == "pbkdf2-sha256" and "2580" not in stored.split("$")[:2]
    assert verify_pin("2580", stored) and not verify_pin("2581", stored)
    bad = mw_tui("--config", str(path), "admin-pin", stdin="12\n")
    assert bad.returncode == 2 and "4 to 12 digits" in bad.stderr
    assert cfg.load(path).ui.admin_pin == stored  # unchanged


def test_a_pin_in_clear_is_refused_by_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[ui]\nadmin_pin = \"1234\"\n")
    proc = mw_tui("--config", str(path), "config", "check")
    assert proc.returncode == 2
    assert "ui.admin_pin" in proc.stderr and "never the PIN itself" in proc.stderr


def test_web_serves_the_app_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mw_tui", "--demo", "web", "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/"), 30, "mw-tui web")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as rsp:
            page = rsp.read().decode()
        assert "mw-tui" in page  # the page that opens the app in the browser
        # it talks to the app over this server's websocket (what the browser test opens)
        url = re.search(r'data-session-websocket-url="([^"]+)"', page)
        assert url is not None, page
        assert url.group(1) == f"ws://127.0.0.1:{port}/ws"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _err = proc.communicate()
    assert f"http://127.0.0.1:{port}" in out


def test_web_command_runs_this_python_with_the_same_options(tmp_path: Path) -> None:
    from mw_tui.cli import build_parser
    from mw_tui.cli.app import web_command

    args = build_parser().parse_args(["--demo", "--config", str(tmp_path / "c.toml"),
                                      "--log-level", "debug", "web"])
    command = web_command(args)
    assert command.startswith(sys.executable)
    assert f"--config {tmp_path / 'c.toml'}" in command
    assert "--log-level DEBUG" in command and command.endswith("--demo")


def test_a_browser_session_runs_the_app(tmp_path: Path, demo_data_full: Path) -> None:
    """What the browser does: open the websocket, get the app's screens, type."""
    import asyncio

    import aiohttp

    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "MW_TUI_DEMO_DATA": str(demo_data_full)}
    proc = subprocess.Popen([sys.executable, "-m", "mw_tui", "--demo", "web", "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)

    async def browser() -> bytes:
        seen = b""
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"ws://127.0.0.1:{port}/ws?width=80&height=24") as ws:
            await ws.send_json(["resize", {"width": 80, "height": 24}])
            typed = False
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    seen += msg.data
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    seen += msg.data.encode()
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
                if not typed and b"DEMO" in seen:
                    typed = True
                    await ws.send_json(["stdin", "dubois\r"])
                if typed and "Amélie".encode() in seen:
                    await ws.send_json(["stdin", "\x11"])  # Ctrl+Q
                    break
        return seen

    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/"), 30, "mw-tui web")
        seen = asyncio.run(browser())
        assert b"DEMO" in seen
        assert "Amélie".encode() in seen, seen[-2000:]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
