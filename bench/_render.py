"""The web-image part of bench/media.py: mw-tui's renderer against dcmtk's dcmj2pnm, and
the peak memory of a build's process tree (the builder and its worker processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from mw_tui.media.render import RenderTask, render_instance
from mw_tui.media.volume import Pack
from mw_tui.media.webimages import Renderer, WebSettings, default_workers

__all__ = ["default_workers"]
from mw_tui.store import Store

BAR_RENDER = 0.5  # ours per image / dcmj2pnm's
BAR_BUILD = 2.0  # whole build with web images / without
BAR_MEMORY_MIB = 150
# what ours does: the first window of the image, else one over its pixel range; JPEG 85
DCMJ2PNM = ["dcmj2pnm", "--quiet", "+oj", "+Jq", "85", "+Wi", "1", "+Wm"]


def files(store: Store, uid: str) -> list[tuple[str, Path]]:
    return [(r.sop_uid, store.root / r.path) for r in store.index.study_instances(uid)]


def ours_serial(instances: list[tuple[str, Path]], out: Path) -> float:
    """Seconds per image, one after the other in this process (preview + thumbnail)."""
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    pack = Pack(out / "serial.PCK")
    for uid, path in instances:
        r = render_instance(RenderTask(uid, path, True), pack)
        assert r is not None and not r.problem, r
    pack.close()
    shutil.rmtree(out, ignore_errors=True)
    return (time.perf_counter() - t) / len(instances)


def ours_pool(instances: list[tuple[str, Path]], out: Path) -> float:
    """Seconds per image as a build makes them: in its worker processes."""
    t = time.perf_counter()
    with Renderer(out, WebSettings()) as renderer:
        for uid, path in instances:
            renderer.submit(uid, path)
        results = renderer.collect(lambda: None)
    assert len(results) == len(instances)
    shutil.rmtree(out, ignore_errors=True)
    return (time.perf_counter() - t) / len(instances)


def dcmtk_per_file(instances: list[tuple[str, Path]], out: Path) -> float:
    """Seconds per image: one dcmj2pnm process per file, started from here."""
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for n, (_uid, path) in enumerate(instances):
        subprocess.run([*DCMJ2PNM, str(path), str(out / f"{n}.jpg")], check=True)
    elapsed = time.perf_counter() - t
    shutil.rmtree(out, ignore_errors=True)
    return elapsed / len(instances)


def dcmtk_batch(instances: list[tuple[str, Path]], out: Path) -> float:
    """Seconds per image: dcmj2pnm over every file in one shell loop."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".lst", delete=False) as lst:
        lst.write("\n".join(str(p) for _u, p in instances) + "\n")
    script = (f'n=0; while read -r f; do n=$((n+1)); {" ".join(DCMJ2PNM)} "$f" '
              f'"{out}/$n.jpg" || exit 1; done < "{lst.name}"')
    t = time.perf_counter()
    subprocess.run(["sh", "-c", script], check=True)
    elapsed = time.perf_counter() - t
    os.unlink(lst.name)
    shutil.rmtree(out, ignore_errors=True)
    return elapsed / len(instances)


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_peak(cmd: list[str]) -> tuple[float, str]:
    """Run `cmd`; (peak MiB of the proportional set size of it and all its descendants,
    sampled every 20 ms; its output)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, sum(_pss_kib(p) for p in _tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed")
    return peak / 1024, out
