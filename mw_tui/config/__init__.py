"""The station's configuration: one TOML file, validated into frozen dataclasses.

Read with tomlkit and written back with tomlkit, so a user's comments and the order of
keys survive every change made from the screens or the command line. Every invalid
value produces a message naming the key, the value and what is allowed; an invalid
file is refused as a whole (`ConfigError`), never half-used.
"""

from __future__ import annotations

import os
from pathlib import Path

from mw_tui.config.audit import AuditConfig, check_repository, parse_repository
from mw_tui.config.checks import (
    ENV_VAR,
    LOG_LEVELS,
    SYSTEM_PATH,
    Check,
    ConfigError,
    check_ae_title,
    check_callers,
    check_choice,
    check_log_level,
    check_max_pdu,
    check_name,
    check_not_empty,
    check_port,
    check_uids,
    default_storage,
    is_valid_uid,
    item,
)
from mw_tui.config.deid import BASIC_PROFILE, BurnedIn, DateHandling, DeidProfile
from mw_tui.config.importing import ImportingConfig
from mw_tui.config.labels import LabelsConfig
from mw_tui.config.mcm import McmConfig
from mw_tui.config.parsing import (
    loads,
    parse,
)
from mw_tui.config.paths import StoragePaths
from mw_tui.config.publishers import PUBLISHER_KINDS, Publisher
from mw_tui.config.sections import (
    EXAMPLES,
    MITRA_REPORT_UIDS,
    PIN_HASH_RE,
    REPORT_MATCH_KEYS,
    SECTIONS,
    Archive,
    CloudTarget,
    Config,
    DevicesConfig,
    DicomConfig,
    JobsConfig,
    MediaConfig,
    ReportSource,
    RetentionConfig,
    Rule,
    StationConfig,
    TlsConfig,
    UiConfig,
    check_command,
    check_match_on,
    check_pin_hash,
    check_speed,
    check_target,
    check_url,
    default_mount_folder,
    secrets_exposed,
)
from mw_tui.config.targets import Target, TargetKind
from mw_tui.config.writing import (
    ConfigFile,
    default_text,
    describe,
    write_atomic,
)

__all__ = [
    "BASIC_PROFILE",
    "ENV_VAR",
    "EXAMPLES",
    "LOG_LEVELS",
    "MITRA_REPORT_UIDS",
    "PIN_HASH_RE",
    "PUBLISHER_KINDS",
    "REPORT_MATCH_KEYS",
    "SECTIONS",
    "SYSTEM_PATH",
    "Archive",
    "AuditConfig",
    "BurnedIn",
    "Check",
    "CloudTarget",
    "Config",
    "ConfigError",
    "ConfigFile",
    "DateHandling",
    "DeidProfile",
    "DevicesConfig",
    "DicomConfig",
    "ImportingConfig",
    "JobsConfig",
    "LabelsConfig",
    "McmConfig",
    "MediaConfig",
    "Publisher",
    "ReportSource",
    "RetentionConfig",
    "Rule",
    "StationConfig",
    "StoragePaths",
    "Target",
    "TargetKind",
    "TlsConfig",
    "UiConfig",
    "check_ae_title",
    "check_callers",
    "check_choice",
    "check_command",
    "check_log_level",
    "check_match_on",
    "check_max_pdu",
    "check_name",
    "check_not_empty",
    "check_pin_hash",
    "check_port",
    "check_repository",
    "check_speed",
    "check_target",
    "check_uids",
    "check_url",
    "default_mount_folder",
    "default_storage",
    "default_text",
    "describe",
    "find_config",
    "is_valid_uid",
    "item",
    "load",
    "loads",
    "parse",
    "parse_repository",
    "secrets_exposed",
    "user_config_path",
    "write_atomic",
]


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
