"""Planning a medium and what the station layer answers the screens: "this station"
matching, the media count against each target's medium, the targets offered, the
problems in the way, the PIN hash."""

from __future__ import annotations

import time

import pytest

from mw_tui import config as cfg
from mw_tui.devices.models import MediaState, MediaType, OpticalDrive, OpticalMedia, UsbStick
from mw_tui.devices.writers import DiscWriter, IsoFileWriter, StowWriter, UsbWriter
from mw_tui.dicom.query import StudyQuery, StudyResult
from mw_tui.media.profiles import MEDIA, Profile
from mw_tui.station import plan as estimate
from mw_tui.station.local import LOCAL, as_result, matches_query, name_pattern, search_local
from mw_tui.station.pin import hash_pin, verify_pin
from mw_tui.station.plan import Severity, plan_medium
from mw_tui.station.targets import choices, default_choice, default_profile
from mw_tui.store.index import StudyRow


def row(name: str, pid: str = "P1", date: str = "20240301", mods: tuple[str, ...] = ("CT",),
        born: str = "19600101") -> StudyRow:
    return StudyRow("1.2." + str(abs(hash((name, date)))), name, pid, born, "F", date, "",
                    "ACC9", "desc", "1", "", mods, 1, 10, 1000, 0.0, 0.0, ())


def test_this_station_matches_like_an_archive() -> None:
    rows = [row("Müller^Jürgen"), row("Yamada^Tarou=山田^太郎", mods=("MR", "SR")),
            row("Smith^Ann", date="20231231")]
    names = lambda q: [r.patient_name for r in rows if matches_query(r, q)]  # noqa: E731
    assert names(StudyQuery(patient_name=name_pattern("mül"))) == ["Müller^Jürgen"]
    assert names(StudyQuery(patient_name=name_pattern("山田"))) == ["Yamada^Tarou=山田^太郎"]
    assert names(StudyQuery.from_text(study_date="20240101-")) == [
        "Müller^Jürgen", "Yamada^Tarou=山田^太郎"]
    assert names(StudyQuery(modality="SR")) == ["Yamada^Tarou=山田^太郎"]
    assert names(StudyQuery.from_text(birth_date="19600101", sex="f")) == [r.patient_name
                                                                             for r in rows]
    found = search_local(rows, StudyQuery(patient_name="smith*"))
    assert [s.archives for s in found] == [(LOCAL,)] and found[0].instances == 10
    assert name_pattern("Sm?th") == "Sm?th" and name_pattern(" ") == ""


def test_media_count_follows_the_builders_spanning() -> None:
    cd = MEDIA["CD"].capacity
    assert cd is not None
    small = [estimate.StudySize("1", 100_000_000, 200, True)]
    assert estimate.fit(small, IsoFileWriter, Profile.STD_GEN_CD).media == 1
    big = [estimate.StudySize("1", 1_500_000_000, 3000, True)]
    fit = estimate.fit(big, IsoFileWriter, Profile.STD_GEN_CD)
    assert fit.media == 3 and fit.capacity == cd and fit.medium == "ISO (CD size)"
    assert estimate.fit(big, IsoFileWriter, Profile.STD_GEN_DVD).media == 1
    assert estimate.fit(big, StowWriter, None).media == 1
    huge_instance = [estimate.StudySize("1", cd * 2, 1, False)]
    fit = estimate.fit(huge_instance, DiscWriter, Profile.STD_GEN_CD)
    assert fit.media == 0 and "larger than the medium" in fit.problem
    assert estimate.typical(("CT", "SR"), 10) == 10 * estimate.TYPICAL_INSTANCE["CT"]


def test_a_blank_disc_in_the_drive_sets_the_capacity() -> None:
    drive = OpticalDrive("/d/sr0", "/dev/sr0", media=OpticalMedia(
        MediaState.BLANK, MediaType.CD, "CD_R", False, 700_000_000))
    sizes = [estimate.StudySize("1", 1_000_000_000, 2000, True)]
    fit = estimate.fit(sizes, DiscWriter, Profile.STD_GEN_DVD, drive)
    assert fit.medium == "CD" and fit.media == 2
    stick = UsbStick("/d/sdb", "/dev/sdb", 600_000_000)
    assert estimate.fit(sizes, UsbWriter, Profile.STD_GEN_USB_JPEG, stick).media == 2


def test_targets_offered_and_the_default() -> None:
    drive = OpticalDrive("/d/sr0", "/dev/sr0", media=OpticalMedia())  # no disc
    stick = UsbStick("/d/sdb", "/dev/sdb", 8_000_000_000)  # no file system
    config = cfg.Config(devices=cfg.DevicesConfig(iso_folder="/srv/iso"),
                        targets=(cfg.CloudTarget(name="cloud", url="https://x.example/dicom-web"),))
    found = choices(config, [stick, drive])
    assert [str(c.target) for c in found] == ["disc:/dev/sr0", "usb:/dev/sdb", "iso:/srv/iso",
                                              "cloud:cloud"]
    assert [c.ready for c in found] == [False, False, True, True]
    assert [c.writer for c in found] == [DiscWriter, UsbWriter, IsoFileWriter, StowWriter]
    chosen = default_choice(found)
    assert chosen is not None and str(chosen.target) == "iso:/srv/iso"  # no disc in the drive
    assert default_profile(UsbWriter, "STD-GEN-CD") is Profile.STD_GEN_USB_JPEG
    assert default_profile(UsbWriter, "STD-GEN-USB-J2K") is Profile.STD_GEN_USB_J2K
    assert default_profile(DiscWriter, "STD-GEN-USB-J2K") is Profile.STD_GEN_DVD
    assert default_profile(StowWriter, "STD-GEN-CD") is None


def test_the_plan_says_what_stands_in_the_way() -> None:
    drive = OpticalDrive("/d/sr0", "/dev/sr0", media=OpticalMedia(
        MediaState.BLANK, MediaType.CD, "CD_R", False, 700_000_000))
    config = cfg.Config(devices=cfg.DevicesConfig(iso_folder="/srv/iso"))
    disc, iso = choices(config, [drive])
    two = [as_result(row("Doe^Jane", pid="P1")), as_result(row("Roe^Rick", pid="P2"))]
    rows = {s.study_uid: row("x") for s in two}  # 1000 bytes each, in the store
    plan = plan_medium(two, rows, disc, Profile.STD_GEN_CD)
    assert plan.fit is not None and plan.fit.exact and plan.media == 1 and not plan.blocked
    assert [p.severity for p in plan.problems] == [Severity.WARNING]
    assert "2 different patients" in plan.problems[0].text
    remote = [StudyResult(study_uid="1.2.9", patient_name="Doe^Jane", patient_id="P1",
                          modalities=("CT",), instances=3000, archives=("pacs",))]
    plan = plan_medium(remote, {}, disc, Profile.STD_GEN_CD)
    assert plan.fit is not None and not plan.fit.exact and plan.media == 3
    assert "needs 3 discs" in plan.problems[0].text
    assert plan_medium(remote, {}, iso, Profile.STD_GEN_DVD).problems == ()
    nowhere = plan_medium(remote, {}, None, None)
    assert nowhere.blocked and nowhere.problems[0].severity is Severity.ERROR


def test_pin_hash_round_trip_and_refusals() -> None:
    stored = hash_pin("123456", iterations=1000)
    assert cfg.check_pin_hash(stored) is None
    assert verify_pin("123456", stored) and not verify_pin("123457", stored)
    assert not verify_pin("123456", "garbage")
    with pytest.raises(ValueError):
        hash_pin("12a4")
    t0 = time.perf_counter()
    verify_pin("123456", hash_pin("123456"))
    assert time.perf_counter() - t0 < 2  # cheap enough for a screen, costly for guessing


def test_an_anonymous_copy_says_what_becomes_of_burned_in_images() -> None:
    from mw_tui.station.jobs import burned_in_warning

    keep = cfg.loads('[[deid_profiles]]\nname = "teach"\nburned_in = "keep_with_warning"\n')
    assert burned_in_warning(keep, "", ["US"]) == ""  # a patient copy: nothing to say
    assert burned_in_warning(keep, "basic", ["CT", "MR"]) == ""
    left = burned_in_warning(keep, "basic", ["CT", "US", "DOC"])
    assert "left out" in left and "ultrasound" in left and "PDF documents" in left
    kept = burned_in_warning(keep, "teach", ["OT"])
    assert "kept" in kept and "check them" in kept and "secondary capture" in kept
