"""The installed polkit rule, judged by a real polkitd on a private D-Bus system bus: the
station's user may mount sticks and eject discs through udisks2, nobody else gains
anything, and internal disks stay the administrator's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kiosk.conftest import Installed
from tests.kiosk.sandbox import Sandbox
from tests.peers import wait_until

pytestmark = pytest.mark.root

POLKITD = "/usr/lib/polkit-1/polkitd"
UDISKS_ACTIONS = Path("/usr/share/polkit-1/actions/org.freedesktop.UDisks2.policy")
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""
UDISKS = "org.freedesktop.udisks2."


@pytest.fixture(scope="module")
def polkit(installed: Installed) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """polkitd with only our rule (and Debian's defaults), users mwtui and mwother."""
    for tool in ("dbus-daemon", "pkcheck"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (Debian packages dbus, polkitd)")
    if not Path(POLKITD).exists() or not UDISKS_ACTIONS.exists():
        pytest.fail("polkitd or udisks2's actions are missing (Debian packages polkitd, "
                    "udisks2)")
    # polkitd drops to its own user: the bus socket's folder must be open to it
    work = Path(tempfile.mkdtemp(prefix="mwtui-polkit-", dir="/tmp"))
    work.chmod(0o755)
    sandbox = Sandbox(work, users={"mwtui": [], "mwother": []})
    processes: list[subprocess.Popen[bytes]] = []
    try:
        rules = work / "rules.d"
        rules.mkdir()
        shutil.copy(installed.path("/etc/polkit-1/rules.d/50-mw-tui.rules"), rules)
        sandbox.mount_bind(rules, "/etc/polkit-1/rules.d")
        socket = work / "system_bus_socket"
        (work / "bus.conf").write_text(BUS_CONFIG.format(socket=socket))
        env = {"PATH": os.environ["PATH"], "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={socket}"}
        processes.append(sandbox.popen(["dbus-daemon", "--nofork", "--nopidfile",
                                        f"--config-file={work / 'bus.conf'}"], env=env))
        wait_until(socket.exists, timeout=20, what="the D-Bus socket")
        log = (work / "polkitd.log").open("wb")
        processes.append(sandbox.popen([POLKITD, "--no-debug"], env=env, stdout=log,
                                       stderr=subprocess.STDOUT))
        wait_until(lambda: sandbox.run(["pkaction", "--action-id", UDISKS + "filesystem-mount"],
                                       env=env).returncode == 0,
                   timeout=20, what="polkitd to answer")
        yield sandbox, env
    finally:
        for p in reversed(processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        sandbox.close()
        shutil.rmtree(work, ignore_errors=True)


def authorized(polkit: tuple[Sandbox, dict[str, str]], user: str, action: str) -> bool:
    """pkcheck on a process of `user` (0: yes; 1, 2: no or needs a password)."""
    sandbox, env = polkit
    proc = sandbox.run(["sh", "-c", 'exec pkcheck --action-id "$1" --process $$', "sh",
                        UDISKS + action], user=user, env=env)
    assert proc.returncode in (0, 1, 2), f"pkcheck failed: {proc.stdout}{proc.stderr}"
    return proc.returncode == 0


GRANTED = ["filesystem-mount", "filesystem-mount-other-seat", "eject-media",
           "eject-media-other-seat", "power-off-drive-other-seat", "modify-device-other-seat"]
REFUSED = ["filesystem-mount-system", "modify-device-system", "eject-media-system",
           "encrypted-unlock-other-seat", "loop-setup", "filesystem-unmount-others",
           "open-device-system", "modify-system-configuration"]


@pytest.mark.parametrize("action", GRANTED)
def test_station_user_may(polkit: tuple[Sandbox, dict[str, str]], action: str) -> None:
    assert authorized(polkit, "mwtui", action)


@pytest.mark.parametrize("action", GRANTED)
def test_other_users_gain_nothing(polkit: tuple[Sandbox, dict[str, str]],
                                  action: str) -> None:
    assert not authorized(polkit, "mwother", action)


@pytest.mark.parametrize("action", REFUSED)
def test_internal_disks_and_the_rest_stay_with_the_administrator(
        polkit: tuple[Sandbox, dict[str, str]], action: str) -> None:
    assert not authorized(polkit, "mwtui", action)
