"""The kiosk's shell scripts and tmux configuration are free of the mistakes tools find."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

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


def lib_sh(tmp_path: Path, body: str, root: str = "/") -> subprocess.CompletedProcess[str]:
    """A script test.sh that sources kiosk/lib.sh as install.sh does, then runs `body`."""
    script = tmp_path / "test.sh"
    script.write_text(f'set -Eeuo pipefail\nPROG=test.sh\n. "{REPO}/kiosk/lib.sh"\n'
                      f'ROOT={root}\n{body}')
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)


LOOKUPS = """
uid=$(uid_of mwt-no-such-user); gid=$(gid_of mwt-no-such-group)
echo "uid=[$uid] gid=[$gid]"
user_exists mwt-no-such-user || echo "no user"
group_exists mwt-no-such-group || echo "no group"
in_group root mwt-no-such-group || echo "not a member"
echo "daemon=$(uid_of daemon):$(gid_of daemon)"
"""


@pytest.mark.parametrize("where", ["host", "root"])
def test_a_missing_account_is_an_empty_answer(where: str, tmp_path: Path) -> None:
    root = "/"
    if where == "root":
        (tmp_path / "etc").mkdir()
        for name in ("passwd", "group"):
            shutil.copy2(Path("/etc") / name, tmp_path / "etc" / name)
        root = str(tmp_path)
    proc = lib_sh(tmp_path, LOOKUPS, root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "uid=[] gid=[]", "no user", "no group", "not a member",
        f"daemon={pwd.getpwnam('daemon').pw_uid}:{grp.getgrnam('daemon').gr_gid}"]


def test_a_failing_command_names_the_step_line_and_command(tmp_path: Path) -> None:
    proc = lib_sh(tmp_path, "step_demo() {\n    echo before\n    ls /mwt-no-such-path\n"
                            "    echo after\n}\nstep_demo\n")
    assert proc.returncode == 2
    assert proc.stdout == "before\n"
    assert proc.stderr.splitlines()[-1] == (
        "test.sh: failed in step demo: line 7 of test.sh in step_demo: ls /mwt-no-such-path "
        "(exit 2)")
