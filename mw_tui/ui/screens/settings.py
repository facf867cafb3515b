"""Settings (behind the admin PIN): archives with an echo test, this station's AE title
and port, targets, auto-rules, the PIN. Saved with tomlkit: the file's comments stay."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static, TabbedContent, TabPane

from mw_tui import config as cfg
from mw_tui.station.models import ArchiveState, EchoResult
from mw_tui.station.pin import hash_pin
from mw_tui.station.settings import Saved, SettingsFile, section_values
from mw_tui.ui import messages as msg
from mw_tui.ui.dialogs.confirm import ConfirmScreen
from mw_tui.ui.dialogs.record_form import RecordForm, show_value
from mw_tui.ui.screens.base import StationScreen
from mw_tui.ui.widgets.column_table import Column, ColumnTable

STATION_FIELDS = ("ae_title", "port", "bind", "max_associations", "min_free_mb")
ECHO_STYLES = {ArchiveState.ONLINE: "green", ArchiveState.UNKNOWN: "dim"}


class ArchiveTable(ColumnTable):
    COLUMNS = (Column("name", "Name", 10, 1), Column("ae", "AE title", 12),
               Column("address", "Host:port", 16, 2), Column("retrieve", "Get", 5),
               Column("state", "Echo", 12, 1))


DEVICES_ROW = "__devices__"  # the [devices] section, first row of the targets


class TargetTable(ColumnTable):
    COLUMNS = (Column("name", "Target", 14, 1), Column("url", "Where", 20, 3),
               Column("auth", "Auth", 7))


class RuleTable(ColumnTable):
    COLUMNS = (Column("name", "Rule", 10, 1), Column("from", "From AE", 9),
               Column("modality", "Mod", 5), Column("target", "Target", 14, 2),
               Column("quiet", "Quiet s", 8, right=True))


@dataclasses.dataclass(frozen=True)
class NewPin:
    new_pin: str = cfg.item("The new admin PIN: 4 to 12 digits.", default="")
    again: str = cfg.item("The same PIN again.", default="")


class SettingsScreen(StationScreen):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "close", "Close"),
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("t", "echo", "Echo test"),
        Binding("k", "change_pin", "PIN"),
        Binding("1", "tab('archives')", "Tabs", key_display="1-4"),
        Binding("2", "tab('station')", show=False),
        Binding("3", "tab('targets')", show=False),
        Binding("4", "tab('rules')", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.echoes: dict[str, EchoResult] = {}
        self.file: SettingsFile | None = None

    def body(self) -> ComposeResult:
        with TabbedContent(id="settings-tabs", initial="archives"):
            with TabPane("1 Archives", id="archives"):
                yield ArchiveTable(id="archive-table")
                yield Static("", id="echo-message")
            with TabPane("2 Station", id="station"):
                yield Static("", id="station-values")
            with TabPane("3 Targets", id="targets"):
                yield TargetTable(id="target-table")
            with TabPane("4 Rules", id="rules"):
                yield RuleTable(id="rule-table")
        yield Label("", id="settings-where")

    def on_mount(self) -> None:
        super().on_mount()
        app = self.station_app
        self.file = app.station.settings_file()
        app.config_signal.subscribe(self, lambda _d: self.show())
        self.show()
        self.query_one(ArchiveTable).focus()

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = {"archives": ArchiveTable, "targets": TargetTable, "rules": RuleTable}.get(tab)
        if table is not None:
            self.query_one(table).focus()

    # -- showing -------------------------------------------------------------------------

    def show(self) -> None:
        c = self.station_app.config
        self.query_one(ArchiveTable).set_rows([
            (a.name, (a.name, a.ae_title, f"{a.host}:{a.port}", a.retrieve,
                      self._echo_cell(a.name))) for a in c.archives])
        d = c.devices
        self.query_one(TargetTable).set_rows([
            (DEVICES_ROW, ("drive, ISO files", f"drive {d.drive} ({d.drive_speed}), ISO "
                           f"folder {d.iso_folder or '(none)'}", "")),
            *((t.name, (t.name, t.url, t.auth)) for t in c.targets)])
        self.query_one(RuleTable).set_rows([
            (r.name, (r.name, r.calling_ae or "any", r.modality or "any", r.target,
                      show_value(r.quiet_seconds))) for r in c.rules])
        self.query_one("#station-values", Static).update(self._section_text(
            c.station, STATION_FIELDS, "[station]  (e edits; used after a restart)"))
        where = self.file.path if self.file else "?"
        demo = " (demo: for this session only)" if self.station_app.station.demo else ""
        self.query_one("#settings-where", Label).update(Text(f"Saved to {where}{demo}"))

    @staticmethod
    def _section_text(record: Any, names: tuple[str, ...], title: str) -> Text:
        text = Text(title + "\n", style="bold")
        for name in names:
            text.append(f"  {name:<18}", style="dim")
            text.append(show_value(getattr(record, name)) + "\n")
        return text

    def _echo_cell(self, name: str) -> Text:
        r = self.echoes.get(name)
        if r is None:
            return Text("t: test", style="dim")
        label = f"{r.state.value}" + (f" {r.seconds * 1000:.0f} ms" if r.ok else "")
        return Text(label, style=ECHO_STYLES.get(r.state, "bold red"))

    # -- saving ---------------------------------------------------------------------------

    def _saved(self, saved: Saved | None) -> None:
        if saved is None:
            return
        self.post_message(msg.ConfigChanged(saved.config, saved.note or f"Saved to {saved.path}."))

    def _form(self, title: str, cls: type, values: dict[str, Any],
              edit: Callable[[cfg.ConfigFile, dict[str, Any]], None],
              fields: tuple[str, ...] = ()) -> None:
        assert self.file is not None
        file, current = self.file, self.station_app.config

        def save(form_values: dict[str, Any]) -> Saved:
            return file.save(current, lambda f: edit(f, form_values))

        self.app.push_screen(RecordForm(title, cls, values, save, fields), self._saved)

    def _table_key(self) -> str | None:
        table = {"archives": ArchiveTable, "targets": TargetTable,
                 "rules": RuleTable}.get(self.tab)
        return self.query_one(table).current_key if table else None

    def action_add(self) -> None:
        kinds = {"archives": ("archives", cfg.Archive, "New archive"),
                 "targets": ("targets", cfg.CloudTarget, "New cloud target"),
                 "rules": ("rules", cfg.Rule, "New auto-rule")}
        if self.tab not in kinds:
            self.notify("Add works on the Archives, Targets and Rules tabs.")
            return
        section, cls, title = kinds[self.tab]
        self._form(title, cls, {}, lambda f, v: _add(f, section, v))

    def action_edit(self) -> None:
        c = self.station_app.config
        if self.tab == "station":
            self._form("This station ([station])", cfg.StationConfig,
                       section_values(c.station), lambda f, v: _set_section(f, "station", v),
                       STATION_FIELDS)
            return
        key = self._table_key()
        if self.tab == "targets" and key in (None, DEVICES_ROW):
            self._form("Targets ([devices])", cfg.DevicesConfig, section_values(c.devices),
                       lambda f, v: _set_section(f, "devices", v),
                       ("drive", "drive_speed", "eject", "iso_folder"))
            return
        if self._built_in(key):
            return
        records: dict[str, tuple[Any, ...]] = {"archives": c.archives, "targets": c.targets,
                                               "rules": c.rules}
        found = [r for r in records.get(self.tab, ()) if r.name == key]
        if not found:
            self.notify("Choose an entry first (or a to add one).")
            return
        record = found[0]
        self._form(f"Edit {key}", type(record), section_values(record),
                   lambda f, v: _replace(f, self.tab, str(key), v))

    def action_delete(self) -> None:
        key = self._table_key()
        if key in (None, DEVICES_ROW) or self.tab not in ("archives", "targets", "rules"):
            self.notify("Choose an archive, cloud target or rule first.")
            return
        if self._built_in(key):
            return
        assert self.file is not None
        file, current, section = self.file, self.station_app.config, self.tab

        def answered(yes: bool | None) -> None:
            if not yes:
                return

            def run() -> None:
                self.post_message(msg.ConfigChanged(*_result(
                    file.save(current, lambda f: _remove(f, section, str(key))))))

            self.run_worker(run, thread=True, group="save", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(f"Delete {key} from the settings?"), answered)

    def _built_in(self, key: str | None) -> bool:
        if self.tab == "archives" and self.file is not None and any(
                a.name == key for a in self.file.keep_archives):
            self.notify("The demo archive is built in: it cannot be changed here.")
            return True
        return False

    def action_change_pin(self) -> None:
        def edit(f: cfg.ConfigFile, values: dict[str, Any]) -> None:
            if values["new_pin"] != values["again"]:
                raise cfg.ConfigError(["the two PINs differ: type the same PIN twice"])
            try:
                f.set("ui", "admin_pin", hash_pin(values["new_pin"]))
            except ValueError as exc:
                raise cfg.ConfigError([str(exc)]) from exc

        self._form("Change the admin PIN", NewPin, {}, edit)

    def on_config_changed(self, message: msg.ConfigChanged) -> None:
        # the app applies it; the PIN gate learns the new hash
        self.station_app.pin_gate.stored = message.config.ui.admin_pin

    # -- echo -----------------------------------------------------------------------------

    def action_echo(self) -> None:
        config = self.station_app.config
        if self.tab != "archives" or not config.archives:
            self.notify("The echo test is on the Archives tab.")
            return
        key = self._table_key()
        names = [key] if key else [a.name for a in config.archives]
        station = self.station_app.station
        for name in names:
            self.query_one("#echo-message", Static).update(Text(f"Testing {name}…"))
            self.run_worker(lambda n=name: self.post_message(msg.EchoDone(station.echo(n))),
                            thread=True, group=f"echo-{name}", exit_on_error=False)

    def on_echo_done(self, message: msg.EchoDone) -> None:
        r = message.result
        self.echoes[r.archive] = r
        self.show()
        self.query_one("#echo-message", Static).update(
            Text(r.message, style="green" if r.ok else "bold red"))

    def action_close(self) -> None:
        self.app.pop_screen()


def _result(saved: Saved) -> tuple[cfg.Config, str]:
    return saved.config, saved.note or f"Saved to {saved.path}."


def _add(f: cfg.ConfigFile, section: str, values: dict[str, Any]) -> None:
    name = str(values.get("name", ""))
    if any(t.get("name") == name for t in f.tables(section)):
        raise cfg.ConfigError([f"{section}: the name {name!r} is taken: choose another"])
    f.upsert(section, name, {k: v for k, v in values.items() if k != "name"})


def _replace(f: cfg.ConfigFile, section: str, old: str, values: dict[str, Any]) -> None:
    new = str(values.get("name", old))
    if new != old and any(t.get("name") == new for t in f.tables(section)):
        raise cfg.ConfigError([f"{section}: the name {new!r} is taken: choose another"])
    for t in f.tables(section):
        if t.get("name") == old:
            for k, v in values.items():
                t[k] = v
            return
    f.upsert(section, new, {k: v for k, v in values.items() if k != "name"})


def _remove(f: cfg.ConfigFile, section: str, name: str) -> None:
    f.remove(section, name)


def _set_section(f: cfg.ConfigFile, section: str, values: dict[str, Any]) -> None:
    for k, v in values.items():
        f.set(section, k, v)
