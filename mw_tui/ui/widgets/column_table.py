"""A DataTable whose columns share the width: fixed columns keep theirs, the others split
what is left by weight, so the same table reads at 80 and at 200 columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # the minimum (and the width of a fixed column)
    weight: int = 0  # 0 = fixed width; else a share of the space left
    right: bool = False  # right-aligned (numbers)


def fit_text(value: Cell, width: int, right: bool = False) -> Text:
    """`value` cut to `width - 1` cells (an ellipsis shows the cut), plus a gap."""
    text = value.copy() if isinstance(value, Text) else Text(str(value))
    text.plain = text.plain.replace("\n", " ")
    room = max(1, width - 1)
    if text.cell_len > room:
        text.truncate(room - 1)
        text.append("…")
    if right:
        text.pad_left(room - text.cell_len)
    text.append(" ")
    return text


class ColumnTable(DataTable[Text]):
    """`set_rows([(key, cells), ...])` replaces the content, keeping the cursor's row."""

    DEFAULT_CSS = """
    ColumnTable {
        height: 1fr;
    }
    """

    COLUMNS: Sequence[Column] = ()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True,
                         cell_padding=0)
        self._rows: list[tuple[str, tuple[Cell, ...]]] = []
        self._widths: tuple[int, ...] = ()

    def widths(self, total: int) -> tuple[int, ...]:
        cols = self.COLUMNS
        fixed = sum(c.width for c in cols)
        spare = max(0, total - fixed)
        weights = sum(c.weight for c in cols) or 1
        out = [c.width + (spare * c.weight // weights) for c in cols]
        if cols and spare:  # rounding leftovers go to the first weighted column
            extra = total - sum(out)
            for i, c in enumerate(cols):
                if c.weight:
                    out[i] += max(0, extra)
                    break
        return tuple(out)

    def on_mount(self) -> None:
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        widths = self.widths(max(20, width - 1))
        if widths == self._widths and self.columns:
            return
        self._widths = widths
        self._render_all()

    @property
    def row_keys(self) -> list[str]:
        return [k for k, _ in self._rows]

    def header(self, column: Column) -> str:
        return column.label

    def _render_all(self) -> None:
        current = self.current_key
        self.clear(columns=True)
        for col, w in zip(self.COLUMNS, self._widths or self.widths(80), strict=True):
            self.add_column(fit_text(self.header(col), w, col.right), width=w, key=col.key)
        self.add_rows_now(self._rows)
        self.move_to(current)

    def add_rows_now(self, rows: Iterable[tuple[str, tuple[Cell, ...]]]) -> None:
        widths = self._widths or self.widths(80)
        for key, cells in rows:
            self.add_row(*(fit_text(c, w, col.right) for c, w, col in
                           zip(cells, widths, self.COLUMNS, strict=True)), key=key)

    def set_rows(self, rows: Sequence[tuple[str, tuple[Cell, ...]]]) -> None:
        self._rows = list(rows)
        self._render_all()

    def upsert(self, key: str, cells: tuple[Cell, ...], first: bool = False) -> None:
        """Replace one row (or add it, at the end or first)."""
        for i, (k, _) in enumerate(self._rows):
            if k == key:
                self._rows[i] = (key, cells)
                widths = self._widths or self.widths(80)
                for c, w, col in zip(cells, widths, self.COLUMNS, strict=True):
                    self.update_cell(key, col.key, fit_text(c, w, col.right))
                return
        if first:
            self._rows.insert(0, (key, cells))
            self._render_all()
        else:
            self._rows.append((key, cells))
            self.add_rows_now([(key, cells)])

    @property
    def current_key(self) -> str | None:
        if not self._rows or self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def toggle_mark(self, marked: list[str]) -> str | None:
        """Mark or unmark the row under the cursor in `marked` (in marking order), then
        move down a row; returns its key (None: no row)."""
        key = self.current_key
        if key is None:
            return None
        if key in marked:
            marked.remove(key)
        else:
            marked.append(key)
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1, animate=False)
        return key

    def move_to(self, key: str | None) -> None:
        if key is None or self.row_count == 0:
            return
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False)
        except Exception:
            pass
