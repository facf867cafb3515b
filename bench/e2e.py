"""End-to-end benchmark: a CT study from Orthanc to a verified ISO image.

    .venv/bin/python bench/e2e.py            # 1,000 CT images, 512x512, 16 bit
    .venv/bin/python bench/e2e.py --tiny     # 20 small images (what CI runs)

mw-tui: `mw-tui burn --study UID --to iso:DIR` (retrieve by C-MOVE into its receiver,
build the File-set, write the ISO, copy it into DIR and read it back).
dcmtk pipeline, same data, same run: storescp receiving, movescu from Orthanc, the files
renamed to DICOM File IDs, `dcmmkdir +r -Pgp`, `genisoimage -J`, then `md5sum`.
Bar: mw-tui <= 1.0x the dcmtk pipeline.

Both run `--rounds` times, one after the other, each after an untimed `sync` (so neither
pays for the other's writes); the disk of a shared machine still varies by tens of
percent from one run to the next, so the ratio is of the medians.
Each of our runs prints its job's steps in milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
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

from mw_tui.demo import synth  # noqa: E402
from tests.peers import Orthanc, dcmtk, free_port, port_open, wait_until  # noqa: E402

ENV_NODELAY = {"TCP_NODELAY": "1"}


def load(orthanc: Orthanc, folder: Path, count: int, size: int) -> str:
    files = list(synth.ct_series(folder, count, size, size))
    dcmtk("storescu", "-aec", orthanc.aet, "127.0.0.1", str(orthanc.dicom_port),
          *map(str, files), timeout=600)
    import pydicom

    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def ours(orthanc: Orthanc, study: str, work: Path) -> tuple[float, str]:
    port = free_port()
    orthanc.add_modality("mwtui", "MW_TUI", "127.0.0.1", port)
    config = work / "mw.toml"
    store = work / "mw-store"
    config.write_text(
        f'[station]\nport = {port}\nbind = "127.0.0.1"\nstorage = "{store}"\n'
        'min_free_mb = 100\nlog_level = "WARNING"\n[jobs]\nsyslog = false\n'
        f'[[archives]]\nname = "orthanc"\nae_title = "{orthanc.aet}"\nhost = "127.0.0.1"\n'
        f"port = {orthanc.dicom_port}\n")
    out = work / "mw-out"
    out.mkdir()
    began = time.time()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), "burn",
                           "--study", study, "--to", f"iso:{out}", "--profile", "STD-GEN-DVD"],
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mw-tui burn failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    (iso,) = out.glob("*.iso")
    steps(store / "jobs.sqlite", began, seconds)
    return seconds, hashlib.md5(iso.read_bytes()).hexdigest()


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


def dcmtk_pipeline(orthanc: Orthanc, study: str, work: Path) -> tuple[float, float]:
    """Seconds of the pipeline, and with a final `sync` (the station has the received
    files and the image on disk before it calls them done; the dcmtk tools never do)."""
    port = free_port()
    orthanc.add_modality("storescp", "STORESCP", "127.0.0.1", port)
    received = work / "scp"
    received.mkdir()
    start = time.perf_counter()
    scp = subprocess.Popen(["storescp", "-aet", "STORESCP", "-od", str(received), "+xa",
                            str(port)], env={**__import__("os").environ, **ENV_NODELAY},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_open(port), 30, "storescp")
        dcmtk("movescu", "-S", "-aec", orthanc.aet, "-aem", "STORESCP", "-k",
              "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "127.0.0.1",
              str(orthanc.dicom_port), timeout=1800)
    finally:
        scp.send_signal(signal.SIGTERM)
        scp.wait(30)
    tree = work / "tree"
    (tree / "DICOM").mkdir(parents=True)
    for i, f in enumerate(sorted(received.iterdir()), 1):
        f.rename(tree / "DICOM" / f"IM{i:06d}")
    dcmtk("dcmmkdir", "+r", "-Pgp", "+F", "BENCH", "DICOM", timeout=1800, cwd=tree)
    iso = work / "dcmtk.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-V", "BENCH", "-o", str(iso), str(tree)],
                   check=True)
    subprocess.run(["md5sum", str(iso)], check=True, capture_output=True)
    seconds = time.perf_counter() - start
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
        study = load(orthanc, work / "data", count, size)
        print(f"{count} CT images of {size}x{size} in Orthanc; study {study}; {rounds} rounds")
        t_ours, t_dcmtk, t_synced = [], [], []
        for r in range(rounds):
            for folder in (work / f"dcmtk{r}", work / f"ours{r}"):
                folder.mkdir()
            settle()
            d, synced = dcmtk_pipeline(orthanc, study, work / f"dcmtk{r}")
            settle()
            o, md5 = ours(orthanc, study, work / f"ours{r}")
            print(f"round {r + 1}: mw-tui {o:5.2f} s (md5 {md5}); dcmtk {d:5.2f} s, "
                  f"then sync {synced:5.2f} s")
            t_ours.append(o)
            t_dcmtk.append(d)
            t_synced.append(synced)
            for folder in (work / f"dcmtk{r}", work / f"ours{r}"):
                shutil.rmtree(folder, ignore_errors=True)
        o, d, synced = map(statistics.median, (t_ours, t_dcmtk, t_synced))
        print(f"mw-tui burn --to iso: (retrieve, build, write, verify)  {o:7.2f} s (median)")
        print(f"dcmtk: movescu+storescp, dcmmkdir, genisoimage, md5sum  {d:7.2f} s (median)")
        print(f"  the same, then sync (data on disk, as the station does) {synced:7.2f} s")
        print(f"ratio mw-tui / dcmtk pipeline: {o / d:.2f}x (bar <= 1.0x) "
              f"{'OK' if o <= d else 'NOT MET'}; with sync: {o / synced:.2f}x")
    finally:
        orthanc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
