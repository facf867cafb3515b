"""The quick header of the renderer reads what pydicom reads, and the pictures made from it
are the very pictures made from pydicom's reading; anything it does not handle is left to
pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from mw_tui.demo import synth
from mw_tui.media import quickhead, render
from mw_tui.standard import sop
from tests.media import images as im
from tests.media.test_render import CT_RAW, _native_cases

KEYWORDS = ("SamplesPerPixel", "PhotometricInterpretation", "NumberOfFrames", "Rows",
            "Columns", "PixelSpacing", "PixelAspectRatio", "ImagerPixelSpacing",
            "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "WindowCenter",
            "WindowWidth", "RescaleIntercept", "RescaleSlope", "RescaleType",
            "VOILUTFunction")


def _written(tmp: Path) -> list[tuple[str, Path]]:
    """Files as the station stores them: a windowed CT (explicit and implicit VR), a
    MONOCHROME1 image, and one with a VOI LUT sequence (left to pydicom)."""
    info = synth.StudyInfo()
    out = []
    for name, ts in (("ct-explicit", sop.EXPLICIT_VR_LE), ("ct-implicit", sop.IMPLICIT_VR_LE)):
        ds = im.ct_windowed(info, CT_RAW, 40, 400)
        ds.PixelSpacing = [0.5, 0.25]
        im._meta(ds, ts)
        out.append((name, ds))
    inverted = im.ct_windowed(info, CT_RAW, 40, 400)
    inverted.PhotometricInterpretation = "MONOCHROME1"
    im._meta(inverted, sop.EXPLICIT_VR_LE)
    out.append(("monochrome1", inverted))
    lut = im.ct_windowed(info, CT_RAW, 40, 400)
    item = pydicom.Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.add_new(0x00283006, "US", [0, 100, 200, 65535])  # LUT Data
    lut.VOILUTSequence = [item]
    im._meta(lut, sop.EXPLICIT_VR_LE)
    out.append(("voi-lut", lut))
    paths = []
    for name, ds in out:
        path = tmp / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append((name, path))
    return paths


def test_it_reads_what_pydicom_reads_or_leaves_the_file_to_pydicom(tmp_path: Path) -> None:
    from pydicom.pixels import pixel_array

    cases = _native_cases() + _written(tmp_path)
    quick_ones = 0
    for name, path in cases:
        full = pydicom.dcmread(path)
        quick = quickhead.load(path)
        pi = str(full.get("PhotometricInterpretation", "")).upper()
        native = render.native_frame(full, 0, pi) is not None
        if quick is None:
            assert not native or "VOILUTSequence" in full or "ModalityLUTSequence" in full, name
            continue
        quick_ones += 1
        assert native, name
        assert quick.pi == pi, name
        assert (quick.rows, quick.columns, quick.frames, quick.bits, quick.stored,
                quick.signed) == (full.Rows, full.Columns, int(full.get("NumberOfFrames") or 1),
                                  full.BitsAllocated, full.BitsStored,
                                  full.PixelRepresentation == 1), name
        for keyword in KEYWORDS:
            assert quick.params.get(keyword) == full.get(keyword), (name, keyword)
        assert "PixelData" not in quick.params, name
        assert bytes(quick.pixels[:len(full.PixelData)]) == full.PixelData, name
        for index in {0, quick.frames - 1}:
            assert np.array_equal(quick.frame(index), pixel_array(full, index=index, raw=True))
    assert quick_ones >= 5  # pydicom's native grey files and the station's own


def test_files_saying_the_same_share_their_attributes_and_the_buffer_is_reused(
        tmp_path: Path) -> None:
    """The images of a series share one dataset of attributes (pydicom converts them
    once); each load reads into the same buffer, so the pixels of the one before are gone
    (a large file gets its own)."""
    (_, first), (_, second), *_ = _written(tmp_path)
    other = tmp_path / "other.dcm"
    other.write_bytes(first.read_bytes())
    a = quickhead.load(first)
    assert a is not None
    picture = a.frame(0).copy()
    b = quickhead.load(other)
    assert b is not None and b.params is a.params
    assert np.array_equal(b.frame(0), picture)
    c = quickhead.load(second)  # implicit VR: other raw values
    assert c is not None and c.params is not a.params
    assert a.pixels.obj is c.pixels.obj  # the same buffer
    big = quickhead.parse(first.read_bytes())
    assert big is not None and big.pixels.obj is not a.pixels.obj


@pytest.mark.parametrize("name", ["ct-explicit", "ct-implicit", "monochrome1"])
def test_the_pictures_are_those_of_pydicoms_reading(tmp_path: Path, name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = dict(_written(tmp_path))[name]
    assert quickhead.load(path) is not None
    task = render.RenderTask("1.2.3", path, True)
    quick = render.render_many([task], tmp_path / "quick.PCK")
    monkeypatch.setattr(quickhead, "load", lambda _path, _size=None: None)
    full = render.render_many([task], tmp_path / "full.PCK")
    assert quick == [_moved(r, tmp_path / "quick.PCK") for r in full]
    assert (tmp_path / "quick.PCK").read_bytes() == (tmp_path / "full.PCK").read_bytes()


def test_damaged_or_foreign_files_are_left_to_pydicom(tmp_path: Path) -> None:
    (_, ct), *_ = _written(tmp_path)
    data = ct.read_bytes()
    for n, damaged in enumerate((data[:200], data[:-10], b"\0" * 132 + data[132:160],
                                 data[:128] + b"DICM" + b"\xff" * 40)):
        bad = tmp_path / f"bad{n}.dcm"
        bad.write_bytes(damaged)
        assert quickhead.load(bad) is None, n


def _moved(r: render.Rendering | None, pack: Path) -> render.Rendering | None:
    import dataclasses

    if r is None:
        return None
    frames = tuple(dataclasses.replace(p, path=pack) for p in r.frames)
    thumb = dataclasses.replace(r.thumbnail, path=pack) if r.thumbnail else None
    return dataclasses.replace(r, frames=frames, thumbnail=thumb)
