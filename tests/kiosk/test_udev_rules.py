"""kiosk/udev/85-mw-tui.rules on real udev events: loop devices made to look like an
optical drive, a USB stick and a USB hard disk (docs/testing-devices.md), with udevd
running; the device nodes' group and mode, and whether the station's user can open them.
"""

from __future__ import annotations

import functools
import grp
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kiosk.conftest import REPO
from tests.kiosk.sandbox import Sandbox
from tests.peers import wait_until

pytestmark = pytest.mark.root

RULES_DIR = Path("/run/udev/rules.d")
PRODUCTION_RULE = REPO / "kiosk/udev/85-mw-tui.rules"
TAG = "mwtui-kiosk-test"
# What a real drive or stick gets from udev's builtins, given to loop devices by the
# name of their backing file (before 85-mw-tui.rules, after 60-persistent-storage).
TEST_RULES = f"""\
SUBSYSTEM!="block", GOTO="{TAG}_end"
ATTRS{{loop/backing_file}}=="*{TAG}-cdrom-*", ENV{{ID_CDROM}}="1", ENV{{ID_TYPE}}="cd"
ATTRS{{loop/backing_file}}=="*{TAG}-stick-*", ENV{{ID_BUS}}="usb", \\
  ENV{{ID_USB_DRIVER}}="usb-storage", ENV{{ID_DRIVE_THUMB}}="1", ENV{{ID_MODEL}}="Kiosk_Stick"
ATTRS{{loop/backing_file}}=="*{TAG}-usbdisk-*", ENV{{ID_BUS}}="usb", \\
  ENV{{ID_USB_DRIVER}}="uas", ENV{{ID_MODEL}}="Kiosk_Disk"
LABEL="{TAG}_end"
"""


def udevadm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["udevadm", *args], capture_output=True, text=True, timeout=60,
                          check=check)


def udevd_running() -> bool:
    return udevadm("control", "--ping", "--timeout=2", check=False).returncode == 0


@pytest.fixture(scope="module")
def udevd() -> Iterator[None]:
    """udevd, started for these tests unless one already runs (then left alone)."""
    for tool in ("udevadm", "losetup", "partx", "sfdisk"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (Debian packages udev, util-linux, fdisk)")
    started: subprocess.Popen[bytes] | None = None
    if not udevd_running():
        proc = subprocess.Popen(["/lib/systemd/systemd-udevd"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_until(lambda: udevd_running() or proc.poll() is not None, timeout=20,
                   what="udevd to answer")
        if proc.poll() is None:
            started = proc
        else:  # lost a race with another test's udevd: use that one
            wait_until(udevd_running, timeout=20, what="udevd")
    RULES_DIR.mkdir(parents=True, exist_ok=True)
    ours = [RULES_DIR / f"61-{TAG}.rules", RULES_DIR / PRODUCTION_RULE.name]
    ours[0].write_text(TEST_RULES)
    shutil.copy(PRODUCTION_RULE, ours[1])
    udevadm("control", "--reload")
    try:
        yield
    finally:
        for p in ours:
            p.unlink(missing_ok=True)
        udevadm("control", "--reload", check=False)
        if started is not None:
            started.terminate()
            started.wait(timeout=20)


@dataclass(frozen=True)
class Loop:
    device: str  # /dev/loopN
    partitions: tuple[str, ...]
    before: tuple[int, int]  # the node's gid and mode before it was attached


@pytest.fixture
def loops(tmp_path: Path, udevd: None) -> Iterator[dict[str, Loop]]:
    """One loop device per kind (cdrom, stick with a partition, usbdisk, plain)."""
    made: dict[str, Loop] = {}
    modes: dict[str, tuple[int, int]] = {}
    try:
        for kind in ("cdrom", "stick", "usbdisk", "plain"):
            image = tmp_path / f"{TAG}-{kind}-{uuid.uuid4().hex[:8]}.img"
            with image.open("wb") as f:
                f.truncate(8 * 1024 * 1024)
            if kind == "stick":
                subprocess.run(["sfdisk", "--quiet", str(image)], input="start=2048, type=c\n",
                               text=True, check=True, timeout=30)
            dev = subprocess.run(["losetup", "--find", "--show", str(image)],
                                 capture_output=True, text=True, check=True,
                                 timeout=30).stdout.strip()
            st = os.stat(dev)
            modes[dev] = (st.st_gid, stat.S_IMODE(st.st_mode))
            parts: tuple[str, ...] = ()
            if kind == "stick":
                subprocess.run(["partx", "--add", dev], check=True, timeout=30)
                parts = (f"{dev}p1",)
                wait_until(functools.partial(os.path.exists, parts[0]), timeout=20,
                           what=parts[0])
            made[kind] = Loop(dev, parts, modes[dev])
        udevadm("settle", "--timeout=30")
        yield made
    finally:
        for loop in made.values():
            if loop.partitions:
                subprocess.run(["partx", "--delete", loop.device], timeout=30)
            subprocess.run(["losetup", "--detach", loop.device], timeout=30)
        udevadm("settle", "--timeout=30", check=False)
        # a detached loop device keeps the group our rule gave it: put it back
        for dev, (gid, mode) in modes.items():
            if os.path.exists(dev):
                st = os.stat(dev)
                if (st.st_gid, stat.S_IMODE(st.st_mode)) != (gid, mode):
                    os.chown(dev, -1, gid)
                    os.chmod(dev, mode)


def node(dev: str) -> tuple[str, int]:
    st = os.stat(dev)
    return grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def properties(dev: str) -> dict[str, str]:
    out = udevadm("info", "--query=property", f"--name={dev}").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_group(dev: str, group: str) -> None:
    wait_until(lambda: node(dev)[0] == group, timeout=20, what=f"{dev} in group {group}")


def test_optical_drive_belongs_to_cdrom(loops: dict[str, Loop]) -> None:
    dev = loops["cdrom"].device
    wait_group(dev, "cdrom")
    assert node(dev) == ("cdrom", 0o660)
    assert properties(dev).get("MW_TUI_MEDIA") == "optical"


def test_usb_stick_and_its_partition_belong_to_plugdev(loops: dict[str, Loop]) -> None:
    stick = loops["stick"]
    for dev in (stick.device, *stick.partitions):
        wait_group(dev, "plugdev")
        assert node(dev) == ("plugdev", 0o660), dev
        assert properties(dev).get("MW_TUI_MEDIA") == "usb-stick", dev


def test_other_disks_are_left_alone(loops: dict[str, Loop]) -> None:
    """A USB hard disk (neither removable nor a thumb drive) and an ordinary disk keep
    their group and mode (udev's default: group disk on "add"; loop devices here only
    see "change" events, so they keep what they had)."""
    for kind in ("usbdisk", "plain"):
        loop = loops[kind]
        props = properties(loop.device)
        if kind == "usbdisk":
            assert props.get("ID_BUS") == "usb", "the test rule did not apply"
        st = os.stat(loop.device)
        assert (st.st_gid, stat.S_IMODE(st.st_mode)) == loop.before, kind
        assert node(loop.device)[0] not in ("cdrom", "plugdev"), kind
        assert "MW_TUI_MEDIA" not in props, kind


def test_the_station_user_opens_drive_and_stick_but_no_other_disk(
        loops: dict[str, Loop], tmp_path: Path) -> None:
    wait_group(loops["cdrom"].device, "cdrom")
    wait_group(loops["stick"].device, "plugdev")
    sandbox = Sandbox(tmp_path, users={"mwt-station": ["cdrom", "plugdev"],
                                       "mwt-nobody": []})
    try:
        def opens_read_write(user: str, dev: str) -> bool:
            return sandbox.run(["sh", "-c", 'exec 3<>"$1"', "sh", dev],
                               user=user).returncode == 0

        station = {kind: opens_read_write("mwt-station", loop.device)
                   for kind, loop in loops.items()}
        station["stick-partition"] = opens_read_write("mwt-station",
                                                      loops["stick"].partitions[0])
        assert station == {"cdrom": True, "stick": True, "stick-partition": True,
                           "usbdisk": False, "plain": False}
        assert not any(opens_read_write("mwt-nobody", loop.device)
                       for loop in loops.values())
    finally:
        sandbox.close()
