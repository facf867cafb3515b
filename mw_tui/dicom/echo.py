"""C-ECHO: is an archive there and does it talk to this station? Plus a status monitor.

`echo()` returns an `EchoResult` (state, round-trip time, a message for the technician);
`ArchiveMonitor` echoes every configured archive periodically on its own thread and
reports each change, for the screens' archive status line. No Textual here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mw_tui.config import Archive, Config
from mw_tui.dicom import archives as arch
from mw_tui.dicom import commands, messages
from mw_tui.dicom.client import ArchiveError, Association, Problem, Proposal
from mw_tui.dicom.messages import Peer
from mw_tui.standard import sop, status

ECHO_CONTEXT = Proposal(sop.VERIFICATION, (sop.IMPLICIT_VR_LE, sop.EXPLICIT_VR_LE))


class ArchiveState(StrEnum):
    UNKNOWN = "not checked yet"
    ONLINE = "online"
    UNREACHABLE = "unreachable"
    REJECTED = "rejects this station"
    TIMEOUT = "not answering"
    ERROR = "error"


_STATE_OF = {
    Problem.REFUSED: ArchiveState.UNREACHABLE,
    Problem.UNREACHABLE: ArchiveState.UNREACHABLE,
    Problem.TIMEOUT: ArchiveState.TIMEOUT,
    Problem.REJECTED: ArchiveState.REJECTED,
}


@dataclass(frozen=True, slots=True)
class EchoResult:
    archive: str
    state: ArchiveState
    seconds: float  # round trip from connect to the C-ECHO response
    message: str
    checked_at: float  # time.time()

    @property
    def ok(self) -> bool:
        return self.state is ArchiveState.ONLINE


def echo_peer(calling_ae: str, peer: Peer, timeout: float) -> EchoResult:
    """C-ECHO any peer (an archive, or this station's own receiver)."""
    started = time.monotonic()
    try:
        with Association(calling_ae, peer, [ECHO_CONTEXT], timeout=timeout,
                         deadline=started + timeout) as assoc:
            cid = assoc.context_for(sop.VERIFICATION, "Verification (C-ECHO)")
            final = None
            for rsp in assoc.request(cid, commands.C_ECHO_RQ, None, doing="answering C-ECHO"):
                final = rsp.message
            seconds = time.monotonic() - started
    except ArchiveError as exc:
        return EchoResult(peer.name, _STATE_OF.get(exc.problem, ArchiveState.ERROR),
                          time.monotonic() - started, str(exc), time.time())
    code = final.status if final is not None and final.status is not None else status.SUCCESS
    if code != status.SUCCESS:
        return EchoResult(peer.name, ArchiveState.ERROR, seconds,
                          messages.failed_status(peer, "C-ECHO", code, final.error_comment
                                                 if final else ""), time.time())
    return EchoResult(peer.name, ArchiveState.ONLINE, seconds,
                      f"{peer} answers C-ECHO in {seconds * 1000:.0f} ms", time.time())


def echo(config: Config, archive: str | Archive, timeout: float | None = None) -> EchoResult:
    """C-ECHO one configured archive; UnknownArchive when the name is not configured."""
    target = arch.resolve_one(config, archive)
    return echo_peer(config.station.ae_title, arch.peer_of(target, config),
                     timeout or min(target.timeout, config.dicom.client_timeout))


def station_answers(config: Config, timeout: float = 2.0) -> bool:
    """Whether a DICOM station answers C-ECHO at this station's port and AE title."""
    host = config.station.bind
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    peer = Peer("this station", config.station.ae_title, host, config.station.port)
    return echo_peer(config.station.ae_title, peer, timeout).ok


class ArchiveMonitor:
    """Echo each archive every `interval` seconds; `on_status` hears of every change.

    `status()` gives the latest result per archive (UNKNOWN before the first check).
    Callbacks run on the monitor's thread.
    """

    def __init__(self, config: Config, on_status: Callable[[EchoResult], None] | None = None,
                 interval: float = 60.0) -> None:
        self.config = config
        self.on_status = on_status
        self.interval = interval
        self._results = {a.name: EchoResult(a.name, ArchiveState.UNKNOWN, 0.0, "", 0.0)
                         for a in config.archives}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="archive-monitor",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)  # an echo still running ends by its own timeout
            self._thread = None

    def check_now(self) -> None:
        self._wake.set()

    def status(self) -> dict[str, EchoResult]:
        with self._lock:
            return dict(self._results)

    def _echo_into(self, archive: Archive, results: list[EchoResult]) -> None:
        results.append(echo(self.config, archive))

    def _run(self) -> None:
        while not self._stop.is_set():
            results: list[EchoResult] = []
            threads = [threading.Thread(target=self._echo_into, args=(a, results), daemon=True)
                       for a in self.config.archives]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for r in results:
                with self._lock:
                    before = self._results.get(r.archive)
                    self._results[r.archive] = r
                if self.on_status is not None and (before is None or before.state != r.state):
                    self.on_status(r)
            self._wake.wait(self.interval)
            self._wake.clear()
