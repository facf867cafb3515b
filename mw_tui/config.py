"""The station's configuration: one TOML file, validated into frozen dataclasses.

Read with tomlkit and written back with tomlkit, so a user's comments and the order of
keys survive every change made from the screens or the command line. Every invalid
value produces a message naming the key, the value and what is allowed; an invalid
file is refused as a whole (`ConfigError`), never half-used.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

ENV_VAR = "MW_TUI_CONFIG"
SYSTEM_PATH = Path("/etc/mw-tui/config.toml")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

Check = Callable[[Any], str | None]


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one message per problem."""

    def __init__(self, errors: list[str], path: Path | None = None) -> None:
        self.errors = errors
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(errors))


# -- value checks: each returns None when fine, else what is allowed ---------------------


def is_valid_uid(value: str) -> bool:
    """True when `value` is a syntactically valid DICOM UID (PS3.5 9.1)."""
    return 0 < len(value) <= 64 and bool(_UID_RE.match(value))


def check_ae_title(value: str) -> str | None:
    stripped = value.strip(" ")
    if not 1 <= len(stripped) <= 16 or len(value) > 16:
        return "an AE title of 1 to 16 characters"
    if any(ord(c) < 0x20 or ord(c) > 0x7E or c == "\\" for c in value):
        return "an AE title of printable ASCII characters without backslash"
    return None


def check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a TCP port from 1 to 65535"


def _range(low: float, high: float, what: str = "a number") -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"{what} from {low:g} to {high:g}"

    return check


def check_max_pdu(value: int) -> str | None:
    if value == 0 or 4096 <= value <= 0x7FFFFFFF:
        return None
    return "0 (no limit) or a PDU size from 4096 to 2147483647 bytes"


def check_log_level(value: str) -> str | None:
    return None if value.upper() in LOG_LEVELS else "one of " + ", ".join(LOG_LEVELS)


def check_uids(values: list[str]) -> str | None:
    bad = [v for v in values if not is_valid_uid(v)]
    return f"a list of valid UIDs (not {', '.join(map(repr, bad))})" if bad else None


def check_callers(values: list[str]) -> str | None:
    for v in values:
        if _looks_like_network(v):
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                return f"AE titles or IP networks such as 10.0.0.0/24 ({v!r} is neither)"
        elif check_ae_title(v):
            return f"AE titles or IP networks such as 10.0.0.0/24 ({v!r} is neither)"
    return None


def _looks_like_network(value: str) -> bool:
    return bool(re.match(r"^[0-9.]+(/\d+)?$", value)) or ":" in value


def check_not_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty text"


def check_name(value: str) -> str | None:
    if _NAME_RE.match(value):
        return None
    return "a name of 1 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit"


def check_choice(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else "one of " + ", ".join(map(repr, choices))

    return check


def item(doc: str, check: Check | None = None, **kw: Any) -> Any:
    """A dataclass field with the comment written above it and its value check."""
    return field(metadata={"doc": doc, "check": check}, **kw)


# -- the sections ------------------------------------------------------------------------


def default_storage() -> str:
    if os.geteuid() == 0:
        return "/var/lib/mw-tui/store"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "mw-tui" / "store")


@dataclass(frozen=True)
class StationConfig:
    ae_title: str = item(
        "This station's AE title: what archives and modalities call it.",
        check_ae_title,
        default="MW_TUI",
    )
    port: int = item("TCP port the receiver listens on (Storage and Verification SCP).",
                     check_port, default=11112)
    bind: str = item("Address to listen on: 0.0.0.0 for every interface, 127.0.0.1 for "
                     "this machine only.", check_not_empty, default="0.0.0.0")
    storage: str = item("Folder where received studies and their index are kept.",
                        check_not_empty, default_factory=default_storage)
    max_associations: int = item("Most associations served at once; one more is rejected.",
                                 _range(1, 1000, "a whole number"), default=20)
    max_pdu: int = item("Largest PDU this station accepts, in bytes (0 = no limit).",
                        check_max_pdu, default=524288)
    min_free_mb: int = item("Refuse new instances (status A700) when the storage folder has "
                            "less free space than this, in MiB.",
                            _range(0, 10**9, "a whole number of MiB"), default=1024)
    receiver_processes: int = item(
        "Receiver worker processes sharing the port (0 = one per CPU, at most 4).",
        _range(0, 64, "a whole number"), default=0)
    log_level: str = item("Log level: DEBUG, INFO, WARNING or ERROR.", check_log_level,
                          default="INFO")


@dataclass(frozen=True)
class DicomConfig:
    server_timeout: float = item(
        "Server socket timeout: seconds an inbound association may stay silent before the "
        "station closes it.", _range(1, 3600, "seconds"), default=60.0)
    client_timeout: float = item(
        "Client socket timeout: seconds to wait for an archive to connect or answer.",
        _range(1, 3600, "seconds"), default=30.0)
    extra_transfer_syntaxes: list[str] = item(
        "Transfer syntax UIDs accepted in addition to the built-in seven (Implicit and "
        "Explicit VR LE, JPEG Baseline, Extended, Lossless SV1, JPEG 2000 lossless and lossy).",
        check_uids, default_factory=list)
    extra_sop_classes: list[str] = item(
        "Storage SOP class UIDs accepted in addition to the built-in table.",
        check_uids, default_factory=list)
    allowed_callers: list[str] = item(
        "Who may send to this station: calling AE titles and/or IP networks "
        "(e.g. [\"CT01\", \"10.1.2.0/24\"]). Empty = everybody.",
        check_callers, default_factory=list)


@dataclass(frozen=True)
class Archive:
    name: str = item("A short name for this archive, used on screens and the command line.",
                     check_name)
    ae_title: str = item("The archive's AE title.", check_ae_title)
    host: str = item("The archive's host name or IP address.", check_not_empty)
    port: int = item("The archive's DICOM port.", check_port, default=104)
    retrieve: str = item(
        "How to retrieve: \"move\" (C-MOVE to this station; the archive must know our AE "
        "title, host and port) or \"get\" (C-GET on the same association).",
        check_choice("move", "get"), default="move")
    timeout: float = item("Seconds to wait for this archive's answers to a search.",
                          _range(1, 3600, "seconds"), default=10.0)


@dataclass(frozen=True)
class Config:
    station: StationConfig = field(default_factory=StationConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    archives: tuple[Archive, ...] = ()
    path: Path | None = None

    def archive(self, name: str) -> Archive:
        for a in self.archives:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.archives) or "none configured"
        raise KeyError(f"no archive named {name!r} (known: {known})")

    @property
    def storage(self) -> Path:
        return Path(self.station.storage)


# Top-level tables: name -> (dataclass, is an array of tables)
SECTIONS: dict[str, tuple[type, bool]] = {
    "station": (StationConfig, False),
    "dicom": (DicomConfig, False),
    "archives": (Archive, True),
}


# -- parsing and validation --------------------------------------------------------------


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Whether `value` fits the annotation `tp`; returns the (converted) value."""
    origin = typing.get_origin(tp)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            return False, value
        out = []
        for v in value:
            ok, conv = _type_ok(v, inner)
            if not ok:
                return False, value
            out.append(conv)
        return True, out
    if origin in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            ok, conv = _type_ok(value, alt)
            if ok:
                return True, conv
        return False, value
    if tp is type(None):
        return value is None, value
    raise TypeError(f"unsupported config type {tp!r}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return {bool: "true or false", int: "a whole number", float: "a number",
            str: "a text in quotes"}.get(tp, str(tp))


def _section(cls: type, table: Mapping[str, Any], where: str, errors: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key in table:
        if key not in known:
            errors.append(f"{where}.{key}: unknown key (known keys: {', '.join(sorted(known))})")
    for f in dataclasses.fields(cls):
        if f.name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                errors.append(f"{where}.{f.name}: missing (required)")
            continue
        raw = _plain(table[f.name])
        ok, value = _type_ok(raw, hints[f.name])
        if not ok:
            errors.append(f"{where}.{f.name} = {raw!r}: must be {_type_name(hints[f.name])}")
            continue
        check: Check | None = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            errors.append(f"{where}.{f.name} = {raw!r}: must be {problem}")
            continue
        if f.name == "log_level":
            value = value.upper()
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        return None  # a required key was missing: already reported


def _plain(value: Any) -> Any:
    """tomlkit items -> plain Python values."""
    if hasattr(value, "unwrap"):
        return value.unwrap()
    return value


def parse(doc: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document into a `Config`, or raise `ConfigError`."""
    errors: list[str] = []
    parts: dict[str, Any] = {}
    for key in doc:
        if key not in SECTIONS:
            errors.append(f"[{key}]: unknown section (known: {', '.join(SECTIONS)})")
    for name, (cls, is_array) in SECTIONS.items():
        raw = doc.get(name)
        if raw is None:
            continue
        if is_array:
            if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
                errors.append(f"{name}: must be a list of tables ([[{name}]])")
                continue
            items = [_section(cls, t, f"{name}[{i + 1}]", errors) for i, t in enumerate(raw)]
            parts[name] = tuple(x for x in items if x is not None)
        else:
            if not isinstance(raw, Mapping):
                errors.append(f"{name}: must be a table ([{name}])")
                continue
            parts[name] = _section(cls, raw, name, errors)
    names = [a.name for a in parts.get("archives", ())]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"archives: the name {dup!r} is used twice (names must be unique)")
    if errors:
        raise ConfigError(errors, path)
    return Config(path=path, **{k: v for k, v in parts.items() if v is not None})


def loads(text: str, path: Path | None = None) -> Config:
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], path) from exc
    return parse(doc, path)


# -- finding and loading the file --------------------------------------------------------


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mw-tui" / "config.toml"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """--config PATH, else $MW_TUI_CONFIG, else /etc/mw-tui/config.toml, else the user's."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if SYSTEM_PATH.exists():
        return SYSTEM_PATH
    user = user_config_path()
    return user if user.exists() else None


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration from where `find_config` says (defaults when there is none).

    A path given explicitly (or by $MW_TUI_CONFIG) must exist.
    """
    path = find_config(explicit)
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"the file does not exist (create it with: mw-tui config init "
                           f"{path})"], path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read the file: {exc}"], path) from exc
    return loads(text, path)


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
    example = Archive(name="pacs", ae_title="PACS", host="10.0.0.5", port=104)
    out.append("# Remote Query/Retrieve archives: one [[archives]] table each, searched in "
               "parallel.")
    out.append("# For example:")
    out.append("# [[archives]]")
    for f in dataclasses.fields(Archive):
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
        except tomlkit.exceptions.ParseError as exc:
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
