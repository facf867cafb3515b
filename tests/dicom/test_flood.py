"""Floods and idlers: the station stays responsive and its limits hold.

200 connections at once that say nothing (or associate and go silent) are closed by the
configured timeouts, the number waiting to associate stays capped, echoscu answers
quickly all along, and station.max_associations is never exceeded.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.dicom import wire
from mw_tui.dicom.events import AssociationClosed
from mw_tui.dicom.scp import Receiver
from mw_tui.standard import sop
from tests import rawfuzz, rawscu
from tests.conftest import make_config, with_dicom
from tests.peers import dcmtk, wait_until

FLOOD = 200
MAX_ASSOCIATIONS = 6
MAX_PENDING = 40
SERVER_TIMEOUT = 3.0
ARTIM = 2.0


def idle_connections(port: int, n: int) -> list[socket.socket]:
    """`n` connections opened at once (non-blocking connects) that never say anything."""
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        out.append(s)
    return out


def closed_times(socks: list[socket.socket], start: float, timeout: float) -> list[float]:
    """Seconds after `start` at which the receiver closed each connection."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    done: dict[socket.socket, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(0.1):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                data = conn.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data and data[0] == wire.A_ABORT:
                continue  # the A-ABORT before the close
            if not data:
                done[conn] = time.monotonic() - start
                sel.unregister(conn)
    for s in socks:
        s.close()
    assert len(done) == len(socks), f"{len(socks) - len(done)} connections were never closed"
    return sorted(done.values())


def echo_seconds(port: int) -> float:
    start = time.monotonic()
    dcmtk("echoscu", "-to", "10", "-aec", "MW_TUI", "127.0.0.1", str(port))
    return time.monotonic() - start


@pytest.fixture
def flood_receiver(tmp_path: Path) -> Iterator[Receiver]:
    config = with_dicom(make_config(tmp_path, max_associations=MAX_ASSOCIATIONS,
                                    receiver_processes=2),
                        server_timeout=SERVER_TIMEOUT, artim_timeout=ARTIM,
                        max_pending=MAX_PENDING)
    events: list[object] = []
    r = Receiver(config, on_event=events.append)
    r.events = events  # type: ignore[attr-defined]
    r.start()
    yield r
    r.stop()


@pytest.mark.slow
def test_idlers_are_closed_by_the_timeouts_and_echo_stays_fast(
        flood_receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    r = flood_receiver
    peak = {"waiting": 0, "associations": 0, "threads": 0}
    stop = threading.Event()
    pids = r.status().worker_pids

    def sample() -> None:
        while not stop.is_set():
            st = r.status()
            peak["waiting"] = max(peak["waiting"], st.waiting)
            peak["associations"] = max(peak["associations"], st.associations)
            try:
                peak["threads"] = max(peak["threads"], max(rawfuzz.proc_status(p, "Threads")
                                                           for p in pids))
            except (OSError, KeyError):
                pass
            stop.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        start = time.monotonic()
        silent = [rawscu.associate(r.port, [(1, sop.VERIFICATION, [sop.IMPLICIT_VR_LE])])
                  for _ in range(3)]  # associated, then silent
        assert all(not a.rejected for a in silent)
        idlers = idle_connections(r.port, FLOOD)
        echo_during = echo_seconds(r.port)
        idle_closed = closed_times(idlers, start, ARTIM + 5)
        silent_closed = closed_times([a.sock for a in silent], start, SERVER_TIMEOUT + 5)
        echo_after = echo_seconds(r.port)
    finally:
        stop.set()
        sampler.join()
    print(f"\nflood: echo during {echo_during:.2f} s, after {echo_after:.2f} s; idlers closed "
          f"{idle_closed[0]:.2f}..{idle_closed[-1]:.2f} s (artim {ARTIM:g}); silent "
          f"associations aborted at {silent_closed[0]:.2f}..{silent_closed[-1]:.2f} s "
          f"(server_timeout {SERVER_TIMEOUT:g}); peak waiting {peak['waiting']}, "
          f"associations {peak['associations']}, threads per worker {peak['threads']}")
    assert echo_during < 2.0 and echo_after < 2.0
    assert idle_closed[-1] < ARTIM + 1.5
    assert silent_closed[0] > SERVER_TIMEOUT - 0.5 and silent_closed[-1] < SERVER_TIMEOUT + 2
    assert peak["waiting"] <= MAX_PENDING
    assert peak["associations"] <= MAX_ASSOCIATIONS
    assert peak["threads"] < MAX_PENDING + MAX_ASSOCIATIONS + 20  # never one per idler
    wait_until(lambda: r.status().associations == 0 and r.status().waiting == 0,
               what="every slot free again")
    assert r.status().workers == 2 and r.status().worker_pids == pids  # none died
    timed_out = [e for e in r.events if isinstance(e, AssociationClosed)  # type: ignore
                 and "timed out" in e.how]
    assert len(timed_out) == 3

    def logged() -> tuple[list[str], list[str]]:
        messages = [rec.getMessage() for rec in caplog.records
                    if rec.levelno >= logging.WARNING]
        return ([m for m in messages if "dicom.max_pending" in m],
                [m for m in messages if "dicom.artim_timeout" in m])

    # every idler accounted for once: closed by the ARTIM timer (one line each), or to
    # make room (summed up in a line per worker, not logged one by one)
    wait_until(lambda: sum(int(m.split()[1]) for m in logged()[0]) + len(logged()[1])
               >= FLOOD, what="the log lines about the idlers")
    room, artim = logged()
    assert sum(int(m.split()[1]) for m in room) + len(artim) == FLOOD
    assert 1 <= len(room) <= 2 * r.processes


@pytest.mark.slow
def test_200_association_attempts_at_once_and_the_limit_holds(
        flood_receiver: Receiver) -> None:
    """Counted from both sides: the receiver's own counter, sampled, and the clients', who
    hold an accepted association (echoing, so it is not idle) until every attempt had its
    answer: so all the others meet a full station and must be rejected."""
    r = flood_receiver
    results: list[str] = []
    lock = threading.Lock()
    peak = 0
    clients = {"held": 0, "peak": 0, "answered": 0}
    everyone_answered = threading.Event()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, r.status().associations)
            done.wait(0.002)

    def answered(held: int = 0) -> None:
        with lock:
            clients["held"] += held
            clients["peak"] = max(clients["peak"], clients["held"])
            clients["answered"] += 1
            if clients["answered"] == FLOOD:
                everyone_answered.set()

    def echo(a: rawscu.RawAssociation, message_id: int) -> None:
        a.send(wire.p_data(1, 0x03, echo_rq(message_id)))
        pdu_type, body = a.read_pdu()
        assert pdu_type == wire.P_DATA_TF and rawfuzz._statuses(
            bytes([pdu_type, 0]) + len(body).to_bytes(4, "big") + body)[1] == (0,)

    def attempt() -> None:
        counted = False
        try:
            a = rawscu.associate(r.port, [(1, sop.VERIFICATION, [sop.IMPLICIT_VR_LE])],
                                 timeout=20)
            if a.rejected:
                outcome = "rejected"
                a.sock.close()
                answered()
                counted = True
            else:
                answered(held=1)
                counted = True
                try:
                    n = 1
                    echo(a, n)
                    while not everyone_answered.wait(0.5) and n < 120:
                        n += 1
                        echo(a, n)  # traffic: the server timeout never ends it
                    a.release()
                finally:
                    with lock:
                        clients["held"] -= 1  # after the A-RELEASE-RP: the slot is free
                outcome = "echoed"
        except (OSError, AssertionError) as exc:
            outcome = f"error: {exc!r}"
            if not counted:
                answered()
        with lock:
            results.append(outcome)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    threads = [threading.Thread(target=attempt) for _ in range(FLOOD)]
    for t in threads:
        t.start()
    echo_start = time.monotonic()  # answered at once: accepted, or rejected when all are busy
    echo_peer = dcmtk("echoscu", "-to", "10", "-aec", "MW_TUI", "127.0.0.1", str(r.port),
                      check=False)
    echo_during = time.monotonic() - echo_start
    assert echo_peer.returncode == 0 or "rejected" in (echo_peer.stdout
                                                       + echo_peer.stderr).lower()
    for t in threads:
        t.join(90)
    elapsed = time.monotonic() - start
    done.set()
    sampler.join()
    echoed, rejected = results.count("echoed"), results.count("rejected")
    print(f"\n200 association attempts: {echoed} echoed, {rejected} rejected in "
          f"{elapsed:.2f} s; peak associations {peak} by the receiver's count, "
          f"{clients['peak']} by the clients' (limit {MAX_ASSOCIATIONS}); a concurrent "
          f"echoscu took {echo_during:.2f} s")
    assert len(results) == FLOOD
    assert all(x in ("echoed", "rejected") for x in results), set(results)
    # every accepted client held its association to the end: the clients' peak is how many
    # were accepted, and the limit (less one, when echoscu had a slot) was reached
    assert clients["peak"] == echoed
    assert MAX_ASSOCIATIONS - 1 <= echoed <= MAX_ASSOCIATIONS
    assert rejected == FLOOD - echoed  # the flood met a full station
    assert peak <= MAX_ASSOCIATIONS
    assert echo_during < 2.0


def echo_rq(message_id: int = 1) -> bytes:
    def el(elem: int, value: bytes) -> bytes:
        return struct.pack("<HHI", 0, elem, len(value)) + value

    body = (el(0x0002, b"1.2.840.10008.1.1\0") + el(0x0100, struct.pack("<H", 0x0030))
            + el(0x0110, struct.pack("<H", message_id)) + el(0x0800, struct.pack("<H", 0x0101)))
    return el(0x0000, struct.pack("<I", len(body))) + body
