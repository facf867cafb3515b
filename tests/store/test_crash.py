"""kill -9 in the middle of a transfer: what was acknowledged is there, nothing partial."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mw_tui.demo import synth
from mw_tui.store import Store
from mw_tui.store.check import check
from tests.peers import free_port, need, port_open, wait_until


def start_serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config), "serve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: port_open(port), 60, "mw-tui serve to listen")
    return proc


def station_config(tmp_path: Path) -> tuple[Path, int]:
    """The configuration of a station of its own in `tmp_path`: its file, its port."""
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[station]\nport = {port}\nbind = "127.0.0.1"\n'
                      f'storage = "{tmp_path / "store"}"\nmin_free_mb = 1\n')
    return config, port


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever is still running at its end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.slow
def test_kill_9_mid_transfer_keeps_every_acknowledged_instance(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    need("storescu")
    files = list(synth.ct_series(tmp_path / "ct", 1000, 32, 32))
    config, port = station_config(tmp_path)
    serve = start_serve(config, port)
    processes.append(serve)
    log = tmp_path / "storescu.log"
    with open(log, "w") as out:
        sender = subprocess.Popen(["storescu", "-v", "-aec", "MW_TUI", "127.0.0.1", str(port),
                                   *map(str, files)], stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "TCP_NODELAY": "1"})
        processes.append(sender)  # type: ignore[arg-type]
        wait_until(lambda: log.read_text().count("Received Store Response (Success)") >= 300,
                   120, "300 acknowledged instances")
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        sender.wait(60)
    acknowledged = log.read_text().count("Received Store Response (Success)")
    assert 300 <= acknowledged < 1000, "the transfer should have been interrupted"
    wait_until(lambda: not port_open(port), 30, "the receiver workers to end with it")

    # restart: the start-up makes index and files agree again
    serve = start_serve(config, port)
    processes.append(serve)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(30) == 0

    store = Store(tmp_path / "store")
    report = check(store)
    assert report.ok, report.lines()
    assert not list((tmp_path / "store").rglob("*.part"))
    indexed = store.index.paths()
    for f in files[:acknowledged]:
        sent = pydicom.dcmread(f)
        rel = indexed.get(sent.SOPInstanceUID)
        assert rel is not None, f"{f.name} was acknowledged but is missing"
        kept = pydicom.dcmread(store.root / rel)
        assert np.array_equal(kept.pixel_array, sent.pixel_array)
    # whatever else is indexed is complete too (acknowledged or not)
    for uid, rel in indexed.items():
        assert re.fullmatch(r"[0-9.]+", uid)
        pydicom.dcmread(store.root / rel).pixel_array  # noqa: B018 - must decode


def _receiver_pids(serve: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split()
    return [serve.pid, *map(int, children)]


@pytest.mark.slow
def test_kill_9_right_after_a_response_finds_the_instance(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """The station and its receiver workers are killed the moment a push is acknowledged:
    the instance is already complete under its own name, and indexed at the next start."""
    from tests import rawscu
    from tests.store.test_deferred import images

    config, port = station_config(tmp_path)
    sent = images(3)
    for sop_class, uid, data in sent:
        serve = start_serve(config, port)
        processes.append(serve)
        pids = _receiver_pids(serve)
        assoc = rawscu.associate(port, [(1, sop_class, ["1.2.840.10008.1.2.1"])])
        assert assoc.c_store(1, sop_class, uid, data) == 0
        for pid in pids:  # at once: nothing may be left to do after the response
            os.kill(pid, signal.SIGKILL)
        assoc.sock.close()
        serve.wait(10)
        wait_until(lambda: not port_open(port), 30, "the receiver workers to end")
        found = [p for p in (tmp_path / "store" / "studies").rglob(f"{uid}.dcm")]
        assert len(found) == 1 and found[0].read_bytes().endswith(data)
    serve = start_serve(config, port)  # recovery: index and files agree
    processes.append(serve)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(30) == 0
    store = Store(tmp_path / "store")
    assert check(store).ok
    assert sorted(store.index.paths()) == sorted(uid for _, uid, _ in sent)
    assert not list((tmp_path / "store" / "incoming").iterdir())
