"""Sending a plan's instances: several channels at once (associations or STOW-RS
sessions), each instance read from the medium, changed as planned and streamed out.

Every instance the archive acknowledges is reported through `on_confirmed` at once, so
a job can write it down and, after a crash, pass those back as `confirmed`: they are
not sent again. An instance that cannot be read, changed or stored is a `SendFailure`
with the reason; a channel that breaks is opened again and the instance retried once;
when no channel can be opened any more, what is left fails with the archive's message.
A medium that stops answering (taken out) stops the send with `MediumError`, and so
does `on_confirmed` failing to write an instance down (`RecordError`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from mw_tui.config import Config
from mw_tui.importing.channels import ChannelError, Outcome, StoreChannel, StowChannel, proposals
from mw_tui.importing.elements import BadFile, read_header
from mw_tui.importing.models import Located, Medium
from mw_tui.importing.opening import open_source
from mw_tui.importing.plan import Destination, DestinationKind, ImportPlan, PlanError
from mw_tui.importing.rewrite import Changes, RewriteError, UidMap, prepare
from mw_tui.importing.sources import FileEntry, MediumError, Source, medium_gone
from mw_tui.standard import sop

log = logging.getLogger(__name__)

CancelToken = Callable[[], bool]
TRIES = 2  # an instance whose channel broke under it is sent once more


class RecordError(Exception):
    """`on_confirmed` could not write down an instance the archive confirmed (OSError:
    a full disk?): the send stopped. The OSError is the cause."""


@dataclass(frozen=True, slots=True)
class SendProgress:
    done: int  # instances acknowledged or failed so far (this run)
    total: int  # instances to send in this run
    bytes_done: int
    bytes_total: int
    failed: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class Confirmed:
    """One instance the archive acknowledged."""

    sop_instance_uid: str  # as on the medium: what `confirmed` takes back
    sent_uid: str  # as sent (differs with new UIDs)
    study_uid: str  # as sent
    path: str
    warning: str = ""


@dataclass(frozen=True, slots=True)
class SendFailure:
    path: str
    sop_instance_uid: str
    reason: str
    connection: bool = False  # the connection failed (not the instance): trying again may do


@dataclass(frozen=True, slots=True)
class SendResult:
    destination: str
    sent: int  # acknowledged in this run
    skipped: int  # acknowledged before (passed in `confirmed`)
    failures: tuple[SendFailure, ...]
    cancelled: bool
    expected: Mapping[str, tuple[str, ...]]  # study UID -> SOP Instance UIDs, as sent
    seconds: float
    converted: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled

    @property
    def retryable(self) -> bool:
        """Every failure was the connection's: a later try may send them."""
        return bool(self.failures) and all(f.connection for f in self.failures)

    @property
    def message(self) -> str:
        if self.cancelled:
            return (f"Cancelled after {self.sent} instances: the archive keeps them, and "
                    "importing again sends only the others.")
        if self.failures:
            first = self.failures[0]
            return (f"{len(self.failures)} instances were not imported, e.g. {first.path}: "
                    f"{first.reason}")
        return f"{self.sent + self.skipped} instances sent to {self.destination}."


@dataclass
class _Item:
    located: Located
    entry: FileEntry | None
    tries: int = 0


def selected(medium: Medium, plan: ImportPlan) -> list[Located]:
    """The plan's instances, in the medium's order."""
    wanted = set(plan.study_uids)
    return [x for x in medium.located() if not wanted or x.study.study_uid in wanted]


def changes_of(medium: Medium, plan: ImportPlan) -> Changes:
    uids = None
    if plan.new_uids:
        known = {u for x in medium.located() for u in (x.study.study_uid, x.series.series_uid,
                                                        x.instance.sop_instance_uid)}
        uids = UidMap(plan.uid_salt, frozenset(known))
    return Changes(plan.local, plan.accession, uids)


def expected_of(medium: Medium, plan: ImportPlan) -> dict[str, tuple[str, ...]]:
    """Study UID as sent -> the SOP Instance UIDs of the plan in it, as sent: what the
    archive must hold once the import is done (it may hold more of the study)."""
    changes = changes_of(medium, plan)
    expected: dict[str, list[str]] = {}
    for x in selected(medium, plan):
        study, uid = x.study.study_uid, x.instance.sop_instance_uid
        if changes.uids:
            study, uid = changes.uids(study), changes.uids(uid)
        expected.setdefault(study, []).append(uid)
    return {study: tuple(dict.fromkeys(uids)) for study, uids in expected.items()}


def send(config: Config, medium: Medium, plan: ImportPlan, *,
         progress: Callable[[SendProgress], None] | None = None,
         cancel: CancelToken | None = None,
         on_confirmed: Callable[[Confirmed], None] | None = None,
         confirmed: Collection[str] = (), source: Source | None = None) -> SendResult:
    """Send the plan's instances of `medium` (opened again from `medium.source` unless an
    open `source` is given). Callbacks run on the sending threads, one at a time.

    Raises PlanError for a destination or study that does not exist, MediumError when
    the medium cannot be opened again or stops answering (taken out?), RecordError when
    `on_confirmed` raised OSError; everything else is in the result.
    """
    started = time.monotonic()
    dest = Destination.parse(plan.destination, config)
    missing = set(plan.study_uids) - {s.study_uid for s in medium.studies}
    if missing:
        raise PlanError(f"study {sorted(missing)[0]} is not on this medium")
    changes = changes_of(medium, plan)
    chosen = selected(medium, plan)
    expected = expected_of(medium, plan)
    done_before = set(confirmed)
    todo = [x for x in chosen if x.instance.sop_instance_uid not in done_before]
    cancelled = cancel or (lambda: False)
    state = _State(len(todo), sum(x.instance.size for x in todo), progress, on_confirmed)
    own = source is None
    src = source or open_source(medium.source, config)
    try:
        entries = {f.path: f for f in src.listing().files}
        work: queue.Queue[_Item] = queue.Queue()
        for x in todo:
            work.put(_Item(x, entries.get(x.instance.path)))
        factory = _factory(config, dest, chosen)
        workers = [threading.Thread(target=_worker, name=f"import-send-{i}", daemon=True,
                                    args=(factory, src, work, changes, state, cancelled))
                   for i in range(min(config.importing.associations, max(len(todo), 1)))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        if own:
            src.close()
    if state.halt is not None:
        raise state.halt
    is_cancelled = cancelled()
    while not work.empty():
        item = work.get()
        if not is_cancelled:
            state.fail(item, f"not sent: {state.last_error or 'no connection'}",
                       connection=True)
    return SendResult(str(dest), state.sent, len(chosen) - len(todo), tuple(state.failures),
                      is_cancelled, expected, time.monotonic() - started, state.converted,
                      tuple(dict.fromkeys(state.warnings)))


def _factory(config: Config, dest: Destination, chosen: list[Located]
             ) -> Callable[[], StoreChannel | StowChannel]:
    if dest.kind is DestinationKind.CLOUD:
        target = next(t for t in config.targets if t.name == dest.name)
        return lambda: StowChannel(target)
    archive = config.archive(dest.name)
    pairs = {(x.instance.sop_class_uid, sop.EXPLICIT_VR_LE
              if x.instance.transfer_syntax == sop.DEFLATED_EXPLICIT_VR_LE
              else x.instance.transfer_syntax) for x in chosen}
    contexts = proposals(pairs)
    return lambda: StoreChannel(config, archive, contexts)


class _State:
    """What the workers found, behind one lock; the callbacks are called under it."""

    def __init__(self, total: int, size: int, progress: Callable[[SendProgress], None] | None,
                 on_confirmed: Callable[[Confirmed], None] | None) -> None:
        self.lock = threading.Lock()
        self.total, self.size = total, size
        self.progress, self.on_confirmed = progress, on_confirmed
        self.sent = self.done = self.bytes = self.converted = 0
        self.failures: list[SendFailure] = []
        self.warnings: list[str] = []
        self.last_error = ""
        self.halt: Exception | None = None  # stops every worker; `send` raises it

    def stop(self, exc: Exception) -> None:
        with self.lock:
            self.halt = self.halt or exc

    def _report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(SendProgress(self.done, self.total, self.bytes, self.size,
                                       len(self.failures), message))

    def ok(self, item: _Item, sent_uid: str, study_uid: str, outcome: Outcome) -> None:
        i = item.located.instance
        with self.lock:
            self.sent += 1
            self.done += 1
            self.bytes += i.size
            self.converted += bool(outcome.converted_to)
            if outcome.reason:
                self.warnings.append(outcome.reason)
            if self.on_confirmed is not None and self.halt is None:
                try:
                    self.on_confirmed(Confirmed(i.sop_instance_uid, sent_uid, study_uid,
                                                i.path, outcome.reason))
                except OSError as exc:
                    log.error("import: a confirmed instance cannot be written down: %s", exc)
                    error = RecordError(f"what the archive confirmed cannot be written down "
                                        f"({exc.strerror or exc})")
                    error.__cause__ = exc
                    self.halt = error
            self._report(i.path)

    def fail(self, item: _Item, reason: str, connection: bool = False) -> None:
        i = item.located.instance
        with self.lock:
            self.done += 1
            self.bytes += i.size
            self.failures.append(SendFailure(i.path, i.sop_instance_uid, reason, connection))
            self._report(f"{i.path}: {reason}")


def _worker(factory: Callable[[], StoreChannel | StowChannel], src: Source,
            work: queue.Queue[_Item], changes: Changes, state: _State,
            cancelled: CancelToken) -> None:
    channel: StoreChannel | StowChannel | None = None
    try:
        while not cancelled() and state.halt is None:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            if item.entry is None:
                state.fail(item, "no longer on the medium (was it changed?)")
                continue
            try:
                if channel is None:
                    channel = factory()
                _send_one(channel, src, item, changes, state, cancelled)
            except ChannelError as exc:
                if channel is not None:
                    channel.close()
                channel = None
                state.last_error = str(exc)
                item.tries += 1
                if cancelled() or item.tries >= TRIES:
                    if not cancelled():
                        state.fail(item, str(exc), connection=True)
                else:
                    work.put(item)
                if exc.opening:
                    log.warning("import: %s", exc)
                    return  # the others go on; what is left fails with this message
            except MediumError as exc:  # taken out: every worker stops, `send` raises it
                state.stop(exc)
                return
            except Exception as exc:  # a bug: this instance fails, the others go on
                log.exception("import: sending %s", item.located.instance.path)
                if channel is not None:
                    channel.close()
                channel = None
                state.fail(item, f"cannot be sent ({str(exc)[:200] or type(exc).__name__})")
                continue
            if channel is not None and channel.broken:  # aborted half-way: a new one
                channel.close()
                channel = None
    finally:
        if channel is not None:
            channel.close()


def _send_one(channel: StoreChannel | StowChannel, src: Source, item: _Item, changes: Changes,
              state: _State, cancelled: CancelToken) -> None:
    i = item.located.instance
    assert item.entry is not None
    try:
        with src.opened(item.entry) as read_at:
            header = read_header(read_at, item.entry.size)
            if header.get("SOPInstanceUID") != i.sop_instance_uid:
                state.fail(item, "the file changed since the medium was read")
                return
            prepared = prepare(header, read_at, changes)
            outcome = channel.send(prepared, read_at, cancelled)
    except (BadFile, RewriteError) as exc:
        state.fail(item, str(exc))
        return
    except OSError as exc:
        if (gone := medium_gone(exc, i.path)) is not None:
            raise gone from exc
        state.fail(item, f"cannot be read ({exc.strerror or exc})")
        return
    if outcome.ok:
        state.ok(item, prepared.sop_instance_uid, prepared.study_uid, outcome)
    else:
        state.fail(item, outcome.reason)
