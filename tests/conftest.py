"""Shared fixtures: a running receiver on a free port, real peers (see peers.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.standard import sop
from tests.peers import free_port, need_root

# transfer syntaxes beyond the built-in seven that pydicom's test files use
EXTRA_TS = [sop.EXPLICIT_VR_BE, sop.DEFLATED_EXPLICIT_VR_LE, "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"]


def make_config(tmp: Path, **station: object) -> cfg.Config:
    """A configuration for tests: loopback, a free port, storage under `tmp`."""
    values: dict[str, object] = {
        "port": free_port(), "bind": "127.0.0.1", "storage": str(tmp / "store"),
        "min_free_mb": 1, "receiver_processes": 1,
    }
    values.update(station)
    return cfg.Config(station=cfg.StationConfig(**values))  # type: ignore[arg-type]


def write_config(config: cfg.Config, path: Path) -> Path:
    """The same configuration as a TOML file (for the command-line tests)."""
    s = config.station
    lines = [
        "[station]", f'ae_title = "{s.ae_title}"', f"port = {s.port}", 'bind = "127.0.0.1"',
        f'storage = "{s.storage}"', "min_free_mb = 1", "receiver_processes = 1",
        "[dicom]", "client_timeout = 5.0",
        "[jobs]", f"retry_delays = {list(config.jobs.retry_delays)}", "syslog = false",
    ]
    for a in config.archives:
        lines += ["[[archives]]", f'name = "{a.name}"', f'ae_title = "{a.ae_title}"',
                  f'host = "{a.host}"', f"port = {a.port}", f'retrieve = "{a.retrieve}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def with_dicom(config: cfg.Config, **dicom: object) -> cfg.Config:
    return dataclasses.replace(config, dicom=dataclasses.replace(config.dicom, **dicom))


@pytest.fixture
def station_config(tmp_path: Path) -> cfg.Config:
    return make_config(tmp_path)


@pytest.fixture
def receiver(station_config: cfg.Config) -> Iterator[object]:
    """A running receiver; `receiver.events` collects what it reported."""
    from mw_tui.dicom.scp import Receiver

    events: list[object] = []
    studies: list[object] = []
    r = Receiver(station_config, on_event=events.append, on_study_changed=studies.append)
    r.events = events  # type: ignore[attr-defined]
    r.study_changes = studies  # type: ignore[attr-defined]
    r.start()
    try:
        yield r
    finally:
        r.stop()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `root` skip without root, and fail under CI (see `need_root`)."""
    if "root" in item.keywords:
        need_root()
