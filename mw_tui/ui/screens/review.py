"""Review before writing: the studies (series on demand), target, profile, copies,
reports, the size against the medium, and the label."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, OptionList, Static, Tree

from mw_tui.station.labels import LabelProblem
from mw_tui.station.models import Profile, StudyResult
from mw_tui.station.plan import MediumPlan, Severity
from mw_tui.station.targets import default_profile
from mw_tui.ui import messages as msg
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.label_preview import LabelPreview
from mw_tui.ui.widgets.target_list import TargetList
from mw_tui.util import text as fmt


class ReviewScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back"),
        Binding("f8", "burn", "Write ▸"),
        Binding("s", "series", "Series"),
        Binding("t", "focus_targets", "Target"),
        Binding("p", "next_profile", "Profile"),
        Binding("plus,equals_sign", "copies(1)", "Copies+", key_display="+"),
        Binding("minus", "copies(-1)", "Copies-", key_display="-"),
        Binding("r", "reports", "Reports"),
        Binding("d", "copy", "Copy"),
    ]

    def __init__(self, studies: list[StudyResult]) -> None:
        super().__init__()
        self.studies = list(studies)
        self.target: str | None = None  # the chosen target, as text
        self.profile: Profile | None = None
        self.copies = 1
        self.left_out: set[str] = set()  # studies whose reports stay off the medium
        self.report_counts: dict[str, int | None] = {}
        self.plan: MediumPlan | None = None
        self.anonymize = ""  # "": the studies as stored; else a de-identification profile
        self._series_asked: set[str] = set()
        self._creating = False

    def body(self) -> ComposeResult:
        yield Label("", id="review-title")
        yield Tree("Studies", id="studies")
        with Horizontal(id="review-options"):
            with Vertical(id="review-left"):
                yield Label("Write to (↑↓ chooses):", classes="caption")
                yield TargetList(id="targets")
                yield Button("", id="profile", compact=True)
                yield Button("", id="copies", compact=True)
                yield Button("", id="reports", compact=True)
                yield Button("", id="copy", compact=True)
            yield LabelPreview(id="label")
        yield Static("", id="fit")

    def on_mount(self) -> None:
        super().on_mount()
        app = self.station_app
        app.devices_signal.subscribe(self, self._devices_changed)
        app.config_signal.subscribe(self, self._devices_changed)
        app.store_signal.subscribe(self, lambda _rows: self._update())
        tree = self.query_one(Tree)
        tree.show_root = False
        for s in self.studies:
            tree.root.add(self._study_label(s), data=s.study_uid, allow_expand=True)
            if app.start_services:
                self.run_worker(lambda s=s: self._count_reports(s), thread=True,
                                group="reports", exit_on_error=False)
        patients = {(s.patient_name, s.patient_id) for s in self.studies}
        first = self.studies[0]
        who = (fmt.person_name(first.patient_name) if len(patients) == 1
               else f"{len(patients)} patients")
        self.query_one("#review-title", Label).update(
            Text(f"Write {fmt.count(len(self.studies), 'study', 'studies')} of {who}"))
        self._devices_changed(None)
        self.query_one(TargetList).focus()

    def _study_label(self, s: StudyResult) -> Text:
        text = Text(fmt.person_name(s.patient_name), style="bold")
        text.append(f"  {'/'.join(s.modalities)} {fmt.dicom_date(s.study_date)} "
                    f"{s.description}  ")
        text.append(f"{fmt.count(s.instances, 'image')} · {', '.join(s.archives)}",
                    style="dim")
        if s.study_uid in self.left_out:
            text.append("  · reports left out", style="yellow")
        elif s.study_uid in self.report_counts:
            n = self.report_counts[s.study_uid]
            text.append("  · reports: ?" if n is None else
                        f"  · {fmt.count(n, 'report')}", style="dim" if not n else "")
        return text

    # -- reports ----------------------------------------------------------------------------

    def _count_reports(self, study: StudyResult) -> None:  # worker thread
        n = self.station_app.station.count_reports(study)
        self.post_message(msg.ReportsCounted(study.study_uid, n))

    def on_reports_counted(self, message: msg.ReportsCounted) -> None:
        self.report_counts[message.study_uid] = message.count
        self._relabel(message.study_uid)

    def _relabel(self, study_uid: str) -> None:
        tree = self.query_one(Tree)
        study = next(s for s in self.studies if s.study_uid == study_uid)
        for node in tree.root.children:
            if node.data == study_uid:
                node.set_label(self._study_label(study))

    # -- series drill-down ----------------------------------------------------------------

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[str]) -> None:
        uid = event.node.data
        if uid is None or uid in self._series_asked:
            return
        self._series_asked.add(uid)
        study = next(s for s in self.studies if s.study_uid == uid)
        event.node.add_leaf(Text("listing the series…", style="italic dim"))
        self.run_worker(lambda: self._list_series(study), thread=True, group="series",
                        exit_on_error=False)

    def _list_series(self, study: StudyResult) -> None:  # worker thread
        found = self.station_app.station.series_of(study)
        self.post_message(msg.SeriesListed(study.study_uid, local=found.local,
                                           remote=found.remote, problem=found.problem))

    def on_series_listed(self, message: msg.SeriesListed) -> None:
        tree = self.query_one(Tree)
        node = next((n for n in tree.root.children if n.data == message.study_uid), None)
        if node is None:
            return
        node.remove_children()
        for r in message.local:
            node.add_leaf(f"{r.modality} #{r.series_number} {r.description}  "
                          f"{fmt.count(r.instances, 'image')}, {fmt.human_size(r.size_bytes)}")
        for s in message.remote:
            node.add_leaf(f"{s.modality} #{s.number} {s.description}  "
                          f"{fmt.count(s.instances, 'image')}")
        if message.problem:
            node.add_leaf(Text(message.problem, style="red"))

    # -- choices --------------------------------------------------------------------------

    def _devices_changed(self, _data: object) -> None:
        app = self.station_app
        if app.config.publishers:  # their state is read from their job folders
            def find() -> None:
                self.post_message(msg.TargetsFound(tuple(app.station.targets(app.device_list))))

            self.run_worker(find, thread=True, exclusive=True, group="targets",
                            exit_on_error=False)
            return
        self._show_targets(app.station.targets(app.device_list))

    def on_targets_found(self, message: msg.TargetsFound) -> None:
        self._show_targets(list(message.targets))

    def _show_targets(self, found: list[Any]) -> None:
        app = self.station_app
        if self.target is None or self.target not in {str(c.target) for c in found}:
            chosen = app.station.default_target(found)
            self.target = str(chosen.target) if chosen else None
        self.query_one(TargetList).show(found, self.target)
        self._update()

    @on(OptionList.OptionHighlighted, "#targets")
    def _target_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        chosen = self.query_one(TargetList).chosen
        if chosen is not None and str(chosen.target) != self.target:
            self.target = str(chosen.target)
            self._update()

    @on(OptionList.OptionSelected, "#targets")
    def _target_selected(self, _event: OptionList.OptionSelected) -> None:
        self.action_burn()

    def _choice(self) -> Any:
        return self.query_one(TargetList).chosen

    def action_series(self) -> None:
        """The series of the study under the tree's cursor (again: folded)."""
        tree = self.query_one(Tree)
        tree.focus()
        node = tree.cursor_node or (tree.root.children[0] if tree.root.children else None)
        while node is not None and node.parent is not None and node.parent is not tree.root:
            node = node.parent
        if node is not None and node is not tree.root:
            node.toggle()

    def action_focus_targets(self) -> None:
        self.query_one(TargetList).focus()

    def action_next_profile(self) -> None:
        choice = self._choice()
        allowed = choice.writer.profiles if choice else ()
        if not allowed:
            self.notify("This target takes the images as they are (no media profile).")
            return
        i = allowed.index(self.profile) if self.profile in allowed else -1
        self.profile = allowed[(i + 1) % len(allowed)]
        self._update()

    def action_copies(self, delta: int) -> None:
        choice = self._choice()
        if choice is not None and not choice.writer.makes_copies:
            self.copies = 1
            self.notify("An ISO file or an upload is made once; copies are for discs and "
                        "sticks.", timeout=4)
        else:
            self.copies = max(1, min(99, self.copies + delta))
        self._update()

    def action_reports(self) -> None:
        """Reports on or off: for the study under the tree's cursor when the tree has the
        focus, else for every study."""
        tree = self.query_one(Tree)
        node = tree.cursor_node if tree.has_focus else None
        while node is not None and node.parent is not None and node.parent is not tree.root:
            node = node.parent
        if node is not None and node.data:
            uids = {str(node.data)}
        else:
            uids = {s.study_uid for s in self.studies}
            if not uids <= self.left_out:  # some included: leave them all out
                self.left_out |= uids
                uids = set()
        for uid in uids:
            self.left_out ^= {uid}
        for s in self.studies:
            self._relabel(s.study_uid)
        self._update()

    @on(Button.Pressed, "#profile")
    def _profile_pressed(self) -> None:
        self.action_next_profile()

    @on(Button.Pressed, "#copies")
    def _copies_pressed(self) -> None:
        self.action_copies(1 if self.copies < 5 else -(self.copies - 1))

    @on(Button.Pressed, "#reports")
    def _reports_pressed(self) -> None:
        self.action_reports()

    @on(Button.Pressed, "#copy")
    def _copy_pressed(self) -> None:
        self.action_copy()

    def action_copy(self) -> None:
        """The studies as stored, or anonymous copies with each profile in turn."""
        offered = self.station_app.station.copies_offered()
        i = offered.index(self.anonymize) if self.anonymize in offered else -1
        self.anonymize = offered[(i + 1) % len(offered)]
        self._update()

    # -- size and label -------------------------------------------------------------------

    def _update(self) -> None:
        app = self.station_app
        choice = self._choice()
        allowed = choice.writer.profiles if choice else ()
        if self.profile not in allowed:
            self.profile = (default_profile(choice.writer, app.config.media.default_profile)
                            if choice else None)
        self.query_one("#profile", Button).label = (
            f"Profile: {self.profile.value if self.profile else 'as received'} (p)")
        self.query_one("#copies", Button).label = f"Copies: {self.copies} (+/-)"
        self.query_one("#copy", Button).label = (
            f"Anonymous: {self.anonymize} (d)" if self.anonymize else "Patient copy (d)")
        out = len(self.left_out)
        self.query_one("#reports", Button).label = (
            "Reports: included (r)" if not out else "Reports: left out (r)"
            if out == len(self.studies) else
            f"Reports: for {len(self.studies) - out} of {len(self.studies)} studies (r)")
        plan = app.station.plan(self.studies, app.store_rows, choice, self.profile)
        self.plan = plan
        text = Text()
        fit = plan.fit
        if fit is not None:
            text.append(f"Size {'' if fit.exact else '≈ '}{fmt.human_size(fit.total)}")
            if not fit.exact:
                text.append(" (estimated: not all images are on this station yet)", style="dim")
            if fit.media and fit.capacity is not None:
                text.append(f" → {fit.media} × {fit.medium} ({fmt.human_size(fit.capacity)} "
                            "each)")
        for p in plan.problems:
            text.append("\n")
            text.append(p.text, style="bold red" if p.severity is Severity.ERROR else "yellow")
        warning = app.station.burned_in_warning(self.anonymize, self.studies)
        if warning:
            text.append("\n")
            text.append(warning, style="yellow")
        if choice is not None and not self.anonymize:
            why = app.station.confirmation_needed(choice.target)
            if why:
                text.append("\n")
                text.append(why + " F8 asks first.", style="yellow")
        self.query_one("#fit", Static).update(text)
        preview = self.query_one(LabelPreview)
        try:
            preview.show(app.station.label_preview(self.studies, plan.media,
                                                   bool(self.anonymize), when=app.clock()))
        except LabelProblem as exc:
            preview.show((), f"No label: {exc}")

    # -- go -------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_burn(self) -> None:
        choice = self._choice()
        plan = self.plan
        blocked = plan.blocked if plan is not None else "Choose where to write first."
        if choice is None or blocked:
            self.notify(blocked, severity="warning" if choice is None else "error")
            return
        if self._creating:
            return
        why = self.station_app.station.confirmation_needed(choice.target, self.anonymize)
        if why:
            def answered(yes: bool | None) -> None:
                if yes:
                    self._create(choice, confirmed=True)

            self.app.push_screen(ConfirmScreen(f"{why}\n\nSend identified data to "
                                               f"{choice.target}?"), answered)
            return
        self._create(choice)

    def _create(self, choice: Any, confirmed: bool = False) -> None:
        self._creating = True
        station = self.station_app.station
        studies = list(self.studies)
        first = studies[0]
        profile = (self.profile or Profile(self.station_app.config.media.default_profile)).value
        target, copies, left_out = choice.target, self.copies, set(self.left_out)
        anonymize = self.anonymize

        def create() -> None:
            located = station.locate([s.study_uid for s in studies], known=studies,
                                     without_reports=left_out)
            if located.problems:
                raise RuntimeError("; ".join(located.problems))
            job = station.create_job(located.refs, target, profile=profile, copies=copies,
                                     patient_name=first.patient_name,
                                     patient_id=first.patient_id, anonymize=anonymize,
                                     confirmed_identified=confirmed)
            self.post_message(msg.JobCreated(job))

        self.run_worker(create, thread=True, group="create-job", exit_on_error=False)

    def on_job_created(self, message: msg.JobCreated) -> None:
        self.station_app.jobs[message.job.id] = message.job
        self.station_app.go(Route.WRITING, replace=True, job_id=message.job.id)

    def on_worker_state_changed(self, event: Any) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "create-job" and event.state.name in ("ERROR", "CANCELLED"):
            self._creating = False
