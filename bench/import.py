"""Import benchmark: an outside disc of CT images into Orthanc, mw-tui against dcmtk storescu.

    .venv/bin/python bench/import.py            # 1,000 CT images of 512x512, 3 rounds
    .venv/bin/python bench/import.py --tiny     # 20 small images, 1 round (what CI runs)

The disc: generated CT images under DICOM/, a DICOMDIR by `dcmmkdir +r -Pgp`, the ISO by
`genisoimage -J`, then its files extracted again with xorriso (not timed).
mw-tui: the command `mw-tui import ISO --patient-id ... --to orthanc`, a process of its own
timed from start to exit: it reads the ISO (pycdlib, every header), queues an import job
and runs it: the job reads the ISO again, replaces the patient attributes (local ID,
issuer, name; the outside ID kept in Other Patient IDs Sequence), sends with C-STORE on
`[importing] associations` associations (each confirmed instance written down), and
counts the study on Orthanc with C-FIND; the job's steps are printed from its history.
dcmtk: `storescu +sd +r` of the extracted files, as they are, no reconciliation.
Orthanc is emptied (not timed) before each run. Bar: mw-tui <= 1.0x storescu, ratio of
the medians.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
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
from tests.peers import Orthanc, dcmtk, free_port  # noqa: E402

BAR = 1.0


def make_disc(work: Path, count: int, size: int) -> tuple[Path, Path]:
    """(the ISO, the folder its DICOM files were extracted to)"""
    tree = work / "tree"
    study = synth.StudyInfo(patient=synth.PatientInfo("Outside^Patient", "EXT-1", "19600214",
                                                      "F"), description="Outside CT")
    for i, path in enumerate(synth.ct_series(tree / "src", count, size, size, study), 1):
        dest = tree / "DICOM" / f"CT{i:06d}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.rename(dest)
    shutil.rmtree(tree / "src")
    dcmtk("dcmmkdir", "+r", "-Pgp", "-q", "+F", "OUTSIDE", "DICOM", cwd=tree, timeout=600)
    iso = work / "outside.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-V", "OUTSIDE", "-o", str(iso), str(tree)],
                   check=True, timeout=600)
    shutil.rmtree(tree)
    extracted = work / "extracted"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/DICOM",
                    str(extracted)], check=True, capture_output=True, timeout=600)
    return iso, extracted


def empty(orthanc: Orthanc) -> None:
    for pid in orthanc.get("/patients"):
        orthanc.request("DELETE", f"/patients/{pid}")
    subprocess.run(["sync"], check=True)


def write_config(work: Path, orthanc: Orthanc, associations: int) -> Path:
    path = work / "config.toml"
    path.write_text("\n".join([
        "[station]", f'storage = "{work / "store"}"', f"port = {free_port()}",
        'bind = "127.0.0.1"', "min_free_mb = 1",
        "[jobs]", "syslog = false",
        "[importing]", f"associations = {associations}",
        "[[archives]]", 'name = "orthanc"', f'ae_title = "{orthanc.aet}"',
        'host = "127.0.0.1"', f"port = {orthanc.dicom_port}", "timeout = 60", ""]))
    return path


def job_steps(db: Path) -> dict[str, float]:
    """Seconds in each step of the last job, from its history."""
    with sqlite3.connect(db) as con:
        (job,) = con.execute("SELECT max(id) FROM jobs").fetchone()
        rows = con.execute("SELECT at, state FROM job_events WHERE job_id = ? ORDER BY id",
                           (job,)).fetchall()
    first: dict[str, float] = {}
    for at, state in rows:
        first.setdefault(state, at)
    order = ["queued", "reading", "sending", "counting", "done"]
    return {state: first[nxt] - first[state] for state, nxt in itertools.pairwise(order)
            if state in first and nxt in first}


def ours(config: Path, iso: Path, count: int) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), "import",
                           str(iso), "--patient-id", "LOC-1", "--issuer", "HOSPITAL",
                           "--patient-name", "Local^Patient", "--to", "orthanc"],
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or f"holds all {count} instances" not in proc.stdout:
        raise SystemExit(f"mw-tui import failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")
    return seconds, job_steps(config.parent / "store" / "jobs.sqlite")


def peer(orthanc: Orthanc, folder: Path) -> float:
    start = time.perf_counter()
    dcmtk("storescu", "+sd", "+r", "-aec", orthanc.aet, "127.0.0.1", str(orthanc.dicom_port),
          str(folder), timeout=1800)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, help="CT images on the disc (default 1000)")
    ap.add_argument("--size", type=int, help="rows and columns (default 512)")
    ap.add_argument("--rounds", type=int, help="runs of each, alternating (default 3)")
    ap.add_argument("--associations", type=int, default=4, help="[importing] associations")
    ap.add_argument("--tiny", action="store_true", help="20 images of 64x64, 1 round (CI)")
    args = ap.parse_args()
    count = args.count or (20 if args.tiny else 1000)
    size = args.size or (64 if args.tiny else 512)
    rounds = args.rounds or (1 if args.tiny else 3)
    for tool in ("dcmmkdir", "genisoimage", "xorriso", "storescu", "Orthanc"):
        if shutil.which(tool) is None:
            print(f"bench/import: {tool} is missing (./setup.sh deps installs it)")
            return 1
    compile_package()  # untimed, as pip compiles an installed station
    with tempfile.TemporaryDirectory(prefix="mw-bench-import-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        iso, extracted = make_disc(work, count, size)
        print(f"disc: {count} CT images of {size}x{size}, {iso.stat().st_size / 1e6:.0f} MB ISO "
              f"(dcmmkdir + genisoimage, made in {time.perf_counter() - t:.1f} s)")
        orthanc = Orthanc(work / "orthanc").start()
        try:
            config = write_config(work, orthanc, args.associations)
            mine: list[float] = []
            theirs: list[float] = []
            load = os.getloadavg()[0]
            for r in range(rounds):
                empty(orthanc)
                seconds, steps = ours(config, iso, count)
                mine.append(seconds)
                assert orthanc.instance_count() == count
                empty(orthanc)
                theirs.append(peer(orthanc, extracted))
                assert orthanc.instance_count() == count
                inside = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
                print(f"  round {r + 1}: mw-tui import {seconds:.2f} s (job steps: {inside}), "
                      f"storescu {theirs[-1]:.2f} s")
        finally:
            orthanc.stop()
        ratio = statistics.median(mine) / statistics.median(theirs)
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              "(other work on the machine makes both vary)")
        print(f"mw-tui import (command: read ISO, job: read, rewrite, C-STORE "
              f"x{args.associations}, count): {statistics.median(mine):.2f} s "
              f"(median of {rounds})")
        print(f"storescu +sd +r of the extracted files:                 "
              f"{statistics.median(theirs):.2f} s")
        print(f"ratio mw-tui / storescu: {ratio:.2f}x  (bar <= {BAR:.1f}x)  "
              f"{'OK' if ratio <= BAR else 'OVER THE BAR'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
