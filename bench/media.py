"""Media build benchmark: mw-tui's DICOMDIR + ISO against dcmmkdir + genisoimage (and xorriso).

Same files, same run. A study of CT instances (default 1,000 of 512x512, 16 bit) is put in
a store; then, alternately and several times:

- mw-tui: `build_volumes()` (checks, DICOMDIR from the index, README, web pages) and
  `write_iso()` (ISO 9660 + Joliet with pycdlib, md5 computed while writing), without web
  images (`media.web_images = "none"`) and with them (the default, "all");
- the peers, on a hard-linked copy of the same files with the same names (not timed):
  `dcmmkdir +r -Pgp` then `genisoimage -J` (and `xorriso -as mkisofs -J`).

The median of each is printed with the ratios. Then the web images alone: mw-tui's renderer
per image (in this process, and in a build's worker processes) against dcmtk's
`dcmj2pnm +oj` on the same files (one process per file, and in one shell loop). Also
printed: the transcoding cost per instance (Implicit VR -> Explicit VR, JPEG 2000 lossless
-> Explicit VR) and the peak memory of a whole build + ISO in a fresh process, its worker
processes included (`--memory`: of a 5,000-instance study).

    python bench/media.py [--count N] [--runs R] [--memory] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _render
from pydicom.uid import generate_uid

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.media import build_volumes, write_iso
from mw_tui.media.prerender import Prerenderer
from mw_tui.media.previews import PreviewCache
from mw_tui.media.transcode import to_explicit_le
from mw_tui.media.webimages import WebSettings
from mw_tui.standard import sop
from mw_tui.store import Store

BAR_RATIO = 1.0
BAR_MEMORY_MIB = 100


def fill(store: Store, count: int, size: int, ts: str = sop.EXPLICIT_VR_LE) -> str:
    """A study of `count` CT images stored as the receiver stores them; its UID."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    study = synth.StudyInfo(description="Bench CT")
    series = generate_uid()
    for i in range(1, count + 1):
        ds = synth.image(study, "CT", series, 1, i, size, size)
        if ts == sop.JPEG_2000_LOSSLESS:
            with tempfile.TemporaryDirectory() as tmp:
                synth.save(ds, Path(tmp) / "x")
            ds.compress(ts)
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
        write_dataset(fp, ds)
        store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, ts, fp.getvalue())
    return study.study_uid


def timed(fn: object) -> float:
    assert callable(fn)
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def ours(store: Store, uid: str, work: Path, out: Path, web: str = "none",
         previews: PreviewCache | None = None) -> tuple[float, float, str]:
    """(build seconds, ISO seconds, md5); `previews`: the station's kept previews."""
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    (volume,) = build_volumes(store, [uid], "STD-GEN-DVD", None, work,
                              settings=cfg.MediaConfig(web_images=web), previews=previews)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    volume = write_iso(volume, out)
    t_iso = time.perf_counter() - t
    return t_build, t_iso, volume.iso_md5 or ""


def peer_tree(store: Store, uid: str, tree: Path) -> None:
    """The same files under the same File IDs, hard-linked (what dcmmkdir works on)."""
    shutil.rmtree(tree, ignore_errors=True)
    (volume,) = build_volumes(store, [uid], "STD-GEN-DVD", None, tree.parent / "peer-work",
                              settings=cfg.MediaConfig(web_images="none"))
    for f in volume.dicom_files():
        dest = tree / f.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        assert f.source is not None
        os.link(f.source, dest)


def run(cmd: list[str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def peers(tree: Path, out: Path) -> tuple[float, float, float, float]:
    """(dcmmkdir, genisoimage, xorriso, md5sum of the image) seconds."""
    (tree / "DICOMDIR").unlink(missing_ok=True)
    t_dcm = run(["dcmmkdir", "+r", "-Pgp", "+F", "BENCH", "DICOM"], cwd=tree)
    out.unlink(missing_ok=True)
    t_gen = run(["genisoimage", "-quiet", "-J", "-V", "BENCH", "-o", str(out), str(tree)])
    t_md5 = run(["md5sum", str(out)])
    out.unlink(missing_ok=True)
    t_xor = run(["xorriso", "-as", "mkisofs", "-quiet", "-J", "-V", "BENCH", "-o", str(out),
                 str(tree)])
    out.unlink(missing_ok=True)
    return t_dcm, t_gen, t_xor, t_md5


def transcode_cost(root: Path, count: int, size: int) -> dict[str, float]:
    """Milliseconds per instance to re-encode stored instances as Explicit VR LE."""
    store = Store(root / "tstore")
    out = {}
    for name, ts in (("Implicit VR LE", sop.IMPLICIT_VR_LE),
                     ("JPEG 2000 lossless", sop.JPEG_2000_LOSSLESS)):
        uid = fill(store, count, size, ts)
        rows = store.index.study_instances(uid)
        dest = root / "transcoded"
        dest.mkdir(exist_ok=True)
        t = time.perf_counter()
        for r in rows:
            to_explicit_le(store.root / r.path, dest / r.sop_uid)
        out[name] = (time.perf_counter() - t) / len(rows) * 1000
    return out


def child_memory(root: Path, uid: str, web: str, station: bool) -> None:
    """(in a fresh process) build + ISO of the study. `station`: another thread runs, as in
    the station (the workers then come from a fork server)."""
    if station:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    store = Store(root / "store")
    (volume,) = build_volumes(store, [uid], "STD-GEN-DVD", None, root / f"mem-work-{web}",
                              settings=cfg.MediaConfig(web_images=web))
    write_iso(volume, root / "mem.iso")
    (root / "mem.iso").unlink()
    shutil.rmtree(root / f"mem-work-{web}")


def peak_memory(root: Path, count: int, size: int) -> tuple[int, dict[str, float]]:
    """(instances, {case: peak MiB}) of whole builds of a `count`-instance study: the
    proportional set size of the building process and its workers (a fork server too)."""
    store = Store(root / "store")
    uid = fill(store, count, size)
    store.close()
    out = {}
    for case, web, station in (("without web images", "none", "0"),
                               ("with web images", "all", "0"),
                               ("with web images, workers from a fork server", "all", "1")):
        out[case], _ = _render.tree_peak([sys.executable, __file__, "--child-memory",
                                          str(root), uid, web, station])
    return count, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, help="instances in the study (default 1000)")
    ap.add_argument("--size", type=int, help="rows and columns (default 512)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each (median taken)")
    ap.add_argument("--memory", action="store_true",
                    help="peak memory for a 5,000-instance study (default: the bench study)")
    ap.add_argument("--tiny", action="store_true", help="20 instances of 64x64, 2 runs (CI)")
    ap.add_argument("--child-memory", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        root_, uid_, web_, station_ = args.child_memory
        child_memory(Path(root_), uid_, web_, station_ == "1")
        return 0
    count = args.count or (20 if args.tiny else 1000)
    size = args.size or (64 if args.tiny else 512)
    runs = 2 if args.tiny else args.runs
    for tool in ("dcmmkdir", "genisoimage", "xorriso"):
        if shutil.which(tool) is None:
            print(f"bench/media: {tool} is missing (./setup.sh deps installs it)")
            return 1
    with tempfile.TemporaryDirectory(prefix="mw-bench-media-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        store = Store(root / "store")
        t = time.perf_counter()
        uid = fill(store, count, size)
        total = store.index.study(uid).size_bytes  # type: ignore[union-attr]
        print(f"study: {count} CT instances of {size}x{size}, {total / 1e6:.0f} MB "
              f"(made in {time.perf_counter() - t:.1f} s)")
        peer_tree(store, uid, root / "tree")
        ahead, per_image = made_ahead(store, uid, root / "previews", count)
        results: dict[str, list[float]] = {k: [] for k in (
            "mw build", "mw iso+md5", "mw total", "mw web build", "mw web iso+md5",
            "mw web total", "mw ahead total", "dcmmkdir", "genisoimage", "xorriso",
            "md5sum")}
        md5 = ""
        load = os.getloadavg()[0]
        for _ in range(runs):
            b, i, md5 = ours(store, uid, root / "work", root / "mw.iso")
            (root / "mw.iso").unlink()
            wb, wi, _md5 = ours(store, uid, root / "work", root / "mw.iso", "all")
            (root / "mw.iso").unlink()
            ab, ai, _md5 = ours(store, uid, root / "work", root / "mw.iso", "all", ahead)
            (root / "mw.iso").unlink()
            d, g, x, m = peers(root / "tree", root / "peer.iso")
            for k, v in zip(results, (b, i, b + i, wb, wi, wb + wi, ab + ai, d, g, x, m),
                            strict=True):
                results[k].append(v)
        shutil.rmtree(root / "work", ignore_errors=True)
        ahead.close()
        med = {k: statistics.median(v) for k, v in results.items()}
        report(med, runs, load, md5, per_image)
        renderings(store, uid, root, count)
        tc = transcode_cost(root, 10 if args.tiny else 50, size)
        for name, ms in tc.items():
            print(f"transcoding cost, {name} -> Explicit VR LE: {ms:.1f} ms/instance")
        mem_root = root / "memory"
        mem_count = (200 if args.tiny else 5000) if args.memory else count
        n, peaks = peak_memory(mem_root, mem_count, 64 if args.tiny else size)
        for case, mib in peaks.items():
            bar = BAR_MEMORY_MIB if case.startswith("without") else _render.BAR_MEMORY_MIB
            print(f"peak memory (PSS, worker processes included), build + ISO of {n} "
                  f"instances {case}: {mib:.1f} MiB  (bar <= {bar} MiB)  "
                  f"{'OK' if mib <= bar else 'OVER'}")
    return 0


def made_ahead(store: Store, uid: str, folder: Path, count: int) -> tuple[PreviewCache, float]:
    """The study's previews made ahead, as the station makes them once it has received
    the study (one worker process at the lowest priority): the kept previews, and the
    seconds per image that took (untimed in the builds: the station was idle)."""
    cache = PreviewCache(folder)
    ahead = Prerenderer(store, cache, WebSettings(), sweep_interval=1e9, quiet=0.0)
    t = time.perf_counter()
    ahead.start()
    ahead.study_changed(uid)
    while not (ahead.rendered >= count and ahead.idle()):
        time.sleep(0.05)
    seconds = time.perf_counter() - t
    ahead.stop()
    return PreviewCache(folder), seconds / count


def report(med: dict[str, float], runs: int, load: float, md5: str,
           ahead_per_image: float) -> None:
    peer = med["dcmmkdir"] + med["genisoimage"]
    ratio = med["mw total"] / peer
    print(f"runs: {runs} (medians); load average {load:.1f} -> {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (other work on the machine slows the two-thread "
          "write_iso and the worker processes more than the single-threaded peers)")
    print(f"  mw-tui build_volumes (DICOMDIR, pages)  {med['mw build']:7.3f} s")
    print(f"  mw-tui write_iso (pycdlib + md5)        {med['mw iso+md5']:7.3f} s")
    print(f"  mw-tui whole build                      {med['mw total']:7.3f} s")
    print(f"  mw-tui build_volumes with web images    {med['mw web build']:7.3f} s")
    print(f"  mw-tui write_iso with web images        {med['mw web iso+md5']:7.3f} s")
    print(f"  mw-tui whole build with web images      {med['mw web total']:7.3f} s")
    print(f"  dcmmkdir +r -Pgp                        {med['dcmmkdir']:7.3f} s")
    print(f"  genisoimage -J                          {med['genisoimage']:7.3f} s")
    print(f"  xorriso -as mkisofs -J                  {med['xorriso']:7.3f} s")
    print(f"  dcmmkdir + genisoimage                  {peer:7.3f} s")
    print(f"ratio mw-tui / (dcmmkdir + genisoimage): {ratio:.2f}x  (bar <= {BAR_RATIO:.1f}x)"
          f"  {'OK' if ratio <= BAR_RATIO else 'OVER THE BAR'}")
    print(f"ratio mw-tui / (dcmmkdir + xorriso):     "
          f"{med['mw total'] / (med['dcmmkdir'] + med['xorriso']):.2f}x")
    with_md5 = peer + med["md5sum"]
    print(f"  md5sum of the peer's image              {med['md5sum']:7.3f} s")
    print(f"ratio mw-tui / (dcmmkdir + genisoimage + md5sum): "
          f"{med['mw total'] / with_md5:.2f}x  (the same work: an image and its md5)")
    print(f"  mw-tui whole build, web images made ahead {med['mw ahead total']:7.3f} s  (the "
          f"station made them when the study came: {ahead_per_image * 1000:.2f} ms per image, "
          "one worker at nice 19)")
    web = med["mw web total"] / med["mw total"]
    print(f"ratio whole build with web images / without: {web:.2f}x  (bar <= "
          f"{_render.BAR_BUILD:.1f}x)  {'OK' if web <= _render.BAR_BUILD else 'OVER THE BAR'}"
          "  (rendered by the build)")
    web = med["mw ahead total"] / med["mw total"]
    print(f"ratio whole build with web images made ahead / without: {web:.2f}x  (bar <= "
          f"{_render.BAR_BUILD:.1f}x)  {'OK' if web <= _render.BAR_BUILD else 'OVER THE BAR'}"
          "  (a station's burn of a study it received)")
    print(f"  (md5 of the last image: {md5})")


def renderings(store: Store, uid: str, root: Path, count: int) -> None:
    """mw-tui's renderer against dcmj2pnm +oj, per image, on the study's files."""
    if shutil.which("dcmj2pnm") is None:
        print("bench/media: dcmj2pnm is missing (dcmtk): renderings not compared")
        return
    files = _render.files(store, uid)
    serial = _render.ours_serial(files, root / "render-serial")
    pool = _render.ours_pool(files, root / "render-pool")
    per_file = _render.dcmtk_per_file(files, root / "render-dcmtk")
    batch = _render.dcmtk_batch(files, root / "render-batch")
    print(f"web images of the {count} CT instances (ms per image; ours: preview + thumbnail):")
    print(f"  mw-tui renderer, in one process         {serial * 1000:7.2f} ms")
    print(f"  mw-tui renderer, a build's workers      {pool * 1000:7.2f} ms  "
          f"({_render.default_workers()} processes)")
    print(f"  dcmj2pnm +oj, one process per file      {per_file * 1000:7.2f} ms")
    print(f"  dcmj2pnm +oj, in a shell loop           {batch * 1000:7.2f} ms")
    for name, ours_s in (("in one process", serial), ("in the build's workers", pool)):
        for peer_name, peer_s in (("per file", per_file), ("shell loop", batch)):
            r = ours_s / peer_s
            print(f"ratio renderer ({name}) / dcmj2pnm ({peer_name}): {r:.2f}x  (bar <= "
                  f"{_render.BAR_RENDER}x)  {'OK' if r <= _render.BAR_RENDER else 'OVER'}")


if __name__ == "__main__":
    sys.exit(main())
