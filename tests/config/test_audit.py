"""The [audit] section: the repository address and its limits, with clear messages."""

from __future__ import annotations

import pytest

from mw_tui import config as cfg


@pytest.mark.parametrize(("value", "expected"), [
    ("tls://audit.example.org:6514", ("tls", "audit.example.org", 6514)),
    ("tls://audit.example.org", ("tls", "audit.example.org", 6514)),
    ("udp://10.0.0.9", ("udp", "10.0.0.9", 514)),
    ("udp://[fd00::9]:1514", ("udp", "fd00::9", 1514)),
])
def test_repository_addresses(value: str, expected: tuple[str, str, int]) -> None:
    assert cfg.parse_repository(value) == expected
    assert cfg.loads(f'[audit]\nrepository = "{value}"\n').audit.repository == value


@pytest.mark.parametrize("value", ["http://audit:80", "tls://", "audit.example.org:6514",
                                   "tls://h:99999", "udp://h:514/path", "tcp://h:514"])
def test_wrong_repository_addresses_say_what_is_allowed(value: str) -> None:
    with pytest.raises(cfg.ConfigError) as err:
        cfg.loads(f'[audit]\nrepository = "{value}"\n')
    (message,) = err.value.errors
    assert message.startswith(f"audit.repository = {value!r}: must be")
    assert '"tls://HOST:PORT"' in message and '"udp://HOST:PORT"' in message


def test_defaults_send_nothing_and_are_in_the_commented_file() -> None:
    assert cfg.Config().audit.repository == ""
    text = cfg.default_text()
    assert "[audit]" in text and 'repository = ""' in text
    assert cfg.loads(text).audit == cfg.AuditConfig()
    with pytest.raises(cfg.ConfigError, match=r"audit\.retry_max = 0"):
        cfg.loads("[audit]\nretry_max = 0\n")
