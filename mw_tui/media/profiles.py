"""Media application profiles (PS3.11) and the capacity of each kind of medium."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from mw_tui.standard import sop

JPEG_LOSSLESS_14: Final = "1.2.840.10008.1.2.4.57"
JPEG_LS_LOSSLESS: Final = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS: Final = "1.2.840.10008.1.2.4.81"
RLE_LOSSLESS: Final = "1.2.840.10008.1.2.5"


class Profile(StrEnum):
    """The General Purpose profiles this station writes (PS3.11 Annex D and its DVD/USB
    counterparts)."""

    STD_GEN_CD = "STD-GEN-CD"
    STD_GEN_DVD = "STD-GEN-DVD"
    STD_GEN_DVD_JPEG = "STD-GEN-DVD-JPEG"
    STD_GEN_DVD_J2K = "STD-GEN-DVD-J2K"
    STD_GEN_USB_JPEG = "STD-GEN-USB-JPEG"
    STD_GEN_USB_J2K = "STD-GEN-USB-J2K"

    @property
    def transfer_syntaxes(self) -> frozenset[str]:
        """The transfer syntaxes files on such a medium may have."""
        return _ALLOWED[self]

    @property
    def is_usb(self) -> bool:
        return self.value.startswith("STD-GEN-USB")

    @property
    def default_medium(self) -> Medium:
        if self is Profile.STD_GEN_CD:
            return MEDIA["CD"]
        return MEDIA["USB"] if self.is_usb else MEDIA["DVD"]


# The profiles each kind of medium takes (a disc or an ISO image; a USB stick).
DISC_PROFILES: Final = (Profile.STD_GEN_CD, Profile.STD_GEN_DVD, Profile.STD_GEN_DVD_JPEG,
                        Profile.STD_GEN_DVD_J2K)
USB_PROFILES: Final = (Profile.STD_GEN_USB_JPEG, Profile.STD_GEN_USB_J2K)

_JPEG = frozenset({sop.JPEG_BASELINE, sop.JPEG_EXTENDED, sop.JPEG_LOSSLESS_SV1})
_J2K = frozenset({sop.JPEG_2000_LOSSLESS, sop.JPEG_2000})
_PLAIN = frozenset({sop.EXPLICIT_VR_LE})
_ALLOWED: dict[Profile, frozenset[str]] = {
    Profile.STD_GEN_CD: _PLAIN,
    Profile.STD_GEN_DVD: _PLAIN,
    Profile.STD_GEN_DVD_JPEG: _PLAIN | _JPEG,
    Profile.STD_GEN_DVD_J2K: _PLAIN | _J2K,
    Profile.STD_GEN_USB_JPEG: _PLAIN | _JPEG,
    Profile.STD_GEN_USB_J2K: _PLAIN | _J2K,
}

# Transfer syntaxes whose compression loses information, with the Lossy Image
# Compression Method (0028,2114) defined term for each.
LOSSY_METHODS: Final[dict[str, str]] = {
    sop.JPEG_BASELINE: "ISO_10918_1",
    sop.JPEG_EXTENDED: "ISO_10918_1",
    JPEG_LS_NEAR_LOSSLESS: "ISO_14495_1",
    sop.JPEG_2000: "ISO_15444_1",  # lossy only when the code-stream says so (see transcode)
}


def parse_profile(value: str) -> Profile:
    """The profile named `value` (case-insensitive); ValueError listing the choices."""
    try:
        return Profile(value.strip().upper())
    except ValueError:
        raise ValueError(f"unknown media profile {value!r} (choose from "
                         f"{', '.join(p.value for p in Profile)})") from None


SECTOR: Final = 2048


@dataclass(frozen=True, slots=True)
class Medium:
    """A kind of medium: how many bytes an image may have, and its allocation unit."""

    name: str
    capacity: int | None  # None: limited by the target's free space (USB), given at build time
    block: int = SECTOR


# Smallest common capacity of each kind of blank, in 2048-byte sectors as xorriso reports
# them: CD-R 80 min, DVD+R, DVD-R DL, BD-R 25 GB without spare areas.
MEDIA: Final[dict[str, Medium]] = {
    "CD": Medium("CD", 359_846 * SECTOR),  # 737 MB ("700 MB")
    "DVD": Medium("DVD", 2_295_104 * SECTOR),  # 4.70 GB
    "DVD-DL": Medium("DVD-DL", 4_171_712 * SECTOR),  # 8.54 GB
    "BD": Medium("BD", 12_219_392 * SECTOR),  # 25.0 GB
    # FAT32 allocates whole clusters: 32 KiB is the cluster size of sticks up to 32 GB+.
    "USB": Medium("USB", None, 32 * 1024),
}


def parse_size(value: str) -> int:
    """Bytes from "700M", "4.7G", "123456" (decimal units, as media are sold; KiB/MiB/GiB
    for binary ones). ValueError when it is not a size."""
    text = value.strip().upper().replace(" ", "")
    units = {"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
             "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "B": 1}
    unit = next((u for u in units if text.endswith(u)), "")
    number, factor = (text[: -len(unit)], units[unit]) if unit else (text, 1)
    try:
        size = int(float(number) * factor)
    except ValueError:
        raise ValueError(f"{value!r} is not a size (examples: 700M, 4.7G, 123456789)") from None
    if size <= 0:
        raise ValueError(f"{value!r}: a size must be positive")
    return size
