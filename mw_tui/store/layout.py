"""Where things live inside the storage folder; paths are built from validated UIDs only."""

from __future__ import annotations

import os
from pathlib import Path

from mw_tui.config import is_valid_uid, paths

INDEX_NAME = paths.INDEX_NAME
STUDIES = "studies"
INCOMING = "incoming"  # large instances are spooled here while they arrive
QUARANTINE = "quarantine"  # files a power loss cut before they were acknowledged
PART_SUFFIX = ".part"
SUFFIX = ".dcm"


class InvalidUID(ValueError):
    pass


def check_uid(value: str, what: str) -> str:
    """`value` when it is a valid UID; else InvalidUID (a bad value never becomes a path)."""
    if not is_valid_uid(value):
        raise InvalidUID(f"{what} {value[:80]!r} is not a valid UID")
    return value


def instance_path(root: Path, study: str, series: str, sop: str) -> Path:
    return (
        root
        / STUDIES
        / check_uid(study, "StudyInstanceUID")
        / check_uid(series, "SeriesInstanceUID")
        / (check_uid(sop, "SOPInstanceUID") + SUFFIX)
    )


def study_dir(root: Path, study: str) -> Path:
    return root / STUDIES / check_uid(study, "StudyInstanceUID")


def relative(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(root: Path, path: Path) -> None:
    """Create `path` and its parents below `root`, syncing each new entry to disk."""
    missing = []
    p = path
    while not p.exists() and p != root:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        fsync_dir(d.parent)
