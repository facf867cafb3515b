"""The coded values of DICOM audit messages (PS3.15 A.5.1-A.5.3, PS3.16 CIDs 400-405)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value: written as csd-code, codeSystemName and originalText."""

    value: str
    scheme: str
    meaning: str


def dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


# EventID (CID 400 Audit Event ID)
APPLICATION_ACTIVITY = dcm("110100", "Application Activity")
BEGIN_TRANSFERRING = dcm("110102", "Begin Transferring DICOM Instances")
INSTANCES_TRANSFERRED = dcm("110104", "DICOM Instances Transferred")
EXPORT = dcm("110106", "Export")
IMPORT = dcm("110107", "Import")
QUERY = dcm("110112", "Query")
SECURITY_ALERT = dcm("110113", "Security Alert")
USER_AUTHENTICATION = dcm("110114", "User Authentication")

# EventTypeCode (CID 401 Application Activity, CID 402 User Authentication)
APPLICATION_START = dcm("110120", "Application Start")
APPLICATION_STOP = dcm("110121", "Application Stop")
LOGIN = dcm("110122", "Login")
LOGOUT = dcm("110123", "Logout")

# RoleIDCode (CID 402 Audit Active Participant Role ID)
ROLE_APPLICATION = dcm("110150", "Application")
ROLE_APPLICATION_LAUNCHER = dcm("110151", "Application Launcher")
ROLE_DESTINATION = dcm("110152", "Destination Role ID")
ROLE_SOURCE = dcm("110153", "Source Role ID")
ROLE_DESTINATION_MEDIA = dcm("110154", "Destination Media")
ROLE_SOURCE_MEDIA = dcm("110155", "Source Media")

# ParticipantObjectIDTypeCode (A.5.1.2.4 and CID 404 Audit Participant Object ID Type)
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
URI = Code("12", "RFC-3881", "URI")
STUDY_INSTANCE_UID = dcm("110180", "Study Instance UID")
SOP_CLASS_UID = dcm("110181", "SOP Class UID")
NODE_ID = dcm("110182", "Node ID")


class AlertType(StrEnum):
    """EventTypeCode of a Security Alert (CID 403 Security Alert Type Code)."""

    NODE_AUTHENTICATION = "110126"  # a refused association, a failed TLS handshake
    NETWORK_CONFIGURATION = "110128"
    SECURITY_CONFIGURATION = "110129"  # e.g. the admin PIN changed
    SOFTWARE_CONFIGURATION = "110131"  # e.g. settings saved
    USE_OF_RESTRICTED_FUNCTION = "110132"


ALERT_MEANINGS = {
    AlertType.NODE_AUTHENTICATION: "Node Authentication",
    AlertType.NETWORK_CONFIGURATION: "Network Configuration",
    AlertType.SECURITY_CONFIGURATION: "Security Configuration",
    AlertType.SOFTWARE_CONFIGURATION: "Software Configuration",
    AlertType.USE_OF_RESTRICTED_FUNCTION: "Use of Restricted Function",
}


class MediaKind(StrEnum):
    """What a medium is; each maps to a Media Type code (CID 405)."""

    CD = "cd"
    DVD = "dvd"
    BD = "bd"  # CID 405 has no Blu-ray code: reported as DVD
    USB = "usb"
    FILE = "file"  # an ISO image file, identified by its URI
    FOLDER = "folder"  # a folder of files (a copied medium), identified by its URI
    NETWORK = "network"  # a cloud archive (STOW-RS), identified by its URL


MEDIA_TYPES = {
    MediaKind.CD: dcm("110032", "CD"),
    MediaKind.DVD: dcm("110033", "DVD"),
    MediaKind.BD: dcm("110033", "DVD"),
    MediaKind.USB: dcm("110030", "USB Disk Emulation"),
    MediaKind.FILE: dcm("110037", "URI"),
    MediaKind.FOLDER: dcm("110037", "URI"),
    MediaKind.NETWORK: dcm("110037", "URI"),
}


class Outcome(StrEnum):
    """EventOutcomeIndicator (A.5.1)."""

    SUCCESS = "0"
    MINOR_FAILURE = "4"  # e.g. a wrong PIN, may be tried again; a refused association
    SERIOUS_FAILURE = "8"  # e.g. the PIN locked after too many tries; a failed job
    MAJOR_FAILURE = "12"  # e.g. the station can no longer work


class Action(StrEnum):
    """EventActionCode (A.5.1)."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


# NetworkAccessPointTypeCode (A.5.1)
MACHINE_NAME = "1"
IP_ADDRESS = "2"
NAP_URI = "5"

# ParticipantObjectTypeCode and ParticipantObjectTypeCodeRole (A.5.1.2.2)
PERSON = "1"
SYSTEM_OBJECT = "2"
ROLE_PATIENT = "1"
ROLE_REPORT = "3"
ROLE_SECURITY_RESOURCE = "13"

# AuditSourceTypeCode (A.5.1.2.1): application server process
SOURCE_APPLICATION_SERVER = "4"

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
