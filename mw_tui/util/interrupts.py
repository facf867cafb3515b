"""Ctrl-C and SIGTERM handled by a command instead of ending it (to cancel cleanly)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def on_interrupt(handler: Callable[[], None]) -> Iterator[None]:
    """Inside, SIGINT and SIGTERM call `handler()`; the earlier handlers come back after.
    Outside the main thread (where Python cannot set handlers) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    call = lambda *_: handler()  # noqa: E731
    old = signal.signal(signal.SIGINT, call), signal.signal(signal.SIGTERM, call)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
