"""Files written around the page cache: the same bytes whatever the sizes, a clean
fallback where O_DIRECT is refused, and the syncs that give a file its name."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from mw_tui.store import sink as sink_module
from mw_tui.store.sink import ALIGN, BUFFER, FileSink, orders_renames, publish

SIZES = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 5]


def pieces(data: bytes, step: int) -> list[memoryview]:
    buf = bytearray(data)
    return [memoryview(buf)[i : i + step] for i in range(0, len(buf), step)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("direct", [True, False])
def test_what_is_written_is_what_the_file_holds(tmp_path: Path, size: int,
                                                direct: bool) -> None:
    data = os.urandom(size)
    for i, step in enumerate((7, 4096, 100_000, max(size, 1))):
        path = tmp_path / f"f{i}"
        sink = FileSink(path, direct=direct)
        assert sink.direct == direct  # the tests' file system takes O_DIRECT
        for p in pieces(data, step):
            sink.write(p)
        assert sink.finish() == size
        sink.close()
        assert path.read_bytes() == data
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_buffer_may_be_reused_by_the_caller_at_once(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "f")
    buf = bytearray(5000)
    expected = b""
    for i in range(100):
        buf[:] = bytes([i]) * len(buf)
        sink.write(memoryview(buf))
        expected += bytes(buf)
    sink.finish()
    sink.close()
    assert (tmp_path / "f").read_bytes() == expected


def test_where_open_refuses_o_direct_the_page_cache_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.open

    def no_direct(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, mode)

    monkeypatch.setattr(os, "open", no_direct)
    data = os.urandom(BUFFER + 123)
    sink = FileSink(tmp_path / "f")
    assert not sink.direct
    sink.write(data)
    sink.finish()
    sink.close()
    assert (tmp_path / "f").read_bytes() == data


def test_where_the_device_refuses_a_direct_write_it_goes_on_buffered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwritev
    refused = []

    def picky(fd: int, views: list[memoryview], offset: int) -> int:
        if sink.direct:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, views, offset)

    monkeypatch.setattr(os, "pwritev", picky)
    data = os.urandom(2 * BUFFER + 77)
    sink = FileSink(tmp_path / "f")
    sink.write(data)
    sink.finish()
    sink.close()
    assert refused == [0] and not sink.direct
    assert (tmp_path / "f").read_bytes() == data


def test_an_instance_reaches_the_disk_in_one_write_when_it_is_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receiving never waits for the disk: the buffers are written together at the end
    (or once `HOLD` bytes are held, for a large instance)."""
    real = os.pwritev
    writes: list[tuple[int, int]] = []

    def counted(fd: int, views: list[memoryview], offset: int) -> int:
        writes.append((offset, sum(len(v) for v in views)))
        return real(fd, views, offset)

    monkeypatch.setattr(os, "pwritev", counted)
    data = os.urandom(3 * BUFFER + ALIGN + 5)
    sink = FileSink(tmp_path / "small")
    for i in range(0, len(data), 16_000):
        sink.write(data[i : i + 16_000])
    assert writes == []
    sink.finish()
    assert writes == [(0, 3 * BUFFER + ALIGN)]  # and the last 5 bytes through the cache
    sink.close()
    writes.clear()
    big = os.urandom(sink_module.HOLD + BUFFER + 1)
    sink = FileSink(tmp_path / "big")
    sink.write(big)
    assert writes == [(0, sink_module.HOLD)]
    sink.finish()
    sink.close()
    assert writes[1] == (sink_module.HOLD, BUFFER)
    assert (tmp_path / "small").read_bytes() == data and (tmp_path / "big").read_bytes() == big


def test_a_full_disk_is_an_os_error_and_abort_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink = FileSink(tmp_path / "f")
    monkeypatch.setattr(os, "pwritev", full)
    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as exc:
        sink.write(bytes(BUFFER + 10))
        sink.finish()
    assert exc.value.errno == errno.ENOSPC
    sink.abort()
    assert not (tmp_path / "f").exists()


def test_the_last_partial_block_is_written_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No padding past the end and no truncate (which would read the block back from the
    disk to zero its end): the file never holds more than was given."""
    def no_truncate(fd: int, n: int) -> None:
        raise AssertionError("truncated")

    monkeypatch.setattr(os, "ftruncate", no_truncate)
    sink = FileSink(tmp_path / "b")
    sink.write(b"\xff" * (BUFFER + ALIGN + 10))
    sink.finish()
    assert os.fstat(sink.fd).st_size == BUFFER + ALIGN + 10
    sink.close()
    assert (tmp_path / "b").read_bytes() == b"\xff" * (BUFFER + ALIGN + 10)


def test_publish_durable_on_an_ordered_file_system(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (seen.append(
        os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (real_replace(a, b), seen.append("rename"))[0])
    real_new = sink_module._rename_new
    monkeypatch.setattr(sink_module, "_rename_new",
                        lambda a, b: (done := real_new(a, b), done and seen.append("rename"))[0])
    assert orders_renames(tmp_path)
    sink = FileSink(tmp_path / ".tmp")
    sink.write(b"data")
    publish(sink, tmp_path / "final", durable=True, ordered=True)
    assert seen == ["rename", str(tmp_path / "final")]
    assert (tmp_path / "final").read_bytes() == b"data" and sink.fd == -1
    seen.clear()
    sink = FileSink(tmp_path / ".tmp2")
    sink.write(b"other")
    publish(sink, tmp_path / "final", durable=False, ordered=True)  # replaces, no sync
    assert seen == ["rename"] and (tmp_path / "final").read_bytes() == b"other"


def test_after_the_rename_abort_removes_only_a_new_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync failing after the rename: a new name is removed with the refused push; a name
    that held an earlier copy (the index still points at it) is never removed."""
    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    sink = FileSink(tmp_path / ".tmp")
    sink.write(b"data")
    with pytest.raises(OSError):
        publish(sink, tmp_path / "final", durable=True, ordered=True)  # a new name
    sink.abort()
    assert not (tmp_path / "final").exists() and not (tmp_path / ".tmp").exists()
    (tmp_path / "final").write_bytes(b"data")  # an earlier copy
    sink = FileSink(tmp_path / ".tmp1")
    sink.write(b"newer")
    monkeypatch.setattr(os, "fdatasync", lambda fd: None)  # synced before the rename...
    with pytest.raises(OSError):  # ...and the folder's fsync after it fails
        publish(sink, tmp_path / "final", durable=True, ordered=True)
    sink.abort()
    assert (tmp_path / "final").read_bytes() == b"newer"  # complete, and kept
    (tmp_path / "final").write_bytes(b"data")
    monkeypatch.setattr(os, "fdatasync", eio)
    sink = FileSink(tmp_path / ".tmp2")
    sink.write(b"other")
    with pytest.raises(OSError):  # replacing: the data is synced first, and that fails
        publish(sink, tmp_path / "final", durable=True, ordered=True)
    sink.abort()
    assert (tmp_path / "final").read_bytes() == b"data" and not (tmp_path / ".tmp2").exists()


def test_a_push_of_the_same_instance_that_took_the_name_meanwhile_is_replaced_safely(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two associations push the same instance: both look, see no file, and the other
    one renames first (and may have acknowledged). Ours must not take its place with data
    that is not on the disk yet: it finds the name taken in the rename itself
    (RENAME_NOREPLACE) and goes the classic way (fdatasync, rename, the folder's fsync),
    and a failure afterwards never removes the name."""
    final = tmp_path / "final"
    other = FileSink(tmp_path / ".other")
    other.write(b"first push")
    calls: list[str] = []
    real_lexists = os.path.lexists

    def looked(path: object) -> bool:  # the other push publishes right after our look
        seen = real_lexists(path)  # type: ignore[arg-type]
        if Path(str(path)) == final and not calls:
            calls.append("look")
            publish(other, final, durable=True, ordered=True)
        return seen

    monkeypatch.setattr(sink_module.os.path, "lexists", looked)
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append("fdatasync"),
                                                     real_fdatasync(fd))[1])
    real_fsync_dir = sink_module.fsync_dir
    monkeypatch.setattr(sink_module, "fsync_dir", lambda d: (calls.append("fsync dir"),
                                                             real_fsync_dir(d))[1])
    ours = FileSink(tmp_path / ".ours")
    ours.write(b"second push")
    publish(ours, final, durable=True, ordered=True)
    assert calls == ["look", "fdatasync", "fsync dir"]
    assert ours.renamed  # it replaced an earlier copy: abort() would never remove it
    assert final.read_bytes() == b"second push"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_file_system_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sink_module.fs_type(tmp_path) in sink_module.ORDERED_FS
    assert sink_module.fs_type(tmp_path / "missing") == 0
    if Path("/proc").is_dir():
        assert not orders_renames(Path("/proc"))  # not ext4 or XFS: the classic syncs
