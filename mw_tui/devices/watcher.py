"""Watch udev for optical drives, discs and USB sticks: a plain thread with callbacks.

Each udev event is converted at the boundary into a frozen model (`models.py`);
devices are tracked by their DEVPATH because a removed device's properties are gone
(on loop devices removal is a `change` that drops every ID_* property, then a
`remove`). Devices already present are reported as added by `start()`.

The callbacks run on the watcher's thread; a UI posts them on as messages.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mw_tui.devices.models import (
    Device,
    OpticalDrive,
    UsbStick,
    device_from_properties,
    partition_from_properties,
)

log = logging.getLogger(__name__)

DeviceCallback = Callable[[Device], None]
ProblemCallback = Callable[[str], None]

UDEV_CONTROL = Path("/run/udev/control")
SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr", "/var", "/home")


def system_devices(mounts: Path = Path("/proc/mounts")) -> set[str]:
    """Device names holding the system's own file systems (never offered as targets)."""
    out: set[str] = set()
    try:
        for line in mounts.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("/dev/") and parts[1] in SYSTEM_MOUNTS:
                out.add(os.path.realpath(parts[0]))
    except OSError:
        pass
    return out


def _int_attr(device: Any, name: str) -> int:
    try:
        return int(device.attributes.get(name, b"0").decode().strip() or 0)
    except (ValueError, OSError, AttributeError):
        return 0


def convert(device: Any, system: set[str] | None = None) -> Device | None:
    """A pyudev disk device (with its partitions from the udev database) -> model."""
    props = {k: str(device.properties[k]) for k in device.properties}
    size = _int_attr(device, "size") * 512
    read_only = _int_attr(device, "ro") == 1
    partitions = []
    if props.get("ID_BUS") == "usb" and not props.get("ID_CDROM"):
        for child in device.context.list_devices(subsystem="block").match_parent(device):
            if child.device_type != "partition" or child == device:
                continue
            cprops = {k: str(child.properties[k]) for k in child.properties}
            partitions.append(partition_from_properties(
                cprops, _int_attr(child, "size") * 512, _int_attr(child, "ro") == 1 or read_only))
    devname = props.get("DEVNAME", "")
    writable = bool(devname) and os.access(devname, os.R_OK | os.W_OK)
    return device_from_properties(props, size, read_only, partitions, writable,
                                  system if system is not None else system_devices())


class DeviceWatcher:
    """Reports optical drives and USB sticks as they come, change and go.

    `on_added`, `on_changed` and `on_removed` get the device model (`on_removed`: the
    last one seen); `on_problem` gets one clear sentence when the station cannot watch
    devices or may not use one.
    """

    def __init__(
        self,
        on_added: DeviceCallback,
        on_changed: DeviceCallback,
        on_removed: DeviceCallback,
        on_problem: ProblemCallback | None = None,
        context_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._on_added = on_added
        self._on_changed = on_changed
        self._on_removed = on_removed
        self._on_problem = on_problem or (lambda msg: log.warning("%s", msg))
        self._context_factory = context_factory
        self._devices: dict[str, Device] = {}
        self._lock = threading.Lock()
        self._told: set[str] = set()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._monitor: Any = None
        self._context: Any = None

    # -- service ----------------------------------------------------------------------

    def start(self) -> bool:
        """Enumerate the devices present and start watching; False (after one message to
        `on_problem`) when udev cannot be watched."""
        try:
            import pyudev

            self._context = (self._context_factory or pyudev.Context)()
            self._monitor = pyudev.Monitor.from_netlink(self._context)
            self._monitor.filter_by("block")
            self._monitor.start()
        except (OSError, ImportError) as exc:
            self._problem(
                f"The station cannot watch for discs and USB sticks ({_reason(exc)}): run it "
                "as a user allowed to read udev events (the kiosk's service user), or check "
                "that udev is running.")
            self._monitor = None
            return False
        if not UDEV_CONTROL.exists():
            self._problem("udev is not running, so new discs and USB sticks are not noticed: "
                          "start systemd-udevd (systemctl start systemd-udevd).")
        for device in self._list_disks():
            self._update(device)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="device-watcher", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(5)
            self._thread = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._monitor = None

    def devices(self) -> list[Device]:
        """The drives and sticks present now."""
        with self._lock:
            return list(self._devices.values())

    def drives(self) -> list[OpticalDrive]:
        return [d for d in self.devices() if isinstance(d, OpticalDrive)]

    def sticks(self) -> list[UsbStick]:
        return [d for d in self.devices() if isinstance(d, UsbStick)]

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        monitor = self._monitor
        while True:
            try:
                ready, _, _ = select.select([monitor, self._wake_r], [], [])
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                return
            try:
                event = monitor.poll(0)
            except OSError as exc:
                log.warning("udev event lost: %s", exc)
                continue
            if event is None:
                continue
            try:
                self._handle(event)
            except Exception:  # one odd device must not stop the watcher
                log.exception("udev event for %s not understood", event.device_path)

    def _handle(self, event: Any) -> None:
        if event.device_type == "partition":
            if event.action == "remove":
                # the partition's parent is in the database; re-read it
                parent_path = event.sys_path.rsplit("/", 1)[0]
                self._refresh(parent_path)
            else:
                parent = event.find_parent("block", "disk")
                if parent is not None:
                    self._refresh(parent.sys_path)
            return
        if event.device_type != "disk":
            return
        if event.action == "remove":
            self._forget(event.properties.get("DEVPATH", ""))
        else:
            self._update(event)

    def _refresh(self, sys_path: str) -> None:
        import pyudev

        try:
            disk = pyudev.Devices.from_sys_path(self._context, sys_path)
        except Exception:  # gone meanwhile
            return
        self._update(disk)

    def _update(self, device: Any) -> None:
        devpath = str(device.properties.get("DEVPATH", ""))
        model = convert(device)
        with self._lock:
            old = self._devices.get(devpath)
            if model is None:
                self._devices.pop(devpath, None)
            else:
                self._devices[devpath] = model
        if model is None:
            if old is not None:
                self._call(self._on_removed, old)
            return
        if not model.writable:
            self._permission_problem(model)
        if old is None:
            self._call(self._on_added, model)
        elif old != model:
            self._call(self._on_changed, model)

    def _forget(self, devpath: str) -> None:
        with self._lock:
            old = self._devices.pop(devpath, None)
        if old is not None:
            self._call(self._on_removed, old)

    def _list_disks(self) -> list[Any]:
        try:
            return list(self._context.list_devices(subsystem="block", DEVTYPE="disk"))
        except OSError as exc:
            self._problem(f"The station cannot list its drives and sticks ({_reason(exc)}).")
            return []

    def _call(self, callback: DeviceCallback, device: Device) -> None:
        try:
            callback(device)
        except Exception:
            log.exception("device callback failed for %s", device.devname)

    def _permission_problem(self, device: Device) -> None:
        if isinstance(device, OpticalDrive):
            self._problem(
                f"The station may not write to the disc drive {device.devname}: add its user "
                "to the 'cdrom' group (the kiosk installer does), then restart the station.",
                "permission-optical")
        else:
            self._problem(
                f"The station may not write to the USB stick {device.devname}: add its user "
                "to the 'disk' group or use udisks2 as the mount command "
                "([devices] usb_mount_command), then restart the station.", "permission-usb")

    def _problem(self, message: str, key: str = "") -> None:
        """Tell `on_problem` once per kind of problem (`key`), not once per event."""
        key = key or message
        if key in self._told:
            return
        self._told.add(key)
        try:
            self._on_problem(message)
        except Exception:
            log.exception("problem callback failed")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, ImportError):
        return "pyudev is not installed"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
