"""Media built from what the receiver took: validators, readers and pixels agree."""

from __future__ import annotations

import re
import subprocess
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet

from mw_tui.media import BuildError, Profile, Volume, build_volumes, stage_tree, write_iso
from mw_tui.media.transcode import is_lossy
from mw_tui.standard import sop
from tests.media.conftest import LATIN1_NAME, UTF8_NAME, Corpus
from tests.peers import need

LEVEL1_FILE = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")


@dataclass
class Built:
    volume: Volume
    tree: Path
    corpus: Corpus


def build(corpus: Corpus, tmp: Path, profile: Profile, studies: list[str] | None = None,
          ) -> Built:
    (volume,) = build_volumes(corpus.store, studies or corpus.good_studies, profile, None,
                              tmp / "work")
    tree = stage_tree(volume, tmp / "tree")
    return Built(volume, tree, corpus)


@pytest.fixture(scope="module")
def cd(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(corpus, tmp_path_factory.mktemp("cd"), Profile.STD_GEN_CD)


def read(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def fileset(tree: Path) -> FileSet:
    return FileSet(read(tree / "DICOMDIR"))


def test_dciodvfy_finds_no_error_in_the_dicomdir(cd: Built) -> None:
    need("dciodvfy")
    proc = subprocess.run(["dciodvfy", str(cd.tree / "DICOMDIR")], capture_output=True,
                          text=True)
    out = proc.stdout + proc.stderr
    assert "BasicDirectory" in out
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    assert not errors, out


def test_dcmdump_reads_the_dicomdir_and_every_file(cd: Built) -> None:
    need("dcmdump")
    files = [str(cd.tree / f.dest) for f in cd.volume.dicom_files()]
    proc = subprocess.run(["dcmdump", "-q", "--load-short", str(cd.tree / "DICOMDIR"), *files],
                          capture_output=True, text=True, errors="replace")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "E:" not in proc.stderr, proc.stderr[-2000:]
    listing = subprocess.run(["dcmdump", "-q", "+P", "0004,1500", str(cd.tree / "DICOMDIR")],
                             capture_output=True, text=True, errors="replace",
                             check=True).stdout
    refs = {m.replace("\\", "/") for m in re.findall(r"\[(DICOM\\[^\]]+)\]", listing)}
    assert refs == {f.dest for f in cd.volume.dicom_files()}


def test_pydicom_finds_every_instance_exactly_once(cd: Built) -> None:
    fs = fileset(cd.tree)
    on_medium = {p.relative_to(cd.tree).as_posix() for p in (cd.tree / "DICOM").rglob("*")
                 if p.is_file()}
    referenced = [Path(i.path).relative_to(cd.tree).as_posix() for i in fs]
    assert sorted(referenced) == sorted(on_medium)  # every DICOM file, nothing else
    store = cd.corpus.store
    expected = {r.sop_uid for uid in cd.corpus.good_studies
                for r in store.index.study_instances(uid)}
    found = [i.SOPInstanceUID for i in fs]
    assert len(found) == len(set(found)) == len(expected)
    assert set(found) == expected
    for instance in fs:
        ds = instance.load()
        assert ds.SOPInstanceUID == instance.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == instance.ReferencedTransferSyntaxUIDInFile


def _stored(corpus: Corpus, sop_uid: str) -> Path:
    row = corpus.store.index.instance(sop_uid)
    assert row is not None
    return corpus.store.root / row.path


@pytest.mark.parametrize("profile", list(Profile))
def test_every_file_has_a_transfer_syntax_of_the_profile(
        profile: Profile, corpus: Corpus, tmp_path: Path) -> None:
    built = build(corpus, tmp_path, profile)
    kept = transcoded = 0
    for instance in fileset(built.tree):
        out = Path(instance.path)
        ts = read(out).file_meta.TransferSyntaxUID
        assert ts in profile.transfer_syntaxes, f"{out}: {ts.name}"
        src = _stored(corpus, instance.SOPInstanceUID)
        src_ts = read(src).file_meta.TransferSyntaxUID
        if src_ts in profile.transfer_syntaxes and src_ts != sop.EXPLICIT_VR_LE:
            assert out.read_bytes() == src.read_bytes(), "allowed input must be kept as is"
            kept += 1
        elif src_ts not in profile.transfer_syntaxes:
            assert ts == sop.EXPLICIT_VR_LE  # decoded, never compressed again
            transcoded += 1
    assert transcoded > 0
    if profile not in (Profile.STD_GEN_CD, Profile.STD_GEN_DVD):
        assert kept > 0


def test_lossless_paths_keep_every_pixel_and_lossy_ones_say_so(cd: Built) -> None:
    compared = lossy = 0
    for instance in fileset(cd.tree):
        src = read(_stored(cd.corpus, instance.SOPInstanceUID))
        if "PixelData" not in src:
            continue
        out = read(Path(instance.path))
        src_ts = str(src.file_meta.TransferSyntaxUID)
        if is_lossy(src, src_ts):
            lossy += 1
            assert out.LossyImageCompression == "01"
            assert out.get("LossyImageCompressionMethod")
            continue
        assert np.array_equal(src.pixel_array, out.pixel_array), instance.path
        compared += 1
    assert compared >= 20 and lossy >= 3


def test_missing_type_1_keys_are_filled_and_nothing_is_dropped(cd: Built) -> None:
    records = {}
    for rec in read(cd.tree / "DICOMDIR").DirectoryRecordSequence:
        records.setdefault(rec.DirectoryRecordType, []).append(rec)
    presentation = records["PRESENTATION"][0]  # generated without these three
    assert presentation.ContentLabel and presentation.PresentationCreationDate
    assert presentation.InstanceNumber is not None
    key_object = records["KEY OBJECT DOC"][0]  # generated without date, time and title
    assert key_object.ContentDate and key_object.ContentTime
    assert key_object.ConceptNameCodeSequence[0].CodeValue == "113000"
    for rec in records["PATIENT"]:
        assert rec.PatientID  # pydicom's test files include patients without one
    for rec in records["STUDY"]:
        assert re.fullmatch(r"\d{8}", rec.StudyDate) and rec.StudyTime and rec.StudyID
    for rec in records["SR DOCUMENT"]:
        assert rec.InstanceNumber is not None and rec.ConceptNameCodeSequence
    assert {"IMAGE", "SR DOCUMENT", "ENCAP DOC", "PRESENTATION", "KEY OBJECT DOC", "WAVEFORM",
            "RT DOSE", "RT PLAN"} <= set(records)


def test_non_ascii_patient_names_survive(cd: Built) -> None:
    names = {}
    for rec in read(cd.tree / "DICOMDIR").DirectoryRecordSequence:
        if rec.DirectoryRecordType == "PATIENT":
            names[str(rec.PatientName)] = rec.get("SpecificCharacterSet")
    assert names[LATIN1_NAME] == "ISO_IR 100"
    assert names[UTF8_NAME] == "ISO_IR 192"
    readme = (cd.tree / "README.TXT").read_text("utf-8")
    assert "Müller, Jürgen" in readme and "Ωμέγα, Ελένη" in readme
    pages = "".join(p.read_text("utf-8") for p in (cd.tree / "IHE_PDI").glob("PAT*.HTM"))
    assert "Müller, Jürgen" in pages and "Ωμέγα, Ελένη" in pages


def test_pdi_content_mirrors_the_dicom_content(cd: Built) -> None:
    root = cd.tree
    assert (root / "README.TXT").is_file() and (root / "INDEX.HTM").is_file()
    pages = [root / "INDEX.HTM", *(root / "IHE_PDI").glob("*.HTM")]
    for page in pages:
        ET.parse(page)  # well-formed XHTML
    web = [p.name for p in (root / "IHE_PDI").iterdir()]
    assert any(n.startswith("REP") and n.endswith(".PDF") for n in web)
    assert any(n.startswith("REP") and n.endswith(".HTM") for n in web)
    pdf = next((root / "IHE_PDI").glob("REP*.PDF")).read_bytes()
    assert pdf.startswith(b"%PDF-") and b"Report PDF" in pdf
    report = "".join(p.read_text("utf-8") for p in (root / "IHE_PDI").glob("REP*.HTM"))
    assert "Keine Auffälligkeiten." in report
    readme = (root / "README.TXT").read_text("utf-8")
    assert "disc 1 of 1" in readme and "STD-GEN-CD" in readme and "DICOMDIR" in readme
    index = (root / "INDEX.HTM").read_text("utf-8")
    for text in (readme, index):  # each report named, with where its readable copy is
        assert "Radiology Report" in text and "IHE_PDI/REP" in text
    assert "PID-LATIN" not in readme  # no identifier beyond what a label shows
    for f in cd.volume.files:  # ISO 9660 level 1 names, 8 levels at most
        parts = f.dest.split("/")
        assert len(parts) <= 8
        assert all(LEVEL1_FILE.match(p) for p in parts), f.dest


def test_the_iso_is_listed_and_extracted_identically(cd: Built, tmp_path: Path) -> None:
    need("isoinfo", "xorriso", "md5sum")
    volume = write_iso(cd.volume, tmp_path / "cd.iso")
    assert volume.iso is not None and volume.iso_size == volume.iso.stat().st_size
    md5 = subprocess.run(["md5sum", str(volume.iso)], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    assert volume.iso_md5 == md5
    info = subprocess.run(["isoinfo", "-d", "-i", str(volume.iso)], capture_output=True,
                          text=True, check=True).stdout
    assert f"Volume id: {volume.label}" in info and "Joliet" in info
    plain = subprocess.run(["isoinfo", "-l", "-i", str(volume.iso)], capture_output=True,
                           text=True, check=True).stdout
    assert "DICOMDIR.;1" in plain and "README.TXT;1" in plain and "I0000001.;1" in plain
    listing = subprocess.run(["xorriso", "-indev", str(volume.iso), "-find", "/", "-type",
                              "f"], capture_output=True, text=True, check=True).stdout
    listed = {line.strip().strip("'").lstrip("/") for line in listing.splitlines() if line}
    assert listed == {f.dest for f in volume.files}
    out = tmp_path / "extracted"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(volume.iso), "-extract", "/",
                    str(out)], capture_output=True, check=True)
    for f in volume.files:
        assert (out / f.dest).read_bytes() == (cd.tree / f.dest).read_bytes(), f.dest


def test_an_undecodable_instance_fails_the_build_with_its_name(corpus: Corpus,
                                                               tmp_path: Path) -> None:
    (row,) = corpus.store.index.study_instances(corpus.corrupt_study)
    with pytest.raises(BuildError) as err:
        build_volumes(corpus.store, [corpus.corrupt_study], Profile.STD_GEN_CD, None,
                      tmp_path / "work")
    assert row.sop_uid in str(err.value) and "cannot be decoded" in str(err.value)
    assert not list((tmp_path / "work").rglob("*.part"))
    # a profile that allows its transfer syntax takes it as it is
    built = build(corpus, tmp_path / "jpeg", Profile.STD_GEN_DVD_JPEG, [corpus.corrupt_study])
    (instance,) = built.volume.dicom_files()
    assert (built.tree / instance.dest).read_bytes() == _stored(corpus, row.sop_uid).read_bytes()
