"""Studies in this station (pushed by modalities, or retrieved), newest first, live."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label

from mw_tui.station.local import as_result
from mw_tui.station.models import StudyRow
from mw_tui.ui.navigation import Route
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.column_table import Column, ColumnTable
from mw_tui.util import text as fmt


class ReceivedTable(ColumnTable):
    COLUMNS = (
        Column("mark", "", 2),
        Column("received", "Received", 12),
        Column("source", "From", 7, 1),
        Column("patient", "Patient", 14, 3),
        Column("date", "Study date", 11),
        Column("description", "Description", 9, 3),
        Column("modalities", "Mod", 6),
        Column("instances", "Img", 5, right=True),
        Column("size", "Size", 9, right=True),
    )
    BINDINGS: ClassVar[list[Any]] = [Binding("space", "toggle_mark", "Mark")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.marked: list[str] = []

    def action_toggle_mark(self) -> None:
        if self.toggle_mark(self.marked) is not None:
            self.screen.refresh_rows()  # type: ignore[attr-defined]


class ReceivedScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("f8", "review", "Write ▸"),
    ]

    def body(self) -> ComposeResult:
        yield Label("Studies in this station (received or retrieved), newest first",
                    id="received-title")
        yield ReceivedTable(id="received")
        yield Label("", id="received-count")

    def on_mount(self) -> None:
        super().on_mount()
        self.station_app.store_signal.subscribe(self, self._studies_changed)
        self.refresh_rows()
        self.query_one(ReceivedTable).focus()

    def cells(self, r: StudyRow, marked: bool) -> tuple[str | Text, ...]:
        now = self.station_app.clock()
        return (Text("✓", style="bold") if marked else "", fmt.clock_time(r.created_at, now),
                ", ".join(r.sources) or "?", fmt.person_name(r.patient_name),
                fmt.dicom_date(r.study_date), r.description, "/".join(r.modalities),
                str(r.instances), fmt.human_size(r.size_bytes))

    def rows(self) -> list[StudyRow]:
        return sorted(self.station_app.store_rows.values(), key=lambda r: r.created_at,
                      reverse=True)

    def refresh_rows(self) -> None:
        table = self.query_one(ReceivedTable)
        rows = self.rows()
        table.set_rows([(r.study_uid, self.cells(r, r.study_uid in table.marked))
                        for r in rows])
        self._count()

    def _count(self) -> None:
        table = self.query_one(ReceivedTable)
        n = len(self.station_app.store_rows)
        text = f"{fmt.count(n, 'study', 'studies')}"
        if table.marked:
            text += f" · {len(table.marked)} marked"
        self.query_one("#received-count", Label).update(
            text + (" · Space marks, F8 writes to a medium" if n else
                    " · studies sent to this station appear here"))

    def _studies_changed(self, rows: tuple[StudyRow, ...]) -> None:
        """Only the studies that changed are redrawn; a new one goes on top."""
        table = self.query_one(ReceivedTable)
        known = set(table.row_keys)
        if len(rows) > 50 or not known:
            self.refresh_rows()
            return
        for r in sorted(rows, key=lambda r: r.created_at):
            table.upsert(r.study_uid, self.cells(r, r.study_uid in table.marked),
                         first=r.study_uid not in known)
        self._count()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_review()

    def action_review(self) -> None:
        table = self.query_one(ReceivedTable)
        rows = self.station_app.store_rows
        keys = table.marked or ([table.current_key] if table.current_key else [])
        chosen = [as_result(rows[k]) for k in keys if k in rows]
        if not chosen:
            self.notify("No study here yet.")
            return
        self.station_app.go(Route.REVIEW, studies=chosen)
