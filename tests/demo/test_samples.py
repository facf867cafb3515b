"""The sample-study generator: deterministic, fast, realistic, with the right charsets."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from mw_tui.demo import samples
from mw_tui.demo.samples import Profile, ensure_samples
from mw_tui.standard import sop
from tests.demo.conftest import read_oracle
from tests.peers import need


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".lock"}


def test_generation_is_deterministic_and_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    first = ensure_samples(tmp_path / "a", Profile.TINY)
    seconds = time.monotonic() - start
    ensure_samples(tmp_path / "b", Profile.TINY)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a == b  # same names, same bytes
    assert first.generated == len([k for k in a if k.startswith("samples/")]) > 50
    assert seconds < 10, f"tiny sample generation took {seconds:.1f} s"


def test_second_use_does_not_generate_again(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    before = _digests(tmp_path)
    mtime = (tmp_path / "samples").stat().st_mtime_ns
    again = ensure_samples(tmp_path, Profile.TINY)
    assert again.seconds == 0.0 and again.generated == ensure_samples(tmp_path,
                                                                      Profile.TINY).generated
    assert _digests(tmp_path) == before
    assert (tmp_path / "samples").stat().st_mtime_ns == mtime


def test_an_interrupted_or_older_generation_is_redone(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    victim = next((tmp_path / "samples").rglob("*.dcm"))
    victim.unlink()
    manifest = tmp_path / samples.MANIFEST
    manifest.write_text(manifest.read_text().replace(f'"version": {samples.SAMPLES_VERSION}',
                                                     '"version": 0'))
    (tmp_path / "mine.dcm").write_bytes(b"a user's file stays")
    ensure_samples(tmp_path, Profile.TINY)
    assert victim.exists()
    assert (tmp_path / "mine.dcm").read_bytes() == b"a user's file stays"


def test_full_set_is_realistic(tmp_path: Path) -> None:
    start = time.monotonic()
    result = ensure_samples(tmp_path, Profile.FULL)
    seconds = time.monotonic() - start
    print(f"full sample set: {result.generated} instances + {result.pydicom} pydicom files "
          f"in {seconds:.2f} s")
    assert seconds < 20
    studies = {k: v for k, v in read_oracle(tmp_path / "samples").items()}
    assert len(studies) == len(samples.STUDIES)
    modalities: Counter[str] = Counter()
    charsets = defaultdict(set)
    for study in studies.values():
        n = len(study.files)
        assert 10 <= n <= 300, f"{study.first.StudyDescription}: {n} instances"
        modalities.update(study.modalities)
        if len(study.series) < 2:
            pytest.fail(f"{study.first.StudyDescription} has a single series")
        charsets[study.first.get("SpecificCharacterSet", "")].add(str(study.first.PatientName))
        for f in study.files[:3]:
            ds = pydicom.dcmread(f)
            assert ds.SOPClassUID in sop.STORAGE_SOP_CLASSES
            if "PixelData" in ds:
                assert 64 <= ds.Rows <= 256 and ds.pixel_array.any()
    assert {"CT", "MR", "CR", "US", "SR", "DOC"} <= set(modalities)
    assert "Müller^Jürgen" in charsets["ISO_IR 100"]
    assert "Κωνσταντίνου^Ελένη" in charsets["ISO_IR 192"]
    assert len({s.first.PatientID for s in studies.values()}) >= 6
    assert len({s.first.StudyDate[:4] for s in studies.values()}) >= 5


def test_every_generated_sample_is_a_valid_object(tmp_path: Path) -> None:
    """dciodvfy (dicom3tools) finds no error in any generated instance: a new user who
    validates a demo medium sees none."""
    need("dciodvfy")
    ensure_samples(tmp_path, Profile.FULL)
    files = sorted((tmp_path / "samples").rglob("*.dcm"))
    assert len(files) > 700

    def errors(path: Path) -> list[str]:
        proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                              errors="replace", timeout=60)
        return [f"{path.relative_to(tmp_path)}: {line}"
                for line in (proc.stdout + proc.stderr).splitlines()
                if line.startswith("Error")]

    with ThreadPoolExecutor(max_workers=2) as pool:
        found = [e for es in pool.map(errors, files) for e in es]
    kinds = Counter(pydicom.dcmread(f, stop_before_pixels=True).Modality for f in files)
    assert {"CT", "MR", "CR", "US", "SR", "DOC"} <= set(kinds)  # every kind was checked
    assert not found, f"{len(found)} errors, the first ones:\n" + "\n".join(found[:20])


def test_non_ascii_names_are_encoded_with_their_character_set(demo_data: Path) -> None:
    latin1 = next((demo_data / "samples" / "S03").rglob("*.dcm")).read_bytes()
    assert b"ISO_IR 100" in latin1 and "Müller^Jürgen".encode("latin-1") in latin1
    utf8 = next((demo_data / "samples" / "S09").rglob("*.dcm")).read_bytes()
    assert b"ISO_IR 192" in utf8 and "山田^太郎".encode() in utf8


def test_pydicom_files_are_the_usable_ones(demo_data: Path) -> None:
    copied = [p for p in (demo_data / "pydicom").rglob("*") if p.is_file()]
    assert len(copied) > 50
    uids = set()
    for p in copied:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        assert ds.SOPClassUID in sop.STORAGE_SOP_CLASSES
        assert ds.file_meta.TransferSyntaxUID in sop.STORAGE_TRANSFER_SYNTAXES
        assert ds.StudyInstanceUID and ds.SeriesInstanceUID
        assert ds.SOPInstanceUID not in uids
        uids.add(ds.SOPInstanceUID)
        original = samples.PYDICOM_TEST_FILES / p.relative_to(demo_data / "pydicom")
        assert p.read_bytes() == original.read_bytes()  # the real files, unchanged
    names = {p.name for p in copied}
    assert "MR_small.dcm" in names and "MR_truncated.dcm" not in names
