"""The search screen: the spec's keys as a form, where to search, the studies found."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from mw_tui.station.local import LOCAL, name_pattern
from mw_tui.station.models import (
    ArchiveOutcome,
    QueryError,
    SearchResult,
    StudyQuery,
    StudyResult,
    UnknownArchive,
    no_archives,
)
from mw_tui.station.search import SearchSession
from mw_tui.ui import messages as msg
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.archive_status import ArchiveStatus
from mw_tui.ui.widgets.choice import Choice
from mw_tui.ui.widgets.study_table import StudyTable

ALL = "*all*"
# (label, days back; None = any date)
DATE_PRESETS: tuple[tuple[str, int | None], ...] = (
    ("any date", None), ("today", 0), ("last 7 days", 6), ("last 30 days", 29))
SEXES = [("any", ""), ("F", "F"), ("M", "M"), ("O", "O")]


class SearchScreen(StationScreen):
    """Enter (or F5) searches the chosen archives and this station at once."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("enter", "search", "Search", show=False),
        Binding("f5", "search", "Search"),
        Binding("f6", "date_preset", "Dates"),
        Binding("f7", "clear", "Clear"),
        Binding("f8", "review", "Review ▸"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.searcher: SearchSession | None = None
        self.pending = False  # a search was asked for before the station was ready
        self._buffer: list[tuple[int, StudyResult]] = []
        self._lock = threading.Lock()
        self._generation = 0
        self._preset = 0
        self._started = 0.0

    def body(self) -> ComposeResult:
        with Vertical(id="form"):
            with Horizontal(classes="row"):
                yield Label("Name", classes="key")
                yield Input(id="name", placeholder="family^given, * ?", compact=True)
                yield Label("ID", classes="key")
                yield Input(id="patient_id", compact=True)
                yield Label("Born", classes="key")
                yield Input(id="birth_date", placeholder="YYYYMMDD", compact=True,
                            max_length=10)
                yield Label("Sex", classes="key")
                yield Choice(SEXES, "", id="sex")
            with Horizontal(classes="row"):
                yield Label("Acc.", classes="key")
                yield Input(id="accession", compact=True, max_length=16)
                yield Label("Date", classes="key", id="date-label")
                yield Input(id="study_date", placeholder="YYYYMMDD-YYYYMMDD", compact=True)
                yield Label("Mod", classes="key")
                yield Input(id="modality", placeholder="CT", compact=True, max_length=16)
                yield Label("In", classes="key")
                yield Choice([("everywhere", ALL)], ALL, id="source")
        yield ArchiveStatus(id="archive-status")
        yield StudyTable(id="results")
        yield Label("", id="selection")

    def on_mount(self) -> None:
        super().on_mount()
        self.station_app.config_signal.subscribe(self, self._config_changed)
        self.station_app.ready_signal.subscribe(self, self._station_ready)
        self._config_changed(None)
        self.query_one("#name", Input).focus()
        self._update_selection(())

    def on_unmount(self) -> None:
        if self.searcher is not None:
            self.searcher.stop(timeout=0)

    # -- where to search ---------------------------------------------------------------

    def _config_changed(self, _data: object) -> None:
        archives = [a.name for a in self.station_app.config.archives]
        options = [("everywhere", ALL), *((a, a) for a in archives), (LOCAL, LOCAL)]
        self.query_one("#source", Choice).set_options(options)

    def _targets(self) -> tuple[list[str], bool]:
        """(archives to ask, search this station too)."""
        value = self.query_one("#source", Choice).value
        archives = [a.name for a in self.station_app.config.archives]
        if value == ALL:
            return archives, True
        if value == LOCAL:
            return [], True
        return [str(value)], False

    def _searcher(self) -> SearchSession:
        config = self.station_app.config
        if self.searcher is None or self.searcher.config is not config:
            if self.searcher is not None:
                self.searcher.cancel()
            self.searcher = self.station_app.station.searcher(
                on_result=self._result, on_outcome=self._outcome, on_done=self._done)
        return self.searcher

    # -- searching ------------------------------------------------------------------------

    def build_query(self) -> StudyQuery:
        def value(field: str) -> str:
            return self.query_one(f"#{field}", Input).value

        sex = self.query_one("#sex", Choice).value
        return StudyQuery.from_text(
            patient_name=name_pattern(value("name")), patient_id=value("patient_id"),
            accession=value("accession"), birth_date=value("birth_date"),
            sex=str(sex) if sex else "", study_date=value("study_date"),
            modality=value("modality"))

    @on(Input.Submitted)
    def action_search(self) -> None:
        status = self.query_one(ArchiveStatus)
        if not self.station_app.ready:  # kept, and run once the station is ready
            self.pending = True
            status.message("The station is starting… the search runs as soon as it is "
                           "ready.", "running")
            return
        try:
            query = self.build_query()
        except QueryError as exc:
            status.message(str(exc))
            return
        archives, local = self._targets()
        if query.is_empty and archives:
            status.message("Type a name, an ID, an accession number or a date first (an "
                           "empty search would list the whole archive). `*` as the name "
                           "lists everything.", "hint")
            return
        if not archives and not local:
            status.message(no_archives())
            return
        self._run(query, archives, local)

    def _station_ready(self, _data: object) -> None:
        """A search asked for while the station started runs now (with the archives it
        knows by now: the demo archive is added as the station starts)."""
        if self.pending:
            self.pending = False
            self.action_search()

    def _run(self, query: StudyQuery, archives: list[str], local: bool) -> None:
        status = self.query_one(ArchiveStatus)
        table = self.query_one(StudyTable)
        self._generation += 1
        with self._lock:
            self._buffer.clear()
        table.clear_results()
        self._started = time.monotonic()
        status.start([*archives, *([LOCAL] if local else [])])
        try:
            self._searcher().submit(query, archives, local)
        except UnknownArchive as exc:
            status.message(str(exc))

    def _result(self, study: StudyResult) -> None:  # search threads
        with self._lock:
            self._buffer.append((self._generation, study))
        self.post_message(msg.SearchResultsPending())

    def _outcome(self, outcome: ArchiveOutcome) -> None:  # search threads
        self.post_message(msg.SearchOutcome(outcome))

    def _done(self, result: SearchResult) -> None:  # search thread
        self.post_message(msg.SearchFinished(result))

    def on_search_results_pending(self, _message: msg.SearchResultsPending) -> None:
        with self._lock:
            batch = [s for g, s in self._buffer if g == self._generation]
            self._buffer.clear()
        if batch:
            table = self.query_one(StudyTable)
            had = bool(table.studies)
            table.merge(batch)
            if not had and not isinstance(self.focused, Input | Choice):
                table.focus()

    def on_search_outcome(self, message: msg.SearchOutcome) -> None:
        self.query_one(ArchiveStatus).outcome(message.outcome)
        self._update_selection(tuple(self.query_one(StudyTable).marked))

    def on_search_finished(self, message: msg.SearchFinished) -> None:
        table = self.query_one(StudyTable)
        if table.studies and self.focused is not table:
            table.focus()

    # -- the form -------------------------------------------------------------------------

    def action_date_preset(self) -> None:
        self._preset = (self._preset + 1) % len(DATE_PRESETS)
        label, days = DATE_PRESETS[self._preset]
        field = self.query_one("#study_date", Input)
        if days is None:
            field.value = ""
        else:
            today = datetime.date.fromtimestamp(self.station_app.clock())
            start = today - datetime.timedelta(days=days)
            field.value = (f"{today:%Y%m%d}" if days == 0 else
                           f"{start:%Y%m%d}-{today:%Y%m%d}")
        self.query_one("#date-label", Label).update("Date" if days is None else "Date*")
        self.notify(f"Study date: {label}", timeout=2)

    def action_clear(self) -> None:
        """A new patient: empty form, no results."""
        self.pending = False
        for field in self.query(Input):
            field.value = ""
        self.query_one("#sex", Choice).value = ""
        self._preset = 0
        self.query_one("#date-label", Label).update("Date")
        self._generation += 1
        if self.searcher is not None:
            self.searcher.cancel()
        self.query_one(StudyTable).clear_results()
        self.query_one(ArchiveStatus).clear_all()
        self.query_one("#name", Input).focus()

    # -- choosing -------------------------------------------------------------------------

    @on(StudyTable.MarksChanged)
    def _marks(self, event: StudyTable.MarksChanged) -> None:
        self._update_selection(event.marked)

    def _update_selection(self, marked: tuple[str, ...]) -> None:
        table = self.query_one(StudyTable)
        found = len(table.studies)
        text = f"{found} stud{'y' if found == 1 else 'ies'} found" if found else ""
        if marked:
            text += f" · {len(marked)} marked"
        if found:
            text += " · Space marks, F8 reviews"
        self.query_one("#selection", Label).update(Text(text))

    @on(StudyTable.RowSelected)
    def _row_chosen(self, _event: StudyTable.RowSelected) -> None:
        self.action_review()

    def action_review(self) -> None:
        chosen = self.query_one(StudyTable).chosen()
        if not chosen:
            self.notify("Search, then mark the studies to write with Space.", timeout=4)
            return
        self.station_app.go(Route.REVIEW, studies=chosen)
