"""Writing the configuration: the commented default, and edits that keep comments."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from mw_tui.config.checks import (
    ConfigError,
)
from mw_tui.config.parsing import (
    loads,
)
from mw_tui.config.sections import (
    EXAMPLES,
    SECTIONS,
    Config,
    secrets_exposed,
)

# -- writing: the commented default and edits that keep comments -----------------------


def _toml_value(value: Any) -> str:
    return tomlkit.item(value).as_string()


def _commented_lines(cls: type, instance: Any | None, prefix: str = "") -> list[str]:
    lines: list[str] = []
    for f in dataclasses.fields(cls):
        doc = f.metadata.get("doc", "")
        lines.append(f"{prefix}# {doc}")
        if instance is not None:
            lines.append(f"{prefix}{f.name} = {_toml_value(getattr(instance, f.name))}")
    return lines


def default_text() -> str:
    """The commented default configuration that `mw-tui config init` writes."""
    out = [
        "# mw-tui configuration (TOML). Check it with: mw-tui config check",
        "# Comments and the order of keys are kept when the station changes this file.",
        "",
    ]
    for name, (cls, is_array) in SECTIONS.items():
        if is_array:
            continue
        out.append(f"[{name}]")
        out += _commented_lines(cls, cls())
        out.append("")
    for name, (comment, example) in EXAMPLES.items():
        out.append(f"# {comment}")
        out.append("# For example:")
        out.append(f"# [[{name}]]")
        for f in dataclasses.fields(example):
            out.append(f"# {f.name} = {_toml_value(getattr(example, f.name))}"
                       f"  # {f.metadata.get('doc', '')}")
        out.append("")
    return "\n".join(out)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` through a temp file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ConfigFile:
    """A configuration file opened for editing; `save()` validates, then writes atomically.

    Comments, blank lines and key order of the user's file survive the round trip.
    """

    def __init__(self, path: Path, text: str | None = None) -> None:
        self.path = path
        if text is None:
            text = path.read_text(encoding="utf-8") if path.exists() else default_text()
        try:
            self.doc = tomlkit.parse(text)
        except tomlkit.exceptions.TOMLKitError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], path) from exc

    def set(self, section: str, key: str, value: Any) -> None:
        """Set `[section] key = value`, creating the table when needed."""
        if section not in self.doc:
            self.doc.add(section, tomlkit.table())
        table = self.doc[section]
        assert isinstance(table, Table)
        table[key] = value

    def tables(self, section: str) -> AoT:
        """The array of tables `[[section]]`, created when absent."""
        if section not in self.doc:
            self.doc.add(section, tomlkit.aot())
        aot = self.doc[section]
        assert isinstance(aot, AoT)
        return aot

    def upsert(self, section: str, name: str, values: Mapping[str, Any]) -> None:
        """Replace the keys of the `[[section]]` table whose name is `name`, or add one."""
        aot = self.tables(section)
        for t in aot:
            if t.get("name") == name:
                for k, v in values.items():
                    t[k] = v
                return
        t = tomlkit.table()
        t["name"] = name
        for k, v in values.items():
            if k != "name":
                t[k] = v
        aot.append(t)

    def remove(self, section: str, name: str) -> bool:
        aot = self.tables(section)
        for i, t in enumerate(aot):
            if t.get("name") == name:
                del aot[i]
                return True
        return False

    def text(self) -> str:
        return tomlkit.dumps(self.doc)

    def validate(self) -> Config:
        return loads(self.text(), self.path)

    def save(self) -> Config:
        config = self.validate()
        write_atomic(self.path, self.text())
        return config


def describe(config: Config) -> Iterable[str]:
    """Lines summarising the effective configuration (for `mw-tui config check`)."""
    s = config.station
    yield f"configuration: {config.path or '(built-in defaults, no file)'}"
    yield f"station: {s.ae_title} on {s.bind}:{s.port}, storage {s.storage}"
    yield f"archives: {', '.join(a.name for a in config.archives) or 'none'}"
    yield f"report sources: {', '.join(r.name for r in config.report_sources) or 'none'}"
    yield f"cloud targets: {', '.join(t.name for t in config.targets) or 'none'}"
    warning = secrets_exposed(config)
    if warning:
        yield f"WARNING: {warning}"
