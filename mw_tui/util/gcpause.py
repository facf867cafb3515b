"""Cyclic garbage collection paused while a build makes its many small objects.

Laying a medium out makes tens of thousands of objects that all live until the medium is
written (pycdlib's records of 4,000 files are 60,000 of them; then the DICOMDIR's records
and the pages). The collector would walk them again and again as they are made, for
nothing: on a build of 1,000 images with web pages that doubled the time the layout took.
Inside `paused()` the collector does not run (in any thread: it is one per process); it
runs again once the last pause ends, and collects what became garbage meanwhile as usual.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
