"""The [audit] section: where DICOM audit messages (PS3.15 A.5, IHE ATNA) are sent."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mw_tui.config.checks import in_range, item

AUDIT_SCHEMES = {"tls": 6514, "udp": 514}


def parse_repository(value: str) -> tuple[str, str, int]:
    """'tls://host:6514' -> ('tls', 'host', 6514); the port defaults to 6514 / 514.

    ValueError with what is allowed when the value is not such an address.
    """
    allowed = ('"tls://HOST:PORT" (syslog over TLS, RFC 5425; port 6514 by default) or '
               '"udp://HOST:PORT" (RFC 5426; port 514 by default)')
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{allowed} ({exc})") from exc
    if parts.scheme not in AUDIT_SCHEMES or not parts.hostname:
        raise ValueError(allowed)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(allowed)
    return parts.scheme, parts.hostname, port or AUDIT_SCHEMES[parts.scheme]


def check_repository(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        parse_repository(value)
    except ValueError as exc:
        return f'"" (no audit repository) or {exc}'
    return None


@dataclass(frozen=True)
class AuditConfig:
    repository: str = item(
        "Audit record repository that receives the DICOM audit messages (IHE ATNA): "
        "\"tls://HOST:6514\" (syslog over TLS with the certificates of [tls]) or "
        "\"udp://HOST:514\"; empty = none sent.", check_repository, default="")
    source_id: str = item(
        "AuditSourceID of the messages: who reports (empty = station.ae_title).", default="")
    site_id: str = item(
        "AuditEnterpriseSiteID of the messages: the hospital or site (empty = none).",
        default="")
    address: str = item(
        "This station's host name or IP address in the messages and the syslog header "
        "(empty = its host name).", default="")
    timeout: float = item(
        "Seconds to wait for the repository to connect or take a message.",
        in_range(1, 600, "seconds"), default=10.0)
    retry_max: float = item(
        "Longest wait, in seconds, between two tries while the repository cannot be "
        "reached (the wait doubles from 1 s up to this).",
        in_range(1, 86400, "seconds"), default=300.0)
