"""Fuzz benchmark: malformed PDUs and data sets against `mw-tui serve` and dcmtk's storescp.

    .venv/bin/python bench/fuzz.py            # 10,000 cases against each
    .venv/bin/python bench/fuzz.py --tiny     # 50 cases (what CI runs)

The same seeded cases (tests/rawfuzz.py: truncated PDUs, wrong and huge lengths, garbage
around A-ASSOCIATE, bad PDVs and command sets, data sets with bad VRs, undefined lengths,
sequences nested a thousand deep, duplicate elements, ...) go to both receivers from 4
client threads, while a normal storescu transfer runs in a loop. Printed per receiver:
cases/s, case latency, whether its processes survived (same PIDs), their memory before
and after, the normal transfers that failed; for mw-tui also the log lines per case.
The ratio is mw-tui's cases/s over storescp's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mw_tui.demo import synth  # noqa: E402
from tests import peers, rawfuzz  # noqa: E402
from tests.peers import wait_until  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def store(port: int, files: list[Path]) -> bool:
    return subprocess.run(["storescu", "-aec", "MW_TUI", "127.0.0.1", str(port),
                           *map(str, files)], env=ENV, capture_output=True).returncode == 0


class Transfers(threading.Thread):
    """Normal storescu transfers in a loop while the fuzzing goes on."""

    def __init__(self, port: int, files: list[Path]) -> None:
        super().__init__(daemon=True)
        self.port, self.files = port, files
        self.ok = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if store(self.port, self.files):
                self.ok += 1
            else:
                self.failed += 1


def fuzz(port: int, cases: list[rawfuzz.FuzzCase], threads: int,
         files: list[Path]) -> tuple[list[rawfuzz.CaseResult], float, Transfers]:
    transfers = Transfers(port, files)
    transfers.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda c: rawfuzz.run_case(port, c), cases))
    elapsed = time.perf_counter() - start
    transfers.stop.set()
    transfers.join(120)
    return results, elapsed, transfers


def report(name: str, results: list[rawfuzz.CaseResult], elapsed: float, transfers: Transfers,
           survived: bool, rss: tuple[int, int], after_ok: bool) -> float:
    times = sorted(r.seconds for r in results)
    outcomes = Counter(r.outcome for r in results)
    rate = len(results) / elapsed
    print(f"\n{name}: {len(results)} cases in {elapsed:.1f} s = {rate:.0f} cases/s; latency "
          f"p50 {times[len(times) // 2] * 1000:.1f} ms, p99 "
          f"{times[int(len(times) * 0.99)] * 1000:.1f} ms, max {times[-1] * 1000:.0f} ms")
    print(f"  answers: {dict(outcomes.most_common())}")
    print(f"  survived (same processes): {'yes' if survived else 'NO'}; memory (RSS) "
          f"{rss[0] / 1024:.1f} MB before, {rss[1] / 1024:.1f} MB after "
          f"({(rss[1] - rss[0]) / 1024:+.1f} MB)")
    print(f"  normal transfers during the fuzzing: {transfers.ok} ok, {transfers.failed} "
          f"failed; a transfer after it: {'ok' if after_ok else 'FAILED'}")
    return rate


def run_mw_tui(work: Path, cases: list[rawfuzz.FuzzCase], threads: int,
               files: list[Path]) -> tuple[float, bool]:
    serve = rawfuzz.Serve(work / "mw-tui", processes=2).start()
    try:
        assert store(serve.port, files[:1])
        pids = serve.workers()
        before = serve.rss_kb()
        results, elapsed, transfers = fuzz(serve.port, cases, threads, files[1:4])
        survived = serve.workers() == pids
        after = serve.rss_kb() if survived else before
        after_ok = store(serve.port, files[4:])
        rate = report("mw-tui serve (2 worker processes)", results, elapsed, transfers,
                      survived, (sum(before.values()), sum(after.values())), after_ok)
        for pid in pids:
            print(f"  worker {pid}: {before[pid] / 1024:.1f} -> {after.get(pid, 0) / 1024:.1f}"
                  f" MB, {rawfuzz.proc_status(pid, 'Threads')} threads now")
        must = [r for r in results if r.case.must_log]
        wait_until(lambda: rawfuzz.all_logged(serve.log_text(), must), 60,
                   "the log lines of the bad cases")
        log = serve.log_text()
        lines = rawfuzz.problem_lines(log)
        per_case = Counter(min(lines[r.peer], 3) for r in results)
        print(f"  warning/error lines per case: {dict(sorted(per_case.items()))} "
              f"(cases that must be logged: {len(must)}, logged exactly once: "
              f"{sum(1 for r in must if lines[r.peer] == 1)}); tracebacks in the log: "
              f"{log.count('Traceback')}")
        hung = [r for r in results if r.outcome == "hung"]
        ok = survived and after_ok and not hung and "Traceback" not in log \
            and transfers.failed == 0 and all(lines[r.peer] == 1 for r in must)
        return rate, ok
    finally:
        serve.stop()


def run_storescp(work: Path, cases: list[rawfuzz.FuzzCase], threads: int,
                 files: list[Path]) -> float:
    out = work / "storescp"
    shutil.rmtree(out, ignore_errors=True)
    with peers.storescp(out, "+xa", "-uf") as (port, proc):
        assert store(port, files[:1])
        before = rawfuzz.proc_status(proc.pid, "VmRSS")
        results, elapsed, transfers = fuzz(port, cases, threads, files[1:4])
        survived = proc.poll() is None
        after = rawfuzz.proc_status(proc.pid, "VmRSS") if survived else 0
        after_ok = survived and store(port, files[4:])
        return report("dcmtk storescp (one process)", results, elapsed, transfers, survived,
                      (before, after), after_ok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="50 cases (CI)")
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    n = 50 if args.tiny else args.cases
    cases = list(rawfuzz.cases(args.seed, n))
    kinds = Counter(c.kind.split(":")[0] for c in cases)
    with tempfile.TemporaryDirectory(prefix="mw-tui-bench-fuzz-") as tmp:
        work = Path(tmp)
        files = list(synth.ct_series(work / "ct", 8, 32, 32))
        print(f"{n} fuzz cases (seed {args.seed}, {len(kinds)} kinds, "
              f"{sum(c.size for c in cases) / 1e6:.1f} MB), {args.threads} client threads, "
              "storescu transfers of 3 images in a loop alongside")
        mine, ok = run_mw_tui(work, cases, args.threads, files)
        peer = run_storescp(work, cases, args.threads, files)
    print(f"\nmw-tui / storescp: {mine / peer:.2f}x the cases per second")
    if not ok:
        raise SystemExit("mw-tui did not pass the fuzzing unharmed (see above)")


if __name__ == "__main__":
    main()
