"""The drives and sticks the station sees, for `mw-tui devices` (support staff)."""

from __future__ import annotations

from collections.abc import Callable

from mw_tui.devices.models import Device
from mw_tui.devices.watcher import DeviceWatcher

DeviceCallback = Callable[[Device], None]


def watch(on_added: DeviceCallback, on_changed: DeviceCallback, on_removed: DeviceCallback,
          on_problem: Callable[[str], None]) -> DeviceWatcher:
    """A device watcher (not started: `start()` is False when udev cannot be read, after
    `on_problem` said why; `devices()` lists what is there; `stop()`)."""
    return DeviceWatcher(on_added, on_changed, on_removed, on_problem)
