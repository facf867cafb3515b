"""DICOM audit messages as XML (PS3.15 A.5.1 schema, A.5.3 messages): one builder per event.

`build(event, station, source)` returns the AuditMessage document as text (one line, no
indentation, so a syslog line holds it whole). Elements follow the schema's order;
characters XML 1.0 cannot carry (control characters in bad data) become U+FFFD.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from mw_tui.audit import codes as c
from mw_tui.audit.codes import Action, Code, MediaKind
from mw_tui.audit.events import (
    AnyEvent,
    ApplicationActivity,
    BeginTransferring,
    Event,
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
    Source,
    Station,
    Study,
    User,
    UserAuthentication,
)

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_KIND_NAMES = {MediaKind.CD: "CD", MediaKind.DVD: "DVD", MediaKind.BD: "BD",
               MediaKind.USB: "USB", MediaKind.FILE: "ISO file", MediaKind.FOLDER: "folder",
               MediaKind.NETWORK: "URI"}


def clean(text: str) -> str:
    """`text` with the characters XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def timestamp(at: datetime.datetime | None) -> str:
    """xsd:dateTime with the time zone (A.5.2.5); now when `at` is None."""
    at = at or datetime.datetime.now(datetime.UTC).astimezone()
    if at.tzinfo is None:
        at = at.astimezone()  # a naive time is the station's local time
    return at.isoformat(timespec="milliseconds")


def address_type(host: str) -> str:
    """NetworkAccessPointTypeCode of a host: 2 for an IP address, 1 for a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return c.MACHINE_NAME
    return c.IP_ADDRESS


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: clean(v) for k, v in attrs.items()})


def _coded(parent: ET.Element, tag: str, code: Code) -> ET.Element:
    return _sub(parent, tag, **{"csd-code": code.value, "codeSystemName": code.scheme,
                                "originalText": code.meaning})


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


class _Message:
    """An AuditMessage being put together in the schema's order."""

    def __init__(self, event_id: Code, action: Action, event: Event,
                 types: Iterable[Code] = ()) -> None:
        self.root = ET.Element("AuditMessage")
        ident = _sub(self.root, "EventIdentification", EventActionCode=action.value,
                     EventDateTime=timestamp(event.at),
                     EventOutcomeIndicator=event.outcome.value)
        _coded(ident, "EventID", event_id)
        for code in types:
            _coded(ident, "EventTypeCode", code)
        if event.description:
            ET.SubElement(ident, "EventOutcomeDescription").text = clean(event.description)
        self.participants: list[ET.Element] = []
        self.objects: list[ET.Element] = []

    def participant(self, user_id: str, requestor: bool, role: Code | None = None, *,
                    alt: str = "", name: str = "", nap: str = "", nap_type: str = "",
                    media: Code | None = None) -> None:
        attrs = {"UserID": user_id}
        if alt:
            attrs["AlternativeUserID"] = alt
        if name:
            attrs["UserName"] = name
        attrs["UserIsRequestor"] = "true" if requestor else "false"
        if nap:
            attrs["NetworkAccessPointID"] = nap
            attrs["NetworkAccessPointTypeCode"] = nap_type or address_type(nap)
        el = ET.Element("ActiveParticipant", {k: clean(v) for k, v in attrs.items()})
        if role is not None:
            _coded(el, "RoleIDCode", role)
        if media is not None:
            _coded(_sub(el, "MediaIdentifier"), "MediaType", media)
        self.participants.append(el)

    def station(self, station: Station, requestor: bool, role: Code | None) -> None:
        self.participant(station.ae_title, requestor, role,
                         alt=f"AETITLES={station.ae_title}", name=station.process,
                         nap=station.address)

    def node(self, node: Node, requestor: bool, role: Code | None) -> None:
        self.participant(node.ae_title or node.host, requestor, role,
                         alt=f"AETITLES={node.ae_title}" if node.ae_title else "",
                         nap=node.host)

    def user(self, user: User, requestor: bool, role: Code | None = None,
             default_host: str = "") -> None:
        self.participant(user.id, requestor, role, name=user.name,
                         nap=user.host or default_host)

    def media(self, media: Media, role: Code) -> None:
        kind = _KIND_NAMES[media.kind]
        uri = media.target
        if media.kind in (MediaKind.FILE, MediaKind.FOLDER) and media.target.startswith("/"):
            uri = PurePosixPath(media.target).as_uri()
        networked = media.kind in (MediaKind.FILE, MediaKind.FOLDER, MediaKind.NETWORK)
        user_id = uri if networked else f"{kind} {media.label}"
        name = f"{kind} {media.label} ({media.target})"
        if media.md5:
            name += f", md5 {media.md5}"
        self.participant(user_id, False, role, alt=media.label, name=name,
                         nap=uri if networked else "", nap_type=c.NAP_URI,
                         media=c.MEDIA_TYPES[media.kind])

    def obj(self, object_id: str, id_type: Code, type_code: str, role: str = "", *,
            name: str = "", query: bytes | None = None,
            details: Iterable[tuple[str, bytes | str]] = ()) -> ET.Element:
        attrs = {"ParticipantObjectID": object_id, "ParticipantObjectTypeCode": type_code}
        if role:
            attrs["ParticipantObjectTypeCodeRole"] = role
        el = ET.Element("ParticipantObjectIdentification",
                        {k: clean(v) for k, v in attrs.items()})
        _coded(el, "ParticipantObjectIDTypeCode", id_type)
        if query is not None:
            ET.SubElement(el, "ParticipantObjectQuery").text = _b64(query)
        else:
            ET.SubElement(el, "ParticipantObjectName").text = clean(name or object_id)
        for kind, value in details:
            _sub(el, "ParticipantObjectDetail", type=kind, value=_b64(value))
        self.objects.append(el)
        return el

    def patient(self, patient: Patient) -> None:
        self.obj(patient.id, c.PATIENT_NUMBER, c.PERSON, c.ROLE_PATIENT, name=patient.name)

    def study(self, study: Study, anonymized: bool | None = None) -> None:
        el = self.obj(study.uid, c.STUDY_INSTANCE_UID, c.SYSTEM_OBJECT, c.ROLE_REPORT,
                      name=study.description)
        if not study.sop_classes:  # SOPClass is required once the description is there
            return
        desc = _sub(el, "ParticipantObjectDescription")
        if study.accession:
            _sub(desc, "Accession", Number=study.accession)
        for sop in study.sop_classes:
            _sub(desc, "SOPClass", UID=sop.uid, NumberOfInstances=str(sop.instances))
        if anonymized is not None:
            ET.SubElement(desc, "Anonymized").text = "true" if anonymized else "false"

    def xml(self, source: Source) -> str:
        self.root.extend(self.participants)
        attrs = {"AuditSourceID": source.source_id}
        if source.site_id:
            attrs = {"AuditEnterpriseSiteID": source.site_id, **attrs}
        ident = _sub(self.root, "AuditSourceIdentification", **attrs)
        _sub(ident, "AuditSourceTypeCode", **{"csd-code": c.SOURCE_APPLICATION_SERVER})
        self.root.extend(self.objects)
        return XML_DECLARATION + ET.tostring(self.root, encoding="unicode")


def _application_activity(e: ApplicationActivity, station: Station) -> _Message:
    kind = c.APPLICATION_START if e.action is Lifecycle.START else c.APPLICATION_STOP
    m = _Message(c.APPLICATION_ACTIVITY, Action.EXECUTE, e, [kind])
    m.station(station, False, c.ROLE_APPLICATION)
    if e.launched_by is not None:
        m.user(e.launched_by, True, c.ROLE_APPLICATION_LAUNCHER)
    return m


def _export(e: Export, station: Station) -> _Message:
    m = _Message(c.EXPORT, Action.READ, e)
    m.station(station, e.user is None and e.requested_by is None, c.ROLE_SOURCE)
    if e.user is not None:
        m.user(e.user, True, c.ROLE_SOURCE, station.address)
    if e.requested_by is not None:
        m.node(e.requested_by, e.user is None, None)
    m.media(e.media, c.ROLE_DESTINATION_MEDIA)
    for study in e.studies:
        m.study(study, e.anonymized)
    for patient in e.patients:
        m.patient(patient)
    return m


def _import(e: Import, station: Station) -> _Message:
    m = _Message(c.IMPORT, Action.CREATE, e)
    m.station(station, e.user is None, c.ROLE_DESTINATION)
    if e.user is not None:
        m.user(e.user, True, c.ROLE_DESTINATION, station.address)
    m.media(e.media, c.ROLE_SOURCE_MEDIA)
    for study in e.studies:
        m.study(study)
    for patient in e.patients:
        m.patient(patient)
    return m


def _transfer(m: _Message, e: InstancesTransferred | BeginTransferring,
              station: Station) -> _Message:
    asked = e.user is None
    m.node(e.source, asked and e.requestor is Requestor.SOURCE, c.ROLE_SOURCE)
    destination_requests = asked and e.requestor is Requestor.DESTINATION
    if e.destination is None:
        m.station(station, destination_requests, c.ROLE_DESTINATION)
    else:
        m.node(e.destination, destination_requests, c.ROLE_DESTINATION)
    if e.user is not None:
        m.user(e.user, True, None, station.address)
    for study in e.studies:
        m.study(study)
    m.patient(e.patient)
    return m


def _instances_transferred(e: InstancesTransferred, station: Station) -> _Message:
    return _transfer(_Message(c.INSTANCES_TRANSFERRED, e.action, e), e, station)


def _begin_transferring(e: BeginTransferring, station: Station) -> _Message:
    return _transfer(_Message(c.BEGIN_TRANSFERRING, Action.EXECUTE, e), e, station)


def _user_authentication(e: UserAuthentication, station: Station) -> _Message:
    m = _Message(c.USER_AUTHENTICATION, Action.EXECUTE, e,
                 [c.LOGOUT if e.logout else c.LOGIN])
    m.user(e.user, True, None, station.address)
    m.station(station, False, None)
    return m


def _security_alert(e: SecurityAlert, station: Station) -> _Message:
    kind = Code(e.alert.value, "DCM", c.ALERT_MEANINGS[e.alert])
    m = _Message(c.SECURITY_ALERT, Action.EXECUTE, e, [kind])
    m.station(station, e.user is None, None)
    if e.user is not None:
        m.user(e.user, True, None, station.address)
    subject = e.subject or Node(station.ae_title, station.address)
    if e.subject is not None:
        m.node(e.subject, False, None)
    m.obj(subject.host or subject.ae_title, c.NODE_ID, c.SYSTEM_OBJECT,
          name=subject.ae_title or subject.host, details=[("Alert Description", e.detail)])
    return m


def _query(e: Query, station: Station) -> _Message:
    m = _Message(c.QUERY, Action.EXECUTE, e)
    if e.querying is None:
        m.station(station, e.user is None, c.ROLE_SOURCE)
    else:
        m.node(e.querying, e.user is None, c.ROLE_SOURCE)
    m.node(e.responder, False, c.ROLE_DESTINATION)
    if e.user is not None:
        m.user(e.user, True, None, station.address)
    m.obj(e.sop_class, c.SOP_CLASS_UID, c.SYSTEM_OBJECT, c.ROLE_REPORT, query=e.identifier,
          details=[("TransferSyntax", e.transfer_syntax)])
    return m


_BUILDERS: dict[type, Callable[[Any, Station], _Message]] = {
    ApplicationActivity: _application_activity,
    Export: _export,
    Import: _import,
    InstancesTransferred: _instances_transferred,
    BeginTransferring: _begin_transferring,
    UserAuthentication: _user_authentication,
    SecurityAlert: _security_alert,
    Query: _query,
}


def build(event: AnyEvent, station: Station, source: Source) -> str:
    """The AuditMessage of `event` as XML text; TypeError for something not an event."""
    builder = _BUILDERS.get(type(event))
    if builder is None:
        raise TypeError(f"not an audit event: {type(event).__name__}")
    return builder(event, station).xml(source)


def query_identifier(keys: dict[str, str], charset: str = "ISO_IR 192") -> bytes:
    """A C-FIND identifier from keyword -> value, Implicit VR Little Endian (for `Query`)."""
    from pydicom import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    ds = Dataset()
    ds.SpecificCharacterSet = charset
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return fp.getvalue()
