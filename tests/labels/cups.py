"""A private CUPS scheduler for the tests, with cups-pdf printers writing into a folder.

cupsd runs with its own configuration, spool, state and logs under the test's folder,
listening on a free localhost port. cups-pdf reads its settings from /etc/cups only, so
cupsd runs in a mount namespace of its own (unshare -m) where the test's configuration
folder is mounted over /etc/cups: nothing of the machine's CUPS is touched or used.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.peers import free_port, need, wait_until

PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
BACKEND = Path("/usr/lib/cups/backend/cups-pdf")

CUPSD_CONF = """LogLevel debug
Listen 127.0.0.1:{port}
Browsing No
DefaultAuthType None
WebInterface No
<Location />
  Order allow,deny
  Allow all
</Location>
<Location /admin>
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order allow,deny
    Allow all
  </Limit>
</Policy>
"""

FILES_CONF = """ServerRoot /etc/cups
RequestRoot {root}/spool
TempDir {root}/spool/tmp
StateDir {root}/state
CacheDir {root}/cache
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
SystemGroup root
"""

CUPS_PDF_CONF = """Out {root}/out
AnonDirName {root}/out
Spool {root}/spool/cups-pdf
Log {root}/log
LogType 3
Grp root
"""


class Cups:
    def __init__(self) -> None:
        # not under pytest's folder (mode 0700): cupsd runs its filters as the user lp
        self.root = Path(tempfile.mkdtemp(prefix="mw-tui-cups-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.server = f"127.0.0.1:{self.port}"
        self.out = self.root / "out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Cups:
        need("cupsd", "lpadmin", "lp", "lpstat", "unshare", "gs")
        if not (PPD.exists() and BACKEND.exists()):
            pytest.skip("needs the Debian package printer-driver-cups-pdf")
        etc = self.root / "etc"
        for d in (etc / "ppd", etc / "ssl", self.root / "spool" / "tmp", self.root / "state",
                  self.root / "cache", self.root / "log", self.out):
            d.mkdir(parents=True, exist_ok=True)
        (self.root / "spool" / "tmp").chmod(0o1777)
        (etc / "cupsd.conf").write_text(CUPSD_CONF.format(port=self.port))
        (etc / "cups-files.conf").write_text(FILES_CONF.format(root=self.root))
        (etc / "cups-pdf.conf").write_text(CUPS_PDF_CONF.format(root=self.root))
        script = (f"mount --bind {etc} /etc/cups && exec cupsd -f -c /etc/cups/cupsd.conf "
                  "-s /etc/cups/cups-files.conf")
        with open(self.root / "log" / "stderr", "wb") as err:
            self.proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script],
                                         stdout=subprocess.DEVNULL, stderr=err)
        wait_until(self._running, timeout=30, what="the test's cupsd")
        return self

    def _running(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("cupsd exited: " + self.log())
        return "is running" in self.run("lpstat", "-r", check=False).stdout

    def add_printer(self, name: str, *options: str) -> None:
        """A cups-pdf printer. The test printers turn the PDF into PostScript with
        poppler (pdftops-renderer pdftops): Ghostscript's conversion drops which letter
        each glyph of an embedded TrueType font is, so the printed PDF's text could not
        be read back; a real disc printer gets pixels either way."""
        self.run("lpadmin", "-p", name, "-E", "-v", "cups-pdf:/", "-P", str(PPD),
                 "-o", "pdftops-renderer-default=pdftops", *options)

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([tool, "-h", self.server, *args], capture_output=True, text=True,
                              timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)}: {proc.stderr}")
        return proc

    def pending(self) -> str:
        return self.run("lpstat", "-W", "not-completed", "-o").stdout

    def printed(self) -> list[Path]:
        return sorted(self.out.glob("*.pdf"))

    def log(self) -> str:
        parts = []
        for name in ("stderr", "error_log"):
            path = self.root / "log" / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)
