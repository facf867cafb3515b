"""util.door: a command run in another process, its output and exit status streamed back."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from mw_tui.util import door
from tests.peers import wait_until


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a path short enough for a socket (pytest's tmp_path may not be)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="door-") as tmp:
        yield Path(tmp)


def started(path: Path, handler: door.Handler) -> door.Door:
    d = door.Door(path, handler)
    assert d.start()
    return d


def test_a_command_runs_there_with_its_output_and_exit_status(short_dir: Path) -> None:
    seen: list[door.Request] = []

    def handler(request: door.Request) -> door.Command | str:
        seen.append(request)

        def command(out: TextIO, err: TextIO, stop: threading.Event) -> int:
            print("hello", "tty" if out.isatty() else "pipe", file=out)
            print("a warning", file=err)
            return 3
        return command

    d = started(short_dir / "d.sock", handler)
    try:
        out, err = Tty(), io.StringIO()
        assert door.call(d.path, ["burn", "--study", "1.2.3"], out, err) == 3
        assert out.getvalue() == "hello tty\n" and err.getvalue() == "a warning\n"
        assert seen[0].argv == ["burn", "--study", "1.2.3"] and seen[0].cwd == os.getcwd()
        assert oct(d.path.stat().st_mode & 0o777) == "0o600"
    finally:
        d.stop()
    assert not d.path.exists()


def test_no_door_or_a_refusal_means_run_it_here(short_dir: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert door.call(short_dir / "none.sock", ["burn"], out, err) is None
    stale = short_dir / "stale.sock"  # left by a process that died: nobody listens
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(stale))
    assert door.call(stale, ["burn"], out, err) is None
    d = started(short_dir / "d.sock", lambda request: "not a command the station runs")
    try:
        assert door.call(d.path, ["serve"], out, err) is None
    finally:
        d.stop()
    assert out.getvalue() == err.getvalue() == ""
    # a new door replaces the socket file a dead one left
    again = started(stale, lambda request: "no")
    again.stop()


def test_stop_reaches_the_command_and_a_caller_gone_stops_nothing(short_dir: Path) -> None:
    began, stops, ended = threading.Event(), [], threading.Event()
    release = threading.Event()

    def handler(request: door.Request) -> door.Command:
        def command(out: TextIO, err: TextIO, stop: threading.Event) -> int:
            out.write("started\n")
            began.set()
            if request.argv == ["stop"]:
                stop.wait(10)
            else:
                release.wait(10)
            stops.append(stop.is_set())
            out.write("never seen when the caller went away\n")
            ended.set()
            return 130 if stop.is_set() else 0
        return command

    d = started(short_dir / "d.sock", handler)
    try:
        # {"stop": true}, as the caller's Ctrl-C sends it
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(d.path))
            s.sendall(json.dumps({"argv": ["stop"], "cwd": "/", "tty": False}).encode() + b"\n")
            assert began.wait(10)
            s.sendall(b'{"stop": true}\n')
            reply = b""
            while b'"exit"' not in reply:
                reply += s.recv(4096)
        assert stops == [True] and b'{"exit": 130}' in reply
        # a caller that goes away: the command goes on to its end
        began.clear()
        ended.clear()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(d.path))
            s.sendall(json.dumps({"argv": ["go"], "cwd": "/", "tty": False}).encode() + b"\n")
            assert began.wait(10)
        release.set()
        assert ended.wait(10) and stops[-1] is False  # released, never stopped
    finally:
        d.stop()


def test_garbage_never_stops_the_door(short_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    crashed: list[object] = []
    monkeypatch.setattr(threading, "excepthook", crashed.append)

    def handler(request: door.Request) -> door.Command:
        if request.argv == ["boom"]:
            raise RuntimeError("a handler bug")
        return lambda out, err, stop: 0

    d = started(short_dir / "d.sock", handler)
    junk = [b"not json\n", b'{"argv": "x"}\n', b"[1, 2]\n", b'"text"\n',
            b'{"argv": [], "cwd": "rel", "tty": false}\n', b"\xff" * 100 + b"\n",
            b"x" * (door.REQUEST_LIMIT + 10)]
    try:
        for line in junk:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(d.path))
                s.sendall(line)
                s.shutdown(socket.SHUT_WR)
                assert s.recv(4096) == b""  # closed without an answer
        out, err = io.StringIO(), io.StringIO()
        assert door.call(d.path, ["boom"], out, err) is None  # refused: run it here
        assert door.call(d.path, ["fine"], out, err) == 0
    finally:
        d.stop()
    assert crashed == []  # no thread of the door died on any of it


def test_a_process_that_goes_away_mid_command_is_a_failure_not_a_second_run(
        short_dir: Path) -> None:
    path = short_dir / "d.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve_half() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b'{"out": "job 1: queued\\n"}\n')  # then the station stops

    t = threading.Thread(target=serve_half)
    t.start()
    out, err = io.StringIO(), io.StringIO()
    try:
        assert door.call(path, ["burn"], out, err) == door.BROKEN
    finally:
        t.join(10)
        listener.close()
    assert out.getvalue() == "job 1: queued\n"
    assert "stopped before it ended" in err.getvalue()
    wait_until(lambda: not t.is_alive(), 10, "the half station")


def test_no_door_where_the_path_is_too_long_and_none_left_once_stopped(
        tmp_path: Path, short_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Where no socket can be had, the door says so and commands run by themselves (the
    caller is refused by nobody: it finds no door); a stopped door leaves no socket."""
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    nowhere = door.Door(deep / "d.sock", lambda request: "unused")
    with caplog.at_level("INFO", logger="mw_tui.util.door"):
        assert not nowhere.start()
    assert "too long a path for a socket; commands run by themselves" in caplog.text
    nowhere.stop()  # nothing to stop
    d = started(short_dir / "d.sock", lambda request: "not here")
    assert d.path.exists()
    d.stop()
    assert not d.path.exists()
    d.stop()  # twice is harmless
