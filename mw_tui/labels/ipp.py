"""Just enough IPP (RFC 8010/8011) to follow a CUPS print job: Get-Job-Attributes and
Get-Printer-Attributes.

`lpstat` lists a finished job among the "completed" ones whether it printed, was
cancelled or was aborted; the job's `job-state` says which. The scheduler is found as
the CUPS clients find it: $CUPS_SERVER, then ServerName of client.conf, then the local
socket, then localhost:631.
"""

from __future__ import annotations

import getpass
import http.client
import os
import socket
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

LOCAL_SOCKET = Path("/run/cups/cups.sock")


class JobState(IntEnum):
    PENDING = 3
    HELD = 4
    PROCESSING = 5
    STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9


class PrinterState(IntEnum):
    IDLE = 3
    PROCESSING = 4
    STOPPED = 5


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    state: PrinterState
    reasons: tuple[str, ...] = ()  # printer-state-reasons: paused, media-empty, ...
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobStatus:
    state: JobState
    reasons: tuple[str, ...] = ()
    message: str = ""  # job-printer-state-message: what the printer said last


class IppError(Exception):
    """The scheduler could not be asked, or refused; the message says why."""


def cups_server() -> str:
    """Where the CUPS scheduler is: "host[:port]" or a socket path."""
    env = os.environ.get("CUPS_SERVER", "").strip()
    if env:
        return env
    for conf in (Path.home() / ".cups" / "client.conf", Path("/etc/cups/client.conf")):
        try:
            for line in conf.read_text(errors="replace").splitlines():
                key, _, value = line.strip().partition(" ")
                if key.lower() == "servername" and value.strip():
                    return value.strip()
        except OSError:
            continue
    return str(LOCAL_SOCKET) if LOCAL_SOCKET.exists() else "localhost:631"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(server: str, timeout: float) -> http.client.HTTPConnection:
    if server.startswith("/"):
        return _UnixConnection(server, timeout)
    host, port = server, 631
    if server.startswith("["):  # [IPv6]:port
        host, _, rest = server[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 631
    elif server.count(":") == 1:
        name, _, number = server.partition(":")
        if number.isdigit():
            host, port = name, int(number)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _attr(tag: int, name: str, value: bytes) -> bytes:
    raw = name.encode()
    return struct.pack(">BH", tag, len(raw)) + raw + struct.pack(">H", len(value)) + value


def _ask(server: str | None, operation: int, target: tuple[str, str], wanted: tuple[str, ...],
         timeout: float) -> tuple[int, dict[str, list[bytes | int]]]:
    """Send one IPP request about `target` (an attribute name and URI); returns the IPP
    status and the attributes of the answer."""
    server = server or cups_server()
    body = struct.pack(">BBHI", 2, 0, operation, 1) + bytes([0x01])
    body += _attr(0x47, "attributes-charset", b"utf-8")
    body += _attr(0x48, "attributes-natural-language", b"en")
    body += _attr(0x45, target[0], target[1].encode())
    body += _attr(0x42, "requesting-user-name", getpass.getuser().encode())
    body += _attr(0x44, "requested-attributes", wanted[0].encode())
    body += b"".join(_attr(0x44, "", w.encode()) for w in wanted[1:])
    body += bytes([0x03])
    conn = _connection(server, timeout)
    try:
        conn.request("POST", "/", body, {"Content-Type": "application/ipp"})
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise IppError(f"the CUPS scheduler at {server} does not answer ({exc})") from exc
    finally:
        conn.close()
    if response.status != 200:
        raise IppError(f"the CUPS scheduler at {server} answered HTTP {response.status}")
    return _parse(data)


def get_job(job_id: int, server: str | None = None, timeout: float = 10.0) -> JobStatus:
    """The state of CUPS job `job_id`. Raises IppError."""
    status, attrs = _ask(server, 0x0009, ("job-uri", f"ipp://localhost/jobs/{job_id}"),
                         ("job-state", "job-state-reasons", "job-printer-state-message"),
                         timeout)
    if status == 0x0406:  # client-error-not-found
        raise IppError(f"CUPS does not know print job {job_id} (any more)")
    if status >= 0x0100:
        raise IppError(f"CUPS refused to tell the state of print job {job_id} "
                       f"(IPP status 0x{status:04x})")
    state = _enum(attrs, "job-state", JobState)
    if state is None:
        raise IppError(f"CUPS did not say the state of print job {job_id}")
    return JobStatus(JobState(state), _texts(attrs, "job-state-reasons"),
                     " ".join(_texts(attrs, "job-printer-state-message")))


def get_printer(name: str, server: str | None = None, timeout: float = 10.0) -> PrinterStatus:
    """The state of CUPS queue `name`. Raises IppError."""
    status, attrs = _ask(server, 0x000B, ("printer-uri", f"ipp://localhost/printers/{name}"),
                         ("printer-state", "printer-state-reasons", "printer-state-message",
                          "printer-is-accepting-jobs"), timeout)
    if status >= 0x0100:
        raise IppError(f"CUPS refused to tell the state of printer {name} "
                       f"(IPP status 0x{status:04x})")
    state = _enum(attrs, "printer-state", PrinterState)
    if state is None:
        raise IppError(f"CUPS did not say the state of printer {name}")
    reasons = tuple(r for r in _texts(attrs, "printer-state-reasons") if r != "none")
    return PrinterStatus(PrinterState(state), reasons,
                         " ".join(_texts(attrs, "printer-state-message")))


def _enum(attrs: dict[str, list[bytes | int]], name: str, kind: type[IntEnum]) -> int | None:
    values = [v for v in attrs.get(name, []) if isinstance(v, int)]
    return values[0] if values and values[0] in kind._value2member_map_ else None


def _texts(attrs: dict[str, list[bytes | int]], name: str) -> tuple[str, ...]:
    return tuple(v.decode(errors="replace") for v in attrs.get(name, []) if isinstance(v, bytes))


def _parse(data: bytes) -> tuple[int, dict[str, list[bytes | int]]]:
    if len(data) < 8:
        raise IppError("the CUPS scheduler sent a short answer")
    status = struct.unpack(">H", data[2:4])[0]
    attrs: dict[str, list[bytes | int]] = {}
    at, name = 8, ""
    try:
        while at < len(data):
            tag = data[at]
            at += 1
            if tag == 0x03:
                break
            if tag < 0x10:  # the start of an attribute group
                continue
            n = struct.unpack(">H", data[at:at + 2])[0]
            name = data[at + 2:at + 2 + n].decode() or name
            at += 2 + n
            n = struct.unpack(">H", data[at:at + 2])[0]
            raw = data[at + 2:at + 2 + n]
            at += 2 + n
            if tag in (0x21, 0x23):  # integer, enum
                attrs.setdefault(name, []).append(struct.unpack(">i", raw)[0])
            elif tag == 0x22:  # boolean
                attrs.setdefault(name, []).append(raw[:1] == b"\x01")
            else:
                attrs.setdefault(name, []).append(raw)
    except (struct.error, UnicodeDecodeError) as exc:
        raise IppError("the CUPS scheduler sent an answer that cannot be read") from exc
    return status, attrs
