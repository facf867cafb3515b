"""The kiosk's shell scripts and tmux configuration are free of the mistakes tools find."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.kiosk.conftest import REPO

SCRIPTS = ["install.sh", "uninstall.sh", "lib.sh", "mw-tui-kiosk", "mw-tui-attach"]


def test_shellcheck_finds_nothing() -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing (Debian package shellcheck)")
        pytest.skip("needs shellcheck (./setup.sh deps installs it)")
    proc = subprocess.run(["shellcheck", "-x", *SCRIPTS], cwd=REPO / "kiosk",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_are_executable() -> None:
    for name in ("install.sh", "uninstall.sh", "mw-tui-kiosk", "mw-tui-attach"):
        assert os.access(REPO / "kiosk" / name, os.X_OK), name


def test_tmux_accepts_the_configuration() -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing (Debian package tmux)")
    name = f"mwtui-conf-{os.getpid()}"
    proc = subprocess.run(["tmux", "-L", name, "-f", "/dev/null", "start-server", ";",
                           "source-file", str(REPO / "kiosk/tmux.conf")],
                          capture_output=True, text=True, timeout=30)
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_help_lists_every_option() -> None:
    proc = subprocess.run(["bash", str(REPO / "kiosk/install.sh"), "--help"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    script = (REPO / "kiosk/install.sh").read_text()
    options = set(re.findall(r"^\s+(--[a-z-]+)\)", script, re.M))
    assert options, "no options found"
    for option in options - {"--help"}:
        assert option in proc.stdout, f"--help does not mention {option}"
