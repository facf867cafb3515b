"""A one-line choice among a few values: ←/→ or Space change it, a letter jumps to the
value starting with it, a click moves on. Lighter than a Select (no overlay), so a screen
full of them still switches in a blink."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Choice(Widget, can_focus=True):
    DEFAULT_CSS = """
    Choice {
        height: 1;
        width: auto;
        min-width: 8;
        background: $boost;
        padding: 0 1;
    }
    Choice:focus {
        background: $accent 30%;
        text-style: bold;
    }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("right,space", "step(1)", "Next", show=False),
        Binding("left", "step(-1)", "Previous", show=False),
    ]

    index: reactive[int] = reactive(0)
    """Which of the options is chosen."""

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: Sequence[tuple[str, str]], value: str = "", *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = list(options)  # (label, value)
        self.set_reactive(Choice.index, self._index_of(value))

    def _index_of(self, value: str) -> int:
        return next((i for i, (_, v) in enumerate(self.options) if v == value), 0)

    @property
    def value(self) -> str:
        return self.options[self.index][1] if self.options else ""

    @value.setter
    def value(self, value: str) -> None:
        self.index = self._index_of(value)

    def set_options(self, options: Sequence[tuple[str, str]]) -> None:
        current = self.value
        self.options = list(options)
        self.index = self._index_of(current)
        self.refresh(layout=True)

    def render(self) -> Text:
        label = self.options[self.index][0] if self.options else ""
        return Text(f"‹ {label} ›")

    def get_content_width(self, container: Any, viewport: Any) -> int:
        return max((len(label) for label, _ in self.options), default=0) + 4

    def watch_index(self, _old: int, _new: int) -> None:
        self.post_message(self.Changed(self, self.value))

    def action_step(self, delta: int) -> None:
        if self.options:
            self.index = (self.index + delta) % len(self.options)

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isalpha():
            wanted = event.character.casefold()
            n = len(self.options)
            for step in range(1, n + 1):
                i = (self.index + step) % n
                if self.options[i][0].casefold().startswith(wanted):
                    self.index = i
                    event.stop()
                    return

    def on_click(self) -> None:
        self.action_step(1)
