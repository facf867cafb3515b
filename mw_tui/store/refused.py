"""What the store answers when it does not keep an instance, and what it says of one
it kept."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Refusal(StrEnum):
    """Why the store did not keep an instance (the network layer answers each with its
    DIMSE status, `dicom.refusal.STATUS_OF`)."""

    OUT_OF_SPACE = "out of space"
    MALFORMED = "malformed"
    BAD_UID = "bad uid"
    CLASS_MISMATCH = "class mismatch"
    WRITE_FAILED = "write failed"


class Refused(Exception):
    """The instance was not stored, for `why`; `reason` says it in words."""

    def __init__(self, why: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.why = why
        self.reason = reason


class OutOfSpace(Refused):
    def __init__(self, reason: str) -> None:
        super().__init__(Refusal.OUT_OF_SPACE, reason)


@dataclass(frozen=True, slots=True)
class StoredInstance:
    sop_uid: str
    sop_class: str
    study_uid: str
    series_uid: str
    path: Path
    size: int
    replaced: bool
    patient_name: str
    patient_id: str
    calling_ae: str
