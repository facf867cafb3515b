"""Tests that need root skip on a developer's machine but fail under CI, so a CI that lost
its root cannot go green with the root tests skipped (run here as a real non-root user)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBES = '''
import pytest
from tests.devices.conftest import loops, udev  # noqa: F401
from tests.kiosk.conftest import installed  # noqa: F401

@pytest.mark.root
def test_marked_root():
    pass

def test_loop_devices(loops):
    pass

def test_udevd(udev):
    pass

def test_installed_kiosk(installed):
    pass
'''


def as_non_root(folder: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    """pytest on the probes as uid nobody (reading the checkout and the interpreter through
    CAP_DAC_READ_SEARCH alone, which root can hand down), or as the current user."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(ROOT), HOME=str(folder), **({"CI": "true"} if ci else {}))
    argv = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
            "--rootdir", str(folder), "--basetemp", str(folder / f"tmp-{ci}"), str(folder)]
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "needs setpriv (util-linux)"
        os.chown(folder, 65534, 65534)
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env,
                          cwd=folder)


def outcomes(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    found = re.findall(r"::(test_\w+) (PASSED|FAILED|ERROR|SKIPPED)\b", proc.stdout)
    return dict(found)


def test_root_tests_skip_without_ci_and_fail_under_ci(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_setup"
                                          "  # noqa: F401\n")
    (tmp_path / "test_probes.py").write_text(PROBES)
    names = {"test_marked_root", "test_loop_devices", "test_udevd", "test_installed_kiosk"}

    relaxed = as_non_root(tmp_path, ci=False)
    assert outcomes(relaxed) == dict.fromkeys(names, "SKIPPED"), relaxed.stdout + relaxed.stderr
    strict = as_non_root(tmp_path, ci=True)
    assert strict.returncode != 0
    assert set(outcomes(strict)) == names, strict.stdout + strict.stderr
    assert "SKIPPED" not in outcomes(strict).values(), strict.stdout
    assert strict.stdout.count("CI must run the tests as root") >= len(names), strict.stdout
