"""Anonymous copies into a job's work store, and the medium the builder makes of them."""

from __future__ import annotations

import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

from mw_tui.config import DeidProfile, MediaConfig
from mw_tui.deid import DeidReport, anonymous_media_settings, deidentify_into
from mw_tui.deid.pseudonyms import Keys
from mw_tui.media import Volume, build_volumes, stage_tree, write_iso
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.deid import phi
from tests.peers import need

SEED = "test-seed-1"
SETTINGS = MediaConfig(institution="Clinique Sainte-Odile", station_name="Kellermann CT")


@dataclass
class Medium:
    corpus: phi.Corpus
    work: Store
    report: DeidReport
    volume: Volume
    tree: Path
    image: bytes


def read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> phi.Corpus:
    return phi.build(Store(tmp_path_factory.mktemp("station") / "store"))


@pytest.fixture(scope="module")
def medium(corpus: phi.Corpus, tmp_path_factory: pytest.TempPathFactory) -> Medium:
    tmp = tmp_path_factory.mktemp("job")
    work = Store(tmp / "work-store")
    studies = [*corpus.synthetic, *corpus.pydicom_studies]
    report = deidentify_into(corpus.store, studies, DeidProfile(name="basic"), SEED, work)
    (volume,) = build_volumes(work, report.study_uids, "STD-GEN-DVD-J2K", None, tmp / "build",
                              settings=anonymous_media_settings(SETTINGS))
    volume = write_iso(volume, tmp / "medium.iso")
    tree = stage_tree(volume, tmp / "tree")
    return Medium(corpus, work, report, volume, tree, (tmp / "medium.iso").read_bytes())


def pydicom_secrets(corpus: phi.Corpus) -> list[str]:
    """What identifies the patients of pydicom's files (long enough not to occur by chance)."""
    out = []
    for sop_uid, path in corpus.originals.items():
        if path.parent.parent.name not in corpus.pydicom_studies:
            continue
        ds = read(path)
        for keyword in ("PatientName", "ReferringPhysicianName"):
            out += [w for w in re.split(r"[\^ =]", str(ds.get(keyword, ""))) if len(w) >= 6]
        for keyword in ("PatientID", "InstitutionName", "StudyDate", "AccessionNumber"):
            value = str(ds.get(keyword, ""))
            # a maker's name (Manufacturer, which stays) is no secret
            if len(value) >= 6 and value not in str(ds.get("Manufacturer", "")):
                out.append(value)
        out.append(sop_uid)
    return out


def test_no_original_string_is_anywhere_on_the_medium(medium: Medium) -> None:
    data = medium.image.lower()
    secrets = [*phi.SECRETS, *medium.corpus.uids, *pydicom_secrets(medium.corpus)]
    found = [s for s in secrets
             if s.lower().encode() in data or s.lower().encode("utf-16-be") in data]
    assert not found, f"left on the medium: {found}"
    pages = [p for p in medium.tree.rglob("*") if p.suffix.upper() in (".HTM", ".TXT")]
    assert pages  # the byte search covered the README and the web pages too
    assert b"anon" in data


def test_the_station_store_is_only_read(corpus: phi.Corpus, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in corpus.store.root.rglob("*.dcm")}
    counts = corpus.store.index.counts()
    deidentify_into(corpus.store, [corpus.b], DeidProfile(name="basic"), SEED,
                    Store(tmp_path / "work"))
    assert {p: p.read_bytes() for p in corpus.store.root.rglob("*.dcm")} == before
    assert corpus.store.index.counts() == counts


def pixel_element(path: Path) -> bytes:
    """The pixel data element's value exactly as it is in the file."""
    ds = read(path)
    return bytes(ds.PixelData)


def test_pixel_data_is_byte_identical(medium: Medium) -> None:
    keys = Keys(SEED)
    copies = medium.work.index.paths()
    on_medium = {read(medium.tree / f.dest).SOPInstanceUID: medium.tree / f.dest
                 for f in medium.volume.dicom_files()}
    checked = 0
    for uid, original in medium.corpus.originals.items():
        ds = read(original)
        if "PixelData" not in ds or keys.uid(uid) not in copies:
            continue  # no pixels, or left out (burned in)
        copy = medium.work.root / copies[keys.uid(uid)]
        assert pixel_element(copy) == bytes(ds.PixelData), uid
        final = on_medium[keys.uid(uid)]
        if read(final).file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID:
            assert pixel_element(final) == bytes(ds.PixelData), uid
        checked += 1
    assert checked >= 9


def walk(ds: Dataset):  # type: ignore[no-untyped-def]
    for elem in ds:
        yield ds, elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from walk(item)


def test_every_reference_resolves_on_the_medium(medium: Medium) -> None:
    instances = {}
    for f in medium.volume.dicom_files():
        ds = read(medium.tree / f.dest)
        instances[str(ds.SOPInstanceUID)] = ds
    series = {str(ds.SeriesInstanceUID) for ds in instances.values()}
    studies = {str(ds.StudyInstanceUID) for ds in instances.values()}
    ours = {s.uid for s in medium.report.studies if s.original_uid in medium.corpus.synthetic}
    originals = set(medium.corpus.uids)
    references = 0
    for ds in instances.values():
        for parent, elem in walk(ds):
            if elem.keyword == "ReferencedSOPInstanceUID":
                assert str(elem.value) not in originals
                target = instances.get(str(elem.value))
                if ds.StudyInstanceUID not in ours:
                    continue  # pydicom's files also refer to images that are not theirs
                assert target is not None, f"{ds.SOPClassUID} refers to a missing instance"
                assert target.SOPClassUID == parent.ReferencedSOPClassUID
                references += 1
            elif elem.keyword == "ReferencedSeriesSequence" and ds.StudyInstanceUID in ours:
                assert all(str(i.SeriesInstanceUID) in series for i in elem.value)
            elif elem.keyword == "CurrentRequestedProcedureEvidenceSequence" and (
                    ds.StudyInstanceUID in ours):
                assert all(str(i.StudyInstanceUID) in studies for i in elem.value)
    assert references >= 3 + 3 + 3 + 1 + 4 + 1  # SR/KOS evidence, KOS, GSPS, CT to CT, SR
    a1 = next(s.uid for s in medium.report.studies if s.original_uid == medium.corpus.a1)
    frames = {str(ds.FrameOfReferenceUID) for ds in instances.values()
              if ds.SOPClassUID == phi.CT and ds.StudyInstanceUID == a1}
    assert len(frames) == 1 and not frames & originals


def dciodvfy_errors(path: Path) -> set[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                         errors="replace")
    # values differ after de-identification: only what is wrong, and where, is compared
    return {re.sub(r"\[[^]]*\]|\"[^\"]*\"|\d+(\.\d+)+", "", line)
            for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")}


def test_dciodvfy_finds_no_new_error(medium: Medium) -> None:
    need("dciodvfy")
    keys = Keys(SEED)
    copies = medium.work.index.paths()
    compared = 0
    for uid, original in medium.corpus.originals.items():
        if keys.uid(uid) not in copies:
            continue
        new = dciodvfy_errors(medium.work.root / copies[keys.uid(uid)]) - dciodvfy_errors(
            original)
        assert not new, f"{read(original).SOPClassUID}: {new}"
        compared += 1
    assert compared >= 12


def test_pydicom_reads_the_dicomdir_with_the_pseudonyms(medium: Medium) -> None:
    fs = FileSet(read(medium.tree / "DICOMDIR"))
    names = {str(i.PatientName) for i in fs}
    assert names == {p.name for p in medium.report.pseudonyms}
    assert len(fs) == len(list(medium.volume.dicom_files()))
    for instance in fs:
        ds = instance.load()
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert str(ds.PatientName) == str(instance.PatientName)
    readme = (medium.tree / "README.TXT").read_text(errors="replace")
    line = next(x for x in readme.splitlines() if x.startswith("Patient"))
    assert all(p.label in line for p in medium.report.pseudonyms)


def test_one_pseudonym_per_patient(medium: Medium) -> None:
    by_study = {s.original_uid: s.pseudonym for s in medium.report.studies}
    corpus = medium.corpus
    assert by_study[corpus.a1] == by_study[corpus.a2]
    assert by_study[corpus.b] != by_study[corpus.a1]
    assert by_study[corpus.a1].patient_id != by_study[corpus.b].patient_id
    names = set()
    for study in (corpus.a1, corpus.a2, corpus.b):
        copy = next(s.uid for s in medium.report.studies if s.original_uid == study)
        row = medium.work.index.study(copy)
        assert row is not None
        assert (row.patient_name, row.patient_id) == (by_study[study].name,
                                                      by_study[study].patient_id)
        names.add(row.patient_name)
    assert len(names) == 2
    patients = {(r.patient_id, r.patient_name) for r in corpus.store.index.studies()}
    assert len(medium.report.pseudonyms) == len(patients)


def test_burned_in_instances_are_left_out_and_listed(medium: Medium) -> None:
    left = {f.sop_class for f in medium.report.left_out if f.study_uid == medium.corpus.a1}
    assert left == {sop.ENCAPSULATED_PDF, "1.2.840.10008.5.1.4.1.1.7",
                    "1.2.840.10008.5.1.4.1.1.6.1"}
    assert len(medium.report.left_out) == 3
    classes = {read(medium.tree / f.dest).SOPClassUID for f in medium.volume.dicom_files()}
    assert not classes & left
    (warning,) = medium.report.warnings()
    assert "3 instance(s)" in warning and "Encapsulated PDF" in warning
    assert not medium.report.kept_with_warning


def test_burned_in_instances_kept_with_the_option(corpus: phi.Corpus, tmp_path: Path) -> None:
    work = Store(tmp_path / "work")
    profile = DeidProfile(name="keep", burned_in="keep_with_warning")
    report = deidentify_into(corpus.store, [corpus.a1], profile, SEED, work)
    assert not report.left_out
    assert len(report.kept_with_warning) == 3
    assert "check them before the medium leaves" in report.warnings()[0]
    classes = {r.sop_class for r in work.index.study_instances(report.study_uids[0])}
    assert sop.ENCAPSULATED_PDF in classes and "1.2.840.10008.5.1.4.1.1.7" in classes
    pdf = next(r for r in work.index.study_instances(report.study_uids[0])
               if r.sop_class == sop.ENCAPSULATED_PDF)
    ds = read(work.root / pdf.path)
    assert str(ds.PatientName).startswith("ANON-")
    assert b"Jeannette Dupontel" in ds.EncapsulatedDocument  # unchanged, hence the warning
