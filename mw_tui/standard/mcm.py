"""Media Creation Management terms (PS3.4 Annex S, PS3.3 C.22.1): the states of a media
creation request, the words that say why, and the reasons a referenced instance failed."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

INITIATE: Final = 1  # N-ACTION Action Type ID: Initiate Media Creation
CANCEL: Final = 2  # N-ACTION Action Type ID: Cancel Media Creation

PRIORITIES: Final = ("HIGH", "MED", "LOW")  # Request Priority (2200,0020)
NON_DICOM: Final = ("NO", "FOR_PHYSICIAN", "FOR_PATIENT", "FOR_TEACHING", "FOR_RESEARCH")


class ExecutionStatus(StrEnum):
    """Execution Status (2100,0020) of a request."""

    IDLE = "IDLE"  # created (N-CREATE), not initiated yet
    PENDING = "PENDING"  # initiated, waiting for its turn
    CREATING = "CREATING"  # being made
    DONE = "DONE"  # every medium made
    FAILURE = "FAILURE"  # failed (or cancelled): Execution Status Info says why


class StatusInfo(StrEnum):
    """Execution Status Info (2100,0030): defined terms, and CANCELLED of this station."""

    NORMAL = "NORMAL"
    QUEUED = "QUEUED"  # waiting in the queue
    NO_INSTANCE = "NO_INSTANCE"  # a referenced instance is not available
    SET_OVERSIZED = "SET_OVERSIZED"  # needs more than one medium, splitting not allowed
    INST_OVERSIZED = "INST_OVERSIZED"  # one instance is larger than the medium
    INST_AP_CONFLICT = "INST_AP_CONFLICT"  # an instance the profile does not allow
    NOT_SUPPORTED = "NOT_SUPPORTED"  # something asked for that the station cannot do
    PROC_FAILURE = "PROC_FAILURE"  # any other failure while making the media
    MCD_FAILURE = "MCD_FAILURE"  # the writer (drive, folder, robot) failed
    CHECK_MCD_OP = "CHECK_MCD_OP"  # the operator must act (insert a blank medium)
    CANCELLED = "CANCELLED"  # cancelled (by the requester or at the station)


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) of an item of the Failed SOP Sequence."""

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_INSTANCE = 0x0112
    CLASS_INSTANCE_CONFLICT = 0x0119
    CLASS_NOT_SUPPORTED = 0x0122
    PROFILES_CONFLICT = 0x0201  # two different profiles requested in one request
    PROFILE_NOT_SUPPORTED = 0x0204
    INSTANCE_TOO_LARGE = 0x0205  # a single instance exceeds the medium's capacity
