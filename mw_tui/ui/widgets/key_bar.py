"""The footer of every screen: every key the screen answers to, wrapped onto a second
line when one is too short (so at 80 columns every key still shows). A click on a key
presses it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import App
from textual.geometry import Size
from textual.widget import Widget


@dataclass(frozen=True, slots=True)
class Spot:
    line: int
    start: int
    end: int
    key: str


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        max-height: 3;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spots: list[Spot] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh(layout=True)

    def items(self) -> list[tuple[str, str, str]]:
        """(key, key as shown, description) of each action shown, the app's last."""
        mine: list[tuple[str, str, str]] = []
        app_keys: list[tuple[int, tuple[str, str, str]]] = []
        seen: set[str] = set()
        order = [getattr(b, "action", "") for b in self.app.BINDINGS]
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            item = (binding.key, self.app.get_key_display(binding), binding.description)
            if isinstance(node, App):
                rank = order.index(binding.action) if binding.action in order else len(order)
                app_keys.append((rank, item))
            else:
                mine.append(item)
        return mine + [item for _rank, item in sorted(app_keys, key=lambda x: x[0])]

    def lines(self, width: int) -> tuple[list[Text], list[Spot]]:
        lines: list[Text] = [Text()]
        spots: list[Spot] = []
        for key, shown, description in self.items():
            part = Text()
            part.append(f" {shown} ", style="bold reverse")
            part.append(f" {description} ")
            if lines[-1].cell_len and lines[-1].cell_len + part.cell_len > width:
                lines.append(Text())
            start = lines[-1].cell_len
            lines[-1].append_text(part)
            spots.append(Spot(len(lines) - 1, start, start + part.cell_len, key))
        return lines, spots

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width)[0])

    def render(self) -> Text:
        lines, self._spots = self.lines(self.size.width)
        return Text("\n").join(lines)

    def on_click(self, event: events.Click) -> None:
        for spot in self._spots:
            if spot.line == event.y and spot.start <= event.x < spot.end:
                self.app.simulate_key(spot.key.split(",")[0])
                return
