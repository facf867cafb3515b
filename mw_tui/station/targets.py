"""Where a job can go: the targets the configuration and the devices present offer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mw_tui.config import Config, Target, TargetKind
from mw_tui.devices.models import Device, MediaState, OpticalDrive, UsbStick
from mw_tui.devices.writers import Writer, writer_class
from mw_tui.media.profiles import Profile
from mw_tui.station.core import demo_root
from mw_tui.station.labels import PublisherInfo


@dataclass(frozen=True, slots=True)
class TargetChoice:
    target: Target
    label: str
    device: Device | None = None
    ready: bool = True  # a blank disc in the drive, a writable stick, ...

    @property
    def kind(self) -> TargetKind:
        return self.target.kind

    @property
    def writer(self) -> type[Writer]:
        """The writer's class: what this target needs and can do."""
        return writer_class(self.target.kind)


def demo_iso_folder() -> Path:
    return demo_root() / "iso"


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


def choices(config: Config, devices: Sequence[Device], demo: bool = False,
            publishers: Sequence[PublisherInfo] = ()) -> list[TargetChoice]:
    """Every target a job can go to now; `publishers`: the disc robots and their state."""
    out: list[TargetChoice] = []
    for d in devices:
        if isinstance(d, OpticalDrive):
            m = d.media
            ready = m.state is MediaState.BLANK or (m.rewritable and m.present)
            out.append(TargetChoice(Target(TargetKind.DISC, d.devname),
                                    f"Disc: {d.describe()}", d, ready))
    for d in devices:
        if isinstance(d, UsbStick):
            ready = not d.read_only and d.target() is not None
            out.append(TargetChoice(Target(TargetKind.USB, d.devname), f"USB: {d.describe()}",
                                    d, ready))
    folder = iso_folder(config, demo)
    if folder:
        out.append(TargetChoice(Target(TargetKind.ISO, folder),
                                f"ISO file in {short_path(folder)}"))
    for t in config.targets:
        out.append(TargetChoice(Target(TargetKind.CLOUD, t.name), f"Cloud: {t.name} ({t.url})"))
    for p in publishers:
        out.append(TargetChoice(Target(TargetKind.PUBLISHER, p.name), f"Publisher: {p.message}",
                                ready=p.ready))
    return out


def default_choice(found: Sequence[TargetChoice], demo: bool = False) -> TargetChoice | None:
    """The demo writes ISO files; a station, a ready disc, else a stick, else the rest."""
    if not found:
        return None
    order = ((TargetKind.ISO, TargetKind.DISC, TargetKind.USB, TargetKind.CLOUD) if demo else
             (TargetKind.PUBLISHER, TargetKind.DISC, TargetKind.USB, TargetKind.ISO,
              TargetKind.CLOUD))
    ready = [c for c in found if c.ready]
    for kind in order:
        for c in ready:
            if c.kind is kind:
                return c
    return found[0]


def default_profile(writer: type[Writer], configured: str) -> Profile | None:
    """The configured profile when the target takes it, else its first (DVD for discs)."""
    allowed = writer.profiles
    if not allowed:
        return None
    for p in allowed:
        if p.value == configured:
            return p
    return Profile.STD_GEN_DVD if Profile.STD_GEN_DVD in allowed else allowed[0]
