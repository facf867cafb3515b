"""Import benchmark: an outside disc of CT images into Orthanc, mw-tui against dcmtk storescu.

    .venv/bin/python bench/import.py            # 1,000 CT images of 512x512, 3 rounds
    .venv/bin/python bench/import.py --tiny     # 20 small images, 1 round (what CI runs)

The disc: generated CT images under DICOM/, a DICOMDIR by `dcmmkdir +r -Pgp`, the ISO by
`genisoimage -J`, then its files extracted again with xorriso (not timed).
mw-tui, through its API (`mw_tui.importing`): read the ISO (pycdlib, every header),
replace the patient attributes (local ID, issuer, name; the outside ID kept in Other
Patient IDs Sequence), send with C-STORE on `[importing] associations` associations, and
count the study on Orthanc with C-FIND. dcmtk: `storescu +sd +r` of the extracted files,
as they are, no reconciliation. Orthanc is emptied (not timed) before each run.
Bar: mw-tui <= 1.0x storescu, ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mw_tui import config as cfg  # noqa: E402
from mw_tui.demo import synth  # noqa: E402
from mw_tui.importing import ImportPlan, LocalPatient, read_medium, run_import  # noqa: E402
from tests.peers import Orthanc, dcmtk  # noqa: E402

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


def ours(config: cfg.Config, iso: Path, count: int) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    medium = read_medium(iso, config)
    read = time.perf_counter()
    plan = ImportPlan.make(config, LocalPatient("LOC-1", "HOSPITAL", "Local^Patient"))
    result = run_import(config, medium, plan)
    end = time.perf_counter()
    if not result.ok or result.sent.sent != count:
        raise SystemExit(f"mw-tui import failed: {result.message}")
    assert result.count is not None
    return end - start, {"read": read - start, "send": result.sent.seconds,
                         "count": end - read - result.sent.seconds}


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
    with tempfile.TemporaryDirectory(prefix="mw-bench-import-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        iso, extracted = make_disc(work, count, size)
        print(f"disc: {count} CT images of {size}x{size}, {iso.stat().st_size / 1e6:.0f} MB ISO "
              f"(dcmmkdir + genisoimage, made in {time.perf_counter() - t:.1f} s)")
        orthanc = Orthanc(work / "orthanc").start()
        try:
            config = cfg.Config(
                station=cfg.StationConfig(storage=str(work / "store")),
                archives=(cfg.Archive(name="orthanc", ae_title=orthanc.aet, host="127.0.0.1",
                                      port=orthanc.dicom_port, timeout=60),),
                importing=cfg.ImportingConfig(associations=args.associations))
            mine: list[float] = []
            theirs: list[float] = []
            load = os.getloadavg()[0]
            for r in range(rounds):
                empty(orthanc)
                seconds, parts = ours(config, iso, count)
                mine.append(seconds)
                assert orthanc.instance_count() == count
                empty(orthanc)
                theirs.append(peer(orthanc, extracted))
                assert orthanc.instance_count() == count
                print(f"  round {r + 1}: mw-tui {seconds:.2f} s (read {parts['read']:.2f}, "
                      f"send {parts['send']:.2f}, count {parts['count']:.2f}), "
                      f"storescu {theirs[-1]:.2f} s")
        finally:
            orthanc.stop()
        ratio = statistics.median(mine) / statistics.median(theirs)
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              "(other work on the machine makes both vary)")
        print(f"mw-tui import (read ISO, rewrite, C-STORE x{args.associations}, count): "
              f"{statistics.median(mine):.2f} s (median of {rounds})")
        print(f"storescu +sd +r of the extracted files:                 "
              f"{statistics.median(theirs):.2f} s")
        print(f"ratio mw-tui / storescu: {ratio:.2f}x  (bar <= {BAR:.1f}x)  "
              f"{'OK' if ratio <= BAR else 'OVER THE BAR'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
