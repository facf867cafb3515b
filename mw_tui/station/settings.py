"""Settings read and written: where they are saved, and how a saved file is applied to the
running station. Writes go through `config.ConfigFile` (tomlkit: the user's comments and order
survive). No Textual here."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mw_tui import config as cfg
from mw_tui.station.core import demo_root

Edit = Callable[[cfg.ConfigFile], None]


def settings_path(config: cfg.Config, demo: bool) -> Path:
    """The demo keeps its settings in its own folder (they last for the session); a
    station writes the file it was started with, else where `config init` would."""
    if demo:
        return demo_root() / "config.toml"
    if config.path is not None:
        return config.path
    return cfg.SYSTEM_PATH if os.geteuid() == 0 else cfg.user_config_path()


@dataclasses.dataclass(frozen=True, slots=True)
class Saved:
    config: cfg.Config  # what the station runs with from now on
    path: Path
    note: str  # what only takes effect after a restart


class SettingsFile:
    """Edits the settings file; `save(edit)` validates the whole file, writes it, and
    returns the configuration to run with (ConfigError when the edit is invalid)."""

    def __init__(self, config: cfg.Config, demo: bool = False,
                 keep_archives: Sequence[cfg.Archive] = ()) -> None:
        self.demo = demo
        self.path = settings_path(config, demo)
        self.keep_archives = tuple(keep_archives)  # the demo archive: not in the file
        self._fresh = demo  # the demo starts from defaults every session

    def open(self) -> cfg.ConfigFile:
        if self._fresh:
            return cfg.ConfigFile(self.path, cfg.default_text())
        return cfg.ConfigFile(self.path)

    def save(self, current: cfg.Config, edit: Edit) -> Saved:
        file = self.open()
        if self._fresh:  # the demo's file starts with what runs now (its archive aside)
            for name, (_cls, is_array) in cfg.SECTIONS.items():
                if not is_array:
                    for key, value in section_values(getattr(current, name)).items():
                        file.set(name, key, value)
            for a in current.archives:
                if a not in self.keep_archives:
                    file.upsert("archives", a.name, _values(a))
        edit(file)
        saved = file.save()
        self._fresh = False
        return Saved(self.apply(current, saved), self.path, self.restart_note(current, saved))

    def apply(self, current: cfg.Config, saved: cfg.Config) -> cfg.Config:
        """What can change while the station runs changes now; the receiver's own
        settings ([station], [dicom], [tls]) wait for a restart."""
        return dataclasses.replace(
            current, archives=(*saved.archives, *self.keep_archives), targets=saved.targets,
            rules=saved.rules, devices=saved.devices, media=saved.media, jobs=saved.jobs,
            ui=saved.ui, retention=saved.retention)

    @staticmethod
    def restart_note(current: cfg.Config, saved: cfg.Config) -> str:
        changed = [name for name in ("station", "dicom", "tls")
                   if getattr(current, name) != getattr(saved, name)]
        if current.rules != saved.rules:
            changed.append("rules")
        if not changed:
            return ""
        return (f"Saved. The changes to [{'], ['.join(changed)}] take effect when the station "
                "restarts (Ctrl+Q: the kiosk starts it again).")


def _values(record: object) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)  # type: ignore[arg-type]
            if f.name != "name"}


def section_values(record: object) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]
