"""Primera disc publishers through PTBurn / PTPublisher's job request folder.

The protocol, as Primera documents it (PTBurn SDK, 2005, and PTBurn 3 SDK, revision
3.24, 2011: chapter 2 "JRQ File Command Structure", chapter 3 "Status Information",
chapter 4 "Client Commands"):

- a job is a text file of Key=Value lines in the job request folder, ending in .JRQ.
  Keys used here: JobID and ClientID (up to 32 ASCII characters), ImageFile (the path of
  an ISO image as PTBurn's PC sees it), ImageType (MODE_1_2048 for ISO 9660 images),
  Copies (1-10,000), CloseDisc, VerifyDisc, RejectIfNotBlank and DeleteFiles (YES/NO),
  BurnSpeed (0 = the recorder's maximum), VolumeName, PrintLabel (a .jpg, .bmp, .STD
  SureThing or .PRN file; no key, no printing);
- PTBurn renames the file as it goes: .QRJ (found, queued), .INP (in progress), then
  .DON (done) or .ERR (failed or aborted), and deletes it some time later (PTSETUP.INI
  Status_Time);
- it writes its status as .INI-like text files in the Status folder of the job folder
  (SystemStatus.txt and one <RobotName>.txt per robot; PTSTATUS.TXT in the 2005 SDK),
  read without exclusive access, with a section per job named after the request file:
  JobState (0 not started, 1 running, 2 completed, 3 failed), JobErrorNumber and
  JobErrorString, CurrentStatus, GoodDiscs, BadDiscs, JobsAhead; [System] holds
  SysErrorNumber and SysErrorString;
- a job is aborted by a .PTM file of the request's name: Message=ABORT and the request's
  ClientID.

dcm4chee-cdw's PTPublish writer (github.com/fleetwoodfc/dcm4chee-cdw,
PTPublishService.java and its PTPublish/PTBurn sequence notes) was read for how a Linux host
maps its paths to the robot's share (a local prefix replaced by the share's) and treats
CurrentStatusState 10 (complete), 13 (aborted) and 15 (failed).

Build one for a job and call write() for each volume (every copy in one request):

    PtBurnWriter(publisher, job_id=job.id, copies=job.copies,
                 label_for=lambda v: labels.image(content(v), work / f"label{v.number}.jpg"))
"""

from __future__ import annotations

import os
from pathlib import Path

from mw_tui.devices.writers.base import fsync_dir
from mw_tui.devices.writers.hotfolder import (
    SUBMITTED,
    HotFolderWriter,
    PublisherState,
    PublisherStatus,
    RequestState,
    RobotReport,
)
from mw_tui.media.volume import Volume

STEPS = (("JRQ", RequestState.SUBMITTED), ("QRJ", RequestState.ACCEPTED),
         ("INP", RequestState.RUNNING), ("DON", RequestState.DONE),
         ("ERR", RequestState.FAILED))
SYSTEM_FILES = ("SystemStatus.txt", "PTStatus.txt")
FAILED_STATES = {"13", "15"}  # CurrentStatusState: aborted, failed


def yes(flag: bool) -> str:
    return "YES" if flag else "NO"


def read_ini(path: Path) -> dict[str, dict[str, str]]:
    """Sections of an .INI-like status file (names and keys lower case). PTBurn's Unicode
    build writes UTF-16, the other one ANSI."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip().lower(), {})
        elif "=" in line and not line.startswith((";", "#")):
            key, _, value = line.partition("=")
            current[key.strip().lower()] = value.strip()
    return sections


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class PtBurnWriter(HotFolderWriter):
    """A Primera Disc Publisher driven by PTBurn (kind = "ptburn")."""

    label_suffixes = (".jpg", ".jpeg", ".bmp", ".std", ".prn")

    def describe(self) -> str:
        return f"disc publisher {self.publisher.name} (PTBurn)"

    @property
    def status_folder(self) -> Path:
        if self.publisher.status_folder:
            return Path(self.publisher.status_folder)
        lower = self.folder / "status"
        return lower if lower.is_dir() and not (self.folder / "Status").is_dir() \
            else self.folder / "Status"

    def request_text(self, name: str, volume: Volume, image: str, label: str | None) -> str:
        p = self.publisher
        job = f"Job {self.job_id} disc {volume.number}/{volume.count}" if self.job_id \
            else volume.label
        lines = [
            f"JobID={job[:32]}",
            f"ClientID={p.client_id}",
            f"ImageFile={image}",
            "ImageType=MODE_1_2048",
            f"VolumeName={volume.label[:32]}",
            f"Copies={self.copies}",
            f"CloseDisc={yes(p.close_disc)}",
            f"VerifyDisc={yes(p.verify)}",
            f"RejectIfNotBlank={yes(p.reject_if_not_blank)}",
            f"BurnSpeed={p.burn_speed}",
            "DeleteFiles=NO",  # the station removes its files once it saw the outcome
        ]
        if label is not None:
            lines.append(f"PrintLabel={label}")
        return "\r\n".join(lines) + "\r\n"

    def submit(self, name: str, text: str) -> None:
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(text.encode("ascii", errors="replace"))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.folder / f"{name}.JRQ")
        fsync_dir(self.folder)

    def _request_file(self, name: str, ext: str) -> Path | None:
        for e in (ext, ext.lower()):
            path = self.folder / f"{name}.{e}"
            if path.exists():
                return path
        return None

    def state_of(self, name: str) -> RequestState | None:
        # in the robot's order: a rename between two looks is then seen at the next one
        for ext, state in STEPS:
            if self._request_file(name, ext) is not None:
                return state
        staging = self.staging(name)
        if (staging / SUBMITTED).exists():
            return RequestState.GONE
        return RequestState.STAGED if staging.is_dir() else None

    def withdraw(self, name: str) -> bool:
        taken = self.folder / f".{name}.withdrawn"
        for ext in ("JRQ", "jrq"):
            try:
                os.rename(self.folder / f"{name}.{ext}", taken)  # fails once PTBurn renamed it
            except FileNotFoundError:
                continue
            taken.unlink(missing_ok=True)
            return True
        return False

    def abort(self, name: str) -> None:
        tmp = self.folder / f".{name}.ptm.tmp"
        tmp.write_bytes(f"Message=ABORT\r\nClientID={self.publisher.client_id}\r\n".encode())
        os.rename(tmp, self.folder / f"{name}.PTM")

    def _status_files(self) -> list[Path]:
        try:
            return sorted(p for p in self.status_folder.iterdir()
                          if p.suffix.lower() == ".txt" and p.is_file())
        except OSError:
            return []

    def report(self, name: str) -> RobotReport:
        for path in self._status_files():
            try:
                section = read_ini(path).get(name.lower())
            except OSError:
                continue
            if section is None:
                continue
            outcome = None
            if section.get("jobstate") == "2" or section.get("currentstatusstate") == "10":
                outcome = RequestState.DONE
            if section.get("jobstate") == "3" or \
                    section.get("currentstatusstate") in FAILED_STATES:
                outcome = RequestState.FAILED
            error = section.get("joberrorstring", "")
            number = section.get("joberrornumber", "")
            if error and number not in ("", "0"):
                error = f"{error} (error {number})"
            return RobotReport(section.get("currentstatus", ""), error,
                               _int(section.get("gooddiscs")), _int(section.get("baddiscs")),
                               _int(section.get("jobsahead")), outcome)
        return RobotReport()

    def status(self) -> PublisherStatus:
        folder = self.status_folder
        for name in SYSTEM_FILES:
            path = folder / name
            try:
                system = read_ini(path)
            except OSError:
                continue
            sys = system.get("system", {})
            if sys.get("syserrornumber", "0") not in ("", "0"):
                return PublisherStatus(PublisherState.ERROR, f"{self.publisher.name}: "
                                       f"{sys.get('syserrorstring') or 'error'} (error "
                                       f"{sys['syserrornumber']})")
            robots = ", ".join(k for k in system.get("robotlist", {}).values() if k) or \
                ", ".join(system.get("robotlist", {}))
            return PublisherStatus(PublisherState.READY, f"{self.publisher.name}: ready"
                                   + (f" ({robots})" if robots else ""))
        return PublisherStatus(PublisherState.OFFLINE, f"{self.publisher.name}: no status in "
                               f"{folder}: is PTBurn running on the robot's PC?")
