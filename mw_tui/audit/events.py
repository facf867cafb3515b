"""What callers fill in: plain frozen values for each audited event (PS3.15 A.5.3).

Every event has `outcome`, an optional `description` (EventOutcomeDescription, say what
failed) and `at` (when it happened; now when left out). Everything else is a value the
caller already knows: patients, studies, AE titles, hosts, users, media.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.audit.codes import IMPLICIT_VR_LE, Action, AlertType, MediaKind, Outcome


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    name: str = ""  # DICOM person name, e.g. "Doe^John"


@dataclass(frozen=True, slots=True)
class SopClass:
    """One SOP class of a study and how many of its instances the event concerns."""

    uid: str
    instances: int


@dataclass(frozen=True, slots=True)
class Study:
    uid: str
    sop_classes: tuple[SopClass, ...] = ()
    accession: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Node:
    """A DICOM application elsewhere: its AE title and host name or IP address."""

    ae_title: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A person: the login name, the person's name, and the host they work at."""

    id: str
    name: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True)
class Media:
    """A medium written or read: kind, volume label, where (target) and its md5."""

    kind: MediaKind
    label: str
    target: str  # "disc:/dev/sr0", "usb:/dev/sdb", "/srv/iso/X.iso", a STOW-RS URL, ...
    md5: str = ""


@dataclass(frozen=True, slots=True)
class Station:
    """This station as a participant: its AE title and the address it is reported by."""

    ae_title: str
    address: str
    process: str = "mw-tui"


@dataclass(frozen=True, slots=True)
class Source:
    """AuditSourceIdentification: who reports (AuditSourceID) and the site."""

    source_id: str
    site_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    outcome: Outcome = Outcome.SUCCESS
    description: str = ""
    at: datetime.datetime | None = None


class Lifecycle(StrEnum):
    START = "start"
    STOP = "stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationActivity(Event):
    """The station started or stopped (110100)."""

    action: Lifecycle
    launched_by: User | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Export(Event):
    """One medium written (110106): the patients and studies on it, and the medium."""

    patients: tuple[Patient, ...]
    studies: tuple[Study, ...]
    media: Media
    user: User | None = None  # who asked at the station
    requested_by: Node | None = None  # a remote application that asked (e.g. a RIS)
    anonymized: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Import(Event):
    """Studies imported from a medium (110107)."""

    patients: tuple[Patient, ...]
    studies: tuple[Study, ...]
    media: Media
    user: User | None = None


class Requestor(StrEnum):
    """Who asked for a transfer when no user did: the receiver (a retrieve) or the sender."""

    DESTINATION = "destination"
    SOURCE = "source"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancesTransferred(Event):
    """A transfer between two applications finished (110104), e.g. a retrieve.

    `destination` is this station when left out. `action` is CREATE when the receiver
    did not hold the instances, READ when it already held them all.
    """

    patient: Patient
    studies: tuple[Study, ...]
    source: Node
    destination: Node | None = None
    user: User | None = None
    requestor: Requestor = Requestor.DESTINATION
    action: Action = Action.CREATE


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginTransferring(Event):
    """A transfer between two applications begins (110102)."""

    patient: Patient
    studies: tuple[Study, ...]
    source: Node
    destination: Node | None = None
    user: User | None = None
    requestor: Requestor = Requestor.DESTINATION


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuthentication(Event):
    """A login (or logout) attempt, e.g. the Settings PIN (110114)."""

    user: User
    logout: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityAlert(Event):
    """A security event (110113): a refused association, a failed TLS handshake, ...

    `detail` says what happened (the Alert Description); `subject` is the peer.
    The default outcome, MINOR_FAILURE, says the station stopped it.
    """

    alert: AlertType
    detail: str
    subject: Node | None = None
    user: User | None = None
    outcome: Outcome = Outcome.MINOR_FAILURE


@dataclass(frozen=True, slots=True, kw_only=True)
class Query(Event):
    """A C-FIND sent (110112): the identifier as encoded (see `query_identifier`).

    `querying` is this station when left out; `responder` is the archive.
    """

    responder: Node
    sop_class: str
    identifier: bytes
    transfer_syntax: str = IMPLICIT_VR_LE
    querying: Node | None = None
    user: User | None = None


AnyEvent = (ApplicationActivity | Export | Import | InstancesTransferred | BeginTransferring
            | UserAuthentication | SecurityAlert | Query)
