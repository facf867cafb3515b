"""One stored file into the bytes of its copy: header re-encoded, pixel data as it is."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from mw_tui.config import DeidProfile
from mw_tui.deid.instance import InstanceError, make_copy, read_original
from mw_tui.deid.pseudonyms import Keys
from mw_tui.deid.rules import Context, Method, deidentify
from mw_tui.deid.scrub import Scrubber
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.deid import phi
from tests.peers import PYDICOM_TEST_FILES

PROFILE = DeidProfile(name="t", clean_descriptors=True)


def context(header: Dataset) -> Context:
    keys = Keys("seed")
    return Context(PROFILE, Method.of(PROFILE), keys, keys.patient("id:x"),
                   Scrubber.of(header))


def stored(store: Store, name: str) -> tuple[Path, str]:
    _, path = phi.put_file(store, PYDICOM_TEST_FILES / name)
    row = store.index.instance(path.stem)
    assert row is not None
    return path, row.transfer_syntax


def dataset_of(chunks: tuple[bytes | memoryview, ...], ts: str) -> Dataset:
    meta = pydicom.dataset.FileMetaDataset()
    meta.TransferSyntaxUID = ts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = b"".join(bytes(c) for c in chunks)
        return pydicom.filereader.read_dataset(
            pydicom.filebase.DicomBytesIO(raw), ts == sop.IMPLICIT_VR_LE,
            ts != sop.EXPLICIT_VR_BE)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm", "693_J2KI.dcm",
                                  "examples_overlay.dcm", "test-SR.dcm"])
def test_copy_has_the_same_pixel_bytes_and_pydicoms_encoding(name: str, tmp_path: Path) -> None:
    path, ts = stored(Store(tmp_path), name)
    original = read_original(path, ts)
    pristine = copy.deepcopy(original.header)
    result = make_copy(original, context(pristine))
    ds = dataset_of(result.chunks, ts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = pydicom.dcmread(path)
    if "PixelData" in source:
        assert bytes(ds.PixelData) == bytes(source.PixelData)
    # the header copies what it kept from the file: the same bytes pydicom would write
    deidentify(pristine, context(pristine))
    fp = DicomBytesIO()
    fp.is_little_endian = ts != sop.EXPLICIT_VR_BE
    fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
    write_dataset(fp, pristine)
    head = bytes(result.chunks[0])
    assert head[:len(fp.getvalue())] == fp.getvalue()
    assert result.sop_uid == ds.SOPInstanceUID != source.SOPInstanceUID
    assert not [e.tag for e in ds if e.tag.group & 1 or e.tag.group == 0x6000]


def test_a_deflated_instance_becomes_explicit_vr_with_its_pixels(tmp_path: Path) -> None:
    path, ts = stored(Store(tmp_path), "image_dfl.dcm")
    assert ts == sop.DEFLATED_EXPLICIT_VR_LE
    original = read_original(path, ts)
    result = make_copy(original, context(original.header))
    assert result.transfer_syntax == sop.EXPLICIT_VR_LE
    ds = dataset_of(result.chunks, result.transfer_syntax)
    assert bytes(ds.PixelData) == bytes(pydicom.dcmread(path).PixelData)


def test_what_follows_the_pixel_data_goes_through_the_rules(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ds = phi.synth.image(phi.synth.StudyInfo(phi.ALICE), "CT", rows=4, columns=4)
    ds.add_new(0x7FE10010, "LO", "ACMEPRIVATE 1.0")
    ds.add_new(0x7FE11010, "LO", "Privnote Dupontel")
    ds.add_new(0xFFFCFFFC, "OB", b"\0\1" * 8)  # padding with a value
    path = phi.put(store, ds)
    original = read_original(path, sop.EXPLICIT_VR_LE)
    result = make_copy(original, context(original.header))
    raw = b"".join(bytes(c) for c in result.chunks)
    assert b"Privnote" not in raw and b"ACMEPRIVATE" not in raw
    assert dataset_of(result.chunks, sop.EXPLICIT_VR_LE).PixelData == ds.PixelData


def test_a_truncated_file_is_refused_with_its_name(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ds = phi.synth.image(phi.synth.StudyInfo(phi.ALICE), "CT", rows=16, columns=16)
    path = phi.put(store, ds)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InstanceError, match="pixel data runs past the end"):
        read_original(path, sop.EXPLICIT_VR_LE)
    path.write_bytes(b"not dicom at all")
    with pytest.raises(InstanceError, match="not a Part 10 file"):
        read_original(path, sop.EXPLICIT_VR_LE)
