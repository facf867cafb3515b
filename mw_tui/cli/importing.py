"""`mw-tui import`: a patient's outside disc or stick (a folder, an ISO file, a device)
into the PACS under the local patient, as a job followed to its end; `--list` only shows
what the medium holds."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any, TextIO

from mw_tui import config as cfg
from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, JobFollower, fail
from mw_tui.station.jobs import wait_finished
from mw_tui.station.models import (
    JobState,
    LocalPatient,
    Medium,
    MediumError,
    PlanError,
    Proposal,
)
from mw_tui.util.text import human_size


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import", help="import a patient's outside disc, stick, folder or ISO file into the "
                       "PACS",
        description="Read what the medium holds (its DICOMDIR, or every file), give its "
                    "studies the local patient's identity (the outside ID is kept in Other "
                    "Patient IDs Sequence), send them to the archive and check each one "
                    "there. Exits 0 only when the archive holds every instance sent. Without "
                    "--patient-id or --keep-ids it lists the local patients the archives know "
                    "by the outside name and birth date, and asks for one.")
    p.add_argument("source", metavar="SOURCE",
                   help="a folder, an ISO file, or a device (/dev/sr0, /dev/sdb1)")
    p.add_argument("--to", dest="destination", default="", metavar="ARCHIVE|cloud:NAME",
                   help="an [[archives]] name (C-STORE) or cloud:NAME of a [[targets]] entry "
                        "(STOW-RS); default: [importing] destination, else the first archive")
    p.add_argument("--patient-id", default="", metavar="ID",
                   help="the local patient ID the studies get")
    p.add_argument("--issuer", default="", metavar="I",
                   help="Issuer of Patient ID of the local ID (default: [importing] issuer)")
    p.add_argument("--patient-name", default="", metavar="N",
                   help="the local patient's name, Family^Given (default: as on the medium)")
    p.add_argument("--keep-ids", action="store_true",
                   help="keep the outside patient identifiers")
    p.add_argument("--list", action="store_true", help="only show what the medium holds")
    p.add_argument("--json", action="store_true",
                   help="with --list: an array of studies keyed by DICOM keyword, with "
                        "`files` and `unreadable`; else the finished job as JSON")
    p.set_defaults(run=run_import)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    return fail("import", message, code)


def print_medium(medium: Medium, out: TextIO) -> None:
    """The patients, studies and series of a medium, and what cannot be imported."""
    print(f"{medium.kind.value} {medium.label} ({medium.source}): DICOMDIR "
          f"{medium.dicomdir.value}; {len(medium.patients)} patient(s), "
          f"{len(medium.studies)} study(ies), {medium.instance_count} instances, "
          f"{human_size(medium.size)}", file=out)
    for p in medium.patients:
        issuer = f" ({p.issuer})" if p.issuer else ""
        print(f"{p.name}  {p.patient_id or '(no ID)'}{issuer}  born {p.birth_date or '?'}  "
              f"{p.sex or '?'}", file=out)
        for s in p.studies:
            print(f"  {s.study_uid}  {s.date}  {'/'.join(s.modalities)}  {s.description}  "
                  f"acc {s.accession or '-'}  {len(s.series)} series, {s.instance_count} "
                  f"instances, {human_size(s.size)}", file=out)
            for se in s.series:
                print(f"    {se.modality} #{se.number} {se.description}  "
                      f"{len(se.instances)} instances", file=out)
    if medium.unreadable:
        print(f"{len(medium.unreadable)} file(s) cannot be imported:", file=out)
        for u in medium.unreadable:
            print(f"  {u.path}: {u.reason}", file=out)
    for note in medium.notes:
        print(f"note: {note}", file=out)


def print_proposals(proposals: list[Proposal], out: TextIO) -> None:
    for proposal in proposals:
        p = proposal.outside
        print(f"{p.name} ({p.patient_id or 'no ID'}, born {p.birth_date or '?'}): "
              f"{len(proposal.candidates)} local patient(s) found", file=out)
        for c in proposal.candidates:
            issuer = f" ({c.issuer})" if c.issuer else ""
            studies = f", {c.studies} studies" if c.studies is not None else ""
            print(f"  {c.patient_id}{issuer}  {c.name}  born {c.birth_date or '?'}  "
                  f"{c.match.value}  on {', '.join(c.archives)}{studies}", file=out)
        for error in proposal.errors:
            print(f"  not searched: {error}", file=out)


def run_import(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    config: cfg.Config = args.cfg
    if args.keep_ids and (args.patient_id or args.patient_name or args.issuer):
        return _fail("--keep-ids keeps the outside identifiers: it goes without "
                     "--patient-id, --patient-name and --issuer", EXIT_USAGE)
    station = Station(config, receive=False, watch_devices=False)
    out = sys.stderr if args.json else sys.stdout
    try:
        if args.list or not (args.patient_id or args.keep_ids):
            try:
                medium = station.read_medium(args.source)
            except MediumError as exc:
                return _fail(str(exc))
            if args.list and args.json:
                json.dump(medium.to_json(), sys.stdout, ensure_ascii=False, indent=2)
                print()
                return EXIT_OK
            print_medium(medium, sys.stdout if args.list else out)
            if args.list:
                return EXIT_OK
            if not medium.patients:
                return _fail(f"{args.source} holds no DICOM file this station can import")
            proposals = station.propose_patients(medium)
            print_proposals(proposals, out)
            best = [p.best.patient_id for p in proposals if p.best is not None]
            hint = f" (proposed: --patient-id {best[0]})" if len(best) == 1 else ""
            return _fail(f"whose studies are these here? Give the local patient with "
                         f"--patient-id ID{hint}, or --keep-ids to keep the outside ones",
                         EXIT_USAGE)
        try:  # the job reads the medium (and refuses to merge several patients into one)
            local = None if args.keep_ids else LocalPatient(
                args.patient_id, args.issuer, args.patient_name)
            plan = station.import_plan(local, args.destination)
        except PlanError as exc:
            return _fail(str(exc), EXIT_USAGE)
        return _run_job(station, args, plan, out)
    except Exception as exc:
        return _fail(str(exc))
    finally:
        station.stop()


def _run_job(station: Any, args: argparse.Namespace, plan: Any, out: TextIO) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    station.start()
    job = station.create_import_job(args.source, plan)
    print(f"job {job.id}: import of {args.source} into {plan.destination}"
          + (" (queued for the station that runs the jobs)" if station.runner_busy else ""),
          file=out, flush=True)
    follower = JobFollower(sys.stderr if sys.stderr.isatty() or args.json else sys.stdout)
    try:
        job = station.follow(job.id, follower.show, stop)
    except KeyboardInterrupt:
        stop.set()
    follower.end()
    if stop.is_set() and not job.state.finished:
        station.cancel_job(job.id)
        wait_finished(station, job.id, 30)
        return _fail(f"job {job.id} cancelled: what the archive confirmed stays there", 130)
    if args.json:
        json.dump(station.job(job.id).to_json(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    for _at, state, message in station.job_history(job.id):  # what it found and did
        print(f"  {state}: {message}", file=out)
    if job.state is JobState.DONE:
        print(f"job {job.id} done: {job.progress.message}", file=out)
        return EXIT_OK
    return _fail(f"job {job.id} {job.state.value}: {job.error or 'see mw-tui jobs show'}")
