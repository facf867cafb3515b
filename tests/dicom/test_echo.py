"""C-ECHO and the archive status monitor, against real peers."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.dicom.archives import UnknownArchive
from mw_tui.dicom.echo import ArchiveMonitor, ArchiveState, EchoResult, echo, station_answers
from mw_tui.dicom.scp import Receiver
from tests.conftest import with_dicom
from tests.dicom import qr_data
from tests.peers import Orthanc, free_port, wait_until


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    o = Orthanc(tmp_path_factory.mktemp("pacs")).start()
    yield o
    o.kill()


def test_echo_an_archive_that_answers(pacs: Orthanc, tmp_path: Path) -> None:
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs))
    result = echo(config, "pacs")
    assert result.ok and result.state is ArchiveState.ONLINE
    assert 0 < result.seconds < 1
    assert result.message.startswith(f"pacs (ORTHANC at 127.0.0.1:{pacs.dicom_port}) answers")


def test_echo_nothing_listening(tmp_path: Path) -> None:
    port = free_port()
    config = qr_data.config_with(tmp_path, cfg.Archive(name="gone", ae_title="GONE",
                                                       host="127.0.0.1", port=port))
    result = echo(config, "gone")
    assert result.state is ArchiveState.UNREACHABLE
    assert "refused the connection" in result.message and f":{port}" in result.message


def test_echo_unknown_host(tmp_path: Path) -> None:
    config = qr_data.config_with(tmp_path, cfg.Archive(name="typo", ae_title="X",
                                                       host="no-such-host.invalid", port=104))
    result = echo(config, "typo")
    assert result.state is ArchiveState.UNREACHABLE
    assert "unknown host name 'no-such-host.invalid'" in result.message


def test_echo_rejected_names_both_ae_titles_and_the_reason(tmp_path: Path) -> None:
    # a real SCP that only accepts calling AE title CT01: this station's own receiver
    peer_config = with_dicom(qr_data.config_with(tmp_path / "peer"), allowed_callers=["CT01"])
    with Receiver(peer_config) as peer:
        archive = cfg.Archive(name="strict", ae_title="MW_TUI", host="127.0.0.1",
                              port=peer.port)
        config = qr_data.config_with(tmp_path, archive, ae_title="BURNER1")
        result = echo(config, "strict")
    assert result.state is ArchiveState.REJECTED
    assert "calling AE title not recognized" in result.message
    assert "calling AE title BURNER1, called AE title MW_TUI" in result.message
    assert "Register this station's AE title BURNER1 on the archive" in result.message


def test_echo_silent_archive_times_out(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        archive = cfg.Archive(name="silent", ae_title="S", host="127.0.0.1",
                              port=silent.getsockname()[1], timeout=1)
        config = qr_data.config_with(tmp_path, archive)
        started = time.monotonic()
        result = echo(config, "silent")
        assert 0.9 < time.monotonic() - started < 2.5
        assert result.state is ArchiveState.TIMEOUT
        assert "did not answer within 1 s" in result.message
    finally:
        silent.close()


def test_echo_unknown_archive(tmp_path: Path) -> None:
    with pytest.raises(UnknownArchive, match="no archive is configured"):
        echo(qr_data.config_with(tmp_path), "pacs")


def test_station_answers_only_while_its_receiver_runs(tmp_path: Path) -> None:
    config = qr_data.config_with(tmp_path)
    assert not station_answers(config)
    with Receiver(config):
        assert station_answers(config)
    other = dataclasses.replace(config, station=dataclasses.replace(config.station,
                                                                    ae_title="OTHER"))
    with Receiver(other):  # the receiver answers any called AE title; the port is what counts
        assert station_answers(config)


def test_monitor_reports_each_archive_and_its_changes(pacs: Orthanc, tmp_path: Path) -> None:
    down = cfg.Archive(name="down", ae_title="D", host="127.0.0.1", port=free_port())
    config = qr_data.config_with(tmp_path, qr_data.archive_of(pacs), down)
    seen: list[EchoResult] = []
    monitor = ArchiveMonitor(config, on_status=seen.append, interval=600)
    assert {r.state for r in monitor.status().values()} == {ArchiveState.UNKNOWN}
    monitor.start()
    try:
        wait_until(lambda: len(seen) == 2, 10, "the first check of both archives")
        status = monitor.status()
        assert status["pacs"].state is ArchiveState.ONLINE
        assert status["down"].state is ArchiveState.UNREACHABLE
        monitor.check_now()  # nothing changed: no new reports
        wait_until(lambda: monitor.status()["pacs"].checked_at > status["pacs"].checked_at,
                   10, "the second check")
        assert len(seen) == 2
    finally:
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 2
