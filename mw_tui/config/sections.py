"""The sections of the configuration file, each a frozen dataclass of documented keys."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mw_tui.config.audit import AuditConfig
from mw_tui.config.checks import (
    check_ae_title,
    check_callers,
    check_choice,
    check_command,
    check_log_level,
    check_max_pdu,
    check_name,
    check_not_empty,
    check_port,
    check_uids,
    default_storage,
    in_range,
    item,
)
from mw_tui.config.deid import DeidProfile
from mw_tui.config.importing import ImportingConfig
from mw_tui.config.labels import LabelsConfig
from mw_tui.config.mcm import McmConfig
from mw_tui.config.publishers import Publisher
from mw_tui.config.targets import Target, TargetKind, check_target


@dataclass(frozen=True)
class StationConfig:
    ae_title: str = item(
        "This station's AE title: what archives and modalities call it.",
        check_ae_title,
        default="MW_TUI",
    )
    port: int = item("TCP port the receiver listens on (Storage and Verification SCP).",
                     check_port, default=11112)
    bind: str = item("Address to listen on: 0.0.0.0 for every interface, 127.0.0.1 for "
                     "this machine only.", check_not_empty, default="0.0.0.0")
    storage: str = item("Folder where received studies and their index are kept.",
                        check_not_empty, default_factory=default_storage)
    max_associations: int = item("Most associations served at once; one more is rejected.",
                                 in_range(1, 1000, "a whole number"), default=20)
    max_pdu: int = item("Largest PDU this station accepts, in bytes (0 = no limit).",
                        check_max_pdu, default=524288)
    min_free_mb: int = item("Refuse new instances (status A700) when the storage folder has "
                            "less free space than this, in MiB.",
                            in_range(0, 10**9, "a whole number of MiB"), default=1024)
    receiver_processes: int = item(
        "Receiver worker processes sharing the port (0 = one per CPU, at most 4).",
        in_range(0, 64, "a whole number"), default=0)
    log_level: str = item("Log level: DEBUG, INFO, WARNING or ERROR.", check_log_level,
                          default="INFO")


@dataclass(frozen=True)
class DicomConfig:
    server_timeout: float = item(
        "Server socket timeout: seconds an inbound association may stay silent before the "
        "station closes it.", in_range(1, 3600, "seconds"), default=60.0)
    client_timeout: float = item(
        "Client socket timeout: seconds to wait for an archive to connect or answer.",
        in_range(1, 3600, "seconds"), default=30.0)
    extra_transfer_syntaxes: list[str] = item(
        "Transfer syntax UIDs accepted in addition to the built-in seven (Implicit and "
        "Explicit VR LE, JPEG Baseline, Extended, Lossless SV1, JPEG 2000 lossless and lossy).",
        check_uids, default_factory=list)
    extra_sop_classes: list[str] = item(
        "Storage SOP class UIDs accepted in addition to the built-in table.",
        check_uids, default_factory=list)
    allowed_callers: list[str] = item(
        "Who may send to this station: calling AE titles and/or IP networks "
        "(e.g. [\"CT01\", \"10.1.2.0/24\"]). Empty = everybody.",
        check_callers, default_factory=list)
    artim_timeout: float = item(
        "Seconds a new connection may take to send its association request (TLS handshake "
        "included) before the station closes it (the ARTIM timer).",
        in_range(1, 600, "seconds"), default=10.0)
    max_pending: int = item(
        "Connections that have not associated yet, at most, across the station; when a new "
        "one arrives beyond this, the longest-waiting one is closed.",
        in_range(4, 10000, "a whole number"), default=100)


@dataclass(frozen=True)
class Archive:
    name: str = item("A short name for this archive, used on screens and the command line.",
                     check_name)
    ae_title: str = item("The archive's AE title.", check_ae_title)
    host: str = item("The archive's host name or IP address.", check_not_empty)
    port: int = item("The archive's DICOM port.", check_port, default=104)
    retrieve: str = item(
        "How to retrieve: \"move\" (C-MOVE to this station; the archive must know our AE "
        "title, host and port) or \"get\" (C-GET on the same association).",
        check_choice("move", "get"), default="move")
    timeout: float = item("Seconds to wait for this archive's answers to a search.",
                          in_range(1, 3600, "seconds"), default=10.0)
    tls: bool = item("Talk to this archive over DICOM TLS (certificates from [tls]).",
                     default=False)


MITRA_REPORT_UIDS = ("1.2.840.113532.3500.8", "1.2.124.113532.3500.8")
REPORT_MATCH_KEYS = ("accession", "study_uid", "patient_id")


def check_match_on(values: list[str]) -> str | None:
    bad = [v for v in values if v not in REPORT_MATCH_KEYS]
    if bad or not values or len(set(values)) != len(values):
        return ("a list of the keys to match reports on, tried in order, each at most once: "
                + ", ".join(map(repr, REPORT_MATCH_KEYS)))
    return None


@dataclass(frozen=True)
class ReportSource:
    name: str = item("A short name for this report source (a Mitra/Agfa report broker).",
                     check_name)
    ae_title: str = item("The report broker's AE title.", check_ae_title)
    host: str = item("The report broker's host name or IP address.", check_not_empty)
    port: int = item("The report broker's DICOM port.", check_port, default=104)
    sop_class_uids: list[str] = item(
        "Private SOP class UIDs of the Mitra Report Management C-FIND, proposed together; the "
        "first one the broker accepts is used.",
        lambda v: check_uids(v) or (None if v else "at least one UID"),
        default_factory=lambda: list(MITRA_REPORT_UIDS))
    match_on: list[str] = item(
        "Keys to find a study's reports by, tried in order until one finds some: "
        "\"accession\", \"study_uid\", \"patient_id\".",
        check_match_on, default_factory=lambda: list(REPORT_MATCH_KEYS))
    timeout: float = item("Seconds to wait for the broker's answers.",
                          in_range(1, 3600, "seconds"), default=10.0)


@dataclass(frozen=True)
class JobsConfig:
    retry_delays: list[float] = item(
        "Seconds to wait before each new try when an archive fails during a retrieve; the "
        "job fails with the reason after the last one.",
        lambda v: None if all(0 <= x <= 86400 for x in v) else "delays from 0 to 86400 s",
        default_factory=lambda: [10.0, 60.0, 300.0])
    syslog: bool = item("Also send the audit log to syslog (authpriv).", default=True)


@dataclass(frozen=True)
class Rule:
    name: str = item("A short name for this rule.", check_name)
    target: str = item("Where the media go: iso:PATH, disc[:DEVICE], usb[:DEVICE] or "
                       "cloud:NAME.", check_target)
    calling_ae: str = item("Only studies sent by this AE title (empty = any sender).",
                           default="")
    modality: str = item("Only studies with this modality (empty = any).", default="")
    profile: str = item("Media profile (empty = media.default_profile).", default="")
    quiet_seconds: float = item(
        "A study is complete once no new instance arrived for this many seconds.",
        in_range(1, 86400, "seconds"), default=60.0)
    copies: int = item("Copies to write.", in_range(1, 99, "a whole number"), default=1)
    deid_profile: str = item("Write anonymous copies with this [[deid_profiles]] profile "
                             "(empty = the studies as stored). Needed for a rule to an "
                             "external cloud target.", default="")


def default_mount_folder() -> str:
    if os.geteuid() == 0:
        return "/run/mw-tui/media"
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return str(Path(base) / f"mw-tui-media-{os.geteuid()}")


_SPEED_RE = re.compile(r"^(max|min|[0-9]+(\.[0-9]+)?(x|c|d|b|k|m|xc|xd|xb)?)$")


def check_speed(value: str) -> str | None:
    if _SPEED_RE.match(value.lower()):
        return None
    return "\"max\", \"min\" or a speed such as \"8\", \"4x\", \"8d\" (DVD) or \"706k\" (kB/s)"


@dataclass(frozen=True)
class DevicesConfig:
    drive: str = item("Optical drive to burn with: \"auto\" (the first one found) or a device "
                      "such as /dev/sr0.", check_not_empty, default="auto")
    drive_speed: str = item("Burn speed: \"max\", or e.g. \"8\" (x of the disc type), \"4d\" "
                            "(4x DVD); slower can be more reliable on cheap discs.",
                            check_speed, default="max")
    eject: bool = item("Eject the disc after it is written and verified (where the drive "
                       "can).", default=True)
    usb_mount_command: str = item(
        "Command that mounts a stick's partition; {device} and {mountpoint} are filled in. "
        "With udisks2: \"udisksctl mount --no-user-interaction -b {device}\" (it says where "
        "it mounted). FUSE: \"fusefat -o rw+ {device} {mountpoint}\".",
        check_command, default="mount -o nosuid,nodev,noexec {device} {mountpoint}")
    usb_unmount_command: str = item(
        "Command that unmounts it again (udisks2: \"udisksctl unmount --no-user-interaction "
        "-b {device}\", FUSE: \"fusermount -u {mountpoint}\").",
        check_command, default="umount {mountpoint}")
    mount_folder: str = item("Folder where sticks are mounted while they are written.",
                             check_not_empty, default_factory=default_mount_folder)
    iso_folder: str = item("Folder (or mounted network share) where ISO images are saved; "
                           "empty = no ISO files.", default="")


def check_url(value: str) -> str | None:
    from urllib.parse import urlparse

    parsed = urlparse(value)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return None
    return "an http(s) URL such as https://pacs.example.org/dicom-web"


@dataclass(frozen=True)
class CloudTarget:
    name: str = item("A short name for this cloud target (rules use cloud:NAME).", check_name)
    url: str = item("Base URL of the DICOMweb service (STOW-RS and QIDO-RS), e.g. "
                    "https://pacs.example.org/dicom-web.", check_url)
    auth: str = item("Authentication: \"none\", \"basic\" (username and password) or "
                     "\"bearer\" (token).", check_choice("none", "basic", "bearer"),
                     default="none")
    username: str = item("User name for basic authentication.", default="")
    password: str = item("Password for basic authentication (keep this file mode 0600).",
                         default="")
    token: str = item("Bearer token (keep this file mode 0600).", default="")
    verify_tls: bool = item("Verify the server's TLS certificate (leave on).", default=True)
    ca_bundle: str = item("A PEM file of CA certificates to trust for this server (a private "
                          "CA); empty = the system's.", default="")
    timeout: float = item("Seconds to wait for each answer.", in_range(1, 3600, "seconds"),
                          default=60.0)
    external: bool = item("Outside the hospital (another organisation's archive, a research "
                          "cloud): a job sending identified data there is stopped until "
                          "someone confirms it (anonymous copies go without asking).",
                          default=True)

    def problems(self) -> list[str]:
        """What is missing for the chosen authentication."""
        out = []
        if self.auth == "basic" and not (self.username and self.password):
            out.append('auth = "basic" needs username and password')
        if self.auth == "bearer" and not self.token:
            out.append('auth = "bearer" needs token')
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            out.append(f"ca_bundle {self.ca_bundle!r} is not a file")
        return out


def secrets_exposed(config: Config) -> str | None:
    """A warning when the file holds passwords or tokens but others may read it."""
    if config.path is None or not any(t.password or t.token for t in config.targets):
        return None
    try:
        mode = config.path.stat().st_mode & 0o777
    except OSError:
        return None
    if mode & 0o077:
        return (f"{config.path} holds passwords or tokens but has mode {mode:04o}: "
                f"run chmod 600 {config.path}")
    return None


@dataclass(frozen=True)
class MediaConfig:
    institution: str = item("Institution named in README.TXT and on the web pages of every "
                            "medium (and on its label).", default="")
    station_name: str = item("This station's name in README.TXT (who made the medium).",
                             default="")
    viewer_folder: str = item("A folder copied to every medium as VIEWER/ (a DICOM viewer "
                              "program); empty = none. Nothing on the medium starts by itself.",
                              default="")
    default_profile: str = item(
        "Media profile of jobs and `mw-tui build` when none is chosen.",
        check_choice("STD-GEN-CD", "STD-GEN-DVD", "STD-GEN-DVD-JPEG", "STD-GEN-DVD-J2K",
                     "STD-GEN-USB-JPEG", "STD-GEN-USB-J2K"),
        default="STD-GEN-CD")
    work: str = item("Folder for transcoded files and ISO images being built (empty = "
                     "inside the storage folder).", default="")
    web_images: str = item(
        "Images in the web pages of every medium (JPEG previews a browser shows): \"all\" "
        "(a grid of thumbnails per series and a page per image), \"thumbnails\" (the grids "
        "only) or \"none\". Reduced by the builder when they would need one more medium.",
        check_choice("all", "thumbnails", "none"), default="all")
    web_image_size: int = item("Longest edge of an image's web preview, in pixels (smaller "
                               "images are never enlarged).",
                               in_range(128, 4096, "a number of pixels"), default=1024)
    web_image_quality: int = item("JPEG quality of the web previews (1-95).",
                                  in_range(1, 95, "a JPEG quality"), default=85)
    web_image_frames: int = item("Most frames of one multi-frame instance shown in the web "
                                 "pages (evenly spread over the instance).",
                                 in_range(1, 10000, "a number of frames"), default=50)
    web_previews_ahead: bool = item(
        "Make the web previews of what the station receives in the background, at the "
        "lowest priority, and keep them with the store (about 3% of its size), so that "
        "building a medium only collects them; false: each build renders its own.",
        default=True)


@dataclass(frozen=True)
class TlsConfig:
    port: int = item("Port of the DICOM TLS listener (PS3.15, BCP 195 profile); 0 = none.",
                     lambda v: None if v == 0 else check_port(v), default=0)
    certificate: str = item("This station's certificate (PEM, with its chain): shown to TLS "
                            "clients, and to archives that ask for one.", default="")
    key: str = item("The private key of the certificate (PEM, unencrypted; keep it mode 0600).",
                    default="")
    ca: str = item("Certificates (PEM) of the authorities trusted to sign the certificates of "
                   "TLS clients and archives; empty = the system's authorities, for archives "
                   "only.", default="")
    verify_clients: str = item(
        "Client certificates on the TLS listener: \"required\" (refuse clients without a "
        "certificate signed by [tls] ca), \"optional\" or \"none\".",
        check_choice("required", "optional", "none"), default="required")
    verify_archives: bool = item("Check the certificate and host name of TLS archives.",
                                 default=True)


@dataclass(frozen=True)
class RetentionConfig:
    days: int = item("Delete a study this many days after its last use (received, or used by "
                     "a job), never while a job holds it; 0 = keep studies forever.",
                     in_range(0, 36500, "a whole number of days"), default=0)


PIN_HASH_RE = re.compile(r"^pbkdf2-sha256\$[0-9]{4,7}\$[0-9a-f]{32}\$[0-9a-f]{64}$")


def check_pin_hash(value: str) -> str | None:
    if value == "" or PIN_HASH_RE.match(value):
        return None
    return ("\"\" (no PIN: Settings stay locked) or a PIN hash as `mw-tui admin-pin` writes it "
            "(pbkdf2-sha256$...); never the PIN itself")


@dataclass(frozen=True)
class UiConfig:
    admin_pin: str = item(
        "Hash of the admin PIN that opens the Settings screen, written by `mw-tui admin-pin` "
        "(never the PIN itself). Empty = no PIN set: Settings stay locked.",
        check_pin_hash, default="")
    idle_minutes: float = item(
        "Minutes without a key press after which the screens return to an empty search "
        "(no patient left on screen); 0 = never.", in_range(0, 1440, "minutes"), default=10.0)


@dataclass(frozen=True)
class Config:
    station: StationConfig = field(default_factory=StationConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    archives: tuple[Archive, ...] = ()
    report_sources: tuple[ReportSource, ...] = ()
    jobs: JobsConfig = field(default_factory=JobsConfig)
    rules: tuple[Rule, ...] = ()
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    targets: tuple[CloudTarget, ...] = ()
    media: MediaConfig = field(default_factory=MediaConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    deid_profiles: tuple[DeidProfile, ...] = ()
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    publishers: tuple[Publisher, ...] = ()
    importing: ImportingConfig = field(default_factory=ImportingConfig)
    mcm: McmConfig = field(default_factory=McmConfig)
    path: Path | None = None

    def archive(self, name: str) -> Archive:
        for a in self.archives:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.archives) or "none configured"
        raise KeyError(f"no archive named {name!r} (known: {known})")

    @property
    def storage(self) -> Path:
        return Path(self.station.storage)

    def external_cloud(self, target: Target) -> CloudTarget | None:
        """The cloud target `target` names when it is outside the hospital (`external`):
        identified data goes there only when somebody confirms it."""
        if target.kind is not TargetKind.CLOUD:
            return None
        cloud = next((t for t in self.targets if t.name == target.where), None)
        return cloud if cloud is not None and cloud.external else None


# Top-level tables: name -> (dataclass, is an array of tables)
SECTIONS: dict[str, tuple[type, bool]] = {
    "station": (StationConfig, False),
    "dicom": (DicomConfig, False),
    "archives": (Archive, True),
    "report_sources": (ReportSource, True),
    "jobs": (JobsConfig, False),
    "rules": (Rule, True),
    "devices": (DevicesConfig, False),
    "targets": (CloudTarget, True),
    "media": (MediaConfig, False),
    "tls": (TlsConfig, False),
    "audit": (AuditConfig, False),
    "retention": (RetentionConfig, False),
    "ui": (UiConfig, False),
    "deid_profiles": (DeidProfile, True),
    "labels": (LabelsConfig, False),
    "publishers": (Publisher, True),
    "importing": (ImportingConfig, False),
    "mcm": (McmConfig, False),
}

# A commented example written by `config init` for each array of tables.
EXAMPLES: dict[str, tuple[str, Any]] = {
    "archives": ("Remote Query/Retrieve archives: one [[archives]] table each, searched in "
                 "parallel.", Archive(name="pacs", ae_title="PACS", host="10.0.0.5", port=104)),
    "report_sources": ("Report brokers (Mitra Report Management, a private C-FIND): one "
                       "[[report_sources]] table each, asked for a study's reports before "
                       "the archives' SR and PDF objects.",
                       ReportSource(name="broker", ae_title="BROKER", host="10.0.0.7",
                                    port=104)),
    "rules": ("Auto-rules: studies matching a rule are written to its target once complete.",
              Rule(name="ct01-to-iso", target="iso:/srv/mw-tui/iso", calling_ae="CT01")),
    "targets": ("Cloud targets: DICOMweb archives studies are sent to with STOW-RS and checked "
                "with QIDO-RS (this file must then be mode 0600).",
                CloudTarget(name="cloud", url="https://pacs.example.org/dicom-web", auth="bearer",
                       token="...")),
    "deid_profiles": ("De-identification profiles for anonymous media (PS3.15 Annex E); a "
                      "profile named \"basic\" (the Basic Profile alone) exists without one.",
                      DeidProfile(name="teaching", dates="shift", clean_descriptors=True,
                                  clean_structured_content=True)),
    "publishers": ("Disc publishers (robots that write and print discs) fed through their "
                   "shared job folder: one [[publishers]] table each (targets: publisher:NAME).",
                   Publisher(name="robot", folder="/mnt/ptburn", robot_folder="C:\\PTBurnJobs")),
}
