"""ISO images read back from the disk while they are written (for ISO-file targets)."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mw_tui.media import iso as isomod
from mw_tui.media import readback
from mw_tui.media.imagefile import DirectRanges
from mw_tui.media.volume import Volume, VolumeFile


@contextmanager
def ramfs(folder: Path) -> Iterator[Path]:
    """A ramfs mounted on `folder`: a file system that refuses O_DIRECT (open: EINVAL)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _volume(tmp: Path, n: int, size: int = 300_000) -> Volume:
    src = tmp / "src"
    src.mkdir(parents=True, exist_ok=True)
    files = [VolumeFile("README.TXT", 5, data=b"hello")]
    for i in range(n):
        p = src / f"f{i}"
        p.write_bytes(os.urandom(size + 1111 * i))
        files.append(VolumeFile(f"DICOM/S1/I{i:07d}", p.stat().st_size, source=p, is_dicom=True))
    return Volume("TESTVOL", "STD-GEN-CD", 1, 1, tuple(files))


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of 64 KiB, at most 192 KiB held: many ranges, and a writer that must wait."""
    monkeypatch.setattr(readback, "RANGE", 64 << 10)
    monkeypatch.setattr(readback, "RING", 192 << 10)


@pytest.fixture(params=["direct", "cache"])
def written(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the image is written: around the page cache (O_DIRECT), or through it, with a
    reader trailing the write-back (as where a file system refuses O_DIRECT writes)."""
    if request.param == "cache":
        def refused(self: DirectRanges, *args: object) -> None:
            raise OSError(errno.EINVAL, "Invalid argument")

        monkeypatch.setattr(DirectRanges, "__init__", refused)
    return str(request.param)


def _spy_ranges(monkeypatch: pytest.MonkeyPatch, written: str) -> list[tuple[int, int]]:
    """(start, end) of every range compared."""
    checked: list[tuple[int, int]] = []
    if written == "direct":
        check = DirectRanges._check

        def spy(self: DirectRanges, back: object, start: int, length: int, buf: object) -> None:
            assert self._free.qsize() <= readback.RING // readback.RANGE
            checked.append((start, start + length))
            check(self, back, start, length, buf)  # type: ignore[arg-type]

        monkeypatch.setattr(DirectRanges, "_check", spy)
    else:
        rcheck = readback.ReadBack._check

        def rspy(self: readback.ReadBack, start: int, end: int, chunks: list[bytes]) -> None:
            assert self._held <= readback.RING
            checked.append((start, end))
            rcheck(self, start, end, chunks)

        monkeypatch.setattr(readback.ReadBack, "_check", rspy)
    return checked


def test_the_image_is_read_back_range_by_range_and_stamped(
        tmp_path: Path, small_ranges: None, written: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _spy_ranges(monkeypatch, written)
    volume = isomod.write_iso(_volume(tmp_path, 8), tmp_path / "a.iso", read_back=True)
    assert volume.iso is not None and volume.iso_size is not None
    stamp = volume.read_back
    assert stamp is not None and stamp.direct  # ext4 takes O_DIRECT
    assert stamp.md5 == volume.iso_md5 == hashlib.md5(volume.iso.read_bytes()).hexdigest()
    assert stamp.matches(os.stat(volume.iso)) and stamp.size == volume.iso_size
    # every byte, in order, once
    assert checked[0][0] == 0 and checked[-1][1] == volume.iso_size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(checked))
    assert len(checked) > 10
    # a change of the file (same bytes, written again) no longer matches the stamp
    volume.iso.write_bytes(volume.iso.read_bytes())
    assert not stamp.matches(os.stat(volume.iso))


def test_without_read_back_there_is_no_stamp(tmp_path: Path, written: str) -> None:
    volume = isomod.write_iso(_volume(tmp_path, 2), tmp_path / "a.iso")
    assert volume.read_back is None and volume.iso_md5
    assert volume.iso is not None
    assert volume.iso_md5 == hashlib.md5(volume.iso.read_bytes()).hexdigest()


def _flip(path: str, offset: int) -> None:
    """Change one byte of the file through a second descriptor (what a failing disk or a
    rogue writer would do)."""
    other = os.open(path, os.O_RDWR)
    try:
        old = os.pread(other, 1, offset)
        os.pwrite(other, bytes([old[0] ^ 0xFF]), offset)
    finally:
        os.close(other)


def _corrupt_at(monkeypatch: pytest.MonkeyPatch, offset: int, written: str = "cache"
                ) -> list[int]:
    """Change the byte at `offset` once its range is written, before it is read back."""
    done: list[int] = []
    if written == "direct":
        check = DirectRanges._check

        def corrupting(self: DirectRanges, back: object, start: int, length: int,
                       buf: object) -> None:
            if not done and start <= offset < start + length:
                _flip(str(self.path), offset)
                done.append(offset)
            check(self, back, start, length, buf)  # type: ignore[arg-type]

        monkeypatch.setattr(DirectRanges, "_check", corrupting)
        return done
    sync = readback.sync_range

    def corrupting_sync(fd: int, start: int, length: int) -> None:
        if not done and start <= offset < start + length:
            _flip(os.readlink(f"/proc/self/fd/{fd}"), offset)
            done.append(offset)
        sync(fd, start, length)

    monkeypatch.setattr(readback, "sync_range", corrupting_sync)
    return done


def test_a_byte_that_does_not_read_back_fails_the_image(
        tmp_path: Path, small_ranges: None, written: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    offset = 300_123
    done = _corrupt_at(monkeypatch, offset, written)
    with pytest.raises(isomod.IsoError) as err:
        isomod.write_iso(_volume(tmp_path, 6), tmp_path / "a.iso", read_back=True)
    assert done == [offset]
    message = str(err.value)
    assert "does not read back as written" in message
    assert f"first difference at byte {offset}" in message
    assert "build the medium again" in message
    assert not list(tmp_path.glob("*.iso")) and not list(tmp_path.glob(".a.iso*"))


def test_a_read_error_fails_the_image_with_the_reason(
        tmp_path: Path, written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def eio(*args: object) -> int:
        raise OSError(5, os.strerror(5))

    monkeypatch.setattr(readback.ReadBack, "_read", eio)
    monkeypatch.setattr(DirectRanges, "_check", eio)
    with pytest.raises(isomod.IsoError, match=r"cannot be read back from the disk at byte 0 "
                       r"\(Input/output error\).*check it"):
        isomod.write_iso(_volume(tmp_path, 2), tmp_path / "a.iso", read_back=True)
    assert not list(tmp_path.glob("*.iso")) and not list(tmp_path.glob(".a.iso*"))


def test_a_write_error_fails_the_image_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite

    def full(fd: int, data: object, offset: int) -> int:
        if os.fstat(fd).st_size > 500_000:
            raise OSError(28, os.strerror(28))
        return real(fd, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(isomod.IsoError, match=r"cannot write .*No space left on device"):
        isomod.write_iso(_volume(tmp_path, 6), tmp_path / "a.iso", read_back=True)
    assert not list(tmp_path.glob("*.iso")) and not list(tmp_path.glob(".a.iso*"))


@pytest.mark.root
def test_where_o_direct_is_refused_the_cache_is_dropped_instead(
        tmp_path: Path, small_ranges: None, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = _volume(tmp_path, 4)
    with ramfs(tmp_path / "ram") as ram:
        assert readback.open_direct(volume.files[1].source or "") is not None  # ext4: yes
        with pytest.raises(FileNotFoundError):
            readback.open_direct(ram / "missing")  # other errors are not swallowed
        (ram / "probe").write_bytes(b"x")
        assert readback.open_direct(ram / "probe") is None  # ramfs: refused
        made = isomod.write_iso(volume, ram / "a.iso", read_back=True)
        assert made.read_back is not None and not made.read_back.direct
        assert made.iso_md5 == hashlib.md5((ram / "a.iso").read_bytes()).hexdigest()
        # and a difference is found on that path too
        done = _corrupt_at(monkeypatch, 100_000)
        with pytest.raises(isomod.IsoError, match="first difference at byte 100000"):
            isomod.write_iso(volume, ram / "b.iso", read_back=True)
        assert done == [100_000]
