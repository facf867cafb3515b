"""The SQLite index (WAL) of patients, studies, series and instances in the store."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

from mw_tui.util.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    pk INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, patient_name)
);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_pk INTEGER NOT NULL REFERENCES patients(pk),
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    accession TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    referring TEXT NOT NULL DEFAULT '',
    charset TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies(patient_pk);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies(study_uid),
    modality TEXT NOT NULL DEFAULT '',
    series_number TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    series_uid TEXT NOT NULL REFERENCES series(series_uid),
    sop_class TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    instance_number TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    header BLOB NOT NULL,
    header_implicit INTEGER NOT NULL,
    header_little INTEGER NOT NULL,
    calling_ae TEXT NOT NULL DEFAULT '',
    received_at REAL NOT NULL,
    unsynced TEXT,
    crc INTEGER
);
CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid);
"""
# NULL: the file is on disk for sure; else the boot id of the kernel that still holds it
# (an instance of our own retrieve, acknowledged before its fsync: see `ingest`)
UNSYNCED_INDEX = ("CREATE INDEX IF NOT EXISTS instances_unsynced ON instances(unsynced) "
                  "WHERE unsynced IS NOT NULL")


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One stored instance, as the index keeps it."""

    sop_uid: str
    sop_class: str
    transfer_syntax: str
    series_uid: str
    study_uid: str
    path: str  # relative to the storage folder
    size: int
    header: bytes
    header_implicit: bool
    header_little: bool
    attrs: dict[str, str]
    calling_ae: str = ""
    received_at: float = field(default_factory=time.time)
    unsynced: str | None = None  # boot id, when written without fsync (see `ingest`)
    crc: int | None = None  # CRC-32 of the file as written, kept with `unsynced`


@dataclass(frozen=True, slots=True)
class StudyRow:
    study_uid: str
    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession: str
    description: str
    study_id: str
    referring: str
    modalities: tuple[str, ...]
    series_count: int
    instances: int
    size_bytes: int
    created_at: float
    updated_at: float
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Keyed by DICOM keyword, as `mw-tui studies --json` prints it."""
        return {
            "PatientName": self.patient_name,
            "PatientID": self.patient_id,
            "PatientBirthDate": self.birth_date,
            "PatientSex": self.sex,
            "StudyInstanceUID": self.study_uid,
            "StudyDate": self.study_date,
            "StudyTime": self.study_time,
            "StudyDescription": self.description,
            "AccessionNumber": self.accession,
            "ReferringPhysicianName": self.referring,
            "StudyID": self.study_id,
            "ModalitiesInStudy": list(self.modalities),
            "NumberOfStudyRelatedSeries": self.series_count,
            "NumberOfStudyRelatedInstances": self.instances,
            "size_bytes": self.size_bytes,
            "sources": list(self.sources),
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class SeriesRow:
    series_uid: str
    study_uid: str
    modality: str
    series_number: str
    description: str
    instances: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class InstanceRow:
    sop_uid: str
    series_uid: str
    sop_class: str
    transfer_syntax: str
    instance_number: str
    path: str
    size: int

    @property
    def number(self) -> int:
        try:
            return int(self.instance_number)
        except ValueError:
            return 0


_STUDY_SELECT = """
SELECT s.study_uid, p.patient_name, p.patient_id, p.birth_date, p.sex, s.study_date,
       s.study_time, s.accession, s.description, s.study_id, s.referring,
       (SELECT group_concat(DISTINCT se.modality) FROM series se
         WHERE se.study_uid = s.study_uid AND se.modality != ''),
       (SELECT count(*) FROM series se WHERE se.study_uid = s.study_uid),
       (SELECT count(*) FROM instances i JOIN series se ON i.series_uid = se.series_uid
         WHERE se.study_uid = s.study_uid),
       (SELECT coalesce(sum(i.size), 0) FROM instances i JOIN series se
         ON i.series_uid = se.series_uid WHERE se.study_uid = s.study_uid),
       s.created_at, s.updated_at,
       (SELECT group_concat(DISTINCT i.calling_ae) FROM instances i JOIN series se
         ON i.series_uid = se.series_uid WHERE se.study_uid = s.study_uid AND i.calling_ae != '')
FROM studies s JOIN patients p ON p.pk = s.patient_pk
"""


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(sorted(value.split(","))) if value else ()


def _study_row(r: tuple[Any, ...]) -> StudyRow:
    return StudyRow(
        study_uid=r[0], patient_name=r[1], patient_id=r[2], birth_date=r[3], sex=r[4],
        study_date=r[5], study_time=r[6], accession=r[7], description=r[8], study_id=r[9],
        referring=r[10], modalities=_split(r[11]), series_count=r[12], instances=r[13],
        size_bytes=r[14], created_at=r[15], updated_at=r[16], sources=_split(r[17]),
    )


class Index(Database):
    """The store's index. Safe to use from several threads and several processes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA, synchronous="NORMAL", foreign_keys=True)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a database was created."""
        db = self.connect()
        columns = {r[1] for r in db.execute("PRAGMA table_info(instances)")}
        for column, kind in (("unsynced", "TEXT"), ("crc", "INTEGER")):
            if column in columns:
                continue
            try:
                db.execute(f"ALTER TABLE instances ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise
        db.execute(UNSYNCED_INDEX)

    # -- writing ------------------------------------------------------------------

    def add(self, rec: InstanceRecord) -> tuple[bool, str | None]:
        """Index an instance, replacing any earlier copy. Returns whether there was one, and
        its path when it lived elsewhere (for the caller to delete)."""
        a = rec.attrs
        now = rec.received_at
        with self.transaction() as db:
            db.execute(
                "INSERT INTO patients (patient_id, patient_name, birth_date, sex) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, patient_name) DO UPDATE SET "
                "birth_date = CASE WHEN excluded.birth_date != '' THEN excluded.birth_date "
                "ELSE birth_date END, sex = CASE WHEN excluded.sex != '' THEN excluded.sex "
                "ELSE sex END",
                (a.get("PatientID", ""), a.get("PatientName", ""),
                 a.get("PatientBirthDate", ""), a.get("PatientSex", "")),
            )
            (patient_pk,) = db.execute(
                "SELECT pk FROM patients WHERE patient_id = ? AND patient_name = ?",
                (a.get("PatientID", ""), a.get("PatientName", "")),
            ).fetchone()
            db.execute(
                "INSERT INTO studies (study_uid, patient_pk, study_date, study_time, accession, "
                "description, study_id, referring, charset, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (study_uid) DO UPDATE SET "
                "patient_pk = excluded.patient_pk, updated_at = excluded.updated_at, "
                "study_date = coalesce(nullif(excluded.study_date, ''), study_date), "
                "study_time = coalesce(nullif(excluded.study_time, ''), study_time), "
                "accession = coalesce(nullif(excluded.accession, ''), accession), "
                "description = coalesce(nullif(excluded.description, ''), description), "
                "study_id = coalesce(nullif(excluded.study_id, ''), study_id), "
                "referring = coalesce(nullif(excluded.referring, ''), referring), "
                "charset = coalesce(nullif(excluded.charset, ''), charset)",
                (rec.study_uid, patient_pk, a.get("StudyDate", ""), a.get("StudyTime", ""),
                 a.get("AccessionNumber", ""), a.get("StudyDescription", ""),
                 a.get("StudyID", ""), a.get("ReferringPhysicianName", ""),
                 a.get("SpecificCharacterSet", ""), now, now),
            )
            db.execute(
                "INSERT INTO series (series_uid, study_uid, modality, series_number, description)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (series_uid) DO UPDATE SET "
                "study_uid = excluded.study_uid, "
                "modality = coalesce(nullif(excluded.modality, ''), modality), "
                "series_number = coalesce(nullif(excluded.series_number, ''), series_number), "
                "description = coalesce(nullif(excluded.description, ''), description)",
                (rec.series_uid, rec.study_uid, a.get("Modality", ""),
                 a.get("SeriesNumber", ""), a.get("SeriesDescription", "")),
            )
            old = db.execute("SELECT path, series_uid FROM instances WHERE sop_uid = ?",
                             (rec.sop_uid,)).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO instances (sop_uid, series_uid, sop_class, "
                "transfer_syntax, instance_number, path, size, header, header_implicit, "
                "header_little, calling_ae, received_at, unsynced, crc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.sop_uid, rec.series_uid, rec.sop_class, rec.transfer_syntax,
                 a.get("InstanceNumber", ""), rec.path, rec.size, rec.header,
                 int(rec.header_implicit), int(rec.header_little), rec.calling_ae, now,
                 rec.unsynced, rec.crc),
            )
            if old and old[1] != rec.series_uid:
                self._prune(db, [old[1]])
        if old and old[0] != rec.path:
            return True, str(old[0])
        return old is not None, None

    def durable(self, sop_uid: str) -> bool:
        """Whether the instance is indexed and its file known to be on disk."""
        row = self.connect().execute("SELECT unsynced FROM instances WHERE sop_uid = ?",
                                     (sop_uid,)).fetchone()
        return row is not None and row[0] is None

    def unsynced(self) -> list[tuple[str, str, str]]:
        """(sop_uid, path, boot id) of every instance written without fsync."""
        return [(r[0], r[1], r[2]) for r in self.connect().execute(
            "SELECT sop_uid, path, unsynced FROM instances WHERE unsynced IS NOT NULL")]

    def unsynced_elsewhere(self, boot_id: str) -> list[tuple[str, str, int | None]]:
        """(sop_uid, path, CRC-32) of the instances another boot wrote without fsync."""
        return [(r[0], r[1], r[2]) for r in self.connect().execute(
            "SELECT sop_uid, path, crc FROM instances WHERE unsynced IS NOT NULL "
            "AND unsynced != ?", (boot_id,))]

    def clear_marks(self, sop_uids: Iterable[str]) -> None:
        """These instances are on disk after all (read back intact)."""
        with self.transaction() as db:
            db.executemany("UPDATE instances SET unsynced = NULL, crc = NULL WHERE sop_uid = ?",
                           [(u,) for u in sop_uids])

    def has_unsynced(self, boot_id: str) -> bool:
        return self.connect().execute("SELECT 1 FROM instances WHERE unsynced = ? LIMIT 1",
                                      (boot_id,)).fetchone() is not None

    def mark_synced(self, boot_id: str, before: float) -> int:
        """Clear the marks of this boot's instances received before `before` (their
        data went to disk with a syncfs started after that); returns how many."""
        with self.transaction() as db:
            return db.execute("UPDATE instances SET unsynced = NULL, crc = NULL WHERE "
                              "unsynced = ? AND "
                              "received_at < ?", (boot_id, before)).rowcount

    def remove_instances(self, sop_uids: Iterable[str]) -> None:
        with self.transaction() as db:
            series = set()
            for uid in sop_uids:
                row = db.execute("SELECT series_uid FROM instances WHERE sop_uid = ?",
                                 (uid,)).fetchone()
                if row:
                    series.add(row[0])
                    db.execute("DELETE FROM instances WHERE sop_uid = ?", (uid,))
            self._prune(db, series)

    def remove_study(self, study_uid: str) -> list[str]:
        """Forget a study; returns the paths of its instances."""
        with self.transaction() as db:
            return self.forget_study(db, study_uid)

    @staticmethod
    def forget_study(db: sqlite3.Connection, study_uid: str) -> list[str]:
        """Within a transaction: delete a study's rows; returns its instances' paths."""
        paths = [r[0] for r in db.execute(
            "SELECT i.path FROM instances i JOIN series se ON i.series_uid = se.series_uid "
            "WHERE se.study_uid = ?", (study_uid,))]
        db.execute("DELETE FROM instances WHERE series_uid IN "
                   "(SELECT series_uid FROM series WHERE study_uid = ?)", (study_uid,))
        db.execute("DELETE FROM series WHERE study_uid = ?", (study_uid,))
        db.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))
        db.execute("DELETE FROM patients WHERE pk NOT IN (SELECT patient_pk FROM studies)")
        return paths

    @staticmethod
    def _prune(db: sqlite3.Connection, series: Iterable[str]) -> None:
        for s in series:
            if db.execute("SELECT 1 FROM instances WHERE series_uid = ? LIMIT 1",
                          (s,)).fetchone():
                continue
            row = db.execute("SELECT study_uid FROM series WHERE series_uid = ?",
                             (s,)).fetchone()
            db.execute("DELETE FROM series WHERE series_uid = ?", (s,))
            if row and not db.execute("SELECT 1 FROM series WHERE study_uid = ? LIMIT 1",
                                      (row[0],)).fetchone():
                db.execute("DELETE FROM studies WHERE study_uid = ?", (row[0],))
        db.execute("DELETE FROM patients WHERE pk NOT IN (SELECT patient_pk FROM studies)")

    # -- reading ------------------------------------------------------------------

    def studies(self, since: float | None = None) -> list[StudyRow]:
        """Every study, most recently updated first (or only those updated after `since`)."""
        db = self.connect()
        if since is None:
            rows = db.execute(_STUDY_SELECT + " ORDER BY s.updated_at DESC").fetchall()
        else:
            rows = db.execute(_STUDY_SELECT + " WHERE s.updated_at > ? ORDER BY s.updated_at "
                              "DESC", (since,)).fetchall()
        return [_study_row(r) for r in rows]

    def study(self, study_uid: str) -> StudyRow | None:
        r = self.connect().execute(_STUDY_SELECT + " WHERE s.study_uid = ?",
                                    (study_uid,)).fetchone()
        return _study_row(r) if r else None

    def series(self, study_uid: str) -> list[SeriesRow]:
        rows = self.connect().execute(
            "SELECT se.series_uid, se.study_uid, se.modality, se.series_number, "
            "se.description, count(i.sop_uid), coalesce(sum(i.size), 0) FROM series se "
            "LEFT JOIN instances i ON i.series_uid = se.series_uid WHERE se.study_uid = ? "
            "GROUP BY se.series_uid ORDER BY CAST(se.series_number AS INTEGER), se.series_uid",
            (study_uid,)).fetchall()
        return [SeriesRow(*r) for r in rows]

    def instances(self, series_uid: str) -> list[InstanceRow]:
        rows = self.connect().execute(
            "SELECT sop_uid, series_uid, sop_class, transfer_syntax, instance_number, path, "
            "size FROM instances WHERE series_uid = ? "
            "ORDER BY CAST(instance_number AS INTEGER), sop_uid", (series_uid,)).fetchall()
        return [InstanceRow(*r) for r in rows]

    def study_instances(self, study_uid: str) -> list[InstanceRow]:
        out: list[InstanceRow] = []
        for s in self.series(study_uid):
            out += self.instances(s.series_uid)
        return out

    def instance(self, sop_uid: str) -> InstanceRow | None:
        r = self.connect().execute(
            "SELECT sop_uid, series_uid, sop_class, transfer_syntax, instance_number, path, "
            "size FROM instances WHERE sop_uid = ?", (sop_uid,)).fetchone()
        return InstanceRow(*r) if r else None

    def held(self, sop_uids: list[str]) -> set[str]:
        """Those of `sop_uids` the store holds (at most a few hundred at a time)."""
        if not sop_uids:
            return set()
        marks = ",".join("?" * len(sop_uids))
        return {r[0] for r in self.connect().execute(
            f"SELECT sop_uid FROM instances WHERE sop_uid IN ({marks})", sop_uids)}

    def study_of(self, sop_uid: str) -> str | None:
        """The Study Instance UID of a stored instance (None when it is not stored)."""
        r = self.connect().execute(
            "SELECT se.study_uid FROM instances i JOIN series se ON se.series_uid = "
            "i.series_uid WHERE i.sop_uid = ?", (sop_uid,)).fetchone()
        return str(r[0]) if r else None

    def header(self, sop_uid: str) -> Dataset:
        """The instance's top-level attributes (bulk data left out) from the index."""
        r = self.connect().execute(
            "SELECT header, header_implicit, header_little FROM instances WHERE sop_uid = ?",
            (sop_uid,)).fetchone()
        if r is None:
            raise KeyError(sop_uid)
        return read_dataset(io.BytesIO(r[0]), bool(r[1]), bool(r[2]))

    def paths(self) -> dict[str, str]:
        """sop_uid -> relative path of every indexed instance."""
        return dict(self.connect().execute("SELECT sop_uid, path FROM instances"))

    def counts(self) -> tuple[int, int, int]:
        db = self.connect()
        return (
            db.execute("SELECT count(*) FROM studies").fetchone()[0],
            db.execute("SELECT count(*) FROM series").fetchone()[0],
            db.execute("SELECT count(*) FROM instances").fetchone()[0],
        )
