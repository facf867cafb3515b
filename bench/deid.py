"""De-identification benchmark: mw-tui's copies into a work store against dicognito's CLI.

Same files, same run. A study of CT instances (default 1,000 of 512x512, 16 bit) is put in
a store; then, alternately and several times, each in a fresh process (interpreter start
and imports included, as for the peer):

- mw-tui: `deidentify_into()` with the Basic Profile into a new work store (its index
  included), the copies' pixel data as it is in the files;
- dicognito's command line (`python -m dicognito --seed S --output-directory OUT FOLDER`:
  its `dicognito` script of 0.19 fails before it starts, main() without its arguments) on
  a hard-linked copy of the same files.

Before each, the disk is synced (neither pays for the other's writes), and they take turns
at going first. The median of each is printed with the ratio (bar: 1.0x); also mw-tui's
time inside its process.

    python bench/deid.py [--count N] [--size S] [--runs R] [--tiny]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mw_tui.store import Store

BAR_RATIO = 1.0
SEED = "bench-seed"


def child(store_root: str, work_root: str, uid: str) -> None:
    """(in a fresh process) the copies of the study; prints the seconds it took inside."""
    t = time.perf_counter()
    from mw_tui.config import DeidProfile
    from mw_tui.deid import deidentify_into

    report = deidentify_into(Store(store_root), [uid], DeidProfile(name="basic"), SEED,
                             Store(work_root))
    assert report.written, "nothing was written"
    print(time.perf_counter() - t)


def ours(store: Path, work: Path, uid: str) -> tuple[float, float]:
    """(wall seconds of the process, seconds inside it)"""
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(store), str(work), uid],
                          check=True, capture_output=True, text=True)
    return time.perf_counter() - t, float(proc.stdout.strip().splitlines()[-1])


def peer(files: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dicognito", "--quiet", "--seed", SEED,
                    "--output-directory", str(out), str(files)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, help="instances in the study (default 1000)")
    ap.add_argument("--size", type=int, help="rows and columns (default 512)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each (median taken)")
    ap.add_argument("--tiny", action="store_true", help="20 instances of 64x64, 1 run (CI)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    count = args.count or (20 if args.tiny else 1000)
    size = args.size or (64 if args.tiny else 512)
    runs = 1 if args.tiny else args.runs
    if importlib.util.find_spec("dicognito") is None:
        print("bench/deid: dicognito is missing (pip install -e '.[test]' installs it)")
        return 1
    from bench._installed import compile_package
    from bench.media import fill  # not in the timed child: it imports the media builder

    compile_package()  # untimed, as pip compiles an installed station

    with tempfile.TemporaryDirectory(prefix="mw-bench-deid-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        store = Store(root / "store")
        uid = fill(store, count, size)
        files = root / "files"
        files.mkdir()
        for row in store.index.study_instances(uid):
            os.link(store.root / row.path, files / f"{row.sop_uid}.dcm")
        total = store.index.study(uid).size_bytes  # type: ignore[union-attr]
        store.close()
        print(f"study: {count} CT instances of {size}x{size}, {total / 1e6:.0f} MB")
        walls, insides, peers = [], [], []
        load = os.getloadavg()[0]
        for n in range(runs):
            # each starts with the other's writes on the disk, and first in turn
            for which in ((0, 1) if n % 2 == 0 else (1, 0)):
                os.sync()
                if which == 0:
                    wall, inside = ours(root / "store", root / "work", uid)
                    walls.append(wall)
                    insides.append(inside)
                else:
                    peers.append(peer(files, root / "out"))
        written = sum(1 for _ in (root / "out").rglob("*") if _.is_file())
        assert written == count, f"dicognito wrote {written} files of {count}"
        w, i, p = (statistics.median(x) for x in (walls, insides, peers))
        print(f"runs: {runs} (medians); load average {load:.1f} -> {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        print(f"  mw-tui deidentify_into (process)   {w:7.3f} s  ({i:.3f} s inside it, "
              f"{i / count * 1000:.2f} ms per instance)")
        print(f"  dicognito command line             {p:7.3f} s")
        ratio = w / p
        print(f"mw-tui / dicognito: {ratio:.2f}x (bar {BAR_RATIO:.1f}x): "
              f"{'met' if ratio <= BAR_RATIO else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
