"""Commands the station that runs the jobs does for others (see `util.door`).

`forwarded(argv)` is the first thing `mw-tui` does, before it imports anything of the
station: a `burn` on a machine where `mw-tui serve` runs is handed to it through its door,
and its output comes back as if this process had run it (Ctrl-C cancels the job there).
The station has everything loaded already, so the job is queued a third of a second
sooner than if this process loaded the station to queue it. Where no station listens, or
it refuses (another storage folder, arguments it does not take), the command runs here,
as it always did; `MW_TUI_NO_DOOR=1` makes it run here in any case.

`handler(station, parse)` is the station's side: it parses the arguments as the command
would (`parse`, raising ValueError instead of printing usage) and runs the command's
`remote` function with the running station and the caller's streams.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from mw_tui import config as cfg
from mw_tui.config.paths import StoragePaths
from mw_tui.util import door

log = logging.getLogger(__name__)

FORWARDED = frozenset({"burn"})  # the commands a running station does for others
_WITH_VALUE = frozenset({"--config", "--log-level"})  # global options taking a value
_HERE = frozenset({"-h", "--help", "--version", "--demo"})  # always answered here


def _scan(argv: list[str]) -> tuple[str, str | None] | None:
    """(command, --config value) of `argv`, or None when it must run here."""
    config: str | None = None
    command = ""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _HERE:
            return None
        if not command:
            if token in _WITH_VALUE:
                if i + 1 >= len(argv):
                    return None
                if token == "--config":
                    config = argv[i + 1]
                i += 2
                continue
            if token.startswith("--config="):
                config = token.partition("=")[2]
            elif not token.startswith("-"):
                command = token
        i += 1
    return command, config


def forwarded(argv: list[str]) -> int | None:
    """The exit status of `argv` run by the running station, or None (run it here)."""
    scanned = _scan(argv)
    if scanned is None or scanned[0] not in FORWARDED or os.environ.get("MW_TUI_NO_DOOR"):
        return None
    try:  # (the station uses its own configuration: the door is in its storage folder)
        config = cfg.load(scanned[1])
    except (cfg.ConfigError, OSError):
        return None  # the command says what is wrong, here
    return door.call(StoragePaths.of(config).door, argv, sys.stdout, sys.stderr)


Remote = Callable[[argparse.Namespace, Any, Any, Any, Any], int]


def handler(station: Any, parse: Callable[[list[str]], argparse.Namespace]) -> door.Handler:
    """What the station's door makes of a request: the command run with `station`."""

    def handle(request: door.Request) -> door.Command | str:
        try:
            args = parse(request.argv)
        except ValueError as exc:
            return f"its arguments do not parse: {exc}"
        remote: Remote | None = getattr(args, "remote", None)
        if getattr(args, "command", None) not in FORWARDED or remote is None or args.demo:
            return "not a command the station runs for others"
        args.cfg = station.config
        args.cwd = request.cwd
        log.info("door: %s for a command next to this station", args.command)
        return lambda out, err, stop: remote(args, station, out, err, stop)

    return handle


def open_door(station: Any, parse: Callable[[list[str]], argparse.Namespace]
              ) -> door.Door | None:
    """The station's door, open when this process runs the jobs (only that one may take
    the socket's path: it holds the jobs lock); else None."""
    if not station.runs_jobs_here:
        return None
    entrance = door.Door(StoragePaths.of(station.config).door, handler(station, parse))
    return entrance if entrance.start() else None


class DoorWhenRunning:
    """The station's door, open once the station runs the jobs: at `start()` when it
    already does (`mw-tui serve`), else as soon as it does (the kiosk's station starts
    inside the app; a station takes the jobs over when the process that ran them stops);
    until `close()`."""

    POLL = 0.5  # seconds between two looks

    def __init__(self, station: Any, parse: Callable[[list[str]], argparse.Namespace]
                 ) -> None:
        self.station, self.parse = station, parse
        self.entrance: door.Door | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DoorWhenRunning:
        if not self._try():
            self._thread = threading.Thread(target=self._run, name="door-opener",
                                            daemon=True)
            self._thread.start()
        return self

    def _try(self) -> bool:
        """Whether to stop looking: the door is open, or cannot be."""
        try:
            self.entrance = open_door(self.station, self.parse)
        except Exception:  # the commands then run by themselves, as without a door
            log.exception("door: cannot open the station's door")
            return True
        return self.entrance is not None

    def _run(self) -> None:
        while not self._closing.wait(self.POLL):
            if self._try():
                return

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.entrance is not None:
            self.entrance.stop()
