"""C-FIND matching rules (PS3.4 C.2.2.2) as the demo archive applies them."""

from __future__ import annotations

import pytest

from mw_tui.standard.matching import first_match, matches


@pytest.mark.parametrize(("vr", "query", "value", "expected"), [
    ("DA", "", "20240101", True),  # universal
    ("DA", "20240101", "20240101", True),
    ("DA", "20240102", "20240101", False),
    ("DA", "20240101-20241231", "20240615", True),
    ("DA", "20240101-20241231", "20250101", False),
    ("DA", "-20231231", "20231231", True),  # open start, inclusive
    ("DA", "-20231231", "20240101", False),
    ("DA", "20240101-", "20240101", True),  # open end, inclusive
    ("DA", "20240101-", "20231231", False),
    ("DA", "20240101-", "", False),  # an empty record value matches only universal
    ("TM", "0800-1200", "091512", True),
    ("TM", "0800-1200", "120030", True),  # 12 = the whole hour
    ("TM", "0800-1200", "130000", False),
    ("PN", "Smith*", "Smith^John", True),
    ("PN", "smith*", "Smith^John", True),  # person names: case-insensitive
    ("PN", "Sm?th^John", "Smith^John", True),
    ("PN", "Sm?th", "Smith^John", False),  # no trailing wildcard: the whole name
    ("PN", "SMITH^JOHN", "Smith^John", True),
    ("PN", "müller*", "Müller^Jürgen", True),
    ("PN", "山田*", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),  # any component group
    ("PN", "Yamada^Tarou", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("CS", "ct", "CT", False),  # other VRs: case-sensitive
    ("CS", "CT", "CT\\SR", True),  # multi-valued record: any value
    ("CS", "MR\\US", "CT\\US", True),  # several query values: any of them
    ("CS", "MR\\US", "CT\\SR", False),
    ("CS", "C?", "CT", True),
    ("LO", "A24*", "A24031201", True),
    ("LO", "A24", "A24031201", False),
    ("UI", "1.2.3\\1.2.4", "1.2.4", True),  # list of UIDs
    ("UI", "1.2.3\\1.2.4", "1.2.5", False),
    ("UI", "1.2.*", "1.2.5", False),  # no wildcards on UIDs
])
def test_matching(vr: str, query: str, value: str, expected: bool) -> None:
    assert matches(vr, query, value) is expected


def test_first_match_picks_the_matching_value() -> None:
    assert first_match("CS", "MR", "CT\\MR\\SR") == "MR"
    assert first_match("CS", "", "CT\\MR") == "CT"
