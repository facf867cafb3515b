"""Media Creation Management as the receiver sees it: the request, its state and the one
protocol the receiver calls (`MediaCreation`), in plain values.

The receiver decodes N-CREATE, N-ACTION and N-GET (`nservice.py`) into these values and
hands them to a `MediaCreation` made in each worker process by a picklable factory: the
application layer implements it (jobs of the queue); this package never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mw_tui.standard import status
from mw_tui.standard.mcm import ExecutionStatus, StatusInfo
from mw_tui.store import Store


@dataclass(frozen=True, slots=True)
class Reference:
    """An item of the Referenced SOP Sequence: one instance to put on the media."""

    sop_class: str
    sop_instance: str
    profile: str = ""  # Requested Media Application Profile, "" = the station's choice


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """The attributes of an N-CREATE (None / "" = not sent: the station decides)."""

    references: tuple[Reference, ...]
    fileset_id: str = ""  # Storage Media File-Set ID
    copies: int | None = None  # Number of Copies
    priority: str = ""  # Request Priority: HIGH, MED, LOW
    label_from_instances: bool | None = None  # Label Using Information Extracted ...
    label_text: str = ""
    label_style: str = ""
    disposition: str = ""  # Media Disposition
    barcode: str = ""  # Barcode Value
    barcode_symbology: str = ""
    allow_splitting: bool | None = None
    allow_lossy: bool | None = None
    non_dicom: str = ""  # Include Non-DICOM Objects: NO, FOR_PHYSICIAN, ...
    display_application: bool | None = None  # Include Display Application
    preserve: bool | None = None  # Preserve Composite Instances After Media Creation

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (references as [class, instance, profile] lists)."""
        out: dict[str, object] = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["references"] = [[r.sop_class, r.sop_instance, r.profile] for r in self.references]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> MediaRequest:
        refs = values.get("references") or []
        assert isinstance(refs, list)
        known = {k: v for k, v in values.items()
                 if k in cls.__dataclass_fields__ and k != "references"}
        return cls(tuple(Reference(*r) for r in refs), **known)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FailedInstance:
    """An item of the Failed SOP Sequence."""

    sop_class: str
    sop_instance: str
    reason: int  # Failure Reason (standard.mcm.FailureReason)


@dataclass(frozen=True, slots=True)
class RequestState:
    """What N-GET reports of a request."""

    request: MediaRequest
    status: ExecutionStatus
    info: StatusInfo
    pieces: int = 0  # Total Number of Pieces of Media Created
    failed: tuple[FailedInstance, ...] = ()
    media: tuple[str, ...] = ()  # File-set IDs of the media made (Referenced Storage Media)
    job_id: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to N-CREATE or N-ACTION: a DIMSE status, the request's SOP Instance UID
    and, when it failed, why (the Error Comment, at most 64 characters are sent)."""

    status: int = status.SUCCESS
    uid: str = ""
    comment: str = ""
    job_id: int = 0  # the job the request is (or became), 0 = none yet

    @property
    def ok(self) -> bool:
        return self.status == status.SUCCESS


class MediaCreation(Protocol):
    """What the receiver asks of the station; every call is safe from any thread."""

    def create(self, request: MediaRequest, uid: str, caller: str) -> Outcome:
        """Record a request (`uid` "" = make one); the Outcome carries its UID."""
        ...

    def initiate(self, uid: str, caller: str, priority: str = "",
                 copies: int | None = None) -> Outcome: ...

    def cancel(self, uid: str, caller: str) -> Outcome: ...

    def state(self, uid: str) -> RequestState | None:
        """None when there is no such request."""
        ...


MediaCreationFactory = Callable[[Store], MediaCreation]
"""Made once per receiver worker process, with that worker's store (must be picklable)."""
