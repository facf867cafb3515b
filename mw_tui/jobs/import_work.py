"""What an import job keeps in its work folder, between its steps and across a crash: the
medium as it was read (`medium.json`), and every instance the archive confirmed
(`confirmed.txt`: one SOP Instance UID a line, appended the moment the archive
acknowledges it), so a resumed job never sends those again."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from mw_tui.importing import Medium

log = logging.getLogger(__name__)

MEDIUM = "medium.json"
CONFIRMED = "confirmed.txt"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def save_medium(workdir: Path, medium: Medium) -> None:
    """The medium as read, written atomically (temp file, fsync, rename)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f".{MEDIUM}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(medium.to_dict(), f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, workdir / MEDIUM)


def load_medium(workdir: Path) -> Medium | None:
    """The medium the job read (None when it was never read, or the file is damaged)."""
    try:
        data: Any = json.loads((workdir / MEDIUM).read_text(encoding="utf-8"))
        return Medium.from_dict(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("import: %s is damaged (%s): the medium is read again", workdir / MEDIUM,
                    exc)
        return None


def confirmed(workdir: Path) -> set[str]:
    """The SOP Instance UIDs (as on the medium) the archive confirmed so far; a line a
    crash cut short is not one."""
    try:
        text = (workdir / CONFIRMED).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return set()
    lines = text.split("\n")[:-1]  # the last piece has no newline: cut short, or empty
    return {line for line in lines if len(line) <= 64 and _UID.match(line)}


class ConfirmedLog:
    """Appends confirmed UIDs: each line reaches the kernel at once (a kill -9 loses none)
    and the disk at least every `sync_every` seconds (a power cut loses at most those:
    they are sent again, and the archive keeps one copy of an instance)."""

    def __init__(self, workdir: Path, sync_every: float = 0.5) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(workdir / CONFIRMED, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                          | os.O_CLOEXEC, 0o600)
        self.sync_every = sync_every
        self._synced = time.monotonic()

    def add(self, sop_instance_uid: str) -> None:
        os.write(self.fd, sop_instance_uid.encode("ascii") + b"\n")
        now = time.monotonic()
        if now - self._synced >= self.sync_every:
            os.fdatasync(self.fd)
            self._synced = now

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.fdatasync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = -1

    def __enter__(self) -> ConfirmedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
