"""C-FIND attribute matching (PS3.4 C.2.2.2): the demo archive answers with it, and the
search of this station's own store (`ui.local`) filters with it.

Supported: universal matching (empty value or `*`), single value matching, wildcards
`*` and `?` on string VRs, range matching on DA/TM/DT (`a-b`, `-b`, `a-`), list-of-UID
matching, and multi-valued attributes (ModalitiesInStudy: a record matches when any of
its values matches any of the query's values).

Deliberate choices: person names match case-insensitively, and a name with several
component groups (`Yamada^Tarou=山田^太郎=やまだ^たろう`) matches when the whole value or any
one group matches; every other attribute matches case-sensitively, as the standard says.
A record whose value is empty matches only universal matching.
"""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
RANGE_VRS = frozenset({"DA", "TM", "DT"})


def is_universal(query: str) -> bool:
    q = query.strip()
    return q == "" or q == "*"


@lru_cache(maxsize=512)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _norm_time(value: str, fill: str) -> str:
    """HHMMSS.FFFFFF with missing precision filled (0 for a lower bound, 9 for an upper)."""
    value = value.strip().replace(":", "")
    whole, _, frac = value.partition(".")
    return whole.ljust(6, fill) + "." + frac.ljust(6, fill)


def _norm(vr: str, value: str, fill: str) -> str:
    value = value.strip()
    if vr == "TM":
        return _norm_time(value, fill)
    if vr == "DA":
        return value.replace(".", "")  # the retired ACR-NEMA form 2024.01.31
    if vr == "DT":
        whole, _, frac = re.split(r"[+-]", value, maxsplit=1)[0].partition(".")
        return whole.ljust(14, fill) + "." + frac.ljust(6, fill)
    return value


def _in_range(vr: str, query: str, value: str) -> bool:
    low, _, high = query.partition("-")
    v_low, v_high = _norm(vr, value, "0"), _norm(vr, value, "9")
    if low.strip() and v_high < _norm(vr, low, "0"):
        return False
    return not (high.strip() and v_low > _norm(vr, high, "9"))


def _one(vr: str, query: str, value: str) -> bool:
    """One query value against one record value (neither empty)."""
    if vr == "PN":
        candidates = [value, *value.split("=")] if "=" in value else [value]
        if "*" in query or "?" in query:
            rx = _wildcard(query, True)
            return any(rx.fullmatch(c) for c in candidates)
        q = query.casefold()
        return any(c.strip().casefold() == q for c in candidates)
    if vr in WILDCARD_VRS and ("*" in query or "?" in query):
        return _wildcard(query, False).fullmatch(value) is not None
    return value.strip() == query


def matches(vr: str, query: str, value: str) -> bool:
    """Whether a record's `value` (backslash-separated when multi-valued) matches `query`."""
    if is_universal(query):
        return True
    if not value.strip():
        return False
    query = query.strip()
    values = [v for v in value.split("\\") if v.strip()] if vr != "PN" else [value]
    if vr in RANGE_VRS and "-" in query:
        return any(_in_range(vr, query, v) for v in values)
    if vr == "UI":
        wanted = {q.strip() for q in query.split("\\")}
        return any(v.strip() in wanted for v in values)
    queries = [q.strip() for q in query.split("\\")] if vr != "PN" else [query]
    if vr in RANGE_VRS:
        return any(_norm(vr, v, "0") == _norm(vr, q, "0") for v in values for q in queries)
    return any(_one(vr, q, v) for q in queries if q for v in values)


def first_match(vr: str, query: str, value: str) -> str:
    """The first of a multi-valued record's values that matches `query` (or the first)."""
    values = [v for v in value.split("\\") if v.strip()]
    for v in values:
        if matches(vr, query, v):
            return v
    return values[0] if values else ""
