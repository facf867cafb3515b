"""Keeping the index and the files in agreement: check, recover after a crash, reindex.

Recovery also settles the instances of the station's own retrieves that were acknowledged
before their fsync (`sync`): marked by the current boot (a killed process; the kernel still
holds the data) they are synced and kept; marked by another boot (a power loss or reboot
before the sync) their files and rows are removed, and the retrieve fetches them again.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from mw_tui.store import layout, sink, spares, sync
from mw_tui.store.header import MalformedDataset, scan
from mw_tui.store.index import InstanceRecord
from mw_tui.store.ingest import PREAMBLE, Store

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    indexed: int = 0
    files: int = 0
    unindexed: list[str] = field(default_factory=list)  # files the index does not know
    missing: list[str] = field(default_factory=list)  # index rows without a file
    partial: list[str] = field(default_factory=list)  # temp files of interrupted writes
    invalid: list[str] = field(default_factory=list)  # files that are not readable DICOM
    # files of a retrieve that an earlier boot never synced (power loss): removed by recover
    unsynced: list[str] = field(default_factory=list)
    synced: int = 0  # instances of this boot made durable by recover
    lost: list[str] = field(default_factory=list)  # unsynced files recover removed
    # files shorter than they were written (a power loss before their sync): never
    # acknowledged; recover moved them to quarantine/
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unindexed or self.missing or self.partial or self.invalid
                    or self.unsynced)

    def lines(self) -> list[str]:
        out = [f"{self.files} files, {self.indexed} indexed instances"]
        for name, items, fix in (
            ("files not in the index", self.unindexed, "mw-tui store reindex"),
            ("index entries without a file", self.missing, "mw-tui store reindex"),
            ("partial files of interrupted transfers", self.partial, "removed at next start"),
            ("files that are not valid DICOM", self.invalid, "inspect and remove them"),
            ("retrieved files a power loss may have cut before they reached the disk",
             self.unsynced, "checked at next start: kept when they read back as written, "
             "else removed and retrieved again by their jobs"),
            ("files a power loss cut before they were acknowledged", self.quarantined,
             f"moved to {layout.QUARANTINE}/: their senders send them again; remove "
             "them once they have"),
        ):
            if items:
                out.append(f"{len(items)} {name} ({fix}):")
                out += [f"  {p}" for p in items[:20]]
                if len(items) > 20:
                    out.append(f"  ... and {len(items) - 20} more")
        if self.ok:
            out.append("index and files agree")
        return out


def _walk(root: Path) -> tuple[list[str], list[str]]:
    """(relative paths of instance files, relative paths of temp files)."""
    files, partial = [], []
    for d, _, names in os.walk(root / layout.STUDIES):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), root)
            if n.endswith(layout.PART_SUFFIX):
                partial.append(rel)
            elif n.endswith(layout.SUFFIX):
                files.append(rel)
    for n in os.listdir(root / layout.INCOMING):
        if not spares.is_spare(n) or spares.owner_gone(n):  # a live receiver's: not partial
            partial.append(os.path.join(layout.INCOMING, n))
    return files, partial


def check(store: Store) -> CheckReport:
    files, partial = _walk(store.root)
    indexed = store.index.paths()
    on_disk = set(files)
    known = set(indexed.values())
    boot = sync.boot_id()
    return CheckReport(
        indexed=len(indexed),
        files=len(files),
        unindexed=sorted(on_disk - known),
        missing=sorted(p for p in known if p not in on_disk),
        partial=sorted(partial),
        unsynced=sorted(p for _, p, b in store.index.unsynced() if b != boot),
    )


def read_part10(path: Path) -> tuple[str, str, str, str, int]:
    """(SOP class, SOP instance, transfer syntax, source AE, dataset offset) of a file we wrote.

    Raises MalformedDataset for anything else.
    """
    with open(path, "rb") as f:
        head = f.read(132 + 12)
        if len(head) < 144 or head[:132] != PREAMBLE or head[132:136] != b"\x02\x00\x00\x00":
            raise MalformedDataset("not a Part 10 file with a group length")
        (length,) = struct.unpack_from("<I", head, 140)
        if length > 64 * 1024:
            raise MalformedDataset("file meta too long")
        meta = f.read(length)
    values: dict[int, str] = {}
    pos = 0
    while pos + 8 <= len(meta):
        group, elem = struct.unpack_from("<HH", meta, pos)
        vr = meta[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            (n,) = struct.unpack_from("<I", meta, pos + 8)
            start = pos + 12
        else:
            (n,) = struct.unpack_from("<H", meta, pos + 6)
            start = pos + 8
        if group != 2:
            break
        values[elem] = meta[start : start + n].decode("ascii", "replace").strip("\0 ")
        pos = start + n
    try:
        return values[2], values[3], values[0x10], values.get(0x16, ""), 144 + length
    except KeyError as exc:
        raise MalformedDataset("file meta lacks SOP class, instance or transfer syntax") from exc


def index_file(store: Store, rel: str) -> None:
    """(Re)index one instance file of the store from its own content."""
    path = store.root / rel
    sop_class, sop_uid, ts, source, offset = read_part10(path)
    data = path.read_bytes()[offset:]
    head = scan(data, ts)
    a = head.attrs
    expected = layout.instance_path(store.root, a.get("StudyInstanceUID", ""),
                                    a.get("SeriesInstanceUID", ""), sop_uid)
    if expected != path:
        where = layout.relative(store.root, expected)
        raise MalformedDataset(f"file is not where its UIDs say ({where})")
    store.index.add(InstanceRecord(
        sop_uid=sop_uid, sop_class=sop_class, transfer_syntax=ts,
        series_uid=a["SeriesInstanceUID"], study_uid=a["StudyInstanceUID"], path=rel,
        size=path.stat().st_size, header=head.header, header_implicit=head.implicit,
        header_little=head.little, attrs=a, calling_ae=source,
        received_at=path.stat().st_mtime,
    ))


def _cut(path: Path) -> bool:
    """Whether the file is shorter than it was written (its size mark says so)."""
    marked = sink.marked_size(path)
    try:
        return marked is not None and path.stat().st_size != marked
    except OSError:
        return False


def _quarantine(store: Store, rel: str) -> None:
    """A file a power loss cut before it was synced (so before it was acknowledged):
    kept aside in quarantine/, out of the store, for whoever wants to look at it."""
    dest = store.root / layout.QUARANTINE / rel.replace("/", "_")
    dest.parent.mkdir(exist_ok=True, mode=0o700)
    os.replace(store.root / rel, dest)
    log.warning("store: %s is shorter than it was written (a power loss before it reached "
                "the disk; it was never acknowledged, its sender sends it again): moved to "
                "%s", rel, dest)


def recover(store: Store, full: bool = False) -> CheckReport:
    """Make index and files agree: what `mw-tui serve` does at every start.

    Removes temp files of interrupted writes, indexes complete files the index lacks
    (a crash between rename and index), and drops index rows whose file is gone. With
    `full`, every file is reindexed from its content (`mw-tui store reindex`).

    Instances of our own retrieves not yet synced (`sync`): this boot's are synced now;
    another boot's are kept when they read back as written (CRC-32), else removed (in
    `lost`), and so are the files such a boot left that cannot be indexed (their rows went
    with the power too).
    """
    boot = sync.boot_id()
    lost = store.drop_lost()
    cut_boots = sync.other_boot_markers(store.root, boot)
    synced = 0
    try:
        synced = store.make_durable()
    except OSError as exc:
        log.error("store: %s", sync.failed_message(store.root, exc))
    if synced:
        log.info("store: %d retrieved images of a process that stopped before syncing them "
                 "are now on disk", synced)
    report = check(store)
    report.lost, report.synced = lost, synced
    for rel in report.partial:
        (store.root / rel).unlink(missing_ok=True)
    present = set(store.index.paths().values()) - set(report.missing) if full else set()
    todo = sorted(set(report.unindexed) | present)
    indexed = 0
    for rel in todo:
        cut = rel in report.unindexed and _cut(store.root / rel)
        if cut and not cut_boots:
            _quarantine(store, rel)
            report.quarantined.append(rel)
            continue
        try:
            if cut:
                raise MalformedDataset("shorter than it was written")
            index_file(store, rel)
            indexed += 1
        except (MalformedDataset, layout.InvalidUID, OSError) as exc:
            if cut_boots and rel in report.unindexed and not isinstance(exc, layout.InvalidUID):
                log.warning("store: %s was cut by a power loss before it reached the disk "
                            "(%s): removed; its retrieve fetches it again", rel, exc)
                (store.root / rel).unlink(missing_ok=True)
                report.lost.append(rel)
                continue
            log.error("store: %s cannot be indexed: %s", rel, exc)
            report.invalid.append(rel)
    if report.missing:
        gone = set(report.missing)
        store.index.remove_instances([u for u, p in store.index.paths().items() if p in gone])
    if report.partial or todo or report.missing:
        log.info("store: removed %d partial files, indexed %d files, forgot %d missing",
                 len(report.partial), indexed, len(report.missing))
    for p in cut_boots:
        p.unlink(missing_ok=True)
    return report
