"""The DICOM Audit Message Schema (PS3.15 A.5.1, RELAX NG compact) as structural checks.

No RELAX NG validator is installed, so the schema's rules are written out here: element
order and cardinality, required and allowed attributes, enumerated values, xsd types.
`problems(root)` lists every violation (empty when the message is valid).
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
BOOLEAN = {"true", "false", "1", "0"}
CODED = {"csd-code", "codeSystemName", "displayName", "originalText"}

Check = Callable[[ET.Element, str, list[str]], None]


def _attrs(el: ET.Element, where: str, out: list[str], required: set[str],
           optional: set[str], enums: dict[str, set[str]] | None = None) -> None:
    for name in required - el.attrib.keys():
        out.append(f"{where}: attribute {name} missing")
    for name in el.attrib.keys() - required - optional:
        out.append(f"{where}: attribute {name} not allowed")
    for name, allowed in (enums or {}).items():
        if name in el.attrib and el.attrib[name] not in allowed:
            out.append(f"{where}: {name}={el.attrib[name]!r} not one of {sorted(allowed)}")


def _sequence(el: ET.Element, where: str, out: list[str],
              pattern: list[tuple[str, int, int | None, Check | None]]) -> None:
    """Children must match `pattern`: (tag, min, max or None, check) in this order."""
    children = list(el)
    i = 0
    for tag, low, high, check in pattern:
        n = 0
        while i < len(children) and children[i].tag == tag:
            if check is not None:
                check(children[i], f"{where}/{tag}[{n + 1}]", out)
            n += 1
            i += 1
        if n < low or (high is not None and n > high):
            out.append(f"{where}: {n} x {tag}, expected {low}..{high if high is not None else 'n'}")
    for extra in children[i:]:
        out.append(f"{where}: unexpected element {extra.tag} (or out of order)")
    if (el.text or "").strip() and pattern:
        out.append(f"{where}: text not allowed")


def _empty(el: ET.Element, where: str, out: list[str]) -> None:
    if len(el) or (el.text or "").strip():
        out.append(f"{where}: must be empty")


def coded(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"csd-code", "codeSystemName", "originalText"}, {"displayName"})
    _empty(el, where, out)


def _base64(value: str, where: str, out: list[str]) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        out.append(f"{where}: not base64")


def _event(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"EventDateTime", "EventOutcomeIndicator"}, {"EventActionCode"},
           {"EventActionCode": set("CRUDE"), "EventOutcomeIndicator": {"0", "4", "8", "12"}})
    if not DATETIME.match(el.get("EventDateTime", "")):
        out.append(f"{where}: EventDateTime {el.get('EventDateTime')!r} is not an xsd:dateTime "
                   "with a time zone")
    _sequence(el, where, out, [("EventID", 1, 1, coded), ("EventTypeCode", 0, None, coded),
                               ("EventOutcomeDescription", 0, 1, None)])


def _media(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, set(), set())
    _sequence(el, where, out, [("MediaType", 1, 1, coded)])


def _participant(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"UserID", "UserIsRequestor"},
           {"AlternativeUserID", "UserName", "NetworkAccessPointID",
            "NetworkAccessPointTypeCode"},
           {"UserIsRequestor": BOOLEAN, "NetworkAccessPointTypeCode": set("12345")})
    _sequence(el, where, out, [("RoleIDCode", 0, None, coded),
                               ("MediaIdentifier", 0, 1, _media)])


def _source_type(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"csd-code"}, {"codeSystemName", "displayName", "originalText"})
    others = el.attrib.keys() & {"codeSystemName", "displayName", "originalText"}
    if others and not {"codeSystemName", "originalText"} <= others:
        out.append(f"{where}: codeSystemName and originalText go together")
    if el.get("csd-code") not in set("123456789") and "codeSystemName" not in el.attrib:
        out.append(f"{where}: a code other than 1-9 needs its codeSystemName")
    _empty(el, where, out)


def _source(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"AuditSourceID"}, {"AuditEnterpriseSiteID"})
    _sequence(el, where, out, [("AuditSourceTypeCode", 0, None, _source_type)])


def _uid(required: set[str]) -> Check:
    def check(el: ET.Element, where: str, out: list[str]) -> None:
        _attrs(el, where, out, required, set())
        _empty(el, where, out)
    return check


def _sop_class(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"NumberOfInstances"}, {"UID"})
    if not re.match(r"^[+-]?\d+$", el.get("NumberOfInstances", "")):
        out.append(f"{where}: NumberOfInstances is not an integer")
    _sequence(el, where, out, [("Instance", 0, None, _uid({"UID"}))])


def _contains_study(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, set(), set())
    _sequence(el, where, out, [("StudyIDs", 0, None, _uid({"UID"}))])


def _boolean(el: ET.Element, where: str, out: list[str]) -> None:
    if (el.text or "").strip() not in BOOLEAN or len(el) or el.attrib:
        out.append(f"{where}: must be an xsd:boolean")


def _description(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, set(), set())
    _sequence(el, where, out, [
        ("MPPS", 0, None, _uid({"UID"})), ("Accession", 0, None, _uid({"Number"})),
        ("SOPClass", 0, None, _sop_class), ("ParticipantObjectContainsStudy", 0, 1,
                                            _contains_study),
        ("Encrypted", 0, 1, _boolean), ("Anonymized", 0, 1, _boolean)])


def _detail(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"type", "value"}, set())
    _base64(el.get("value", ""), where, out)
    _empty(el, where, out)


def _object(el: ET.Element, where: str, out: list[str]) -> None:
    _attrs(el, where, out, {"ParticipantObjectID"},
           {"ParticipantObjectTypeCode", "ParticipantObjectTypeCodeRole",
            "ParticipantObjectDataLifeCycle", "ParticipantObjectSensitivity"},
           {"ParticipantObjectTypeCode": set("1234"),
            "ParticipantObjectTypeCodeRole": {str(i) for i in range(1, 27)},
            "ParticipantObjectDataLifeCycle": {str(i) for i in range(1, 16)}})
    children = [child.tag for child in el]
    has_name = "ParticipantObjectName" in children
    has_query = "ParticipantObjectQuery" in children
    if has_name == has_query:
        out.append(f"{where}: needs either ParticipantObjectName or ParticipantObjectQuery")
    for query in el.findall("ParticipantObjectQuery"):
        _base64(query.text or "", f"{where}/ParticipantObjectQuery", out)
    _sequence(el, where, out, [
        ("ParticipantObjectIDTypeCode", 1, 1, coded),
        ("ParticipantObjectName", 0, 1, None), ("ParticipantObjectQuery", 0, 1, None),
        ("ParticipantObjectDetail", 0, None, _detail),
        ("ParticipantObjectDescription", 0, None, _description)])


def problems(root: ET.Element) -> list[str]:
    """Every way `root` breaks the DICOM Audit Message Schema."""
    out: list[str] = []
    if root.tag != "AuditMessage":
        return [f"root element is {root.tag}, not AuditMessage"]
    _attrs(root, "AuditMessage", out, set(), set())
    _sequence(root, "AuditMessage", out, [
        ("EventIdentification", 1, 1, _event), ("ActiveParticipant", 1, None, _participant),
        ("AuditSourceIdentification", 1, 1, _source),
        ("ParticipantObjectIdentification", 0, None, _object)])
    return out
