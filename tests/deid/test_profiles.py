"""`[[deid_profiles]]` in the configuration, and how a job finds its profile."""

from __future__ import annotations

import pytest

from mw_tui import config
from mw_tui.config import BurnedIn, DateHandling, MediaConfig
from mw_tui.deid import anonymous_media_settings, profile_named

TEXT = """
[[deid_profiles]]
name = "teaching"
dates = "shift"
clean_descriptors = true
clean_structured_content = true
burned_in = "keep_with_warning"

[[deid_profiles]]
name = "research"
dates = "keep"
patient_characteristics = true
device_identity = true
uids = true
safe_private = true
"""


def test_profiles_are_read_with_their_options() -> None:
    teaching, research = config.loads(TEXT).deid_profiles
    assert teaching.date_handling is DateHandling.SHIFT
    assert teaching.burned_in_choice is BurnedIn.KEEP_WITH_WARNING
    assert teaching.clean_descriptors and teaching.clean_structured_content
    assert not teaching.uids and not teaching.patient_characteristics
    assert research.date_handling is DateHandling.KEEP
    assert research.burned_in_choice is BurnedIn.LEAVE_OUT  # the default
    assert research.uids and research.safe_private and research.device_identity


@pytest.mark.parametrize("text, message", [
    ('[[deid_profiles]]\nname = "x"\ndates = "blur"\n',
     "deid_profiles[1].dates = 'blur': must be one of 'remove', 'keep', 'shift'"),
    ('[[deid_profiles]]\nname = "x"\nburned_in = "mask"\n',
     "must be one of 'leave_out', 'keep_with_warning'"),
    ('[[deid_profiles]]\nname = "x"\nretain_uids = true\n', "retain_uids: unknown key"),
    ('[[deid_profiles]]\ndates = "keep"\n', "deid_profiles[1].name: missing (required)"),
    ('[[deid_profiles]]\nname = "x"\n[[deid_profiles]]\nname = "x"\n', "'x' is used twice"),
])
def test_a_wrong_profile_is_refused_with_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.loads(text)
    assert any(message in e for e in exc.value.errors), exc.value.errors


def test_a_job_finds_its_profile_by_name_and_basic_always_exists() -> None:
    cfg = config.loads(TEXT)
    assert profile_named(cfg, "research").uids
    basic = profile_named(cfg, "basic")
    assert basic.date_handling is DateHandling.REMOVE and not basic.clean_descriptors
    with pytest.raises(KeyError, match="known: teaching, research, basic"):
        profile_named(cfg, "congress")


def test_the_commented_default_shows_an_example_profile() -> None:
    text = config.default_text()
    assert "# [[deid_profiles]]" in text and '# dates = "shift"' in text
    config.loads(text)  # still valid


def test_anonymous_media_name_neither_institution_nor_station() -> None:
    media = MediaConfig(institution="Clinique Sainte-Odile", station_name="CT 2",
                        default_profile="STD-GEN-DVD")
    anonymous = anonymous_media_settings(media)
    assert (anonymous.institution, anonymous.station_name) == ("", "")
    assert anonymous.default_profile == "STD-GEN-DVD"
