"""Commands for the station itself: serve, studies, config, store, and the app."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from mw_tui import config as cfg
from mw_tui.cli import door as cli_door
from mw_tui.station.models import AssociationClosed, ReceiverEvent, StudyChanged
from mw_tui.util import privacy
from mw_tui.util.logs import setup_logging
from mw_tui.util.text import human_size

log = logging.getLogger("mw_tui.serve")


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the station headless: receiver and jobs (logs "
                                     "to stdout)",
                       description="Run the station without its screens until SIGTERM or "
                                   "Ctrl-C: the Storage and Verification SCP, the jobs (those "
                                   "mw-tui burn queues, and the auto-rules') and the device "
                                   "watcher. The flags override the configuration.")
    p.add_argument("--port", type=int, help="listen on this port (station.port)")
    p.add_argument("--ae-title", help="answer to this AE title (station.ae_title)")
    p.add_argument("--storage", help="keep studies in this folder (station.storage)")
    p.add_argument("--bind", help="listen on this address (station.bind)")
    p.set_defaults(run=run_serve, log_to_stderr=False)

    p = sub.add_parser("studies", help="list the studies in the local store")
    p.add_argument("--json", action="store_true", help="print a JSON array keyed by DICOM "
                                                       "keyword")
    p.set_defaults(run=run_studies)

    p = sub.add_parser("config", help="create or check the configuration file")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("init", help="write a commented default configuration")
    c.add_argument("path", nargs="?", help="where (default: the file --config or "
                                           "$MW_TUI_CONFIG names, else /etc/mw-tui/config.toml "
                                           "as root, else ~/.config/mw-tui/config.toml)")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    c.set_defaults(run=run_config_init, no_config=True)
    c = csub.add_parser("check", help="validate the configuration; non-zero exit on errors")
    c.set_defaults(run=run_config_check)

    p = sub.add_parser("store", help="check the store or rebuild its index")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    s = ssub.add_parser("check", help="report whether index and files agree")
    s.set_defaults(run=run_store_check)
    s = ssub.add_parser("reindex", help="rebuild the index from the files")
    s.set_defaults(run=run_store_reindex)
    s = ssub.add_parser("purge", help="delete the studies past their retention "
                                      "(retention.days), except those a job holds")
    s.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    s.add_argument("--days", type=float, help="override retention.days for this run")
    s.set_defaults(run=run_store_purge)


# -- serve -------------------------------------------------------------------------------


def with_overrides(config: cfg.Config, **station: Any) -> cfg.Config:
    """The configuration with some [station] values replaced (validated like the file)."""
    values = {k: v for k, v in station.items() if v is not None}
    if not values:
        return config
    errors: list[str] = []
    for f in dataclasses.fields(cfg.StationConfig):
        if f.name in values:
            problem = f.metadata["check"](values[f.name])
            if problem:
                errors.append(f"--{f.name.replace('_', '-')} {values[f.name]!r}: must be "
                              f"{problem}")
    if errors:
        raise cfg.ConfigError(errors)
    return dataclasses.replace(config, station=dataclasses.replace(config.station, **values))


def _log_event(event: ReceiverEvent) -> None:
    # rejections, refusals and protocol errors are logged by the receiver itself, once
    if isinstance(event, AssociationClosed):
        log.info("association from %s (%s) %s: %d stored, %d refused", event.peer,
                 event.calling_ae, event.how, event.stored, event.failed)


def _log_study(change: StudyChanged) -> None:
    log.info("study %s: %d new instance(s)", change.study_uid, change.instances_added)


def run_serve(args: argparse.Namespace) -> int:
    from mw_tui.station import Station

    setup_logging(args.log_level or args.cfg.station.log_level, to_stderr=False)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    privacy.install()
    try:
        config = with_overrides(args.cfg, port=args.port, ae_title=args.ae_title,
                                storage=args.storage, bind=args.bind)
    except cfg.ConfigError as exc:
        for e in exc.errors:
            print(f"mw-tui serve: {e}", file=sys.stderr)
        return 2
    station = Station(config, receive=True)  # a station without screens: it runs the jobs
    station.on_receiver_event(_log_event)
    station.on_study_changed(_log_study)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    entrance: cli_door.DoorWhenRunning | None = None
    try:
        station.start()
        if station.receiver_error:
            print(f"mw-tui serve: {station.receiver_error}", file=sys.stderr)
            return 1
        st = station.status().receiver
        tls_note = f" (DICOM TLS on port {st.tls_port})" if st.tls_port else ""
        jobs = f"; jobs: {station.runner_busy}" if station.runner_busy else ", running the jobs"
        # burns next to it (now, or once it takes the jobs over from another process)
        entrance = cli_door.DoorWhenRunning(station, args.parse_other).start()
        print(f"mw-tui: receiving as {st.ae_title} on {st.bind}:{st.port}{tls_note}, storage "
              f"{config.station.storage}{jobs}", flush=True)
        stop.wait()
        log.info("stopping (signal received)")
    finally:
        if entrance is not None:
            entrance.close()  # (a command at work there finds its station stopping)
        station.stop()
    return 0


# -- studies -----------------------------------------------------------------------------


def run_studies(args: argparse.Namespace) -> int:
    from mw_tui.station import store_admin

    rows = store_admin.studies(args.cfg)
    if args.json:
        json.dump([r.to_json() for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if not rows:
        print(f"no studies in {args.cfg.storage}")
        return 0
    print(f"{'Patient':<28} {'ID':<12} {'Date':<10} {'Mod':<8} {'Inst':>5} {'Size':>9}  "
          "Description")
    for r in rows:
        print(f"{r.patient_name[:28]:<28} {r.patient_id[:12]:<12} {r.study_date:<10} "
              f"{'/'.join(r.modalities)[:8]:<8} {r.instances:>5} {human_size(r.size_bytes):>9}"
              f"  {r.description[:40]}")
    return 0


# -- config ------------------------------------------------------------------------------


def run_config_init(args: argparse.Namespace) -> int:
    if args.path:
        path = Path(args.path)
    else:
        path = cfg.find_config(args.config) or (
            cfg.SYSTEM_PATH if os.geteuid() == 0 else cfg.user_config_path())
    if path.exists() and not args.force:
        print(f"mw-tui: {path} already exists (use --force to replace it)", file=sys.stderr)
        return 1
    cfg.write_atomic(path, cfg.default_text())
    print(f"wrote {path}")
    return 0


def run_config_check(args: argparse.Namespace) -> int:
    from mw_tui.station.labels import LabelProblem, labels_of

    for line in cfg.describe(args.cfg):
        print(line)
    try:  # the label template and its fonts: a mistake shows here, not at the first disc
        labels_of(args.cfg)
    except LabelProblem as exc:
        print(f"mw-tui config check: [labels]: {exc}", file=sys.stderr)
        return 2
    print("configuration OK")
    return 0


# -- store -------------------------------------------------------------------------------


def run_store_check(args: argparse.Namespace) -> int:
    from mw_tui.station import store_admin

    report = store_admin.check_store(args.cfg)
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def run_store_reindex(args: argparse.Namespace) -> int:
    from mw_tui.station import store_admin

    done = store_admin.reindex(args.cfg)
    print(f"reindexed: {done.studies} studies, {done.series} series, {done.instances} "
          "instances")
    for p in done.invalid:
        print(f"not indexed (not valid DICOM or misplaced): {p}")
    return 0 if not done.invalid else 1


def run_store_purge(args: argparse.Namespace) -> int:
    import time

    from mw_tui.station import store_admin

    days = args.days if args.days is not None else args.cfg.retention.days
    if days <= 0:
        print("retention is off (retention.days = 0): nothing is deleted; set it in the "
              "configuration, or pass --days N")
        return 0
    report = store_admin.purge(args.cfg, days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for s in report.deleted:
        when = time.strftime("%Y-%m-%d", time.localtime(s.last_used))
        print(f"{verb} {s.study_uid}: last used {when}, {s.instances} instances, "
              f"{human_size(s.size_bytes)}")
    for s in report.kept:
        print(f"kept {s.study_uid}: expired, but held by {', '.join(s.held_by)}")
    print(f"{verb} {len(report.deleted)} studies ({human_size(report.size_bytes)}) unused for "
          f"{days:g} days; {len(report.kept)} expired studies kept for jobs")
    return 0


# -- the app -----------------------------------------------------------------------------


def run_app(args: argparse.Namespace) -> int:
    """The kiosk app (`mw-tui`, `mw-tui --demo`): see mw_tui/cli/app.py."""
    from mw_tui.cli.app import run_app as run

    return run(args)
