"""What the tests read out of audit messages and syslog lines."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.audit import schema

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
HEADER = re.compile(
    rb"^<(?P<pri>\d{1,3})>(?P<version>1) (?P<timestamp>\S+) (?P<hostname>\S+) "
    rb"(?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|\[.*?\]) (?P<msg>.*)$", re.S)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Syslog:
    pri: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    sd: str
    xml: str


def syslog(line: bytes) -> Syslog:
    """One RFC 5424 message with a BOM and XML as MSG; AssertionError when it is not."""
    m = HEADER.match(line)
    assert m, f"not an RFC 5424 message: {line[:120]!r}"
    msg = m["msg"]
    assert msg.startswith(BOM), f"MSG does not start with a BOM: {msg[:20]!r}"
    timestamp = m["timestamp"].decode()
    assert TIMESTAMP.match(timestamp), timestamp
    return Syslog(int(m["pri"]), timestamp, m["hostname"].decode(), m["app"].decode(),
                  m["procid"].decode(), m["msgid"].decode(), m["sd"].decode(),
                  msg[len(BOM):].decode("utf-8"))


def parse(xml: str) -> ET.Element:
    """The AuditMessage, checked against the schema of PS3.15 A.5.1."""
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?><AuditMessage>')
    assert "\n" not in xml
    root = ET.fromstring(xml.encode("utf-8"))
    assert schema.problems(root) == []
    return root


def code(el: ET.Element | None) -> tuple[str, str, str]:
    assert el is not None
    return (el.get("csd-code", ""), el.get("codeSystemName", ""), el.get("originalText", ""))


def event_id(root: ET.Element) -> str:
    return code(root.find("EventIdentification/EventID"))[0]


def event(root: ET.Element) -> dict[str, str]:
    el = root.find("EventIdentification")
    assert el is not None
    return dict(el.attrib)


def event_types(root: ET.Element) -> list[str]:
    return [code(el)[0] for el in root.findall("EventIdentification/EventTypeCode")]


@dataclass(frozen=True)
class Participant:
    user_id: str
    roles: tuple[str, ...]
    requestor: bool
    attrs: dict[str, str]
    media_type: str


def participants(root: ET.Element) -> list[Participant]:
    out = []
    for el in root.findall("ActiveParticipant"):
        media = el.find("MediaIdentifier/MediaType")
        out.append(Participant(
            el.get("UserID", ""), tuple(code(r)[0] for r in el.findall("RoleIDCode")),
            el.get("UserIsRequestor") == "true", dict(el.attrib),
            code(media)[0] if media is not None else ""))
    return out


def with_role(root: ET.Element, role: str) -> list[Participant]:
    return [p for p in participants(root) if role in p.roles]


def requestors(root: ET.Element) -> list[str]:
    return [p.user_id for p in participants(root) if p.requestor]


def objects(root: ET.Element, id_type: str) -> list[ET.Element]:
    return [el for el in root.findall("ParticipantObjectIdentification")
            if code(el.find("ParticipantObjectIDTypeCode"))[0] == id_type]


def patients(root: ET.Element) -> dict[str, str]:
    """Patient ID -> name of the patient objects (checked to be coded as A.5.3 says)."""
    out = {}
    for el in objects(root, "2"):
        assert code(el.find("ParticipantObjectIDTypeCode")) == ("2", "RFC-3881",
                                                                "Patient Number")
        assert el.get("ParticipantObjectTypeCode") == "1"
        assert el.get("ParticipantObjectTypeCodeRole") == "1"
        out[el.get("ParticipantObjectID", "")] = el.findtext("ParticipantObjectName", "")
    return out


def studies(root: ET.Element) -> dict[str, dict[str, int]]:
    """Study UID -> {SOP class UID: instances} of the study objects."""
    out = {}
    for el in objects(root, "110180"):
        assert el.get("ParticipantObjectTypeCode") == "2"
        assert el.get("ParticipantObjectTypeCodeRole") == "3"
        out[el.get("ParticipantObjectID", "")] = {
            s.get("UID", ""): int(s.get("NumberOfInstances", "-1"))
            for s in el.findall("ParticipantObjectDescription/SOPClass")}
    return out
