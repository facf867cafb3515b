"""Each archive's part of a search: searching, how many found, or the error in full."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from mw_tui.station.models import ArchiveOutcome, SearchState


class ArchiveStatus(Static):
    """One line per archive; an archive's error is shown with its whole message."""

    DEFAULT_CSS = """
    ArchiveStatus {
        height: auto;
        max-height: 7;
        overflow-y: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.lines: dict[str, tuple[str, str]] = {}  # archive -> (state, text)

    def start(self, archives: Iterable[str], hint: str = "") -> None:
        self.lines = {a: ("running", "searching…") for a in archives}
        if hint:
            self.lines[""] = ("hint", hint)
        self._show()

    def local(self, name: str, found: int) -> None:
        self.lines[name] = ("done", f"{found} found")
        self._show()

    def outcome(self, o: ArchiveOutcome) -> None:
        if o.state is SearchState.DONE:
            self.lines[o.archive] = ("done", f"{o.matches} found in {o.seconds:.1f} s")
        elif o.state is SearchState.CANCELLED:
            self.lines[o.archive] = ("cancelled", "cancelled")
        else:
            self.lines[o.archive] = ("failed", o.message or "failed")
        self._show()

    def message(self, text: str, state: str = "failed") -> None:
        """A message not tied to one archive (an invalid search key, no archive, ...)."""
        self.lines = {"": (state, text)}
        self._show()

    def clear_all(self) -> None:
        self.lines = {}
        self._show()

    @property
    def failed(self) -> dict[str, str]:
        return {a: t for a, (s, t) in self.lines.items() if s == "failed"}

    def _show(self) -> None:
        out = Text()
        marks = {"running": ("…", "yellow"), "done": ("●", "green"), "failed": ("✗", "bold red"),
                 "cancelled": ("○", "dim"), "hint": ("i", "cyan")}
        for i, (archive, (state, text)) in enumerate(self.lines.items()):
            if i:
                out.append("\n")
            mark, style = marks.get(state, ("?", ""))
            out.append(f"{mark} ", style=style)
            if archive:
                out.append(f"{archive}: ", style="bold")
            out.append(text, style="red" if state == "failed" else "")
        self.update(out)
        self.display = bool(self.lines)
