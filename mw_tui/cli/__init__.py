"""The `mw-tui` command: arguments -> configuration -> services -> a command or the app.

Each command group lives in its own module with `register(subparsers)`; a parser's
`run` default is called with the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable
from typing import Any

from mw_tui import __version__
from mw_tui import config as cfg
from mw_tui.cli.codes import EXIT_FAILED, EXIT_USAGE
from mw_tui.cli.door import forwarded
from mw_tui.util.logs import setup_logging


def command_modules() -> list[Any]:
    """The modules adding commands; each has register(subparsers) -> None. Imported
    here, not above: a command the running station does for us needs none of them."""
    from mw_tui.cli import (
        app,
        demo,
        devices,
        importing,
        jobs,
        labels,
        media,
        qr,
        reports,
        station,
    )

    return [station, demo, qr, reports, media, labels, devices, jobs, importing, app]


class QuietParser(argparse.ArgumentParser):
    """A parser that raises ValueError instead of printing its usage and exiting (the
    station parsing another command's arguments, `cli.door`)."""

    def error(self, message: str) -> Any:
        raise ValueError(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise ValueError(message or f"exit {status}")


def parse_quietly(argv: list[str]) -> argparse.Namespace:
    return build_parser(QuietParser).parse_args(argv)


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
                 ) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="mw-tui",
        description="DICOM media writer station: receive and retrieve studies, write verified "
                    "CDs, DVDs, USB sticks, ISO files and cloud uploads.",
    )
    parser.add_argument("--version", action="version", version=f"mw-tui {__version__}")
    parser.add_argument("--config", metavar="PATH",
                        help="configuration file (default: $MW_TUI_CONFIG, then "
                             "/etc/mw-tui/config.toml, then ~/.config/mw-tui/config.toml)")
    parser.add_argument("--log-level", choices=cfg.LOG_LEVELS, type=str.upper,
                        help="override station.log_level")
    parser.add_argument("--demo", action="store_true",
                        help="run against the embedded demo archive (nothing to configure)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.register(sub)
    return parser


def load_config(args: argparse.Namespace) -> cfg.Config:
    """The configuration the arguments point to; ConfigError when it is invalid."""
    return cfg.load(args.config)


def _prepare(argv: list[str]) -> tuple[Callable[[argparse.Namespace], int],
                                       argparse.Namespace] | int:
    """The command to run and its arguments (its configuration loaded, logging set up),
    or the exit status when there is nothing to run."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.parse_other = parse_quietly  # for a station's door (cli.door)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        if args.demo or args.command is None:
            from mw_tui.cli.station import run_app

            run = run_app
        else:
            parser.print_help()
            return EXIT_USAGE
    if not getattr(args, "no_config", False):
        try:
            args.cfg = load_config(args)
        except cfg.ConfigError as exc:
            print(f"mw-tui: invalid configuration {exc.path or ''}".rstrip(), file=sys.stderr)
            for e in exc.errors:
                print(f"  - {e}", file=sys.stderr)
            print("The station does not start on an invalid configuration; fix the file "
                  "(mw-tui config check shows every problem).", file=sys.stderr)
            return EXIT_USAGE
        setup_logging(args.log_level or args.cfg.station.log_level,
                      to_stderr=getattr(args, "log_to_stderr", True))
    return run, args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    code = forwarded(argv)  # done by the station that runs the jobs, when one runs
    if code is not None:
        return code
    # the imports of the commands make some 60,000 objects that live as long as the
    # process: the garbage collector does not walk them while they are made (70 ms less
    # to start), nor again later (shorter collections while a job runs, a tenth of a
    # second less to exit)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        prepared = _prepare(argv)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    if isinstance(prepared, int):
        return prepared
    run, args = prepared
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # the last line of defence: a message, not a traceback
        logging.getLogger("mw_tui").debug("command failed", exc_info=True)
        print(f"mw-tui: {exc}", file=sys.stderr)
        return EXIT_FAILED
