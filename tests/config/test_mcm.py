"""The [mcm] section: off by default, nobody allowed, every wrong value named."""

from __future__ import annotations

import pytest

from mw_tui import config as cfg


def test_off_by_default_and_in_the_commented_file() -> None:
    mcm = cfg.Config().mcm
    assert (mcm.enabled, mcm.allowed_callers, mcm.target, mcm.profile) == (False, [], "disc",
                                                                            "")
    text = cfg.default_text()
    assert "[mcm]" in text and "enabled = false" in text
    assert cfg.loads(text).mcm == cfg.McmConfig()


def test_a_ris_allowed_to_ask_for_iso_files() -> None:
    mcm = cfg.loads('[mcm]\nenabled = true\nallowed_callers = ["RIS01", "10.1.5.0/24", "*"]\n'
                    'target = "iso:/srv/iso"\nprofile = "STD-GEN-DVD"\n').mcm
    assert mcm.enabled and mcm.allowed_callers == ["RIS01", "10.1.5.0/24", "*"]
    assert cfg.Target.parse(mcm.target) == cfg.Target(cfg.TargetKind.ISO, "/srv/iso")


@pytest.mark.parametrize(("text", "start"), [
    ('allowed_callers = ["10.1.5.0/99"]', "mcm.allowed_callers"),
    ('allowed_callers = ["A VERY LONG AE TITLE"]', "mcm.allowed_callers"),
    ('target = "floppy"', "mcm.target = 'floppy': must be a target"),
    ('target = "iso"', "mcm.target = 'iso': must be a target with a path"),
    ('profile = "STD-GEN-BD"', "mcm.profile = 'STD-GEN-BD': must be one of"),
    ("enabled = 1", "mcm.enabled"),
])
def test_wrong_values_say_what_is_allowed(text: str, start: str) -> None:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.loads(f"[mcm]\n{text}\n")
    (message,) = err.value.errors
    assert message.startswith(start), message
