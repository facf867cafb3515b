"""The audit trail: what the station calls to report an event to the audit repository.

`record(event)` turns the event into its syslog message, writes it to the spool and wakes
the sender; it never raises into the caller and never waits for the network. Without
`[audit] repository` nothing is recorded. A process that only records (e.g. a receiver
worker) never calls `start()`: the process whose trail is started delivers its messages
too (it looks at the spool every second). Make the trail in the process that uses it
(after a fork, not before: its SQLite connections do not cross a fork). `on_status` is
called on the sender's thread: post a message from it, never touch the screen.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from mw_tui.audit.codes import Outcome
from mw_tui.audit.events import AnyEvent, Source, Station
from mw_tui.audit.messages import build
from mw_tui.audit.sender import Sender, TrailState, TrailStatus
from mw_tui.audit.spool import Spool
from mw_tui.audit.syslog import NOTICE, WARNING, syslog_message
from mw_tui.audit.transport import TlsTransport, Transport, UdpTransport, client_context
from mw_tui.config import Config, parse_repository

log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).astimezone()


class AuditTrail:
    """Records audit events (`record`) and delivers them (`start`/`stop`)."""

    def __init__(self, config: Config, spool_dir: Path, *,
                 on_status: Callable[[TrailStatus], None] | None = None,
                 now: Callable[[], datetime.datetime] = _now,
                 clock: Callable[[], float] = time.monotonic,
                 hostname: str | None = None, settle: float = 0.5) -> None:
        audit = config.audit
        self.config = config
        self.spool_dir = spool_dir
        self.repository = audit.repository.strip()
        self.station = Station(config.station.ae_title,
                               audit.address or hostname or socket.gethostname())
        self.source = Source(audit.source_id or config.station.ae_title, audit.site_id)
        self._on_status = on_status
        self._now = now
        self._clock = clock
        self._settle = settle
        self._spool: Spool | None = None
        self._sender: Sender | None = None
        self._pending: list[bytes] = []  # made while the spool could not be written
        self._pending_lock = threading.Lock()
        self._error = ""

    @property
    def enabled(self) -> bool:
        return bool(self.repository)

    def _open_spool(self) -> Spool | None:
        if self._spool is None:
            try:
                self._spool = Spool(self.spool_dir)
            except (OSError, sqlite3.Error) as exc:
                self._error = f"the audit spool in {self.spool_dir} cannot be used ({exc})"
                log.error("%s", self._error)
        return self._spool

    def record(self, event: AnyEvent) -> bool:
        """Keep `event` for the repository; False when it is not recorded (and logged why)."""
        if not self.enabled:
            return False
        try:
            if event.at is None:
                event = dataclasses.replace(event, at=self._now())
            xml = build(event, self.station, self.source)
            message = syslog_message(
                xml, hostname=self.station.address, at=self._now(), procid=os.getpid(),
                severity=NOTICE if event.outcome is Outcome.SUCCESS else WARNING)
        except Exception:
            log.exception("cannot make the audit message of a %s event", type(event).__name__)
            return False
        with self._pending_lock:
            spool = None if self._pending else self._open_spool()
            try:
                if spool is None:
                    raise OSError("earlier messages are still waiting to be written")
                spool.add(message)
            except (OSError, sqlite3.Error) as exc:
                if not self._pending:
                    log.error("the audit spool cannot be written (%s): messages are kept in "
                              "memory until it can", exc)
                self._pending.append(message)
        if self._sender is not None:
            self._sender.wake()
        return True

    def _refill(self) -> None:
        """Move the messages kept in memory into the spool, in order."""
        with self._pending_lock:
            spool = self._open_spool()
            while self._pending and spool is not None:
                try:
                    spool.add(self._pending[0])
                except (OSError, sqlite3.Error):
                    return
                self._pending.pop(0)

    def transport(self) -> Transport:
        scheme, host, port = parse_repository(self.repository)
        if scheme == "udp":
            return UdpTransport(host, port)
        return TlsTransport(host, port, lambda: client_context(self.config.tls),
                            timeout=self.config.audit.timeout, settle=self._settle)

    def start(self) -> None:
        """Start delivering (no-op without a repository)."""
        if not self.enabled or self._sender is not None:
            return
        spool = self._open_spool()
        try:
            transport = self.transport()
        except ValueError as exc:
            self._error = f"audit.repository = {self.repository!r}: {exc}"
            log.error("%s", self._error)
            return
        if spool is None:
            return
        self._sender = Sender(spool, transport, retry_max=self.config.audit.retry_max,
                              clock=self._clock, on_status=self._on_status,
                              refill=self._refill)
        self._sender.start()

    def stop(self, drain: float = 0.0) -> None:
        """Stop delivering, after up to `drain` seconds for what is spooled to go out
        (while the repository answers); the rest stays in the spool for the next start."""
        sender, self._sender = self._sender, None
        if sender is None:
            return
        deadline = self._clock() + drain
        while self._clock() < deadline:
            status = sender.status()
            if status.state in (TrailState.IDLE, TrailState.STANDBY) or (
                    status.state is TrailState.WAITING):
                break
            sender.wake()
            time.sleep(0.05)
        sender.stop()

    def status(self) -> TrailStatus:
        if not self.enabled:
            return TrailStatus(TrailState.OFF)
        if self._sender is not None:
            return self._sender.status()
        spool = self._open_spool()
        try:
            waiting = spool.count() if spool is not None else 0
        except sqlite3.Error:
            waiting = 0
        return TrailStatus(TrailState.STOPPED, waiting + len(self._pending), self._error)

    def __enter__(self) -> AuditTrail:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
