"""Fuzzing the live receiver (`mw-tui serve`) with malformed PDUs and data sets.

The receiver must never die (same worker processes before and after), keep its memory
bounded, keep serving normal associations during and after, and log each bad case
once (no tracebacks). bench/fuzz.py runs the same cases by the ten thousand.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mw_tui.demo import synth
from mw_tui.dicom import wire
from mw_tui.standard import sop
from mw_tui.store import Store
from mw_tui.store.header import MalformedDataset, scan
from tests import rawfuzz
from tests.peers import dcmtk, need, wait_until

CASES = int(os.environ.get("MW_TUI_FUZZ_CASES", "300"))
RSS_GROWTH_LIMIT_KB = 32 * 1024


def storescu(port: int, files: list[Path]) -> subprocess.Popen[str]:
    return subprocess.Popen(["storescu", "-aec", "MW_TUI", "127.0.0.1", str(port),
                             *map(str, files)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TCP_NODELAY": "1"})


@pytest.mark.slow
def test_fuzzed_serve_survives_and_still_stores(tmp_path: Path) -> None:
    need("storescu")
    files = list(synth.ct_series(tmp_path / "ct", 30, 16, 16))
    serve = rawfuzz.Serve(tmp_path / "serve").start()
    try:
        pids = serve.workers()
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(serve.port), str(files[0]))
        rss_before = serve.rss_kb()

        during = storescu(serve.port, files[1:20])  # a normal transfer while fuzzing
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda c: rawfuzz.run_case(serve.port, c),
                                    rawfuzz.cases(seed=20260101, n=CASES)))
        out, _ = during.communicate(timeout=120)
        assert during.returncode == 0, out

        hung = [r for r in results if r.outcome in ("hung", "refused-connection")]
        assert not hung, [(r.case.index, r.case.kind, r.outcome) for r in hung]
        assert serve.workers() == pids, "a receiver worker died"
        assert all(rawfuzz.alive(p) for p in pids)
        rss_after = serve.rss_kb()
        for pid in pids:
            assert rss_after[pid] - rss_before[pid] < RSS_GROWTH_LIMIT_KB, (rss_before,
                                                                            rss_after)

        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(serve.port),
              *map(str, files[20:]))  # and after
        store = Store(serve.storage)
        for f in files:
            uid = synth_uid(f)
            assert store.index.instance(uid) is not None, f"{f.name} was not stored"
        store.close()

        must = [r for r in results if r.case.must_log]
        wait_until(lambda: rawfuzz.all_logged(serve.log_text(), must), 30,
                   "a log line for every bad case")
        log = serve.log_text()
        assert "Traceback" not in log
        lines = rawfuzz.problem_lines(log)
        for r in results:
            n = lines[r.peer]
            assert n <= 2, (r.case.kind, r.peer, n)  # at most: a refusal, then an abort
            if r.case.must_log:
                assert n == 1, (r.case.kind, r.peer, n)
        kinds = {r.case.kind.split(":")[0] for r in results}
        assert len(kinds) >= 25  # the run covered the generator, not one corner of it
    finally:
        assert serve.stop() == 0


def synth_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


# -- the parsers alone, with hypothesis ------------------------------------------------

BASE = rawfuzz.base_dataset("1.2.826.0.1.3680043.8.498.7")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from([sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE,
                                                  sop.EXPLICIT_VR_BE,
                                                  sop.DEFLATED_EXPLICIT_VR_LE]))
def test_header_scan_refuses_garbage_cleanly(data: bytes, ts: str) -> None:
    try:
        scan(data, ts)
    except MalformedDataset:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), max_size=12),
       st.integers(0, len(BASE)))
def test_header_scan_of_mutated_dataset_never_raises_anything_else(
        mutations: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(BASE)
    for at, value in mutations:
        data[at] = value
    for ts in (sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE):
        try:
            scan(bytes(data[:cut]), ts)
        except MalformedDataset:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_command_decoder_raises_only_protocol_errors(data: bytes) -> None:
    try:
        wire.decode_command(data)
    except wire.ProtocolError:
        pass


def test_sequences_nested_too_deep_are_refused_whatever_their_lengths() -> None:
    for undefined in (True, False):
        deep = rawfuzz._before_pixels(BASE, rawfuzz._deep_sequence(1000, undefined))
        with pytest.raises(MalformedDataset, match="nested deeper"):
            scan(deep, sop.EXPLICIT_VR_LE)
        shallow = rawfuzz._before_pixels(BASE, rawfuzz._deep_sequence(20, undefined))
        assert scan(shallow, sop.EXPLICIT_VR_LE).get("SOPInstanceUID")
