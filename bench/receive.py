"""Receive benchmark: dcmtk storescu sends N CT images to mw-tui, dcmtk storescp and Orthanc.

    .venv/bin/python bench/receive.py            # 1,000 CT images, 512x512, 16 bit
    .venv/bin/python bench/receive.py --tiny     # 20 small images (what CI runs)

Each receiver gets the same files with 1 and with 4 parallel associations, in the same
run; the table gives images/s and mw-tui's time relative to each peer (lower is better).
It also reports the CPU time the process owning mw-tui's receiver spent (the process the
screens run in): receiving happens in worker processes, so that stays small.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mw_tui.demo import synth  # noqa: E402
from tests import peers  # noqa: E402
from tests.peers import free_port, port_open, wait_until  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    marker = folder / f".done-{count}-{size}"
    if marker.exists():
        return sorted(folder.glob("CT*.dcm"))
    shutil.rmtree(folder, ignore_errors=True)
    files = list(synth.ct_series(folder, count, size, size))
    marker.touch()
    return files


def send(port: int, files: list[Path], parallel: int) -> float:
    chunks = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [subprocess.Popen(["storescu", "-aec", "BENCH", "127.0.0.1", str(port),
                               *map(str, c)], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for c in chunks]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"storescu failed: {err.decode(errors='replace')[-500:]}")
    return time.perf_counter() - start


@contextlib.contextmanager
def mw_tui(work: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    store = work / "mw-store"
    shutil.rmtree(store, ignore_errors=True)
    config = work / "mw.toml"
    config.write_text(f'[station]\nport = {port}\nbind = "127.0.0.1"\nstorage = "{store}"\n'
                      'min_free_mb = 100\nlog_level = "WARNING"\n')
    proc = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config), "serve"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port), 60, "mw-tui")
        yield port, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@contextlib.contextmanager
def storescp(work: Path) -> Iterator[tuple[int, None]]:
    out = work / "scp-store"
    shutil.rmtree(out, ignore_errors=True)
    with peers.storescp(out, "+xa", "-uf") as (port, _):
        yield port, None


@contextlib.contextmanager
def orthanc(work: Path) -> Iterator[tuple[int, None]]:
    db = work / "orthanc"
    shutil.rmtree(db, ignore_errors=True)
    with peers.orthanc(db) as o:  # the tests' Orthanc: free ports, readiness checks
        yield o.dicom_port, None


def flush_ms(folder: Path, n: int = 50) -> float:
    """Median milliseconds of what a pushed instance must wait for at the least: a new
    small file renamed and fsynced (one flush of the disk's cache), in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    times = []
    for i in range(n):
        tmp, final = folder / f".t{i}", folder / f"f{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(4096))
            start = time.perf_counter()
            os.replace(tmp, final)
            os.fsync(fd)
            times.append(time.perf_counter() - start)
        finally:
            os.close(fd)
    shutil.rmtree(folder, ignore_errors=True)
    return 1000 * sorted(times)[n // 2]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="20 small images (CI)")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--work", type=Path, default=None, help="folder for data (kept)")
    args = ap.parse_args()
    count, size = (20, 64) if args.tiny else (args.count, args.size)
    work = args.work or Path(tempfile.gettempdir()) / "mw-tui-bench-receive"
    work.mkdir(parents=True, exist_ok=True)
    files = make_files(work / "data", count, size)
    warmup = list(synth.ct_series(work / "warmup", 5, 64, 64))
    print(f"{len(files)} CT images of {size}x{size}, 16 bit, sent by storescu "
          "(TCP_NODELAY=1)")
    results: dict[str, dict[int, float]] = {}
    owner_cpu: dict[int, float] = {}
    for name, peer in (("mw-tui", mw_tui), ("storescp", storescp), ("orthanc", orthanc)):
        results[name] = {}
        for parallel in (1, 4):
            with peer(work) as (port, proc):
                send(port, warmup, 1)  # every receiver gets the same few images first
                before = cpu_seconds(proc.pid) if proc is not None else 0.0
                results[name][parallel] = send(port, files, parallel)
                if proc is not None:
                    owner_cpu[parallel] = cpu_seconds(proc.pid) - before
    print(f"{'receiver':<10} {'1 assoc':>10} {'img/s':>8} {'4 assoc':>10} {'img/s':>8}")
    for name, r in results.items():
        print(f"{name:<10} {r[1]:>9.2f}s {len(files) / r[1]:>8.0f} {r[4]:>9.2f}s "
              f"{len(files) / r[4]:>8.0f}")
    mw = results["mw-tui"]
    for peer in ("storescp", "orthanc"):
        print(f"mw-tui / {peer}: {mw[1] / results[peer][1]:.2f}x (1 assoc), "
              f"{mw[4] / results[peer][4]:.2f}x (4 assoc)")
    print(f"CPU of the process owning the receiver (the UI's process): "
          f"{owner_cpu[1]:.2f} s (1 assoc), {owner_cpu[4]:.2f} s (4 assoc)")
    floor = flush_ms(work / "flush")
    print(f"the disk's flush (rename + fsync of a small file, median): {floor:.2f} ms, so "
          f"{floor * len(files) / 1000:.2f} s at least for {len(files)} images on one "
          "association (mw-tui syncs each pushed image before its response; storescp never "
          "does)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
