"""A form for one configuration table (an archive, a rule, a cloud target, [station]...),
built from its dataclass: each field's comment is its help, and the configuration's own
checks judge the values when the whole file is validated on saving."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from mw_tui import config as cfg

SECRET_FIELDS = ("password", "token")


class FormOutcome(Message):
    def __init__(self, result: Any = None, errors: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.result = result
        self.errors = errors


def parse_value(text: str, tp: Any) -> Any:
    """What was typed -> the TOML value for a field of type `tp`; ValueError if not."""
    text = text.strip()
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number") from None
    if typing.get_origin(tp) is list:
        (inner,) = typing.get_args(tp)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [parse_value(p, inner) for p in parts]
    return text


def show_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RecordForm(ModalScreen[Any]):
    """`save(values)` runs in a worker: it returns what `dismiss` passes back, or raises
    ConfigError whose messages the form shows (and stays open)."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("f9", "save", "Save"),
    ]

    def __init__(self, title: str, cls: type, values: Mapping[str, Any],
                 save: Callable[[dict[str, Any]], Any], fields: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.title_text = title
        self.cls = cls
        self.values = dict(values)
        self.save_fn = save
        hints = typing.get_type_hints(cls)
        self.fields = [(f, hints[f.name]) for f in dataclasses.fields(cls)
                       if not fields or f.name in fields]

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Label(self.title_text, id="form-title")
            with VerticalScroll(id="form-fields"):
                for f, tp in self.fields:
                    with Horizontal(classes="form-row"):
                        yield Label(f.name, classes="form-label")
                        value = self.values.get(f.name, _default(f))
                        if tp is bool:
                            yield Select([("yes", True), ("no", False)], value=bool(value),
                                         allow_blank=False, compact=True, id=f"f-{f.name}")
                        else:
                            yield Input(show_value(value), compact=True, id=f"f-{f.name}",
                                        password=f.name in SECRET_FIELDS)
            yield Static("", id="form-help")
            yield Static("", id="form-errors")
            with Horizontal(id="form-buttons"):
                yield Button("Save (F9)", id="save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        first = self.query("#form-fields Input, #form-fields Select").first()
        first.focus()

    def on_descendant_focus(self, event: Any) -> None:
        widget_id = getattr(event.widget, "id", "") or ""
        name = widget_id.removeprefix("f-")
        for f, _tp in self.fields:
            if f.name == name:
                self.query_one("#form-help", Static).update(
                    Text(f.metadata.get("doc", ""), style="italic"))

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        inputs = list(self.query("#form-fields Input, #form-fields Select"))
        if event.input is inputs[-1]:
            self.action_save()
        else:
            self.focus_next()

    def collect(self) -> tuple[dict[str, Any], list[str]]:
        out: dict[str, Any] = {}
        errors = []
        for f, tp in self.fields:
            if tp is bool:
                out[f.name] = bool(self.query_one(f"#f-{f.name}", Select).value)
                continue
            text = self.query_one(f"#f-{f.name}", Input).value
            try:
                out[f.name] = parse_value(text, tp)
            except ValueError as exc:
                errors.append(f"{f.name} = {text!r}: must be {exc}")
        return out, errors

    def action_save(self) -> None:
        values, errors = self.collect()
        if errors:
            self._errors(errors)
            return

        def run() -> None:
            try:
                result = self.save_fn(values)
            except cfg.ConfigError as exc:
                self.post_message(FormOutcome(errors=tuple(exc.errors)))
            except OSError as exc:
                self.post_message(FormOutcome(errors=(f"cannot write the settings: {exc}",)))
            else:
                self.post_message(FormOutcome(result))

        self.run_worker(run, thread=True, exclusive=True, group="save", exit_on_error=False)

    def on_form_outcome(self, message: FormOutcome) -> None:
        if message.errors:
            self._errors(list(message.errors))
        else:
            self.dismiss(message.result)

    def _errors(self, errors: list[str]) -> None:
        self.query_one("#form-errors", Static).update(
            Text("Not saved:\n" + "\n".join(f"• {e}" for e in errors), style="bold red"))

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return ""
