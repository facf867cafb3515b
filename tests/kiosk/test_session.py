"""The kiosk session as installed (mw-tui-kiosk, tmux.conf, mw-tui-attach, the venv):
the app in tmux on a console, run as the station's user; support attaching shared or
read-only, strangers refused; no way out of the app from the keyboard; a clean stop on
SIGTERM; an app failure shown on screen, with the app's exit status for systemd.

The scratch root's /opt/mw-tui is mounted at /opt/mw-tui in a private namespace, with
made-up accounts, so the installed files run with the paths they have on a station.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kiosk.conftest import Installed
from tests.kiosk.console import Console
from tests.kiosk.sandbox import Sandbox
from tests.peers import free_port, port_open, wait_until

pytestmark = pytest.mark.root

KIOSK = "mwt-kiosk"
HELPER = "mwt-helper"
STRANGER = "mwt-stranger"
LATECOMER = "mwt-latecomer"
SUPPORT = "mwt-support"
BANNER = "receiving as MW_TUI"
JOURNALD = "/lib/systemd/systemd-journald"


@pytest.fixture(scope="module")
def sandbox(installed: Installed) -> Iterator[Sandbox]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing (Debian package tmux)")
    # folders the made-up users can reach (pytest's own are root's alone)
    work = Path(tempfile.mkdtemp(prefix="mwtui-kiosk-", dir="/tmp"))
    work.chmod(0o755)
    box = Sandbox(work, users={KIOSK: [SUPPORT, "cdrom", "plugdev"], HELPER: [SUPPORT],
                               STRANGER: [], LATECOMER: []}, groups=[SUPPORT])
    journald: subprocess.Popen[bytes] | None = None
    try:
        box.mount_tmpfs("/opt")
        box.run(["mkdir", "/opt/mw-tui"], check=True)
        box.mount_bind(installed.path("/opt/mw-tui"), "/opt/mw-tui")
        # a journal of its own, as on a station (the session copies the app's output there)
        box.mount_tmpfs("/run")
        journald = box.popen([JOURNALD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: box.run(["test", "-S", "/run/systemd/journal/stdout"]
                                   ).returncode == 0, timeout=20, what="journald")
        yield box
    finally:
        if journald is not None:
            journald.terminate()
            journald.wait(timeout=20)
        box.close()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Kiosk:
    sandbox: Sandbox
    console: Console
    env: dict[str, str]
    socket: str
    port: int

    def tmux(self, user: str | None, *args: str) -> tuple[int, str]:
        proc = self.sandbox.run(["tmux", "-S", self.socket, *args], user=user, env=self.env)
        return proc.returncode, proc.stdout + proc.stderr

    def screen(self) -> str:
        rc, out = self.tmux(None, "capture-pane", "-p", "-t", "=kiosk:")
        assert rc == 0, out
        return out

    def attach(self, user: str, *args: str) -> Console:
        spawn = functools.partial(self.sandbox.popen, user=user, env=self.env)
        return Console(spawn, ["/opt/mw-tui/bin/mw-tui-attach", *args])


def start_kiosk(sandbox: Sandbox, config_text: str | None = None, log_file: bool = False,
                app_args: tuple[str, ...] = ("serve",)) -> Kiosk:
    """The installed session script on a new console; the app is `mw-tui serve` (what
    the session does is the subject here, not the screens), or `mw-tui` with
    `app_args=()`."""
    base = Path(tempfile.mkdtemp(prefix="kiosk-", dir=sandbox.workdir))
    base.chmod(0o755)
    kiosk = sandbox.accounts[KIOSK]
    run, store = base / "run", base / "store"
    for folder, mode in ((run, 0o755), (store, 0o700)):
        folder.mkdir(mode=mode)
        os.chown(folder, kiosk.uid, kiosk.gid)
    port = free_port()
    config = base / "config.toml"
    config.write_text(config_text if config_text is not None else
                      f'[station]\nport = {port}\nbind = "127.0.0.1"\nstorage = "{store}"\n'
                      "receiver_processes = 1\nmin_free_mb = 1\n")
    config.chmod(0o644)
    socket = str(run / "tmux.sock")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "linux",
           "HOME": str(base), "PYTHONUNBUFFERED": "1", "MW_TUI_CONFIG": str(config),
           "MW_TUI_TMUX_SOCKET": socket, "MW_TUI_SUPPORT_GROUP": SUPPORT,
           "MW_TUI_KIOSK_HOLD": "120"}
    if log_file:
        env["MW_TUI_LOG_FILE"] = str(store / "mw-tui.log")
    spawn = functools.partial(sandbox.popen, user=KIOSK, env=env)
    console = Console(spawn, ["/opt/mw-tui/bin/mw-tui-kiosk", *app_args], cols=100, rows=30)
    return Kiosk(sandbox, console, env, socket, port)


@pytest.fixture
def kiosk(sandbox: Sandbox) -> Iterator[Kiosk]:
    k = start_kiosk(sandbox)
    try:
        k.console.wait_for(BANNER, timeout=60)
        wait_until(lambda: port_open(k.port), timeout=30, what="the receiver's port")
        yield k
    finally:
        stop(k)


def stop(k: Kiosk) -> None:
    if k.console.proc.poll() is None:
        k.console.proc.send_signal(signal.SIGTERM)
        try:
            k.console.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass  # killed below
    k.tmux(None, "kill-server")
    k.console.close()


def test_the_app_runs_in_tmux_as_the_station_user(kiosk: Kiosk) -> None:
    assert BANNER in kiosk.screen()
    rc, out = kiosk.tmux(None, "display-message", "-p", "-t", "=kiosk:", "#{pane_pid}")
    assert rc == 0, out
    pane = int(out.strip())
    assert os.stat(f"/proc/{pane}").st_uid == kiosk.sandbox.accounts[KIOSK].uid
    st = os.stat(kiosk.socket)
    assert st.st_mode & 0o777 in (0o660, 0o770), oct(st.st_mode)
    assert st.st_gid == kiosk.sandbox.gids[SUPPORT]


def test_the_app_output_is_copied_to_the_journal(kiosk: Kiosk) -> None:
    def journal() -> str:
        return kiosk.sandbox.run(["journalctl", "--directory=/run/log/journal", "--no-pager",
                                  "--identifier=mw-tui", "--output=cat"]).stdout

    wait_until(lambda: f"{BANNER} on 127.0.0.1:{kiosk.port}" in journal(), timeout=20,
               what="the app's output in the journal")


def test_support_attaches_shared_and_types_into_the_app(kiosk: Kiosk) -> None:
    helper = kiosk.attach(HELPER)
    try:
        helper.wait_for(BANNER)
        helper.type(b"typed-by-support")
        wait_until(lambda: "typed-by-support" in kiosk.screen(), timeout=20,
                   what="support's keys in the app")
        helper.type(b"\x02d")  # Ctrl-b d: detach; the app goes on
        assert helper.wait(timeout=20) == 0
    finally:
        helper.close()
    assert kiosk.console.proc.poll() is None and port_open(kiosk.port)


def test_read_only_support_watches_but_cannot_type(kiosk: Kiosk) -> None:
    watcher = kiosk.attach(HELPER, "-r")
    try:
        watcher.wait_for(BANNER)
        watcher.type(b"typed-read-only")
        kiosk.console.type(b"typed-at-the-console")
        wait_until(lambda: "typed-at-the-console" in kiosk.screen(), timeout=20,
                   what="the console's keys in the app")
        watcher.wait_for("typed-at-the-console")  # the watcher sees the screen live
        assert "typed-read-only" not in kiosk.screen()
        watcher.type(b"\x02d")
        assert watcher.wait(timeout=20) == 0
    finally:
        watcher.close()


def test_strangers_are_refused(kiosk: Kiosk) -> None:
    stranger = kiosk.attach(STRANGER)
    try:
        assert stranger.wait(timeout=20) == 1
        assert "you may not attach" in stranger.stderr()
    finally:
        stranger.close()
    rc, out = kiosk.tmux(STRANGER, "capture-pane", "-p", "-t", "=kiosk:")
    assert rc != 0 and "Permission denied" in out, out


def test_a_new_support_member_gets_in_after_reload(kiosk: Kiosk) -> None:
    def sees_the_app() -> bool:
        rc, out = kiosk.tmux(LATECOMER, "capture-pane", "-p", "-t", "=kiosk:")
        return rc == 0 and BANNER in out

    assert not sees_the_app(), "not a member yet"
    kiosk.sandbox.add_to_group(LATECOMER, SUPPORT)
    # the socket's group is not enough: tmux keeps its own list of users
    assert not sees_the_app()
    # what `systemctl reload mw-tui-kiosk` runs
    proc = kiosk.sandbox.run(["/opt/mw-tui/bin/mw-tui-kiosk", "--access"], user=KIOSK,
                             env=kiosk.env)
    assert proc.returncode == 0, proc.stderr
    assert sees_the_app()


def test_no_way_out_of_the_app_from_the_keyboard(kiosk: Kiosk) -> None:
    # new window, split, command prompt, window chooser, copy mode
    for keys in (b"\x02c", b'\x02"', b"\x02%", b"\x02:new-window\r", b"\x02w", b"\x02["):
        kiosk.console.type(keys)
    kiosk.console.type(b"after-the-escapes")
    wait_until(lambda: "after-the-escapes" in kiosk.screen(), timeout=20,
               what="keys reaching the app")
    rc, windows = kiosk.tmux(None, "list-windows", "-t", "=kiosk:", "-F", "#{window_id}")
    assert rc == 0 and len(windows.split()) == 1, windows
    rc, panes = kiosk.tmux(None, "list-panes", "-s", "-t", "=kiosk:", "-F", "#{pane_id}")
    assert rc == 0 and len(panes.split()) == 1, panes
    rc, mode = kiosk.tmux(None, "display-message", "-p", "-t", "=kiosk:", "#{pane_in_mode}")
    assert mode.strip() == "0"


def test_the_console_comes_back_after_a_detach_and_the_app_goes_on(kiosk: Kiosk) -> None:
    rc, out = kiosk.tmux(None, "display-message", "-p", "-t", "=kiosk:", "#{pane_pid}")
    assert rc == 0, out
    pane = out.strip()
    kiosk.console.type(b"\x02d")
    kiosk.console.wait_for("[detached")
    wait_until(lambda: kiosk.tmux(None, "list-clients", "-t", "=kiosk")[1].strip() != "",
               timeout=20, what="the console to attach again")
    assert kiosk.console.proc.poll() is None
    assert kiosk.tmux(None, "display-message", "-p", "-t", "=kiosk:",
                      "#{pane_pid}")[1].strip() == pane
    assert port_open(kiosk.port)


def test_sigterm_stops_the_app_cleanly(sandbox: Sandbox) -> None:
    k = start_kiosk(sandbox)
    try:
        k.console.wait_for(BANNER, timeout=60)
        wait_until(lambda: port_open(k.port), timeout=30, what="the receiver's port")
        k.console.proc.send_signal(signal.SIGTERM)  # what systemctl stop sends
        assert k.console.wait(timeout=30) == 0, k.console.output[-2000:]
        assert "stopping (signal received)" in k.console.output
        assert not port_open(k.port)
        assert k.tmux(None, "has-session", "-t", "=kiosk")[0] != 0, "tmux is gone too"
    finally:
        stop(k)


def test_an_app_failure_is_shown_and_its_status_returned(sandbox: Sandbox) -> None:
    k = start_kiosk(sandbox, config_text='[station]\nport = "eleven"\n')
    try:
        k.console.wait_for("mw-tui stopped (exit status 2)", timeout=60)
        assert "invalid configuration" in k.console.output
        assert "press Enter to start it now" in k.console.output
        assert k.console.proc.poll() is None, "the error stays on screen"
        k.console.type(b"\r")
        assert k.console.wait(timeout=30) == 2, "systemd sees the app's exit status"
    finally:
        stop(k)


def test_the_app_output_can_also_go_to_a_log_file(sandbox: Sandbox) -> None:
    k = start_kiosk(sandbox, log_file=True)
    try:
        k.console.wait_for(BANNER, timeout=60)  # still on the console
        log = Path(k.env["MW_TUI_LOG_FILE"])
        wait_until(lambda: log.exists() and BANNER in log.read_text(), timeout=20,
                   what="the banner in the log file")
        k.console.proc.send_signal(signal.SIGTERM)
        assert k.console.wait(timeout=30) == 0
        assert "stopping (signal received)" in log.read_text()
    finally:
        stop(k)


def test_the_station_app_itself_runs_in_the_kiosk(sandbox: Sandbox) -> None:
    """`mw-tui` with no command, as the unit runs it: the screens, receiving."""
    k = start_kiosk(sandbox, app_args=())
    try:
        wait_until(lambda: port_open(k.port), timeout=60, what="the app's receiver")
        wait_until(lambda: "MW_TUI" in k.screen(), timeout=30,
                   what="the station's AE title on its screen")
        assert k.console.proc.poll() is None
        k.console.proc.send_signal(signal.SIGTERM)
        # 0, or 143 when the app leaves SIGTERM's default action (SuccessExitStatus=143)
        assert k.console.wait(timeout=30) in (0, 143)
        # its receiver's workers see their parent gone within 0.2 s (even after a kill)
        wait_until(lambda: not port_open(k.port), timeout=10, what="the port released")
    finally:
        stop(k)


def test_a_stop_while_an_error_is_shown_is_immediate(sandbox: Sandbox) -> None:
    k = start_kiosk(sandbox, config_text='[station]\nport = "eleven"\n')
    try:
        k.console.wait_for("press Enter to start it now", timeout=60)
        k.console.proc.send_signal(signal.SIGTERM)  # systemctl stop, not 120 s later
        assert k.console.wait(timeout=10) == 2
    finally:
        stop(k)
