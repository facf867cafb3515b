"""Identifiers on a medium: the File-set ID that is also the volume label."""

from __future__ import annotations

import re
from datetime import datetime

FILESET_ID_MAX = 16  # CS, and the ISO 9660 volume identifier we give it: A-Z 0-9 _


def fileset_id(created: datetime, number: int = 1, count: int = 1, asked: str = "") -> str:
    """`MW2601261530` for a single medium; `2601261530_1OF3` ("disc 1 of 3") for a set,
    shortened to `01261530_10OF12` when the set has ten media or more. `asked`: the ID a
    requester chose (Storage Media File-Set ID), made of A-Z 0-9 _ and cut to fit."""
    suffix = f"_{number}OF{count}" if count > 1 else ""
    clean = re.sub(r"[^A-Z0-9_]", "_", asked.strip().upper()).strip("_")
    if clean:
        return clean[:FILESET_ID_MAX - len(suffix)] + suffix
    if count <= 1:
        return "MW" + created.strftime("%y%m%d%H%M")
    base = created.strftime("%y%m%d%H%M")
    if len(base) + len(suffix) > FILESET_ID_MAX:
        base = created.strftime("%m%d%H%M")
    return (base + suffix)[:FILESET_ID_MAX]
