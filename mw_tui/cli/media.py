"""`mw-tui build`: studies of the store -> DICOM media (ISO images or folder trees)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from mw_tui import config as cfg

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(sub: Any) -> None:
    p = sub.add_parser(
        "build", help="write studies of the store as DICOM media (ISO image or folder)",
        description="Build a DICOM File-set (DICOMDIR, README.TXT, IHE PDI web pages) of the "
                    "given studies for a media profile, as an ISO 9660 + Joliet image or a "
                    "folder. A job too big for one medium becomes several volumes: FILE "
                    "becomes FILE_1.iso, FILE_2.iso ... (DIR becomes DIR_1, DIR_2 ...).")
    p.add_argument("--study", nargs="+", action="extend", required=True, metavar="UID",
                   dest="studies", help="Study Instance UID(s) in the store (mw-tui studies)")
    p.add_argument("--profile", metavar="PROFILE",
                   help="STD-GEN-CD, STD-GEN-DVD, STD-GEN-DVD-JPEG, STD-GEN-DVD-J2K, "
                        "STD-GEN-USB-JPEG or STD-GEN-USB-J2K (default: media.default_profile)")
    p.add_argument("--medium", type=str.upper, choices=["CD", "DVD", "DVD-DL", "BD", "USB"],
                   help="size of one medium (default: CD for STD-GEN-CD, USB for the USB "
                        "profiles, else DVD)")
    p.add_argument("--capacity", metavar="SIZE",
                   help="bytes one medium holds, e.g. 700M or 4.7G (overrides --medium; "
                        "USB: the free space of --dir's file system)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--iso", metavar="FILE", help="write an ISO image")
    out.add_argument("--dir", metavar="DIR", help="write the files into a new or empty folder")
    p.add_argument("--workdir", metavar="DIR",
                   help="folder for transcoded files while building (default: media.work)")
    p.set_defaults(run=run_build)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"mw-tui build: {message}", file=sys.stderr)
    return code


def numbered(path: Path, number: int, count: int) -> Path:
    """`out.iso` -> `out_2.iso` when there are several volumes (`dir` -> `dir_2`)."""
    if count <= 1:
        return path
    return path.with_name(f"{path.stem}_{number}{path.suffix}")


def _size(n: int) -> str:
    from mw_tui.cli.station import human_size

    return str(human_size(n))


def _capacity(args: argparse.Namespace, profile: Any) -> tuple[int | None, int]:
    from mw_tui.media.profiles import MEDIA, parse_size

    medium = MEDIA[args.medium] if args.medium else profile.default_medium
    if args.capacity:
        return parse_size(args.capacity), medium.block
    if medium.capacity is None and args.dir:
        target = Path(args.dir)
        while not target.exists():
            target = target.parent
        return shutil.disk_usage(target).free, medium.block
    return medium.capacity, medium.block


def run_build(args: argparse.Namespace) -> int:
    from mw_tui.media import (
        BuildError,
        IsoError,
        StageError,
        build_volumes,
        parse_profile,
        stage_tree,
        write_iso,
    )
    from mw_tui.store import Store

    config: cfg.Config = args.cfg
    try:
        profile = parse_profile(args.profile or config.media.default_profile)
        capacity, block = _capacity(args, profile)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    if not (config.storage / "index.sqlite").exists():
        return _fail(f"no store in {config.storage}: nothing received or retrieved yet")
    work_root = Path(args.workdir or config.media.work or config.storage / "media-work")
    target = Path(args.iso or args.dir)
    store = Store(config.storage)
    cancel = threading.Event()
    try:
        work_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=work_root))
    except OSError as exc:
        store.close()
        return _fail(f"cannot use the work folder {work_root}: {exc}")
    try:
        volumes = build_volumes(store, args.studies, profile, capacity, work, block=block,
                                settings=config.media, cancel=cancel)
        for v in volumes:
            dest = numbered(target, v.number, v.count)
            files = len(v.dicom_files())
            if args.iso:
                dest.parent.mkdir(parents=True, exist_ok=True)
                v = write_iso(v, dest, cancel=cancel)
                print(f"disc {v.number} of {v.count}: {v.label}  {v.profile}  {files} DICOM "
                      f"files  {_size(v.iso_size or 0)}  md5 {v.iso_md5}  {dest}")
            else:
                stage_tree(v, dest, cancel=cancel)
                print(f"disc {v.number} of {v.count}: {v.label}  {v.profile}  {files} DICOM "
                      f"files  {_size(v.size)}  {dest}")
            sys.stdout.flush()
    except (BuildError, IsoError, StageError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        cancel.set()
        return _fail("interrupted", 130)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        store.close()
    return EXIT_OK
