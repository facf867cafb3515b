"""The DICOMDIR of an outside medium, read defensively: records are found by their byte
offsets (PS3.10 8.6), each offset followed at most once, so a record loop or an offset
cycle ends the walk with a note instead of hanging it. A Referenced File ID that could
leave the medium (`..`, absolute, a drive letter, a separator) is refused and reported;
the others are only names to look up among the files the medium really holds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mw_tui.importing.elements import (
    ITEM,
    ITEM_END,
    SEQ_END,
    UNDEFINED,
    BadFile,
    ReadAt,
    Walker,
    Window,
    read_header,
)
from mw_tui.importing.models import Unreadable

MAX_SIZE = 64 * 1024 * 1024  # a DICOMDIR larger than this is not read (scan instead)
MAX_RECORD_DEPTH = 16
MAX_FILE_ID_PARTS = 16
_VALUE_LIMIT = 1024
ROOT_OFFSET = 0x00041200
RECORD_SEQUENCE = 0x00041220
NEXT, IN_USE, LOWER, RECORD_TYPE = 0x00041400, 0x00041410, 0x00041420, 0x00041430
FILE_ID, SOP_INSTANCE_IN_FILE = 0x00041500, 0x00041511
STUDY_UID, SERIES_UID = 0x0020000D, 0x0020000E
_WANTED = frozenset({NEXT, IN_USE, LOWER, RECORD_TYPE, FILE_ID, SOP_INSTANCE_IN_FILE,
                     STUDY_UID, SERIES_UID})


@dataclass(frozen=True, slots=True)
class Reference:
    """A file the DICOMDIR lists, with the study its records place it in."""

    file_id: tuple[str, ...]
    record_type: str
    study_uid: str = ""
    sop_instance_uid: str = ""

    @property
    def path(self) -> str:
        return "/".join(self.file_id)


@dataclass(frozen=True, slots=True)
class Directory:
    references: tuple[Reference, ...]
    refused: tuple[Unreadable, ...]  # file IDs that would leave the medium
    problems: tuple[str, ...]  # loops, broken offsets, unreachable records

    @property
    def complete(self) -> bool:
        return not self.problems


def check_file_id(raw: bytes) -> tuple[tuple[str, ...] | None, str]:
    """(components, "") of a valid Referenced File ID, else (None, why it is refused)."""
    text = raw.decode("latin-1").rstrip("\0 ")
    shown = text.replace("\\", "/")[:200]
    if not text:
        return None, "an empty Referenced File ID"
    parts = tuple(p.strip() for p in text.split("\\"))
    if text.startswith(("\\", "/")) or ":" in parts[0]:
        return None, f"the absolute file ID {shown!r} leaves the medium: refused"
    if any(p in (".", "..") for p in parts):
        return None, f"the file ID {shown!r} leaves the medium: refused"
    if any(not p or "/" in p or "\0" in p or ":" in p for p in parts):
        return None, f"the file ID {shown!r} is not a valid file ID: refused"
    if len(parts) > MAX_FILE_ID_PARTS:
        return None, f"the file ID {shown!r} has more than {MAX_FILE_ID_PARTS} components"
    return parts, ""


def read_dicomdir(data: bytes) -> Directory:
    """The references of a DICOMDIR held in `data`; BadFile when it cannot be read."""
    if len(data) > MAX_SIZE:
        raise BadFile(f"the DICOMDIR is larger than {MAX_SIZE // (1 << 20)} MiB")

    def read_at(offset: int, count: int) -> bytes:
        return data[offset : offset + count]

    header = read_header(read_at, len(data))
    by_tag = {e.tag: e for e in header.elements}
    seq = by_tag.get(RECORD_SEQUENCE)
    if seq is None:
        raise BadFile("the DICOMDIR has no Directory Record Sequence")
    ul = struct.Struct("<I" if header.little else ">I")
    root = by_tag.get(ROOT_OFFSET)
    root_offset = 0
    if root is not None and root.length == 4:
        (root_offset,) = ul.unpack(data[root.value : root.value + 4])
    records = _records(read_at, len(data), header.implicit, header.little, seq.value,
                       seq.length)
    return _walk(records, root_offset, ul)


def _records(read_at: ReadAt, size: int, implicit: bool, little: bool, start: int,
             length: int) -> dict[int, dict[int, bytes]]:
    """Each record's offset (where its item starts) -> its wanted values."""
    win = Window(read_at, size)
    walker = Walker(win, implicit, little)
    end = start + length if length != UNDEFINED else size
    records: dict[int, dict[int, bytes]] = {}
    pos = start
    while pos < end:
        tag, _, ipos, ilen = walker.element(pos, True)
        if tag == SEQ_END:
            break
        if tag != ITEM:
            raise BadFile(f"expected a directory record, found tag {tag:08X} at byte {pos}")
        values: dict[int, bytes] = {}
        item_end = ipos + ilen if ilen != UNDEFINED else None
        p = ipos
        while item_end is None or p < item_end:
            etag, vr, vpos, vlen = walker.element(p, implicit)
            if etag == ITEM_END:
                p = vpos
                break
            if etag in _WANTED and vlen <= _VALUE_LIMIT:
                values[etag] = win.get(vpos, vlen, "record value")
            p = walker.skip(etag, vr, vpos, vlen, 2, implicit or vr == b"UN")
        records[pos] = values
        pos = item_end if item_end is not None else p
    return records


def _text(values: dict[int, bytes], tag: int) -> str:
    return values.get(tag, b"").decode("latin-1").strip("\0 ")


def _walk(records: dict[int, dict[int, bytes]], root: int, ul: struct.Struct) -> Directory:
    def offset(values: dict[int, bytes], tag: int) -> int:
        raw = values.get(tag, b"")
        return int(ul.unpack(raw)[0]) if len(raw) == 4 else 0

    refs: list[Reference] = []
    refused: list[Unreadable] = []
    problems: list[str] = []
    visited: set[int] = set()
    if not root and records:
        problems.append("the DICOMDIR names no first record")
    stack: list[tuple[int, str, int]] = [(root, "", 0)]  # (offset, study UID, depth)
    while stack:
        at, study, depth = stack.pop()
        while at:
            if at in visited:
                problems.append(f"record loop: the record at byte {at} is reached twice")
                break
            visited.add(at)
            values = records.get(at)
            if values is None:
                problems.append(f"an offset points to byte {at}, where no record starts")
                break
            kind = _text(values, RECORD_TYPE).upper()
            here = _text(values, STUDY_UID) if kind == "STUDY" else study
            in_use = values.get(IN_USE, b"\xff\xff") != b"\x00\x00"
            if FILE_ID in values and in_use:
                parts, why = check_file_id(values[FILE_ID])
                if parts is None:
                    refused.append(Unreadable(values[FILE_ID].decode("latin-1")
                                              .rstrip("\0 ")[:200], why, here))
                else:
                    refs.append(Reference(parts, kind, here,
                                          _text(values, SOP_INSTANCE_IN_FILE)))
            lower = offset(values, LOWER)
            if lower:
                if depth + 1 >= MAX_RECORD_DEPTH:
                    problems.append(f"records nested deeper than {MAX_RECORD_DEPTH} levels")
                else:
                    stack.append((lower, here, depth + 1))
            at = offset(values, NEXT)
    lost = len(records.keys() - visited)
    if lost:
        problems.append(f"{lost} records cannot be reached from the first one")
    return Directory(tuple(refs), tuple(refused), tuple(dict.fromkeys(problems)))
