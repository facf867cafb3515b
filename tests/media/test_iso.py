"""ISO naming and the md5 computed while writing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mw_tui.media import iso as isomod
from mw_tui.media.imagefile import ImageFile
from mw_tui.media.volume import Volume, VolumeFile


def test_level1_names_are_short_unique_and_kept_when_valid() -> None:
    used: set[str] = set()
    assert isomod._level1("DICOMDIR", False, used) == "DICOMDIR.;1"
    assert isomod._level1("README.TXT", False, used) == "README.TXT;1"
    assert isomod._level1("index.html", False, used) == "INDEX.HTM;1"
    assert isomod._level1("Index.Htmlx", False, used) == "INDEX_2.HTM;1"
    assert isomod._level1("lib.d", True, used) == "LIB_D"
    assert isomod._level1("über große datei.tar.gz", False, used) == "_BER_GRO.GZ;1"


def test_joliet_names_keep_the_real_name_up_to_64_characters() -> None:
    used: set[str] = set()
    assert isomod._joliet("Start Viewer.exe", used) == "Start Viewer.exe"
    long = "x" * 80 + ".dll"
    short = isomod._joliet(long, used)
    assert len(short) == 64 and short.endswith(".dll")
    assert isomod._joliet(long, used) != short  # a second one gets another name


def _volume(tmp: Path, n: int) -> Volume:
    files = []
    for i in range(n):
        p = tmp / f"f{i}"
        p.write_bytes(bytes([i % 251]) * (1000 + 3000 * i))
        files.append(VolumeFile(f"DICOM/S1/I{i:07d}", p.stat().st_size, source=p, is_dicom=True))
    files.insert(0, VolumeFile("README.TXT", 5, data=b"hello"))
    return Volume("TESTVOL", "STD-GEN-CD", 1, 1, tuple(files))


def test_the_md5_is_the_image_s_computed_in_one_pass(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[bool] = []
    finish = ImageFile.finish

    def spy(self: ImageFile) -> str:
        digest = finish(self)
        passes.append(self.in_order)
        return digest

    monkeypatch.setattr(ImageFile, "finish", spy)
    volume = isomod.write_iso(_volume(tmp_path, 30), tmp_path / "a.iso")
    assert volume.iso is not None
    assert volume.iso_md5 == hashlib.md5(volume.iso.read_bytes()).hexdigest()
    assert volume.iso_size == volume.iso.stat().st_size == isomod.image_size(volume)
    assert passes == [True]  # no second reading of the image


@pytest.mark.parametrize("read_back", [False, True])
def test_out_of_order_writes_fall_back_to_reading_the_image(tmp_path: Path,
                                                            read_back: bool) -> None:
    path = tmp_path / "raw"
    w = ImageFile(path, lambda: 4096, read_back)
    w.seek(100)
    w.write(b"meta")
    w.seek(5000)
    w.write(b"data" * 10)
    w.seek(300)  # back below what was hashed: the fast path cannot go on
    w.write(b"late")
    w.seek(9000)
    w.write(b"end")
    digest = w.finish()
    assert not w.in_order and w.verified == 0
    w.close()
    assert digest == hashlib.md5(path.read_bytes()).hexdigest()
    raw = path.read_bytes()
    assert raw[100:104] == b"meta" and raw[300:304] == b"late" and raw[5000:5040] == b"data" * 10
    assert len(raw) == 9003 and raw.endswith(b"end")


def test_in_order_writes_hash_the_metadata_and_the_gaps(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    w = ImageFile(path, lambda: 4096, read_back=True)
    assert w.direct is not None  # ext4: written around the page cache
    w.seek(2048)
    w.write(b"directory")
    w.seek(100)
    w.write(b"descriptor")
    w.seek(4096)
    w.write(b"first file")
    w.seek(6144)
    w.write(b"second file")
    w.seek(0, os.SEEK_END)
    assert w.tell() == 6155
    w.seek(8191)
    w.write(b"\0")
    digest = w.finish()
    assert w.in_order and w.verified == w.end == 8192  # read back from the disk
    w.close()
    raw = path.read_bytes()
    assert digest == hashlib.md5(raw).hexdigest()
    assert raw[2048:2057] == b"directory" and raw[6144:6155] == b"second file"


def test_a_vanished_source_file_is_a_clear_error(tmp_path: Path) -> None:
    volume = _volume(tmp_path, 3)
    (tmp_path / "f1").unlink()
    with pytest.raises(isomod.IsoError, match=r"cannot read .*f1"):
        isomod.write_iso(volume, tmp_path / "x.iso")
    assert not list(tmp_path.glob("*.iso")) and not list(tmp_path.glob(".x.iso*"))
