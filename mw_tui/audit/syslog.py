"""Syslog messages as the audit repository takes them (RFC 5424; framing of RFC 5425).

PRI is facility 10 (security/authorization) with severity 5 (notice), or 4 (warning) for
an event that failed, as PS3.15 A.6/A.7 say; MSGID is IHE ATNA's "IHE+RFC-3881"; there is
no structured data ("-"); MSG is the XML in UTF-8 after a byte order mark (RFC 5424 6.4).
"""

from __future__ import annotations

import datetime

FACILITY_AUTH = 10
NOTICE = 5
WARNING = 4
APP_NAME = "mw-tui"
MSGID = "IHE+RFC-3881"
BOM = b"\xef\xbb\xbf"


def header_field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit`; '-' when empty."""
    text = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in value)[:limit]
    return text or "-"


def syslog_message(xml: str, *, hostname: str, at: datetime.datetime, procid: int | str,
                   severity: int = NOTICE, app_name: str = APP_NAME,
                   msgid: str = MSGID) -> bytes:
    """One RFC 5424 SYSLOG-MSG carrying `xml` as its MSG."""
    if at.tzinfo is None:
        at = at.astimezone()
    head = " ".join((
        f"<{FACILITY_AUTH * 8 + severity}>1",
        at.isoformat(timespec="microseconds"),
        header_field(hostname, 255),
        header_field(app_name, 48),
        header_field(str(procid), 128),
        header_field(msgid, 32),
        "-",
    ))
    return head.encode("ascii") + b" " + BOM + xml.encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """The RFC 5425 frame: MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode("ascii") + b" " + message
