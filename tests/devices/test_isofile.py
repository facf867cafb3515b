"""Saving ISO images into a folder: atomic, never overwriting, verified."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mw_tui.devices.writers import base, imagecopy, isofile
from mw_tui.devices.writers.base import Phase, ProblemCode, Progress
from mw_tui.devices.writers.isofile import IsoFileWriter, iso_name
from mw_tui.media.iso import write_iso
from mw_tui.media.readback import open_direct
from mw_tui.media.volume import Volume
from tests.devices.conftest import make_volume, md5_of, raises_problem
from tests.media.test_readback import ramfs


def test_the_image_is_copied_verified_and_never_overwritten(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=2)
    assert volume.iso is not None
    out = tmp_path / "share"
    out.mkdir()
    writer = IsoFileWriter(out)
    assert writer.check(volume) == []
    seen: list[Progress] = []
    first = writer.write(volume, seen.append)
    assert first.verified and first.md5 == volume.iso_md5
    assert first.location == str(out / "MWTUI_TEST.iso")
    assert md5_of(out / "MWTUI_TEST.iso") == volume.iso_md5
    assert [p.phase for p in seen][-1] is Phase.DONE
    second = writer.write(volume)
    assert second.location == str(out / "MWTUI_TEST-2.iso")
    assert sorted(os.listdir(out)) == ["MWTUI_TEST-2.iso", "MWTUI_TEST.iso"]  # no temp files


def test_a_wrong_md5_fails_verification(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=1)
    wrong = dataclasses.replace(volume, iso_md5="0" * 32)
    out = tmp_path / "out"
    out.mkdir()
    with raises_problem(ProblemCode.VERIFY_FAILED, match="does not read back as the image"):
        IsoFileWriter(out).write(wrong)


def test_problems_are_named(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=1)
    problems = IsoFileWriter(tmp_path / "not-mounted").check(volume)
    assert [p.code for p in problems] == [ProblemCode.NO_DEVICE]
    assert "network share is not mounted" in problems[0].message
    no_image = dataclasses.replace(volume, iso=None)
    assert [p.code for p in IsoFileWriter(tmp_path).check(no_image)] == [ProblemCode.NO_IMAGE]
    with raises_problem(ProblemCode.NO_IMAGE):
        IsoFileWriter(tmp_path).write(no_image)


def test_cancelling_leaves_nothing_behind(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=1, padding=3 << 20)
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()
    cancel.set()
    with raises_problem(ProblemCode.CANCELLED):
        IsoFileWriter(out).write(volume, cancel=cancel)
    assert os.listdir(out) == []


def test_names_of_spanned_volumes() -> None:
    from mw_tui.media.volume import Volume

    v = Volume(label="SMITH_2026", profile="STD-GEN-DVD", number=2, count=3, files=())
    assert iso_name(v) == "SMITH_2026_2of3.iso"


def _read_back_volume(folder: Path) -> Volume:
    """A volume whose pycdlib image was read back from the disk while it was written."""
    volume = write_iso(make_volume(folder, instances=2, iso=False), folder / "v.iso",
                       read_back=True)
    assert volume.read_back is not None
    return volume


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []

    def spy(path: Path, *args: object, **kwargs: object) -> str:
        reads.append(path)
        return base.file_md5(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(imagecopy, "file_md5", spy)  # where a copy is read back
    return reads


def test_a_linked_image_read_back_while_written_is_not_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = _read_back_volume(tmp_path / "work")
    out = tmp_path / "out"
    out.mkdir()
    reads = _count_reads(monkeypatch)
    seen: list[Progress] = []
    result = IsoFileWriter(out).write(volume, seen.append)
    final = out / "MWTUI_TEST.iso"
    assert reads == []
    assert result.verified and result.md5 == volume.iso_md5 == md5_of(final)
    assert os.stat(final).st_ino == os.stat(volume.iso or "").st_ino  # linked, not copied
    assert any("every byte matches" in d and volume.iso_md5 in d for d in result.details)
    assert [p.phase for p in seen][-2:] == [Phase.VERIFYING, Phase.DONE]
    assert sorted(os.listdir(out)) == ["MWTUI_TEST.iso"]


def test_an_image_changed_since_its_read_back_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = _read_back_volume(tmp_path / "work")
    assert volume.iso is not None
    st = volume.iso.stat()
    os.utime(volume.iso, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # touched since
    out = tmp_path / "out"
    out.mkdir()
    reads = _count_reads(monkeypatch)
    result = IsoFileWriter(out).write(volume)
    assert [r.parent for r in reads] == [out] and result.verified
    assert reads[0].name.startswith(isofile.TEMP_PREFIX)  # read back before it is named
    tampered = dataclasses.replace(volume, read_back=dataclasses.replace(
        volume.read_back, md5="0" * 32))  # type: ignore[type-var]
    IsoFileWriter(out).write(tampered)
    assert len(reads) == 2


def test_a_copy_to_another_file_system_is_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = Path(tempfile.mkdtemp(prefix="mw-tui-test-", dir="/dev/shm"))
    try:
        volume = _read_back_volume(shm)
        assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev
        reads = _count_reads(monkeypatch)
        result = IsoFileWriter(tmp_path).write(volume)
        final = tmp_path / "MWTUI_TEST.iso"
        assert len(reads) == 1 and result.verified
        assert md5_of(final) == volume.iso_md5
        assert os.stat(final).st_ino != os.stat(volume.iso or "").st_ino
    finally:
        shutil.rmtree(shm)


def test_an_image_gets_its_name_only_once_it_reads_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while the copy is read back leaves a temp file (removed by the next write),
    never an unverified image under its final name that a resumed job would write again."""
    volume = make_volume(tmp_path / "v", instances=2)
    out = tmp_path / "out"
    out.mkdir()
    named_while_read: list[list[str]] = []
    real = imagecopy.file_md5

    def reading(path: Path, *args: Any, **kwargs: Any) -> str:
        named_while_read.append(sorted(p.name for p in out.iterdir()
                                       if not p.name.startswith(isofile.TEMP_PREFIX)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(imagecopy, "file_md5", reading)
    result = IsoFileWriter(out).write(volume)
    assert result.verified and named_while_read == [[]]
    assert sorted(os.listdir(out)) == ["MWTUI_TEST.iso"]
    wrong = dataclasses.replace(volume, iso_md5="0" * 32)
    with raises_problem(ProblemCode.VERIFY_FAILED, match="it was deleted: write it again"):
        IsoFileWriter(out).write(wrong)
    assert sorted(os.listdir(out)) == ["MWTUI_TEST.iso"]  # nothing left by the failed copy


@pytest.mark.root
def test_file_md5_reads_where_o_direct_is_refused(tmp_path: Path) -> None:
    data = os.urandom((5 << 20) + 1234)  # more than one read, and a last partial block
    with ramfs(tmp_path / "ram") as ram:
        path = ram / "image.iso"
        path.write_bytes(data)
        assert open_direct(path) is None
        assert base.file_md5(path) == hashlib.md5(data).hexdigest()
        assert base.file_md5(path, 4097) == hashlib.md5(data[:4097]).hexdigest()
        with raises_problem(ProblemCode.VERIFY_FAILED, match="Only"):
            base.file_md5(path, len(data) + 1)


def test_file_md5_reads_directly_the_last_partial_block_and_limits(tmp_path: Path) -> None:
    data = os.urandom((9 << 20) + 777)
    path = tmp_path / "image.iso"
    path.write_bytes(data)
    fd = open_direct(path)
    assert fd is not None
    os.close(fd)
    for limit in (None, 1, 4096, 4097, 4 << 20, (4 << 20) + 1, len(data)):
        assert base.file_md5(path, limit) == hashlib.md5(data[:limit]).hexdigest(), limit
    with raises_problem(ProblemCode.VERIFY_FAILED, match=f"Only {len(data)} of {len(data) + 1}"):
        base.file_md5(path, len(data) + 1)


def test_room_is_asked_for_only_where_the_image_is_copied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the image's own file system the image is linked: a folder without free room
    takes it. Another file system needs room for a copy (the disc publishers' rule too)."""
    here = make_volume(tmp_path / "v", instances=1)
    shm = Path(tempfile.mkdtemp(prefix="mw-tui-test-", dir="/dev/shm"))
    try:
        there = make_volume(shm, instances=1)
        out = tmp_path / "out"
        out.mkdir()
        monkeypatch.setattr(shutil, "disk_usage",
                            lambda path: SimpleNamespace(total=1 << 30, used=1 << 30, free=0))
        assert IsoFileWriter(out).check(here) == []
        assert IsoFileWriter(out).write(here).verified
        (problem,) = IsoFileWriter(out).check(there)
        assert problem.code is ProblemCode.MEDIA_TOO_SMALL
        assert f"{out} has 0 B free: make room there" in problem.message
    finally:
        shutil.rmtree(shm)
