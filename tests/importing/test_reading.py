"""Reading outside media made by other tools: a dcmmkdir + genisoimage disc (as an ISO file
and as the folder it was made from), a folder without DICOMDIR, files without preamble."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from mw_tui.demo import synth
from mw_tui.importing import (
    DicomdirState,
    MediumError,
    MediumKind,
    read_medium,
)
from tests.importing.conftest import (
    OUTSIDE,
    OUTSIDE_ISSUER,
    PYDICOM_FILES,
    Disc,
    ct_files,
    outside_ct,
    write_disc,
)


def sop_uids(disc: Disc) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True, force=True).SOPInstanceUID)
            for p in disc.files.values()}


def test_an_iso_made_by_dcmmkdir_and_genisoimage_lists_every_instance(ct_disc: Disc) -> None:
    medium = read_medium(ct_disc.iso)
    assert medium.kind is MediumKind.ISO_FILE
    assert medium.label == "OUTSIDE"
    assert medium.dicomdir is DicomdirState.USED, medium.notes
    assert not medium.unreadable
    assert {x.instance.sop_instance_uid for x in medium.located()} == sop_uids(ct_disc)
    doe = next(p for p in medium.patients if p.patient_id == OUTSIDE.patient_id)
    assert (doe.name, doe.issuer, doe.birth_date, doe.sex) == (
        OUTSIDE.name, OUTSIDE_ISSUER, OUTSIDE.birth_date, OUTSIDE.sex)
    (study,) = doe.studies
    assert study.instance_count == 12 and study.modalities == ("CT",)
    assert [i.number for i in study.series[0].instances] == [str(n) for n in range(1, 13)]
    # each instance names its file on the medium, and its size
    first = study.series[0].instances[0]
    assert first.path == "DICOM/CT000001"
    assert first.size == ct_disc.files["DICOM/CT000001"].stat().st_size
    syntaxes = {x.instance.transfer_syntax for x in medium.located()}
    assert {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99"} <= syntaxes


def test_the_folder_and_the_iso_give_the_same_model(ct_disc: Disc) -> None:
    from_iso = read_medium(ct_disc.iso)
    from_folder = read_medium(ct_disc.tree)
    assert from_folder.kind is MediumKind.FOLDER
    assert from_folder.patients == from_iso.patients


def test_json_listing_is_an_array_of_studies_keyed_by_dicom_keyword(ct_disc: Disc) -> None:
    listing = json.loads(json.dumps(read_medium(ct_disc.iso).to_json()))
    assert len(listing) == len({x.study.study_uid for x in read_medium(ct_disc.iso).located()})
    doe = next(s for s in listing if s["PatientID"] == OUTSIDE.patient_id)
    assert doe["PatientName"] == OUTSIDE.name
    assert doe["IssuerOfPatientID"] == OUTSIDE_ISSUER
    assert doe["ModalitiesInStudy"] == ["CT"]
    assert doe["NumberOfStudyRelatedInstances"] == 12 == len(doe["files"])
    assert doe["unreadable"] == []


def test_json_sizes_match_the_files(ct_disc: Disc) -> None:
    listing = read_medium(ct_disc.tree).to_json()
    for study in listing:
        assert study["size_bytes"] == sum((ct_disc.tree / f).stat().st_size
                                          for f in study["files"])


def test_a_folder_without_dicomdir_is_scanned_whole(tmp_path: Path) -> None:
    """Files with odd names, nested folders, a README and a viewer: every DICOM file is
    found, the rest ignored."""
    root = tmp_path / "stick"
    datasets = outside_ct(5)
    for i, ds in enumerate(datasets):
        path = root / "export" / f"series {i % 2}" / f"image-{i}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(synth.part10(ds))
    (root / "README.TXT").write_text("outside disc\n")
    copied = write_disc(tmp_path / "copied", ct_files(outside_ct(2)))  # a disc copied along
    shutil.copytree(copied.tree, root / "CD COPY")
    (root / "viewer").mkdir()
    (root / "viewer" / "run.exe").write_bytes(b"MZ" + bytes(500))
    for name in PYDICOM_FILES[:3]:
        shutil.copy(Path(pydicom.__file__).parent / "data" / "test_files" / name, root / name)
    medium = read_medium(root)
    assert medium.dicomdir is DicomdirState.NONE
    assert medium.instance_count == 5 + 2 + 3
    assert not medium.unreadable
    paths = {x.instance.path for x in medium.located()}
    assert "export/series 0/image-0.dcm" in paths
    assert "README.TXT" not in paths


def test_files_without_the_preamble_are_read(tmp_path: Path) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    root = tmp_path / "bare"
    root.mkdir()
    for i, ds in enumerate(outside_ct(3)):
        for implicit in (False, True):
            fp = DicomBytesIO()
            fp.is_little_endian, fp.is_implicit_VR = True, implicit
            write_dataset(fp, ds)
            (root / f"IM{i}{int(implicit)}").write_bytes(fp.getvalue())
    medium = read_medium(root)
    assert medium.instance_count == 3  # each instance twice: imported once
    assert "second copies" in " ".join(medium.notes)
    assert {x.instance.transfer_syntax for x in medium.located()} <= {
        "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def test_files_the_dicomdir_does_not_list_are_found_too(tmp_path: Path) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(4)))
    extra = disc.tree / "DICOM" / "LATE0001"
    extra.write_bytes(synth.part10(outside_ct(1, description="Added later")[0]))
    medium = read_medium(disc.tree)
    assert medium.dicomdir is DicomdirState.INCOMPLETE
    assert medium.instance_count == 5
    assert "not in its DICOMDIR" in " ".join(medium.notes)


def test_a_file_the_dicomdir_lists_but_the_medium_lacks_is_reported(tmp_path: Path) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(3)))
    study_uid = str(pydicom.dcmread(disc.files["DICOM/CT000002"]).StudyInstanceUID)
    disc.files["DICOM/CT000002"].unlink()
    medium = read_medium(disc.tree)
    assert medium.instance_count == 2
    (missing,) = medium.unreadable
    assert missing.path == "DICOM/CT000002"
    assert "not on the medium" in missing.reason
    assert medium.studies[0].unreadable == (missing,)  # listed under its study
    assert missing.study_uid == study_uid


def test_what_cannot_be_read_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MediumError, match="cannot be read"):
        read_medium(tmp_path / "nothing-here")
    not_iso = tmp_path / "photo.jpg"
    not_iso.write_bytes(b"\xff\xd8" + bytes(40000))
    with pytest.raises(MediumError, match="neither a folder nor an ISO 9660 image"):
        read_medium(not_iso)
    broken = tmp_path / "broken.iso"
    broken.write_bytes(bytes(32768) + b"\x01CD001" + bytes(3000))
    with pytest.raises(MediumError, match="not a readable ISO 9660"):
        read_medium(broken)


def test_reading_reports_progress_and_can_be_cancelled(ct_disc: Disc) -> None:
    from mw_tui.importing import Cancelled

    seen: list[tuple[int, int]] = []
    medium = read_medium(ct_disc.tree, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] >= medium.instance_count
    with pytest.raises(Cancelled):
        read_medium(ct_disc.tree, cancel=lambda: True)
