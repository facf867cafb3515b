"""Each audit message is valid against the schema of PS3.15 A.5.1 and carries the codes,
participants and objects that A.5.3 prescribes for its event."""

from __future__ import annotations

import base64
import datetime
import xml.etree.ElementTree as ET

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset

from mw_tui import audit
from mw_tui.audit import MediaKind, Outcome
from mw_tui.audit.messages import build, clean, timestamp
from tests.audit import reading as r
from tests.audit import samples as s
from tests.audit import schema

STATION = audit.Station("MW_TUI", "station.example.org")
SOURCE = audit.Source("MW_TUI", "HOSPITAL")


def message(event: audit.events.AnyEvent) -> ET.Element:
    return r.parse(build(event, STATION, SOURCE))


@pytest.mark.parametrize("key", list(s.every_kind()))
def test_every_message_is_valid_and_has_one_requestor_at_most(key: str) -> None:
    root = message(s.every_kind()[key])
    assert r.event_id(root) == key.split("-")[0]
    ident = r.event(root)
    assert ident["EventDateTime"] == "2026-01-26T15:30:05.250+01:00"
    assert len(r.requestors(root)) <= 1
    source = root.find("AuditSourceIdentification")
    assert source is not None
    assert source.attrib == {"AuditEnterpriseSiteID": "HOSPITAL", "AuditSourceID": "MW_TUI"}
    for p in r.participants(root):
        assert "UserIsRequestor" in p.attrs


def test_application_start_and_stop() -> None:
    start = message(s.every_kind()["110100-start"])
    assert r.event(start)["EventActionCode"] == "E"
    assert r.event_types(start) == ["110120"]
    (app,) = r.with_role(start, "110150")
    assert app.user_id == "MW_TUI" and app.attrs["AlternativeUserID"] == "AETITLES=MW_TUI"
    assert app.attrs["NetworkAccessPointID"] == "station.example.org"
    assert app.attrs["NetworkAccessPointTypeCode"] == "1"
    assert r.requestors(start) == []  # started by the system: nobody known to have asked
    assert start.findall("ParticipantObjectIdentification") == []
    stop = message(s.every_kind()["110100-stop"])
    assert r.event_types(stop) == ["110121"]
    assert [p.user_id for p in r.with_role(stop, "110151")] == ["root"]
    assert r.requestors(stop) == ["root"]


def test_export_names_patient_studies_and_the_destination_medium() -> None:
    root = message(s.export())
    assert r.event(root)["EventActionCode"] == "R"
    assert r.event(root)["EventOutcomeIndicator"] == "0"
    exporters = r.with_role(root, "110153")
    assert {p.user_id for p in exporters} == {"MW_TUI", "tech"}
    assert r.requestors(root) == ["tech"]
    (media,) = r.with_role(root, "110154")
    assert not media.requestor
    assert media.media_type == "110033"  # DVD
    assert media.attrs["AlternativeUserID"] == "2601261530_1OF1"  # the volume label
    assert "disc:/dev/sr0" in media.attrs["UserName"]
    assert "9e107d9d372bb6826bd81d3542a419d6" in media.attrs["UserName"]
    assert r.patients(root) == {"PID-1": "Müller^Jürgen"}
    assert r.studies(root) == {s.STUDY.uid: {s.CT: 120, s.SR: 1}}
    (study,) = r.objects(root, "110180")
    assert study.find("ParticipantObjectDescription/Accession").get("Number") == "ACC1"


@pytest.mark.parametrize(("kind", "code", "networked"), [
    (MediaKind.CD, "110032", False), (MediaKind.BD, "110033", False),
    (MediaKind.USB, "110030", False), (MediaKind.FILE, "110037", True),
    (MediaKind.FOLDER, "110037", True), (MediaKind.NETWORK, "110037", True)])
def test_export_media_types(kind: MediaKind, code: str, networked: bool) -> None:
    target = {MediaKind.FILE: "/srv/iso/A B.iso", MediaKind.FOLDER: "/srv/iso/A B.iso",
              MediaKind.NETWORK: "https://pacs.example.org/dicom-web"}.get(kind, "x")
    root = message(audit.Export(patients=(s.PATIENT,), studies=(s.STUDY,),
                                media=audit.Media(kind, "LABEL", target)))
    (media,) = r.with_role(root, "110154")
    assert media.media_type == code
    if networked:  # exported to other than physical media: its address is required
        assert media.attrs["NetworkAccessPointTypeCode"] == "5"
        uri = media.attrs["NetworkAccessPointID"]
        assert uri == media.user_id
        assert uri in ("file:///srv/iso/A%20B.iso", "https://pacs.example.org/dicom-web")
    else:
        assert "NetworkAccessPointID" not in media.attrs
    assert r.requestors(root) == ["MW_TUI"]  # nobody else known: the station asked


def test_export_requested_by_a_remote_application() -> None:
    ris = audit.Node("RIS", "10.0.0.8")
    root = message(audit.Export(patients=(s.PATIENT,), studies=(s.STUDY,), media=s.DVD,
                                requested_by=ris, anonymized=True))
    assert r.requestors(root) == ["RIS"]
    (study,) = r.objects(root, "110180")
    assert study.findtext("ParticipantObjectDescription/Anonymized") == "true"


def test_export_of_several_patients() -> None:
    other = audit.Patient("PID-2", "Doe^Jane")
    root = message(audit.Export(patients=(s.PATIENT, other), studies=(s.STUDY,), media=s.DVD))
    assert r.patients(root) == {"PID-1": "Müller^Jürgen", "PID-2": "Doe^Jane"}


def test_import_names_the_source_medium() -> None:
    root = message(s.every_kind()["110107"])
    assert r.event(root)["EventActionCode"] == "C"
    (media,) = r.with_role(root, "110155")
    assert media.media_type == "110030" and not media.requestor
    assert {p.user_id for p in r.with_role(root, "110152")} == {"MW_TUI", "tech"}
    assert r.requestors(root) == ["tech"]
    assert r.patients(root) == {"PID-1": "Müller^Jürgen"}
    assert set(r.studies(root)) == {s.STUDY.uid}


def test_instances_transferred_by_a_retrieve() -> None:
    root = message(s.every_kind()["110104"])
    assert r.event(root)["EventActionCode"] == "C"
    (source,) = r.with_role(root, "110153")
    assert source.user_id == "PACS" and source.attrs["NetworkAccessPointID"] == "10.0.0.5"
    assert source.attrs["NetworkAccessPointTypeCode"] == "2"
    (destination,) = r.with_role(root, "110152")
    assert destination.user_id == "MW_TUI"
    assert r.requestors(root) == ["tech"]
    assert r.studies(root) == {s.STUDY.uid: {s.CT: 120, s.SR: 1}}
    assert list(r.patients(root)) == ["PID-1"]
    pushed = message(audit.InstancesTransferred(
        patient=s.PATIENT, studies=(s.STUDY,), source=audit.Node("CT01", "10.0.0.30"),
        requestor=audit.Requestor.SOURCE, action=audit.Action.READ))
    assert r.requestors(pushed) == ["CT01"]
    assert r.event(pushed)["EventActionCode"] == "R"


def test_begin_transferring_without_sop_classes() -> None:
    root = message(s.every_kind()["110102"])
    assert r.event(root)["EventActionCode"] == "E"
    assert r.requestors(root) == ["MW_TUI"]  # the station's retrieve asked for it
    assert r.studies(root) == {s.STUDY.uid: {}}
    (study,) = r.objects(root, "110180")
    assert study.find("ParticipantObjectDescription") is None


def test_user_authentication_success_and_failure() -> None:
    ok = message(s.every_kind()["110114-ok"])
    assert r.event(ok)["EventActionCode"] == "E"
    assert r.event(ok)["EventOutcomeIndicator"] == "0"
    assert r.event_types(ok) == ["110122"]
    user, node = r.participants(ok)
    assert user.user_id == "admin" and user.requestor
    assert user.attrs["NetworkAccessPointID"] == "10.0.0.20"  # required for the person
    assert node.user_id == "MW_TUI" and not node.requestor
    assert ok.findall("ParticipantObjectIdentification") == []
    failed = message(s.every_kind()["110114-failed"])
    assert r.event(failed)["EventOutcomeIndicator"] == "4"
    assert failed.findtext("EventIdentification/EventOutcomeDescription") == "wrong PIN"
    user = r.participants(failed)[0]
    assert user.attrs["NetworkAccessPointID"] == "station.example.org"
    logout = message(audit.UserAuthentication(user=audit.User("admin"), logout=True))
    assert r.event_types(logout) == ["110123"]


def test_security_alert_for_a_refused_association() -> None:
    root = message(s.every_kind()["110113"])
    assert r.event(root)["EventActionCode"] == "E"
    assert r.event(root)["EventOutcomeIndicator"] == "4"
    assert r.code(root.find("EventIdentification/EventTypeCode")) == (
        "110126", "DCM", "Node Authentication")
    assert r.requestors(root) == ["MW_TUI"]
    (subject,) = r.objects(root, "110182")
    assert subject.get("ParticipantObjectID") == "10.6.6.6"
    assert subject.get("ParticipantObjectTypeCode") == "2"
    (detail,) = subject.findall("ParticipantObjectDetail")
    assert detail.get("type") == "Alert Description"
    assert b"EVIL is not allowed" in base64.b64decode(detail.get("value", ""))
    assert [p.user_id for p in r.participants(root) if not p.requestor] == ["EVIL"]


def test_query_carries_the_identifier_and_its_transfer_syntax() -> None:
    root = message(s.every_kind()["110112"])
    assert r.event(root)["EventActionCode"] == "E"
    assert [p.user_id for p in r.with_role(root, "110153")] == ["MW_TUI"]
    assert [p.user_id for p in r.with_role(root, "110152")] == ["PACS"]
    assert r.requestors(root) == ["tech"]
    (query,) = r.objects(root, "110181")
    assert query.get("ParticipantObjectID") == s.STUDY_FIND
    detail = query.find("ParticipantObjectDetail")
    assert detail is not None and detail.get("type") == "TransferSyntax"
    assert base64.b64decode(detail.get("value", "")) == b"1.2.840.10008.1.2"
    raw = base64.b64decode(query.findtext("ParticipantObjectQuery", ""))
    ds = read_dataset(DicomBytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    assert ds.QueryRetrieveLevel == "STUDY"
    assert str(ds.PatientName) == "MÜL*"


def test_bad_characters_never_break_the_xml() -> None:
    nasty = audit.Patient("ID\x00<&>\"'", "Doe\x07^<script>\udcff")
    root = message(audit.Export(patients=(nasty,), studies=(s.STUDY,), media=s.DVD,
                                description="a \x1b[31m red \x0c failure"))
    ((pid, name),) = r.patients(root).items()
    assert pid == "ID\ufffd<&>\"'"
    assert name == "Doe\ufffd^<script>\ufffd"
    assert clean("ok\tline\nnext") == "ok\tline\nnext"


def test_timestamps_always_carry_a_time_zone() -> None:
    naive = datetime.datetime(2026, 1, 26, 15, 30)
    assert schema.DATETIME.match(timestamp(naive))
    assert schema.DATETIME.match(timestamp(None))
    utc = datetime.datetime(2026, 1, 26, 14, 30, tzinfo=datetime.UTC)
    assert datetime.datetime.fromisoformat(timestamp(utc)) == utc


def test_failed_outcomes_and_descriptions() -> None:
    root = message(audit.Export(patients=(s.PATIENT,), studies=(s.STUDY,), media=s.DVD,
                                outcome=Outcome.SERIOUS_FAILURE,
                                description="the disc failed verification"))
    assert r.event(root)["EventOutcomeIndicator"] == "8"
    assert (root.findtext("EventIdentification/EventOutcomeDescription")
            == "the disc failed verification")


def test_the_schema_check_catches_what_is_wrong() -> None:
    root = message(s.export())
    root.find("EventIdentification").set("EventActionCode", "X")
    participant = root.find("ActiveParticipant")
    del participant.attrib["UserIsRequestor"]
    root.append(ET.Element("Bogus"))
    study = r.objects(root, "110180")[0]
    study.remove(study.find("ParticipantObjectName"))
    found = "\n".join(schema.problems(root))
    for words in ("EventActionCode='X'", "UserIsRequestor missing", "unexpected element Bogus",
                  "either ParticipantObjectName or ParticipantObjectQuery"):
        assert words in found


def test_something_else_is_not_an_event() -> None:
    with pytest.raises(TypeError, match="not an audit event"):
        build("export", STATION, SOURCE)  # type: ignore[arg-type]
