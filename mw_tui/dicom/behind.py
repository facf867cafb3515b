"""Writing the images of the station's own retrieves behind their association.

The receiver acknowledges an image of a C-MOVE this station asked for as soon as it is
checked (`acceptor`); creating its file, writing and indexing it happen on this thread
while the association's thread reads the next image, so the file system's work overlaps
the network's. A write that fails after the acknowledgement leaves the image missing from
the store, which the retrieve's final count finds (the archive still holds it: see
`store.sync`). At most `DEPTH` images wait here, their bytes in memory (or in spool files
for the large ones).
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

DEPTH = 4

Stored = Callable[[wire.Command, StoredInstance], None]
Lost = Callable[[wire.Command, int, str], None]


class WriteBehind:
    """One thread committing acknowledged instances in order; `close()` waits for all."""

    def __init__(self, on_stored: Stored, on_lost: Lost) -> None:
        self.on_stored = on_stored
        self.on_lost = on_lost
        self._q: queue.Queue[tuple[Incoming, wire.Command] | None] = queue.Queue(DEPTH)
        self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
        self._thread.start()

    def put(self, incoming: Incoming, command: wire.Command) -> None:
        self._q.put((incoming, command))

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()

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
