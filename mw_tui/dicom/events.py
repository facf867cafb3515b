"""What the receiver reports: small frozen dataclasses, safe to pass between processes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AssociationOpened:
    calling_ae: str
    called_ae: str
    peer: str


@dataclass(frozen=True, slots=True)
class AssociationClosed:
    calling_ae: str
    peer: str
    stored: int
    failed: int
    how: str  # released, aborted, timed out, closed, protocol error


@dataclass(frozen=True, slots=True)
class AssociationRejected:
    calling_ae: str
    peer: str
    reason: str


@dataclass(frozen=True, slots=True)
class TlsRefused:
    """A TLS connection refused during its handshake (no or an untrusted certificate...)."""

    peer: str
    reason: str


@dataclass(frozen=True, slots=True)
class InstanceStored:
    sop_uid: str
    sop_class: str
    study_uid: str
    series_uid: str
    patient_name: str
    patient_id: str
    calling_ae: str
    size: int
    replaced: bool


@dataclass(frozen=True, slots=True)
class InstanceRefused:
    sop_uid: str
    calling_ae: str
    peer: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class StudyChanged:
    """Coalesced: the study's content changed (new or replaced instances)."""

    study_uid: str
    instances_added: int


@dataclass(frozen=True, slots=True)
class MediaRequested:
    """A Media Creation Management request was created, initiated or cancelled."""

    calling_ae: str
    peer: str
    action: str  # "created", "initiated", "cancelled"
    uid: str  # the request's SOP Instance UID
    job_id: int  # its job (0: none yet)


ReceiverEvent = (
    AssociationOpened
    | AssociationClosed
    | AssociationRejected
    | TlsRefused
    | InstanceStored
    | InstanceRefused
    | StudyChanged
    | MediaRequested
)
