"""Malformed PDUs and data sets for fuzzing the receiver (the tests and bench/fuzz.py).

`cases(seed, n)` yields reproducible `FuzzCase`s: the exact bytes one connection sends
(truncated PDUs, wrong or huge declared lengths, garbage before and after
A-ASSOCIATE, unknown PDU types, broken PDVs and command sets, data sets with bad VRs,
undefined lengths, sequences nested a thousand deep, duplicate elements, ...).
`run_case()` sends them over a fresh connection, half-closes it and reads until the
receiver closes, so every case ends by itself and nothing waits on a timer.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mw_tui.dicom import wire
from mw_tui.standard import sop
from tests.rawscu import associate_rq, c_store_rq

CT = "1.2.840.10008.5.1.4.1.1.2"
# what every data case proposes: 1 explicit VR LE, 3 implicit VR LE, 5 verification
CONTEXTS = [(1, CT, [sop.EXPLICIT_VR_LE]), (3, CT, [sop.IMPLICIT_VR_LE]),
            (5, sop.VERIFICATION, [sop.IMPLICIT_VR_LE])]


@dataclass(frozen=True, slots=True)
class FuzzCase:
    index: int
    kind: str
    chunks: tuple[bytes, ...]
    must_log: bool  # the receiver can tell this connection is bad, so it must say so once

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: FuzzCase
    peer: str  # address:port of our end: how the receiver's log names this connection
    outcome: str  # abort, reject, answered, closed, reset, hung, refused-connection
    seconds: float
    statuses: tuple[int, ...]  # DIMSE statuses of the responses received


# -- building blocks -------------------------------------------------------------------


def rq() -> bytes:
    return associate_rq("FUZZER", "MW_TUI", CONTEXTS)


def pdu(pdu_type: int, body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body) if length is None else length) + body


def pdv(context_id: int, control: int, data: bytes, length: int | None = None) -> bytes:
    n = len(data) + 2 if length is None else length
    return struct.pack(">IBB", n, context_id, control) + data


def _el(tag: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element."""
    g, e = tag >> 16, tag & 0xFFFF
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHI", g, e, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", g, e, vr, len(value)) + value


def _pad(value: bytes, pad: bytes = b" ") -> bytes:
    return value + pad if len(value) % 2 else value


def base_dataset(sop_uid: str, study_uid: str = "1.2.826.0.1.3680043.8.498.1",
                 series_uid: str = "1.2.826.0.1.3680043.8.498.2") -> bytes:
    """A small, valid CT image (8x8, 16 bit) in explicit VR little endian."""
    return b"".join((
        _el(0x00080016, b"UI", _pad(CT.encode(), b"\0")),
        _el(0x00080018, b"UI", _pad(sop_uid.encode(), b"\0")),
        _el(0x00080020, b"DA", b"20260101"),
        _el(0x00080060, b"CS", b"CT"),
        _el(0x00100010, b"PN", b"Fuzz^Patient"),
        _el(0x00100020, b"LO", b"FUZZ01"),
        _el(0x0020000D, b"UI", _pad(study_uid.encode(), b"\0")),
        _el(0x0020000E, b"UI", _pad(series_uid.encode(), b"\0")),
        _el(0x00200013, b"IS", b"1 "),
        _el(0x00280002, b"US", struct.pack("<H", 1)),
        _el(0x00280004, b"CS", b"MONOCHROME2 "),
        _el(0x00280010, b"US", struct.pack("<H", 8)),
        _el(0x00280011, b"US", struct.pack("<H", 8)),
        _el(0x00280100, b"US", struct.pack("<H", 16)),
        _el(0x00280101, b"US", struct.pack("<H", 12)),
        _el(0x00280102, b"US", struct.pack("<H", 11)),
        _el(0x00280103, b"US", struct.pack("<H", 0)),
        _el(0x7FE00010, b"OW", bytes(range(128))),
    ))


PIXEL_TAG = b"\xe0\x7f\x10\x00"


def _before_pixels(ds: bytes, insert: bytes) -> bytes:
    at = ds.index(PIXEL_TAG)
    return ds[:at] + insert + ds[at:]


def store_stream(ds: bytes, sop_uid: str, context_id: int = 1, fragment: int = 4000,
                 message_id: int = 1) -> bytes:
    """P-DATA-TF PDUs of one C-STORE request: the command, then the data set."""
    out = [wire.p_data(context_id, 0x03, c_store_rq(message_id, CT, sop_uid))]
    for i in range(0, max(len(ds), 1), fragment):
        last = i + fragment >= len(ds)
        out.append(wire.p_data(context_id, 0x02 if last else 0x00, ds[i:i + fragment]))
    return b"".join(out)


def _command(sop_class: bytes, sop_uid: bytes) -> bytes:
    """A C-STORE-RQ command set with these exact UID bytes (valid or not)."""
    def el(elem: int, value: bytes) -> bytes:
        return struct.pack("<HHI", 0, elem, len(value)) + value

    body = (el(0x0002, sop_class) + el(0x0100, b"\x01\x00") + el(0x0110, b"\x01\x00")
            + el(0x0700, b"\0\0") + el(0x0800, b"\0\0") + el(0x1000, sop_uid))
    return el(0x0000, struct.pack("<I", len(body))) + body


RELEASE_RQ = pdu(wire.A_RELEASE_RQ, b"\0\0\0\0")


def _uid(rng: random.Random) -> str:
    return f"1.2.826.0.1.3680043.8.498.{rng.randrange(10**12)}.{rng.randrange(10**6)}"


def _garbage(rng: random.Random, low: int, high: int) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def _mutate(rng: random.Random, data: bytes, start: int = 0, count: int | None = None) -> bytes:
    b = bytearray(data)
    for _ in range(count or rng.randint(1, 8)):
        i = rng.randrange(start, len(b))
        b[i] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(b)


# -- the malformed data sets -----------------------------------------------------------


def _deep_sequence(depth: int, undefined: bool) -> bytes:
    """(0040,A730) Content Sequence nested `depth` levels."""
    if undefined:
        head = (struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
                + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF))
        tail = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        return head * depth + tail * depth
    inner = b""
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, len(item)) + item
    return inner


def _boundaries(ds: bytes) -> Iterator[int]:
    """Where the top-level elements of an explicit VR little endian data set start."""
    pos = 0
    while pos < len(ds):
        yield pos
        vr = ds[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
            pos += 12 + struct.unpack_from("<I", ds, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", ds, pos + 6)[0]


def bad_dataset(rng: random.Random, ds: bytes) -> tuple[str, bytes]:
    """(what is wrong, the data set) for one malformed variant of `ds`."""
    kind = rng.choice(["bad_vr", "undefined_length", "undefined_sq_unterminated",
                       "deep_undefined", "deep_defined", "duplicate", "out_of_order",
                       "truncated", "huge_length", "item_at_top", "mutated_header",
                       "empty", "implicit_garbage", "odd_tail"])
    if kind == "bad_vr":
        at = ds.index(b"\x28\x00\x10\x00")
        return kind, ds[:at + 4] + rng.randbytes(2) + ds[at + 6:]
    if kind == "undefined_length":
        # a short-VR element turned into a long one with an undefined length
        return kind, _before_pixels(ds, struct.pack("<HH2sHI", 0x0028, 0x0300, b"UT", 0,
                                                    0xFFFFFFFF) + b"ABCD")
    if kind == "undefined_sq_unterminated":
        return kind, _before_pixels(ds, struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0,
                                                    0xFFFFFFFF)
                                    + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF))
    if kind == "deep_undefined":
        return kind, _before_pixels(ds, _deep_sequence(rng.choice((65, 200, 1000)), True))
    if kind == "deep_defined":
        return kind, _before_pixels(ds, _deep_sequence(1000, False))
    if kind == "duplicate":
        at = ds.index(b"\x28\x00\x10\x00")
        return kind, ds[:at] + ds[at:at + 10] + ds[at:]
    if kind == "out_of_order":
        at = ds.index(b"\x10\x00\x10\x00")
        return kind, ds[:at] + _el(0x00200013, b"IS", b"9 ") + ds[at:]
    if kind == "truncated":  # cut inside an element, never between two
        bounds = set(_boundaries(ds))
        return kind, ds[:rng.choice([i for i in range(1, len(ds)) if i not in bounds])]
    if kind == "huge_length":
        at = ds.index(b"\x10\x00\x10\x00")  # Patient's Name declares far more than follows
        length = rng.choice((0x7FFFFFFF, 0xFFFFFFFE, len(ds) * 3))
        return kind, ds[:at] + struct.pack("<HH2sHI", 0x0010, 0x0010, b"UT", 0, length) \
            + b"x" * 8
    if kind == "item_at_top":
        return kind, _before_pixels(ds, struct.pack("<HHI", 0xFFFE, 0xE000, 4) + b"abcd")
    if kind == "mutated_header":
        return kind, _mutate(rng, ds, 0, rng.randint(1, 12))
    if kind == "empty":
        return kind, b""
    if kind == "implicit_garbage":
        return kind, _garbage(rng, 1, 3000)
    return kind, ds + rng.randbytes(rng.choice((1, 3, 7)))


# -- the cases ---------------------------------------------------------------------------


def _case(rng: random.Random) -> tuple[str, list[bytes], bool]:
    """(kind, chunks, must_log) of one random case."""
    r = rq()
    sop_uid = _uid(rng)
    ds = base_dataset(sop_uid)
    kind = rng.choice(KINDS)
    if kind == "garbage":
        g = _garbage(rng, 1, 2000)
        return kind, [g], True
    if kind == "garbage_before_rq":
        return kind, [_garbage(rng, 1, 64), r], True
    if kind == "garbage_after_rq":
        return kind, [r, _garbage(rng, 1, 2000)], True
    if kind == "truncated_rq":
        return kind, [r[:rng.randrange(1, len(r))]], True
    if kind == "mutated_rq":
        return kind, [_mutate(rng, r, 6), store_stream(ds, sop_uid), RELEASE_RQ], False
    if kind == "rq_huge_length":
        length = rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 256 * 1024 + 1, 10**8))
        return kind, [pdu(1, r[6:], length)], True
    if kind == "rq_wrong_length":
        delta = rng.choice((-60, -5, -1, 1, 7, 100))
        return kind, [pdu(1, r[6:], len(r) - 6 + delta), r[6:6 + max(0, delta)]], True
    if kind == "rq_item_lengths":
        b = bytearray(r)
        at = 74 + rng.randrange(0, len(r) - 80)
        b[at:at + 2] = struct.pack(">H", rng.choice((0, 1, 0xFFFF, 0x8000)))
        return kind, [bytes(b)], False
    if kind == "too_many_contexts":
        contexts = [(i * 2 + 1, CT, [sop.EXPLICIT_VR_LE]) for i in range(200)]
        big = associate_rq("FUZZER", "MW_TUI", [(c % 256, a, t) for c, a, t in contexts])
        return kind, [big], True
    if kind == "unknown_pdu":
        t = rng.choice([0, *range(8, 256)])
        return kind, [pdu(t, _garbage(rng, 0, 200))], True
    if kind == "pdata_before_rq":
        return kind, [store_stream(ds, sop_uid)], True
    if kind == "release_before_rq":
        return kind, [RELEASE_RQ], True
    if kind == "two_rq":
        return kind, [r, r], True
    if kind == "pdu_huge_length":
        return kind, [r, pdu(wire.P_DATA_TF, b"\0" * 16,
                             rng.choice((0xFFFFFFFF, 524289, 10**9)))], True
    if kind == "pdu_short":
        return kind, [r, pdu(wire.P_DATA_TF, _garbage(rng, 0, 40), rng.randint(100, 5000))], True
    if kind == "empty_pdata":
        return kind, [r, pdu(wire.P_DATA_TF, b"")], True
    if kind == "bad_pdv_length":
        n = rng.choice((0, 1, 0xFFFFFFFF, 5000))
        body = pdv(1, 0x03, c_store_rq(1, CT, sop_uid), n)
        return kind, [r, pdu(wire.P_DATA_TF, body)], True
    if kind == "pdv_unaccepted_context":
        cid = rng.choice((0, 2, 7, 255))
        return kind, [r, wire.p_data(cid, 0x03, c_store_rq(1, CT, sop_uid))], True
    if kind == "bad_command":
        cmd = rng.choice((
            _garbage(rng, 0, 300),
            _mutate(rng, c_store_rq(1, CT, sop_uid)),
            struct.pack("<HHI", 0, 0x0100, 0xFFFFFFF0) + b"\x01\x00",
            struct.pack("<HHI", 8, 0x0016, 4) + b"1.2\0",
            struct.pack("<HHI", 0, 0x0110, 2) + b"\x01\x00",  # no Command Field
        ))
        return kind, [r, wire.p_data(1, 0x03, cmd), store_stream(ds, sop_uid)], False
    if kind == "non_ascii_uids":
        cmd = _command(rng.choice((b"1.2.\xe9\xff.4", CT.encode())),
                       rng.choice((b"\xff\xfe\x80\0", b"1.2.3.\x00\x01", b"")))
        return kind, [r, wire.p_data(1, 0x03, cmd), wire.p_data(1, 0x02, ds), RELEASE_RQ], False
    if kind == "huge_command":
        frag = wire.p_data(1, 0x01, b"\0" * 16000)
        return kind, [r, *[frag] * 6], True
    if kind == "dataset_without_command":
        return kind, [r, wire.p_data(1, 0x02, ds)], True
    if kind == "command_during_dataset":
        s = store_stream(ds, sop_uid, fragment=40)
        return kind, [r, s[:200], wire.p_data(1, 0x03, c_store_rq(2, CT, sop_uid))], True
    if kind == "abort_mid_dataset":
        s = store_stream(ds, sop_uid, fragment=40)
        return kind, [r, s[:rng.randrange(40, len(s) - 10)], wire.abort(0, 0)], False
    if kind == "close_mid_pdu":
        s = store_stream(ds, sop_uid, fragment=100)
        return kind, [r, s[:rng.randrange(1, len(s) - 1)]], False
    if kind == "release_wrong_length":
        n = rng.choice((0, 2, 1000, 2000))  # shorter than 4: taken as a release all the same
        return kind, [r, pdu(wire.A_RELEASE_RQ, b"\0" * 4, n)], n > 4
    if kind == "echo_garbage":
        echo = c_store_rq(1, sop.VERIFICATION, "").replace(b"\x01\x00", b"\x30\x00", 1)
        return kind, [r, wire.p_data(5, 0x03, _mutate(rng, echo)), RELEASE_RQ], False
    if kind == "bad_dataset":
        what, bad = bad_dataset(rng, ds)
        return f"bad_dataset:{what}", [r, store_stream(bad, sop_uid, rng.choice((1, 3))),
                                       RELEASE_RQ], what not in ("odd_tail", "mutated_header")
    if kind == "mutated_stream":
        s = store_stream(ds, sop_uid) + RELEASE_RQ
        return kind, [r, _mutate(rng, s, 0, rng.randint(1, 6))], False
    if kind == "slow_fragments":
        s = store_stream(ds, sop_uid) + RELEASE_RQ
        cuts = sorted(rng.sample(range(1, len(s)), 6))
        pieces = [s[a:b] for a, b in zip([0, *cuts], [*cuts, len(s)], strict=True)]
        return kind, [r, *pieces], False  # valid, just split at odd places
    raise AssertionError(kind)


KINDS = ("garbage", "garbage_before_rq", "garbage_after_rq", "truncated_rq", "mutated_rq",
         "rq_huge_length", "rq_wrong_length", "rq_item_lengths", "too_many_contexts",
         "unknown_pdu", "pdata_before_rq", "release_before_rq", "two_rq", "pdu_huge_length",
         "pdu_short", "empty_pdata", "bad_pdv_length", "pdv_unaccepted_context",
         "bad_command", "non_ascii_uids", "huge_command", "dataset_without_command",
         "command_during_dataset", "abort_mid_dataset", "close_mid_pdu",
         "release_wrong_length", "echo_garbage", "bad_dataset", "bad_dataset", "bad_dataset",
         "bad_dataset", "mutated_stream", "slow_fragments")


def cases(seed: int, n: int) -> Iterator[FuzzCase]:
    """`n` reproducible cases: case i depends only on (seed, i)."""
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        kind, chunks, must_log = _case(rng)
        yield FuzzCase(i, kind, tuple(chunks), must_log)


# -- running a case ----------------------------------------------------------------------


def _statuses(data: bytes) -> tuple[str, tuple[int, ...]]:
    """What the receiver answered: its first PDU type as a word, and DIMSE statuses."""
    first, statuses, pos = "", [], 0
    while pos + 6 <= len(data):
        t = data[pos]
        (n,) = struct.unpack_from(">I", data, pos + 2)
        body = data[pos + 6 : pos + 6 + n]
        pos += 6 + n
        word = {wire.A_ASSOCIATE_AC: "answered", wire.A_ASSOCIATE_RJ: "reject",
                wire.A_ABORT: "abort", wire.A_RELEASE_RP: "answered",
                wire.P_DATA_TF: "answered"}.get(t, f"pdu-{t}")
        if t == wire.A_ABORT:
            first = "abort"
        elif not first or first == "answered":
            first = word
        if t == wire.P_DATA_TF and len(body) > 6:
            cmd, p = body[6:], 0
            while p + 8 <= len(cmd):
                _, elem, k = struct.unpack_from("<HHI", cmd, p)
                if elem == 0x0900 and k == 2:
                    statuses.append(struct.unpack_from("<H", cmd, p + 8)[0])
                p += 8 + k
    return first or "closed", tuple(statuses)


def source_address(index: int) -> str:
    """A loopback address of its own for case `index` (all of 127/8 reaches 127.0.0.1), so
    the receiver's log lines of each case can be told apart by the peer address."""
    return f"127.{1 + index // 62500}.{index // 250 % 250 + 1}.{index % 250 + 1}"


def run_case(port: int, case: FuzzCase, timeout: float = 20.0,
             wrap: Callable[[socket.socket], socket.socket] | None = None) -> CaseResult:
    """Send the case over a new connection, half-close it, read until the receiver closes."""
    start = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                        source_address=(source_address(case.index), 0))
    except OSError:
        return CaseResult(case, "", "refused-connection", time.monotonic() - start, ())
    host, local_port = sock.getsockname()[:2]
    peer = f"{host}:{local_port}"
    if wrap is not None:
        sock = wrap(sock)
    received = bytearray()
    outcome = ""
    try:
        try:
            for chunk in case.chunks:
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the receiver gave up on us before we were done: read what it said
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    except TimeoutError:
        outcome = "hung"
    except (ConnectionResetError, BrokenPipeError):
        outcome = "reset"
    finally:
        sock.close()
    said, statuses = _statuses(bytes(received))
    return CaseResult(case, peer, outcome or said, time.monotonic() - start, statuses)


# -- the receiver under test: `mw-tui serve` in a subprocess ---------------------------


def worker_pids(parent: int) -> list[int]:
    """The receiver worker processes of `mw-tui serve` (children of `parent`, named by
    `worker.PROCESS_NAME` when forked, `spawn_main` in the command line when spawned)."""
    from mw_tui.dicom.worker import PROCESS_NAME

    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/comm", "rb") as f:
                comm = f.read().strip()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and (b"spawn_main" in cmdline or comm == PROCESS_NAME):
            out.append(int(entry))
    return sorted(out)


def proc_status(pid: int, key: str) -> int:
    """A number from /proc/PID/status: VmRSS (kB), Threads, ..."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@dataclass
class Serve:
    """`mw-tui serve` on a free port with its own storage; its log is `log`."""

    folder: Path
    processes: int = 2
    extra: str = ""  # more TOML
    level: str = "INFO"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    @property
    def storage(self) -> Path:
        return self.folder / "store"

    def start(self) -> Serve:
        from tests.peers import free_port, port_open, wait_until

        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.folder / "config.toml"
        config.write_text(
            f'[station]\nport = {self.port}\nbind = "127.0.0.1"\nstorage = "{self.storage}"\n'
            f'min_free_mb = 1\nreceiver_processes = {self.processes}\nlog_level = "{self.level}"\n'
            f'[dicom]\nserver_timeout = 10\nartim_timeout = 5\n{self.extra}\n')
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mw_tui", "--config", str(config), "serve"],
                stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: self._running() and "mw-tui: receiving as" in self.log_text(), 60,
                   "mw-tui serve to accept (its workers ready)")
        assert port_open(self.port) and len(self.workers()) == self.processes
        return self

    def _running(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"mw-tui serve exited with {self.proc.returncode}:\n"
                                 + self.log.read_text(errors="replace")[-3000:])
        return True

    def workers(self) -> list[int]:
        assert self.proc is not None
        return worker_pids(self.proc.pid)

    def rss_kb(self) -> dict[int, int]:
        return {pid: proc_status(pid, "VmRSS") for pid in self.workers()}

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        return code

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


_LEVEL = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")
_PEER = re.compile(r"\b(\d+\.\d+\.\d+\.\d+:\d+)\b")


def problem_lines(log: str) -> Counter[str]:
    """peer -> how many WARNING/ERROR lines of a `mw-tui serve` log name it."""
    counts: Counter[str] = Counter()
    for line in log.splitlines():
        if _LEVEL.match(line):
            counts.update(set(_PEER.findall(line)))
    return counts


def all_logged(log: str, results: list[CaseResult]) -> bool:
    lines = problem_lines(log)
    return all(r.peer in lines for r in results)
