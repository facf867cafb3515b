"""Writing the images of the station's own retrieves behind their association.

The receiver acknowledges an image of a C-MOVE this station asked for as soon as it is
checked (`acceptor`); creating its file, writing and indexing it happen on `THREADS`
threads here while the association's thread reads the next image, so the disk's work
(each file is written around the page cache: a write returns once the disk has it)
overlaps the network's and that of the other files. A write that fails after the
acknowledgement leaves the image missing from the store, which the retrieve's final count
finds (the archive still holds it: see `store.sync`). At most `DEPTH` images wait here,
their bytes in memory (or in spool files for the large ones).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from mw_tui.dicom import wire
from mw_tui.dicom.refusal import status_of
from mw_tui.standard import status
from mw_tui.store import Incoming, Refused, StoredInstance

log = logging.getLogger("mw_tui.dicom.acceptor")

DEPTH = 8
THREADS = 3  # files written at once (measured: one leaves the network waiting for the disk)

Stored = Callable[[wire.Command, StoredInstance], None]
Lost = Callable[[wire.Command, int, str], None]


class WriteBehind:
    """Threads committing acknowledged instances; `close()` waits for all of them. The
    callbacks are called one at a time."""

    def __init__(self, on_stored: Stored, on_lost: Lost) -> None:
        self._on_stored = on_stored
        self._on_lost = on_lost
        self._told = threading.Lock()
        self._q: queue.Queue[tuple[Incoming, wire.Command] | None] = queue.Queue(DEPTH)
        self._threads = [threading.Thread(target=self._run, name="write-behind", daemon=True)
                         for _ in range(THREADS)]
        for t in self._threads:
            t.start()

    def on_stored(self, command: wire.Command, stored: StoredInstance) -> None:
        with self._told:
            self._on_stored(command, stored)

    def on_lost(self, command: wire.Command, code: int, reason: str) -> None:
        with self._told:
            self._on_lost(command, code, reason)

    def put(self, incoming: Incoming, command: wire.Command) -> None:
        self._q.put((incoming, command))

    def close(self) -> None:
        for _ in self._threads:
            self._q.put(None)
        for t in self._threads:
            t.join()

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            incoming, command = item
            try:
                stored = incoming.commit()
            except Refused as exc:
                self.on_lost(command, status_of(exc), exc.reason)
                continue
            except Exception as exc:  # a bug of ours: say it, keep writing the others
                log.exception("writing %s failed", command.sop_instance)
                self.on_lost(command, status.CANNOT_STORE, f"internal error: {exc}")
                continue
            self.on_stored(command, stored)
