"""What the technician decided for one import: which studies, the local patient they
belong to (or none: keep the outside identifiers), where they go, and the options.

A plan is a small frozen value that a job can store (`to_dict` / `from_dict`) and give
back after a restart: with `new_uids`, the UIDs derive from its `uid_salt`, so a resumed
import sends the very same instances.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from mw_tui.config import Config

SEXES = ("M", "F", "O")


class PlanError(ValueError):
    """A plan value is not acceptable; the message says which and why."""


class DestinationKind(StrEnum):
    ARCHIVE = "archive"  # an [[archives]] entry: C-STORE
    CLOUD = "cloud"  # a [[targets]] entry: STOW-RS


@dataclass(frozen=True, slots=True)
class Destination:
    kind: DestinationKind
    name: str

    @classmethod
    def parse(cls, text: str, config: Config) -> Destination:
        """`NAME` (an archive) or `cloud:NAME` (a cloud target); "" = the configured
        `[importing] destination`, else the first archive. PlanError when unknown."""
        text = text.strip() or config.importing.destination
        if not text:
            if not config.archives:
                raise PlanError("No archive is configured to import into: add one "
                                "([[archives]]) or name a cloud target (cloud:NAME).")
            return cls(DestinationKind.ARCHIVE, config.archives[0].name)
        if text.startswith("cloud:"):
            name = text.removeprefix("cloud:")
            if not any(t.name == name for t in config.targets):
                known = ", ".join(f"cloud:{t.name}" for t in config.targets) or "none"
                raise PlanError(f"No cloud target named {name!r} (known: {known}).")
            return cls(DestinationKind.CLOUD, name)
        if not any(a.name == text for a in config.archives):
            known = ", ".join(a.name for a in config.archives) or "none configured"
            raise PlanError(f"No archive named {text!r} (known: {known}).")
        return cls(DestinationKind.ARCHIVE, text)

    def __str__(self) -> str:
        return f"cloud:{self.name}" if self.kind is DestinationKind.CLOUD else self.name


def _check_text(what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise PlanError(f"{what} {value!r}: at most {limit} characters")
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        raise PlanError(f"{what} {value!r}: no backslash or control characters")


@dataclass(frozen=True, slots=True)
class LocalPatient:
    """The local identity the studies get. The ID is required; an empty issuer removes
    the outside one; an empty name, birth date or sex keeps the outside value."""

    patient_id: str
    issuer: str = ""
    name: str = ""
    birth_date: str = ""  # YYYYMMDD
    sex: str = ""  # M, F or O

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise PlanError("the local patient ID is empty: type it, or keep the outside "
                            "identifiers")
        _check_text("patient ID", self.patient_id, 64)
        _check_text("issuer of patient ID", self.issuer, 64)
        _check_text("patient name", self.name, 64 * 5)
        if self.birth_date:
            try:
                datetime.datetime.strptime(self.birth_date, "%Y%m%d")
            except ValueError:
                raise PlanError(f"birth date {self.birth_date!r}: use YYYYMMDD") from None
        if self.sex and self.sex not in SEXES:
            raise PlanError(f"sex {self.sex!r}: use M, F or O")


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """One import: the studies of the medium (empty = all) sent to `destination`."""

    destination: str  # an archive name or cloud:NAME
    local: LocalPatient | None  # None: keep the outside identifiers
    study_uids: tuple[str, ...] = ()
    accession: str = ""  # set on every study when not empty
    new_uids: bool = False
    uid_salt: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self) -> None:
        _check_text("accession number", self.accession, 16)

    @classmethod
    def make(cls, config: Config, local: LocalPatient | None, *, destination: str = "",
             study_uids: tuple[str, ...] = (), accession: str = "",
             new_uids: bool | None = None) -> ImportPlan:
        """A plan with the configuration's defaults: the destination, the local issuer
        when none was typed, and `[importing] new_uids`."""
        dest = Destination.parse(destination, config)
        if local is not None and not local.issuer and config.importing.issuer:
            local = LocalPatient(local.patient_id, config.importing.issuer, local.name,
                                 local.birth_date, local.sex)
        return cls(str(dest), local, tuple(study_uids), accession,
                   config.importing.new_uids if new_uids is None else new_uids)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportPlan:
        local = data.get("local")
        return cls(str(data["destination"]), LocalPatient(**local) if local else None,
                   tuple(data.get("study_uids", ())), str(data.get("accession", "")),
                   bool(data.get("new_uids", False)), str(data["uid_salt"]))
