"""Primera disc publishers through PTBurn's job folder, against a small PTBurn (robot.py):
a built volume goes through the robot with its label, failures carry the robot's
message, a cancel takes the request back, and a restarted station follows the robot's
job to its end instead of making a second disc."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pyzbar import pyzbar

from mw_tui.config import Publisher
from mw_tui.demo import synth
from mw_tui.devices.writers.base import Phase, ProblemCode, Progress, WriterError
from mw_tui.devices.writers.hotfolder import PublisherState, RequestState
from mw_tui.devices.writers.ptburn import PtBurnWriter
from mw_tui.devices.writers.publishers import publisher_writer
from mw_tui.jobs import manifest
from mw_tui.labels import LabelContent, LabelError, Labels, StudyLine
from mw_tui.media import Profile, build_volumes, write_iso
from mw_tui.media.volume import Volume
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.devices.conftest import make_volume, raises_problem
from tests.devices.robot import PtBurnRobot
from tests.peers import wait_until

ROBOT_FOLDER = "C:\\PTBurnJobs"


@pytest.fixture
def volume(tmp_path: Path) -> Volume:
    """A volume built by the media builder from a study in a real store, with its ISO."""
    store = Store(tmp_path / "store")
    patient = synth.PatientInfo(name="Παπαδόπουλος^Γιώργος", patient_id="GR-1234",
                                charset="ISO_IR 192")
    study = synth.StudyInfo(patient=patient)
    series = synth.generate_uid()
    for i in range(1, 4):
        ds = synth.image(study, "CT", series, 1, i, 32, 32)
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_dataset(fp, ds)
        store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE, fp.getvalue())
    work = tmp_path / "work"
    (built,) = build_volumes(store, [study.study_uid], Profile.STD_GEN_CD, None, work)
    (saved,) = manifest.save([write_iso(built, work / "volume-1.iso")], work)
    return saved


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    folder = tmp_path / "PTBurnJobs"
    folder.mkdir()
    return folder


@pytest.fixture
def robot(jobs: Path, tmp_path: Path) -> Iterator[PtBurnRobot]:
    r = PtBurnRobot(jobs, ROBOT_FOLDER, printed=tmp_path / "printed").start()
    try:
        yield r
    finally:
        r.stop()


def publisher(jobs: Path, **kw: object) -> Publisher:
    values: dict[str, object] = {"name": "xrp", "folder": str(jobs),
                                 "robot_folder": ROBOT_FOLDER, "poll_seconds": 0.02,
                                 "accept_timeout": 30.0, "timeout_minutes": 2.0}
    values.update(kw)
    return Publisher(**values)  # type: ignore[arg-type]


def left_in(jobs: Path) -> list[str]:
    return sorted(p.name for p in jobs.iterdir() if p.name != "Status")


def test_a_volume_goes_through_the_robot_with_its_label(volume: Volume, jobs: Path,
                                                          robot: PtBurnRobot,
                                                          tmp_path: Path) -> None:
    labels = Labels()
    content = LabelContent(patient_name="Παπαδόπουλος^Γιώργος", patient_id="GR-1234",
                           studies=(StudyLine("20260101", "CT", "Synthetic study"),),
                           volume_label=volume.label, job_id="MW_TUI-42")
    writer = publisher_writer(publisher(jobs), job_id=42, copies=2,
                              label_for=lambda v: labels.image(content, tmp_path / "l.jpg"))
    assert isinstance(writer, PtBurnWriter) and writer.writes_all_copies and writer.prints_labels
    assert writer.check(volume) == []
    seen: list[Progress] = []

    def progress(p: Progress) -> None:  # the robot finishes once its work was shown
        seen.append(p)
        if "Recording disc 1" in p.message:
            robot.finish.set()

    robot.finish.clear()
    result = writer.write(volume, progress)

    (request,) = robot.requests
    name = writer.request_base(volume)
    assert request["ImageFile"] == f"{ROBOT_FOLDER}\\{name}\\volume.iso"
    assert request["PrintLabel"] == f"{ROBOT_FOLDER}\\{name}\\label.jpg"
    assert (request["JobID"], request["ClientID"], request["Copies"]) == (
        "Job 42 disc 1/1", "MW-TUI", "2")
    assert (request["CloseDisc"], request["VerifyDisc"], request["RejectIfNotBlank"]) == (
        "YES", "YES", "YES")
    assert robot.burned == [(name, volume.iso_md5, 2)]  # the very image that was built
    (printed,) = robot.labels
    from PIL import Image

    assert [c.data for c in pyzbar.decode(Image.open(printed))] == [b"MW_TUI-42"]
    assert result.verified and result.md5 == volume.iso_md5 and result.safe_to_remove
    assert "made 2 of 2 disc(s)" in result.details[0]
    assert "xrp: Recording disc 1..." in [p.message for p in seen]
    assert seen[-1].phase is Phase.DONE
    assert left_in(jobs) == [f"{name}.DON"]  # the staged image and label are gone


def test_a_failure_shows_the_robots_message(volume: Volume, jobs: Path,
                                            robot: PtBurnRobot) -> None:
    robot.fail_with = "Disc rejected: the disc in the recorder is not blank"
    writer = PtBurnWriter(publisher(jobs), job_id="7")
    with raises_problem(ProblemCode.WRITE_FAILED,
                        match="the disc in the recorder is not blank") as info:
        writer.write(volume)
    assert "(error 501)" in info.value.message
    assert left_in(jobs) == [f"{writer.request_base(volume)}.ERR"]
    robot.fail_with = None  # writing again is a new request, next to the failed one
    assert writer.write(volume).verified
    assert left_in(jobs) == sorted([f"{writer.request_base(volume)}.ERR",
                                    f"{writer.request_base(volume)}_r2.DON"])


def test_a_missing_image_is_the_robots_error_too(volume: Volume, jobs: Path,
                                                 robot: PtBurnRobot) -> None:
    wrong = dataclasses.replace(publisher(jobs), robot_folder="D:\\Elsewhere")
    with raises_problem(ProblemCode.WRITE_FAILED, match=r"D:.Elsewhere.*was not found"):
        PtBurnWriter(wrong, job_id="8").write(volume)


def test_cancel_takes_the_request_back_before_the_robot_takes_it(
        volume: Volume, jobs: Path, robot: PtBurnRobot) -> None:
    robot.take.clear()
    writer = PtBurnWriter(publisher(jobs), job_id="9")
    cancel = threading.Event()
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(outcome, writer.write, volume,
                                                    cancel=cancel))
    thread.start()
    wait_until(lambda: list(jobs.glob("*.JRQ")), what="the request in the folder")
    cancel.set()
    thread.join(30)
    assert isinstance(outcome[0], WriterError) and outcome[0].code is ProblemCode.CANCELLED
    assert "taken back" in outcome[0].message
    assert left_in(jobs) == []
    robot.take.set()
    cycles = robot.cycles
    wait_until(lambda: robot.cycles > cycles + 2, what="the robot looking again")
    assert robot.requests == [] and robot.burned == []


def test_cancel_asks_the_robot_to_abort_a_job_it_took(volume: Volume, jobs: Path,
                                                      robot: PtBurnRobot) -> None:
    robot.finish.clear()
    writer = PtBurnWriter(publisher(jobs), job_id="10")
    cancel = threading.Event()
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(outcome, writer.write, volume,
                                                    cancel=cancel))
    thread.start()
    wait_until(lambda: list(jobs.glob("*.INP")), what="the robot working on the job")
    cancel.set()
    thread.join(30)
    assert isinstance(outcome[0], WriterError) and outcome[0].code is ProblemCode.CANCELLED
    assert "asked to stop" in outcome[0].message
    assert robot.burned == []
    assert left_in(jobs) == [f"{writer.request_base(volume)}.ERR"]


def test_a_robot_that_never_takes_the_job(volume: Volume, jobs: Path) -> None:
    writer = PtBurnWriter(publisher(jobs, accept_timeout=0.3), job_id="11")
    with raises_problem(ProblemCode.UNREACHABLE, match=r"did not take the job within 0\.3 s"):
        writer.write(volume)
    assert left_in(jobs) == []  # taken back: it cannot burn later by surprise


RESTART = """
import json, sys
from pathlib import Path
from mw_tui.config import Publisher
from mw_tui.devices.writers.ptburn import PtBurnWriter
from mw_tui.jobs import manifest
args = json.loads(sys.argv[1])
(volume,) = manifest.load(Path(args["work"]))
print("writing", flush=True)
PtBurnWriter(Publisher(**args["publisher"]), job_id=args["job"]).write(volume)
"""


@pytest.mark.parametrize("done_while_away", [False, True])
def test_a_restarted_station_follows_the_robots_job_to_its_end(
        volume: Volume, jobs: Path, robot: PtBurnRobot, done_while_away: bool) -> None:
    robot.finish.clear()
    pub = publisher(jobs)
    assert volume.iso is not None
    args = {"work": str(volume.iso.parent), "job": "12",
            "publisher": dataclasses.asdict(pub)}
    station = subprocess.Popen([sys.executable, "-c", RESTART, json.dumps(args)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: list(jobs.glob("*.INP")), timeout=60, what="the robot at work")
    finally:
        station.send_signal(signal.SIGKILL)
        station.wait(30)
    writer = PtBurnWriter(pub, job_id="12")  # the station came back
    name = writer.request_base(volume)
    if done_while_away:  # the robot finished, and PTBurn already cleared the .DON file
        robot.finish.set()
        wait_until(lambda: (jobs / f"{name}.DON").exists(), what="the robot done")
        (jobs / f"{name}.DON").unlink()
        assert writer.state_of(name) is RequestState.GONE
    seen: list[str] = []

    def progress(p: Progress) -> None:  # the robot goes on once the station follows it
        seen.append(p.message)
        if "Recording disc 1" in p.message:
            robot.finish.set()

    result = writer.write(volume, progress)
    assert any("submitted before the station restarted" in m for m in seen), seen
    assert ("xrp: Recording disc 1..." in seen) is not done_while_away
    assert result.verified and result.md5 == volume.iso_md5
    assert len(robot.requests) == 1 and len(robot.burned) == 1  # one disc, not two
    assert not (jobs / name).exists()


def test_the_robots_state_for_the_targets_list(jobs: Path, tmp_path: Path) -> None:
    writer = PtBurnWriter(publisher(jobs))
    assert writer.status().state is PublisherState.OFFLINE
    robot = PtBurnRobot(jobs).start()
    try:
        status = writer.status()
        assert status.state is PublisherState.READY and "Disc Publisher XRP" in status.message
    finally:
        robot.stop()
    (jobs / "Status" / "SystemStatus.txt").write_text(
        "[System]\nSysErrorNumber=6\nSysErrorString=Ink low\n")
    status = writer.status()
    assert (status.state, status.message) == (PublisherState.ERROR, "xrp: Ink low (error 6)")


def test_a_label_the_robot_cannot_print_stops_before_anything_is_submitted(
        volume: Volume, jobs: Path, robot: PtBurnRobot, tmp_path: Path) -> None:
    pdf = Labels().pdf(LabelContent(patient_name="X^Y", job_id="1"), tmp_path / "label.pdf")
    with raises_problem(ProblemCode.NOT_SUPPORTED,
                        match=r"prints labels of the kinds \.jpg.*not label\.pdf"):
        PtBurnWriter(publisher(jobs), job_id="13", label_for=lambda v: pdf).write(volume)

    def broken(v: Volume) -> Path:
        raise LabelError("The label font is missing: install fonts-dejavu-core.")

    with raises_problem(ProblemCode.WRITE_FAILED,
                        match=r"could not be made \(The label font is missing"):
        PtBurnWriter(publisher(jobs), job_id="14", label_for=broken).write(volume)
    assert left_in(jobs) == [] and robot.requests == []


def test_problems_are_named(volume: Volume, tmp_path: Path) -> None:
    writer = PtBurnWriter(publisher(tmp_path / "not-mounted"))
    (problem,) = writer.check(volume)
    assert "is the robot's share mounted?" in problem.message


def no_hard_link_for(image: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """os.link refuses `image` as it does across file systems (EXDEV); other links are
    made. Returns where the image was to be linked."""
    real = os.link
    tried: list[str] = []

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(src) == image:
            tried.append(str(dst))
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    return tried


def test_an_image_that_cannot_be_linked_is_copied_whole(
        volume: Volume, jobs: Path, robot: PtBurnRobot, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """The robot's folder on another file system than the image (a share): the image is
    copied into it, and the robot burns the whole image."""
    assert volume.iso is not None
    tried = no_hard_link_for(volume.iso, monkeypatch)
    writer = PtBurnWriter(publisher(jobs), job_id="15")
    seen: list[Progress] = []
    result = writer.write(volume, seen.append)
    name = writer.request_base(volume)
    assert tried == [str(jobs / name / "volume.iso")]
    assert "Copying the image to the robot's folder" in [p.message for p in seen]
    assert robot.burned == [(name, volume.iso_md5, 1)]  # every byte of the image
    assert result.verified and left_in(jobs) == [f"{name}.DON"]


def test_a_copy_that_fails_leaves_nothing_behind(
        volume: Volume, jobs: Path, robot: PtBurnRobot, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy the share cannot keep (full when it is made durable), one that reads back
    other than the image (read back as the ISO-file writer reads its copies back), one
    cancelled halfway: each fails as it should, with nothing left in the robot's folder
    and no request to the robot."""
    big = make_volume(tmp_path / "big", padding=3 << 20)  # copied in several pieces
    assert volume.iso is not None and big.iso is not None
    no_hard_link_for(volume.iso, monkeypatch)
    no_hard_link_for(big.iso, monkeypatch)
    real_fsync = os.fsync
    share: list[str] = []  # what the share does to the staged image when it is synced

    def fsync(fd: int) -> None:
        try:
            staged = os.readlink(f"/proc/self/fd/{fd}").endswith("/volume.iso")
        except OSError:
            staged = False
        if staged and share == ["full"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if staged and share == ["garbles"]:
            os.pwrite(fd, b"GARBLED", 32768)  # where the volume descriptor is
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    share[:] = ["full"]
    with raises_problem(ProblemCode.MEDIA_TOO_SMALL, match="is full: make room there"):
        PtBurnWriter(publisher(jobs), job_id="16").write(volume)
    assert left_in(jobs) == []
    share[:] = ["garbles"]
    with raises_problem(ProblemCode.VERIFY_FAILED, match="does not read back as the image"):
        PtBurnWriter(publisher(jobs), job_id="17").write(volume)
    assert left_in(jobs) == []
    share.clear()
    halfway: list[int] = []

    class Halfway:
        """Set once part of the image is in the robot's folder, not all of it."""

        def is_set(self) -> bool:
            sizes = [p.stat().st_size for p in jobs.glob("*/volume.iso")]
            halfway.extend(n for n in sizes if 0 < n < (big.iso_size or 0))
            return bool(halfway)

    with raises_problem(ProblemCode.CANCELLED):
        PtBurnWriter(publisher(jobs), job_id="18").write(big, cancel=Halfway())
    assert halfway and left_in(jobs) == []
    assert robot.requests == [] and robot.burned == []


def _catch(into: list[BaseException], fn: object, *args: object, **kw: object) -> None:
    try:
        fn(*args, **kw)  # type: ignore[operator]
    except BaseException as exc:
        into.append(exc)
