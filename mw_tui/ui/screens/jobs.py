"""Every job: running ones on top, then the history; Enter shows one live."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label

from mw_tui.station.models import Job, JobState, TargetKind
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.column_table import Column, ColumnTable
from mw_tui.util import text as fmt

STATE_STYLES = {JobState.DONE: "green", JobState.FAILED: "bold red",
                JobState.CANCELLED: "yellow", JobState.WAITING_FOR_MEDIA: "bold reverse"}


class JobTable(ColumnTable):
    COLUMNS = (
        Column("id", "#", 4, right=True),
        Column("state", "State", 12),
        Column("patient", "Patient", 14, 2),
        Column("target", "Target", 9, 1),
        Column("progress", "Done", 6, right=True),
        Column("updated", "Updated", 12),
        Column("note", "Note", 10, 3),
    )
    BINDINGS: ClassVar[list[Any]] = [Binding("enter", "select_cursor", "Show")]


SHORT_STATES = {JobState.WAITING_FOR_MEDIA: "needs media"}


def short_target(job: Job) -> str:
    """disc sr0, usb sdb, ISO file, cloud NAME; an import: → its archive."""
    target = job.target
    if target is None:
        return f"→ {job.destination}"
    if target.kind is TargetKind.ISO:
        return "ISO file"
    where = target.where.rsplit("/", 1)[-1]
    return f"{target.kind.value} {where}".strip()


class JobsScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("c", "cancel_job", "Cancel job"),
    ]

    def body(self) -> ComposeResult:
        yield Label("Jobs: running first, then the history", id="jobs-title")
        yield JobTable(id="jobs")
        yield Label("", id="jobs-count")

    def on_mount(self) -> None:
        super().on_mount()
        self.station_app.jobs_signal.subscribe(self, self._job_changed)
        self.refresh_rows()
        self.query_one(JobTable).focus()

    def cells(self, job: Job) -> tuple[str | Text, ...]:
        frac = job.progress.fraction
        progress = "" if job.state.finished else (
            f"{frac * 100:.0f}%" if frac is not None else "…")
        asker = job.options.requested_by_ae  # a RIS or PACS that asked over DICOM
        note = job.error or job.progress.message or (
            f"{len(job.volumes)} medi{'um' if len(job.volumes) == 1 else 'a'}"
            if job.volumes else "")
        if asker:
            note = (f"{asker} has not started it yet" if job.state is JobState.HELD
                    else f"for {asker}: {note}" if note else f"for {asker}")
        state = SHORT_STATES.get(job.state, job.state.value)
        return (str(job.id), Text(state, style=STATE_STYLES.get(job.state, "bold")),
                fmt.person_name(job.patient_name), short_target(job), progress,
                fmt.clock_time(job.updated_at, self.station_app.clock()), note)

    def ordered(self) -> list[Job]:
        jobs = list(self.station_app.jobs.values())
        return sorted(jobs, key=lambda j: (j.state.finished, -j.id))

    def refresh_rows(self) -> None:
        jobs = self.ordered()
        self.query_one(JobTable).set_rows([(str(j.id), self.cells(j)) for j in jobs])
        running = sum(1 for j in jobs if not j.state.finished)
        self.query_one("#jobs-count", Label).update(
            f"{fmt.count(len(jobs), 'job')}, {running} running" if jobs else
            "No job yet: search (F2), mark studies, then write them (F8).")

    def _job_changed(self, job: Job | None) -> None:
        table = self.query_one(JobTable)
        if job is not None and str(job.id) in table.row_keys:
            table.upsert(str(job.id), self.cells(job))
        else:
            self.refresh_rows()

    def _current(self) -> Job | None:
        key = self.query_one(JobTable).current_key
        return self.station_app.jobs.get(int(key)) if key else None

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        job = self._current()
        if job is not None:
            self.station_app.go(Route.WRITING, job_id=job.id)

    def action_cancel_job(self) -> None:
        job = self._current()
        if job is None or job.state.finished:
            self.notify("Choose a running job.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(lambda: self.station_app.station.cancel_job(job.id),
                                thread=True, group="cancel", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(f"Cancel job {job.id} ({job.state.value})?"),
                             answered)
