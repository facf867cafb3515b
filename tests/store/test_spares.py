"""Files made ahead for pushed instances: taken by the pushes, never counted as
interrupted transfers while their receiver runs, removed when it stops or is gone."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from mw_tui.standard import sop
from mw_tui.store import Store
from mw_tui.store import spares as spares_module
from mw_tui.store.check import check, recover
from mw_tui.store.spares import Spares
from tests.peers import dcmtk, wait_until
from tests.store.test_crash import processes, start_serve, station_config  # noqa: F401
from tests.store.test_deferred import images


def test_files_are_made_ahead_and_taken(tmp_path: Path) -> None:
    made = Spares(tmp_path, 0o600, direct=True)
    assert made.take() is None  # none ready yet: the caller makes its own
    wait_until(lambda: len(list(tmp_path.iterdir())) >= spares_module.KEEP, 30,
               "the files made ahead")
    taken = made.take()
    assert taken is not None
    path, fd, _direct = taken
    assert spares_module.is_spare(path.name) and path.stat().st_size == 0
    os.close(fd)
    path.unlink()
    made.close()
    assert not list(tmp_path.iterdir())  # those not taken are removed


def test_pushes_take_them_and_are_kept_byte_for_byte(tmp_path: Path) -> None:
    store = Store(tmp_path / "store", spares=True)
    incoming = tmp_path / "store" / "incoming"
    sent = images(3)
    store.store_bytes(*sent[0][:2], sop.EXPLICIT_VR_LE, sent[0][2])  # starts the maker
    wait_until(lambda: len(list(incoming.iterdir())) >= spares_module.KEEP, 30,
               "the files made ahead")
    ready = {p.stat().st_ino for p in incoming.iterdir()}
    stored = [store.store_bytes(c, u, sop.EXPLICIT_VR_LE, data) for c, u, data in sent[1:]]
    for s, (_, _, data) in zip(stored, sent[1:], strict=True):
        assert s.path.read_bytes().endswith(data) and s.path.stat().st_ino in ready
    store.close()
    assert not list(incoming.iterdir())
    assert check(Store(tmp_path / "store")).ok


def test_spares_of_a_live_receiver_are_not_partial_and_a_dead_ones_are_removed(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:  # noqa: F811
    config, port = station_config(tmp_path)
    serve = start_serve(config, port)
    processes.append(serve)
    incoming = tmp_path / "store" / "incoming"
    (tmp_path / "ct.dcm").write_bytes(_part10(images(1)[0]))
    dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(port), str(tmp_path / "ct.dcm"))
    wait_until(lambda: any(spares_module.is_spare(p.name) for p in incoming.iterdir()), 30,
               "a receiver worker to make files ahead")
    assert check(Store(tmp_path / "store")).ok  # a running receiver's: not interrupted
    gone = incoming / f"{spares_module.PREFIX}999999999-0123456789abcdef"
    gone.touch()  # left by a worker killed long ago
    assert not check(Store(tmp_path / "store")).ok
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(30) == 0
    assert [p.name for p in incoming.iterdir()] == [gone.name]  # its own removed at the end
    recover(Store(tmp_path / "store"))
    assert not list(incoming.iterdir())


def _part10(image: tuple[str, str, bytes]) -> bytes:
    from mw_tui.store.part10 import file_meta

    sop_class, uid, data = image
    return file_meta(sop_class, uid, sop.EXPLICIT_VR_LE, "TEST") + data


def test_a_failure_to_make_them_is_tried_again_later(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk (here: a folder that is not there yet): each instance makes its own
    file meanwhile, and the files are made ahead again once it is over."""
    monkeypatch.setattr(spares_module, "RETRY", 0.2)
    folder = tmp_path / "incoming"
    made = Spares(folder, 0o600, direct=True)
    assert made.take() is None
    wait_until(lambda: made.take() is None and made._failed > 0, 30, "the failure")
    folder.mkdir()
    taken: list[tuple[Path, int, bool]] = []

    def took() -> bool:
        item = made.take()
        taken.extend([item] if item is not None else [])
        return item is not None

    wait_until(took, 30, "files made ahead again")
    path, fd, _ = taken[0]
    os.close(fd)
    path.unlink()  # what the instance would have done with it
    made.close()
    assert not list(folder.iterdir())
