"""The footer of every screen: each key the screen answers to, on two lines when one
line is too short (at 80 columns every key still shows)."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyBar(Footer):
    DEFAULT_CSS = """
    KeyBar {
        layout: grid;
        grid-gutter: 0 1;
        grid-columns: auto;
        height: auto;
        max-height: 2;
    }
    """

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        width = sum(len(k.key_display) + len(k.description) + 2
                    for k in keys if isinstance(k, FooterKey))
        rows = 1 if width <= self.app.size.width else 2
        self.styles.grid_size_columns = max(1, math.ceil(len(keys) / rows))
        yield from keys
