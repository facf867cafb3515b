"""A real rsyslog (Debian's rsyslogd with gtls) as the audit repository of the tests.

It listens with TLS (imtcp, gtls driver, client certificates checked against the test CA)
and on UDP (imudp), each on a free port, and writes every message it receives as it came
(`%rawmsg%`) to a file. Ready when both ports are bound; never a fixed sleep.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from tests.audit.reading import Syslog, syslog
from tests.peers import free_port, port_open, wait_until
from tests.pki import issue

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def make_pki(folder: Path) -> Path:
    """A test CA, the repository's certificate, the station's, and a stranger's pair."""
    issue(folder, "ca", "mw-tui audit test CA", None)
    issue(folder, "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1")
    issue(folder, "client", "mw-tui station", "ca")
    issue(folder, "rogue_ca", "someone else", None)
    issue(folder, "rogue", "mw-tui station", "rogue_ca")
    return folder


def udp_bound(port: int) -> bool:
    """True when some socket is bound to this UDP port (from /proc/net/udp*)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(line.split()[1].endswith(wanted) for line in lines if len(line.split()) > 1):
            return True
    return False


CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{pki}/ca.crt"
       defaultNetstreamDriverCertFile="{pki}/server.crt"
       defaultNetstreamDriverKeyFile="{pki}/server.key")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1"
       streamDriver.authMode="x509/certvalid")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{out}" template="raw")
"""


class Rsyslog:
    """rsyslogd -n -f <conf> -i <pidfile>, started and stopped by the test."""

    def __init__(self, folder: Path, pki: Path, tcp_port: int = 0, udp_port: int = 0) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.tcp_port = tcp_port or free_port()
        self.udp_port = udp_port or free_port()
        self.out = folder / "received.log"
        self.log = folder / "rsyslogd.log"
        self.conf = folder / "rsyslog.conf"
        self.conf.write_text(CONF.format(work=folder, pki=pki, tcp=self.tcp_port,
                                         udp=self.udp_port, out=self.out))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def tls_url(self) -> str:
        return f"tls://127.0.0.1:{self.tcp_port}"

    @property
    def udp_url(self) -> str:
        return f"udp://127.0.0.1:{self.udp_port}"

    def start(self) -> Rsyslog:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.folder / "rsyslogd.pid")],
                stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {self.log.read_text()}")
            return port_open(self.tcp_port) and udp_bound(self.udp_port)

        wait_until(ready, timeout=30, what="rsyslogd listening")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def lines(self) -> list[bytes]:
        try:
            data = self.out.read_bytes()
        except FileNotFoundError:
            return []
        return [line for line in data.split(b"\n") if line]

    def received(self) -> list[Syslog]:
        """Every message received so far, parsed (RFC 5424 header, BOM, XML)."""
        return [syslog(line) for line in self.lines()]

    def wait_for(self, count: int, timeout: float = 30) -> list[Syslog]:
        """The messages received, once there are at least `count`."""
        try:
            wait_until(lambda: len(self.lines()) >= count, timeout=timeout,
                       what=f"{count} messages at rsyslog")
        except AssertionError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{exc}: it has {len(self.lines())}; its log:\n{log}") from None
        return self.received()
