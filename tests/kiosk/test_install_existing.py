"""install.sh on a machine where mw-tui already ran as root: a store of root's in
/var/lib/mw-tui and no station user yet. The dry run lists every chmod and chown, on the
host and under --root, and exits 0; the install hands the folder, and what is in it, to
the station's user; a second run changes nothing."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kiosk.conftest import INSTALL_TIMEOUT, Installed, manifest, manifest_diff, seed_root
from tests.kiosk.sandbox import Sandbox

pytestmark = pytest.mark.root

STATE = "/var/lib/mw-tui"
STORE = "/var/lib/mw-tui/store"
# what the dry run says about them, before the station's user exists
DRY_RUN_LINES = (
    f"would chmod 0700 {STATE}",
    f"would chown mwtui:mwtui {STATE} (user created above)",
    f"would chown mwtui:mwtui {STORE} (user created above)",
)


def app_as_root(home: Path, config: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """`mw-tui store check` run by root (the command and its environment): without a
    configuration it makes the store /var/lib/mw-tui/store, root's."""
    env = {**os.environ, "MW_TUI_CONFIG": "", "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "mw_tui", *(["--config", str(config)] if config else []),
           "store", "check"]
    return cmd, env


def store_entries(lines: list[str]) -> int:
    """The count a dry run gives for the store's content that belongs to others."""
    prefix = f"would chown -R mwtui:mwtui {STORE} (files and folders in it that belong to " \
             "others: "
    found = [x for x in lines if x.startswith(prefix)]
    assert found, "\n".join(lines)
    match = re.fullmatch(r"(\d+); user created above\)", found[0][len(prefix):])
    assert match, found[0]
    return int(match.group(1))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """This machine as install.sh sees it, in a private namespace: no station user, and
    /var/lib/mw-tui made by `mw-tui` run as root (on a tmpfs: the host's stays as is)."""
    work = tmp_path_factory.mktemp("host")
    box = Sandbox(work, users={}, absent=("mwtui", "mwsupport"))
    try:
        box.mount_overlay("/var/lib")
        box.run(["mkdir", "-p", STATE], check=True)
        box.mount_tmpfs(STATE)
        cmd, env = app_as_root(work)
        box.run(cmd, env=env, check=True, timeout=120)
        yield box
    finally:
        box.close()


def test_host_dry_run_lists_the_chmod_and_chown_and_exits_0(installed: Installed,
                                                              host: Sandbox) -> None:
    assert host.run(["getent", "passwd", "mwtui"]).returncode == 2, "no station user"
    before = host.run(["find", STATE, "-printf", r"%p %m %u:%g\n"], check=True).stdout
    assert f"{STORE} 700 root:root" in before.splitlines()
    proc = host.run(["bash", str(installed.src / "kiosk/install.sh"), "--dry-run"],
                    timeout=INSTALL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert "would add system user mwtui (home /var/lib/mw-tui, no login shell, groups " \
           "cdrom plugdev)" in lines
    for line in DRY_RUN_LINES:
        assert line in lines, f"missing: {line}\n{proc.stdout}"
    inside = host.run(["find", STORE, "-mindepth", "1"], check=True).stdout.splitlines()
    assert inside, "the app left an index and folders in its store"
    assert store_entries(lines) == len(inside)
    assert "(dry run: none made)" in lines[-1]
    after = host.run(["find", STATE, "-printf", r"%p %m %u:%g\n"], check=True).stdout
    assert after == before, "a dry run changes nothing"


def make_state_as_root(root: Path, home: Path) -> None:
    """What `mw-tui` run as root leaves under a scratch root: its store, the index in it."""
    config = home / "config.toml"
    config.write_text(f'[station]\nstorage = "{root}{STORE}"\n')
    cmd, env = app_as_root(home, config)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (root / STATE.lstrip("/") / "mw-tui.log").write_text("a log root wrote\n")


def test_root_dry_run_lists_the_chmod_and_chown_and_exits_0(installed: Installed,
                                                              tmp_path: Path) -> None:
    root = seed_root(tmp_path / "root")
    make_state_as_root(root, tmp_path)
    before = manifest(root)
    proc = subprocess.run(["bash", str(installed.src / "kiosk/install.sh"), "--root", str(root),
                           "--dry-run"], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for line in DRY_RUN_LINES:
        assert line in lines, f"missing: {line}\n{proc.stdout}"
    inside = [p for p in before if p.startswith(STORE + "/")]
    assert store_entries(lines) == len(inside)
    # the log root wrote next to the store
    assert f"would chown -R mwtui:mwtui {STATE} (files and folders in it that belong to " \
           "others: 1; user created above)" in lines
    assert manifest_diff(before, manifest(root)) == []


def test_install_hands_the_folder_to_the_station_user_then_changes_nothing(
        installed: Installed) -> None:
    # a base others may enter: the station's user opens the store below
    base = Path(tempfile.mkdtemp(prefix="mwtui-existing-", dir="/tmp"))
    try:
        base.chmod(0o755)
        root = seed_root(base / "root")
        # the venv of the session's install (same sources): install.sh keeps it, no pip
        shutil.copytree(installed.path("/opt/mw-tui"), root / "opt/mw-tui", symlinks=True)
        make_state_as_root(root, base)
        index = root / STORE.lstrip("/") / "index.sqlite"
        index_sum = hashlib.sha256(index.read_bytes()).hexdigest()

        install = ["bash", str(installed.src / "kiosk/install.sh"), "--root", str(root)]
        proc = subprocess.run(install, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        for line in (f"chmod 0700 {STATE}", f"chown mwtui:mwtui {STATE}",
                     f"chown mwtui:mwtui {STORE}"):
            assert line in lines, f"missing: {line}\n{proc.stdout}"

        user = next(x.split(":") for x in (root / "etc/passwd").read_text().splitlines()
                    if x.startswith("mwtui:"))
        uid, gid = int(user[2]), int(user[3])
        wrong = [f"{p} {st.st_uid}:{st.st_gid}"
                 for p in [root / STATE.lstrip("/"), *(root / STATE.lstrip("/")).rglob("*")]
                 if ((st := p.lstat()).st_uid, st.st_gid) != (uid, gid)]
        assert not wrong, f"not the station's: {wrong}"
        for folder in (STATE, STORE):
            assert (root / folder.lstrip("/")).stat().st_mode & 0o7777 == 0o700, folder
        assert hashlib.sha256(index.read_bytes()).hexdigest() == index_sum, "index kept"

        # the station's user opens the store root made
        config = base / "station.toml"
        config.write_text(f'[station]\nstorage = "{root}{STORE}"\n')
        config.chmod(0o644)
        proc = subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
             str(root / "opt/mw-tui/venv/bin/python"), "-B", "-m", "mw_tui", "--config",
             str(config), "store", "check"],
            capture_output=True, text=True, timeout=120, cwd="/",
            env={"PATH": "/usr/bin:/bin", "HOME": str(base), "LANG": "C.UTF-8"})
        assert proc.returncode == 0, proc.stdout + proc.stderr

        before = manifest(root)
        proc = subprocess.run(install, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "nothing to change" in proc.stdout, proc.stdout
        assert manifest_diff(before, manifest(root)) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_storage_elsewhere_is_not_taken_over_only_reported(installed: Installed,
                                                             tmp_path: Path) -> None:
    """A station.storage outside /var/lib/mw-tui is a folder the administrator chose:
    install.sh gives the folder to the station, but only says what in it is others'."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed.root), str(root)], check=True)
    config = root / "etc/mw-tui/config.toml"
    text = config.read_text()
    assert f'storage = "{STORE}"' in text
    config.write_text(text.replace(f'storage = "{STORE}"', 'storage = "/srv/store"'))
    theirs = root / "srv/store/theirs.txt"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("root's\n")
    proc = subprocess.run(["bash", str(installed.src / "kiosk/install.sh"), "--root", str(root)],
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chown mwtui:mwtui /srv/store" in proc.stdout.splitlines()
    assert "warning: 1 file(s) and folder(s) in /srv/store belong to others: the station " \
           "cannot open them (chown -R mwtui:mwtui /srv/store, if they are the station's)" \
           in proc.stderr.replace("\n", " "), proc.stderr
    assert theirs.stat().st_uid == 0, "left as it was"
    assert "ReadWritePaths=/srv/store" in (
        root / "etc/systemd/system/mw-tui-kiosk.service.d/10-mw-tui-storage.conf").read_text()
