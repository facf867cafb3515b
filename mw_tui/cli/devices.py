"""`mw-tui devices`: the disc drives and USB sticks the station sees (for support staff)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from typing import Any

from mw_tui.cli.common import EXIT_FAILED, EXIT_OK
from mw_tui.station.models import Device, OpticalDrive


def register(sub: Any) -> None:
    p = sub.add_parser(
        "devices", help="list the disc drives and USB sticks the station sees",
        description="List the optical drives (with the disc in them) and USB sticks (with "
                    "their partitions) udev reports. --watch keeps reporting plugs, disc "
                    "changes and removals until Ctrl-C (or for SECONDS).")
    p.add_argument("--json", action="store_true", help="print JSON (one object per device)")
    p.add_argument("--watch", nargs="?", const=0.0, type=float, metavar="SECONDS",
                   help="keep reporting changes (for SECONDS; without a number until Ctrl-C)")
    p.set_defaults(run=run_devices)


def as_dict(device: Device) -> dict[str, Any]:
    return {"kind": device.kind.value, **dataclasses.asdict(device)}


def describe(device: Device) -> list[str]:
    if isinstance(device, OpticalDrive):
        return [f"drive  {device.describe()}"]
    lines = [f"stick  {device.describe()}"]
    lines += [f"         {p.describe()}" for p in device.partitions] or [
        "         no partitions"]
    return lines


def run_devices(args: argparse.Namespace) -> int:
    from mw_tui.station.devices import watch
    from mw_tui.station.labels import publishers

    lock = threading.Lock()
    started = threading.Event()

    def show(action: str) -> Any:
        def report(device: Device) -> None:
            if not started.is_set():
                return  # the initial list is printed below, in order
            with lock:
                if args.json:
                    print(json.dumps({"event": action, **as_dict(device)}), flush=True)
                else:
                    print(f"{action}: {describe(device)[0].split(None, 1)[1]}", flush=True)
        return report

    def problem(message: str) -> None:
        print(f"mw-tui devices: {message}", file=sys.stderr, flush=True)

    watcher = watch(show("added"), show("changed"), show("removed"), problem)
    if not watcher.start():
        return EXIT_FAILED
    try:
        devices = sorted(watcher.devices(), key=lambda d: (d.kind.value, d.devname))
        robots = publishers(args.cfg)
        with lock:
            if args.json:
                print(json.dumps([as_dict(d) for d in devices]
                                 + [{"kind": "publisher", **dataclasses.asdict(p)}
                                    for p in robots],
                                 indent=None if args.watch is not None else 2), flush=True)
            else:
                for d in devices:
                    print("\n".join(describe(d)))
                for p in robots:
                    print(f"robot  {p.message}")
                if not devices and not robots:
                    print("no disc drive, USB stick or disc publisher found")
        if args.watch is not None:
            started.set()
            threading.Event().wait(args.watch or None)
    finally:
        watcher.stop()
    return EXIT_OK

