"""Merge bursts of per-key notifications into a few calls per second."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable


class Coalescer:
    """`add(key)` many times; `callback(key, count)` runs at most once per `interval` per key.

    The callback runs on the coalescer's own thread.
    """

    def __init__(self, callback: Callable[[str, int], None], interval: float = 0.3) -> None:
        self._callback = callback
        self._interval = interval
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coalescer", daemon=True)
        self._thread.start()

    def add(self, key: str, count: int = 1) -> None:
        with self._lock:
            self._pending[key] += count
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            # let the burst accumulate (unless closing), then deliver
            closing = self._closed.wait(self._interval)
            self._flush()
            if closing:
                return

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        for key, count in pending.items():
            try:
                self._callback(key, count)
            except Exception:  # a failing subscriber must not stop the notifications
                logging.getLogger(__name__).exception("coalesced callback failed")

    def close(self) -> None:
        """Deliver what is pending and stop."""
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=5)
