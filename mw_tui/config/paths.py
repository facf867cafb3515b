"""Every path the station keeps under its storage folder (and its work folder), named once.

The store owns the layout of its own files (`studies/`, `incoming/`, `trash/`); everything
else the station writes next to them is named here, so the jobs, the commands and the
screens never build a path of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

INDEX_NAME = "index.sqlite"  # the store's index (the store uses this name)


class _HasStorage(Protocol):
    @property
    def storage(self) -> Path: ...

    @property
    def media(self) -> object: ...


@dataclass(frozen=True, slots=True)
class StoragePaths:
    storage: Path  # station.storage
    work: Path  # media.work, else the storage folder: big temporary files go here

    @classmethod
    def of(cls, config: _HasStorage) -> StoragePaths:
        work = str(getattr(config.media, "work", "") or "")
        return cls(config.storage, Path(work) if work else config.storage)

    @property
    def index(self) -> Path:
        """The store's SQLite index."""
        return self.storage / INDEX_NAME

    @property
    def jobs_db(self) -> Path:
        """The job queue, its events and the audit log."""
        return self.storage / "jobs.sqlite"

    @property
    def media_requests(self) -> Path:
        """Media creation requests from a RIS or PACS (Media Creation Management)."""
        return self.storage / "media-requests.sqlite"

    @property
    def jobs_lock(self) -> Path:
        """Held by the one process that runs the jobs."""
        return self.storage / "jobs.lock"

    @property
    def jobs_bell(self) -> Path:
        """The socket the process running the jobs listens on, to be woken (`jobs.bell`)."""
        return self.storage / "jobs.bell"

    @property
    def door(self) -> Path:
        """The socket of the process running the jobs, through which a command runs there
        instead of loading the station itself (`util.door`)."""
        return self.storage / "station.door"

    @property
    def jobs_work(self) -> Path:
        """The jobs' work folders (files being transcoded, ISO images being made)."""
        return self.work / "jobs"

    def job_work(self, job_id: int) -> Path:
        return self.jobs_work / str(job_id)

    @property
    def build_work(self) -> Path:
        """Work folders of `mw-tui build`."""
        return self.work / "media-work"

    @property
    def previews(self) -> Path:
        """The web previews of the store's images, kept (`media.web_previews_ahead`)."""
        return self.storage / "previews"

    @property
    def labels(self) -> Path:
        """The jobs' disc labels (a folder per job), kept to print again."""
        return self.storage / "labels"

    @property
    def audit_spool(self) -> Path:
        """Audit messages waiting for the audit repository."""
        return self.storage / "audit-spool"

    @property
    def log_file(self) -> Path:
        """The app's log file (it draws on the terminal, so it logs next to the store)."""
        return self.storage.parent / "mw-tui.log"
