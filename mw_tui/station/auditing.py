"""What the station reports to the hospital's audit repository (`audit.AuditTrail`)
itself: its start and stop, connections it refused, searches it sent, logins to Settings.
The jobs report their media and retrieves (`jobs.atna`)."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from mw_tui.audit import (
    AlertType,
    ApplicationActivity,
    AuditTrail,
    Lifecycle,
    Node,
    Outcome,
    Query,
    SecurityAlert,
    User,
    UserAuthentication,
    query_identifier,
)
from mw_tui.config import Config
from mw_tui.dicom.events import AssociationRejected, ReceiverEvent, TlsRefused
from mw_tui.dicom.query import StudyQuery
from mw_tui.jobs.audit import current_user
from mw_tui.standard import sop


def this_user(host: str = "") -> User:
    return User(current_user(), host=host or socket.gethostname())


def host_of(peer: str) -> str:
    """"10.1.2.3:4711" -> "10.1.2.3" (IPv6 "[::1]:4711" -> "::1")."""
    host = peer.rsplit(":", 1)[0] if peer.count(":") == 1 or peer.startswith("[") else peer
    return host.strip("[]")


def lifecycle(trail: AuditTrail, action: Lifecycle) -> None:
    trail.record(ApplicationActivity(action=action, launched_by=this_user()))


def receiver_event(trail: AuditTrail, event: ReceiverEvent) -> None:
    """A refused association or TLS handshake is a security alert."""
    if isinstance(event, AssociationRejected):
        trail.record(SecurityAlert(alert=AlertType.NODE_AUTHENTICATION,
                                   subject=Node(event.calling_ae, host_of(event.peer)),
                                   detail=f"association refused: {event.reason}"))
    elif isinstance(event, TlsRefused):
        trail.record(SecurityAlert(alert=AlertType.NODE_AUTHENTICATION,
                                   subject=Node("", host_of(event.peer)),
                                   detail=f"TLS connection refused: {event.reason}"))


def queries(trail: AuditTrail, config: Config, query: StudyQuery,
            archives: Iterable[str] | None) -> None:
    """One Query message per archive asked (Study Root C-FIND)."""
    names = list(archives) if archives is not None else [a.name for a in config.archives]
    identifier = query_identifier(query.identifier())
    for name in names:
        try:
            a = config.archive(name)
        except KeyError:
            continue
        trail.record(Query(responder=Node(a.ae_title, a.host), sop_class=sop.STUDY_ROOT_FIND,
                           identifier=identifier, user=this_user()))


def login(trail: AuditTrail, ok: bool, locked: bool, host: str = "") -> None:
    """A PIN typed at the Settings screen: right, wrong, or wrong once too often."""
    outcome = (Outcome.SUCCESS if ok else Outcome.SERIOUS_FAILURE if locked
               else Outcome.MINOR_FAILURE)
    trail.record(UserAuthentication(user=this_user(host), outcome=outcome,
                                    description="" if ok else "wrong admin PIN" + (
                                        ": locked for a while" if locked else "")))
