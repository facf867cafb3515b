"""Disc jobs through the runner on the loop-backed drive: a job that needs two discs asks
for the second, copies are written one after the other, and a disc that fails its
verification is set aside and another one asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from mw_tui.jobs.models import Job, JobState, StudyRef
from mw_tui.station import Station
from tests.devices.conftest import Loops, settle
from tests.jobs.conftest import make_study, station_config
from tests.jobs.media import asks, done, md5_of_start, swap_disc
from tests.peers import dcmtk, need, wait_until

pytestmark = pytest.mark.root

SMALL_DISC = 1536 << 10  # one study's image fits, two do not
NEARLY_FULL = 1280 << 10  # a study's image fits by its size, not with the writer's pad


@pytest.fixture(autouse=True)
def _tools() -> None:
    need("xorriso", "storescu")


@pytest.fixture
def drive(loops: Loops, udev: None) -> tuple[str, Path]:
    disc = loops.file("drive", SMALL_DISC)
    dev = loops.attach(disc)
    settle()
    return dev, disc


@pytest.fixture
def station(tmp_path: Path, drive: tuple[str, Path]) -> Iterator[Station]:
    s = Station(station_config(tmp_path, drive=drive[0]), watch_devices=True)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def pushed(station: Station, folder: Path, *patients: str) -> list[StudyRef]:
    """Studies sent to the station with storescu: in its store, nothing to retrieve."""
    refs = []
    for pid in patients:
        files = make_study(folder, f"Disc^{pid}", pid, series=2, per_series=3, size=256)
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(station.receiver.port),
              *map(str, files))
        uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
        wait_until(lambda u=uid, n=len(files): (row := station.store.index.study(u))
                   is not None and row.instances == n, 30, f"study {pid} in the store")
        refs.append(StudyRef(uid, "", len(files)))
    return refs


def test_a_job_on_two_discs_asks_for_the_second(tmp_path: Path, station: Station,
                                                drive: tuple[str, Path], loops: Loops) -> None:
    dev, first = drive
    refs = pushed(station, tmp_path / "in", "D1", "D2")
    job = station.create_job(refs, f"disc:{dev}", "STD-GEN-CD")
    asks(station, job.id, f"into {dev} (disc 2 of 2)")
    second = loops.file("drive", SMALL_DISC)
    swap_disc(loops, dev, second)
    job = done(station, job.id)
    one, two = job.volumes
    assert (one.number, one.count, two.number, two.count) == (1, 2, 2, 2)
    assert one.written == two.written == 1
    assert md5_of_start(first, one.size) == one.md5
    assert md5_of_start(second, two.size) == two.md5
    written = [e.volume for e in station.audit.entries(job.id) if e.action == "medium written"]
    assert sorted(written) == sorted([one.label, two.label])


def test_a_study_that_nearly_fills_the_disc_is_laid_out_to_fit_it(
        tmp_path: Path, station: Station, loops: Loops, udev: None) -> None:
    """The disc writer burns a pad after the image, and xorriso keeps some of the disc: the
    volumes are built for what the disc really takes, so the job never waits for a
    "bigger disc" than the one its volumes were made for."""
    nearly = loops.file("drive", NEARLY_FULL)
    dev = loops.attach(nearly)
    settle()
    (ref,) = pushed(station, tmp_path / "in", "N1")  # its image: 0.87 MiB of the 1.25
    job = station.create_job([ref], f"disc:{dev}", "STD-GEN-CD")
    discs = [nearly]

    def next_step() -> Job | None:
        """The job over, or asking for the disc after those written; never "too small"."""
        j = station.jobs.get(job.id)
        assert "holds" not in j.progress.message, j.progress.message
        written = sum(v.written for v in j.volumes)
        asking = j.state is JobState.WAITING_FOR_MEDIA and written == len(discs)
        return j if j.state.finished or asking else None

    while not (job := wait_until(next_step, 120, "the job to end or ask for a disc")).state \
            .finished:
        discs.append(loops.file("drive", NEARLY_FULL))
        swap_disc(loops, dev, discs[-1])
    assert job.state is JobState.DONE, job.error
    assert len(job.volumes) == len(discs)
    for volume, disc in zip(job.volumes, discs, strict=True):
        assert volume.written == 1 and md5_of_start(disc, volume.size) == volume.md5


def test_copies_and_a_disc_that_fails_verification(tmp_path: Path, station: Station,
                                                   drive: tuple[str, Path],
                                                   loops: Loops) -> None:
    """Two copies; the first disc is damaged while it is read back (a byte of the burnt
    image flipped): it fails, the job asks for another, then for the second copy."""
    dev, first = drive
    (ref,) = pushed(station, tmp_path / "in", "C1")
    damaged: list[int] = []

    def damage_the_first_disc(job: Job) -> None:
        if job.state is JobState.VERIFYING and not damaged and job.volumes:
            damaged.append(job.volumes[0].size)
            with open(first, "r+b") as f:
                f.seek(job.volumes[0].size - 5000)  # in the image, near its end
                b = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([b[0] ^ 0xFF]))

    station.jobs.subscribe(damage_the_first_disc)
    job = station.create_job([ref], f"disc:{dev}", "STD-GEN-CD", copies=2)
    waiting = asks(station, job.id, "Use a new medium.", "(disc 1 of 1, copy 1 of 2)")
    assert "does not read back what was written" in waiting.progress.message
    assert damaged
    retry = loops.file("drive", SMALL_DISC)
    swap_disc(loops, dev, retry)
    asks(station, job.id, "(disc 1 of 1, copy 2 of 2)")
    copy2 = loops.file("drive", SMALL_DISC)
    swap_disc(loops, dev, copy2)
    job = done(station, job.id)
    (volume,) = job.volumes
    assert volume.written == 2
    assert md5_of_start(retry, volume.size) == md5_of_start(copy2, volume.size) == volume.md5
    assert md5_of_start(first, volume.size) != volume.md5  # the damaged one
    actions = [e.action for e in reversed(station.audit.entries(job.id))]
    assert actions.count("medium failed") == 1 and actions.count("medium written") == 2
    assert actions.index("medium failed") < actions.index("medium written")
