"""Find benchmark: a 500-study C-FIND against Orthanc, mw-tui vs dcmtk findscu, same run.

    .venv/bin/python bench/find.py            # 500 studies, 15 repeats, three Orthancs
    .venv/bin/python bench/find.py --tiny     # 20 studies, one repeat (what CI runs)

mw-tui searches from a running, warm process (as the screens do: `mw_tui.dicom.find.
search`, association to release, answers decoded into results); findscu runs as a whole
process per search (`-q`, and with its normal output), TCP_NODELAY=1, asking the same
keys. Medians are compared; the bar is mw-tui <= 1.5x findscu. Then the same search on
three archives at once (three Orthancs holding the same studies; `--tiny`: one Orthanc
configured three times) against the slowest archive searched alone, next to three
findscu processes at once; the CPU each side used shows what limits it when the archives
share the machine with the station.
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

from pydicom.uid import generate_uid  # noqa: E402

from mw_tui import config as cfg  # noqa: E402
from mw_tui.demo import synth  # noqa: E402
from mw_tui.dicom.find import search  # noqa: E402
from mw_tui.dicom.query import STUDY_RETURN_KEYS, StudyQuery  # noqa: E402
from tests.peers import Orthanc  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}
MODALITIES = ("CT", "MR", "CR", "US", "DX")


def part10(i: int) -> bytes:
    patient = synth.PatientInfo(f"Patient^Number{i % 97}", f"PID{i % 97:05d}",
                                f"19{40 + i % 60:02d}0101", "MFO"[i % 3])
    study = synth.StudyInfo(patient=patient, study_uid=generate_uid(),
                            date=f"20{10 + i % 15:02d}{1 + i % 12:02d}{1 + i % 28:02d}",
                            accession=f"ACC{i:06d}", description=f"Study {i}")
    return synth.part10(synth.image(study, MODALITIES[i % len(MODALITIES)], rows=8, columns=8))


def prepared(work: Path, studies: int) -> Path:
    """An Orthanc storage folder holding `studies` one-image studies (made once, kept)."""
    folder = work / f"orthanc-{studies}"
    if (folder / ".done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    o = Orthanc(folder).start()
    try:
        for i in range(studies):
            o.upload_dataset_bytes(part10(i))
        assert len(o.get("/studies")) == studies
    finally:
        o.stop()
    (folder / ".done").touch()
    return folder


def start_copy(source: Path, folder: Path, aet: str) -> Orthanc:
    for attempt in range(3):  # a free port can be taken by another process meanwhile
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder)
        try:
            return Orthanc(folder, aet=aet).start()
        except AssertionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def cpu_seconds(o: Orthanc) -> float:
    assert o.proc is not None
    fields = Path(f"/proc/{o.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def findscu_args(o: Orthanc, quiet: bool) -> list[str]:
    args = ["findscu", "-S", "-aec", o.aet]
    if quiet:
        args.append("-q")
    for key in ("QueryRetrieveLevel=STUDY", *STUDY_RETURN_KEYS):
        args += ["-k", key]
    return [*args, "127.0.0.1", str(o.dicom_port)]


def findscu(o: Orthanc, quiet: bool) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(findscu_args(o, quiet), env=ENV, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"findscu failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed, (proc.stdout + proc.stderr).count(b"(Pending)")


def findscu_at_once(archives: list[Orthanc]) -> float:
    """Three findscu processes at once, one per archive (the peer's way to ask three)."""
    start = time.perf_counter()
    procs = [subprocess.Popen(findscu_args(o, True), env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for o in archives]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("findscu failed")
    return time.perf_counter() - start


def timed_search(config: cfg.Config, names: list[str] | None, expect: int) -> float:
    start = time.perf_counter()
    result = search(config, StudyQuery(), names)
    elapsed = time.perf_counter() - start
    if not result.ok or len(result.studies) != expect:
        raise SystemExit(f"mw-tui search went wrong: {len(result.studies)} studies, "
                         f"{[o.message for o in result.outcomes if not o.ok]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="20 studies, one repeat (CI)")
    ap.add_argument("--studies", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--work", type=Path, default=None, help="folder for data (kept)")
    args = ap.parse_args()
    studies, repeat = (20, 1) if args.tiny else (args.studies, args.repeat)
    work = args.work or Path(tempfile.gettempdir()) / "mw-tui-bench-find"
    work.mkdir(parents=True, exist_ok=True)
    source = prepared(work, studies)
    copies = 1 if args.tiny else 3
    orthancs = [start_copy(source, work / f"run{i}", f"PACS{i + 1}") for i in range(copies)]
    try:
        archives = tuple(cfg.Archive(name=f"pacs{i + 1}", ae_title=orthancs[i % copies].aet,
                                     host="127.0.0.1", port=orthancs[i % copies].dicom_port,
                                     timeout=60) for i in range(3))
        config = cfg.Config(archives=archives)
        first = orthancs[0]
        if findscu(first, quiet=False)[1] != studies:
            raise SystemExit("findscu did not see every study")
        timed_search(config, ["pacs1"], studies)  # warm: imports done, as in the running app
        findscu(first, quiet=True)
        mw, quiet, loud = [], [], []
        for _ in range(repeat):  # interleaved, so both see the same machine load
            mw.append(timed_search(config, ["pacs1"], studies))
            quiet.append(findscu(first, quiet=True)[0])
            loud.append(findscu(first, quiet=False)[0])
        m_mw, m_quiet, m_loud = (statistics.median(x) for x in (mw, quiet, loud))
        print(f"C-FIND of {studies} studies at STUDY level, {len(STUDY_RETURN_KEYS)} return "
              f"keys, median of {repeat}:")
        print(f"  mw-tui (warm, in process)      {m_mw * 1000:7.1f} ms")
        print(f"  findscu -q (whole process)     {m_quiet * 1000:7.1f} ms")
        print(f"  findscu, printing answers      {m_loud * 1000:7.1f} ms")
        ratio = m_mw / m_quiet
        print(f"mw-tui / findscu -q: {ratio:.2f}x   mw-tui / findscu: {m_mw / m_loud:.2f}x   "
              f"(bar <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")

        alone = {a.name: statistics.median(timed_search(config, [a.name], studies)
                                           for _ in range(repeat)) for a in archives}
        cpu_mw, cpu_archives = time.process_time(), sum(cpu_seconds(o) for o in orthancs)
        together = statistics.median(timed_search(config, None, studies)
                                     for _ in range(repeat))
        cpu_mw = (time.process_time() - cpu_mw) / repeat
        cpu_archives = (sum(cpu_seconds(o) for o in orthancs) - cpu_archives) / repeat
        slowest = max(alone.values())
        where = "three Orthancs" if copies == 3 else "one Orthanc configured three times"
        print(f"three archives at once ({where}): {together * 1000:.1f} ms; each alone: "
              + ", ".join(f"{n} {t * 1000:.1f} ms" for n, t in alone.items()))
        print(f"three archives / slowest alone: {together / slowest:.2f}x, / all three one "
              f"after the other: {together / sum(alone.values()):.2f}x")
        three = [orthancs[i % copies] for i in range(3)]
        peers = statistics.median(findscu_at_once(three) for _ in range(repeat))
        print(f"three findscu -q at once: {peers * 1000:.1f} ms = {peers / m_quiet:.2f}x one "
              "findscu -q alone")
        print(f"CPU per three-archive search: mw-tui {cpu_mw * 1000:.0f} ms, the archives "
              f"{cpu_archives * 1000:.0f} ms, on {os.cpu_count()} cores shared by all of them")
    finally:
        for o in orthancs:
            o.kill()


if __name__ == "__main__":
    main()
