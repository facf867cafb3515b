"""A small Primera PTBurn for the tests: one robot working through the job folder.

It takes each .JRQ request (renaming it .QRJ), checks that the image and the label it
names exist (mapping the robot's Windows paths back to the folder), works on it (.INP),
and ends it as .DON, or .ERR with its message; it honours an ABORT .PTM file and keeps
its status files as PTBurn 3 does (Status/SystemStatus.txt and Status/<robot>.txt, in
UTF-16 as the Unicode build writes them). The test holds it at a step with `take` and
`finish`, or makes it fail with `fail_with`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

ROBOT = "Disc Publisher XRP"


class PtBurnRobot:
    def __init__(self, folder: Path, robot_folder: str = "", printed: Path | None = None) -> None:
        self.folder = folder
        self.robot_folder = robot_folder
        self.status = folder / "Status"
        self.printed = printed  # where the labels it "prints" are kept
        self.take = threading.Event()  # clear: requests wait in the folder
        self.finish = threading.Event()  # clear: jobs stay in progress
        self.take.set()
        self.finish.set()
        self.fail_with: str | None = None
        self.requests: list[dict[str, str]] = []  # every request it took
        self.burned: list[tuple[str, str, int]] = []  # (request, image md5, copies)
        self.labels: list[Path] = []
        self.cycles = 0  # looks at the folder so far
        self.jobs: dict[str, dict[str, str]] = {}  # status sections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ptburn-robot", daemon=True)

    def start(self) -> PtBurnRobot:
        self.status.mkdir(parents=True, exist_ok=True)
        self._write_status()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.take.set()
        self.finish.set()
        self._thread.join(10)

    def local(self, robot_path: str) -> Path:
        """A path of a request, as this station sees it."""
        if self.robot_folder and robot_path.startswith(self.robot_folder):
            rest = robot_path[len(self.robot_folder):].replace("\\", "/").lstrip("/")
            return self.folder / rest
        return Path(robot_path)

    # -- the robot ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            for request in sorted(self.folder.glob("*.JRQ")):
                self._wait(self.take)
                if not self._stop.is_set():
                    self._job(request)
            self.cycles += 1
            time.sleep(0.01)

    def _wait(self, event: threading.Event) -> None:
        while not event.wait(0.01) and not self._stop.is_set():
            pass

    def _job(self, request: Path) -> None:
        name = request.stem
        queued = request.with_suffix(".QRJ")
        try:
            os.rename(request, queued)  # the station may have taken it back meanwhile
        except FileNotFoundError:
            return
        keys = dict(line.split("=", 1) for line in queued.read_text().splitlines() if "=" in line)
        self.requests.append(keys)
        self._section(name, JobID=keys.get("JobID", name), ClientID=keys.get("ClientID", ""),
                      JobState="0", CurrentStatus="Job discovered", JobsAhead="0")
        running = request.with_suffix(".INP")
        os.rename(queued, running)
        self._section(name, JobState="1", CurrentStatus="Recording disc 1...", GoodDiscs="0")
        image = self.local(keys.get("ImageFile", ""))
        label = self.local(keys["PrintLabel"]) if "PrintLabel" in keys else None
        if not image.is_file():
            return self._end(name, running, f"The image file {keys.get('ImageFile')} was not "
                                            "found", "201")
        if label is not None and not label.is_file():
            return self._end(name, running, f"The label file {keys['PrintLabel']} was not found",
                             "202")
        while not self.finish.wait(0.01) and not self._stop.is_set():
            if self._aborted(name, keys):
                return self._end(name, running, "The job was aborted by the client", "0", "13")
        if self._aborted(name, keys):
            return self._end(name, running, "The job was aborted by the client", "0", "13")
        if self.fail_with:
            return self._end(name, running, self.fail_with, "501")
        md5 = hashlib.md5(image.read_bytes()).hexdigest()
        copies = int(keys.get("Copies", "1"))
        if label is not None and self.printed is not None:
            self.printed.mkdir(parents=True, exist_ok=True)
            kept = self.printed / f"{name}{label.suffix}"
            shutil.copyfile(label, kept)
            self.labels.append(kept)
        self.burned.append((name, md5, copies))
        self._section(name, JobState="2", CurrentStatusState="10", GoodDiscs=str(copies),
                      BadDiscs="0", CurrentStatus="The job is complete...")
        os.rename(running, request.with_suffix(".DON"))

    def _aborted(self, name: str, keys: dict[str, str]) -> bool:
        ptm = self.folder / f"{name}.PTM"
        if not ptm.exists():
            return False
        message = dict(line.split("=", 1) for line in ptm.read_text().splitlines() if "=" in line)
        ptm.unlink()
        return message.get("Message") == "ABORT" and message.get("ClientID") == keys.get(
            "ClientID")

    def _end(self, name: str, running: Path, error: str, number: str,
             state: str = "15") -> None:
        self._section(name, JobState="3", CurrentStatusState=state, JobErrorNumber=number,
                      JobErrorString=error, CurrentStatus="The job failed")
        os.rename(running, running.with_suffix(".ERR"))

    def _section(self, name: str, **values: str) -> None:
        self.jobs.setdefault(name, {}).update(values)
        self._write_status()

    def _write_status(self) -> None:
        system = (f"[RobotList]\r\nRobot0={ROBOT}\r\n[System]\r\nSysErrorNumber=0\r\n"
                  "SysErrorString=\r\nServerTickCount=1\r\n")
        lines = ["[JobList]"] + [f"Job{i}={n}" for i, n in enumerate(self.jobs)]
        for name, section in self.jobs.items():
            lines += [f"[{name}]", *(f"{k}={v}" for k, v in section.items())]
        self._put(self.status / "SystemStatus.txt", system)
        self._put(self.status / f"{ROBOT}.txt", "\r\n".join(lines) + "\r\n")

    @staticmethod
    def _put(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
        os.replace(tmp, path)
