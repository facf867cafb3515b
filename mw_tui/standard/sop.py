"""The SOP classes and transfer syntaxes of the station (the conformance statement's tables)."""

from __future__ import annotations

from typing import Final

VERIFICATION: Final = "1.2.840.10008.1.1"
MEDIA_CREATION_MANAGEMENT: Final = "1.2.840.10008.5.1.1.33"  # PS3.4 Annex S

# Storage SOP classes the station accepts as an SCP (spec section 3.1, in its order).
STORAGE_SOP_CLASSES: Final[dict[str, str]] = {
    "1.2.840.10008.5.1.4.1.1.13.1.3": "Breast Tomosynthesis Image Storage",
    "1.2.840.10008.5.1.4.1.1.1": "CR Image Storage",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.2": "Digital Mammography X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "Digital Mammography X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.5": "Nuclear Medicine Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.20": "Nuclear Medicine Image Storage",
    "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.12.2": "X-Ray Radiofluoroscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.128": "Positron Emission Tomography Image Storage",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR Storage",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR Storage",
}

SR_SOP_CLASSES: Final = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.11",
        "1.2.840.10008.5.1.4.1.1.88.22",
        "1.2.840.10008.5.1.4.1.1.88.33",
    }
)
ENCAPSULATED_PDF: Final = "1.2.840.10008.5.1.4.1.1.104.1"

# Query/Retrieve (SCU)
PATIENT_ROOT_FIND: Final = "1.2.840.10008.5.1.4.1.2.1.1"
STUDY_ROOT_FIND: Final = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE: Final = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET: Final = "1.2.840.10008.5.1.4.1.2.2.3"
# Mitra Report Management as the spec writes it (its root is probably Agfa's 1.2.124...).
MITRA_REPORT_MANAGEMENT: Final = "1.2.840.113532.3500.8"

# Transfer syntaxes
IMPLICIT_VR_LE: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE: Final = "1.2.840.10008.1.2.2"
JPEG_BASELINE: Final = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED: Final = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS_SV1: Final = "1.2.840.10008.1.2.4.70"
JPEG_2000_LOSSLESS: Final = "1.2.840.10008.1.2.4.90"
JPEG_2000: Final = "1.2.840.10008.1.2.4.91"

# What the receiver accepts for every storage SOP class, in order of preference:
# Explicit VR LE first because the general-purpose media profiles need it.
STORAGE_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    JPEG_BASELINE,
    JPEG_EXTENDED,
    JPEG_LOSSLESS_SV1,
    JPEG_2000_LOSSLESS,
    JPEG_2000,
)

TRANSFER_SYNTAX_NAMES: Final[dict[str, str]] = {
    IMPLICIT_VR_LE: "Implicit VR Little Endian",
    EXPLICIT_VR_LE: "Explicit VR Little Endian",
    DEFLATED_EXPLICIT_VR_LE: "Deflated Explicit VR Little Endian",
    EXPLICIT_VR_BE: "Explicit VR Big Endian",
    JPEG_BASELINE: "JPEG Baseline (Process 1)",
    JPEG_EXTENDED: "JPEG Extended (Process 2 & 4)",
    JPEG_LOSSLESS_SV1: "JPEG Lossless, Non-Hierarchical, First-Order Prediction (SV1)",
    JPEG_2000_LOSSLESS: "JPEG 2000 Image Compression (Lossless Only)",
    JPEG_2000: "JPEG 2000 Image Compression",
}


def sop_class_name(uid: str) -> str:
    """A readable name for a SOP class UID (the UID itself when unknown)."""
    if uid in STORAGE_SOP_CLASSES:
        return STORAGE_SOP_CLASSES[uid]
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid
