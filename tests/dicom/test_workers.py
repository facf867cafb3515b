"""How the receiver's worker processes start, stop and get restarted."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from mw_tui.dicom.scp import Receiver
from tests.conftest import make_config
from tests.peers import dcmtk, free_port, wait_until


def _echo(receiver: Receiver) -> int:
    return dcmtk("echoscu", "-aec", "MW_TUI", "127.0.0.1", str(receiver.port)).returncode


def test_forked_when_no_thread_runs_spawned_otherwise(tmp_path: Path) -> None:
    config = make_config(tmp_path, port=free_port())
    methods = []
    for busy in (False, True):
        release = threading.Event()
        other = threading.Thread(target=release.wait, daemon=True)
        if busy:
            other.start()
        receiver = Receiver(config, processes=1)
        # the test process itself may run helper threads: what counts is the decision
        expected = "fork" if threading.active_count() == 1 else "spawn"
        receiver.start()
        try:
            methods.append(receiver._ctx.get_start_method())
            assert methods[-1] == expected
            assert _echo(receiver) == 0
        finally:
            receiver.stop()
            release.set()
    assert methods[-1] == "spawn"


def test_stop_ends_the_workers_cleanly_and_sigterm_ends_a_forked_worker(
        tmp_path: Path) -> None:
    config = make_config(tmp_path, port=free_port())
    receiver = Receiver(config, processes=2)
    old = signal.signal(signal.SIGTERM, lambda *_: None)  # like `mw-tui burn` does
    try:
        receiver.start()
        pids = receiver.status().worker_pids
        assert len(pids) == 2 and _echo(receiver) == 0
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
