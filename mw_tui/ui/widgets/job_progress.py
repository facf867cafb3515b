"""A job's steps (retrieve, build, write, verify; an import: read, send, count), each
with a bar and the time left."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from mw_tui.station.models import Job, JobKind, JobState, steps_of
from mw_tui.util import text as fmt

SHOWN_STEPS = {
    JobKind.MEDIA: ((JobState.RETRIEVING, "Retrieve"), (JobState.BUILDING, "Build"),
                    (JobState.WRITING, "Write"), (JobState.VERIFYING, "Verify")),
    JobKind.IMPORT: ((JobState.READING, "Read"), (JobState.SENDING, "Send"),
                     (JobState.COUNTING, "Count")),
}


def step_position(state: JobState, kind: JobKind = JobKind.MEDIA) -> float:
    """Where a state is in the order of steps (waiting for media: just before writing)."""
    steps = steps_of(kind)
    if state is JobState.WAITING_FOR_MEDIA:
        return steps.index(JobState.WRITING) - 0.5
    return float(steps.index(state)) if state in steps else -1.0


def describe(job: Job) -> str:
    """The current step in words: what, how far (bytes as sizes), how fast, time left."""
    p = job.progress
    said = p.message if p.message.lower() not in (job.state.value, "") else ""
    parts = [said or ("" if p.total else "working…")]
    if p.total and p.total >= 1e6:  # bytes
        parts.append(f"{fmt.human_size(p.done)} of {fmt.human_size(p.total)}")
        if p.rate:
            parts.append(f"{fmt.human_size(p.rate)}/s")
    elif p.total and f"{p.done:g}" not in p.message:
        parts.append(f"{p.done:g} of {p.total:g}")
    left = fmt.duration(p.eta)
    if left:
        parts.append(f"{left} left")
    return " · ".join(x for x in parts if x)


class StepRow(Horizontal):
    DEFAULT_CSS = """
    StepRow { height: 1; }
    StepRow > .step-name { width: 10; }
    StepRow > ProgressBar { width: 26; }
    StepRow > ProgressBar > Bar { width: 20; }
    StepRow > .step-note { width: 1fr; }
    """

    def __init__(self, state: JobState, name: str, kind: JobKind) -> None:
        super().__init__(id=f"step-{state.name.lower()}")
        self.state = state
        self.step_name = name
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield Label(self.step_name, classes="step-name")
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)
        yield Label("", classes="step-note")


class JobProgress(Widget):
    """`show(job, reached)`: done steps are full, the current one moves. `reached` is the
    last step a finished (failed, cancelled) job was in."""

    DEFAULT_CSS = """
    JobProgress { height: auto; }
    """

    def compose(self) -> ComposeResult:
        for kind, steps in SHOWN_STEPS.items():
            for state, name in steps:
                yield StepRow(state, name, kind)

    def show(self, job: Job, reached: JobState | None = None) -> None:
        current = reached if reached is not None else job.state
        now = step_position(current, job.kind)
        for row in self.query(StepRow):
            row.display = row.kind is job.kind
            if not row.display:
                continue
            bar = row.query_one(ProgressBar)
            note = row.query_one(".step-note", Label)
            pos = steps_of(job.kind).index(row.state)
            if job.state is JobState.DONE or now > pos:
                bar.update(total=100, progress=100)
                note.update(Text("done ✓", style="green"))
            elif row.state is current:
                if job.state.finished:
                    bar.update(total=100, progress=(job.progress.fraction or 0) * 100)
                    note.update(Text(job.state.value, style="bold red"))
                    continue
                frac = job.progress.fraction
                bar.update(total=100, progress=round((frac or 0.0) * 100, 1))
                note.update(Text(describe(job)))
            else:
                bar.update(total=100, progress=0)
                note.update(Text("—", style="dim"))
