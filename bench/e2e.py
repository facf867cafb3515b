"""End-to-end benchmark: a CT study from Orthanc to a verified ISO image.

    .venv/bin/python bench/e2e.py            # 1,000 CT images, 512x512, 16 bit
    .venv/bin/python bench/e2e.py --tiny     # 20 small images (what CI runs)

mw-tui, two ways, each round with a fresh store:
- alone: `mw-tui burn --study UID --to iso:DIR` on a machine where no station runs (it
  starts its receiver and runs the job itself: retrieve by C-MOVE, build the File-set,
  write the ISO, copy it into DIR and read it back);
- to a running station: `mw-tui serve` is started first (untimed, as a kiosk runs all day),
  then `mw-tui burn` queues the job there and follows it to its end.
dcmtk pipeline, same data, same run: storescp receiving, movescu from Orthanc, the files
renamed to DICOM File IDs, `dcmmkdir +r -Pgp`, `genisoimage -J`, then `md5sum`.
Bar: mw-tui <= 1.0x the dcmtk pipeline, both ways.

The medium is made without web images (`media.web_images = "none"`): what the pipeline
makes too (DICOM files, DICOMDIR, the ISO and its md5); `bench/media.py` measures the web
images. Every run goes after an untimed `sync` (so none pays for another's writes); the
disk of a shared machine still varies by tens of percent from one run to the next, so the
ratio is of the medians. Each of our runs prints its job's steps in milliseconds. The
two ways take turns at going first in a round (the second one's build is slower).
Our commands run with compiled bytecode, as an installed station does (`_installed`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._installed import compile_package  # noqa: E402
from mw_tui.demo import synth  # noqa: E402
from tests import peers  # noqa: E402
from tests.peers import Orthanc, dcmtk, free_port  # noqa: E402


def load(orthanc: Orthanc, folder: Path, count: int, size: int) -> str:
    files = list(synth.ct_series(folder, count, size, size))
    dcmtk("storescu", "-aec", orthanc.aet, "127.0.0.1", str(orthanc.dicom_port),
          *map(str, files), timeout=600)
    import pydicom

    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def configure(orthanc: Orthanc, work: Path) -> tuple[Path, Path]:
    """A configuration for a station of its own (store, port) in `work`: (config, store)."""
    port = free_port()
    orthanc.add_modality("mwtui", "MW_TUI", "127.0.0.1", port)  # replaces the last one
    config = work / "mw.toml"
    store = work / "mw-store"
    config.write_text(
        f'[station]\nport = {port}\nbind = "127.0.0.1"\nstorage = "{store}"\n'
        'min_free_mb = 100\nlog_level = "WARNING"\n[jobs]\nsyslog = false\n'
        '[media]\nweb_images = "none"\n'
        f'[[archives]]\nname = "orthanc"\nae_title = "{orthanc.aet}"\nhost = "127.0.0.1"\n'
        f"port = {orthanc.dicom_port}\n")
    return config, store


def ours(orthanc: Orthanc, study: str, work: Path, station: bool) -> tuple[float, str]:
    """Seconds of `mw-tui burn` (`station`: with `mw-tui serve` already running), and
    the md5 of the image it made."""
    config, store = configure(orthanc, work)
    out = work / "mw-out"
    out.mkdir()
    serve = start_station(config) if station else None
    try:
        settle()
        began = time.time()
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), "burn",
                               "--study", study, "--to", f"iso:{out}", "--profile",
                               "STD-GEN-DVD"], capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - start
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
    if proc.returncode != 0:
        raise SystemExit(f"mw-tui burn failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if station and "queued for the station that runs the jobs" not in proc.stdout:
        raise SystemExit(f"mw-tui burn did not hand the job to the running station:\n"
                         f"{proc.stdout[-2000:]}")
    (iso,) = out.glob("*.iso")
    steps(store / "jobs.sqlite", began, seconds)
    return seconds, hashlib.md5(iso.read_bytes()).hexdigest()


def start_station(config: Path) -> subprocess.Popen[str]:
    """`mw-tui serve`, once it receives and runs the jobs."""
    serve = subprocess.Popen([sys.executable, "-m", "mw_tui", "--config", str(config), "serve"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert serve.stdout is not None
    for line in serve.stdout:  # its banner says it is ready
        if "receiving as" in line:
            if "running the jobs" not in line:
                serve.kill()
                raise SystemExit(f"mw-tui serve does not run the jobs: {line}")
            return serve
    serve.wait(10)
    raise SystemExit("mw-tui serve ended before it was ready")


def steps(jobs: Path, began: float, seconds: float) -> None:
    """The job's steps: when each began, in ms from the command's start."""
    with sqlite3.connect(jobs) as db:
        events = db.execute("SELECT at, state FROM job_events ORDER BY id").fetchall()
    line, last = [], ""
    for at, state in events:
        if state != last:
            line.append(f"{state} {1000 * (at - began):.0f}")
            last = state
    print(f"  mw-tui steps (ms): {', '.join(line)}, exit {1000 * seconds:.0f}")


def dcmtk_pipeline(orthanc: Orthanc, study: str, work: Path,
                   count: int) -> tuple[float, float]:
    """Seconds of the pipeline, and with a final `sync` (the station has the received
    files and the image on disk before it calls them done; the dcmtk tools never do)."""
    received = work / "scp"
    start = time.perf_counter()
    with peers.storescp(received, "-aet", "STORESCP", "+xa") as (port, _):
        told = time.perf_counter()  # (telling Orthanc the port is not the pipeline's time)
        orthanc.add_modality("storescp", "STORESCP", "127.0.0.1", port)
        start += time.perf_counter() - told
        dcmtk("movescu", "-S", "-aec", orthanc.aet, "-aem", "STORESCP", "-k",
              "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "127.0.0.1",
              str(orthanc.dicom_port), timeout=1800)
    tree = work / "tree"
    (tree / "DICOM").mkdir(parents=True)
    files = sorted(received.iterdir())
    for i, f in enumerate(files, 1):
        f.rename(tree / "DICOM" / f"IM{i:06d}")
    dcmtk("dcmmkdir", "+r", "-Pgp", "+F", "BENCH", "DICOM", timeout=1800, cwd=tree)
    iso = work / "dcmtk.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-V", "BENCH", "-o", str(iso), str(tree)],
                   check=True)
    subprocess.run(["md5sum", str(iso)], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    if len(files) != count:
        raise SystemExit(f"the dcmtk pipeline received {len(files)} of {count} images")
    synced = time.perf_counter()
    subprocess.run(["sync"], check=True)  # what the station does on the way: data on disk
    return seconds, seconds + time.perf_counter() - synced


def settle() -> None:
    """Untimed: what the previous run left in the page cache goes to disk first, so each
    run pays for its own writes only, not for the other's."""
    subprocess.run(["sync"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="20 small images, one round (CI)")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    count, size = (20, 64) if args.tiny else (args.count, args.size)
    rounds = 1 if args.tiny else max(1, args.rounds)
    work = Path(tempfile.mkdtemp(prefix="mw-tui-bench-e2e-"))
    orthanc = Orthanc(work / "orthanc").start()
    try:
        compile_package()  # untimed, as pip compiles an installed station
        study = load(orthanc, work / "data", count, size)
        print(f"{count} CT images of {size}x{size} in Orthanc; study {study}; {rounds} rounds")
        t_alone: list[float] = []
        t_station: list[float] = []
        t_dcmtk: list[float] = []
        t_synced: list[float] = []
        for r in range(rounds):
            folders = [work / f"{name}{r}" for name in ("dcmtk", "alone", "station")]
            for folder in folders:
                folder.mkdir()
            settle()
            d, synced = dcmtk_pipeline(orthanc, study, folders[0], count)
            settle()
            # the second of the two runs of a round builds slower (measured: about 0.2 s,
            # whichever it is), so they take turns at going first
            if r % 2 == 0:
                a, md5 = ours(orthanc, study, folders[1], station=False)
                s, md5_station = ours(orthanc, study, folders[2], station=True)
            else:
                s, md5_station = ours(orthanc, study, folders[2], station=True)
                a, md5 = ours(orthanc, study, folders[1], station=False)
            print(f"round {r + 1}: mw-tui alone {a:5.2f} s (md5 {md5}), to a running station "
                  f"{s:5.2f} s (md5 {md5_station}); dcmtk {d:5.2f} s, then sync {synced:5.2f} s",
                  flush=True)
            t_alone.append(a)
            t_station.append(s)
            t_dcmtk.append(d)
            t_synced.append(synced)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        a, s, d, synced = map(statistics.median, (t_alone, t_station, t_dcmtk, t_synced))
        print(f"mw-tui burn --to iso: alone (retrieve, build, write, verify) {a:7.2f} s (median)")
        print(f"mw-tui burn --to iso: to a running mw-tui serve              {s:7.2f} s (median)")
        print(f"dcmtk: movescu+storescp, dcmmkdir, genisoimage, md5sum      {d:7.2f} s (median)")
        print(f"  the same, then sync (data on disk, as the station does)     {synced:7.2f} s")
        for name, t in (("alone", a), ("to a running station", s)):
            print(f"ratio mw-tui ({name}) / dcmtk pipeline: {t / d:.2f}x (bar <= 1.0x) "
                  f"{'OK' if t <= d else 'NOT MET'}; with sync: {t / synced:.2f}x")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} CPUs)")
    finally:
        orthanc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
