"""`mw-tui reports STUDY_UID`: fetch a study's reports into the store and list them."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any, TextIO

from mw_tui import config as cfg
from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, cancel_on_interrupt, fail


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reports", help="fetch a study's reports into the store and list them",
        description="Ask the report brokers ([[report_sources]], Mitra Report Management) "
                    "and the archives (SR and PDF objects of the study) for the study's "
                    "reports, put them into the station's store (reports fetched as text "
                    "become Basic Text SR documents of the study) and list them. Exit 1 "
                    "when a source could not answer.")
    p.add_argument("study_uid", metavar="STUDY_UID")
    p.add_argument("--archive", action="append", metavar="NAME",
                   help="look for SR/PDF objects only on this archive (repeatable; "
                        "default: every configured archive)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array: source, title, status, date, time, author, "
                        "origin, SOPInstanceUID, SOPClassUID, added, text, impressions")
    p.set_defaults(run=run_reports)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    return fail("reports", message, code)


def run_reports(args: argparse.Namespace) -> int:
    from mw_tui.station import Station
    from mw_tui.station.models import ReceiverError, UnknownArchive

    config: cfg.Config = args.cfg
    uid = args.study_uid.strip()
    if not cfg.is_valid_uid(uid):
        return _fail(f"not a valid Study Instance UID: {uid!r} (digits and dots, e.g. "
                     "1.2.840.113619.2.55.3)", EXIT_USAGE)
    names = args.archive or [a.name for a in config.archives]
    unknown = [n for n in names if n not in {a.name for a in config.archives}]
    if unknown:
        return _fail(str(UnknownArchive(unknown[0], [a.name for a in config.archives])),
                     EXIT_USAGE)
    if not names and not config.report_sources:
        return _fail("nothing to ask: no report source ([[report_sources]]: name, ae_title, "
                     "host, port) and no archive ([[archives]]) is configured", EXIT_USAGE)
    cancel = threading.Event()
    station = Station(config)

    def started(note: str) -> None:
        print(f"mw-tui reports: {note} for the archives' report objects", file=sys.stderr)

    try:
        with cancel_on_interrupt(cancel):
            result = station.fetch_reports(uid, names, cancel, started)
    except ReceiverError as exc:
        return _fail(f"cannot receive the archives' report objects: {exc}")
    finally:
        station.stop()
    if args.json:
        json.dump([r.to_json() for r in result.reports], sys.stdout, ensure_ascii=False,
                  indent=2)
        print()
    else:
        _print_table(result, sys.stdout)
    for e in result.errors:
        print(f"mw-tui reports: {e.origin}: {e.message}", file=sys.stderr)
    if result.cancelled:
        print("mw-tui reports: cancelled", file=sys.stderr)
        return 130
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_table(result: Any, out: TextIO) -> None:
    if not result.reports:
        print(f"no reports found for study {result.study_uid}", file=out)
        return
    print(f"{'Source':<6} {'Status':<11} {'Date':<8} {'Author':<24} {'From':<10} Title",
          file=out)
    for r in result.reports:
        print(f"{r.kind.value:<6} {r.status.value or '-':<11} {r.date or '-':<8} "
              f"{(r.author or '-')[:24]:<24} {r.origin[:10]:<10} {r.title}", file=out)
    n = result.count
    print(f"{n} report{'s' if n != 1 else ''}"
          + (f", {result.added} new in the store" if result.added else ""), file=out)
