"""How big a job will be, and on how many media it goes. No Textual here.

Studies already in the store count with their exact file sizes; studies still on an
archive are estimated from their instance count (a typical size per modality), and the
screens say so. The media count uses the media builder's own spanning rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mw_tui.devices.models import MediaState, OpticalDrive, UsbStick
from mw_tui.media import span as spanning
from mw_tui.media.profiles import MEDIA, SECTOR, Medium, Profile

# Typical bytes per instance, uncompressed (what an archive sends for each modality).
TYPICAL_INSTANCE = {"CT": 530_000, "MR": 200_000, "CR": 8_000_000, "DX": 10_000_000,
                    "MG": 30_000_000, "US": 900_000, "NM": 300_000, "PT": 300_000,
                    "XA": 5_000_000, "RF": 2_000_000, "SR": 40_000, "DOC": 200_000,
                    "SC": 1_000_000, "OT": 1_000_000}
DEFAULT_INSTANCE = 1_000_000


@dataclass(frozen=True, slots=True)
class StudySize:
    study_uid: str
    bytes: int
    instances: int
    exact: bool  # from the store's files, not an estimate


@dataclass(frozen=True, slots=True)
class Fit:
    """The job against one medium."""

    total: int  # bytes of DICOM content
    exact: bool
    medium: str  # "CD", "DVD", "DVD-DL", "BD", "USB", "ISO (DVD size)", ...
    capacity: int | None
    media: int  # how many media (0: does not fit at all)
    problem: str = ""

    @property
    def fits_one(self) -> bool:
        return self.media == 1


def typical(modalities: Sequence[str], instances: int) -> int:
    per = max((TYPICAL_INSTANCE.get(m, DEFAULT_INSTANCE) for m in modalities if m),
              default=DEFAULT_INSTANCE)
    return per * instances


def media_count(sizes: Sequence[StudySize], capacity: int | None, block: int = SECTOR
                ) -> tuple[int, str]:
    """(media needed, problem); spread with the builder's rules, each study as one
    series of equal instances."""
    if capacity is None:
        return (1, "") if sizes else (0, "")
    studies = []
    for s in sizes:
        n = max(1, s.instances)
        studies.append([[max(1, s.bytes // n)] * n])
    try:
        return len(spanning.span(studies, capacity, block)), ""
    except spanning.DoesNotFit as exc:
        return 0, str(exc)


def medium_for(kind: str, profile: Profile, device: object | None = None) -> Medium:
    """The medium a target writes: the blank disc in the drive, the stick, else the
    profile's own medium (ISO files are cut to the size of the profile's disc)."""
    if kind == "disc" and isinstance(device, OpticalDrive):
        m = device.media
        if m.state is MediaState.BLANK and m.capacity:
            return Medium(m.type.value if m.type.value != "unknown" else "disc", m.capacity)
    if kind == "usb" and isinstance(device, UsbStick):
        return Medium("USB", device.size, MEDIA["USB"].block)
    if kind == "cloud":
        return Medium("cloud", None)
    return profile.default_medium


def fit(sizes: Sequence[StudySize], kind: str, profile: Profile,
        device: object | None = None) -> Fit:
    medium = medium_for(kind, profile, device)
    total = sum(s.bytes for s in sizes)
    exact = all(s.exact for s in sizes)
    count, problem = media_count(sizes, medium.capacity, medium.block)
    name = medium.name if kind != "iso" else f"ISO ({medium.name} size)"
    return Fit(total, exact, name, medium.capacity, count, problem)
