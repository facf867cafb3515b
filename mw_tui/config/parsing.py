"""Validating a parsed TOML document into a `Config` (every problem named)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions

from mw_tui.config.checks import (
    Check,
    ConfigError,
)
from mw_tui.config.sections import (
    SECTIONS,
    Config,
)

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
    for name, (_, is_array) in SECTIONS.items():
        if not is_array:
            continue
        names = [getattr(a, "name", None) for a in parts.get(name, ())]
        for dup in sorted({n for n in names if n is not None and names.count(n) > 1}):
            errors.append(f"{name}: the name {dup!r} is used twice (names must be unique)")
        for t in parts.get(name, ()):
            if hasattr(t, "problems"):
                errors += [f"{name} {t.name!r}: {p}" for p in t.problems()]
    errors += _rule_problems(parts)
    for name, (_, is_array) in SECTIONS.items():
        if not is_array and hasattr(parts.get(name), "problems"):
            errors += [f"[{name}]: {p}" for p in parts[name].problems()]
    if errors:
        raise ConfigError(errors, path)
    return Config(path=path, **{k: v for k, v in parts.items() if v is not None})


def _rule_problems(parts: dict[str, Any]) -> list[str]:
    """Rules naming what is not configured, or rules and [mcm] sending identified data
    outside by themselves (nobody is there to confirm it)."""
    out = []
    profiles = {p.name for p in parts.get("deid_profiles", ())} | {"basic"}
    targets = {t.name: t for t in parts.get("targets", ())}
    for i, rule in enumerate(parts.get("rules", ()), 1):
        if rule.deid_profile and rule.deid_profile not in profiles:
            out.append(f"rules[{i}].deid_profile = {rule.deid_profile!r}: no such "
                       f"[[deid_profiles]] profile (known: {', '.join(sorted(profiles))})")
        kind, _, where = rule.target.partition(":")
        target = targets.get(where) if kind == "cloud" else None
        if target is not None and target.external and not rule.deid_profile:
            out.append(f"rules[{i}] {rule.name!r}: target {rule.target} is external (outside "
                       "the hospital): a rule may only send anonymous copies there; set "
                       "deid_profile, or external = false on the target if it is the "
                       "hospital's own")
    mcm = parts.get("mcm")
    asked = mcm.target if mcm is not None else ""
    kind, _, where = asked.partition(":")
    target = targets.get(where) if kind == "cloud" else None
    if target is not None and target.external:
        out.append(f"[mcm] target = {asked!r}: that target is external (outside the "
                   "hospital), and media asked for over DICOM carry identified data nobody "
                   "confirms; choose another target, or set external = false on the target "
                   "if it is the hospital's own")
    return out


def loads(text: str, path: Path | None = None) -> Config:
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:  # ParseError, KeyAlreadyPresent
        raise ConfigError([f"not valid TOML: {exc}"], path) from exc
    return parse(doc, path)
