"""What every screen of the station has: the status bar on top, the keys at the bottom."""

from __future__ import annotations

from typing import cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from mw_tui.ui.navigation import StationApp
from mw_tui.ui.widgets.key_bar import KeyBar
from mw_tui.ui.widgets.status_bar import StatusBar


class StationScreen(Screen[None]):
    """Subclasses yield their content from `body()`."""

    @property
    def station_app(self) -> StationApp:
        return cast(StationApp, self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield from self.body()
        yield KeyBar()

    def body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        app = self.station_app
        app.status_signal.subscribe(self, self._status_changed)
        self._status_changed(None)

    def _status_changed(self, _data: object) -> None:
        app = self.station_app
        self.query_one(StatusBar).update_from(
            app.status, app.device_list, app.problem,
            (m.devpath for m in app.inserted.values() if m.present))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.station_app.report_failure(event.worker)
