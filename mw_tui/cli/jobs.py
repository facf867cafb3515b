"""Commands for jobs: burn, jobs (list, cancel, run)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any, TextIO

from mw_tui import config as cfg
from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, JobFollower
from mw_tui.station.jobs import wait_finished
from mw_tui.station.models import (
    InvalidTransition,
    Job,
    JobState,
    Target,
    TargetKind,
    parse_profile,
    writer_class,
)
from mw_tui.util.text import human_size


def register(sub: Any) -> None:
    p = sub.add_parser(
        "burn", help="write studies to a medium and wait until it is verified",
        description="Create a job: retrieve from the archives whatever the store lacks, build "
                    "the media, write and verify them. Exits 0 only when every medium is "
                    "verified. When the kiosk (or another command) runs the jobs, the job is "
                    "queued there and followed.")
    p.add_argument("--study", dest="studies", nargs="+", required=True, metavar="UID",
                   help="Study Instance UIDs")
    p.add_argument("--to", dest="target", required=True, metavar="TARGET",
                   help="iso:PATH (a folder, or a file name ending in .iso), disc[:DEVICE], "
                        "usb[:DEVICE] or cloud:NAME")
    p.add_argument("--profile", help="media profile (default: media.default_profile)")
    p.add_argument("--copies", type=int, default=1, help="copies of each disc or stick")
    p.add_argument("--archive", help="retrieve from this archive (default: search them all)")
    p.add_argument("--label", default="", help="label text for the medium")
    p.add_argument("--anonymize", metavar="PROFILE", default="",
                   help="write anonymous copies, de-identified with this [[deid_profiles]] "
                        "profile (\"basic\": the Basic Profile)")
    p.add_argument("--yes-identified", action="store_true",
                   help="confirm that identified data may go to an external target")
    p.add_argument("--no-wait", action="store_true", help="queue the job and return")
    p.set_defaults(run=run_burn, remote=burn_at)  # remote: for a station's door

    p = sub.add_parser("jobs", help="list, cancel or run jobs")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(run=run_jobs_list)
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    c = jsub.add_parser("cancel", help="cancel a job")
    c.add_argument("job_id", type=int)
    c.set_defaults(run=run_jobs_cancel)
    c = jsub.add_parser("run", help="run queued and interrupted jobs (headless)")
    c.add_argument("--until-idle", action="store_true",
                   help="stop once no job is left to do")
    c.set_defaults(run=run_jobs_run)
    c = jsub.add_parser("show", help="a job's details and history")
    c.add_argument("job_id", type=int)
    c.set_defaults(run=run_jobs_show)


def _describe_result(job: Job) -> list[str]:
    lines = []
    for v in job.volumes:
        where = v.details or v.iso
        lines.append(f"{v.label} ({v.number} of {v.count}): {human_size(v.size)}, md5 {v.md5}, "
                     f"{v.written} verified copy(ies){f', {where}' if where else ''}")
    return lines


def run_burn(args: argparse.Namespace) -> int:
    """`mw-tui burn` in this process: a station of its own that runs the job (or queues it
    for the process that runs the jobs, when that one has no door: see cli.door)."""
    from mw_tui.station import Station

    config: cfg.Config = args.cfg
    checked = _check_burn(args, config, sys.stderr)
    if isinstance(checked, int):
        return checked
    station = Station(config, receive=None if not args.no_wait else False,
                      watch_devices=writer_class(checked.kind).needs_media and not args.no_wait)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _burn(station, args, checked, sys.stdout, sys.stderr, stop,
                     start=not args.no_wait)
    finally:
        station.stop()


def burn_at(args: argparse.Namespace, station: Any, out: TextIO, err: TextIO,
            stop: threading.Event) -> int:
    """`mw-tui burn` done by the running station (`station`) for a command at its door:
    the same checks, messages and exit status; the job runs here, the caller follows."""
    checked = _check_burn(args, station.config, err)
    if isinstance(checked, int):
        return checked
    return _burn(station, args, checked, out, err, stop, start=False, here=False)


def _check_burn(args: argparse.Namespace, config: cfg.Config, err: TextIO) -> Target | int:
    """The burn's target, or the exit status of arguments that cannot be burned."""
    try:
        target = Target.parse(args.target)
        if args.profile:
            parse_profile(args.profile)
    except ValueError as exc:
        print(f"mw-tui burn: {exc}", file=err)
        return EXIT_USAGE
    bad = [u for u in args.studies if not cfg.is_valid_uid(u)]
    if bad:
        print(f"mw-tui burn: not a valid Study Instance UID: {', '.join(bad)}", file=err)
        return EXIT_USAGE
    if args.archive and args.archive not in {a.name for a in config.archives}:
        print(f"mw-tui burn: no archive named {args.archive!r} (configured: "
              f"{', '.join(a.name for a in config.archives) or 'none'})", file=err)
        return EXIT_USAGE
    if target.kind is TargetKind.ISO and not os.path.isabs(target.where):
        # the command's folder, not that of the station that may run the job
        target = Target(target.kind, os.path.join(getattr(args, "cwd", "") or os.getcwd(),
                                                  target.where))
    return target


def _burn(station: Any, args: argparse.Namespace, target: Target, out: TextIO, err: TextIO,
          stop: threading.Event, start: bool, here: bool = True) -> int:
    """The burn with `station`: locate, check, queue, follow (`here`: the station is this
    command's own, else the running one it asked through its door)."""
    profile = parse_profile(args.profile).value if args.profile else ""
    try:
        located = station.locate(list(dict.fromkeys(args.studies)), archive=args.archive or "")
        if located.problems:  # before anything starts: nothing can proceed
            for p in located.problems:
                print(f"mw-tui burn: {p}", file=err)
            return EXIT_FAILED
        if args.anonymize and args.anonymize not in station.copies_offered():
            print(f"mw-tui burn: no de-identification profile named {args.anonymize!r} "
                  f"(known: {', '.join(n for n in station.copies_offered() if n)})",
                  file=err)
            return EXIT_USAGE
        why = station.confirmation_needed(target, args.anonymize)
        if why and not args.yes_identified:
            print(f"mw-tui burn: {why} Run again with --yes-identified to confirm, or with "
                  "--anonymize PROFILE.", file=err)
            return EXIT_USAGE
        if start:  # (else, with --no-wait, only queued: the kiosk or `jobs run` does it)
            station.start()
        job = station.create_job(located.refs, target, profile, args.copies, args.label,
                                 anonymize=args.anonymize,
                                 confirmed_identified=args.yes_identified)
        elsewhere = station.runner_busy or not here
        print(f"job {job.id}: {len(located.refs)} study(ies) to {target}"
              + (" (queued for the station that runs the jobs)" if elsewhere else ""),
              file=out, flush=True)
        if args.no_wait:
            return EXIT_OK
        follower = JobFollower(err if err.isatty() else out)
        try:
            job = station.follow(job.id, follower.show, stop)
        except KeyboardInterrupt:
            stop.set()
        follower.end()
        if stop.is_set() and not job.state.finished:
            station.cancel_job(job.id)
            wait_finished(station, job.id, 30)
            print(f"mw-tui burn: job {job.id} cancelled", file=err)
            return 130
        if not job.state.finished:  # the station that ran the jobs stopped
            print(f"mw-tui burn: no station runs the jobs now; job {job.id} stays queued "
                  "(start mw-tui serve or the kiosk)", file=err)
            return EXIT_FAILED
        for line in _describe_result(job):
            print(line, file=out)
        if job.state is JobState.DONE:
            print(f"job {job.id} done: every medium verified", file=out)
            return EXIT_OK
        print(f"mw-tui burn: job {job.id} {job.state.value}: "
              f"{job.error or 'see mw-tui jobs show'}", file=err)
        return EXIT_FAILED
    except Exception as exc:
        print(f"mw-tui burn: {exc}", file=err)
        return EXIT_FAILED


# -- jobs ------------------------------------------------------------------------------------


def _station(args: argparse.Namespace) -> Any:
    from mw_tui.station import Station

    return Station(args.cfg, receive=False, watch_devices=False, run_jobs=False)


def run_jobs_list(args: argparse.Namespace) -> int:
    station = _station(args)
    try:
        jobs = station.job_list()
    finally:
        station.stop()
    if args.json:
        json.dump([j.to_json() for j in jobs], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    if not jobs:
        print("no jobs")
        return EXIT_OK
    print(f"{'ID':>4} {'State':<18} {'Target':<28} {'Patient':<24} Progress")
    for j in jobs:
        detail = j.error if j.state is JobState.FAILED else j.progress.message
        target = str(j.target) if j.target is not None else f"import -> {j.destination}"
        print(f"{j.id:>4} {j.state.value:<18} {target[:28]:<28} "
              f"{j.patient_name[:24]:<24} {detail[:60]}")
    return EXIT_OK


def run_jobs_show(args: argparse.Namespace) -> int:
    station = _station(args)
    try:
        job = station.job(args.job_id)
        history = station.job_history(job.id)
    except KeyError as exc:
        print(f"mw-tui jobs: {exc.args[0]}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        station.stop()
    print(json.dumps(job.to_json(), ensure_ascii=False, indent=2))
    for at, state, message in history:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))}  {state:<18} {message}")
    return EXIT_OK


def run_jobs_cancel(args: argparse.Namespace) -> int:
    station = _station(args)
    try:
        job = station.cancel_job(args.job_id)
    except (KeyError, InvalidTransition) as exc:
        print(f"mw-tui jobs cancel: {exc.args[0]}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        station.stop()
    if job.state is JobState.CANCELLED:
        print(f"job {job.id} cancelled")
    else:
        print(f"job {job.id}: cancel requested; it stops at the next safe point")
    return EXIT_OK


def run_jobs_run(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    station = Station(args.cfg, receive=None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    station.start()
    try:
        if station.runner_busy:
            print(f"mw-tui jobs run: {station.runner_busy}", file=sys.stderr)
            return EXIT_FAILED
        print("mw-tui: running jobs", flush=True)
        while not stop.wait(0.5):
            if args.until_idle and not station.job_list(active_only=True):
                break
        return EXIT_OK
    finally:
        station.stop()
