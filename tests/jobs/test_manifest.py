"""The manifest of a built job: what a restart needs, read-back stamps included."""

from __future__ import annotations

import json
from pathlib import Path

from mw_tui.jobs import manifest
from mw_tui.media.volume import ReadBack, Volume, VolumeFile


def _volume(tmp_path: Path, stamp: ReadBack | None) -> Volume:
    src = tmp_path / "i1"
    src.write_bytes(b"dicom")
    iso = tmp_path / "volume1.iso"
    iso.write_bytes(b"image")
    return Volume("LABEL", "STD-GEN-CD", 1, 1,
                  (VolumeFile("DICOM/I1", 5, source=src, is_dicom=True),
                   VolumeFile("README.TXT", 2, data=b"hi")),
                  iso=iso, iso_md5="a" * 32, iso_size=5, read_back=stamp)


def test_the_read_back_stamp_survives_a_restart(tmp_path: Path) -> None:
    stamp = ReadBack(dev=2049, ino=1234, size=5, mtime_ns=1_700_000_000_123_456_789,
                     md5="a" * 32, direct=False)
    saved = manifest.save([_volume(tmp_path, stamp)], tmp_path / "work")
    (loaded,) = manifest.load(tmp_path / "work") or []
    assert loaded.read_back == stamp == saved[0].read_back
    assert loaded.iso_md5 == "a" * 32 and loaded.files[1].source is not None


def test_a_manifest_without_stamps_loads_without_them(tmp_path: Path) -> None:
    manifest.save([_volume(tmp_path, None)], tmp_path / "work")
    (loaded,) = manifest.load(tmp_path / "work") or []
    assert loaded.read_back is None
    path = tmp_path / "work" / manifest.NAME
    rows = json.loads(path.read_text())
    for value in ("absent", [1, 2, 3], [1, 2, 3, "x", "md5", True]):
        if value == "absent":
            del rows[0]["read_back"]
        else:
            rows[0]["read_back"] = value
        path.write_text(json.dumps(rows))
        (loaded,) = manifest.load(tmp_path / "work") or []
        assert loaded.read_back is None


def test_generated_files_and_pictures_read_back_as_they_were(tmp_path: Path) -> None:
    """Generated files go into one pack file (not a file each); pictures of a pack keep
    their ranges; a manifest of an earlier version (no offsets) still loads."""
    pack = tmp_path / "pictures.PCK"
    pack.write_bytes(b"..JPEG-A..JPEG-B")
    pages = {f"IHE_PDI/P{n}.HTM": f"<html>{n}</html>".encode() for n in range(50)}
    volume = Volume("LABEL", "STD-GEN-CD", 1, 1, (
        *(VolumeFile(dest, len(data), data=data) for dest, data in pages.items()),
        VolumeFile("IHE_PDI/A.JPG", 6, source=pack, offset=2),
        VolumeFile("IHE_PDI/B.JPG", 6, source=pack, offset=10)))
    (saved,) = manifest.save([volume], tmp_path / "work")
    (loaded,) = manifest.load(tmp_path / "work") or []
    for v in (saved, loaded):
        assert {f.dest: f.read() for f in v.files} == {
            **pages, "IHE_PDI/A.JPG": b"JPEG-A", "IHE_PDI/B.JPG": b"JPEG-B"}
        assert all(f.data is None for f in v.files)
    assert len(list((tmp_path / "work" / "generated").iterdir())) == 1  # one pack
    path = tmp_path / "work" / manifest.NAME
    rows = json.loads(path.read_text())
    whole = tmp_path / "whole"
    whole.write_bytes(b"whole file")
    rows[0]["files"] = [["README.TXT", 10, str(whole), False]]  # as written before
    path.write_text(json.dumps(rows))
    (old,) = manifest.load(tmp_path / "work") or []
    assert old.files[0].offset is None and old.files[0].read() == b"whole file"
