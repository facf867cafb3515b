"""The embedded demo archive as a service of its own (`mw-tui demo-archive`): a small
Q/R SCP with generated sample studies, for trying the station without a PACS."""

from __future__ import annotations

import logging
from pathlib import Path

from mw_tui.demo.archive import (
    DEFAULT_AE_TITLE,
    DemoArchive,
    DemoArchiveError,
    QueryReceived,
    RequestRefused,
    RetrieveEnded,
)
from mw_tui.demo.samples import Profile as SampleSet

__all__ = ["DEFAULT_AE_TITLE", "DemoArchive", "DemoArchiveError", "SampleSet",
           "demo_archive", "describe_event"]


def demo_archive(data: Path | None, ae_title: str, port: int, bind: str,
                 destinations: dict[str, tuple[str, int]], samples: str,
                 log: logging.Logger) -> DemoArchive:
    """A demo archive (not started); its events are logged to `log`. `samples`: "full",
    "tiny" or "none" (serve `data` as it is)."""
    profile = None if samples == "none" else SampleSet(samples)

    def on_event(event: object) -> None:
        level, text = describe_event(event)
        if text:
            log.log(level, "%s", text)

    return DemoArchive(data, ae_title=ae_title, port=port, bind=bind,
                       destinations=destinations, samples_profile=profile, on_event=on_event)


def describe_event(event: object) -> tuple[int, str]:
    """(log level, a line) for what the demo archive did."""
    if isinstance(event, QueryReceived):
        return logging.INFO, (f"C-FIND from {event.calling_ae} at {event.level} level: "
                              f"{event.matches} match(es)")
    if isinstance(event, RetrieveEnded):
        to = f" to {event.destination}" if event.destination else ""
        cancelled = " (cancelled)" if event.cancelled else ""
        return logging.INFO, (f"C-{event.kind.upper()} from {event.calling_ae}{to}: "
                              f"{event.sent} sent, {event.failed} failed{cancelled}")
    if isinstance(event, RequestRefused):
        return logging.WARNING, (f"C-{event.request.upper()} from {event.calling_ae} refused "
                                 f"(0x{event.status:04X}): {event.reason}")
    return logging.DEBUG, ""
