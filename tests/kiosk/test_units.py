"""The systemd units, as install.sh writes them: `systemd-analyze verify` finds nothing,
and the hardening keeps their exposure low."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kiosk.conftest import REPO, Installed

pytestmark = pytest.mark.root

UNITS = sorted(p.name for p in (REPO / "systemd").glob("*.service"))
MAX_EXPOSURE = 2.5  # systemd-analyze security: 0 (locked down) .. 10 (unsafe)


def analyze(installed: Installed, *args: str) -> subprocess.CompletedProcess[str]:
    """systemd-analyze on the installed units, with the scratch root's /opt/mw-tui seen
    at /opt/mw-tui (a private mount namespace), so ExecStart= and friends must exist."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    script = ('mount -t tmpfs -o mode=0755 tmpfs /opt && mkdir /opt/mw-tui && '
              'mount --bind "$1" /opt/mw-tui && shift && exec systemd-analyze "$@"')
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
         str(installed.path("/opt/mw-tui")), *args],
        capture_output=True, text=True, timeout=120)


def test_every_unit_is_installed() -> None:
    assert set(UNITS) == {"mw-tui-kiosk.service", "mw-tui-receiver.service",
                          "mw-tui-web.service"}


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_is_silent(installed: Installed, unit: str) -> None:
    path = installed.path(f"/etc/systemd/system/{unit}")
    proc = analyze(installed, "verify", "--man=no", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "" and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_verify_would_catch_a_broken_unit(installed: Installed, tmp_path: Path) -> None:
    """The check above can fail: a typo and a missing binary are reported."""
    text = installed.path("/etc/systemd/system/mw-tui-kiosk.service").read_text()
    broken = tmp_path / "mw-tui-kiosk.service"
    broken.write_text(text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomme=yes")
                      .replace("/opt/mw-tui/bin/mw-tui-kiosk", "/opt/mw-tui/bin/missing"))
    proc = analyze(installed, "verify", "--man=no", str(broken))
    assert "ProtectHomme" in proc.stderr
    assert proc.returncode != 0 and "missing" in proc.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_hardening_keeps_exposure_low(installed: Installed, unit: str) -> None:
    path = installed.path(f"/etc/systemd/system/{unit}")
    proc = analyze(installed, "security", "--offline=yes", "--no-pager", str(path))
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, proc.stdout


def test_kiosk_and_receiver_never_run_together(installed: Installed) -> None:
    """They share the DICOM port: each conflicts with the other."""
    units = installed.path("/etc/systemd/system")
    kiosk = (units / "mw-tui-kiosk.service").read_text()
    receiver = (units / "mw-tui-receiver.service").read_text()
    assert re.search(r"^Conflicts=.*\bmw-tui-receiver\.service", kiosk, re.M)
    assert re.search(r"^Conflicts=.*\bmw-tui-kiosk\.service", receiver, re.M)
    assert re.search(r"^Conflicts=.*\bgetty@tty1\.service", kiosk, re.M)
