"""`[[deid_profiles]]`: de-identification profiles (PS3.15 Annex E options) for anonymous media."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mw_tui.config.checks import check_choice, check_name, item


class DateHandling(StrEnum):
    """Retain Longitudinal Temporal Information: not (remove), Full Dates (keep) or Modified
    Dates (shift)."""

    REMOVE = "remove"
    KEEP = "keep"
    SHIFT = "shift"


class BurnedIn(StrEnum):
    """What becomes of instances that may show the patient's name in their pixels."""

    LEAVE_OUT = "leave_out"
    KEEP_WITH_WARNING = "keep_with_warning"


@dataclass(frozen=True)
class DeidProfile:
    name: str = item("A short name for this profile (jobs and the command line name it: "
                     "anonymous:NAME, --anonymize NAME).", check_name)
    dates: str = item(
        "Dates: \"remove\" (Basic Profile: emptied, or a dummy where required), \"keep\" "
        "(Retain Longitudinal Temporal Information, Full Dates) or \"shift\" (Modified "
        "Dates: each patient's dates moved back by one offset of 1 to 10 years, the same on "
        "all their studies of the job).",
        check_choice(*(d.value for d in DateHandling)), default=DateHandling.REMOVE.value)
    patient_characteristics: bool = item(
        "Retain Patient Characteristics: keep sex, age, size, weight, ethnic group, smoking "
        "and pregnancy status.", default=False)
    device_identity: bool = item(
        "Retain Device Identity: keep station names, serial numbers and device IDs.",
        default=False)
    uids: bool = item("Retain UIDs: keep the original UIDs (otherwise every UID is replaced, "
                      "the same way everywhere it is referenced).", default=False)
    clean_descriptors: bool = item(
        "Clean Descriptors: keep study and series descriptions, protocol names and comments, "
        "with the patient's and physicians' names, IDs and dates taken out (otherwise they "
        "are removed).", default=False)
    clean_structured_content: bool = item(
        "Clean Structured Content: keep the text of structured reports (SR), with the same "
        "identifiers taken out (otherwise each text is replaced by ANONYMIZED).",
        default=False)
    safe_private: bool = item(
        "Retain Safe Private: keep private attributes holding numbers only (otherwise every "
        "private attribute is removed).", default=False)
    burned_in: str = item(
        "Instances that may show the patient's name in their pixels or document (Burned In "
        "Annotation YES, Secondary Capture, Ultrasound, Encapsulated PDF): \"leave_out\" or "
        "\"keep_with_warning\" (kept unchanged, and listed as a warning).",
        check_choice(*(b.value for b in BurnedIn)), default=BurnedIn.LEAVE_OUT.value)

    @property
    def date_handling(self) -> DateHandling:
        return DateHandling(self.dates)

    @property
    def burned_in_choice(self) -> BurnedIn:
        return BurnedIn(self.burned_in)


BASIC_PROFILE = DeidProfile(name="basic")  # offered when no profile of that name is configured
