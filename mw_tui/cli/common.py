"""What several commands share."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mw_tui import config as cfg


@contextmanager
def receiver_if_needed(config: cfg.Config, needed: bool, command: str,
                       why: str) -> Iterator[None]:
    """C-MOVE needs this station's receiver: start one here unless a station answers."""
    from mw_tui.dicom.echo import station_answers

    if not needed or station_answers(config):
        yield
        return
    from mw_tui.dicom.scp import Receiver

    receiver = Receiver(config)
    receiver.start()  # ReceiverError says why it cannot listen
    print(f"mw-tui {command}: started this station's receiver ({config.station.ae_title} on "
          f"port {receiver.port}) for {why}", file=sys.stderr)
    try:
        yield
    finally:
        receiver.stop()


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
