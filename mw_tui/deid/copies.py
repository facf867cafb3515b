"""De-identified copies of studies, written into a job's own work store.

`deidentify_into()` reads studies from the station's store and writes their de-identified
copies into a second `Store` rooted in the job's work folder (its own index holds the
de-identified headers), from which the media builder makes the DICOMDIR, README and web
pages as for any store. Nothing is ever written into the station's store. The job's seed
decides every new UID, pseudonym and date offset, so a resumed job makes the same copies:
what an earlier run already wrote is kept, what a power cut may have torn is made again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mw_tui.config.deid import BurnedIn, DeidProfile
from mw_tui.deid.instance import InstanceError, make_copy, read_original
from mw_tui.deid.pseudonyms import Keys, Pseudonym, patient_key
from mw_tui.deid.rules import Context, Method
from mw_tui.deid.scrub import Scrubber
from mw_tui.deid.writer import WriteError, Writer
from mw_tui.standard import sop
from mw_tui.store import Store
from mw_tui.store.index import InstanceRow

_CLEANING = frozenset("DTP")  # options whose C actions clean texts
_NO_SCRUB = Scrubber(())


class DeidError(Exception):
    """The copies cannot be made; the message says why and what to do."""


class DeidCancelled(DeidError):
    def __init__(self) -> None:
        super().__init__("the de-identification was cancelled")


@dataclass(frozen=True, slots=True)
class DeidProgress:
    done: int
    total: int
    detail: str = ""


Progress = Callable[[DeidProgress], None]


@dataclass(frozen=True, slots=True)
class Flagged:
    """An instance that may show the patient's name in its pixels or document."""

    study_uid: str  # the original study (as the job names it)
    series_number: str
    instance_number: str
    sop_class: str

    def describe(self) -> str:
        return (f"{sop.sop_class_name(self.sop_class)}, series {self.series_number or '?'}, "
                f"instance {self.instance_number or '?'}")


@dataclass(frozen=True, slots=True)
class StudyCopy:
    original_uid: str
    uid: str  # Study Instance UID of the copy, in the work store
    pseudonym: Pseudonym
    instances: int  # in the work store


@dataclass(frozen=True, slots=True)
class DeidReport:
    profile: str
    method: tuple[str, ...]  # De-identification Method: the profile and its options
    studies: tuple[StudyCopy, ...]
    left_out: tuple[Flagged, ...]
    kept_with_warning: tuple[Flagged, ...]
    written: int
    reused: int  # already in the work store (an earlier run of the same job)

    @property
    def study_uids(self) -> tuple[str, ...]:
        """The copies' study UIDs, in the job's order: what `build_volumes` is given."""
        return tuple(s.uid for s in self.studies if s.instances)

    @property
    def pseudonyms(self) -> tuple[Pseudonym, ...]:
        """One per patient, in the job's order: what the label and README show."""
        out: list[Pseudonym] = []
        for s in self.studies:
            if s.instances and s.pseudonym not in out:
                out.append(s.pseudonym)
        return tuple(out)

    def warnings(self) -> list[str]:
        """Sentences for the review screen and the job's log (no patient data)."""
        out = []
        if self.left_out:
            out.append(f"{len(self.left_out)} instance(s) that may show the patient's name in "
                       f"their pixels or document were left out: "
                       + "; ".join(f.describe() for f in self.left_out[:10])
                       + (" ..." if len(self.left_out) > 10 else ""))
        if self.kept_with_warning:
            out.append(f"{len(self.kept_with_warning)} instance(s) kept as they are may show the "
                       f"patient's name in their pixels or document: check them before the "
                       f"medium leaves: "
                       + "; ".join(f.describe() for f in self.kept_with_warning[:10])
                       + (" ..." if len(self.kept_with_warning) > 10 else ""))
        empty = [s for s in self.studies if not s.instances]
        if empty:
            out.append(f"{len(empty)} study(ies) had nothing left to copy and are not on the "
                       f"medium")
        return out


class _Run:
    def __init__(self, store: Store, profile: DeidProfile, keys: Keys, work: Store,
                 progress: Progress | None, cancel: threading.Event | None) -> None:
        self.store, self.profile, self.keys, self.work = store, profile, keys, work
        self.method = Method.of(profile)
        self.progress, self.cancel = progress, cancel
        self.left_out: list[Flagged] = []
        self.kept: list[Flagged] = []
        self.written = self.reused = 0
        self.existing = work.index.paths()  # what an earlier run of the job already wrote
        self.writer = Writer(work)

    def one(self, study_uid: str, series_number: str, row: InstanceRow) -> bool:
        """Copy one instance; whether it is in the work store afterwards."""
        where = f"instance {row.sop_uid} ({sop.sop_class_name(row.sop_class)})"
        try:
            original = read_original(self.store.root / row.path, row.transfer_syntax)
        except FileNotFoundError:
            raise DeidError(f"{where}: its file is missing from the store (run mw-tui store "
                            "check)") from None
        except InstanceError as exc:
            raise DeidError(f"{where} cannot be de-identified: {exc}. Check the store "
                            "(mw-tui store check) or leave its study out") from exc
        if original.burned_in:
            flag = Flagged(study_uid, series_number, row.instance_number, row.sop_class)
            if self.profile.burned_in_choice is BurnedIn.LEAVE_OUT:
                self.left_out.append(flag)
                return False
            self.kept.append(flag)
        new_uid = row.sop_uid if self.profile.uids else self.keys.uid(row.sop_uid)
        done = self.existing.get(new_uid)
        if done is not None and (self.work.root / done).exists():
            self.reused += 1
            return True
        header = original.header
        pseudonym = self.keys.patient(patient_key(str(header.get("PatientID", "")),
                                                  str(header.get("PatientName", ""))))
        # only the clean options (C) take words out of texts
        scrub = Scrubber.of(header) if self.method.letters & _CLEANING else _NO_SCRUB
        ctx = Context(self.profile, self.method, self.keys, pseudonym, scrub)
        try:
            copy = make_copy(original, ctx)
        except InstanceError as exc:
            raise DeidError(f"{where} cannot be de-identified: {exc}") from exc
        try:
            self.writer.put(copy, where)
        except WriteError as exc:
            raise DeidError(str(exc)) from exc
        self.written += 1
        return True


def deidentify_into(store: Store, study_uids: Sequence[str], profile: DeidProfile,
                    seed: str | bytes, work_store: Store, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> DeidReport:
    """Write de-identified copies of `study_uids` (from `store`) into `work_store`.

    `seed`: the job's own secret (`new_seed()`, kept with the job, never shown or logged):
    the same seed gives the same copies. Raises DeidError (DeidCancelled when `cancel` is
    set) with what to do; instances already copied stay in `work_store`.
    """
    if not study_uids:
        raise DeidError("no study to copy: name at least one")
    keys = Keys(seed)
    work_store.drop_lost()
    run = _Run(store, profile, keys, work_store, progress, cancel)
    plan = []
    for uid in dict.fromkeys(study_uids):
        row = store.index.study(uid)
        if row is None:
            raise DeidError(f"study {uid} is not in the store ({store.root}): retrieve it "
                            "first, or check the UID (mw-tui studies lists them)")
        series = [(se.series_number, store.index.instances(se.series_uid))
                  for se in store.index.series(uid)]
        plan.append((row, series))
    total = sum(len(rows) for _, series in plan for _, rows in series)
    every = max(1, total // 100)  # at most about a hundred reports
    done = 0
    studies = []
    run.writer.start()
    try:
        for row, series in plan:
            pseudonym = keys.patient(patient_key(row.patient_id, row.patient_name))
            copied = 0
            for number, rows in series:
                for inst in rows:
                    if cancel is not None and cancel.is_set():
                        raise DeidCancelled()
                    copied += run.one(row.study_uid, number, inst)
                    done += 1
                    if progress is not None and (done % every == 0 or done == total):
                        progress(DeidProgress(done, total))
            new_uid = row.study_uid if profile.uids else keys.uid(row.study_uid)
            studies.append(StudyCopy(row.study_uid, new_uid, pseudonym, copied))
        run.writer.close()
    except WriteError as exc:
        raise DeidError(str(exc)) from exc
    finally:
        run.writer.stop()  # what was queued is written: a resumed job keeps it
    if not any(s.instances for s in studies):
        raise DeidError("nothing is left to copy: every instance may show the patient's name "
                        "in its pixels or document. Choose a profile with burned_in = "
                        "\"keep_with_warning\" and check the images, or other studies")
    return DeidReport(profile.name, tuple(m for _, m in run.method.codes), tuple(studies),
                      tuple(run.left_out), tuple(run.kept), run.written, run.reused)

