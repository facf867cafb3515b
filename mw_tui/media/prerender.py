"""Web previews made ahead: the station renders what it receives while it waits.

`Prerenderer` is told of every study the receiver changed (pushed by a modality, or
retrieved for a job) and makes the web previews of its image instances into the station's
kept previews (previews.py), in one worker process of the lowest priority, once no study
has changed for `QUIET` seconds: the receiver goes first (a study that changes while it
is rendered waits for the next quiet time; what was rendered is kept). A medium of the
study then only collects its previews. It also sweeps the previews of instances the
store no longer holds, five minutes after it starts and then every hour. A plain thread;
what it cannot render is kept with the reason (a build would find the same), and any
other failure is logged and retried with the next change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from mw_tui.media.previews import PreviewCache
from mw_tui.media.volume import WebImages
from mw_tui.media.webimages import Renderer, WebSettings
from mw_tui.standard import sop
from mw_tui.store import Store

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 3600.0  # seconds between two sweeps of the kept previews
SWEEP_DELAY = 300.0  # the first: a command that runs a few minutes never sweeps
QUIET = 2.0  # seconds without a study changing before rendering starts (or goes on)
NICE = 19  # the worker's priority: the lowest
SKIPPED = sop.SR_SOP_CLASSES | {sop.ENCAPSULATED_PDF}  # reports: no previews


class Prerenderer:
    """Makes the previews of changed studies in the background; `study_changed(uid)`."""

    def __init__(self, store: Store, cache: PreviewCache | None, settings: WebSettings,
                 sweep_interval: float = SWEEP_INTERVAL,
                 sweep_delay: float = SWEEP_DELAY, quiet: float = QUIET) -> None:
        self.store = store
        self.cache = cache
        self.settings = settings
        self.sweep_interval = sweep_interval
        self.sweep_delay = sweep_delay
        self.quiet = quiet
        self._last_change = 0.0  # when a study last changed (time.monotonic)
        self._started = 0.0  # when the study being rendered was taken
        self._waiting: OrderedDict[str, None] = OrderedDict()  # study UIDs, oldest first
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False
        self.rendered = 0  # instances rendered so far (for the tests and the log)

    @property
    def enabled(self) -> bool:
        """Whether previews are kept (`media.web_previews_ahead`, media with images)."""
        return self.cache is not None and self.settings.level is not WebImages.NONE

    def start(self) -> None:
        if self._thread is not None or not self.enabled:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="previews", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self.cache is not None:
            self.cache.close()

    def study_changed(self, study_uid: str) -> None:
        """The study has new or replaced instances: their previews are made soon."""
        if not self.enabled:
            return
        with self._cond:
            self._waiting[study_uid] = None
            self._last_change = time.monotonic()
            self._cond.notify()

    def idle(self) -> bool:
        """Whether nothing is waiting (the tests wait for it)."""
        with self._cond:
            return not self._waiting and not self._busy

    def _run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_delay
        while not self._stop.is_set():
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + self.sweep_interval
            with self._cond:
                while not self._waiting and not self._stop.is_set():
                    if not self._cond.wait(max(0.0, next_sweep - time.monotonic())):
                        break
                # the receiver's turn first: rendering waits until it has been quiet
                while not self._stop.is_set() and (
                        left := self.quiet - (time.monotonic() - self._last_change)) > 0:
                    self._cond.wait(left)
                if self._stop.is_set() or not self._waiting:
                    continue
                study_uid, _ = self._waiting.popitem(last=False)
                self._busy = True
                self._started = time.monotonic()
            try:
                self._render(study_uid)
            except _Stopped:
                return
            except _Busy:  # what is rendered is kept; the rest once it is quiet again
                with self._cond:
                    self._waiting.setdefault(study_uid, None)
            except Exception:
                log.exception("previews: making those of study %s failed", study_uid)
            finally:
                with self._cond:
                    self._busy = False

    def _render(self, study_uid: str) -> None:
        rows = [r for r in self.store.index.study_instances(study_uid)
                if r.sop_class not in SKIPPED]
        if not rows or self.cache is None:
            return
        root = self.store.root
        with Renderer(Path(self.cache.folder), self.settings, workers=1, cache=self.cache,
                      nice=NICE) as renderer:
            renderer.submit_all([(r.sop_uid, root / r.path) for r in rows])
            made = len(rows) - renderer.kept
            if made:
                renderer.collect(self._check)
        if made:
            self.rendered += made
            log.info("previews: %d image(s) of study %s rendered ahead", made, study_uid)

    def _check(self) -> None:
        if self._stop.is_set():
            raise _Stopped()
        if self._last_change > self._started:  # the receiver is at work again
            raise _Busy()

    def _sweep(self) -> None:
        if self.cache is None:
            return
        try:
            self.cache.sweep(self.store.index.held)
        except Exception:
            log.exception("previews: sweeping the kept previews failed")


class _Stopped(Exception):
    pass


class _Busy(Exception):
    pass
