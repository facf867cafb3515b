"""The search results: one row per study, several can be marked, sortable by any column."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from mw_tui.station.models import StudyResult
from mw_tui.ui.widgets.column_table import Column, ColumnTable
from mw_tui.util import text as fmt

SORTS: dict[str, Callable[[StudyResult], Any]] = {
    "patient": lambda s: (fmt.person_name(s.patient_name).casefold(), s.study_date),
    "birth": lambda s: s.birth_date,
    "date": lambda s: (s.study_date, s.study_time),
    "description": lambda s: s.description.casefold(),
    "modalities": lambda s: "/".join(s.modalities),
    "instances": lambda s: s.instances or 0,
    "archives": lambda s: ",".join(s.archives),
}


class StudyTable(ColumnTable):
    """Space marks a study; `o` changes the sort column, `O` reverses it."""

    COLUMNS = (
        Column("mark", "", 2),
        Column("patient", "Patient", 16, 3),
        Column("birth", "Born", 11),
        Column("date", "Date", 11),
        Column("description", "Description", 10, 3),
        Column("modalities", "Mod", 6),
        Column("instances", "Img", 5, right=True),
        Column("archives", "Where", 8, 1),
    )

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark"),
        Binding("a", "mark_all", "All/none"),
        Binding("o", "next_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse", show=False),
    ]

    class MarksChanged(Message):
        def __init__(self, table: StudyTable, marked: tuple[str, ...]) -> None:
            super().__init__()
            self.table = table
            self.marked = marked

        @property
        def control(self) -> StudyTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.studies: dict[str, StudyResult] = {}
        self.marked: list[str] = []  # in the order marked
        self.sort_key = "date"
        self.sort_reverse = True

    # -- content --------------------------------------------------------------------

    def header(self, column: Column) -> str:
        if column.key == self.sort_key:
            return column.label + (" ▼" if self.sort_reverse else " ▲")
        return column.label

    def cells(self, s: StudyResult) -> tuple[str | Text, ...]:
        mark = Text("✓", style="bold") if s.study_uid in self.marked else ""
        return (mark, fmt.person_name(s.patient_name), fmt.dicom_date(s.birth_date),
                fmt.dicom_date(s.study_date), s.description, "/".join(s.modalities),
                "" if s.instances is None else str(s.instances), ", ".join(s.archives))

    def ordered(self) -> list[StudyResult]:
        return sorted(self.studies.values(), key=SORTS[self.sort_key],
                      reverse=self.sort_reverse)

    def show(self) -> None:
        self.set_rows([(s.study_uid, self.cells(s)) for s in self.ordered()])

    def replace_all(self, studies: Iterable[StudyResult]) -> None:
        self.studies = {s.study_uid: s for s in studies}
        self.marked = [u for u in self.marked if u in self.studies]
        self.show()
        self._marks_changed()

    def merge(self, studies: Iterable[StudyResult]) -> None:
        """Add or update studies (a burst of search results)."""
        for s in studies:
            old = self.studies.get(s.study_uid)
            self.studies[s.study_uid] = old.merged(s) if old is not None else s
        self.show()

    def clear_results(self) -> None:
        self.studies = {}
        self.marked = []
        self.set_rows([])
        self._marks_changed()

    def chosen(self) -> list[StudyResult]:
        """The marked studies, else the one under the cursor."""
        if self.marked:
            return [self.studies[u] for u in self.marked if u in self.studies]
        key = self.current_key
        return [self.studies[key]] if key in self.studies else []

    # -- actions --------------------------------------------------------------------

    def _marks_changed(self) -> None:
        self.post_message(self.MarksChanged(self, tuple(self.marked)))

    def action_toggle_mark(self) -> None:
        key = self.toggle_mark(self.marked)
        if key is not None:
            self.upsert(key, self.cells(self.studies[key]))
            self._marks_changed()

    def action_mark_all(self) -> None:
        if len(self.marked) == len(self.studies):
            self.marked = []
        else:
            self.marked = [s.study_uid for s in self.ordered()]
        self.show()
        self._marks_changed()

    def action_next_sort(self) -> None:
        keys = list(SORTS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = self.sort_key in ("date", "instances")
        self.show()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.show()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key not in SORTS:
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in ("date", "instances")
        self.show()
