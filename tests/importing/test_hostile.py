"""Outside media are untrusted: file IDs that leave the medium, record loops, absurd
lengths, truncated files, links and devices are each reported, nothing outside the
medium is read (a FIFO waits there: opening it would hang the test), the process goes on.
"""

from __future__ import annotations

import os
import random
import resource
import struct
from pathlib import Path

import pytest

from mw_tui.demo import synth
from mw_tui.importing import DicomdirState, read_medium
from mw_tui.importing.dicomdir import check_file_id
from tests.importing.conftest import Disc, ct_files, outside_ct, write_disc

NEXT_RECORD = b"\x04\x00\x00\x14UL\x04\x00"  # (0004,1400) UL, 4 bytes, explicit VR LE


@pytest.fixture
def disc(tmp_path: Path) -> Disc:
    """Four CT images on a dcmmkdir disc, two folders below a trap: a FIFO and a DICOM
    file that the medium's file IDs will point at."""
    medium = tmp_path / "a" / "b"
    medium.mkdir(parents=True)
    os.mkfifo(tmp_path / "SECRET01")
    (tmp_path / "SECRET02").write_bytes(synth.part10(outside_ct(1)[0]))
    return write_disc(medium, ct_files(outside_ct(4)))


def patched(disc: Disc, old: bytes, new: bytes) -> None:
    path = disc.tree / "DICOMDIR"
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))


def records(data: bytes) -> list[int]:
    """Offsets of the directory records (each starts with its next-record offset)."""
    out, pos = [], data.find(NEXT_RECORD)
    while pos >= 0:
        out.append(pos - 8)
        pos = data.find(NEXT_RECORD, pos + 1)
    return out


def test_file_ids_leaving_the_medium_are_refused_and_reported(disc: Disc) -> None:
    patched(disc, b"DICOM\\CT000001", b"..\\..\\SECRET01")  # the FIFO two levels up
    patched(disc, b"DICOM\\CT000002", b"\\tmp\\SECRET002")  # absolute
    patched(disc, b"DICOM\\CT000003", b"..\\..\\SECRET02")  # a DICOM file up there
    medium = read_medium(disc.tree)
    reasons = {u.path: u.reason for u in medium.unreadable}
    assert "leaves the medium" in reasons["..\\..\\SECRET01"]
    assert "absolute" in reasons["\\tmp\\SECRET002"]
    assert "leaves the medium" in reasons["..\\..\\SECRET02"]
    # the files of the medium are still found (by scanning), nothing from outside
    assert medium.instance_count == 4
    assert all(not x.instance.path.startswith("..") for x in medium.located())
    assert medium.dicomdir is DicomdirState.INCOMPLETE


@pytest.mark.parametrize("raw, why", [
    (b"..\\X", "leaves the medium"), (b"A\\..\\..\\X", "leaves the medium"),
    (b"\\ETC\\PASSWD", "absolute"), (b"C:\\WINDOWS", "absolute"), (b"A\\\\B", "not a valid"),
    (b"A/../../B", "not a valid"), (b"A\\B\0C", "not a valid"), (b"", "empty"),
    (b"\\".join([b"A"] * 17), "more than 16"),
])
def test_file_id_rules(raw: bytes, why: str) -> None:
    parts, reason = check_file_id(raw)
    assert parts is None and why in reason
    assert check_file_id(b"DICOM\\P0000001\\I0000001 ") == (("DICOM", "P0000001", "I0000001"), "")


def test_a_record_offset_loop_is_detected(disc: Disc) -> None:
    path = disc.tree / "DICOMDIR"
    data = bytearray(path.read_bytes())
    recs = records(bytes(data))
    # the last image's "next record" points back to the patient: a cycle
    struct.pack_into("<I", data, recs[-1] + 8 + 8, recs[0])
    path.write_bytes(bytes(data))
    medium = read_medium(disc.tree)
    assert medium.dicomdir is DicomdirState.BROKEN
    assert "record loop" in " ".join(medium.notes)
    assert medium.instance_count == 4


def test_an_offset_to_nowhere_is_detected(disc: Disc) -> None:
    path = disc.tree / "DICOMDIR"
    data = bytearray(path.read_bytes())
    recs = records(bytes(data))
    struct.pack_into("<I", data, recs[1] + 8 + 8, 0x7FFFFFF0)
    path.write_bytes(bytes(data))
    medium = read_medium(disc.tree)
    assert "no record starts" in " ".join(medium.notes)
    assert medium.instance_count == 4


def test_a_2_gib_declared_length_is_refused_without_reading_it(disc: Disc) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = disc.tree / "DICOMDIR"
    data = bytearray(path.read_bytes())
    seq = data.find(b"\x04\x00\x20\x12SQ\x00\x00")  # (0004,1220) Directory Record Sequence
    struct.pack_into("<I", data, seq + 8, 0x80000000)
    path.write_bytes(bytes(data))
    # and an image whose pixel data declare 2 GiB in a file of a few kilobytes
    image = disc.files["DICOM/CT000004"]
    raw = bytearray(image.read_bytes())
    pixels = raw.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
    struct.pack_into("<I", raw, pixels + 8, 0x80000000)
    image.write_bytes(bytes(raw))
    medium = read_medium(disc.tree)
    assert medium.dicomdir is DicomdirState.BROKEN
    assert "cannot be read" in " ".join(medium.notes)
    assert medium.instance_count == 3
    (bad,) = medium.unreadable
    assert bad.path == "DICOM/CT000004"
    assert "2147483648 bytes" in bad.reason and "past the end" in bad.reason
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200  # nothing near 2 GiB was allocated


def test_truncated_files_are_listed_as_unreadable(disc: Disc) -> None:
    def in_the_sop_instance_uid(data: bytes) -> int:
        """Within the value of the data set's SOP Instance UID (a cut at a fixed byte
        could fall between two elements, leaving a short data set that reads whole)."""
        at = data.index(b"\x08\x00\x18\x00UI")
        return at + 8 + 10

    for name, keep in (("DICOM/CT000001", lambda _d: 100),
                       ("DICOM/CT000002", in_the_sop_instance_uid),
                       ("DICOM/CT000003", lambda _d: 2000)):
        path = disc.files[name]
        data = path.read_bytes()
        path.write_bytes(data[:keep(data)])
    medium = read_medium(disc.tree)
    assert medium.instance_count == 1
    reasons = {u.path: u.reason for u in medium.unreadable}
    assert set(reasons) == {"DICOM/CT000001", "DICOM/CT000002", "DICOM/CT000003"}
    assert all("truncated" in r or "not a DICOM file" in r for r in reasons.values()), reasons
    assert all(u.study_uid == medium.studies[0].study_uid for u in medium.unreadable)


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root")
def test_links_devices_and_fifos_on_the_medium_are_not_followed(disc: Disc,
                                                                tmp_path: Path) -> None:
    dicom = disc.tree / "DICOM"
    os.symlink(tmp_path / "SECRET02", dicom / "LINK0001")  # a DICOM file off the medium
    os.symlink("/", dicom / "ROOTLINK")
    os.mkfifo(dicom / "FIFO0001")
    os.mknod(dicom / "DEV00001", 0o600 | 0o020000, os.makedev(1, 3))  # like /dev/null
    medium = read_medium(disc.tree)
    reasons = {u.path: u.reason for u in medium.unreadable}
    assert "symbolic link" in reasons["DICOM/LINK0001"]
    assert "symbolic link" in reasons["DICOM/ROOTLINK"]
    assert "FIFO" in reasons["DICOM/FIFO0001"]
    assert "device" in reasons["DICOM/DEV00001"]
    assert medium.instance_count == 4


def test_a_thousand_mutated_dicomdirs(tmp_path: Path) -> None:
    """Random byte changes, cut-offs and inserted runs: never a crash, and the four images
    are always found (by the DICOMDIR or, when it is broken, by scanning)."""
    from mw_tui.importing.reading import scan
    from mw_tui.importing.sources import FolderSource

    disc = write_disc(tmp_path, ct_files(outside_ct(4)))
    path = disc.tree / "DICOMDIR"
    original = path.read_bytes()
    rng = random.Random(16)
    states: dict[DicomdirState, int] = {}
    source = FolderSource(disc.tree)
    for _ in range(1000):
        data = bytearray(original)
        for _ in range(rng.randint(1, 12)):
            kind = rng.random()
            pos = rng.randrange(132, len(data))
            if kind < 0.6:
                data[pos] = rng.randrange(256)
            elif kind < 0.75:
                data[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x80",
                                                  struct.pack("<I", rng.randrange(len(data)))])
            elif kind < 0.9:
                del data[pos : pos + rng.randint(1, 64)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data))]
        path.write_bytes(bytes(data))
        medium = scan(source)
        assert medium.instance_count == 4, medium.notes
        states[medium.dicomdir] = states.get(medium.dicomdir, 0) + 1
    source.close()
    assert states.get(DicomdirState.BROKEN, 0) > 100, states  # the mutations broke things
