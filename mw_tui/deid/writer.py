"""Writing copies into the work store on a thread of its own.

While one copy is written (the disk's time: creating, writing and indexing the file, with
the GIL released in the system calls) the next one is read and de-identified (the CPU's
time), so the two overlap. A few copies wait at most (`DEPTH`), so memory stays bounded.
The first failure stops the writing and is raised to the caller at its next `put()` or at
`close()`.
"""

from __future__ import annotations

import queue
import threading

from mw_tui.deid.instance import Copy
from mw_tui.store import Refused, Store

DEPTH = 8


class WriteError(Exception):
    """A copy could not be written into the work store; the message says why."""


class Writer:
    """Puts copies into `work`, in order, on a thread of its own. Use from one thread."""

    def __init__(self, work: Store) -> None:
        self.work = work
        self._queue: queue.Queue[tuple[Copy, str] | None] = queue.Queue(DEPTH)
        self._error: WriteError | None = None
        self._thread = threading.Thread(target=self._run, name="deid-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, copy: Copy, where: str) -> None:
        """Queue `copy` (`where` names it in a failure); raises an earlier failure."""
        if self._error is not None:
            raise self._error
        self._queue.put((copy, where))

    def close(self) -> None:
        """Wait until everything queued is written; raises the first failure."""
        self.stop()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Write what is queued and end the thread (failures are kept for `close`)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure
            copy, where = item
            try:
                incoming = self.work.begin(copy.sop_class, copy.sop_uid, copy.transfer_syntax,
                                           deferred=True)
                for chunk in copy.chunks:
                    incoming.write(chunk)
                incoming.commit()
            except Refused as exc:
                self._error = WriteError(f"{where}: its copy cannot be written into "
                                         f"{self.work.root}: {exc.reason}")
            except Exception as exc:  # anything else: the caller learns it, the thread ends well
                self._error = WriteError(f"{where}: its copy cannot be written into "
                                         f"{self.work.root}: {exc}")
