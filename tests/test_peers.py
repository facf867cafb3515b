"""The tests' own peers start reliably: a port someone took meanwhile is not a failure."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests import peers


def test_storescp_takes_another_port_when_its_port_was_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    peers.need("storescp", "echoscu")
    with socket.socket() as taken:  # bound, as a client's outgoing connection is
        taken.bind(("0.0.0.0", 0))
        busy = taken.getsockname()[1]
        ports = iter([busy, peers.free_port()])
        monkeypatch.setattr(peers, "free_port", lambda: next(ports))
        with peers.storescp(tmp_path / "in", "-aet", "SCP") as (port, proc):
            assert port != busy and proc.poll() is None
            peers.dcmtk("echoscu", "-aec", "SCP", "127.0.0.1", str(port))
        assert proc.poll() is not None  # stopped after


def test_storescp_that_cannot_start_says_so(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    peers.need("storescp")
    with socket.socket() as taken:  # bound, as a client's outgoing connection is
        taken.bind(("0.0.0.0", 0))
        busy = taken.getsockname()[1]
        monkeypatch.setattr(peers, "free_port", lambda: busy)
        with pytest.raises(AssertionError, match=r"exited with .* three times"), \
                peers.storescp(tmp_path / "in"):
            pass
