"""What each generated demo image needs beyond the pixels to be a valid object of its IOD
(dciodvfy finds no error in any generated sample): frame of reference and patient
position for CT and MR, their acquisition attributes, the CR series attributes, and the
Type 2C attributes that apply when nothing else says it (the side, as Image Laterality in
place of the series' Laterality; Patient Orientation when no orientation is given). Type 2
values the generator cannot know are present and empty, as the standard allows."""

from __future__ import annotations

from pydicom.dataset import Dataset

# modality -> (keyword, value) pairs of its image module that the generator adds
_ACQUISITION: dict[str, tuple[tuple[str, object], ...]] = {
    "CT": (("KVP", "120"), ("AcquisitionNumber", 1)),
    "MR": (("ScanningSequence", "SE"), ("SequenceVariant", "NONE"), ("ScanOptions", ""),
           ("MRAcquisitionType", "2D"), ("RepetitionTime", "500"), ("EchoTime", "20"),
           ("EchoTrainLength", 1), ("AcquisitionNumber", 1)),
    "CR": (("BodyPartExamined", ""), ("ViewPosition", "")),
    "US": (),
}
LATERALITY_WORDS = {"LEFT": "L", "RIGHT": "R"}


def complete_image(ds: Dataset, frame_of_reference_uid: str, laterality: str = "") -> Dataset:
    """Add what the image's IOD requires to `ds` (a CT, MR, CR or US image of synth)."""
    for keyword, value in _ACQUISITION.get(str(ds.Modality), ()):
        setattr(ds, keyword, value)
    # the side of a paired body part, U for an unpaired one (chest, head, ...); with it,
    # the series' Laterality (Type 2C) must be left out
    ds.ImageLaterality = laterality or "U"
    if "ImageOrientationPatient" in ds:  # a volume: positioned in a frame of reference
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = "HFS"
    else:  # a projection or an ultrasound picture: its orientation, unknown here
        ds.PatientOrientation = ""
    return ds


def laterality_of(description: str) -> str:
    """L or R when a study's description names the side ("MR KNEE LEFT"), else ""."""
    words = set(description.upper().split())
    return next((side for word, side in LATERALITY_WORDS.items() if word in words), "")
