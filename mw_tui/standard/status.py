"""Named DIMSE status codes (PS3.4 and PS3.7 Annex C) used by the station."""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 0x0000
CANCEL: Final = 0xFE00
PENDING: Final = 0xFF00
PENDING_WARNING: Final = 0xFF01  # C-FIND pending, optional keys not supported

# Storage
OUT_OF_RESOURCES: Final = 0xA700  # refused: out of resources (disk full)
DATASET_MISMATCH: Final = 0xA900  # error: data set does not match SOP class
CANNOT_UNDERSTAND: Final = 0xC000  # error: cannot understand (0xCxxx)
CANNOT_UNDERSTAND_UID: Final = 0xC001  # error: an identifying UID is missing or invalid
CANNOT_STORE: Final = 0xC002  # error: the store failed for a reason of ours
COERCION: Final = 0xB000  # warning: coercion of data elements
ELEMENTS_DISCARDED: Final = 0xB007
SOP_CLASS_NOT_SUPPORTED: Final = 0x0122
UNRECOGNIZED_OPERATION: Final = 0x0211
MISTYPED_ARGUMENT: Final = 0x0212

# DIMSE-N (PS3.7 Annex C) and Media Creation Management (PS3.4 Annex S)
NO_SUCH_ATTRIBUTE: Final = 0x0105
INVALID_ATTRIBUTE_VALUE: Final = 0x0106
PROCESSING_FAILURE: Final = 0x0110
DUPLICATE_SOP_INSTANCE: Final = 0x0111
NO_SUCH_SOP_INSTANCE: Final = 0x0112
INVALID_ARGUMENT_VALUE: Final = 0x0115
INVALID_OBJECT_INSTANCE: Final = 0x0117
NO_SUCH_SOP_CLASS: Final = 0x0118
CLASS_INSTANCE_CONFLICT: Final = 0x0119
MISSING_ATTRIBUTE: Final = 0x0120
MISSING_ATTRIBUTE_VALUE: Final = 0x0121
NO_SUCH_ACTION: Final = 0x0123
RESOURCE_LIMITATION: Final = 0x0213
OPTIONAL_ATTRIBUTES_NOT_SUPPORTED: Final = 0x0001  # MCM N-GET warning
ALREADY_INITIATED: Final = 0xA510  # an Initiate Media Creation was already received
ALREADY_COMPLETED: Final = 0xC201  # media creation request already completed
CANNOT_INTERRUPT: Final = 0xC202  # in progress and cannot be interrupted
CANCEL_DENIED: Final = 0xC203  # cancellation denied for unspecified reason

# Query/Retrieve
MOVE_DESTINATION_UNKNOWN: Final = 0xA801
QR_OUT_OF_RESOURCES_MATCHES: Final = 0xA701
QR_OUT_OF_RESOURCES_SUBOPS: Final = 0xA702
IDENTIFIER_MISMATCH: Final = 0xA900
UNABLE_TO_PROCESS: Final = 0xC000
SUBOPS_WITH_FAILURES: Final = 0xB000


def is_failure(status: int) -> bool:
    """True for the failure classes (everything but success, warning, pending, cancel)."""
    return not (
        status == SUCCESS
        or status in (CANCEL, PENDING, PENDING_WARNING)
        or 0xB000 <= status <= 0xBFFF
        or status == 0x0107
        or status == 0x0116
    )


def is_warning(status: int) -> bool:
    return 0xB000 <= status <= 0xBFFF or status in (0x0107, 0x0116)


def describe(status: int) -> str:
    """A short text for a status code, for logs and messages."""
    names = {
        SUCCESS: "success",
        CANCEL: "cancelled",
        PENDING: "pending",
        PENDING_WARNING: "pending (some keys not supported)",
        OUT_OF_RESOURCES: "out of resources",
        0xA701: "out of resources: unable to calculate number of matches",
        0xA702: "out of resources: unable to perform sub-operations",
        MOVE_DESTINATION_UNKNOWN: "move destination unknown",
        DATASET_MISMATCH: "data set does not match SOP class",
        SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
        UNRECOGNIZED_OPERATION: "unrecognized operation",
        MISTYPED_ARGUMENT: "mistyped argument",
        SUBOPS_WITH_FAILURES: "warning (sub-operations with failures, or coercion)",
        INVALID_ATTRIBUTE_VALUE: "invalid attribute value",
        PROCESSING_FAILURE: "processing failure",
        DUPLICATE_SOP_INSTANCE: "duplicate SOP instance",
        NO_SUCH_SOP_INSTANCE: "no such SOP instance",
        NO_SUCH_SOP_CLASS: "no such SOP class",
        MISSING_ATTRIBUTE: "missing attribute",
        MISSING_ATTRIBUTE_VALUE: "missing attribute value",
        NO_SUCH_ACTION: "no such action",
        ALREADY_INITIATED: "media creation already initiated",
        ALREADY_COMPLETED: "media creation request already completed",
        CANNOT_INTERRUPT: "media creation in progress and cannot be interrupted",
    }
    if status in names:
        return names[status]
    if 0xC000 <= status <= 0xCFFF:
        return "cannot understand / unable to process"
    if 0xA700 <= status <= 0xA7FF:
        return "out of resources"
    if 0xB000 <= status <= 0xBFFF:
        return "warning"
    return f"status 0x{status:04X}"
