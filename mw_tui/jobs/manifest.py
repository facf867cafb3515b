"""A built job's volumes, saved next to its files so a restart resumes without rebuilding."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mw_tui.config import write_atomic
from mw_tui.media.volume import Pack, ReadBack, Volume, VolumeFile

NAME = "manifest.json"


def save(volumes: list[Volume], workdir: Path) -> list[Volume]:
    """Write the manifest (generated files go to `workdir/generated`); returns the volumes
    with every file backed by a file on disk."""
    out: list[Volume] = []
    rows = []
    for v in volumes:
        files = list(v.files)
        if any(f.data is not None for f in files):
            files = _pack_generated(files, workdir / "generated" / f"{v.number}.PCK")
        v = dataclasses.replace(v, files=tuple(files))
        out.append(v)
        rows.append({
            "label": v.label, "profile": v.profile, "number": v.number, "count": v.count,
            "iso": str(v.iso) if v.iso else "", "iso_md5": v.iso_md5 or "",
            "iso_size": v.iso_size or 0, "created": v.created, "patients": list(v.patients),
            "studies": list(v.studies), "capacity": v.capacity,
            "read_back": v.read_back.to_json() if v.read_back else None,
            "files": [[f.dest, f.size, str(f.source), f.is_dicom, f.offset] for f in v.files],
        })
    write_atomic(workdir / NAME, json.dumps(rows))
    return out


def load(workdir: Path) -> list[Volume] | None:
    """The saved volumes, or None when there is no complete manifest or a file is gone."""
    try:
        rows = json.loads((workdir / NAME).read_text())
    except (OSError, ValueError):
        return None
    volumes = []
    for r in rows:
        files = tuple(VolumeFile(dest, size, Path(src), None, bool(is_dicom),
                                 offset[0] if offset else None)  # older: no offset
                      for dest, size, src, is_dicom, *offset in r["files"])
        if any(f.source is None or not f.source.exists() for f in files):
            return None
        iso = Path(r["iso"]) if r["iso"] else None
        if iso is not None and not iso.exists():
            return None
        volumes.append(Volume(
            label=r["label"], profile=r["profile"], number=r["number"], count=r["count"],
            files=files, iso=iso, iso_md5=r["iso_md5"] or None, iso_size=r["iso_size"] or None,
            created=r["created"], patients=tuple(r["patients"]), studies=tuple(r["studies"]),
            capacity=r["capacity"], read_back=ReadBack.from_json(r.get("read_back"))))
    return volumes


def _pack_generated(files: list[VolumeFile], path: Path) -> list[VolumeFile]:
    """The files, those generated in memory written one after the other into the pack
    `path` (one file for the pages of a thousand images) and read from their ranges."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pack, out = Pack(path, atomic=True), []
    try:
        for v in files:
            if v.data is not None:
                v = dataclasses.replace(v, size=len(v.data), source=path, data=None,
                                        offset=pack.add(v.data))
            out.append(v)
    except BaseException:
        pack.abandon()
        raise
    pack.close()
    return out
