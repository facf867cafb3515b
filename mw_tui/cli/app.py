"""The kiosk app from the command line: `mw-tui` (no command), `mw-tui --demo`,
`mw-tui web` (the same app in a browser, through textual-serve) and `mw-tui admin-pin`.

Textual is imported only inside the functions that start the app.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import logging.handlers
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from mw_tui import config as cfg
from mw_tui.cli.door import DoorWhenRunning
from mw_tui.util.logs import FORMAT, setup_logging

MIN_COLUMNS, MIN_LINES = 80, 24
WEB_DRIVER_ENV = "TEXTUAL_DRIVER"  # set by textual-serve for the apps it starts

log = logging.getLogger("mw_tui.app")


def register(sub: Any) -> None:
    p = sub.add_parser("web", help="serve the app to a browser (remote support)",
                       description="Serve the station's screens to a web browser with "
                                   "textual-serve. Each browser tab runs the app; it listens "
                                   "on 127.0.0.1 only unless --host says otherwise: reach it "
                                   "through an SSH tunnel (ssh -L 8000:127.0.0.1:8000 "
                                   "station).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(run=run_web)

    p = sub.add_parser("admin-pin", help="set the admin PIN that opens the Settings screen",
                       description="Ask for a new admin PIN (4 to 12 digits) and write its "
                                   "hash into the configuration file ([ui] admin_pin). "
                                   "Without a terminal, the PIN is read from standard input.")
    p.set_defaults(run=run_admin_pin)


# -- the app ----------------------------------------------------------------------------


def terminal_problem() -> str | None:
    """Why the app cannot draw here (no terminal, too small), or None."""
    if os.environ.get(WEB_DRIVER_ENV):
        return None  # textual-serve: the browser is the terminal
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return ("mw-tui needs a terminal: run it on the console, in tmux, or over `ssh -t`; "
                "for a browser use `mw-tui web`; for the receiver alone, `mw-tui serve`.")
    size = shutil.get_terminal_size((0, 0))
    if size.columns and size.lines and (size.columns < MIN_COLUMNS or size.lines < MIN_LINES):
        from mw_tui.util.text import terminal_too_small

        return terminal_too_small(size.columns, size.lines)
    return None


def app_log_file(config: cfg.Config) -> Path:
    """The app draws on the terminal, so it logs to a file next to the store."""
    return cfg.StoragePaths.of(config).log_file


def _log_to_file(level: str, path: Path) -> None:
    from mw_tui.util import privacy

    setup_logging(level, to_stderr=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000,
                                                       backupCount=3, encoding="utf-8")
    except OSError as exc:
        print(f"mw-tui: cannot write the log file {path} ({exc}); logging nothing",
              file=sys.stderr)
        return
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.getLogger().addHandler(handler)
    privacy.install(logging.getLogger())


def run_app(args: argparse.Namespace) -> int:
    problem = terminal_problem()
    if problem:
        print(f"mw-tui: {problem}", file=sys.stderr)
        return 2
    from mw_tui.app import MwApp
    from mw_tui.station import Station

    station = Station(args.cfg, demo=args.demo, receiver_nice=10)  # the screens come first
    _log_to_file(args.log_level or args.cfg.station.log_level, app_log_file(station.config))
    log.info("starting the app%s", " (demo)" if args.demo else "")
    app = MwApp(station)
    entrance = DoorWhenRunning(station, args.parse_other).start()  # burns next to it
    try:
        app.run()
    finally:
        entrance.close()
        station.stop()
    if app.return_code:
        return app.return_code
    return 0


# -- in a browser -----------------------------------------------------------------------


def web_command(args: argparse.Namespace) -> str:
    """The command textual-serve starts for each browser session."""
    argv = [sys.executable, "-m", "mw_tui"]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    if args.log_level:
        argv += ["--log-level", args.log_level]
    if args.demo:
        argv.append("--demo")
    return shlex.join(argv)


def run_web(args: argparse.Namespace) -> int:
    from textual_serve.server import Server

    if not 1 <= args.port <= 65535:
        print(f"mw-tui web: --port {args.port}: a TCP port from 1 to 65535", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"mw-tui web: WARNING: listening on {args.host}: anybody who can reach port "
              f"{args.port} gets the station's screens (Settings stay behind the admin PIN). "
              "Prefer 127.0.0.1 and an SSH tunnel.", file=sys.stderr)
    setup_logging(args.log_level or args.cfg.station.log_level, to_stderr=True)
    command = web_command(args)
    print(f"mw-tui web: serving the station on http://{args.host}:{args.port} "
          f"(Ctrl-C stops)", flush=True)
    server = Server(command, host=args.host, port=args.port, title="mw-tui")
    server.serve()
    return 0


# -- the admin PIN ----------------------------------------------------------------------


def run_admin_pin(args: argparse.Namespace) -> int:
    from mw_tui.station.pin import check_pin_text, hash_pin

    path = cfg.find_config(args.config) or (
        cfg.SYSTEM_PATH if os.geteuid() == 0 else cfg.user_config_path())
    if sys.stdin.isatty():
        pin = getpass.getpass("New admin PIN (4 to 12 digits): ")
        again = getpass.getpass("The same PIN again: ")
        if pin != again:
            print("mw-tui admin-pin: the two PINs differ; nothing changed", file=sys.stderr)
            return 1
    else:
        pin = sys.stdin.readline().strip()
    problem = check_pin_text(pin)
    if problem:
        print(f"mw-tui admin-pin: use {problem}; nothing changed", file=sys.stderr)
        return 2
    try:
        file = cfg.ConfigFile(path)
        file.set("ui", "admin_pin", hash_pin(pin))
        file.save()
    except cfg.ConfigError as exc:
        print(f"mw-tui admin-pin: {path} is invalid, fix it first:", file=sys.stderr)
        for e in exc.errors:
            print(f"  - {e}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mw-tui admin-pin: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"admin PIN set in {path} (stored as a hash); a running station uses it after a "
          "restart")
    return 0
