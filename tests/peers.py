"""Real peers for the tests: free ports, readiness checks, Orthanc, dcmtk tools.

Nothing here waits with a fixed sleep: every start polls a readiness check with a
deadline, and every port is a free one chosen at run time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mw_tui.standard import sop as _sop

_random = random.SystemRandom()

PYDICOM_TEST_FILES = Path(__import__("pydicom").__file__).parent / "data" / "test_files"

# pynetdicom installs its own `storescu`, `findscu`, ... next to the venv's python; the
# tests and benchmarks mean dcmtk's (Debian puts them in /usr/bin): look there first.
_path = os.environ.get("PATH", "").split(os.pathsep)
if os.path.dirname(sys.executable) in _path:
    os.environ["PATH"] = os.pathsep.join(["/usr/bin", *(p for p in _path if p != "/usr/bin")])


# storescu's option proposing a file's own transfer syntax (so it travels as it is)
STORESCU_PROPOSE = {
    _sop.EXPLICIT_VR_LE: "-xe", _sop.IMPLICIT_VR_LE: "-xi", _sop.EXPLICIT_VR_BE: "-xb",
    _sop.JPEG_BASELINE: "-xy", _sop.JPEG_EXTENDED: "-xx", _sop.JPEG_LOSSLESS_SV1: "-xs",
    _sop.JPEG_2000_LOSSLESS: "-xv", _sop.JPEG_2000: "-xw", "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.81": "-xu", "1.2.840.10008.1.2.5": "-xr",
    _sop.DEFLATED_EXPLICIT_VR_LE: "-xd",
}


def free_port() -> int:
    """A port no one uses now, below the range the kernel takes the ports of outgoing
    connections from: a test's client connecting somewhere cannot take it before the
    server it is meant for binds it (another test's server still could, so a server
    that fails to bind gets another port: see `storescp` and `Orthanc.start`)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = _random.randrange(max(1024, low - 12000), low) if low > 2048 else 0
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))  # (no SO_REUSEADDR: a closing socket counts)
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise AssertionError("no free port below the kernel's local port range")


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
               interval: float = 0.02) -> Any:
    """Poll `check` until it returns a truthy value; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def storescp(out: Path, *options: str,
             timeout: float = 30) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """dcmtk's storescp writing into `out` on a free port, listening when this yields and
    stopped after. A free port can be taken by another process (a client's outgoing
    connection takes its ports from the same range) before storescp binds it: storescp
    then exits at once, and gets another free port, three times at most."""
    need("storescp")
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = free_port()
        # its log is not kept: a fuzzing run makes hundreds of MB of it
        proc = subprocess.Popen(["storescp", *options, "-od", str(out), str(port)],
                                env={**os.environ, "TCP_NODELAY": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda p=proc, n=port: p.poll() is not None or port_open(n),
                       timeout, "storescp to listen")
        except AssertionError:
            proc.kill()
            proc.wait()
            raise
        if proc.poll() is None:
            break
        if attempt == 2:
            raise AssertionError(f"storescp exited with {proc.returncode} three times "
                                 "(ports taken, or see `storescp -d` by hand)")
    try:
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(30)


def need(*tools: str) -> None:
    """Skip (with the reason) when a tool is missing; CI installs them all."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have these tools: {', '.join(missing)}")
        pytest.skip(f"needs {', '.join(missing)} (./setup.sh deps installs them)")


def need_root(what: str = "root (loop devices, udevd)") -> None:
    """Skip (with the reason) when not root; under CI fail instead, as `need` does, so a CI
    that lost its root cannot go green with the root tests skipped."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the tests as root: this one needs {what}")
        pytest.skip(f"needs {what}; runs in CI as root")


def dcmtk(tool: str, *args: str, timeout: float = 120, check: bool = True,
          env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool (TCP_NODELAY on: Debian's dcmtk is very slow without it)."""
    need(tool)
    full_env = {**os.environ, "TCP_NODELAY": "1", **(env or {})}
    proc = subprocess.run([tool, *args], capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=full_env, cwd=cwd)
    if check and proc.returncode != 0:
        shown = " ".join(args)
        shown = shown if len(shown) < 300 else shown[:300] + " ..."
        raise AssertionError(f"{tool} {shown} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass
class Orthanc:
    """A real Orthanc archive on loopback with its own storage folder."""

    folder: Path
    aet: str = "ORTHANC"
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    dicomweb: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # more of Orthanc's configuration
    lua: str = ""  # a Lua script Orthanc runs (e.g. a ReceivedInstanceFilter)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Orthanc:
        need("Orthanc")
        self.folder.mkdir(parents=True, exist_ok=True)
        plugins = []
        if self.dicomweb:
            for candidate in ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                              "/usr/lib/orthanc/plugins/libOrthancDicomWeb.so"):
                if Path(candidate).exists():
                    plugins.append(candidate)
            if not plugins:
                need("orthanc-dicomweb-plugin-missing")
        conf = {
            "Name": "mw-tui-test",
            "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"),
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomModalities": {k: list(v) for k, v in self.modalities.items()},
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowMove": True,
            "DicomAlwaysAllowGet": True,
            "UnknownSopClassAccepted": True,
            "Plugins": plugins,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StorageCompression": False,
            "ConcurrentJobs": 2,
            "StableAge": 1,
            "HttpTimeout": 60,
            **self.settings,
        }
        if self.lua:
            script = self.folder / "script.lua"
            script.write_text(self.lua)
            conf["LuaScripts"] = [str(script)]
        cfg = self.folder / "orthanc.json"
        for attempt in range(3):  # a free port can be taken by someone else meanwhile
            conf["DicomPort"], conf["HttpPort"] = self.dicom_port, self.http_port
            cfg.write_text(json.dumps(conf, indent=2))
            log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115
            self.proc = subprocess.Popen(["Orthanc", str(cfg)], stdout=log,
                                         stderr=subprocess.STDOUT,
                                         env={**os.environ, "TCP_NODELAY": "1"})
            proc = self.proc
            wait_until(lambda p=proc: p.poll() is not None or self._ready(), 60,
                       "Orthanc to start")
            if proc.poll() is None:
                return self
            tail = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
            if "already in use" not in tail or attempt == 2:
                raise AssertionError(f"Orthanc exited with {proc.returncode}:\n{tail}")
            self.dicom_port, self.http_port = free_port(), free_port()
        return self

    def _ready(self) -> bool:
        try:
            return bool(self.get("/system")) and port_open(self.dicom_port)
        except OSError:
            return False

    @staticmethod
    def received_log(path: Path) -> str:
        """A Lua script appending the SOP Instance UID of every instance Orthanc receives
        (stored or already there) to `path`, one a line."""
        return ("function ReceivedInstanceFilter(dicom, origin, info)\n"
                f"  local f = io.open({json.dumps(str(path))}, 'a')\n"
                "  f:write(dicom.SOPInstanceUID .. '\\n')\n"
                "  f:close()\n"
                "  return true\n"
                "end\n")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """Stop the archive abruptly (a dead archive in the middle of a test)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> Any:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=60) as rsp:
            data = rsp.read()
        return json.loads(data) if data else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, path: Path) -> Any:
        return self.request("POST", "/instances", path.read_bytes(), "application/dicom")

    def upload_dataset_bytes(self, data: bytes) -> Any:
        return self.request("POST", "/instances", data, "application/dicom")

    def add_modality(self, name: str, aet: str, host: str, port: int) -> None:
        self.request("PUT", f"/modalities/{name}",
                     json.dumps({"AET": aet, "Host": host, "Port": port}).encode())
        self.modalities[name] = (aet, host, port)

    def study_uids(self) -> set[str]:
        out = set()
        for sid in self.get("/studies"):
            out.add(self.get(f"/studies/{sid}")["MainDicomTags"]["StudyInstanceUID"])
        return out

    def instance_count(self) -> int:
        return int(self.get("/statistics")["CountInstances"])


@contextlib.contextmanager
def orthanc(folder: Path, **kw: Any) -> Iterator[Orthanc]:
    o = Orthanc(folder, **kw)
    try:
        yield o.start()
    finally:
        o.stop()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


class RecordingProxy:
    """A TCP relay that records what a client sends to a server (to compare with what the
    server kept). `datasets()` reassembles the data sets of the recorded P-DATA PDUs."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.streams: list[bytearray] = []
        self._threads: list[threading.Thread] = []
        self._stop = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        import threading

        self.listener.settimeout(0.2)
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            record = bytearray()
            self.streams.append(record)
            for src, dst, rec in ((client, server, record), (server, client, None)):
                t = threading.Thread(target=self._pipe, args=(src, dst, rec), daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if record is not None:
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.listener.close()

    def datasets(self) -> list[bytes]:
        """Every data set the client sent, reassembled from its PDV fragments, in order."""
        import struct

        out: list[bytes] = []
        for stream in self.streams:
            pos, current = 0, bytearray()
            while pos + 6 <= len(stream):
                pdu_type = stream[pos]
                (length,) = struct.unpack_from(">I", stream, pos + 2)
                body = stream[pos + 6 : pos + 6 + length]
                pos += 6 + length
                if pdu_type != 0x04:
                    continue
                p = 0
                while p < len(body):
                    (n,) = struct.unpack_from(">I", body, p)
                    control = body[p + 5]
                    if not control & 1:
                        current += body[p + 6 : p + 4 + n]
                        if control & 2:
                            out.append(bytes(current))
                            current = bytearray()
                    p += 4 + n
        return out
