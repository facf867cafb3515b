"""What several commands share."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cancel_on_interrupt(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C / SIGTERM cancel the retrieve cleanly (C-CANCEL) instead of killing it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = lambda *_: cancel.set()  # noqa: E731
    old = signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
