"""Where a job can go, from the configuration and the devices present. No Textual here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mw_tui.config import Config
from mw_tui.devices.models import Device, MediaState, OpticalDrive, UsbStick
from mw_tui.media.profiles import Profile
from mw_tui.station import data_home

DISC_PROFILES = (Profile.STD_GEN_CD, Profile.STD_GEN_DVD, Profile.STD_GEN_DVD_JPEG,
                 Profile.STD_GEN_DVD_J2K)
USB_PROFILES = (Profile.STD_GEN_USB_JPEG, Profile.STD_GEN_USB_J2K)


@dataclass(frozen=True, slots=True)
class TargetChoice:
    target: str  # as jobs write it: disc:/dev/sr0, usb:/dev/sdb, iso:/folder, cloud:NAME
    kind: str  # disc, usb, iso, cloud
    label: str
    device: Device | None = None
    ready: bool = True  # a blank disc in the drive, a writable stick, ...


def demo_iso_folder() -> Path:
    return data_home() / "mw-tui" / "demo" / "iso"


def iso_folder(config: Config, demo: bool) -> str:
    if config.devices.iso_folder:
        return config.devices.iso_folder
    return str(demo_iso_folder()) if demo else ""


def short_path(path: str, room: int = 34) -> str:
    """A folder as it fits on one line: ~ for the home folder, the end kept."""
    home = str(Path.home())
    if path == home or path.startswith(home + "/"):
        path = "~" + path[len(home):]
    return path if len(path) <= room else "…" + path[-(room - 1):]


def choices(config: Config, devices: Sequence[Device], demo: bool = False
            ) -> list[TargetChoice]:
    out: list[TargetChoice] = []
    for d in devices:
        if isinstance(d, OpticalDrive):
            m = d.media
            ready = m.state is MediaState.BLANK or (m.rewritable and m.present)
            out.append(TargetChoice(f"disc:{d.devname}", "disc", f"Disc: {d.describe()}",
                                    d, ready))
    for d in devices:
        if isinstance(d, UsbStick):
            ready = not d.read_only and d.target() is not None
            out.append(TargetChoice(f"usb:{d.devname}", "usb", f"USB: {d.describe()}", d,
                                    ready))
    folder = iso_folder(config, demo)
    if folder:
        out.append(TargetChoice(f"iso:{folder}", "iso", f"ISO file in {short_path(folder)}"))
    for t in config.targets:
        out.append(TargetChoice(f"cloud:{t.name}", "cloud", f"Cloud: {t.name} ({t.url})"))
    return out


def default_choice(found: Sequence[TargetChoice], demo: bool = False) -> TargetChoice | None:
    """The demo writes ISO files; a station, a ready disc, else a stick, else the rest."""
    if not found:
        return None
    order = ("iso", "disc", "usb", "cloud") if demo else ("disc", "usb", "iso", "cloud")
    ready = [c for c in found if c.ready]
    for kind in order:
        for c in ready:
            if c.kind == kind:
                return c
    return found[0]


def profiles_for(kind: str) -> tuple[Profile, ...]:
    if kind == "usb":
        return USB_PROFILES
    if kind == "cloud":
        return ()
    return DISC_PROFILES


def default_profile(kind: str, configured: str) -> Profile | None:
    allowed = profiles_for(kind)
    if not allowed:
        return None
    for p in allowed:
        if p.value == configured:
            return p
    return allowed[0] if kind == "usb" else Profile.STD_GEN_DVD
