"""Value checks, the configuration error, and how a section's keys are declared."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

ENV_VAR = "MW_TUI_CONFIG"
SYSTEM_PATH = Path("/etc/mw-tui/config.toml")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

Check = Callable[[Any], str | None]


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one message per problem."""

    def __init__(self, errors: list[str], path: Path | None = None) -> None:
        self.errors = errors
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(errors))


# -- value checks: each returns None when fine, else what is allowed ---------------------


def is_valid_uid(value: str) -> bool:
    """True when `value` is a syntactically valid DICOM UID (PS3.5 9.1)."""
    return 0 < len(value) <= 64 and bool(_UID_RE.match(value))


def check_ae_title(value: str) -> str | None:
    stripped = value.strip(" ")
    if not 1 <= len(stripped) <= 16 or len(value) > 16:
        return "an AE title of 1 to 16 characters"
    if any(ord(c) < 0x20 or ord(c) > 0x7E or c == "\\" for c in value):
        return "an AE title of printable ASCII characters without backslash"
    return None


def check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a TCP port from 1 to 65535"


def in_range(low: float, high: float, what: str = "a number") -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"{what} from {low:g} to {high:g}"

    return check


def check_max_pdu(value: int) -> str | None:
    if value == 0 or 4096 <= value <= 0x7FFFFFFF:
        return None
    return "0 (no limit) or a PDU size from 4096 to 2147483647 bytes"


def check_log_level(value: str) -> str | None:
    return None if value.upper() in LOG_LEVELS else "one of " + ", ".join(LOG_LEVELS)


def check_uids(values: list[str]) -> str | None:
    bad = [v for v in values if not is_valid_uid(v)]
    return f"a list of valid UIDs (not {', '.join(map(repr, bad))})" if bad else None


def check_callers(values: list[str]) -> str | None:
    for v in values:
        if _looks_like_network(v):
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                return f"AE titles or IP networks such as 10.0.0.0/24 ({v!r} is neither)"
        elif check_ae_title(v):
            return f"AE titles or IP networks such as 10.0.0.0/24 ({v!r} is neither)"
    return None


def _looks_like_network(value: str) -> bool:
    return bool(re.match(r"^[0-9.]+(/\d+)?$", value)) or ":" in value


def check_not_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty text"


def check_name(value: str) -> str | None:
    if _NAME_RE.match(value):
        return None
    return "a name of 1 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit"


def check_choice(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else "one of " + ", ".join(map(repr, choices))

    return check


def item(doc: str, check: Check | None = None, **kw: Any) -> Any:
    """A dataclass field with the comment written above it and its value check."""
    return field(metadata={"doc": doc, "check": check}, **kw)


# -- the sections ------------------------------------------------------------------------


def default_storage() -> str:
    if os.geteuid() == 0:
        return "/var/lib/mw-tui/store"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "mw-tui" / "store")


def check_command(value: str) -> str | None:
    import shlex

    try:
        return None if shlex.split(value) else "a command line"
    except ValueError as exc:
        return f"a command line ({exc})"
