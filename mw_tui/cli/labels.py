"""`mw-tui label JOB_ID`: a job's disc labels again, as PDFs and on the printer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mw_tui.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(sub: Any) -> None:
    p = sub.add_parser(
        "label", help="a job's disc labels: where their PDFs are, a copy, or print them",
        description="The labels of a job's discs (patient, studies, disc n of m, the job's "
                    "barcode), kept with the job as PDFs of the disc's size. JOB is the "
                    "job's number or its label's barcode (MW_TUI-000042).")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--pdf", metavar="PATH", help="copy the label PDF here (several discs: "
                                                 "PATH_1.pdf, PATH_2.pdf ...)")
    p.add_argument("--print", dest="print_them", action="store_true",
                   help="print them on [labels] printer (CUPS) and follow the print job")
    p.set_defaults(run=run_label)


def run_label(args: argparse.Namespace) -> int:
    from mw_tui.station import Station
    from mw_tui.station.labels import LabelProblem

    station = Station(args.cfg, receive=False, watch_devices=False, run_jobs=False)
    try:
        try:
            job_id = station.job_of_label(args.job)
        except ValueError:
            print(f"mw-tui label: {args.job!r} is neither a job number nor a barcode of this "
                  f"station's labels ({args.cfg.station.ae_title}-NNNNNN) or of a "
                  "requester's", file=sys.stderr)
            return EXIT_USAGE
        made = station.job_labels(job_id, Path(args.pdf) if args.pdf else None,
                                  args.print_them)
    except KeyError as exc:
        print(f"mw-tui label: {exc.args[0]}", file=sys.stderr)
        return EXIT_FAILED
    except LabelProblem as exc:
        print(f"mw-tui label: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        station.stop()
    code = EXIT_OK
    for label in made:
        line = f"disc {label.number}: {label.pdf}"
        if label.printed is not None:
            line += f": {label.printed.state.value}, {label.printed.message}"
            code = code if label.printed.ok else EXIT_FAILED
        print(line)
        if label.note:
            print(f"  {label.note}")
    return code
