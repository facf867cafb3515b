"""A step of install.sh or uninstall.sh that fails says which step, where and why before
the script exits non-zero (here: a folder it must write is on a read-only file system)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.kiosk.conftest import INSTALL_TIMEOUT, Installed

pytestmark = pytest.mark.root


def run_read_only(readonly: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`args` in a private mount namespace where `readonly` is mounted read-only."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind -o ro "$1" "$1" && shift && exec "$@"', "sh", str(readonly), *args],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT)


def copy_of(installed: Installed, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(installed.root), str(dest)], check=True)
    return dest


def test_install_says_which_step_failed_and_why(installed: Installed, tmp_path: Path) -> None:
    root = copy_of(installed, tmp_path / "root")
    subprocess.run(["rm", "-r", str(root / "var/log/mw-tui")], check=True)
    proc = run_read_only(root / "var/log", "bash", str(installed.src / "kiosk/install.sh"),
                         "--root", str(root))
    assert proc.returncode != 0, proc.stdout
    assert "Read-only file system" in proc.stderr, proc.stderr
    assert re.search(r"^install\.sh: failed in step config: line \d+ of lib\.sh in ensure_dir: "
                     r"mkdir -p .* \(exit 1\)$", proc.stderr, re.M), proc.stderr
    assert "create folder /var/log/mw-tui" in proc.stdout, "the change it was making"
    assert "done:" not in proc.stdout


def test_uninstall_says_which_step_failed_and_why(installed: Installed,
                                                  tmp_path: Path) -> None:
    root = copy_of(installed, tmp_path / "root")
    rules = root / "etc/udev/rules.d"
    proc = run_read_only(rules, "bash", str(installed.src / "kiosk/uninstall.sh"),
                         "--root", str(root))
    assert proc.returncode != 0, proc.stdout
    assert "Read-only file system" in proc.stderr, proc.stderr
    assert re.search(r"^uninstall\.sh: failed in step units: line \d+ of lib\.sh in "
                     r"remove_path: rm -f .* \(exit 1\)$", proc.stderr, re.M), proc.stderr
    assert (rules / "85-mw-tui.rules").exists()
