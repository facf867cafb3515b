"""Waking the process that runs the jobs, and telling whether one does."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from mw_tui.config import StoragePaths
from mw_tui.jobs.bell import Bell, ring
from mw_tui.jobs.runner import runs_elsewhere
from tests.conftest import make_config


def test_a_ring_wakes_the_listener_and_nobody_listening_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.bell"
    assert not ring(path)  # nobody listens yet: nothing happens
    rung = threading.Event()
    bell = Bell(path, rung.set)
    assert bell.start()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ring(path)
    assert rung.wait(10)
    bell.stop()
    assert not path.exists() and not ring(path)


def test_a_socket_left_by_a_dead_runner_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "jobs.bell"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    assert not ring(path)
    rung = threading.Event()
    bell = Bell(path, rung.set)
    assert bell.start()
    assert ring(path) and rung.wait(10)
    bell.stop()


def test_a_path_too_long_for_a_socket_is_not_listened_on(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    bell = Bell(deep / "jobs.bell", lambda: None)
    assert not bell.start()
    assert not ring(deep / "jobs.bell")
    bell.stop()  # nothing to stop


def test_runs_elsewhere_is_whether_another_process_holds_the_jobs_lock(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    lock = StoragePaths.of(config).jobs_lock
    assert not runs_elsewhere(config)  # no station ever ran here
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert runs_elsewhere(config)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert not runs_elsewhere(config)
    fd = os.open(lock, os.O_RDWR)  # and the probe left the lock free
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
