"""What the disc's label will say: the lines the station's labels make (the same content
as the printed label), in a box."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class LabelPreview(Static):
    DEFAULT_CSS = """
    LabelPreview {
        height: auto;
        border: round $secondary;
        border-title-align: left;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Label"

    def show(self, lines: Sequence[str], problem: str = "") -> None:
        """The label's lines (the first in bold), or what keeps it from being made."""
        if problem:
            self.update(Text(problem, style="bold red"))
            return
        text = Text()
        for i, line in enumerate(lines):
            if i:
                text.append("\n")
            text.append(line.strip(), style="bold" if i == 0 else "")
        self.update(text)
