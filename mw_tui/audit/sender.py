"""The sender: one thread delivering the spool to the repository, oldest first.

A message is deleted from the spool once `Transport.send` has written all of it to the
socket; until then it stays and is tried again (the wait doubles from `first_retry` to
`retry_max`). Only the sender holding the spool's `DeliveryLock` delivers, so two
processes never send the same message. What can still happen, and only then: a crash
(or power cut) between the write and the delete sends that one message again at the next
start (byte for byte the same, so a repository can tell), and a repository that dies with
the message unread in its socket buffer loses it (syslog has no acknowledgement).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.audit.spool import DeliveryLock, Spool
from mw_tui.audit.transport import DeliveryError, Transport, Undeliverable

log = logging.getLogger(__name__)

BATCH = 100


class TrailState(StrEnum):
    OFF = "off"  # no repository configured: nothing is recorded
    IDLE = "idle"  # everything delivered
    SENDING = "sending"
    WAITING = "waiting"  # the repository cannot be reached: kept, tried again later
    STANDBY = "standby"  # another process delivers this spool
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class TrailStatus:
    state: TrailState
    waiting: int = 0  # messages in the spool
    error: str = ""  # why the last try failed
    retry_in: float = 0.0  # seconds until the next try (WAITING)


class Backoff:
    """first, 2 x first, 4 x first, ... up to `maximum` seconds."""

    def __init__(self, first: float = 1.0, maximum: float = 300.0) -> None:
        self.first, self.maximum = first, maximum
        self._next = first

    def next(self) -> float:
        delay = min(self._next, self.maximum)
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Sender:
    """Delivers `spool` through `transport`: `start()`, `wake()` after adding, `stop()`."""

    def __init__(self, spool: Spool, transport: Transport, *, retry_max: float = 300.0,
                 first_retry: float = 1.0, poll: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_status: Callable[[TrailStatus], None] | None = None,
                 refill: Callable[[], None] | None = None) -> None:
        self.spool = spool
        self.transport = transport
        self.backoff = Backoff(first_retry, retry_max)
        self.poll = poll
        self.clock = clock
        self.on_status = on_status
        self.refill = refill
        self._lock = DeliveryLock(spool.folder)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = TrailStatus(TrailState.STOPPED)
        self._retry_at = 0.0
        self._logged = ""  # the delivery problem last logged (each is logged once)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="audit-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the message being written; what is left stays in the spool."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)

    def wake(self) -> None:
        """Something was added: deliver it now (unless waiting for the repository)."""
        self._wake.set()

    def status(self) -> TrailStatus:
        """The state, with the messages in the spool counted now."""
        s = self._status
        try:
            waiting = self.spool.count()
        except sqlite3.Error:
            waiting = s.waiting
        state, retry_in = s.state, 0.0
        if state is TrailState.IDLE and waiting:
            state = TrailState.SENDING  # added since the sender last looked
        if state is TrailState.WAITING:
            retry_in = max(0.0, self._retry_at - self.clock())
        return TrailStatus(state, waiting, s.error, retry_in)

    def _report(self, state: TrailState, error: str = "", retry_in: float = 0.0) -> None:
        try:
            waiting = self.spool.count()
        except sqlite3.Error:
            waiting = self._status.waiting
        new = TrailStatus(state, waiting, error, retry_in)
        old, self._status = self._status, new
        if state is TrailState.WAITING and error != self._logged:
            log.warning("audit messages cannot be delivered: %s (%d kept, trying again)",
                        error, waiting)
            self._logged = error
        elif state is TrailState.SENDING and self._logged:
            log.info("audit repository reachable again: delivering %d messages", waiting)
            self._logged = ""
        if self.on_status is not None and (old.state, old.error, old.waiting) != (
                state, error, waiting):
            try:
                self.on_status(new)
            except Exception:
                log.exception("audit status callback failed")

    def _idle(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _fail(self, error: str) -> None:
        delay = self.backoff.next()
        self._retry_at = self.clock() + delay
        self._report(TrailState.WAITING, error, delay)
        self._stopping.wait(delay)

    def _forget(self, message_id: int, reason: str = "") -> None:
        """Delete a delivered message; nothing else is sent until that worked."""
        while True:
            try:
                if reason:
                    self.spool.set_aside(message_id, reason)
                else:
                    self.spool.remove(message_id)
                return
            except sqlite3.Error as exc:
                if self._stopping.is_set():
                    log.error("audit message %d was delivered but stays in the spool (%s): "
                              "it will be sent again", message_id, exc)
                    return
                self._fail(f"the audit spool cannot be written ({exc})")

    def _deliver(self, batch: list[tuple[int, bytes]]) -> None:
        if self._status.state is not TrailState.WAITING:
            self._report(TrailState.SENDING)
        for message_id, message in batch:
            if self._stopping.is_set():
                return
            try:
                self.transport.send(message)
            except Undeliverable as exc:
                log.error("audit message %d set aside: %s", message_id, exc)
                self._forget(message_id, str(exc))
                continue
            except DeliveryError as exc:
                self._fail(str(exc))
                return
            self._forget(message_id)
            self.backoff.reset()
            if self._status.state is not TrailState.SENDING:
                self._report(TrailState.SENDING)

    def _step(self) -> None:
        if not self._lock.acquire():
            self._report(TrailState.STANDBY)
            self._idle(self.poll)
            return
        if self.refill is not None:
            self.refill()
        try:
            batch = self.spool.first(BATCH)
        except sqlite3.Error as exc:
            self._fail(f"the audit spool cannot be read ({exc})")
            return
        if batch:
            self._deliver(batch)
        else:
            self._report(TrailState.IDLE)
            self._idle(self.poll)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._step()
                except Exception as exc:
                    log.exception("audit sender error; the messages stay in the spool")
                    self._fail(f"internal error ({exc})")
        finally:
            self.transport.close()
            self._lock.release()
            self._report(TrailState.STOPPED)
            self.spool.close()
