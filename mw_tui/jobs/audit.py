"""The audit log: who wrote which patient's studies to which medium, when, with what result.

Append-only: kept in the jobs database (triggers refuse UPDATE and DELETE) and sent as
syslog lines. Ordinary logs carry no PHI; this log is where PHI belongs, as little as
needed (patient name and ID, study UIDs).
"""

from __future__ import annotations

import getpass
import json
import logging
import logging.handlers
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mw_tui.jobs.models import Job

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    station TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    job_id INTEGER,
    patient_name TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    studies TEXT NOT NULL DEFAULT '[]',
    target TEXT NOT NULL DEFAULT '',
    volume TEXT NOT NULL DEFAULT '',
    md5 TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    station: str
    user: str
    action: str  # job created, medium written, job failed, job cancelled, ...
    job_id: int | None
    patient_name: str
    patient_id: str
    studies: tuple[str, ...]
    target: str
    volume: str
    md5: str
    result: str
    details: str


def current_user() -> str:
    for var in ("MW_TUI_USER", "SUDO_USER", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


SYSLOG_SOCKET = "/dev/log"


class AuditLog:
    """The audit table of the jobs database; with `syslog`, each entry is also sent to the
    local syslog daemon's socket `address` (facility authpriv), when that socket exists."""

    def __init__(self, path: Path, station: str, syslog: bool = True,
                 address: str = SYSLOG_SOCKET) -> None:
        self.path = path
        self.station = station
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._syslog: logging.Logger | None = None
        if syslog and Path(address).exists():
            try:
                handler = logging.handlers.SysLogHandler(
                    address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
                handler.setFormatter(logging.Formatter("mw-tui[%(process)d]: %(message)s"))
                self._syslog = logging.getLogger("mw_tui.audit.syslog")
                self._syslog.propagate = False
                self._syslog.handlers[:] = [handler]
                self._syslog.setLevel(logging.INFO)
            except OSError as exc:
                log.warning("audit: syslog unavailable (%s); the audit log stays in %s", exc,
                            path)

    def record(self, action: str, *, job_id: int | None = None, patient_name: str = "",
               patient_id: str = "", studies: tuple[str, ...] = (), target: str = "",
               volume: str = "", md5: str = "", result: str = "", details: str = "",
               user: str | None = None) -> AuditEntry:
        entry = AuditEntry(time.time(), self.station, user or current_user(), action, job_id,
                           patient_name, patient_id, studies, target, volume, md5, result,
                           details)
        self._db.execute(
            "INSERT INTO audit (at, station, user, action, job_id, patient_name, patient_id, "
            "studies, target, volume, md5, result, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (entry.at, entry.station, entry.user, action, job_id, patient_name, patient_id,
             json.dumps(list(studies)), target, volume, md5, result, details))
        if self._syslog is not None:
            fields = {"station": entry.station, "host": socket.gethostname(),
                      "user": entry.user, "action": action, "job": job_id,
                      "patient_id": patient_id, "patient_name": patient_name,
                      "studies": list(studies), "target": target, "volume": volume,
                      "md5": md5, "result": result}
            self._syslog.info("AUDIT %s", json.dumps(fields, ensure_ascii=False))
        return entry

    def record_job(self, job: Job, action: str, user: str | None = None,
                   **fields: Any) -> AuditEntry:
        """Record `action` for a job, with its patient, studies and target."""
        return self.record(action, job_id=job.id, patient_name=job.patient_name,
                           patient_id=job.patient_id,
                           studies=tuple(s.study_uid for s in job.studies),
                           target=job.destination, user=user or job.requested_by or None,
                           **fields)

    def entries(self, job_id: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        where, args = ("WHERE job_id = ?", (job_id, limit)) if job_id is not None else ("",
                                                                                      (limit,))
        rows = self._db.execute(
            "SELECT at, station, user, action, job_id, patient_name, patient_id, studies, "
            f"target, volume, md5, result, details FROM audit {where} ORDER BY id DESC LIMIT ?",
            args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7])),
                           r[8], r[9], r[10], r[11], r[12]) for r in rows]

    def close(self) -> None:
        self._db.close()
