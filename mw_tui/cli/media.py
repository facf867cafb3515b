"""`mw-tui build`: studies of the store -> DICOM media (ISO images or folder trees)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from mw_tui import config as cfg
from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from mw_tui.util.text import human_size


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
    p.add_argument("--anonymize", metavar="PROFILE", default="",
                   help="write anonymous copies, de-identified with this [[deid_profiles]] "
                        "profile (\"basic\": the Basic Profile); nothing de-identified is "
                        "kept in the store")
    p.add_argument("--workdir", metavar="DIR",
                   help="folder for transcoded files while building (default: media.work)")
    p.set_defaults(run=run_build)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    return fail("build", message, code)


def run_build(args: argparse.Namespace) -> int:
    from mw_tui.station.media import Built, NothingStored, build_media, capacity_of
    from mw_tui.station.models import (
        BuildError,
        DeidError,
        IsoError,
        StageError,
        parse_profile,
    )

    config: cfg.Config = args.cfg
    try:
        profile = parse_profile(args.profile or config.media.default_profile)
        capacity, block = capacity_of(profile, args.medium, args.capacity,
                                      Path(args.dir) if args.dir else None)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    cancel = threading.Event()

    def show(b: Built) -> None:
        v = b.volume
        size = human_size(v.iso_size or 0) if args.iso else human_size(v.size)
        md5 = f"  md5 {v.iso_md5}" if args.iso else ""
        print(f"disc {v.number} of {v.count}: {v.label}  {v.profile}  {b.files} DICOM files  "
              f"{size}{md5}  {b.path}", flush=True)

    try:
        build_media(config, args.studies, profile, capacity, block, Path(args.iso or args.dir),
                    iso=bool(args.iso), workdir=Path(args.workdir) if args.workdir else None,
                    cancel=cancel, on_volume=show, anonymize=args.anonymize,
                    on_warning=lambda text: print(f"mw-tui build: {text}", file=sys.stderr))
    except KeyError as exc:
        return _fail(str(exc.args[0]), EXIT_USAGE)
    except NothingStored as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot use the work folder: {exc}")
    except (BuildError, IsoError, StageError, DeidError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        cancel.set()
        return _fail("interrupted", 130)
    return EXIT_OK
