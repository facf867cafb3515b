"""How the receiver's worker processes start, stop and get restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from mw_tui.dicom.scp import Receiver
from tests.conftest import make_config, write_config
from tests.peers import dcmtk, free_port, wait_until


def _echo(receiver: Receiver) -> int:
    return dcmtk("echoscu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port)).returncode


def test_forked_when_no_thread_runs(tmp_path: Path) -> None:
    """A fresh process (what `mw-tui burn` and `serve` are at that point) forks them."""
    config = write_config(make_config(tmp_path, port=free_port()), tmp_path / "mw.toml")
    code = ("import sys; from mw_tui import config as cfg; from mw_tui.dicom.scp import Receiver;"
            "r = Receiver(cfg.load(sys.argv[1])); r.start(); print(r._ctx.get_start_method());"
            "r.stop()")
    out = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "fork", out.stderr


def test_spawned_when_another_thread_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path, port=free_port())
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    receiver = Receiver(config, processes=1)
    try:
        receiver.start()
        assert receiver._ctx.get_start_method() == "spawn"
        assert _echo(receiver) == 0
    finally:
        receiver.stop()
        release.set()


def test_stop_ends_the_workers_cleanly_and_sigterm_ends_a_forked_worker(
        tmp_path: Path) -> None:
    config = make_config(tmp_path, port=free_port())
    receiver = Receiver(config, processes=2)
    old = signal.signal(signal.SIGTERM, lambda *_: None)  # like `mw-tui burn` does
    try:
        receiver.start()
        pids = receiver.status().worker_pids
        assert len(pids) == 2 and _echo(receiver) == 0
        for pid in pids:  # a forked worker has its parent's command line, but its own name
            assert Path(f"/proc/{pid}/comm").read_text().strip() == "mw-tui-receiver"
        os.kill(pids[0], signal.SIGTERM)  # a worker must not inherit the ignoring handler
        wait_until(lambda: receiver.status().workers < 2 or
                   receiver.status().worker_pids != pids, 10, "the worker ends on SIGTERM")
        wait_until(lambda: receiver.status().workers == 2, 15, "the worker is restarted")
        assert _echo(receiver) == 0
        workers = list(receiver._workers)
        receiver.stop()
        assert [p.exitcode for p in workers] == [0, 0]  # ended by themselves, not killed
    finally:
        signal.signal(signal.SIGTERM, old)
