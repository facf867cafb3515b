"""The web images of a build: rendered in worker processes while the build goes on.

`Renderer` hands every instance of the job to a pool of worker processes (render.py) as
soon as the job's content is known, reading the store's files (never an image of the
medium); the builder goes on checking and transcoding, then `collect()`s the renderings
before it lays the media out. A worker that dies (a decoder crashing on damaged data, the
kernel killing it for memory) costs one instance its preview, never the build.

`extra_cost()` is what an instance's renderings add to a medium (for spanning);
`choose_level()` lowers `media.web_images` when the renderings would need one more medium.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from mw_tui import config as cfg
from mw_tui.media import render
from mw_tui.media import span as spanning
from mw_tui.media.previews import How, PreviewCache, identity
from mw_tui.media.render import Rendering, RenderTask
from mw_tui.media.volume import WebImages

log = logging.getLogger(__name__)
POLL = 0.2  # seconds between looks at cancel while waiting for the workers
PER_FILE = 512  # directory records of one more file (ISO 9660 and Joliet), a grid cell
PAGE = 2048  # an image page
BATCH = 8  # instances handed to a worker at a time
FAILED = "the preview maker failed"
CRASHED = ("the preview maker stopped while reading it (a decoder crashed or ran out of "
           "memory)")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def pool_context() -> multiprocessing.context.BaseContext:
    """How workers start: forked when this process runs no other thread (`mw-tui build`,
    the benchmark: a worker is ready at once, with the modules imported); from a fork
    server otherwise (the station, whose other threads may hold a lock at the moment of
    a fork: logging's, sqlite's, the receiver's; the fork server is a fresh,
    single-threaded interpreter that has imported the renderer, so its forks are as
    quick and share its memory)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        _warm_once()
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    # taken when the server first starts (a name: importing it here would warm this one)
    ctx.set_forkserver_preload(["mw_tui.media.warmed"])
    return ctx


_warm = threading.Lock()
_warmed = False


def _warm_once() -> None:
    """`render.warm()` in this process, once (its forked workers inherit it)."""
    global _warmed
    with _warm:
        if not _warmed:
            _warmed = True
            try:
                render.warm()
            except Exception:  # only a head start: the workers load it themselves
                log.debug("media: warming the renderer up failed", exc_info=True)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What to render (`media.web_images`, `web_image_size`, `_quality`, `_frames`)."""

    level: WebImages = WebImages.ALL
    size: int = 1024
    quality: int = 85
    frames: int = 50

    @classmethod
    def from_config(cls, media: cfg.MediaConfig) -> WebSettings:
        return cls(WebImages(media.web_images), media.web_image_size,
                   media.web_image_quality, media.web_image_frames)

    def how(self, full: bool | None = None) -> How:
        return How(self.level is WebImages.ALL if full is None else full, self.size,
                   self.quality, self.frames)


@dataclass(frozen=True, slots=True)
class WebContent:
    """What the web pages of the media show: `level`, the renderings of the image
    instances (SOP Instance UID -> rendering; other instances are not in it), and
    `note`, why the level is lower than the configuration asks."""

    level: WebImages = WebImages.NONE
    renderings: dict[str, Rendering] = field(default_factory=dict)
    note: str = ""


class Renderer:
    """Renders instances in worker processes; `submit()` them, then `collect()`.
    A context manager: leaving it stops the workers (waiting for those at work).

    With `cache` (the station's kept previews), what it holds is taken from it and what
    is rendered goes into it; else the previews are made in `folder`."""

    def __init__(self, folder: Path, settings: WebSettings, workers: int | None = None,
                 context: multiprocessing.context.BaseContext | None = None,
                 cache: PreviewCache | None = None, nice: int = 0) -> None:
        self.folder = folder
        self.settings = settings
        self.workers = workers or default_workers()
        self.cache = cache
        self.nice = nice
        self.kept = 0  # renderings taken from the cache
        self._context = context
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: list[RenderTask] = []
        self._batch: list[RenderTask] = []
        self._futures: dict[Future[list[Rendering | None]], list[RenderTask]] = {}
        self._results: dict[str, Rendering | None] = {}
        self._idents: dict[str, str] = {}  # SOP Instance UID -> its file's, when cached

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        ctx = self._context or pool_context()
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=render.init_worker,
                                   initargs=(self.nice,))

    def submit_all(self, instances: list[tuple[str, Path]]) -> None:
        """`submit()` each (SOP Instance UID, file of the store); those the cache holds
        are taken from it at once."""
        if self.cache is not None:
            held = self.cache.find(instances, self.settings.how())
            if self.settings.level is WebImages.THUMBNAILS:  # a full rendering will do
                rest = [i for i in instances if i[0] not in held]
                held |= {uid: _thumbnail_only(r) for uid, r in
                         self.cache.find(rest, self.settings.how(full=True)).items()}
            self._results.update(held)
            self.kept += len(held)
            instances = [i for i in instances if i[0] not in held]
        for sop_uid, source in instances:
            self.submit(sop_uid, source)

    def submit(self, sop_uid: str, source: Path) -> None:
        """Render the instance in `source` (a file of the store) in the background."""
        s = self.settings
        if self.cache is not None:
            try:
                ident = identity(source)
            except OSError as exc:  # the worker says what is wrong with it
                ident = f"missing:{exc.errno}"
            self._idents[sop_uid] = ident
        elif not self._tasks:
            self.folder.mkdir(parents=True, exist_ok=True)
        task = RenderTask(sop_uid, source, s.level is WebImages.ALL, s.size, s.quality,
                          s.frames)
        self._tasks.append(task)
        self._batch.append(task)
        if len(self._batch) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        """Hand the tasks gathered so far to the workers, as one."""
        if not self._batch:
            return
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        batch, self._batch = self._batch, []
        self._futures[self._pool.submit(render.render_many, batch, *self._pack())] = batch

    def _pack(self) -> tuple[Path, bool]:
        """Where the next batch's pictures go (a new pack file), and whether it is
        written under a temporary name first (the cache's)."""
        if self.cache is not None:
            return self.cache.new_pack(), True
        return self.folder / f"{secrets.token_hex(10)}.PCK", False  # never an earlier one

    def collect(self, check: Callable[[], None],
                progress: Callable[[int, int], None] | None = None) -> dict[str, Rendering]:
        """Wait for every rendering (calling `check`, which raises to stop, and `progress`
        with done and total as they come); the renderings of the image instances."""
        self._flush()
        total = len(self._tasks) + self.kept
        told = 0.0
        while self._futures:
            check()
            done, _ = wait(self._futures, timeout=POLL, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                batch = self._futures.pop(fut)
                try:
                    made = dict(zip((t.sop_uid for t in batch), fut.result(), strict=True))
                    self._results.update(made)
                    self._keep(made.values())
                except BrokenProcessPool:
                    broken = True
                except Exception as exc:  # e.g. a result that could not be sent back
                    for t in batch:
                        self._results[t.sop_uid] = Rendering(
                            t.sop_uid, problem=f"{FAILED}: {exc}", lasting=False)
            if broken:
                self._recover(check)
            now = time.monotonic()
            if progress is not None and done and (now - told >= POLL or not self._futures):
                told = now
                progress(len(self._results), total)
        return {uid: r for uid, r in self._results.items() if r is not None}

    def _keep(self, made: Iterable[Rendering | None]) -> None:
        """Renderings just made, into the cache (not those a crash, a full disk or a
        failure to send the result back left without previews: they may come out the
        next time)."""
        if self.cache is None:
            return
        try:
            self.cache.keep(((r, self._idents[r.sop_uid]) for r in made
                             if r is not None and r.lasting), self.settings.how())
        except (sqlite3.Error, OSError) as exc:  # this build has them all the same
            log.warning("previews: cannot record the previews made (%s); they will be "
                        "made again next time", exc)

    def _recover(self, check: Callable[[], None]) -> None:
        """A worker died. Batches are handed out in order, so the task that killed it is
        among the first unfinished ones: those run again one at a time (a task that kills
        its worker again gets no preview), the others in a new pool."""
        log.warning("media: a preview worker stopped; going on with a new one")
        self._shutdown()
        rest = [t for t in self._tasks if t.sop_uid not in self._results]
        suspect = (2 * self.workers + 2) * BATCH  # running, or queued for a worker
        pool: ProcessPoolExecutor | None = None
        try:
            for task in rest[:suspect]:
                check()
                pool = pool or self._new_pool(1)
                try:
                    (one,) = pool.submit(render.render_many, [task], *self._pack()).result()
                    self._results[task.sop_uid] = one
                    self._keep([one])
                except BrokenProcessPool:
                    pool.shutdown(wait=True)
                    pool = None
                    self._results[task.sop_uid] = Rendering(task.sop_uid, problem=CRASHED,
                                                             lasting=False)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._futures = {}
        for task in rest[suspect:]:
            self._batch.append(task)
            if len(self._batch) >= BATCH:
                self._flush()
        self._flush()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def stop(self) -> None:
        """Stop the workers: those at work finish their batch first."""
        self._shutdown()
        self._futures = {}
        self._batch = []


def extra_cost(r: Rendering | None, level: WebImages, block: int) -> int:
    """Bytes the web images of one instance take on a medium of allocation unit `block`."""
    if r is None or level is WebImages.NONE:
        return 0
    cost = 0
    if r.thumbnail is not None:
        cost += spanning.blocks(r.thumbnail.size, block) + PER_FILE
    if level is WebImages.ALL:
        pages = max(1, len(r.frames))
        cost += sum(spanning.blocks(p.size, block) + PER_FILE for p in r.frames)
        cost += pages * (spanning.blocks(PAGE, block) + PER_FILE)
    return cost


def choose_level(wanted: WebImages, count: Callable[[WebImages], int]) -> tuple[WebImages, str]:
    """The web images the media get: `wanted`, lowered while it needs more media than the
    DICOM files alone (`count(level)`: media needed); and a note saying so."""
    base = count(WebImages.NONE)
    level = wanted
    needed = count(level) if level is not WebImages.NONE else base
    while level is not WebImages.NONE and needed > base:
        level = level.smaller() or WebImages.NONE
        needed = count(level)
    if level is wanted:
        return level, ""
    what = {WebImages.THUMBNAILS: "the web pages show thumbnails only",
            WebImages.NONE: "the web pages show no images"}[level]
    media = "one medium" if base == 1 else f"{base} media"
    return level, (f"{what}: with {wanted.value} their previews would need more than the "
                   f"{media} the DICOM files need")


def drop_full_size(renderings: dict[str, Rendering]) -> dict[str, Rendering]:
    """The renderings without their full-size previews (their packs hold the thumbnails
    too: they stay until the work folder goes)."""
    return {uid: _thumbnail_only(r) for uid, r in renderings.items()}


def _thumbnail_only(r: Rendering) -> Rendering:
    return Rendering(r.sop_uid, (), r.thumbnail, r.frame_count, r.window, r.original,
                     r.problem)
