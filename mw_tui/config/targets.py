"""Where a medium goes, typed once: parsed from text at the edge (a command's `--to`, a
rule's `target` in this configuration, a screen's choice) and handed around as a value;
the writer for it is chosen from that value (`devices.writers.writer_for`), and the
writer's class answers every "what does this target need" question."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TargetKind(StrEnum):
    """The kinds of targets, and of the writers that serve them."""

    DISC = "disc"
    USB = "usb"
    ISO = "iso"
    CLOUD = "cloud"
    PUBLISHER = "publisher"  # a disc robot ([[publishers]])


NEEDS_WHERE = {TargetKind.ISO: "path", TargetKind.CLOUD: "name", TargetKind.PUBLISHER: "name"}
NOTATION = "iso:PATH, disc[:DEVICE], usb[:DEVICE], cloud:NAME or publisher:NAME"


@dataclass(frozen=True, slots=True)
class Target:
    """`disc[:DEVICE]`, `usb[:DEVICE]`, `iso:PATH` (a folder, or a file name ending in
    .iso), `cloud:NAME` (a `[[targets]]` entry) or `publisher:NAME` (a `[[publishers]]`
    entry)."""

    kind: TargetKind
    where: str = ""  # device, folder or file path, or cloud target name

    @classmethod
    def parse(cls, text: str) -> Target:
        """ValueError with what is allowed when `text` is not a target."""
        kind, _, where = text.partition(":")
        try:
            k = TargetKind(kind.strip().lower())
        except ValueError:
            raise ValueError(f"unknown target {text!r}: use {NOTATION}") from None
        if k in NEEDS_WHERE and not where.strip():
            raise ValueError(f"target {k.value} needs a {NEEDS_WHERE[k]}: {k.value}:...")
        return cls(k, where.strip())

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.where}" if self.where else self.kind.value


def check_target(value: str) -> str | None:
    """For the configuration: None when `value` is a target, else what is allowed."""
    try:
        Target.parse(value)
    except ValueError:
        kind = value.partition(":")[0]
        if kind in NEEDS_WHERE:
            return f"a target with a {NEEDS_WHERE[TargetKind(kind)]} after '{kind}:'"
        return f"a target: {NOTATION}"
    return None
