"""Burning with xorriso to a loop-backed "drive" (stdio:), read back and checked."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mw_tui.devices.models import MediaState
from mw_tui.devices.writers.base import Phase, ProblemCode, Progress, Remedy
from mw_tui.devices.writers.disc import DiscWriter
from tests.devices.conftest import Loops, make_volume, raises_problem
from tests.peers import need

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def _xorriso() -> None:
    need("xorriso")


def flip_byte(image: Path, offset: int) -> None:
    with open(image, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def test_a_burn_is_verified_by_reading_it_back(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=6, padding=1_500_000)
    assert volume.iso is not None and volume.iso_size is not None
    drive = loops.attach(loops.file("drive", 8 << 20))
    writer = DiscWriter(drive)
    assert writer.check(volume) == []
    seen: list[Progress] = []
    result = writer.write(volume, seen.append)
    assert result.verified and result.safe_to_remove
    assert result.md5 == volume.iso_md5
    assert result.bytes_written == volume.iso_size
    assert not result.ejected and any("cannot eject" in d for d in result.details)
    assert any("-check_md5" in d and "matches its MD5 tag" in d for d in result.details)
    phases = [p.phase for p in seen]
    for phase in (Phase.PREPARING, Phase.WRITING, Phase.CLOSING, Phase.VERIFYING, Phase.DONE):
        assert phase in phases
    writing = [p for p in seen if p.phase is Phase.WRITING]
    assert writing[-1].done == writing[-1].total == volume.iso_size
    assert writing[-1].percent == 100.0
    # the disc holds the image, and it is no longer blank
    with open(drive, "rb") as f:
        assert f.read(volume.iso_size) == volume.iso.read_bytes()
    status = writer.status()
    assert status.state is not MediaState.BLANK
    problems = writer.check(volume)
    assert [p.code for p in problems] == [ProblemCode.MEDIA_NOT_BLANK]
    assert problems[0].remedy is Remedy.BLANK  # rewritable: blanking may be offered


def test_one_flipped_byte_fails_verification(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=3)
    assert volume.iso is not None and volume.iso_size is not None
    image = loops.file("drive", 4 << 20)
    drive = loops.attach(image)
    size = volume.iso_size

    def damage_when_verifying(p: Progress) -> None:
        if p.phase is Phase.VERIFYING and p.done == 0 and not damaged:
            damaged.append(True)
            flip_byte(image, size - 5000)  # near the end of the burnt image

    damaged: list[bool] = []
    with raises_problem(ProblemCode.VERIFY_FAILED) as err:
        DiscWriter(drive).write(volume, damage_when_verifying)
    assert damaged
    assert "does not read back what was written" in err.value.message
    assert "burn a new disc" in err.value.message
    assert err.value.problem.remedy is Remedy.NEW_MEDIA


def test_xorriso_md5_check_finds_the_damage_too(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2)
    assert volume.iso_size is not None
    image = loops.file("drive", 4 << 20)
    writer = DiscWriter(loops.attach(image))
    writer.write(volume)
    assert "matches its MD5 tag" in writer.xorriso_check()
    assert volume.iso is not None
    readme = volume.iso.read_bytes().find(b"Test medium written")
    assert readme > 0
    flip_byte(image, readme + 3)  # inside README.TXT
    with raises_problem(ProblemCode.VERIFY_FAILED, match="xorriso finds the disc damaged"):
        writer.xorriso_check()
    with raises_problem(ProblemCode.VERIFY_FAILED):
        writer.verify(volume)


def test_an_image_without_md5_tags_is_checked_with_check_media(loops: Loops,
                                                               tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2, md5_tags=False)
    writer = DiscWriter(loops.attach(loops.file("drive", 4 << 20)))
    result = writer.write(volume)
    assert result.verified and result.md5 == volume.iso_md5
    assert any("-check_media: every block" in d for d in result.details)


def test_a_tree_is_burnt_with_md5_tags_and_checked_file_by_file(loops: Loops,
                                                                tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=3, iso=False)
    writer = DiscWriter(loops.attach(loops.file("drive", 8 << 20)))
    result = writer.write(volume)
    assert result.verified and result.md5 and len(result.md5) == 32
    assert any("every file matches" in d for d in result.details)


def test_a_written_disc_is_blanked_only_after_confirmation(loops: Loops,
                                                           tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1)
    writer = DiscWriter(loops.attach(loops.file("drive", 4 << 20)))
    writer.write(volume)
    with raises_problem(ProblemCode.MEDIA_NOT_BLANK) as err:
        writer.write(volume)
    assert "blank it (this erases it) or insert a blank disc" in err.value.message
    with raises_problem(ProblemCode.NEEDS_CONFIRMATION):
        writer.blank()
    assert writer.status().state is not MediaState.BLANK  # untouched
    writer.blank(confirm=True)
    assert writer.status().state is MediaState.BLANK
    assert writer.write(volume).verified


def test_a_disc_too_small(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2, padding=3_000_000)
    writer = DiscWriter(loops.attach(loops.file("drive", 2 << 20)))
    problems = writer.check(volume)
    assert [p.code for p in problems] == [ProblemCode.MEDIA_TOO_SMALL]
    assert "insert a bigger disc" in problems[0].message
    with raises_problem(ProblemCode.MEDIA_TOO_SMALL):
        writer.write(volume)


def test_no_disc_and_no_drive(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1)
    empty = loops.create()  # a drive with nothing in it
    problems = DiscWriter(empty).check(volume)
    assert [p.code for p in problems] == [ProblemCode.NO_MEDIA]
    assert problems[0].remedy is Remedy.INSERT_MEDIA
    with raises_problem(ProblemCode.NO_MEDIA, match="insert a blank disc"):
        DiscWriter(empty).write(volume)
    missing = tmp_path / "no-such-drive"
    problems = DiscWriter(str(missing)).check(volume)
    assert [p.code for p in problems] == [ProblemCode.NO_DEVICE]
    assert not missing.exists()  # xorriso's stdio: never made a file there


def test_cancelling_a_burn(loops: Loops, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=1, padding=24 << 20)
    writer = DiscWriter(loops.attach(loops.file("drive", 32 << 20)), speed="4")
    cancel = threading.Event()

    def cancel_once_writing(p: Progress) -> None:
        if p.phase is Phase.WRITING:
            cancel.set()  # xorriso is being started: it gets SIGINT while burning

    with raises_problem(ProblemCode.CANCELLED, match="the disc is probably unusable"):
        writer.write(volume, cancel_once_writing, cancel)


def test_an_image_from_the_media_builder_burns_and_verifies(loops: Loops,
                                                            tmp_path: Path) -> None:
    """The builder's pycdlib image (no MD5 tags): read back, then xorriso -check_media."""
    from mw_tui.media.iso import write_iso

    volume = write_iso(make_volume(tmp_path, instances=3, iso=False), tmp_path / "b.iso")
    assert volume.iso_md5 is not None
    result = DiscWriter(loops.attach(loops.file("drive", 4 << 20))).write(volume)
    assert result.verified and result.md5 == volume.iso_md5
    assert any("-check_media" in d for d in result.details)


def test_reading_back_through_xorriso(loops: Loops, tmp_path: Path) -> None:
    """The path for real drives whose kernel driver has not seen the new disc yet."""
    volume = make_volume(tmp_path, instances=2)
    assert volume.iso_size is not None
    image = loops.file("drive", 4 << 20)
    writer = DiscWriter(loops.attach(image))
    writer.write(volume)
    assert writer.md5_via_xorriso(volume.iso_size, spool=tmp_path) == volume.iso_md5
    flip_byte(image, 40_000)
    writer._forget_cached()
    assert writer.md5_via_xorriso(volume.iso_size, spool=tmp_path) != volume.iso_md5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mw-tui-readback")]
