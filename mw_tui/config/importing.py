"""The `[importing]` section: taking a patient's outside disc or stick into the PACS."""

from __future__ import annotations

from dataclasses import dataclass

from mw_tui.config.checks import check_command, in_range, item


def check_destination(value: str) -> str | None:
    if value.startswith("cloud:") and not value.removeprefix("cloud:"):
        return "an archive name, or cloud:NAME with the name of a [[targets]] entry"
    return None


@dataclass(frozen=True)
class ImportingConfig:
    destination: str = item(
        "Where imported studies go: the name of an [[archives]] entry (C-STORE), or "
        "cloud:NAME of a [[targets]] entry (STOW-RS); empty = the first archive.",
        check_destination, default="")
    issuer: str = item(
        "Issuer of Patient ID of this hospital's patient IDs: given to imported studies "
        "with their local patient ID when none is typed (empty = none).", default="")
    new_uids: bool = item(
        "Give imported instances new Study, Series and SOP Instance UIDs (references between "
        "them follow). Off: the outside UIDs are kept, so importing the same disc again "
        "replaces instead of duplicating.", default=False)
    detect: bool = item(
        "Look at each disc and stick as it is inserted and say when it holds DICOM files "
        "(the status bar, F9 Import); a stick is mounted read-only for the moment it is "
        "read. Media a job is writing are left alone.", default=True)
    associations: int = item(
        "Associations (or STOW-RS requests) an import sends on at once.",
        in_range(1, 16, "a whole number"), default=4)
    timeout: float = item("Seconds to wait for the archive's answer to each instance.",
                          in_range(1, 3600, "seconds"), default=60.0)
    mount_command: str = item(
        "Command that mounts an outside stick read-only; {device} and {mountpoint} are "
        "filled in (FUSE: \"fusefat -o ro {device} {mountpoint}\"). A mount that is not "
        "read-only is undone and refused.",
        check_command, default="mount -o ro,nosuid,nodev,noexec {device} {mountpoint}")
    unmount_command: str = item(
        "Command that unmounts it again (FUSE: \"fusermount -u {mountpoint}\").",
        check_command, default="umount {mountpoint}")
