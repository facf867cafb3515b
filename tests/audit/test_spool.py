"""The spool keeps messages in order on disk, privately; one sender holds it at a time."""

from __future__ import annotations

import stat
from pathlib import Path

from mw_tui.audit.sender import Backoff
from mw_tui.audit.spool import DeliveryLock, Spool


def test_first_in_first_out_and_ids_never_come_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    ids = [spool.add(f"m{i}".encode()) for i in range(3)]
    assert [m for _, m in spool.first()] == [b"m0", b"m1", b"m2"]
    spool.remove(ids[2])
    new = spool.add(b"m3")
    assert new > ids[2]  # AUTOINCREMENT: a later message never takes an older place
    assert spool.first(2) == [(ids[0], b"m0"), (ids[1], b"m1")]
    assert spool.count() == 3


def test_survives_reopening_and_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    Spool(folder).add(b"kept")
    again = Spool(folder)
    assert [m for _, m in again.first()] == [b"kept"]
    mode = stat.S_IMODE(again.path.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_set_aside_keeps_the_message_and_why(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first = spool.add(b"too big")
    spool.add(b"next")
    spool.set_aside(first, "larger than a UDP datagram")
    assert [m for _, m in spool.first()] == [b"next"]
    assert spool.undeliverable() == [(b"too big", "larger than a UDP datagram")]


def test_one_delivery_lock_at_a_time(tmp_path: Path) -> None:
    one, two = DeliveryLock(tmp_path), DeliveryLock(tmp_path)
    assert one.acquire() and one.acquire()
    assert not two.acquire()
    one.release()
    assert two.acquire()
    two.release()


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(1.0, 10.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0
