"""`mw-tui demo-archive`: the embedded demo archive alone, in the foreground."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from mw_tui.config import check_ae_title
from mw_tui.util.logs import setup_logging

log = logging.getLogger("mw_tui.demo")

DEFAULT_PORT = 11113
_DESTINATION = re.compile(r"^(?P<ae>[^=@]{1,16})[=@](?P<host>[^:]+):(?P<port>\d{1,5})$")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo-archive", help="run the embedded demo archive (a Query/Retrieve SCP)",
        description="Serve the generated sample studies (and pydicom's test files) as a "
                    "Query/Retrieve archive: C-FIND, C-MOVE, C-GET and C-ECHO. The samples "
                    "are generated at first use. Stops on SIGTERM or Ctrl-C.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"listen on this port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--ae-title", default=None, help="the archive's AE title (default MW_DEMO)")
    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--data", metavar="DIR",
                   help="folder of the sample data, generated there at first use; other "
                        "DICOM files put there are served too (default $MW_TUI_DEMO_DATA, "
                        "else ~/.cache/mw-tui/demo)")
    p.add_argument("--destination", action="append", default=[], metavar="AE=HOST:PORT",
                   help="a C-MOVE destination the archive knows (repeatable); the "
                        "configured station is always known")
    p.add_argument("--samples", choices=["full", "tiny", "none"], default="full",
                   help="which sample set to generate (tiny: a few instances per series; "
                        "none: serve --data as it is)")
    p.set_defaults(run=run_demo_archive, log_to_stderr=False)


def parse_destination(text: str) -> tuple[str, str, int]:
    """`AE=HOST:PORT` (or AE@HOST:PORT) -> (ae, host, port); ValueError saying what is wrong."""
    m = _DESTINATION.match(text.strip())
    if not m or check_ae_title(m["ae"]) or not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"--destination {text!r}: expected AE=HOST:PORT, for example "
                         "MW_TUI=127.0.0.1:11112")
    return m["ae"].strip(), m["host"], int(m["port"])


def run_demo_archive(args: argparse.Namespace) -> int:
    from mw_tui.station.demo import DEFAULT_AE_TITLE, DemoArchiveError, demo_archive

    setup_logging(args.log_level or args.cfg.station.log_level, to_stderr=False)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    ae_title = args.ae_title or DEFAULT_AE_TITLE
    problems = []
    if check_ae_title(ae_title):
        problems.append(f"--ae-title {ae_title!r}: must be {check_ae_title(ae_title)}")
    if not 0 <= args.port <= 65535:
        problems.append(f"--port {args.port}: must be 0 (any free port) to 65535")
    station = args.cfg.station
    station_host = "127.0.0.1" if station.bind in ("0.0.0.0", "::", "") else station.bind
    destinations = {station.ae_title: (station_host, station.port)}
    for text in args.destination:
        try:
            ae, host, port = parse_destination(text)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        destinations[ae] = (host, port)
    if problems:
        for p in problems:
            print(f"mw-tui demo-archive: {p}", file=sys.stderr)
        return 2
    archive = demo_archive(Path(args.data) if args.data else None, ae_title, args.port,
                           args.bind, destinations, args.samples, log)
    try:
        archive.start()
    except DemoArchiveError as exc:
        print(f"mw-tui demo-archive: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    assert archive.catalog is not None
    _, studies, _, instances = archive.catalog.counts()
    print(f"mw-tui demo archive: AE title {archive.ae_title}, host {archive.host}, port "
          f"{archive.port} ({studies} studies, {instances} instances from {archive.data_dir})",
          flush=True)
    known = ", ".join(f"{ae}={h}:{p}" for ae, (h, p) in archive.destinations().items())
    print(f"C-MOVE destinations: {known}", flush=True)
    stop.wait()
    log.info("stopping (signal received)")
    archive.stop()
    return 0
