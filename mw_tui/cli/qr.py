"""Query/Retrieve commands: `find`, `retrieve`, `echo` (through the station layer)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any, TextIO

from mw_tui import config as cfg
from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, cancel_on_interrupt
from mw_tui.cli.common import fail as _fail
from mw_tui.station.models import (
    QueryError,
    ReceiverError,
    RetrieveState,
    StudyQuery,
    UnknownArchive,
    no_archives,
    unknown_archive,
)


def register(sub: Any) -> None:
    p = sub.add_parser("find", help="search the archives for studies",
                       description="Search every configured archive (or those named with "
                                   "--archive) in parallel; studies are merged by Study "
                                   "Instance UID. Exit 1 when an archive could not answer.")
    p.add_argument("--archive", action="append", metavar="NAME",
                   help="search only this archive (repeatable)")
    p.add_argument("--patient-name", default="", metavar="P",
                   help="patient name, * and ? as wildcards (e.g. 'Doe^J*')")
    p.add_argument("--patient-id", default="", metavar="ID", help="patient ID (exact)")
    p.add_argument("--accession", default="", metavar="A", help="accession number (exact)")
    p.add_argument("--birth-date", default="", metavar="D", help="birth date YYYYMMDD")
    p.add_argument("--sex", default="", metavar="S", help="patient sex: M, F or O")
    p.add_argument("--study-date", default="", metavar="YYYYMMDD[-YYYYMMDD]",
                   help="study date or range; open ends allowed (20240101-, -20240131)")
    p.add_argument("--modality", default="", metavar="M", help="modality in the study (CT, MR, "
                                                               "...)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array keyed by DICOM keyword, plus 'archives'")
    p.set_defaults(run=run_find)

    p = sub.add_parser("retrieve", help="retrieve studies from an archive into the store",
                       description="Retrieve studies by Study Instance UID (C-MOVE to this "
                                   "station, or C-GET where the archive is set to 'get'). "
                                   "Without --archive, the first archive holding each study "
                                   "is used. Exit 0 only when every image arrived.")
    p.add_argument("--archive", metavar="NAME", help="retrieve from this archive")
    p.add_argument("study_uids", nargs="+", metavar="STUDY_UID")
    p.set_defaults(run=run_retrieve)

    p = sub.add_parser("echo", help="check that an archive answers (C-ECHO)",
                       description="C-ECHO an archive (every configured one without a name). "
                                   "Exit 0 when all answered.")
    p.add_argument("archive", nargs="?", metavar="ARCHIVE")
    p.set_defaults(run=run_echo)


# -- find --------------------------------------------------------------------------------


def run_find(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    config: cfg.Config = args.cfg
    try:
        query = StudyQuery.from_text(
            patient_name=args.patient_name, patient_id=args.patient_id,
            accession=args.accession, birth_date=args.birth_date, sex=args.sex,
            study_date=args.study_date, modality=args.modality)
    except QueryError as exc:
        return _fail("find", str(exc), EXIT_USAGE)
    if not config.archives:
        return _fail("find", no_archives(), EXIT_USAGE)
    try:
        result = Station(config).search(query, args.archive)
    except UnknownArchive as exc:
        return _fail("find", str(exc), EXIT_USAGE)
    if args.json:
        json.dump([s.to_json() for s in result.studies], sys.stdout, ensure_ascii=False,
                  indent=2)
        print()
    else:
        _print_table(result.studies, sys.stdout)
    for o in result.outcomes:
        if not o.ok:
            print(f"mw-tui find: {o.archive}: {o.message}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_table(studies: Any, out: TextIO) -> None:
    if not studies:
        print("no matching studies", file=out)
        return
    print(f"{'Patient':<24} {'ID':<12} {'Born':<8} {'Date':<8} {'Mod':<7} {'Img':>5} "
          f"{'Accession':<12} {'Description':<24} {'Archives':<12} Study Instance UID", file=out)
    for s in studies:
        img = "" if s.instances is None else str(s.instances)
        print(f"{s.patient_name[:24]:<24} {s.patient_id[:12]:<12} {s.birth_date:<8} "
              f"{s.study_date:<8} {'/'.join(s.modalities)[:7]:<7} {img:>5} "
              f"{s.accession[:12]:<12} {s.description[:24]:<24} "
              f"{','.join(s.archives)[:12]:<12} {s.study_uid}", file=out)
    print(f"{len(studies)} {'study' if len(studies) == 1 else 'studies'}", file=out)


# -- retrieve ----------------------------------------------------------------------------


class ProgressPrinter:
    """A bar on a terminal (rewritten in place), plain lines otherwise."""

    WIDTH = 30

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last_line = 0.0
        self._last_study = ""
        self._drawn = False

    def __call__(self, p: Any) -> None:
        total = p.total
        if self.tty:
            frac = p.done / total if total else 0.0
            bar = "#" * int(frac * self.WIDTH)
            count = f"{p.done}/{total}" if total is not None else f"{p.done}"
            failed = f", {p.failed} failed" if p.failed else ""
            self.out.write(f"\rstudy {p.study_index}/{p.studies} [{bar:<{self.WIDTH}}] "
                           f"{count} images{failed} ")
            self.out.flush()
            self._drawn = True
            return
        now = time.monotonic()
        if p.done == 0 and not total:
            return  # nothing to tell yet (or the archive sends nothing: the reason follows)
        if p.study_uid != self._last_study or now - self._last_line >= 1.0 or p.remaining == 0:
            self._last_study, self._last_line = p.study_uid, now
            count = f"{p.done} of {total}" if total is not None else f"{p.done}"
            print(f"study {p.study_index}/{p.studies} {p.study_uid}: {count} images "
                  f"({p.failed} failed)", file=self.out, flush=True)

    def end(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


def run_retrieve(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    config: cfg.Config = args.cfg
    uids = list(dict.fromkeys(u.strip() for u in args.study_uids))
    bad = [u for u in uids if not cfg.is_valid_uid(u)]
    if bad:
        return _fail("retrieve", f"not a valid Study Instance UID: {', '.join(bad)} (digits and "
                                 "dots, e.g. 1.2.840.113619.2.55.3)", EXIT_USAGE)
    if not config.archives:
        return _fail("retrieve", no_archives(), EXIT_USAGE)
    if args.archive and args.archive not in {a.name for a in config.archives}:
        return _fail("retrieve", unknown_archive(
            args.archive, [a.name for a in config.archives]), EXIT_USAGE)
    station = Station(config)
    problems: list[str] = []
    if args.archive:
        where = {args.archive: uids}
    else:  # the first archive holding each study
        located = station.locate(uids)
        where = {}
        for ref in located.refs:
            where.setdefault(ref.archive, []).append(ref.study_uid)
        problems += [p.replace("was found on no archive", "was found on no archive (searched "
                               f"{', '.join(a.name for a in config.archives)})", 1)
                     for p in located.problems]
    cancel = threading.Event()
    printer = ProgressPrinter(sys.stderr if sys.stderr.isatty() else sys.stdout)
    failed: dict[str, list[str]] = {}

    def done(one: Any) -> None:
        printer.end()
        for item in one.result.items:
            if item.ok:
                print(f"retrieved {item.study_uid} from {one.archive}: {item.arrived} images")
            else:
                failed.setdefault(item.message, []).append(item.study_uid)
        if one.result.state is RetrieveState.CANCELLED:
            problems.append("cancelled")

    def started(note: str) -> None:
        print(f"mw-tui retrieve: {note} for the retrieve", file=sys.stderr)

    try:
        with cancel_on_interrupt(cancel):
            station.retrieve(where, progress=printer, cancel=cancel, started=started,
                             done=done)
    except ReceiverError as exc:
        return _fail("retrieve", f"cannot receive the images: {exc}")
    finally:
        station.stop()
    for message, studies in failed.items():  # one message per reason, with its studies
        problems.append(f"{message} (study {studies[0]})" if len(studies) == 1 else
                        f"{message} ({len(studies)} studies: {', '.join(studies)})")
    for p in dict.fromkeys(problems):
        print(f"mw-tui retrieve: {p}", file=sys.stderr)
    if cancel.is_set():
        return 130
    return EXIT_OK if not problems else EXIT_FAILED


# -- echo --------------------------------------------------------------------------------


def run_echo(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    config: cfg.Config = args.cfg
    if args.archive is None and not config.archives:
        return _fail("echo", no_archives(), EXIT_USAGE)
    names = [args.archive] if args.archive else [a.name for a in config.archives]
    station = Station(config)
    code = EXIT_OK
    for name in names:
        try:
            result = station.echo(name)
        except UnknownArchive as exc:
            return _fail("echo", str(exc), EXIT_USAGE)
        if result.ok:
            print(result.message)
        else:
            print(f"mw-tui echo: {result.message}", file=sys.stderr)
            code = EXIT_FAILED
    return code
