"""Saving ISO images into a folder: atomic, never overwriting, verified."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest

from mw_tui.devices.writers import base
from mw_tui.devices.writers.base import Phase, ProblemCode, Progress
from mw_tui.devices.writers.isofile import IsoFileWriter, iso_name
from tests.devices.conftest import make_volume, md5_of


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
    with pytest.raises(base.VerifyFailed, match="does not read back as the image"):
        IsoFileWriter(out).write(wrong)


def test_problems_are_named(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=1)
    problems = IsoFileWriter(tmp_path / "not-mounted").check(volume)
    assert [p.code for p in problems] == [ProblemCode.NO_DEVICE]
    assert "network share is not mounted" in problems[0].message
    no_image = dataclasses.replace(volume, iso=None)
    assert [p.code for p in IsoFileWriter(tmp_path).check(no_image)] == [ProblemCode.NO_IMAGE]
    with pytest.raises(base.NoImage):
        IsoFileWriter(tmp_path).write(no_image)


def test_cancelling_leaves_nothing_behind(tmp_path: Path) -> None:
    volume = make_volume(tmp_path / "v", instances=1, padding=3 << 20)
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(base.Cancelled):
        IsoFileWriter(out).write(volume, cancel=cancel)
    assert os.listdir(out) == []


def test_names_of_spanned_volumes() -> None:
    from mw_tui.media.volume import Volume

    v = Volume(label="SMITH_2026", profile="STD-GEN-DVD", number=2, count=3, files=())
    assert iso_name(v) == "SMITH_2026_2of3.iso"
