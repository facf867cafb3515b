"""A door into a running process: a command run there, its output streamed back.

The process that runs the jobs (the kiosk, `mw-tui serve`) listens on a Unix stream socket
in its storage folder (which only its user may enter; the socket is 0600). A command that
would otherwise load the whole station itself (a third of a second of Python imports on
the test machine) connects and sends one JSON line: its arguments, its working
folder and whether its output is a terminal. It gets its output back as JSON lines,
`{"out": text}` and `{"err": text}`, then `{"exit": status}`; or `{"refused": why}`
before anything else when the process will not run that command (the caller then runs it
itself, as it would have with no door). A line `{"stop": true}` from the caller (its
Ctrl-C or SIGTERM) sets the command's stop event there; a caller that goes away without
it (killed, its terminal closed) stops nothing: the command goes on, its output dropped.
A connection that breaks after the command started is never a reason to run it again:
the caller says so and fails.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mw_tui.util import unixsock
from mw_tui.util.interrupts import on_interrupt

log = logging.getLogger(__name__)

REQUEST_LIMIT = 1 << 16  # bytes of a request line
REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request
BROKEN = 1  # the exit status when the process behind the door went away mid-command


@dataclass(frozen=True, slots=True)
class Request:
    argv: list[str]  # the command's arguments (without the program's name)
    cwd: str  # the caller's working folder (absolute)
    tty: bool  # whether the caller's output is a terminal


# what the door makes of a request: a command to run with (out, err, stop), returning its
# exit status; or why it will not run it (the caller then runs it itself)
Command = Callable[[TextIO, TextIO, threading.Event], int]
Handler = Callable[[Request], "Command | str"]


class _Stream:
    """A text stream whose writes go to the caller as `{key: text}` lines."""

    def __init__(self, conn: socket.socket, key: str, tty: bool, lock: threading.Lock,
                 gone: threading.Event) -> None:
        self._conn, self._key, self._tty, self._lock, self._gone = conn, key, tty, lock, gone

    def write(self, text: str) -> int:
        if text and not self._gone.is_set():
            _send(self._conn, {self._key: text}, self._lock, self._gone)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._tty


def _send(conn: socket.socket, message: dict[str, Any], lock: threading.Lock,
          gone: threading.Event) -> None:
    data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
    with lock:
        try:
            conn.sendall(data)
        except OSError:
            gone.set()  # the caller went away: the command is stopped, its output dropped


class Door(unixsock.Listener):
    """Listen on `path` (the caller holds the jobs lock: a socket file left there by a
    process that died is replaced) and run what `handler` makes of each request, one
    thread per connection. Where it cannot listen, commands run by themselves."""

    thread_name = "door"

    def __init__(self, path: Path, handler: Handler) -> None:
        super().__init__(path, log, "door", "commands run by themselves")
        self.handler = handler

    def _serve(self, sock: socket.socket) -> None:
        while not self._stopping:
            try:
                conn, _ = sock.accept()
            except OSError:
                if self._stopping:
                    return
                continue
            threading.Thread(target=self._command, args=(conn,), name="door-command",
                             daemon=True).start()

    def _wake(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _command(self, conn: socket.socket) -> None:
        lock, gone, stop = threading.Lock(), threading.Event(), threading.Event()
        with conn:
            try:
                request = _read_request(conn)
            except (OSError, ValueError) as exc:
                log.warning("door: a request could not be read (%s)", exc)
                return
            try:
                command = self.handler(request)
            except Exception as exc:  # a request the handler cannot make sense of
                log.exception("door: the request %s failed", request.argv[:2])
                command = f"the station could not take the command ({exc})"
            if isinstance(command, str):
                _send(conn, {"refused": command}, lock, gone)
                return
            threading.Thread(target=_watch, args=(conn, stop, gone), name="door-watch",
                             daemon=True).start()
            out = _Stream(conn, "out", request.tty, lock, gone)
            err = _Stream(conn, "err", request.tty, lock, gone)
            try:
                status = command(out, err, stop)  # type: ignore[arg-type]
            except Exception as exc:  # the last line of defence, as in the command itself
                log.exception("door: the command %s failed", request.argv[:2])
                err.write(f"mw-tui: {exc}\n")
                status = BROKEN
            _send(conn, {"exit": status}, lock, gone)


def _read_request(conn: socket.socket) -> Request:
    conn.settimeout(REQUEST_TIMEOUT)
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("the connection closed before its request")
        data += chunk
        if len(data) > REQUEST_LIMIT:
            raise ValueError("the request is too long")
    conn.settimeout(None)
    raw = json.loads(data.partition(b"\n")[0])
    if not isinstance(raw, dict):
        raise ValueError("not a request (argv, cwd, tty)")
    argv, cwd, tty = raw.get("argv"), raw.get("cwd"), raw.get("tty")
    if (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)
            or not isinstance(cwd, str) or not os.path.isabs(cwd) or not isinstance(tty, bool)):
        raise ValueError("not a request (argv, cwd, tty)")
    return Request(argv, cwd, tty)


def _watch(conn: socket.socket, stop: threading.Event, gone: threading.Event) -> None:
    """Sets `stop` when the caller asks to stop; `gone` when it goes away (killed, its
    terminal closed: what it asked for goes on, as a job queued from there would)."""
    buffer = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            gone.set()
            return
        buffer += chunk
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(line).get("stop"):
                    stop.set()


# -- the caller's side ------------------------------------------------------------------


def call(path: Path, argv: list[str], out: TextIO, err: TextIO) -> int | None:
    """Run `argv` in the process behind the door at `path`, its output to `out` and
    `err`; its exit status, or None when no process listens there or it refused (the
    caller then runs the command itself). Ctrl-C and SIGTERM stop the command there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK, errno.EACCES,
                             errno.ENAMETOOLONG, errno.ENOTDIR):
            log.debug("door: cannot connect to %s: %s", path, exc)
        return None
    with sock, _stopping(sock):
        request = {"argv": argv, "cwd": os.getcwd(), "tty": out.isatty()}
        try:
            sock.sendall((json.dumps(request) + "\n").encode())
        except OSError:
            return None  # it went away before taking the command: run it here
        started = False
        for message in _messages(sock):
            if "refused" in message and not started:
                log.debug("door: %s refused %s: %s", path, argv[:1], message["refused"])
                return None
            started = True
            if "out" in message:
                out.write(str(message["out"]))
                out.flush()
            elif "err" in message:
                err.write(str(message["err"]))
                err.flush()
            elif "exit" in message:
                status = message["exit"]
                return status if isinstance(status, int) else BROKEN
        if not started:
            return None  # closed without a word: it never ran the command
        err.write("mw-tui: the station running the command stopped before it ended "
                  "(see its log)\n")
        return BROKEN


def _messages(sock: socket.socket) -> Iterator[dict[str, Any]]:
    buffer = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message


def _stopping(sock: socket.socket) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C and SIGTERM send `{"stop": true}` instead of ending this process (the
    command there stops and says so, then its exit status comes as usual)."""

    def ask() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(b'{"stop": true}\n')

    return on_interrupt(ask)
