"""Auto-rules: studies pushed to the station are written to a target once complete.

A study is complete when no new instance arrived for the rule's `quiet_seconds`. The
engine watches the receiver's `InstanceStored` events; a study matches a rule by its
sender's AE title and/or a modality in it. Each (rule, study) gets one job; a study that
grows after its job was created gets a new job with everything it now holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mw_tui.config import Config, Rule
from mw_tui.dicom.events import InstanceStored, ReceiverEvent
from mw_tui.jobs.models import Job, StudyRef, Target, copy_options
from mw_tui.jobs.queue import JobQueue
from mw_tui.store.index import Index

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    last_seen: float
    senders: set[str] = field(default_factory=set)


class RuleEngine:
    """Plain service: `on_event` is fed with receiver events; jobs are created in `queue`."""

    def __init__(self, config: Config, index: Index, queue: JobQueue,
                 on_job: Callable[[Job], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = config.rules
        self.default_profile = config.media.default_profile
        self.index = index
        self.queue = queue
        self.on_job = on_job
        self.clock = clock
        self._pending: dict[str, _Pending] = {}
        self._done: dict[tuple[str, str], int] = {}  # (rule, study) -> instances at creation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for job in queue.list(limit=5000):  # what earlier runs already created
            if job.rule:
                for s in job.studies:
                    self._done[(job.rule, s.study_uid)] = max(
                        self._done.get((job.rule, s.study_uid), 0), s.expected_instances)

    def start(self) -> None:
        if self.rules and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="auto-rules", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def on_event(self, event: ReceiverEvent) -> None:
        if not self.rules or not isinstance(event, InstanceStored):
            return
        with self._lock:
            p = self._pending.setdefault(event.study_uid, _Pending(self.clock()))
            p.last_seen = self.clock()
            if event.calling_ae:
                p.senders.add(event.calling_ae)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.check()

    def check(self) -> list[Job]:
        """Create jobs for the studies that went quiet; returns them (also for tests)."""
        now = self.clock()
        created: list[Job] = []
        with self._lock:
            pending = dict(self._pending)
        for study_uid, p in pending.items():
            waiting = False
            for rule in self.rules:
                if not self._sender_matches(rule, p.senders):
                    continue
                if now - p.last_seen < rule.quiet_seconds:
                    waiting = True
                    continue
                job = self._fire(rule, study_uid)
                if job is not None:
                    created.append(job)
            if not waiting:
                with self._lock:
                    if self._pending.get(study_uid) is p and p.last_seen <= now:
                        del self._pending[study_uid]
        return created

    @staticmethod
    def _sender_matches(rule: Rule, senders: set[str]) -> bool:
        return not rule.calling_ae or rule.calling_ae in senders

    def _fire(self, rule: Rule, study_uid: str) -> Job | None:
        row = self.index.study(study_uid)
        if row is None:
            return None
        if rule.modality and rule.modality.upper() not in (m.upper() for m in row.modalities):
            return None
        if self._done.get((rule.name, study_uid), -1) >= row.instances:
            return None  # nothing new since this rule's last job for the study
        job = self.queue.create(
            Target.parse(rule.target), rule.profile or self.default_profile,
            (StudyRef(study_uid, "", row.instances),), patient_name=row.patient_name,
            patient_id=row.patient_id, copies=rule.copies, requested_by=f"rule {rule.name}",
            rule=rule.name, options=copy_options(rule.deid_profile))
        self._done[(rule.name, study_uid)] = row.instances
        log.info("auto-rule %s: job %d for a complete study (%d instances) to %s", rule.name,
                 job.id, row.instances, rule.target)
        if self.on_job is not None:
            self.on_job(job)
        return job
