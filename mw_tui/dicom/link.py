"""The TCP connection under an outbound association: PDUs in and out, every wait bounded.

`Link.read_pdu()` reads whole PDUs from a buffered socket. Each wait ends at the first of:
the silence `timeout` since the last traffic, an absolute `deadline`, and `grace_until`
(set once a cancel went out). A `watch` callback runs before every wait and may ask for
short waits (`POLL_SLICE`), so a cancel event set from another thread is seen quickly
even while the archive says nothing. Failures raise `ArchiveError` with a message for
the technician.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Callable
from enum import StrEnum

from mw_tui.dicom import messages
from mw_tui.dicom.messages import Peer

POLL_SLICE = 0.1  # seconds between looks at a cancel event while waiting
_PDU_TYPES = frozenset(range(1, 8))


class Problem(StrEnum):
    REFUSED = "connection refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timed out"
    REJECTED = "association rejected"
    ABORTED = "aborted"
    CLOSED = "connection closed"
    PROTOCOL = "protocol error"
    NOT_SUPPORTED = "service not offered"
    CANCELLED = "cancelled"


class ArchiveError(Exception):
    """Talking to an archive failed; `str(exc)` is the message for the technician."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class Link:
    """One TCP connection to a peer; `doing` names the current step for timeout messages."""

    def __init__(self, peer: Peer, timeout: float, deadline: float | None = None) -> None:
        self.peer = peer
        self.timeout = timeout
        self.deadline = deadline
        self.grace_until: float | None = None  # set when a cancel was sent
        self.grace_message = ""
        self.doing = "connecting"
        self._sock: socket.socket | None = None
        self._poll = select.poll()
        self._buf = bytearray()
        self._started = time.monotonic()
        self._last_activity = self._started
        self._heard = False  # anything received yet

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    @property
    def local_ip(self) -> str:
        """This station's address as the peer sees it (the local end of the socket)."""
        try:
            return str(self._sock.getsockname()[0]) if self._sock is not None else ""
        except OSError:
            return ""

    def connect(self) -> None:
        wait = self.timeout
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
        if wait <= 0:
            raise self._timeout()
        try:
            sock = socket.create_connection((self.peer.host, self.peer.port), timeout=wait)
        except ConnectionRefusedError as exc:
            raise ArchiveError(Problem.REFUSED, messages.refused(self.peer)) from exc
        except socket.gaierror as exc:
            raise ArchiveError(Problem.UNREACHABLE, messages.unreachable(
                self.peer, f"unknown host name {self.peer.host!r}")) from exc
        except TimeoutError as exc:
            raise ArchiveError(Problem.TIMEOUT, messages.timed_out(
                self.peer, round(wait, 1), "connecting")) from exc
        except OSError as exc:
            raise ArchiveError(Problem.UNREACHABLE, messages.unreachable(
                self.peer, exc.strerror or str(exc))) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout)
        if self.peer.tls is not None:
            context, server_name = self.peer.tls
            try:
                sock = context.wrap_socket(sock, server_hostname=server_name)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise ArchiveError(Problem.UNREACHABLE, messages.unreachable(
                    self.peer, f"the TLS handshake failed ({exc}): check [tls] certificate, "
                    "key and ca, and the archive's certificate")) from exc
        self._sock = sock
        self._poll.register(sock, select.POLLIN | select.POLLPRI)
        self._last_activity = time.monotonic()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def send(self, data: bytes) -> None:
        if self._sock is None:
            raise ArchiveError(Problem.CLOSED, messages.closed(self.peer))
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise ArchiveError(Problem.TIMEOUT, messages.timed_out(
                self.peer, self.timeout, self.doing)) from exc
        except OSError as exc:
            raise self._closed(exc) from exc
        self._last_activity = time.monotonic()

    def touch(self) -> None:
        """Count as traffic: the peer is busy on our behalf (e.g. images keep arriving)."""
        self._last_activity = time.monotonic()

    def send_quietly(self, data: bytes) -> None:
        """Send and ignore failures (an A-ABORT on a connection that may be gone)."""
        try:
            if self._sock is not None:
                self._sock.sendall(data)
        except OSError:
            pass

    def read_pdu(self, limit: int, watch: Callable[[], bool] | None = None
                 ) -> tuple[int, bytearray]:
        """One PDU: (type, body without the 6-byte header)."""
        buf = self._buf
        while True:
            if len(buf) >= 6:
                pdu_type = buf[0]
                (length,) = struct.unpack_from(">I", buf, 2)
                if pdu_type not in _PDU_TYPES:
                    raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                        self.peer, f"unknown PDU type 0x{pdu_type:02X}"))
                if length > limit:
                    raise ArchiveError(Problem.PROTOCOL, messages.protocol_error(
                        self.peer, f"a PDU of {length} bytes, more than the {limit} allowed"))
                if len(buf) >= 6 + length:
                    body = buf[6 : 6 + length]
                    del buf[: 6 + length]
                    return pdu_type, body
            self._wait(watch)
            assert self._sock is not None
            try:
                chunk = self._sock.recv(1 << 18)
            except TimeoutError as exc:
                raise self._timeout() from exc
            except OSError as exc:
                raise self._closed(exc) from exc
            if not chunk:
                raise self._closed(None)
            buf += chunk
            self._heard = True
            self._last_activity = time.monotonic()

    def _closed(self, exc: OSError | None) -> ArchiveError:
        """The connection ended. On TLS, before any answer: the archive ended the session
        after the handshake (TLS 1.3 checks the client's certificate only then)."""
        if self.peer.tls is not None and not self._heard:
            detail = (exc.reason or str(exc)) if isinstance(exc, ssl.SSLError) else (
                "the connection was closed")
            return ArchiveError(Problem.REJECTED, messages.tls_refused(self.peer, str(detail)))
        return ArchiveError(Problem.CLOSED, messages.closed(self.peer))

    def _timeout(self) -> ArchiveError:
        seconds = self.timeout
        if self.deadline is not None and self.deadline <= self._last_activity + self.timeout:
            seconds = round(self.deadline - self._started, 1)
        return ArchiveError(Problem.TIMEOUT, messages.timed_out(self.peer, seconds, self.doing))

    def _wait(self, watch: Callable[[], bool] | None) -> None:
        if self._sock is None:
            raise ArchiveError(Problem.CLOSED, messages.closed(self.peer))
        while True:
            slices = watch() if watch is not None else False
            now = time.monotonic()
            until = self._last_activity + self.timeout
            if self.deadline is not None:
                until = min(until, self.deadline)
            if self.grace_until is not None and self.grace_until <= until:
                if now >= self.grace_until:
                    raise ArchiveError(Problem.CANCELLED, self.grace_message)
                until = self.grace_until
            if now >= until:
                raise self._timeout()
            wait = min(until - now, POLL_SLICE) if slices else until - now
            if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
                return  # already decrypted: poll() cannot see it
            if self._poll.poll(max(1, int(wait * 1000) + 1)):
                return
