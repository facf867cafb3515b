"""Sending syslog messages to the audit repository: TLS (RFC 5425) or UDP (RFC 5426).

`send()` returns once the whole message is written to the socket, or raises
`DeliveryError` with a sentence saying what is wrong. Over TLS the connection is checked
before each write (a repository that closed it, e.g. when it stopped, is reconnected
instead of written into), and after each handshake the transport waits up to `settle`
seconds for the repository to refuse it (rsyslog checks the client certificate after the
handshake, then closes). What no syslog transport can tell: whether a repository that
dies with bytes in its socket buffer had processed them (syslog has no acknowledgement).
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mw_tui.audit.syslog import octet_counted
from mw_tui.config import TlsConfig


class DeliveryError(Exception):
    """The repository cannot take the message now; try again later."""


class Undeliverable(DeliveryError):
    """This message can never be sent this way (e.g. larger than a UDP datagram)."""


class Transport(Protocol):
    def send(self, message: bytes) -> None: ...

    def close(self) -> None: ...


def _readable(path: str, key: str) -> str:
    if not Path(path).is_file():
        raise DeliveryError(f"tls.{key} = {path!r}: no such file (fix [tls] {key})")
    return path


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """TLS 1.2+ client context: the repository's certificate checked against [tls] ca (or
    the system's authorities) and its host name; this station's certificate when set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    try:
        if tls.ca:
            ctx.load_verify_locations(cafile=_readable(tls.ca, "ca"))
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if tls.certificate or tls.key:
            ctx.load_cert_chain(_readable(tls.certificate, "certificate"),
                                _readable(tls.key, "key") if tls.key else None)
    except (ssl.SSLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise DeliveryError(f"[tls] certificate, key or ca cannot be used ({why}): are they "
                            "PEM files, the key unencrypted and the certificate's?") from exc
    return ctx


def explain(exc: BaseException, where: str, timeout: float) -> str:
    """What a technician reads for a failed connection or write."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"{where}: its certificate is not trusted ({exc.verify_message}); "
                "check [tls] ca and the repository's host name")
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: nothing listens there (is the audit repository running?)"
    if isinstance(exc, socket.gaierror):
        return f"{where}: the host name cannot be resolved ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{where}: no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{where}: {exc.strerror}"
    return f"{where}: {exc}"


def _keepalive(sock: socket.socket) -> None:
    """TCP keepalive (60 s idle, 3 probes 10 s apart): a connection a firewall dropped
    silently is noticed before the next message is written into it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except (OSError, AttributeError):
        pass


class TlsTransport:
    """Syslog over TLS, octet-counted frames, one connection kept open."""

    def __init__(self, host: str, port: int, context: Callable[[], ssl.SSLContext],
                 timeout: float = 10.0, settle: float = 0.5) -> None:
        self.host, self.port = host, port
        self.where = f"audit repository tls://{host}:{port}"
        self._context = context
        self.timeout = timeout
        self.settle = settle
        self._sock: ssl.SSLSocket | None = None

    def _closed_by_peer(self, wait: float) -> bool:
        """True when the repository closed (or broke) the connection."""
        sock = self._sock
        if sock is None:
            return True
        try:
            if not select.select([sock], [], [], wait)[0]:
                return False
            sock.setblocking(False)
            try:
                data = sock.recv(4096)
            finally:
                sock.settimeout(self.timeout)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False  # TLS records only (e.g. TLS 1.3 session tickets)
        except (OSError, ValueError):
            return True
        return data == b""  # a repository sends nothing: readable means closing

    def _connect(self) -> ssl.SSLSocket:
        context = self._context()
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise DeliveryError(explain(exc, self.where, self.timeout)) from exc
        _keepalive(raw)
        try:
            self._sock = context.wrap_socket(raw, server_hostname=self.host)
        except (OSError, ValueError) as exc:
            raw.close()
            raise DeliveryError(explain(exc, self.where, self.timeout)) from exc
        if self._closed_by_peer(self.settle):
            self.close()
            raise DeliveryError(f"{self.where}: closed the connection right after the TLS "
                                "handshake; does it accept this station's certificate "
                                "([tls] certificate, signed by an authority it trusts)?")
        return self._sock

    def send(self, message: bytes) -> None:
        if self._sock is not None and self._closed_by_peer(0):
            self.close()
        sock = self._sock or self._connect()
        try:
            sock.sendall(octet_counted(message))
        except (OSError, ValueError) as exc:
            self.close()
            raise DeliveryError(explain(exc, self.where, self.timeout)) from exc

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.settimeout(min(self.timeout, 2.0))
            sock.unwrap()  # close_notify: the repository sees a clean end
        except (OSError, ValueError):
            pass
        finally:
            sock.close()


class UdpTransport:
    """Syslog over UDP: one message per datagram, no delivery guarantee (RFC 5426)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.where = f"audit repository udp://{host}:{port}"
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
            sock.connect(address)  # so an ICMP "port unreachable" is reported to us
        except OSError as exc:
            raise DeliveryError(explain(exc, self.where, 0)) from exc
        self._sock = sock
        return sock

    def send(self, message: bytes) -> None:
        sock = self._sock or self._connect()
        try:
            sock.send(message)
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise Undeliverable(f"{self.where}: a message of {len(message)} bytes does "
                                    "not fit in a UDP datagram; use tls://") from exc
            self.close()
            raise DeliveryError(explain(exc, self.where, 0)) from exc

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
