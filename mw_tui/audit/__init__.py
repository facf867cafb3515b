"""DICOM audit messages (PS3.15 A.5, IHE ATNA) sent to the hospital's audit repository.

Callers fill plain values (`events`) and hand them to an `AuditTrail`, which writes each
message to a durable spool and delivers it as RFC 5424 syslog over TLS (RFC 5425) or UDP
(RFC 5426). This package sits low: it imports only `mw_tui.config`.
"""

from mw_tui.audit.codes import Action, AlertType, MediaKind, Outcome
from mw_tui.audit.events import (
    ApplicationActivity,
    BeginTransferring,
    Export,
    Import,
    InstancesTransferred,
    Lifecycle,
    Media,
    Node,
    Patient,
    Query,
    Requestor,
    SecurityAlert,
    SopClass,
    Source,
    Station,
    Study,
    User,
    UserAuthentication,
)
from mw_tui.audit.messages import build, query_identifier
from mw_tui.audit.sender import TrailState, TrailStatus
from mw_tui.audit.trail import AuditTrail

__all__ = [
    "Action",
    "AlertType",
    "ApplicationActivity",
    "AuditTrail",
    "BeginTransferring",
    "Export",
    "Import",
    "InstancesTransferred",
    "Lifecycle",
    "Media",
    "MediaKind",
    "Node",
    "Outcome",
    "Patient",
    "Query",
    "Requestor",
    "SecurityAlert",
    "SopClass",
    "Source",
    "Station",
    "Study",
    "TrailState",
    "TrailStatus",
    "User",
    "UserAuthentication",
    "build",
    "query_identifier",
]
