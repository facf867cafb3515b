"""The [mcm] section: media asked for by a RIS or a PACS over DICOM (Media Creation
Management, PS3.4 Annex S)."""

from __future__ import annotations

from dataclasses import dataclass

from mw_tui.config.checks import check_callers, check_choice, item
from mw_tui.config.targets import check_target

PROFILES = ("STD-GEN-CD", "STD-GEN-DVD", "STD-GEN-DVD-JPEG", "STD-GEN-DVD-J2K",
            "STD-GEN-USB-JPEG", "STD-GEN-USB-J2K")
ANY_CALLER = "*"


def check_mcm_callers(values: list[str]) -> str | None:
    problem = check_callers([v for v in values if v != ANY_CALLER])
    return problem and problem.replace("AE titles or", "\"*\", AE titles or")


@dataclass(frozen=True)
class McmConfig:
    enabled: bool = item(
        "Accept media creation requests (Media Creation Management SCP, SOP class "
        "1.2.840.10008.5.1.1.33) on station.port.", default=False)
    allowed_callers: list[str] = item(
        "Who may ask for media: calling AE titles and/or IP networks, \"*\" = every caller "
        "the station accepts; empty = nobody.", check_mcm_callers, default_factory=list)
    target: str = item(
        "Where requested media are written: disc, usb, iso:PATH, cloud:NAME or "
        "publisher:NAME.", check_target, default="disc")
    profile: str = item(
        "Media profile of a request that names none (empty = media.default_profile).",
        check_choice("", *PROFILES), default="")
