"""The admin PIN in front of Settings (Enter checks it, Escape goes back)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from mw_tui.station.pin import DEMO_PIN
from mw_tui.ui.navigation import StationApp


class PinScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "cancel", "Back")]

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-box"):
            yield Label("Settings: admin PIN", id="pin-title")
            yield Input(password=True, id="pin", max_length=12, compact=True,
                        placeholder="PIN, then Enter")
            yield Static("", id="pin-message")

    def on_mount(self) -> None:
        app = cast(StationApp, self.app)
        gate = app.pin_gate
        message = self.query_one("#pin-message", Static)
        if app.station.demo:
            message.update(Text(f"Demo: the PIN is {DEMO_PIN}.", style="italic"))
        elif not gate.configured:
            message.update(Text(gate.check("") or "", style="bold red"))
        self.query_one("#pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        gate = cast(StationApp, self.app).pin_gate
        problem = gate.check(event.value)
        if problem is None:
            self.dismiss(True)
            return
        event.input.value = ""
        self.query_one("#pin-message", Static).update(Text(problem, style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(False)
