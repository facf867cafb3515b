"""The screens' plain logic: names and sizes as shown, "this station" matching, the media
count, the targets offered, the PIN hash."""

from __future__ import annotations

import time

import pytest

from mw_tui import config as cfg
from mw_tui.devices.models import MediaState, MediaType, OpticalDrive, OpticalMedia, UsbStick
from mw_tui.dicom.query import StudyQuery
from mw_tui.media.profiles import MEDIA, Profile
from mw_tui.store.index import StudyRow
from mw_tui.ui import estimate
from mw_tui.ui import format as fmt
from mw_tui.ui.local import LOCAL, matches_query, name_pattern, search_local
from mw_tui.ui.pin import hash_pin, verify_pin
from mw_tui.ui.targets import choices, default_choice, profiles_for


def test_names_dates_sizes_and_durations_read_well() -> None:
    assert fmt.person_name("Müller^Jürgen") == "Müller, Jürgen"
    assert fmt.person_name("Yamada^Tarou=山田^太郎=やまだ^たろう") == "Yamada, Tarou"
    assert fmt.person_name("=山田^太郎") == "山田, 太郎"
    assert fmt.person_name("Smith^John^A^Dr^Jr") == "Dr Smith, John A Jr"
    assert fmt.dicom_date("20240131") == "2024-01-31" and fmt.dicom_date("2024") == "2024"
    assert fmt.size(737_000_000) == "737.0 MB" and fmt.size(4.7e9) == "4.7 GB"
    assert fmt.duration(5) == "5 s" and fmt.duration(125) == "2 min 05 s"
    assert fmt.duration(3725) == "1 h 02 min" and fmt.duration(None) == ""


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
    assert estimate.fit(small, "iso", Profile.STD_GEN_CD).media == 1
    big = [estimate.StudySize("1", 1_500_000_000, 3000, True)]
    fit = estimate.fit(big, "iso", Profile.STD_GEN_CD)
    assert fit.media == 3 and fit.capacity == cd and fit.medium == "ISO (CD size)"
    assert estimate.fit(big, "iso", Profile.STD_GEN_DVD).media == 1
    assert estimate.fit(big, "cloud", Profile.STD_GEN_DVD).media == 1
    huge_instance = [estimate.StudySize("1", cd * 2, 1, False)]
    fit = estimate.fit(huge_instance, "disc", Profile.STD_GEN_CD)
    assert fit.media == 0 and "larger than the medium" in fit.problem
    assert estimate.typical(("CT", "SR"), 10) == 10 * estimate.TYPICAL_INSTANCE["CT"]


def test_a_blank_disc_in_the_drive_sets_the_capacity() -> None:
    drive = OpticalDrive("/d/sr0", "/dev/sr0", media=OpticalMedia(
        MediaState.BLANK, MediaType.CD, "CD_R", False, 700_000_000))
    sizes = [estimate.StudySize("1", 1_000_000_000, 2000, True)]
    fit = estimate.fit(sizes, "disc", Profile.STD_GEN_DVD, drive)
    assert fit.medium == "CD" and fit.media == 2


def test_targets_offered_and_the_default() -> None:
    drive = OpticalDrive("/d/sr0", "/dev/sr0", media=OpticalMedia())  # no disc
    stick = UsbStick("/d/sdb", "/dev/sdb", 8_000_000_000)  # no file system
    config = cfg.Config(devices=cfg.DevicesConfig(iso_folder="/srv/iso"),
                        targets=(cfg.Target(name="cloud", url="https://x.example/dicom-web"),))
    found = choices(config, [stick, drive])
    assert [c.target for c in found] == ["disc:/dev/sr0", "usb:/dev/sdb", "iso:/srv/iso",
                                         "cloud:cloud"]
    assert [c.ready for c in found] == [False, False, True, True]
    assert default_choice(found).target == "iso:/srv/iso"  # nothing ready in the drive
    assert default_choice(found, demo=True).target == "iso:/srv/iso"
    assert profiles_for("usb") == (Profile.STD_GEN_USB_JPEG, Profile.STD_GEN_USB_J2K)
    assert profiles_for("cloud") == ()


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
