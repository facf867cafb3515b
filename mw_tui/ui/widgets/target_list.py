"""The targets of a job: drives and sticks appear and go by themselves, ISO, cloud."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from mw_tui.station.targets import TargetChoice


class TargetList(OptionList):
    """`show(choices, chosen)` keeps the highlighted target when the list changes."""

    DEFAULT_CSS = """
    TargetList {
        height: auto;
        max-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self.choices: list[TargetChoice] = []

    def show(self, choices: Sequence[TargetChoice], chosen: str | None) -> None:
        self.choices = list(choices)
        self.clear_options()
        for c in self.choices:
            label = Text(c.label)
            if not c.ready:
                label.stylize("dim")
            self.add_option(Option(label, id=str(c.target)))
        if not self.choices:
            self.add_option(Option(Text("No target: connect a drive or a stick, or set an "
                                        "ISO folder in Settings", style="italic"),
                                   id="", disabled=True))
            return
        index = next((i for i, c in enumerate(self.choices) if str(c.target) == chosen), 0)
        self.highlighted = index

    @property
    def chosen(self) -> TargetChoice | None:
        i = self.highlighted
        if i is None or not 0 <= i < len(self.choices):
            return None
        return self.choices[i]
