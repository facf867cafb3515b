"""The DIMSE status that answers each reason the store gives for not keeping an instance."""

from __future__ import annotations

from mw_tui.standard import status
from mw_tui.store import Refusal, Refused

STATUS_OF: dict[Refusal, int] = {
    Refusal.OUT_OF_SPACE: status.OUT_OF_RESOURCES,
    Refusal.MALFORMED: status.CANNOT_UNDERSTAND,
    Refusal.BAD_UID: status.CANNOT_UNDERSTAND_UID,
    Refusal.CLASS_MISMATCH: status.DATASET_MISMATCH,
    Refusal.WRITE_FAILED: status.CANNOT_STORE,
}


def status_of(refused: Refused) -> int:
    """The C-STORE-RSP status for a refusal of the store."""
    return STATUS_OF[refused.why]
