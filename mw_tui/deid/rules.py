"""One dataset through a profile: each attribute as Table E.1-1 and the options say.

The table's compound actions are settled the way that keeps every IOD valid without
knowing it: `X/Z` -> Z (empty), any with D (`X/D`, `Z/D`, `X/Z/D`) -> D (a dummy value
that says nothing), `X/Z/U*` -> the sequence kept with its UIDs replaced. Sequences that
stay are walked item by item with the same rules. What the table does not list is kept,
except: person names (PN) get a dummy, dates and times follow the profile's dates (dummy,
kept or shifted), UIDs are replaced (class and transfer syntax UIDs, and the standard's own
UIDs, stay), the free text of SR content items and graphic annotations follows its
sequence (dummy, or cleaned under Clean Structured Content), and curves, overlays, group
lengths and private attributes are removed (Retain Safe Private keeps numeric private
values). Pixel data is never touched: it is not in the dataset handed here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from mw_tui.config.deid import DateHandling, DeidProfile
from mw_tui.deid.pseudonyms import Keys, Pseudonym
from mw_tui.deid.scrub import Scrubber
from mw_tui.deid.table import TABLE

DUMMY_TEXT = "ANONYMIZED"
_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "IS": "0", "DS": "0"}
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "IS", "DS", "OF",
                          "OD", "OL", "OV"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})
# free text inside SR content items and graphic annotations: it follows its sequence
_FREE_TEXT = frozenset({0x0040A160, 0x00700006})  # Text Value, Unformatted Text Value
_KEEP_UIDS = frozenset({0x00020010, 0x00020012, 0x00080016, 0x00081150, 0x0008001A,
                        0x00041510, 0x00041512})
_DICOM_ROOT = "1.2.840.10008."
_PATIENT_IDENTITY_REMOVED = 0x00120062
_METHOD = 0x00120063
_METHOD_CODES = 0x00120064
_TEMPORAL = 0x00280303  # Longitudinal Temporal Information Modified


@dataclass(frozen=True, slots=True)
class Method:
    """The options of a profile as letters of `table`, and how DICOM names them."""

    letters: frozenset[str]
    codes: tuple[tuple[str, str], ...]  # (code value, meaning) of CID 7050

    @classmethod
    def of(cls, profile: DeidProfile) -> Method:
        from pydicom.sr.codedict import codes  # a large table: loaded when first needed

        chosen = [("", codes.DCM.BasicApplicationConfidentialityProfile)]
        dates = profile.date_handling
        if dates is DateHandling.KEEP:
            chosen.append(("F", codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption))
        elif dates is DateHandling.SHIFT:
            chosen.append(("M",
                           codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption))
        for on, letter, code in (
            (profile.patient_characteristics, "P", codes.DCM.RetainPatientCharacteristicsOption),
            (profile.device_identity, "V", codes.DCM.RetainDeviceIdentityOption),
            (profile.uids, "U", codes.DCM.RetainUidsOption),
            (profile.safe_private, "S", codes.DCM.RetainSafePrivateOption),
            (profile.clean_descriptors, "D", codes.DCM.CleanDescriptorsOption),
            (profile.clean_structured_content, "T", codes.DCM.CleanStructuredContentOption),
        ):
            if on:
                chosen.append((letter, code))
        return cls(frozenset(x for x, _ in chosen if x),
                   tuple((str(c.value), str(c.meaning)) for _, c in chosen))


@dataclass(frozen=True, slots=True)
class Context:
    """What one instance is de-identified with."""

    profile: DeidProfile
    method: Method
    keys: Keys
    pseudonym: Pseudonym
    scrub: Scrubber


@lru_cache(maxsize=4096)
def _vr_of(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return "UN"


@lru_cache(maxsize=4096)
def _keeps_uid(tag: int) -> bool:
    return tag in _KEEP_UIDS or keyword_for_tag(tag).endswith(("ClassUID", "SyntaxUID"))


def _settle(action: str) -> str:
    if action == "X/Z":
        return "Z"
    if action == "X/Z/U*":
        return "U"
    return "D" if "D" in action and "/" in action else action


def _fallback(tag: int, vr: str, mode: str, dates: DateHandling) -> str:
    if vr == "SQ":
        return "K"
    if tag in _FREE_TEXT:
        return mode or "D"
    if vr == "PN":
        return "D"
    if vr in _DATE_VRS:
        return {DateHandling.KEEP: "K", DateHandling.SHIFT: "C"}.get(dates, "D")
    if vr == "UI":
        return "U"
    return "K"


def _shift_date(value: str, days: int) -> str:
    v = value.strip()
    digits = v[:10].replace(".", "").replace("-", "")
    if len(digits) < 8 or not digits[:8].isdigit():
        return _DUMMY["DA"]
    try:
        day = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        shifted = day - datetime.timedelta(days=days)
    except (ValueError, OverflowError):
        return _DUMMY["DA"]
    rest = v[10:] if "." in v[:10] or "-" in v[:10] else v[8:]
    return shifted.strftime("%Y%m%d") + rest


def _values(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return list(value)
    return [value]


class _Walker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.letters = ctx.method.letters
        self.dates = ctx.profile.date_handling

    def walk(self, ds: Dataset, mode: str = "") -> None:
        for tag in list(ds._dict):
            self.element(ds, BaseTag(tag), mode)

    def element(self, ds: Dataset, tag: BaseTag, mode: str) -> None:
        group, elem = tag >> 16, tag & 0xFFFF
        if group & 1:
            self.private(ds, tag, elem)
            return
        if elem == 0 or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            del ds[tag]  # group lengths (retired), curves, overlays (Clean Graphics: not offered)
            return
        raw = ds._dict[tag]
        # a sender that did not know the attribute wrote it as UN: it is still the date,
        # UID or sequence the dictionary says (pydicom reads its value as that type)
        vr = _vr_of(tag) if raw.VR in (None, "UN") else raw.VR
        entry = TABLE.get(tag)
        action = _settle(entry.action(self.letters)) if entry else _fallback(
            tag, vr, mode, self.dates)
        self.apply(ds, tag, vr, action, mode)

    def apply(self, ds: Dataset, tag: BaseTag, vr: str, action: str, mode: str) -> None:
        if action == "X":
            del ds[tag]
        elif action == "Z":
            ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else None)
        elif vr == "SQ":
            inner = action if action in ("D", "C") else mode
            for item in ds[tag].value:
                self.walk(item, inner)
        elif action == "U":
            if vr == "UI" and not _keeps_uid(tag):
                self.uids(ds, tag)
        elif action == "D":
            self.dummy(ds, tag, vr)
        elif action == "C":
            self.clean(ds, tag, vr)

    def uids(self, ds: Dataset, tag: BaseTag) -> None:
        if "U" in self.letters:
            return
        elem = ds[tag]
        new = [v if str(v).startswith(_DICOM_ROOT) else self.ctx.keys.uid(str(v))
               for v in _values(elem.value)]
        if new:
            elem.value = new if len(new) > 1 else new[0]

    def dummy(self, ds: Dataset, tag: BaseTag, vr: str) -> None:
        if vr == "UI":
            self.uids(ds, tag)
        elif vr in _DUMMY:
            ds[tag] = DataElement(tag, vr, _DUMMY[vr])
        elif vr in _TEXT_VRS:
            ds[tag] = DataElement(tag, vr, DUMMY_TEXT)
        else:
            ds[tag] = DataElement(tag, vr, None)

    def clean(self, ds: Dataset, tag: BaseTag, vr: str) -> None:
        if vr in ("DA", "DT"):
            days = self.ctx.pseudonym.shift_days
            values = [_shift_date(str(v), days) for v in _values(ds[tag].value)]
            ds[tag] = DataElement(tag, vr, values if len(values) != 1 else values[0])
        elif vr in _TEXT_VRS and vr != "CS":
            elem = ds[tag]
            values = [self.ctx.scrub(str(v)) for v in _values(elem.value)]
            elem.value = values if len(values) != 1 else values[0]
        # TM under shifted dates: moving by whole days leaves times as they are

    def private(self, ds: Dataset, tag: BaseTag, elem: int) -> None:
        if "S" in self.letters and 0x10 <= elem <= 0xFF:
            return  # a private creator: which block, not who
        if "S" in self.letters and elem > 0xFF and ds[tag].VR in _NUMERIC_VRS:
            return
        del ds[tag]


def walk(ds: Dataset, ctx: Context) -> None:
    """Apply the profile to every element of `ds`, in place (nothing added)."""
    _Walker(ctx).walk(ds)


def deidentify(ds: Dataset, ctx: Context) -> None:
    """De-identify `ds` (a header without pixel data) in place, with the pseudonym and the
    marks of de-identification (Patient Identity Removed, De-identification Method ...)."""
    walk(ds, ctx)
    ds.PatientName = ctx.pseudonym.name
    ds.PatientID = ctx.pseudonym.patient_id
    ds[_PATIENT_IDENTITY_REMOVED] = DataElement(_PATIENT_IDENTITY_REMOVED, "CS", "YES")
    meanings = [m for _, m in ctx.method.codes]
    ds[_METHOD] = DataElement(_METHOD, "LO", meanings if len(meanings) > 1 else meanings[0])
    items = []
    for value, meaning in ctx.method.codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds[_METHOD_CODES] = DataElement(_METHOD_CODES, "SQ", Sequence(items))
    temporal = {DateHandling.KEEP: "UNMODIFIED", DateHandling.SHIFT: "MODIFIED"}.get(
        ctx.profile.date_handling, "REMOVED")
    ds[_TEMPORAL] = DataElement(_TEMPORAL, "CS", temporal)
