"""Encoding a DICOMDIR (PS3.10 7.3, PS3.3 F.3) from a tree of directory records.

Each record is encoded once (Explicit VR Little Endian, defined lengths) with its three
offsets zero; once every record's position is known, the offsets are patched in place.
Linear in the number of records, unlike pydicom's `FileSet.add()`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import generate_uid

from mw_tui.standard import sop
from mw_tui.store.ingest import file_meta

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_LONG_VRS = (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"OV")
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
# Offsets inside an encoded record (item header, then (0004,1400) UL, (0004,1410) US,
# (0004,1420) UL): where the values of the next and lower offsets sit.
_NEXT_AT = 8 + 8
_LOWER_AT = 8 + 12 + 10 + 8


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """One Explicit VR Little Endian element; `value` must already have an even length."""
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def text(value: str, pad: bytes = b" ") -> bytes:
    b = value.encode("ascii")
    return b + pad if len(b) % 2 else b


def uid(value: str) -> bytes:
    return text(value, b"\0")


@dataclass(slots=True)
class Node:
    """One directory record and the records of its lower-level entity."""

    record: bytearray
    children: list[Node] = field(default_factory=list)


def encode_keys(keys: Dataset) -> bytes:
    """A record's keys (elements after group 0004), Explicit VR Little Endian."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, keys)
    return fp.getvalue()


def instance_number_key(number: str) -> bytes:
    """The keys of a plain IMAGE record: Instance Number alone."""
    return element(0x0020, 0x0013, b"IS", text(number.strip()[:12]))


def record(record_type: str, keys: bytes, file_id: Sequence[str] | None = None,
           sop_class: str = "", sop_uid: str = "", transfer_syntax: str = "") -> Node:
    """A record with zero offsets; a leaf names the file it references."""
    body = [
        element(0x0004, 0x1400, b"UL", b"\0\0\0\0"),
        element(0x0004, 0x1410, b"US", b"\xff\xff"),
        element(0x0004, 0x1420, b"UL", b"\0\0\0\0"),
        element(0x0004, 0x1430, b"CS", text(record_type)),
    ]
    if file_id:
        body += [
            element(0x0004, 0x1500, b"CS", text("\\".join(file_id))),
            element(0x0004, 0x1510, b"UI", uid(sop_class)),
            element(0x0004, 0x1511, b"UI", uid(sop_uid)),
            element(0x0004, 0x1512, b"UI", uid(transfer_syntax)),
        ]
    content = b"".join(body)
    # (0004,1432) Private Record UID sorts after (0004,1430) and before (0004,1500)
    if keys[:4] == struct.pack("<HH", 0x0004, 0x1432):
        n = struct.unpack_from("<H", keys, 6)[0] + 8
        content = b"".join(body[:4]) + keys[:n] + b"".join(body[4:])
        keys = keys[n:]
    content += keys
    return Node(bytearray(_ITEM + struct.pack("<I", len(content)) + content))


def _walk(nodes: list[Node]) -> Iterator[Node]:
    """Depth first: each record followed by its lower-level entity."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def encode(fileset_id: str, roots: list[Node], instance_uid: str | None = None) -> bytes:
    """The DICOMDIR file: preamble, file meta, header and every record, offsets set."""
    meta = file_meta(MEDIA_STORAGE_DIRECTORY, instance_uid or generate_uid(), sop.EXPLICIT_VR_LE)
    order = list(_walk(roots))
    records_len = sum(len(n.record) for n in order)
    head_len = len(element(0x0004, 0x1130, b"CS", text(fileset_id))) + 12 + 12 + 10 + 12
    start = len(meta) + head_len
    position: dict[int, int] = {}
    pos = start
    for node in order:
        position[id(node)] = pos
        pos += len(node.record)
    for siblings in _sibling_lists(roots):
        for i, node in enumerate(siblings):
            nxt = position[id(siblings[i + 1])] if i + 1 < len(siblings) else 0
            struct.pack_into("<I", node.record, _NEXT_AT, nxt)
            lower = position[id(node.children[0])] if node.children else 0
            struct.pack_into("<I", node.record, _LOWER_AT, lower)
    first = position[id(roots[0])] if roots else 0
    last = position[id(roots[-1])] if roots else 0
    header = b"".join((
        element(0x0004, 0x1130, b"CS", text(fileset_id)),
        element(0x0004, 0x1200, b"UL", struct.pack("<I", first)),
        element(0x0004, 0x1202, b"UL", struct.pack("<I", last)),
        element(0x0004, 0x1212, b"US", b"\0\0"),
        struct.pack("<HH2sHI", 0x0004, 0x1220, b"SQ", 0, records_len),
    ))
    assert len(header) == head_len
    return meta + header + b"".join(bytes(n.record) for n in order)


def _sibling_lists(roots: list[Node]) -> Iterator[list[Node]]:
    yield roots
    for node in _walk(roots):
        if node.children:
            yield node.children
