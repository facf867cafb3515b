"""Import (F9): what an outside disc or stick (or a folder, an ISO file) holds, the local
patient it belongs to (proposed from the archives, best first; another one typed, or the
outside identifiers kept), the archive it goes to; F8 imports it (a job, shown live)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from mw_tui.station.models import (
    Candidate,
    InsertedMedium,
    LocalPatient,
    Medium,
    MediumError,
    PlanError,
    Proposal,
)
from mw_tui.ui import messages as msg
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.choice import Choice
from mw_tui.ui.widgets.medium_tree import MediumTree
from mw_tui.util import text as fmt

TYPED, KEEP = "typed", "keep"


def candidate_label(c: Candidate) -> Text:
    text = Text(fmt.person_name(c.name), style="bold")
    text.append(f"  {c.patient_id}" + (f" ({c.issuer})" if c.issuer else ""))
    if c.birth_date:
        text.append(f" · born {fmt.dicom_date(c.birth_date)}")
    text.append(f" · {c.match.value} · on {', '.join(c.archives)}", style="dim")
    if c.studies is not None:
        text.append(f" · {fmt.count(c.studies, 'study', 'studies')}", style="dim")
    if c.same_id:
        text.append(" · already under the outside ID", style="yellow")
    return text


def describe_medium(medium: Medium) -> Text:
    text = Text(f"{medium.kind.value} {medium.label}".rstrip(), style="bold")
    text.append(f" · DICOMDIR {medium.dicomdir.value} · "
                f"{fmt.count(len(medium.patients), 'patient')}, "
                f"{fmt.count(len(medium.studies), 'study', 'studies')}, "
                f"{fmt.count(medium.instance_count, 'image')}, {fmt.human_size(medium.size)}")
    if medium.unreadable:
        first = medium.unreadable[0]
        text.append(f"\n{fmt.count(len(medium.unreadable), 'file')} cannot be imported, e.g. "
                    f"{first.path}: {first.reason}", style="yellow")
    for note in medium.notes:
        text.append(f"\n{note}", style="yellow")
    return text


class ImportScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("f5", "read", "Read"),
        Binding("f6", "next_patient", "Next patient"),
        Binding("f8", "import_now", "Import ▸"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.source = ""  # what is shown (a path or a device)
        self.medium: Medium | None = None
        self.chosen = 0  # the outside patient whose studies F8 imports
        self.proposals: tuple[Proposal, ...] = ()
        self.proposing = False
        self._creating = False

    def body(self) -> ComposeResult:
        yield Label("Import a patient's disc or stick from another hospital", id="import-title")
        with Horizontal(classes="row"):
            yield Label("Medium:", classes="key")
            yield Input(placeholder="a folder, an .iso file or a device such as /dev/sr0; "
                                    "Enter reads it", id="import-source", compact=True)
        yield MediumTree(id="import-content")
        yield Static("", id="import-notes")
        with Horizontal(id="import-options"):
            with Vertical(id="import-left"):
                yield Label("Import as (↑↓ chooses):", classes="caption")
                yield OptionList(id="import-patients", compact=True)
                with Horizontal(classes="row"):
                    yield Input(placeholder="local patient ID", id="local-id", compact=True)
                    yield Input(placeholder="name Family^Given (empty: as on the medium)",
                                id="local-name", compact=True)
            with Vertical(id="import-right"):
                yield Label("Send to:", classes="caption")
                yield Choice([], id="import-to")
        yield Static("", id="import-status")

    def on_mount(self) -> None:
        super().on_mount()
        app = self.station_app
        app.media_signal.subscribe(self, self._medium_changed)
        app.config_signal.subscribe(self, lambda _d: self._destinations())
        self._destinations()
        self.query_one(MediumTree).show(None, note="Insert the patient's disc or stick, or "
                                                   "type where its files are.")
        self._fill_patients()
        present = [m for m in app.inserted.values() if m.present]
        if present:
            self._take(present[0])

    def _destinations(self) -> None:
        names = self.station_app.station.import_destinations()
        self.query_one(Choice).set_options([(n, n) for n in names] or
                                           [("no archive configured", "")])

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#import-status", Static).update(Text(text, style=style))

    # -- the medium -----------------------------------------------------------------------

    def _medium_changed(self, inserted: InsertedMedium) -> None:
        if inserted.medium is not None and not self._creating:
            self._take(inserted)
        elif inserted.medium is None and inserted.source == self.source:
            self._show(inserted.source, None)  # nothing of the patient stays on screen
            self.query_one(MediumTree).show(None, note=f"The {inserted.what} was taken out.")
            self._status(f"The {inserted.what} was taken out.", "yellow")

    def _take(self, inserted: InsertedMedium) -> None:
        self.query_one("#import-source", Input).value = inserted.source
        self._show(inserted.source, inserted.medium)

    def _show(self, source: str, medium: Medium | None) -> None:
        self.source, self.medium, self.chosen, self.proposals = source, medium, 0, ()
        self.query_one(MediumTree).show(medium, self.chosen)
        self.query_one("#import-notes", Static).update(describe_medium(medium) if medium
                                                       else "")
        self.proposing = bool(medium and medium.patients and self.station_app.start_services)
        self._fill_patients()
        if medium is not None and medium.patients and self.proposing:
            self._status("Searching the archives for the local patient…")
            self.run_worker(lambda: self._propose(source, medium), thread=True,
                            exclusive=True, group="propose", exit_on_error=False)

    @on(Input.Submitted, "#import-source")
    def _source_submitted(self) -> None:
        self.action_read()

    def action_read(self) -> None:
        source = self.query_one("#import-source", Input).value.strip()
        if not source:
            self.notify("Type where the medium is (a folder, an .iso file, /dev/sr0), or "
                        "insert it.", severity="warning")
            return
        self.source = source
        self._status(f"Reading {source}…")
        self.run_worker(lambda: self._read(source), thread=True, exclusive=True,
                        group="read-medium", exit_on_error=False)

    def _read(self, source: str) -> None:  # worker thread
        station = self.station_app.station

        def progress(done: int, total: int) -> None:
            self.post_message(msg.MediumReading(source, done, total))

        try:
            medium = station.read_medium(source, progress=progress)
        except MediumError as exc:
            self.post_message(msg.MediumRead(source, None, str(exc)))
            return
        self.post_message(msg.MediumRead(source, medium))

    def on_medium_reading(self, message: msg.MediumReading) -> None:
        if message.source == self.source and self.medium is None:
            self._status(f"Reading {message.source}… {message.done} of {message.total} files")

    def on_medium_read(self, message: msg.MediumRead) -> None:
        if message.source != self.source:
            return
        if message.medium is None:
            self._show(message.source, None)
            self.query_one(MediumTree).show(None, note="It cannot be read.")
            self._status(message.problem, "bold red")
            return
        self._show(message.source, message.medium)
        if not message.medium.patients:
            self._status("Nothing to import here.", "yellow")

    def _propose(self, source: str, medium: Medium) -> None:  # worker thread
        try:
            found = tuple(self.station_app.station.propose_patients(medium))
        except Exception as exc:  # no archive configured, ...
            self.post_message(msg.Notice(f"The archives could not be searched: {exc}",
                                         "warning"))
            found = ()
        self.post_message(msg.PatientsProposed(source, found))

    def on_patients_proposed(self, message: msg.PatientsProposed) -> None:
        if message.source != self.source:
            return
        self.proposals, self.proposing = message.proposals, False
        self._fill_patients()
        proposal = self._proposal()
        n = len(proposal.candidates) if proposal else 0
        self._status(f"{fmt.count(n, 'local patient')} found by name and birth date."
                     + (" Check the one chosen, then F8." if n else
                        " Type the local patient ID, or keep the outside identifiers."))

    # -- the local patient ------------------------------------------------------------------

    def _proposal(self) -> Proposal | None:
        return self.proposals[self.chosen] if self.chosen < len(self.proposals) else None

    def _fill_patients(self) -> None:
        options = self.query_one("#import-patients", OptionList)
        options.clear_options()
        if self.medium is None or not self.medium.patients:
            options.add_option(Option("Nothing to import yet.", disabled=True))
            return
        proposal = self._proposal()
        best = 0
        if proposal is not None:
            for i, c in enumerate(proposal.candidates):
                options.add_option(Option(candidate_label(c), id=f"c{i}"))
                if c is proposal.best:
                    best = i
            for error in proposal.errors:
                options.add_option(Option(Text(error, style="red"), disabled=True))
        if self.proposing:
            options.add_option(Option(Text("searching the archives…", style="italic"),
                                      disabled=True))
        options.add_option(Option("Another local patient: type the ID below", id=TYPED))
        options.add_option(Option("Keep the outside identifiers (as on the medium)", id=KEEP))
        typed = options.get_option_index(TYPED)
        options.highlighted = best if proposal is not None and proposal.best else typed

    @on(Input.Changed, "#local-id")
    def _typed(self, event: Input.Changed) -> None:
        if event.value.strip():
            options = self.query_one("#import-patients", OptionList)
            if self.medium is not None and self.medium.patients:
                options.highlighted = options.get_option_index(TYPED)

    def action_next_patient(self) -> None:
        if self.medium is None or len(self.medium.patients) < 2:
            self.notify("The medium holds one patient.")
            return
        self.chosen = (self.chosen + 1) % len(self.medium.patients)
        self.query_one(MediumTree).show(self.medium, self.chosen)
        self._fill_patients()

    def _local(self) -> LocalPatient | None:
        """The identity chosen (None: keep the outside ones); PlanError when typed wrong."""
        options = self.query_one("#import-patients", OptionList)
        index = options.highlighted
        chosen = options.get_option_at_index(index).id if index is not None else None
        if chosen == KEEP:
            return None
        if chosen is not None and chosen.startswith("c"):
            proposal = self._proposal()
            assert proposal is not None
            return proposal.candidates[int(chosen[1:])].local()
        return LocalPatient(self.query_one("#local-id", Input).value.strip(),
                            name=self.query_one("#local-name", Input).value.strip())

    # -- importing ------------------------------------------------------------------------

    def action_import_now(self) -> None:
        medium = self.medium
        if medium is None or not medium.patients:
            self.notify("Read a medium holding DICOM files first.", severity="warning")
            return
        if self._creating:
            return
        station = self.station_app.station
        outside = medium.patients[self.chosen]
        try:
            local = self._local()
            plan = station.import_plan(local, self.query_one(Choice).value,
                                       [s.study_uid for s in outside.studies])
        except PlanError as exc:
            self.notify(f"{exc}.", severity="error")
            return
        images = sum(s.instance_count for s in outside.studies)
        who = (f"as local patient {local.patient_id} ({fmt.person_name(local.name)})"
               if local is not None and local.name else
               f"as local patient {local.patient_id}" if local is not None else
               "keeping the outside identifiers")
        question = (f"Import {fmt.count(len(outside.studies), 'study', 'studies')} "
                    f"({fmt.count(images, 'image')}) of {fmt.person_name(outside.name)} "
                    f"({outside.patient_id or 'no ID'}) {who} into {plan.destination}?")

        def answered(yes: bool | None) -> None:
            if yes:
                self._creating = True
                self.run_worker(lambda: self.post_message(msg.JobCreated(
                    station.create_import_job(medium.source, plan, medium))), thread=True,
                    group="create-import", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(question), answered)

    def on_job_created(self, message: msg.JobCreated) -> None:
        self._creating = False
        self.station_app.jobs[message.job.id] = message.job
        self.station_app.go(Route.WRITING, job_id=message.job.id)

    def on_worker_state_changed(self, event: Any) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "create-import" and event.state.name in ("ERROR",
                                                                           "CANCELLED"):
            self._creating = False
