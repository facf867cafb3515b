"""One job, live: its steps, what it waits for (a blank disc...), the devices, the result
(an import job: reading the medium, sending, the check on the archive)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from mw_tui.station.models import (
    IMPORT_STEPS,
    STEPS,
    Job,
    JobKind,
    JobState,
    devices_for,
    writer_class,
)
from mw_tui.ui import messages as msg
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.job_progress import JobProgress
from mw_tui.util import text as fmt


def reached_step(events: tuple[tuple[float, str, str], ...]) -> JobState | None:
    """The last step a job was in, from its history."""
    for _at, state, _message in reversed(events):
        try:
            s = JobState(state)
        except ValueError:
            continue
        if s in STEPS or s in IMPORT_STEPS or s is JobState.WAITING_FOR_MEDIA:
            return s
    return None


class BurnScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back"),
        Binding("e", "eject", "Eject"),
        Binding("c", "cancel_job", "Cancel job"),
        Binding("a", "again", "Write again"),
        Binding("n", "new_search", "New search"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.events: tuple[tuple[float, str, str], ...] = ()
        self._events_state: JobState | None = None

    def body(self) -> ComposeResult:
        yield Label("", id="job-title")
        yield Static("", id="job-what")
        yield JobProgress(id="steps")
        yield Static("", id="prompt")
        yield Static("", id="devices")
        yield Static("", id="result")
        yield Static("", id="history")

    @property
    def job(self) -> Job | None:
        return self.station_app.jobs.get(self.job_id)

    def on_mount(self) -> None:
        super().on_mount()
        app = self.station_app
        app.jobs_signal.subscribe(self, self._job_signal)
        app.devices_signal.subscribe(self, lambda _d: self._show())
        self._show()
        self._load_events()

    def _job_signal(self, job: Job | None) -> None:
        if job is None or job.id == self.job_id:
            self._show()
            if job is None or job.state is not self._events_state:
                self._load_events()

    def _load_events(self) -> None:
        job = self.job
        self._events_state = job.state if job else None
        self.run_worker(self._read_events, thread=True, exclusive=True, group="job-events",
                        exit_on_error=False)

    def _read_events(self) -> None:  # worker thread
        events = self.station_app.station.job_history(self.job_id)
        self.post_message(msg.JobEventsLoaded(self.job_id, tuple(events)))

    def on_job_events_loaded(self, message: msg.JobEventsLoaded) -> None:
        if message.job_id == self.job_id:
            self.events = message.events
            self._show()

    # -- drawing --------------------------------------------------------------------------

    def _show(self) -> None:
        job = self.job
        title = self.query_one("#job-title", Label)
        if job is None:
            title.update(f"Job {self.job_id}: loading…")
            return
        state_style = {"done": "bold green", "failed": "bold red",
                       "cancelled": "bold yellow"}.get(job.state.value, "bold")
        text = Text(f"Job {job.id} · ")
        text.append(job.state.value.upper(), style=state_style)
        text.append(f" · {fmt.person_name(job.patient_name)} · "
                    + (f"import into {job.destination}" if job.kind is JobKind.IMPORT
                       else f"to {job.target}"))
        title.update(text)
        request = job.options.importing
        if request is not None:
            what = (f"{fmt.count(len(job.studies), 'study', 'studies')} from "
                    f"{request.medium or request.source}")
        else:
            what = (f"{fmt.count(len(job.studies), 'study', 'studies')}, profile "
                    f"{job.profile}, {fmt.count(job.copies, 'copy', 'copies')}")
        if job.requested_by:
            what += f" · by {job.requested_by}"
        self.query_one("#job-what", Static).update(Text(what))
        reached = reached_step(self.events) if job.state.finished else None
        self.query_one(JobProgress).show(job, reached)
        self._show_prompt(job)
        self._show_devices(job)
        self._show_result(job)
        self._show_history()

    def _show_prompt(self, job: Job) -> None:
        prompt = self.query_one("#prompt", Static)
        if job.state is JobState.WAITING_FOR_MEDIA:
            prompt.update(Text(job.progress.message or "Insert a blank medium.",
                               style="bold reverse"))
            prompt.display = True
        elif not job.state.finished and job.next_try_at > self.station_app.clock():
            prompt.update(Text(f"Waiting to try again ({job.error})", style="yellow"))
            prompt.display = True
        else:
            prompt.display = False

    def _show_devices(self, job: Job) -> None:
        box = self.query_one("#devices", Static)
        writer = writer_class(job.target.kind) if job.target is not None else None
        if job.target is None or writer is None or writer.device_type is None:
            box.display = False
            return
        devices = devices_for(job.target, self.station_app.device_list)
        lines = [d.describe() for d in devices] or [f"No {writer.device_noun} found."]
        box.update(Text("\n".join(lines)))
        box.display = True

    def _show_result(self, job: Job) -> None:
        box = self.query_one("#result", Static)
        if job.state is JobState.FAILED:
            box.update(Text(f"Failed: {job.error or 'no reason recorded'}", style="bold red"))
        elif job.state is JobState.CANCELLED:
            box.update(Text("Cancelled." + (f" {job.error}" if job.error else ""),
                            style="yellow"))
        elif job.volumes:
            text = Text()
            for v in job.volumes:
                verified = v.written >= job.copies
                text.append(f"{v.label}", style="bold")
                text.append(f" (medium {v.number} of {v.count}) {fmt.human_size(v.size)} · ")
                text.append(f"verified {v.written}/{job.copies}" if v.written else
                            "not written yet",
                            style="green" if verified else "")
                if v.md5:
                    text.append(f" · md5 {v.md5[:12]}…")
                if v.details:
                    text.append(f"\n  {v.details}", style="dim")
                text.append("\n")
            if job.state is JobState.DONE:
                if job.target is not None and writer_class(job.target.kind).removable:
                    text.append("Verified: safe to remove.", style="bold green")
                else:
                    text.append("Written and verified.", style="bold green")
            box.update(text)
        elif job.state is JobState.DONE and job.kind is JobKind.IMPORT:
            box.update(Text(f"Imported: {job.progress.message}", style="bold green"))
        elif job.state is JobState.DONE:
            box.update(Text("Done and verified.", style="bold green"))
        else:
            box.update("")

    def _show_history(self) -> None:
        lines = Text()
        for at, state, message in self.events[-6:]:
            if lines:
                lines.append("\n")
            lines.append(f"{fmt.clock_time(at, self.station_app.clock())} ", style="dim")
            lines.append(f"{state}: ", style="bold")
            lines.append(message)
        self.query_one("#history", Static).update(lines)

    # -- actions --------------------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_new_search(self) -> None:
        self.station_app.go(Route.NEW_SEARCH)

    def action_cancel_job(self) -> None:
        job = self.job
        if job is None or job.state.finished:
            self.notify("This job has already ended.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(lambda: self.station_app.station.cancel_job(self.job_id),
                                thread=True, group="cancel", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(f"Cancel job {job.id} ({job.state.value})?"),
                             answered)

    def action_again(self) -> None:
        """The same studies to the same target again (a failed job, or one more copy)."""
        job = self.job
        if job is None or not job.state.finished:
            self.notify("The job is still running.")
            return
        station = self.station_app.station

        def create() -> None:
            self.post_message(msg.JobCreated(station.write_again(job.id)))

        self.run_worker(create, thread=True, group="again", exit_on_error=False)

    def on_job_created(self, message: msg.JobCreated) -> None:
        self.station_app.jobs[message.job.id] = message.job
        self.station_app.go(Route.WRITING, replace=True, job_id=message.job.id)

    def action_eject(self) -> None:
        job = self.job
        if job is None or job.target is None or not writer_class(job.target.kind).can_eject:
            self.notify("Only a disc being written can be ejected here.")
            return
        if job.state in (JobState.WRITING, JobState.VERIFYING):
            self.notify("The disc is being written: wait until it is verified.",
                        severity="warning")
            return
        station, target = self.station_app.station, job.target

        def eject() -> None:
            said = station.eject(target)
            self.post_message(msg.Notice(said, "information" if said.startswith("Ejected")
                                         else "warning"))

        self.run_worker(eject, thread=True, group="eject", exit_on_error=False)
