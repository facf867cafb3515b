"""One audit event of each kind, with the values a station would fill in."""

from __future__ import annotations

import datetime

from mw_tui import audit
from mw_tui.audit import AlertType, MediaKind, Outcome

CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.11"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
AT = datetime.datetime(2026, 1, 26, 15, 30, 5, 250000,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=1)))

PATIENT = audit.Patient("PID-1", "Müller^Jürgen")
STUDY = audit.Study("1.2.826.0.1.3680043.8.498.1", (audit.SopClass(CT, 120),
                                                   audit.SopClass(SR, 1)), accession="ACC1")
TECH = audit.User("tech", "Tech^Nician")
PACS = audit.Node("PACS", "10.0.0.5")
DVD = audit.Media(MediaKind.DVD, "2601261530_1OF1", "disc:/dev/sr0",
                  "9e107d9d372bb6826bd81d3542a419d6")


def export(patient: audit.Patient = PATIENT) -> audit.Export:
    return audit.Export(patients=(patient,), studies=(STUDY,), media=DVD, user=TECH, at=AT)


def every_kind() -> dict[str, audit.events.AnyEvent]:
    """EventID code -> an event of that kind (two of some, keyed apart)."""
    return {
        "110100-start": audit.ApplicationActivity(action=audit.Lifecycle.START, at=AT),
        "110100-stop": audit.ApplicationActivity(action=audit.Lifecycle.STOP,
                                                 launched_by=audit.User("root"), at=AT),
        "110106": export(),
        "110107": audit.Import(patients=(PATIENT,), studies=(STUDY,), user=TECH, at=AT,
                               media=audit.Media(MediaKind.USB, "OUTSIDE", "usb:/dev/sdb")),
        "110104": audit.InstancesTransferred(patient=PATIENT, studies=(STUDY,), source=PACS,
                                             user=TECH, at=AT),
        "110102": audit.BeginTransferring(patient=PATIENT, studies=(audit.Study(STUDY.uid),),
                                          source=PACS, at=AT),
        "110114-ok": audit.UserAuthentication(user=audit.User("admin", host="10.0.0.20"),
                                              at=AT),
        "110114-failed": audit.UserAuthentication(user=audit.User("admin"), at=AT,
                                                  outcome=Outcome.MINOR_FAILURE,
                                                  description="wrong PIN"),
        "110113": audit.SecurityAlert(alert=AlertType.NODE_AUTHENTICATION, at=AT,
                                      subject=audit.Node("EVIL", "10.6.6.6"),
                                      detail="association refused: calling AE title EVIL "
                                             "is not allowed"),
        "110112": audit.Query(responder=PACS, sop_class=STUDY_FIND, user=TECH, at=AT,
                              identifier=audit.query_identifier(
                                  {"QueryRetrieveLevel": "STUDY", "PatientName": "MÜL*",
                                   "StudyInstanceUID": ""})),
    }
