"""Each option of a profile, attribute by attribute (Table E.1-1)."""

from __future__ import annotations

import copy
import datetime

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from mw_tui.config import DeidProfile
from mw_tui.deid.pseudonyms import Keys
from mw_tui.deid.rules import Context, Method, deidentify
from mw_tui.deid.scrub import Scrubber
from mw_tui.deid.table import TABLE
from mw_tui.demo import synth
from tests.deid import phi

STUDY = synth.StudyInfo(phi.ALICE, date="20240115", time="093000", accession="ACCN-88231",
                        description="Thoraxcheck Dupontel", study_id="STUDY7731",
                        referring="Lefebvrier^Paulo")


def ct() -> Dataset:
    ds = synth.image(STUDY, "CT", None, 1, 1, rows=8, columns=8,
                     series_description="Axialseries Jeannette")
    phi._phi(ds)
    ds.FrameOfReferenceUID = generate_uid()
    del ds.PixelData  # the rules are given headers only
    return ds


def run(ds: Dataset, keys: Keys | None = None, **options: object) -> Dataset:
    profile = DeidProfile(name="t", **options)  # type: ignore[arg-type]
    keys = keys or Keys("seed")
    pseudonym = keys.patient(f"id:{ds.PatientID}")
    deidentify(ds, Context(profile, Method.of(profile), keys, pseudonym, Scrubber.of(ds)))
    return ds


def test_the_table_holds_every_row_with_its_options() -> None:
    assert len(TABLE) >= 450
    assert TABLE[0x00100010].basic == "Z"  # Patient's Name
    study_date = TABLE[0x00080020]
    assert (study_date.basic, study_date.options) == ("Z", {"F": "K", "M": "C"})
    allergies = TABLE[0x00102110]  # retain patient characteristics C wins over removing
    assert allergies.action(frozenset("P")) == "C"
    assert TABLE[0x00181002].action(frozenset("V")) == "K"  # Device UID, device identity
    assert TABLE[0x00081120].action(frozenset("U")) == "X"  # Referenced Patient Sequence


def test_basic_profile_replaces_removes_and_empties() -> None:
    original = ct()
    ds = run(copy.deepcopy(original))
    assert str(ds.PatientName).startswith("ANON-") and ds.PatientID == str(ds.PatientName)[5:]
    for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyDate",
                    "StudyTime", "StudyID", "ReferringPhysicianName"):
        assert ds[keyword].value in ("", None), keyword
    for keyword in ("PatientAge", "PatientWeight", "PatientSize", "OtherPatientIDs",
                    "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers",
                    "PatientMotherBirthName", "PatientComments", "StudyDescription",
                    "SeriesDescription", "ImageComments", "InstitutionAddress",
                    "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
                    "RequestAttributesSequence"):
        assert keyword not in ds, keyword
    # X/D and X/Z/D: a dummy, so that IODs needing them stay valid
    assert ds.InstitutionName == ds.StationName == ds.DeviceSerialNumber == "ANONYMIZED"
    assert ds.OperatorsName == "ANONYMIZED" and ds.ProtocolName == "ANONYMIZED"
    assert ds.SeriesDate == ds.ContentDate == "19000101"
    assert ds.AcquisitionDate in ("", None)  # X/Z: empty
    assert ds.AcquisitionDateTime == "19000101000000" and ds.SeriesTime == "000000"
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID",
                    "FrameOfReferenceUID"):
        assert ds[keyword].value.startswith("2.25.") and ds[keyword].value != original[
            keyword].value
    assert ds.SOPClassUID == original.SOPClassUID
    assert not [e.tag for e in ds if e.tag.group & 1]  # private attributes, creators too
    ref = ds.ReferencedRequestSequence[0]  # not in the table: walked, cleaned inside
    assert ref.AccessionNumber in ("", None) and "RequestingPhysician" not in ref
    assert ref.StudyInstanceUID == ds.StudyInstanceUID
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert ds.DeidentificationMethod == "Basic Application Confidentiality Profile"
    (code,) = ds.DeidentificationMethodCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("113100", "DCM")


def test_full_dates_are_kept() -> None:
    ds = run(ct(), dates="keep")
    assert (ds.StudyDate, ds.StudyTime, ds.SeriesDate) == ("20240115", "093000", "20240115")
    assert ds.AcquisitionDateTime == "20240115093012.000000"
    assert ds.PatientBirthDate in ("", None)  # not a longitudinal date
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert "113106" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]


def test_modified_dates_move_back_by_the_patients_offset() -> None:
    keys = Keys("seed")
    ds = run(ct(), keys, dates="shift")
    days = keys.patient(f"id:{phi.ALICE.patient_id}").shift_days
    assert 365 <= days <= 3650
    expected = (datetime.date(2024, 1, 15) - datetime.timedelta(days=days)).strftime("%Y%m%d")
    assert ds.StudyDate == ds.SeriesDate == ds.ContentDate == expected
    assert ds.AcquisitionDateTime == expected + "093012.000000"
    assert ds.StudyTime == "093000"  # whole days: times stay
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    other = keys.patient("id:SOMEONE-ELSE")
    assert keys.patient(f"id:{phi.ALICE.patient_id}").shift_days == days  # one per patient
    assert other != keys.patient(f"id:{phi.ALICE.patient_id}")


def test_patient_characteristics_are_kept() -> None:
    ds = run(ct(), patient_characteristics=True)
    assert (ds.PatientSex, ds.PatientAge, ds.PatientWeight) == ("F", "065Y", 61.5)
    assert ds.PatientBirthDate in ("", None)


def test_device_identity_is_kept() -> None:
    ds = run(ct(), device_identity=True)
    assert (ds.StationName, ds.DeviceSerialNumber) == ("CTSCANROOM7", "SERIAL4471XZ")
    assert ds.InstitutionName == "ANONYMIZED"


def test_uids_are_kept() -> None:
    original = ct()
    ds = run(copy.deepcopy(original), uids=True)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert ds[keyword].value == original[keyword].value


def test_uids_map_the_same_everywhere_and_standard_ones_stay() -> None:
    keys = Keys("seed")
    first, second = ct(), ct()
    second.StudyInstanceUID = first.StudyInstanceUID
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = first.SOPInstanceUID
    second.ReferencedImageSequence = [ref]
    second.CodingSchemeUID = "1.2.840.10008.2.16.4"  # the standard's own: kept
    run(first, keys)
    run(second, keys)
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert second.ReferencedImageSequence[0].ReferencedSOPClassUID == ref.ReferencedSOPClassUID
    assert second.CodingSchemeUID == "1.2.840.10008.2.16.4"
    assert Keys("other").uid(first.SOPInstanceUID) != keys.uid(first.SOPInstanceUID)


def test_clean_descriptors_keep_descriptions_without_identifiers() -> None:
    ds = run(ct(), clean_descriptors=True)
    assert ds.StudyDescription == "Thoraxcheck ***"
    assert ds.SeriesDescription == "Axialseries ***"
    assert ds.ImageComments == "Imgcomment ***"
    assert ds.ProtocolName == "Protocolx ***"
    (request,) = ds.RequestAttributesSequence
    assert request.ScheduledProcedureStepDescription == "Schedstep ***"
    assert "RequestedProcedureID" not in request


def sr() -> Dataset:
    images = [synth.image(STUDY, "CT", None, 1, 1, rows=4, columns=4)]
    return phi._sr(STUDY, images)


def test_sr_text_is_replaced_unless_structured_content_is_cleaned() -> None:
    ds = run(sr())
    assert ds.ContentSequence[0].TextValue == "ANONYMIZED"
    assert "AuthorObserverSequence" not in ds
    (verifier,) = ds.VerifyingObserverSequence
    assert verifier.VerifyingObserverName == verifier.VerifyingOrganization == "ANONYMIZED"
    assert verifier.VerificationDateTime == "19000101000000"
    assert ds.ContentDate == "19000101"  # type 1 in SR: a dummy, not empty
    cleaned = run(sr(), clean_structured_content=True)
    assert cleaned.ContentSequence[0].TextValue == "*** *** (***), born ***: no nodule."
    assert "113104" in [c.CodeValue for c in cleaned.DeidentificationMethodCodeSequence]


def test_graphic_annotation_text_is_replaced() -> None:
    images = [synth.image(STUDY, "CT", None, 1, 1, rows=4, columns=4)]
    ds = run(phi._gsps(STUDY, images))
    text = ds.GraphicAnnotationSequence[0].TextObjectSequence[0]
    assert text.UnformattedTextValue == "ANONYMIZED"
    assert ds.ContentCreatorName == "ANONYMIZED"


def test_safe_private_keeps_numbers_only() -> None:
    ds = run(ct(), safe_private=True)
    block = ds.private_block(0x0019, "ACMEPRIVATE 1.0")
    assert block[0x11].value == 42
    assert 0x10 not in block


def test_curves_overlays_and_group_lengths_go() -> None:
    ds = ct()
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60003000, "OW", b"\0" * 8)
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x00180000, "UL", 4)
    run(ds)
    assert not [e.tag for e in ds if e.tag.group in (0x6000, 0x5000) or e.tag.element == 0]


def test_scrubber_takes_out_whole_words_in_any_case() -> None:
    scrub = Scrubber(["Dupontel", "PATA-4411X", "Jeannette Dupontel"])
    assert scrub("JEANNETTE DUPONTEL, id pata-4411x.") == "***, id ***."
    assert scrub("Dupontelli stays") == "Dupontelli stays"
    of = Scrubber.of(ct())  # the instance's own identifiers, dates in written forms too
    assert of("Mme Jeannette DUPONTEL née le 17/03/1958, Clinique Sainte-Odile") == (
        "Mme *** *** née le ***, ***")
    # the dates of the study too: a shifted copy would give its offset away through them
    assert of(f"Follow-up of CT {ct().StudyDate[6:]}.{ct().StudyDate[4:6]}."
              f"{ct().StudyDate[:4]}") == "Follow-up of CT ***"
